#pragma once
/// The control socket protocol, shared by the daemon and udpsievectl.
///
/// Each request is one line holding a JSON object {"cmd": NAME}; each reply is one line
/// holding a JSON object, or {"error": "..."} when the request could not be served.

#include <array>
#include <string_view>

namespace udpsieve::protocol {

inline constexpr std::string_view kCommandKey = "cmd";
inline constexpr std::string_view kErrorKey = "error";

/// Commands the daemon answers.
inline constexpr std::array<std::string_view, 5> kCommands = {"stats", "ports", "workers", "rules",
                                                              "version"};

/// Default socket path (control.socket).
inline constexpr std::string_view kDefaultSocket = "/run/udpsieve/control.sock";

}  // namespace udpsieve::protocol
