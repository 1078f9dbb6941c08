#pragma once
/// Parsing one control-socket request line (DPDK-free, so it can be fuzzed on its own).

#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace udpsieve::control {

/// A parsed request: the command and its JSON object.
struct Request {
  std::string command;
  nlohmann::json body;
};

/// Parses a request line `{"cmd": NAME, ...}` naming a known command (protocol::kCommands, or
/// one of `hidden`: commands not advertised, such as test hooks); on failure returns the error
/// reply line instead. Never throws.
[[nodiscard]] std::variant<Request, std::string> parse_request(
    std::string_view line, std::span<const std::string_view> hidden = {});

/// {"error": message} as a line (invalid UTF-8 replaced).
[[nodiscard]] std::string error_line(const std::string& message);

}  // namespace udpsieve::control
