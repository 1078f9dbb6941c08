// Parsing and printing for the rule model: prefixes, ranges, actions, fragments, hex bytes.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "udpsieve/common/text.hpp"
#include "udpsieve/rules/rule.hpp"

namespace udpsieve::rules {
namespace {

/// Parses 1-3 decimal digits; false on anything else (signs, spaces, empty).
bool parse_length(std::string_view text, unsigned& out) {
  if (text.empty() || text.size() > 3) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  out = value;
  return true;
}

/// The length of a prefix read on the fast roads below, whose address ends at `at`: the
/// family's `width` when the text ends there, else '/' and a length as parse_length reads it, at
/// most `width`. False on anything else.
bool parse_fast_length(std::string_view text, std::size_t at, unsigned width, unsigned& length) {
  length = width;
  return at == text.size() ||
         (text[at] == '/' && parse_length(text.substr(at + 1), length) && length <= width);
}

/// The common case read without inet_pton: a dotted-quad IPv4 address as inet_pton reads it (four
/// decimal parts, each at most 255 and without a leading zero), perhaps '/' and a length as
/// parse_length reads it, at most 32, and no host bits set. False on anything else, which
/// Prefix::parse's general road then judges and explains: this is only a faster road to the same
/// answers (a set file holds a million prefixes; inet_pton wants a NUL-terminated copy of each).
bool parse_ipv4_prefix(std::string_view text, Prefix& out) noexcept {
  std::size_t at = 0;
  uint32_t address = 0;
  for (unsigned part = 0; part < 4; ++part) {
    if (part > 0) {
      if (at >= text.size() || text[at] != '.') return false;
      ++at;
    }
    const std::size_t start = at;
    unsigned value = 0;
    while (at < text.size() && at - start < 3 && text[at] >= '0' && text[at] <= '9') {
      value = value * 10 + static_cast<unsigned>(text[at] - '0');
      ++at;
    }
    const std::size_t digits = at - start;
    if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0')) return false;
    address = address << 8 | value;
  }
  unsigned length = 0;
  if (!parse_fast_length(text, at, 32, length)) return false;
  if ((address & (uint64_t{0xFFFFFFFF} >> length)) != 0) return false;
  out.family = Family::ipv4;
  out.length = static_cast<uint8_t>(length);
  out.addr = {};
  for (unsigned byte = 0; byte < 4; ++byte)
    out.addr[byte] = static_cast<uint8_t>(address >> (24 - 8 * byte));
  return true;
}

/// Clears every bit after the first `length` bits of `addr`.
std::array<uint8_t, 16> masked(const std::array<uint8_t, 16>& addr, unsigned length) {
  std::array<uint8_t, 16> out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    const unsigned bit = static_cast<unsigned>(i) * 8;
    if (length >= bit + 8) {
      out[i] = addr[i];
    } else if (length > bit) {
      const unsigned keep = length - bit;  // 1..7 leading bits of this byte
      out[i] = static_cast<uint8_t>(addr[i] & (0xFFu << (8 - keep)));
    }
  }
  return out;
}

/// The IPv6 twin of parse_ipv4_prefix: groups of one to four hexadecimal digits separated by
/// ':', with at most one "::" standing for at least one group of zeros, as inet_pton reads them,
/// perhaps '/' and a length (at most 128) as parse_length reads it, and no host bits. False on
/// anything else (an IPv4 address in the last 32 bits among it), which the general road then
/// judges and explains.
bool parse_ipv6_prefix(std::string_view text, Prefix& out) noexcept {
  const std::size_t end = std::min(text.find('/'), text.size());
  std::array<uint16_t, 8> groups{};
  unsigned count = 0;  // groups read
  int gap = -1;        // where "::" stands: the number of groups before it
  std::size_t at = 0;
  if (end >= 2 && text[0] == ':' && text[1] == ':') {
    gap = 0;
    at = 2;
  }
  while (at < end) {
    unsigned value = 0;
    unsigned digits = 0;
    for (int digit = 0; at < end && digits <= 4 && (digit = common::hex_digit(text[at])) >= 0;
         ++at) {
      value = value << 4 | static_cast<unsigned>(digit);
      ++digits;
    }
    if (digits == 0 || digits > 4 || count == 8) return false;
    groups[count++] = static_cast<uint16_t>(value);
    if (at == end) break;
    if (text[at] != ':' || ++at == end) return false;  // not a group's end, or a lone ':' last
    if (text[at] == ':') {
      if (gap >= 0) return false;  // a second "::"
      gap = static_cast<int>(count);
      ++at;
    }
  }
  // Without "::" all eight groups; with it at most seven (it stands for at least one).
  if (gap < 0 ? count != 8 : count > 7) return false;
  unsigned length = 0;
  if (!parse_fast_length(text, end, 128, length)) return false;
  std::array<uint8_t, 16> addr{};
  const unsigned before = gap < 0 ? count : static_cast<unsigned>(gap);
  for (unsigned g = 0; g < count; ++g) {
    const unsigned place = g < before ? g : 8 - count + g;  // those after "::" end the address
    addr[2 * place] = static_cast<uint8_t>(groups[g] >> 8);
    addr[2 * place + 1] = static_cast<uint8_t>(groups[g]);
  }
  if (masked(addr, length) != addr) return false;
  out.family = Family::ipv6;
  out.length = static_cast<uint8_t>(length);
  out.addr = addr;
  return true;
}

std::string address_to_string(Family family, const std::array<uint8_t, 16>& addr) {
  char buffer[INET6_ADDRSTRLEN] = {};
  const int af = family == Family::ipv4 ? AF_INET : AF_INET6;
  if (inet_ntop(af, addr.data(), buffer, sizeof buffer) == nullptr) return "?";
  return buffer;
}

}  // namespace

std::optional<Prefix> Prefix::parse(std::string_view text, std::string& error) {
  if (text.empty()) {
    error = "empty prefix";
    return std::nullopt;
  }
  if (Prefix fast; parse_ipv4_prefix(text, fast) || parse_ipv6_prefix(text, fast)) {
    error.clear();
    return fast;
  }
  const std::size_t slash = text.find('/');
  const std::string address(text.substr(0, slash));
  if (address.empty()) {
    error = "'" + std::string(text) + "' has no address before '/'";
    return std::nullopt;
  }
  Prefix prefix;
  prefix.family = address.find(':') == std::string::npos ? Family::ipv4 : Family::ipv6;
  const bool v4 = prefix.family == Family::ipv4;
  if (inet_pton(v4 ? AF_INET : AF_INET6, address.c_str(), prefix.addr.data()) != 1) {
    error = "'" + address + "' is not an " + (v4 ? "IPv4" : "IPv6") + " address";
    return std::nullopt;
  }
  const unsigned max_length = v4 ? 32 : 128;
  unsigned length = max_length;
  if (slash != std::string_view::npos) {
    const std::string_view length_text = text.substr(slash + 1);
    if (length_text.empty()) {
      error = "'" + std::string(text) + "' has no prefix length after '/'";
      return std::nullopt;
    }
    if (!parse_length(length_text, length)) {
      error = "'" + std::string(length_text) + "' is not a prefix length";
      return std::nullopt;
    }
    if (length > max_length) {
      error = "prefix length " + std::to_string(length) + " is out of range 0-" +
              std::to_string(max_length) + " for " + (v4 ? "IPv4" : "IPv6");
      return std::nullopt;
    }
  }
  prefix.length = static_cast<uint8_t>(length);
  const std::array<uint8_t, 16> network = masked(prefix.addr, length);
  if (network != prefix.addr) {
    Prefix suggestion = prefix;
    suggestion.addr = network;
    error = std::string(text) + " has host bits set (did you mean " + suggestion.to_string() + "?)";
    return std::nullopt;
  }
  error.clear();
  return prefix;
}

bool Prefix::contains(const std::array<uint8_t, 16>& address) const noexcept {
  const unsigned full_bytes = length / 8u;
  for (unsigned i = 0; i < full_bytes; ++i) {
    if (address[i] != addr[i]) return false;
  }
  const unsigned rest = length % 8u;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xFFu << (8 - rest));
  return (address[full_bytes] & mask) == addr[full_bytes];
}

std::string Prefix::to_string() const {
  return address_to_string(family, addr) + "/" + std::to_string(length);
}

std::string Range::to_string() const {
  if (first == last) return std::to_string(first);
  return std::to_string(first) + "-" + std::to_string(last);
}

std::string action_to_string(const Action& action) {
  switch (action.kind) {
    case ActionKind::drop:
      return "drop";
    case ActionKind::forward:
      if (action.port_name.empty()) return "forward";
      return "forward:" + action.port_name;
    case ActionKind::rate_limit: {
      const RateLimit& limit = action.rate_limit;
      std::string text =
          limit.unit == RateLimit::Unit::packets
              ? "rate_limit:" + std::to_string(limit.rate) + "pps/" + std::to_string(limit.burst)
              : "rate_limit:" + std::to_string(limit.bps) + "bps/" + std::to_string(limit.burst) +
                    "B";
      if (limit.per_source != 0) {
        text += " per source /" + std::to_string(limit.per_source) + " /" +
                std::to_string(limit.per_source_v6);
      }
      return text;
    }
  }
  return "?";
}

const char* fragment_name(FragmentKind kind) noexcept {
  switch (kind) {
    case FragmentKind::none:
      return "none";
    case FragmentKind::first:
      return "first";
    case FragmentKind::non_first:
      return "non_first";
  }
  return "?";
}

std::string to_hex(const std::vector<uint8_t>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t byte : bytes) {
    out += kDigits[byte >> 4];
    out += kDigits[byte & 0x0f];
  }
  return out;
}

}  // namespace udpsieve::rules
