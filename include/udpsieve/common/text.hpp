#pragma once
/// Characters of text: control characters in text that reaches a log line, a reply or a rule's
/// note, and hexadecimal digits.

#include <string>

namespace udpsieve::common {

/// Whether `c` is a control character (C0, tab and line breaks included, or DEL): what a note,
/// a log line quoting a peer, or a one-line message must not hold as is.
constexpr bool is_control(char c) noexcept {
  return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}

/// The value of a hexadecimal digit, or -1.
constexpr int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Replaces each control character of `text` with '?'.
inline void replace_controls(std::string& text) noexcept {
  for (char& c : text) {
    if (is_control(c)) c = '?';
  }
}

}  // namespace udpsieve::common
