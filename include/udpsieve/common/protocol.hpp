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

/// Commands the daemon answers. `metrics` answers {"metrics": TEXT}, the Prometheus exposition.
/// `reload` re-reads the configuration and rules and swaps them in
/// without losing a packet; `check` takes {"cmd": "check", "files": [PATH, ...]} and validates
/// and compiles those rule files without applying them; `capture` takes {"cmd": "capture",
/// "rule": ID | "verdict": "drop"|"forward", "count": N, "timeout_ms": T, "snaplen": S} and
/// answers with the packets once N were captured or T passed.
inline constexpr std::array<std::string_view, 9> kCommands = {
    "stats", "ports", "workers", "rules", "version", "metrics", "reload", "check", "capture"};

/// Default socket path (control.socket).
inline constexpr std::string_view kDefaultSocket = "/run/udpsieve/control.sock";

}  // namespace udpsieve::protocol
