// Prefix::parse / contains / to_string, Range::to_string, action_to_string.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <random>
#include <string>

#include "udpsieve/rules/rule.hpp"

namespace udpsieve::rules {
namespace {

std::array<uint8_t, 16> address(const std::string& text) {
  std::array<uint8_t, 16> out{};
  const int af = text.find(':') == std::string::npos ? AF_INET : AF_INET6;
  EXPECT_EQ(inet_pton(af, text.c_str(), out.data()), 1) << text;
  return out;
}

Prefix parse_ok(const std::string& text) {
  std::string error;
  const std::optional<Prefix> prefix = Prefix::parse(text, error);
  EXPECT_TRUE(prefix.has_value()) << text << ": " << error;
  EXPECT_EQ(error, "");
  return prefix.value_or(Prefix{});
}

struct GoodCase {
  const char* text;
  Family family;
  unsigned length;
  const char* canonical;
};

TEST(PrefixTest, ParsesValidPrefixes) {
  const GoodCase cases[] = {
      {"10.0.0.0/8", Family::ipv4, 8, "10.0.0.0/8"},
      {"192.0.2.1", Family::ipv4, 32, "192.0.2.1/32"},
      {"192.0.2.1/32", Family::ipv4, 32, "192.0.2.1/32"},
      {"0.0.0.0/0", Family::ipv4, 0, "0.0.0.0/0"},
      {"203.0.113.128/25", Family::ipv4, 25, "203.0.113.128/25"},
      {"10.0.0.0/008", Family::ipv4, 8, "10.0.0.0/8"},
      {"2001:db8::/32", Family::ipv6, 32, "2001:db8::/32"},
      {"2001:0DB8:0000:0000::/32", Family::ipv6, 32, "2001:db8::/32"},
      {"::/0", Family::ipv6, 0, "::/0"},
      {"::1", Family::ipv6, 128, "::1/128"},
      {"fe80::/10", Family::ipv6, 10, "fe80::/10"},
      {"2001:db8:0:0:1:0:0:1", Family::ipv6, 128, "2001:db8::1:0:0:1/128"},
      {"::ffff:1.2.3.4", Family::ipv6, 128, "::ffff:1.2.3.4/128"},
      {"::ffff:0.0.0.0/96", Family::ipv6, 96, "::ffff:0.0.0.0/96"},
      {"64:ff9b::192.0.2.0/120", Family::ipv6, 120, "64:ff9b::c000:200/120"},
  };
  for (const GoodCase& c : cases) {
    SCOPED_TRACE(c.text);
    const Prefix prefix = parse_ok(c.text);
    EXPECT_EQ(prefix.family, c.family);
    EXPECT_EQ(prefix.length, c.length);
    EXPECT_EQ(prefix.to_string(), c.canonical);
  }
}

TEST(PrefixTest, StoresAddressInNetworkOrder) {
  const Prefix v4 = parse_ok("198.51.100.0/24");
  const std::array<uint8_t, 16> want_v4{198, 51, 100, 0};
  EXPECT_EQ(v4.addr, want_v4);

  const Prefix mapped = parse_ok("::ffff:1.2.3.4");
  const std::array<uint8_t, 16> want_mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4};
  EXPECT_EQ(mapped.addr, want_mapped);
}

struct BadCase {
  const char* text;
  const char* error;
};

TEST(PrefixTest, RejectsWithExactMessages) {
  const BadCase cases[] = {
      {"", "empty prefix"},
      {"10.0.0.1/8", "10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)"},
      {"192.0.2.129/25", "192.0.2.129/25 has host bits set (did you mean 192.0.2.128/25?)"},
      {"1.2.3.4/0", "1.2.3.4/0 has host bits set (did you mean 0.0.0.0/0?)"},
      {"2001:db8::1/32", "2001:db8::1/32 has host bits set (did you mean 2001:db8::/32?)"},
      {"fec0::/9", "fec0::/9 has host bits set (did you mean fe80::/9?)"},
      {"10.0.0.0/33", "prefix length 33 is out of range 0-32 for IPv4"},
      {"10.0.0.0/999", "prefix length 999 is out of range 0-32 for IPv4"},
      {"::/129", "prefix length 129 is out of range 0-128 for IPv6"},
      {"10.0.0.0/", "'10.0.0.0/' has no prefix length after '/'"},
      {"10.0.0.0/x", "'x' is not a prefix length"},
      {"10.0.0.0/-1", "'-1' is not a prefix length"},
      {"10.0.0.0/+8", "'+8' is not a prefix length"},
      {"10.0.0.0/1000", "'1000' is not a prefix length"},
      {"10.0.0.0/8/9", "'8/9' is not a prefix length"},
      {"/8", "'/8' has no address before '/'"},
      {"10.0.0.256", "'10.0.0.256' is not an IPv4 address"},
      {"10.0.0/24", "'10.0.0' is not an IPv4 address"},
      {"10.0.0.0.0", "'10.0.0.0.0' is not an IPv4 address"},
      {" 10.0.0.0", "' 10.0.0.0' is not an IPv4 address"},
      {"example.com", "'example.com' is not an IPv4 address"},
      {"2001:db8:::1", "'2001:db8:::1' is not an IPv6 address"},
      {"2001:db8::g", "'2001:db8::g' is not an IPv6 address"},
      {"fe80::1%eth0", "'fe80::1%eth0' is not an IPv6 address"},
      {"1:2:3:4:5:6:7:8:9", "'1:2:3:4:5:6:7:8:9' is not an IPv6 address"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.text);
    std::string error;
    EXPECT_FALSE(Prefix::parse(c.text, error).has_value());
    EXPECT_EQ(error, c.error);
  }
}

/// Checks what Prefix::parse makes of `text` against the long way: inet_pton on the address
/// before '/', a length of one to three decimal digits up to the family's width, no host bits.
/// Counts the texts accepted and refused.
void expect_read_the_long_way(const std::string& text, Family family, int& accepted, int& refused) {
  SCOPED_TRACE(text);
  const unsigned width = family == Family::ipv4 ? 32 : 128;
  const std::size_t slash = text.find('/');
  const std::string address_part = text.substr(0, slash);
  std::array<uint8_t, 16> want{};
  bool valid = inet_pton(family == Family::ipv4 ? AF_INET : AF_INET6, address_part.c_str(),
                         want.data()) == 1;
  unsigned length = width;
  if (valid && slash != std::string::npos) {
    const std::string digits = text.substr(slash + 1);
    valid = !digits.empty() && digits.size() <= 3 &&
            digits.find_first_not_of("0123456789") == std::string::npos &&
            (length = static_cast<unsigned>(std::stoul(digits))) <= width;
  }
  for (unsigned bit = length; valid && bit < width; ++bit)
    valid = (want[bit / 8] & (0x80u >> (bit % 8))) == 0;

  std::string error;
  const std::optional<Prefix> prefix = Prefix::parse(text, error);
  ASSERT_EQ(prefix.has_value(), valid) << error;
  if (valid) {
    EXPECT_EQ(error, "");
    EXPECT_EQ(prefix->family, family);
    EXPECT_EQ(prefix->length, length);
    EXPECT_EQ(prefix->addr, want);
    ++accepted;
  } else {
    EXPECT_NE(error, "");
    ++refused;
  }
}

// IPv4 prefixes are read without inet_pton where they can be; whatever the text, the answer must
// be the one inet_pton and the rules of a prefix give. Random texts near "a.b.c.d/len": parts of
// zero to four digits, leading zeros, values past 255, missing, extra and doubled dots, lengths
// past 32 or with leading zeros, host bits, stray characters anywhere.
TEST(PrefixTest, ReadsIPv4PrefixesAsInetPtonDoes) {
  std::mt19937 random(20261207);
  const auto pick = [&](unsigned n) { return static_cast<unsigned>(random() % n); };
  const std::string stray = " +-x0.a/";
  int accepted = 0;
  int refused = 0;
  for (int round = 0; round < 300'000; ++round) {
    std::string address;
    const unsigned parts = pick(10) == 0 ? 3 + pick(3) : 4;
    for (unsigned part = 0; part < parts; ++part) {
      if (part > 0) address += pick(40) == 0 ? ".." : ".";
      switch (pick(16)) {
        case 0:
          address += std::to_string(pick(1000));
          break;
        case 1:
          address += "0" + std::to_string(pick(100));
          break;
        case 2:
          address += pick(4) == 0 ? "" : "0";
          break;
        default:
          address += std::to_string(pick(256));
      }
    }
    std::string length_text;
    switch (pick(4)) {
      case 0:
        break;  // a bare address
      case 1:
        length_text = std::to_string(pick(40));
        break;
      default:
        length_text = (pick(10) == 0 ? "0" : "") + std::to_string(24 + pick(9));
    }
    std::string text = address + (length_text.empty() && pick(30) != 0 ? "" : "/" + length_text);
    if (pick(20) == 0) text.insert(pick(static_cast<unsigned>(text.size()) + 1), 1, stray[pick(8)]);
    if (text.find(':') != std::string::npos) continue;
    ASSERT_NO_FATAL_FAILURE(expect_read_the_long_way(text, Family::ipv4, accepted, refused));
  }
  // Both answers came up often enough to mean something.
  EXPECT_GT(accepted, 50'000);
  EXPECT_GT(refused, 50'000);
}

// The IPv6 road of Prefix::parse that reads without inet_pton answers as the long way does, for
// random texts near IPv6 prefixes: groups of zero to five hexadecimal digits, "::" anywhere
// (also twice), an IPv4 address last, a length perhaps too long or with host bits, stray
// characters.
TEST(PrefixTest, ReadsIPv6PrefixesAsInetPtonDoes) {
  std::mt19937 random(20261208);
  const auto pick = [&](unsigned n) { return static_cast<unsigned>(random() % n); };
  const std::string hex = "0123456789abcdefABCDEF";
  const std::string stray = " +-xg.:/";
  int accepted = 0;
  int refused = 0;
  for (int round = 0; round < 300'000; ++round) {
    std::string address;
    const unsigned groups = 1 + pick(9);
    for (unsigned group = 0; group < groups; ++group) {
      if (group > 0) address += pick(6) == 0 ? "::" : ":";
      const unsigned digits = pick(12) == 0 ? pick(6) : 1 + pick(4);
      for (unsigned d = 0; d < digits; ++d)
        address += pick(3) == 0 ? hex[pick(static_cast<unsigned>(hex.size()))] : '0';
    }
    if (pick(8) == 0) address = "::" + address;
    if (pick(8) == 0) address += "::";
    if (pick(40) == 0) address += ":192.0.2." + std::to_string(pick(300));
    std::string length_text;
    switch (pick(4)) {
      case 0:
        break;  // a bare address
      case 1:
        length_text = std::to_string(pick(140));
        break;
      default:
        length_text = (pick(10) == 0 ? "0" : "") + std::to_string(16 * (1 + pick(8)));
    }
    std::string text = address + (length_text.empty() && pick(30) != 0 ? "" : "/" + length_text);
    if (pick(20) == 0) text.insert(pick(static_cast<unsigned>(text.size()) + 1), 1, stray[pick(8)]);
    if (text.find(':') == std::string::npos) continue;
    ASSERT_NO_FATAL_FAILURE(expect_read_the_long_way(text, Family::ipv6, accepted, refused));
  }
  // Both answers came up often enough to mean something.
  EXPECT_GT(accepted, 30'000);
  EXPECT_GT(refused, 50'000);
}

struct ContainsCase {
  const char* prefix;
  const char* address;
  bool inside;
};

TEST(PrefixTest, Contains) {
  const ContainsCase cases[] = {
      {"10.0.0.0/8", "10.255.1.2", true},
      {"10.0.0.0/8", "11.0.0.0", false},
      {"10.0.0.0/8", "9.255.255.255", false},
      {"0.0.0.0/0", "255.255.255.255", true},
      {"192.0.2.4/31", "192.0.2.5", true},
      {"192.0.2.4/31", "192.0.2.6", false},
      {"192.0.2.7", "192.0.2.7", true},
      {"192.0.2.7", "192.0.2.6", false},
      {"172.16.0.0/12", "172.31.255.255", true},
      {"172.16.0.0/12", "172.32.0.0", false},
      {"::/0", "2001:db8::1", true},
      {"2001:db8::/32", "2001:db8:ffff::1", true},
      {"2001:db8::/32", "2001:db9::", false},
      {"fe80::/10", "febf::1", true},
      {"fe80::/10", "fec0::1", false},
      {"2001:db8::1", "2001:db8::1", true},
      {"2001:db8::1", "2001:db8::2", false},
      {"2001:db8::/127", "2001:db8::1", true},
      {"2001:db8::/127", "2001:db8::2", false},
  };
  for (const ContainsCase& c : cases) {
    SCOPED_TRACE(std::string(c.prefix) + " ∋ " + c.address);
    EXPECT_EQ(parse_ok(c.prefix).contains(address(c.address)), c.inside);
  }
}

TEST(PrefixTest, PrefixRoundTripsThroughToString) {
  for (const char* text : {"10.1.0.0/16", "2001:db8:1::/48", "::ffff:10.0.0.0/104", "::/0"}) {
    const Prefix prefix = parse_ok(text);
    EXPECT_EQ(parse_ok(prefix.to_string()), prefix) << text;
  }
}

TEST(PortRangeTest, ToString) {
  EXPECT_EQ((Range{53, 53}).to_string(), "53");
  EXPECT_EQ((Range{1024, 65535}).to_string(), "1024-65535");
  EXPECT_EQ((Range{0, 0}).to_string(), "0");
  EXPECT_EQ(Range{}.to_string(), "0-65535");
}

TEST(PortRangeTest, ContainsIsInclusive) {
  const Range range{1024, 2048};
  EXPECT_FALSE(range.contains(1023));
  EXPECT_TRUE(range.contains(1024));
  EXPECT_TRUE(range.contains(2048));
  EXPECT_FALSE(range.contains(2049));
}

TEST(ActionTest, ToString) {
  EXPECT_EQ(action_to_string(Action{.kind = ActionKind::drop}), "drop");
  EXPECT_EQ(action_to_string(Action{.kind = ActionKind::forward}), "forward");
  EXPECT_EQ(action_to_string(Action{.kind = ActionKind::forward, .port = 1, .port_name = "lan"}),
            "forward:lan");
}

}  // namespace
}  // namespace udpsieve::rules
