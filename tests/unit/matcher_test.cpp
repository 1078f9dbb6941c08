// reference_match / rule_matches: hand-written cases for every match field.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "udpsieve/rules/matcher.hpp"

namespace udpsieve::rules {
namespace {

Prefix prefix(const char* text) {
  std::string error;
  std::optional<Prefix> parsed = Prefix::parse(text, error);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << error;
  return parsed.value_or(Prefix{});
}

std::vector<Prefix> prefixes(std::initializer_list<const char*> texts) {
  std::vector<Prefix> out;
  for (const char* text : texts)
    out.push_back(prefix(text));
  return out;
}

/// A Match with the address and port fields only.
Match fields(std::vector<Prefix> src, std::vector<Prefix> dst, std::vector<Range> src_port,
             std::vector<Range> dst_port) {
  Match out;
  out.src = std::move(src);
  out.dst = std::move(dst);
  out.src_port = std::move(src_port);
  out.dst_port = std::move(dst_port);
  return out;
}

Rule rule(std::string id, Match match, ActionKind kind = ActionKind::drop) {
  Rule out;
  out.id = std::move(id);
  out.match = std::move(match);
  out.action.kind = kind;
  return out;
}

PacketKey key(const char* src, const char* dst, uint16_t src_port = 1000, uint16_t dst_port = 53) {
  PacketKey out;
  const bool v6 = std::string(src).find(':') != std::string::npos;
  const int af = v6 ? AF_INET6 : AF_INET;
  EXPECT_EQ(inet_pton(af, src, out.src.data()), 1) << src;
  EXPECT_EQ(inet_pton(af, dst, out.dst.data()), 1) << dst;
  out.family = v6 ? Family::ipv6 : Family::ipv4;
  out.src_port = src_port;
  out.dst_port = dst_port;
  out.has_ports = true;
  return out;
}

int32_t first_match(const std::vector<Rule>& rules, const PacketKey& k) {
  return reference_match(rules, k);
}

TEST(MatcherTest, NoRulesNoMatch) {
  EXPECT_EQ(first_match({}, key("10.0.0.1", "10.0.0.2")), kNoMatch);
}

TEST(MatcherTest, FirstMatchWins) {
  const std::vector<Rule> rules = {
      rule("dst-10-1", fields({}, prefixes({"10.1.0.0/16"}), {}, {})),
      rule("dst-10", fields({}, prefixes({"10.0.0.0/8"}), {}, {}), ActionKind::forward),
      rule("dns", fields({}, {}, {}, {{53, 53}})),
  };
  EXPECT_EQ(first_match(rules, key("192.0.2.1", "10.1.2.3")), 0);
  EXPECT_EQ(first_match(rules, key("192.0.2.1", "10.2.2.3")), 1);
  EXPECT_EQ(first_match(rules, key("192.0.2.1", "11.0.0.1", 1, 53)), 2);
  EXPECT_EQ(first_match(rules, key("192.0.2.1", "11.0.0.1", 1, 54)), kNoMatch);
}

TEST(MatcherTest, AllPresentFieldsMustMatch) {
  const std::vector<Rule> rules = {rule(
      "ntp", fields(prefixes({"203.0.113.0/24"}), prefixes({"198.51.100.0/24", "192.0.2.0/24"}),
                    {{123, 123}}, {{1024, 65535}}))};
  EXPECT_EQ(first_match(rules, key("203.0.113.9", "192.0.2.1", 123, 40000)), 0);
  EXPECT_EQ(first_match(rules, key("203.0.113.9", "198.51.100.255", 123, 1024)), 0);
  EXPECT_EQ(first_match(rules, key("203.0.114.9", "192.0.2.1", 123, 40000)), kNoMatch);  // src
  EXPECT_EQ(first_match(rules, key("203.0.113.9", "192.0.3.1", 123, 40000)), kNoMatch);  // dst
  EXPECT_EQ(first_match(rules, key("203.0.113.9", "192.0.2.1", 124, 40000)), kNoMatch);  // src_port
  EXPECT_EQ(first_match(rules, key("203.0.113.9", "192.0.2.1", 123, 1023)), kNoMatch);   // dst_port
}

TEST(MatcherTest, FamiliesAreSeparate) {
  const std::vector<Rule> rules = {
      rule("any-v6-src", fields(prefixes({"::/0"}), {}, {}, {})),
      rule("mapped", fields({}, prefixes({"::ffff:10.0.0.0/104"}), {}, {})),
      rule("any-v4-dst", fields({}, prefixes({"0.0.0.0/0"}), {}, {})),
  };
  // An IPv4 packet never matches IPv6 prefixes, even IPv4-mapped ones.
  EXPECT_EQ(first_match(rules, key("10.0.0.1", "10.0.0.2")), 2);
  EXPECT_EQ(first_match(rules, key("2001:db8::1", "::ffff:10.0.0.2")), 0);
  const std::vector<Rule> v4_only = {rule("v4", fields(prefixes({"0.0.0.0/0"}), {}, {}, {}))};
  EXPECT_EQ(first_match(v4_only, key("2001:db8::1", "2001:db8::2")), kNoMatch);
  // A rule listing both families matches either.
  const std::vector<Rule> mixed = {
      rule("mixed", fields(prefixes({"10.0.0.0/8", "2001:db8::/32"}), {}, {}, {}))};
  EXPECT_EQ(first_match(mixed, key("10.9.9.9", "192.0.2.1")), 0);
  EXPECT_EQ(first_match(mixed, key("2001:db8::9", "2001:db9::1")), 0);
  EXPECT_EQ(first_match(mixed, key("11.0.0.1", "192.0.2.1")), kNoMatch);
  EXPECT_EQ(first_match(mixed, key("2001:db9::9", "2001:db8::1")), kNoMatch);
}

TEST(MatcherTest, NoPortsNeverMatchPortFields) {
  const std::vector<Rule> rules = {
      rule("all-src-ports", fields({}, {}, {{0, 65535}}, {})),
      rule("all-dst-ports", fields({}, {}, {}, {{0, 65535}})),
      rule("dst-only", fields({}, prefixes({"10.0.0.0/8"}), {}, {})),
  };
  PacketKey fragment = key("192.0.2.1", "10.0.0.1", 0, 0);
  EXPECT_EQ(first_match(rules, fragment), 0);
  fragment.has_ports = false;
  fragment.fragment = FragmentKind::non_first;
  EXPECT_EQ(first_match(rules, fragment), 2);
  PacketKey elsewhere = fragment;
  elsewhere.dst[0] = 11;
  EXPECT_EQ(first_match(rules, elsewhere), kNoMatch);
}

TEST(MatcherTest, EmptyMatchMatchesEverything) {
  const std::vector<Rule> rules = {rule("all", Match())};
  EXPECT_EQ(first_match(rules, key("10.0.0.1", "10.0.0.2")), 0);
  EXPECT_EQ(first_match(rules, key("2001:db8::1", "::1", 0, 0)), 0);
  PacketKey no_ports = key("10.0.0.1", "10.0.0.2");
  no_ports.has_ports = false;
  EXPECT_EQ(first_match(rules, no_ports), 0);
}

// --- in_port, length, ttl, dscp, vlan, fragment, payload -------------------------------------

/// An IPv4 UDP key 192.0.2.1:1000 -> 10.0.0.1:53, untagged, not fragmented, no payload.
PacketKey base_key() {
  return key("192.0.2.1", "10.0.0.1");
}

struct FieldCase {
  const char* description;
  std::function<void(PacketKey&)> adjust;  ///< applied to base_key()
  bool matches;
};

void expect_cases(const Rule& r, const std::vector<FieldCase>& cases) {
  const std::vector<Rule> one = {r};
  for (const FieldCase& c : cases) {
    PacketKey k = base_key();
    c.adjust(k);
    EXPECT_EQ(rule_matches(r, k), c.matches) << r.id << ": " << c.description;
    EXPECT_EQ(reference_match(one, k), c.matches ? 0 : kNoMatch) << r.id << ": " << c.description;
  }
}

Rule with(Match match) {
  return rule("r", std::move(match));
}

TEST(MatcherTest, InPort) {
  Match m;
  m.in_port = {1, 3};
  expect_cases(with(m), {
                            {"port 0", [](PacketKey& k) { k.in_port = 0; }, false},
                            {"port 1", [](PacketKey& k) { k.in_port = 1; }, true},
                            {"port 2", [](PacketKey& k) { k.in_port = 2; }, false},
                            {"port 3", [](PacketKey& k) { k.in_port = 3; }, true},
                            {"port 255", [](PacketKey& k) { k.in_port = 255; }, false},
                        });
}

TEST(MatcherTest, Length) {
  Match m;
  m.length = {{28, 100}, {200, 200}};
  expect_cases(with(m), {
                            {"27", [](PacketKey& k) { k.l3_length = 27; }, false},
                            {"28", [](PacketKey& k) { k.l3_length = 28; }, true},
                            {"100", [](PacketKey& k) { k.l3_length = 100; }, true},
                            {"101", [](PacketKey& k) { k.l3_length = 101; }, false},
                            {"200", [](PacketKey& k) { k.l3_length = 200; }, true},
                            {"65535", [](PacketKey& k) { k.l3_length = 65535; }, false},
                            {"no ports, 50",
                             [](PacketKey& k) {
                               k.has_ports = false;
                               k.l3_length = 50;
                             },
                             true},
                        });
}

TEST(MatcherTest, Ttl) {
  Match m;
  m.ttl = {{1, 5}, {255, 255}};
  expect_cases(with(m), {
                            {"0", [](PacketKey& k) { k.ttl = 0; }, false},
                            {"1", [](PacketKey& k) { k.ttl = 1; }, true},
                            {"5", [](PacketKey& k) { k.ttl = 5; }, true},
                            {"6", [](PacketKey& k) { k.ttl = 6; }, false},
                            {"254", [](PacketKey& k) { k.ttl = 254; }, false},
                            {"255", [](PacketKey& k) { k.ttl = 255; }, true},
                        });
}

TEST(MatcherTest, Dscp) {
  Match m;
  m.dscp = {{46, 46}, {40, 43}};
  expect_cases(with(m), {
                            {"0", [](PacketKey& k) { k.dscp = 0; }, false},
                            {"40", [](PacketKey& k) { k.dscp = 40; }, true},
                            {"43", [](PacketKey& k) { k.dscp = 43; }, true},
                            {"44", [](PacketKey& k) { k.dscp = 44; }, false},
                            {"46", [](PacketKey& k) { k.dscp = 46; }, true},
                            {"63", [](PacketKey& k) { k.dscp = 63; }, false},
                        });
}

void tag(PacketKey& k, uint8_t count, uint16_t outer, uint16_t inner = 0) {
  k.vlan_count = count;
  k.outer_vlan = outer;
  k.inner_vlan = inner;
}

TEST(MatcherTest, VlanMatchesTheOuterTagOnly) {
  Match m;
  m.vlan = {{100, 100}, {200, 300}};
  expect_cases(with(m), {
                            {"untagged", [](PacketKey& k) { tag(k, 0, 0); }, false},
                            {"untagged, stray id", [](PacketKey& k) { tag(k, 0, 100); }, false},
                            {"tag 100", [](PacketKey& k) { tag(k, 1, 100); }, true},
                            {"tag 150", [](PacketKey& k) { tag(k, 1, 150); }, false},
                            {"tag 200", [](PacketKey& k) { tag(k, 1, 200); }, true},
                            {"tag 300", [](PacketKey& k) { tag(k, 1, 300); }, true},
                            {"tag 301", [](PacketKey& k) { tag(k, 1, 301); }, false},
                            {"QinQ 250/100", [](PacketKey& k) { tag(k, 2, 250, 100); }, true},
                            {"QinQ 5/100", [](PacketKey& k) { tag(k, 2, 5, 100); }, false},
                        });
  Match zero;
  zero.vlan = {{0, 0}};
  expect_cases(with(zero), {
                               {"untagged", [](PacketKey& k) { tag(k, 0, 0); }, false},
                               {"priority tag", [](PacketKey& k) { tag(k, 1, 0); }, true},
                           });
  Match all;
  all.vlan = {{0, 4095}};
  expect_cases(with(all), {
                              {"untagged", [](PacketKey& k) { tag(k, 0, 0); }, false},
                              {"tag 4095", [](PacketKey& k) { tag(k, 1, 4095); }, true},
                          });
}

TEST(MatcherTest, Fragment) {
  const auto as = [](FragmentKind kind, bool has_ports) {
    return [=](PacketKey& k) {
      k.fragment = kind;
      k.has_ports = has_ports;
    };
  };
  for (FragmentKind kind : {FragmentKind::none, FragmentKind::first, FragmentKind::non_first}) {
    Match m;
    m.fragment = kind;
    const Rule r = rule(fragment_name(kind), m);
    expect_cases(
        r, {
               {"none", as(FragmentKind::none, true), kind == FragmentKind::none},
               {"first", as(FragmentKind::first, true), kind == FragmentKind::first},
               {"non_first", as(FragmentKind::non_first, false), kind == FragmentKind::non_first},
           });
  }
}

// Payload bytes the cases point keys at.
constexpr std::array<uint8_t, 8> kPayload = {0xde, 0xad, 0x01, 0x0f, 0x00, 0x00, 0x00, 0x00};
constexpr std::array<uint8_t, 8> kPayloadHighNibble = {0xde, 0xad, 0x01, 0x1f, 0, 0, 0, 0};
constexpr std::array<uint8_t, 8> kPayloadExact = {0xde, 0xad, 0x01, 0x00, 0xff, 0xff, 0, 0};
constexpr std::array<uint8_t, 8> kPayloadOtherByte = {0xde, 0xad, 0x81, 0x0f, 0, 0, 0, 0};

std::function<void(PacketKey&)> payload(const std::array<uint8_t, 8>& bytes, uint16_t length) {
  return [&bytes, length](PacketKey& k) {
    k.payload = bytes.data();
    k.payload_length = length;
  };
}

TEST(MatcherTest, PayloadWithOffsetAndMask) {
  Match m;
  m.payload = PayloadMatch{2, {0x01, 0x00}, {0xff, 0xf0}};
  expect_cases(with(m), {
                            {"exact bytes", payload(kPayloadExact, 8), true},
                            {"exactly long enough", payload(kPayload, 4), true},
                            {"one byte short", payload(kPayload, 3), false},
                            {"empty", payload(kPayload, 0), false},
                            {"bits outside the mask set", payload(kPayload, 8), true},
                            {"masked bit differs", payload(kPayloadHighNibble, 8), false},
                            {"window's first byte differs", payload(kPayloadOtherByte, 8), false},
                            {"no payload pointer",
                             [](PacketKey& k) {
                               k.payload = nullptr;
                               k.payload_length = 8;
                             },
                             false},
                            {"no UDP header",
                             [](PacketKey& k) {
                               payload(kPayload, 8)(k);
                               k.has_ports = false;
                               k.fragment = FragmentKind::non_first;
                             },
                             false},
                        });
}

TEST(MatcherTest, PayloadAtOffsetZeroWithFullMask) {
  Match m;
  m.payload = PayloadMatch{0, {0xde, 0xad}, {0xff, 0xff}};
  expect_cases(with(m), {
                            {"match", payload(kPayload, 2), true},
                            {"one byte", payload(kPayload, 1), false},
                            {"other bytes", payload(kPayloadOtherByte, 2), true},
                        });
  Match other;
  other.payload = PayloadMatch{0, {0xde, 0xae}, {0xff, 0xff}};
  expect_cases(with(other), {{"last bit differs", payload(kPayload, 8), false}});
  // The loader never makes a mask of another size than the value; such a rule matches nothing.
  Match malformed;
  malformed.payload = PayloadMatch{0, {0xde, 0xad}, {0xff}};
  expect_cases(with(malformed), {{"malformed", payload(kPayload, 8), false}});
}

TEST(MatcherTest, EveryNewFieldMustMatch) {
  Match m;
  m.in_port = {2};
  m.length = {{28, 100}};
  m.ttl = {{64, 64}};
  m.dscp = {{46, 46}};
  m.vlan = {{100, 100}};
  m.fragment = FragmentKind::first;
  m.payload = PayloadMatch{0, {0xde}, {0xff}};
  m.dst_port = {{53, 53}};
  const auto all = [](PacketKey& k) {
    k.in_port = 2;
    k.l3_length = 60;
    k.ttl = 64;
    k.dscp = 46;
    tag(k, 1, 100);
    k.fragment = FragmentKind::first;
    payload(kPayload, 8)(k);
  };
  const auto but = [&](std::function<void(PacketKey&)> change) {
    return [=](PacketKey& k) {
      all(k);
      change(k);
    };
  };
  expect_cases(with(m),
               {
                   {"all match", all, true},
                   {"in_port", but([](PacketKey& k) { k.in_port = 1; }), false},
                   {"length", but([](PacketKey& k) { k.l3_length = 101; }), false},
                   {"ttl", but([](PacketKey& k) { k.ttl = 63; }), false},
                   {"dscp", but([](PacketKey& k) { k.dscp = 0; }), false},
                   {"vlan", but([](PacketKey& k) { tag(k, 1, 101); }), false},
                   {"untagged", but([](PacketKey& k) { tag(k, 0, 0); }), false},
                   {"fragment", but([](PacketKey& k) { k.fragment = FragmentKind::none; }), false},
                   {"bytes after the window", but(payload(kPayloadOtherByte, 1)), true},
                   {"payload", but([](PacketKey& k) { k.payload = kPayload.data() + 1; }), false},
                   {"short payload", but(payload(kPayload, 0)), false},
                   {"dst_port", but([](PacketKey& k) { k.dst_port = 54; }), false},
               });
}

}  // namespace
}  // namespace udpsieve::rules
