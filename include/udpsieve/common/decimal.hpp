#pragma once
/// Strict decimal parsing for configuration values: digits only, no sign, no spaces.

#include <cstdint>
#include <string_view>

namespace udpsieve {

enum class DecimalResult : uint8_t { ok, malformed, too_big };

/// Parses `text` as an unsigned decimal number no greater than `max` into `out`.
[[nodiscard]] constexpr DecimalResult parse_decimal(std::string_view text, uint64_t max,
                                                    uint64_t& out) noexcept {
  if (text.empty()) return DecimalResult::malformed;
  uint64_t value = 0;
  bool too_big = false;
  for (char c : text) {
    if (c < '0' || c > '9') return DecimalResult::malformed;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (max - digit) / 10) too_big = true;  // keep scanning: a later letter is malformed
    if (!too_big) value = value * 10 + digit;
  }
  if (too_big) return DecimalResult::too_big;
  out = value;
  return DecimalResult::ok;
}

}  // namespace udpsieve
