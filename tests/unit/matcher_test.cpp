// reference_match and LinearMatcher: hand-written cases, then a seeded differential test.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <algorithm>
#include <random>
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

/// Both matchers must agree; returns their answer.
int32_t both(const std::vector<Rule>& rules, const PacketKey& k) {
  const int32_t expected = reference_match(rules, k);
  const LinearMatcher matcher(rules);
  EXPECT_EQ(matcher.match(k), expected);
  return expected;
}

TEST(MatcherTest, NoRulesNoMatch) {
  EXPECT_EQ(both({}, key("10.0.0.1", "10.0.0.2")), kNoMatch);
  EXPECT_EQ(LinearMatcher().size(), 0u);
}

TEST(MatcherTest, FirstMatchWins) {
  const std::vector<Rule> rules = {
      rule("dst-10-1", Match{{}, prefixes({"10.1.0.0/16"}), {}, {}}),
      rule("dst-10", Match{{}, prefixes({"10.0.0.0/8"}), {}, {}}, ActionKind::forward),
      rule("dns", Match{{}, {}, {}, {{53, 53}}}),
  };
  EXPECT_EQ(both(rules, key("192.0.2.1", "10.1.2.3")), 0);
  EXPECT_EQ(both(rules, key("192.0.2.1", "10.2.2.3")), 1);
  EXPECT_EQ(both(rules, key("192.0.2.1", "11.0.0.1", 1, 53)), 2);
  EXPECT_EQ(both(rules, key("192.0.2.1", "11.0.0.1", 1, 54)), kNoMatch);
}

TEST(MatcherTest, AllPresentFieldsMustMatch) {
  const std::vector<Rule> rules = {rule("ntp", Match{prefixes({"203.0.113.0/24"}),
                                                     prefixes({"198.51.100.0/24", "192.0.2.0/24"}),
                                                     {{123, 123}},
                                                     {{1024, 65535}}})};
  EXPECT_EQ(both(rules, key("203.0.113.9", "192.0.2.1", 123, 40000)), 0);
  EXPECT_EQ(both(rules, key("203.0.113.9", "198.51.100.255", 123, 1024)), 0);
  EXPECT_EQ(both(rules, key("203.0.114.9", "192.0.2.1", 123, 40000)), kNoMatch);  // src
  EXPECT_EQ(both(rules, key("203.0.113.9", "192.0.3.1", 123, 40000)), kNoMatch);  // dst
  EXPECT_EQ(both(rules, key("203.0.113.9", "192.0.2.1", 124, 40000)), kNoMatch);  // src_port
  EXPECT_EQ(both(rules, key("203.0.113.9", "192.0.2.1", 123, 1023)), kNoMatch);   // dst_port
}

TEST(MatcherTest, FamiliesAreSeparate) {
  const std::vector<Rule> rules = {
      rule("any-v6-src", Match{prefixes({"::/0"}), {}, {}, {}}),
      rule("mapped", Match{{}, prefixes({"::ffff:10.0.0.0/104"}), {}, {}}),
      rule("any-v4-dst", Match{{}, prefixes({"0.0.0.0/0"}), {}, {}}),
  };
  // An IPv4 packet never matches IPv6 prefixes, even IPv4-mapped ones.
  EXPECT_EQ(both(rules, key("10.0.0.1", "10.0.0.2")), 2);
  EXPECT_EQ(both(rules, key("2001:db8::1", "::ffff:10.0.0.2")), 0);
  const std::vector<Rule> v4_only = {rule("v4", Match{prefixes({"0.0.0.0/0"}), {}, {}, {}})};
  EXPECT_EQ(both(v4_only, key("2001:db8::1", "2001:db8::2")), kNoMatch);
  // A rule listing both families matches either.
  const std::vector<Rule> mixed = {
      rule("mixed", Match{prefixes({"10.0.0.0/8", "2001:db8::/32"}), {}, {}, {}})};
  EXPECT_EQ(both(mixed, key("10.9.9.9", "192.0.2.1")), 0);
  EXPECT_EQ(both(mixed, key("2001:db8::9", "2001:db9::1")), 0);
  EXPECT_EQ(both(mixed, key("11.0.0.1", "192.0.2.1")), kNoMatch);
  EXPECT_EQ(both(mixed, key("2001:db9::9", "2001:db8::1")), kNoMatch);
}

TEST(MatcherTest, NoPortsNeverMatchPortFields) {
  const std::vector<Rule> rules = {
      rule("all-src-ports", Match{{}, {}, {{0, 65535}}, {}}),
      rule("all-dst-ports", Match{{}, {}, {}, {{0, 65535}}}),
      rule("dst-only", Match{{}, prefixes({"10.0.0.0/8"}), {}, {}}),
  };
  PacketKey fragment = key("192.0.2.1", "10.0.0.1", 0, 0);
  EXPECT_EQ(both(rules, fragment), 0);
  fragment.has_ports = false;
  fragment.fragment = FragmentKind::non_first;
  EXPECT_EQ(both(rules, fragment), 2);
  PacketKey elsewhere = fragment;
  elsewhere.dst[0] = 11;
  EXPECT_EQ(both(rules, elsewhere), kNoMatch);
}

TEST(MatcherTest, EmptyMatchMatchesEverything) {
  const std::vector<Rule> rules = {rule("all", Match{})};
  EXPECT_EQ(both(rules, key("10.0.0.1", "10.0.0.2")), 0);
  EXPECT_EQ(both(rules, key("2001:db8::1", "::1", 0, 0)), 0);
  PacketKey no_ports = key("10.0.0.1", "10.0.0.2");
  no_ports.has_ports = false;
  EXPECT_EQ(both(rules, no_ports), 0);
}

TEST(MatcherTest, MatchBurst) {
  const std::vector<Rule> rules = {rule("dns", Match{{}, {}, {}, {{53, 53}}})};
  const LinearMatcher matcher(rules);
  const PacketKey dns = key("10.0.0.1", "10.0.0.2", 1000, 53);
  const PacketKey web = key("10.0.0.1", "10.0.0.2", 1000, 443);
  const PacketKey* keys[] = {&dns, nullptr, &web, &dns};
  int32_t results[4] = {7, 7, 7, 7};
  matcher.match_burst(keys, 4, results);
  EXPECT_EQ(results[0], 0);
  EXPECT_EQ(results[1], kNoMatch);
  EXPECT_EQ(results[2], kNoMatch);
  EXPECT_EQ(results[3], 0);
}

// --- differential: LinearMatcher against reference_match on random rules and keys ------------

class RandomRules {
 public:
  /// Odd seeds also make rules without fields (they match everything from there on).
  explicit RandomRules(uint64_t seed) : rng_(seed), empty_rule_percent_(seed % 2 == 1 ? 3 : 0) {}

  std::vector<Rule> rules() {
    std::vector<Rule> out(uniform(1, 200));
    for (std::size_t i = 0; i < out.size(); ++i) {
      Rule& r = out[i];
      r.id = "r" + std::to_string(i);
      r.action.kind = chance(50) ? ActionKind::drop : ActionKind::forward;
      if (chance(empty_rule_percent_)) continue;  // no fields: matches everything
      if (chance(60)) r.match.src = prefix_list();
      if (chance(60)) r.match.dst = prefix_list();
      if (chance(40)) r.match.src_port = port_list();
      if (chance(50)) r.match.dst_port = port_list();
      const Match& m = r.match;
      if (m.src.empty() && m.dst.empty() && m.src_port.empty() && m.dst_port.empty()) {
        r.match.dst = prefix_list();  // fieldless rules only where the seed asks for them
      }
    }
    return out;
  }

  /// Mostly keys aimed at one rule's fields (so a good share match), the rest random.
  PacketKey key(const std::vector<Rule>& rules) {
    PacketKey k;
    k.family = chance(50) ? Family::ipv4 : Family::ipv6;
    k.has_ports = !chance(10);
    k.src_port = random_port();
    k.dst_port = random_port();
    const Prefix* src = nullptr;
    const Prefix* dst = nullptr;
    if (chance(70)) {
      const Rule& r = rules[uniform(0, rules.size() - 1)];
      if (!r.match.src.empty()) {
        src = &r.match.src[uniform(0, r.match.src.size() - 1)];
        k.family = src->family;
      }
      if (!r.match.dst.empty()) {
        std::vector<const Prefix*> same_family;
        for (const Prefix& p : r.match.dst) {
          if (p.family == k.family) same_family.push_back(&p);
        }
        dst = same_family.empty() ? &r.match.dst[uniform(0, r.match.dst.size() - 1)]
                                  : same_family[uniform(0, same_family.size() - 1)];
        if (src == nullptr) k.family = dst->family;
      }
      if (!r.match.src_port.empty() && chance(80)) k.src_port = inside(r.match.src_port);
      if (!r.match.dst_port.empty() && chance(80)) k.dst_port = inside(r.match.dst_port);
    }
    k.src = src != nullptr && src->family == k.family ? inside(*src) : random_address(k.family);
    k.dst = dst != nullptr && dst->family == k.family ? inside(*dst) : random_address(k.family);
    if (!k.has_ports) k.src_port = k.dst_port = 0;
    return k;
  }

 private:
  std::size_t uniform(std::size_t lo, std::size_t hi) {
    return std::uniform_int_distribution<std::size_t>(lo, hi)(rng_);
  }
  bool chance(unsigned percent) { return uniform(0, 99) < percent; }
  uint8_t byte() { return static_cast<uint8_t>(uniform(0, 255)); }

  std::array<uint8_t, 16> random_address(Family family) {
    std::array<uint8_t, 16> out{};  // IPv4 keeps bytes 4..15 zero, like the parser
    const std::size_t bytes = family == Family::ipv4 ? 4 : 16;
    for (std::size_t i = 0; i < bytes; ++i)
      out[i] = byte();
    // Share leading bytes often, so random prefixes and random keys overlap.
    if (chance(25)) out[0] = 10;
    return out;
  }

  Prefix random_prefix() {
    Prefix p;
    p.family = chance(50) ? Family::ipv4 : Family::ipv6;
    const std::size_t max = p.family == Family::ipv4 ? 32 : 128;
    p.length = static_cast<uint8_t>(chance(5) ? uniform(0, 8) : uniform(8, max));
    const std::array<uint8_t, 16> address = random_address(p.family);
    for (std::size_t bit = 0; bit < p.length; ++bit) {
      const auto mask = static_cast<uint8_t>(0x80u >> (bit % 8));
      p.addr[bit / 8] = static_cast<uint8_t>(p.addr[bit / 8] | (address[bit / 8] & mask));
    }
    return p;
  }

  std::vector<Prefix> prefix_list() {
    std::vector<Prefix> out(uniform(1, 4));
    for (Prefix& p : out)
      p = random_prefix();
    return out;
  }

  uint16_t random_port() {
    static constexpr uint16_t kCommon[] = {0, 53, 123, 443, 1023, 1024, 65535};
    if (chance(30)) return kCommon[uniform(0, std::size(kCommon) - 1)];
    return static_cast<uint16_t>(uniform(0, 65535));
  }

  std::vector<PortRange> port_list() {
    std::vector<PortRange> out(uniform(1, 3));
    for (PortRange& range : out) {
      const uint16_t a = random_port();
      if (chance(60)) {
        range = {a, a};
      } else if (chance(75)) {
        range = {a, static_cast<uint16_t>(std::min<std::size_t>(65535, a + uniform(1, 1024)))};
      } else {
        const uint16_t b = random_port();
        range = {std::min(a, b), std::max(a, b)};
      }
    }
    return out;
  }

  /// A random address inside `p`: its network bits, random host bits.
  std::array<uint8_t, 16> inside(const Prefix& p) {
    std::array<uint8_t, 16> out = random_address(p.family);
    for (std::size_t bit = 0; bit < p.length; ++bit) {
      const auto mask = static_cast<uint8_t>(0x80u >> (bit % 8));
      out[bit / 8] = static_cast<uint8_t>((out[bit / 8] & ~mask) | (p.addr[bit / 8] & mask));
    }
    return out;
  }

  uint16_t inside(const std::vector<PortRange>& ranges) {
    const PortRange& r = ranges[uniform(0, ranges.size() - 1)];
    return static_cast<uint16_t>(uniform(r.first, r.last));
  }

  std::mt19937_64 rng_;
  unsigned empty_rule_percent_;
};

TEST(MatcherTest, LinearMatcherAgreesWithReference) {
  constexpr uint64_t kSeeds = 40;
  constexpr int kKeysPerRuleSet = 2000;
  std::size_t matched = 0;
  std::size_t total = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    RandomRules random(seed);
    const std::vector<Rule> rules = random.rules();
    const LinearMatcher matcher(rules);
    ASSERT_EQ(matcher.size(), rules.size());
    std::vector<PacketKey> keys;
    for (int i = 0; i < kKeysPerRuleSet; ++i) {
      keys.push_back(random.key(rules));
      const PacketKey& k = keys.back();
      const int32_t expected = reference_match(rules, k);
      ASSERT_EQ(matcher.match(k), expected) << "seed " << seed << " key " << i;
      matched += expected != kNoMatch ? 1 : 0;
      ++total;
    }
    // The burst interface gives the same answers.
    std::vector<const PacketKey*> pointers;
    for (const PacketKey& k : keys)
      pointers.push_back(&k);
    std::vector<int32_t> results(keys.size());
    matcher.match_burst(pointers.data(), static_cast<uint32_t>(pointers.size()), results.data());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      ASSERT_EQ(results[i], reference_match(rules, keys[i])) << "seed " << seed << " key " << i;
    }
  }
  // The generator is meant to exercise both outcomes; guard against it drifting.
  EXPECT_GT(matched, total / 5);
  EXPECT_LT(matched, total * 19 / 20);
}

}  // namespace
}  // namespace udpsieve::rules
