#pragma once
/// Parsing one control-socket request line (DPDK-free, so it can be fuzzed on its own).

#include <cstddef>
#include <cstdint>
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

/// A request field naming one of `names` (e.g. protocol::kRuleRankings): nullopt when the field
/// is absent, its index when it is one of them, `names.size()` when it is anything else.
[[nodiscard]] std::optional<std::size_t> name_field(const nlohmann::json& body, const char* field,
                                                    std::span<const std::string_view> names);

/// A request field holding a whole number from `low` to `high`, stored in `into`: true when it
/// is absent (`into` unchanged) or valid, false when it is anything else.
template <typename T>
[[nodiscard]] bool number_field(const nlohmann::json& body, const char* field, uint64_t low,
                                uint64_t high, T& into) {
  const auto it = body.find(field);
  if (it == body.end()) return true;
  if (!it->is_number_unsigned() || it->get<uint64_t>() < low || it->get<uint64_t>() > high) {
    return false;
  }
  into = static_cast<std::size_t>(it->get<uint64_t>());
  return true;
}

}  // namespace udpsieve::control
