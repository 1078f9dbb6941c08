// The binary search on prefix lengths for one-address rules (dataplane/prefix_lookup.hpp):
// which rules it takes, nested prefixes with ports by hand, and a differential test against the
// reference matcher on random rule sets of many prefix lengths that nest, with random packets
// of many flows (tests/dataplane/acl_differential_test.cpp checks it inside the classifier).

#include "udpsieve/dataplane/prefix_lookup.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "udpsieve/dataplane/exact_lookup.hpp"
#include "udpsieve/rules/matcher.hpp"
#include "unit/lookup_support.hpp"

namespace udpsieve::dataplane {
namespace {

using rules::Family;
using rules::Prefix;
using rules::Range;
using rules::Rule;

using test::all_of;
using test::rule_where;

Prefix prefix(const std::string& text) {
  return test::parsed_prefix(text);
}

constexpr std::array<uint64_t, 2> kSeed = {0x1234567890abcdefULL, 0xfedcba0987654321ULL};

rules::PacketKey packet(const std::string& src, const std::string& dst, uint16_t dst_port,
                        bool has_ports = true) {
  rules::PacketKey key;
  key.family = prefix(src).family;
  key.src = prefix(src).addr;
  key.dst = prefix(dst).addr;
  key.has_ports = has_ports;
  key.fragment = has_ports ? rules::FragmentKind::none : rules::FragmentKind::non_first;
  key.src_port = has_ports ? 40000 : 0;
  key.dst_port = has_ports ? dst_port : 0;
  key.l3_length = 60;
  return key;
}

/// The lookup's answer for one packet: rule index + 1, or 0.
template <unsigned Words>
uint32_t classify_one(const PrefixLookup<Words>& lookup, const rules::PacketKey& key) {
  const rules::PacketKey* pointer = &key;
  uint32_t result = 0;
  lookup.classify(&pointer, &result, 1);
  return result;
}

TEST(PrefixLookup, KeysOnOneAddressWithPortsAndNothingElse) {
  const auto side = [](uint16_t fields) { return prefix_side(Signature{fields, 0}); };
  EXPECT_EQ(side(kPinsSrc), PrefixSide::src);
  EXPECT_EQ(side(kPinsSrc | kPinsDstPort | kPinsSrcPort), PrefixSide::src);
  EXPECT_EQ(side(kPinsDst | kPinsDstPort), PrefixSide::dst);
  EXPECT_FALSE(side(kPinsSrc | kPinsDst));
  EXPECT_FALSE(side(kPinsDstPort)) << "no address: a hashed lookup's or rte_acl's";
  EXPECT_FALSE(side(kPinsSrc | kPinsLength));
  EXPECT_FALSE(side(kPinsSrc | kPinsSrcSet));
  EXPECT_FALSE(side(kPinsSrc | kPinsPayload));

  const auto builds = [](const std::function<void(rules::Match&)>& set) {
    const std::vector<Rule> rules = {
        rule_where([](rules::Match& m) { m.src = {prefix("10.0.0.0/8")}; }), rule_where(set)};
    return PrefixLookup<1>::build(rules, all_of(rules), PrefixSide::src, kSeed) != nullptr;
  };
  EXPECT_TRUE(builds([](rules::Match& m) {
    m.src = {prefix("10.1.0.0/16"), prefix("2001:db8::/32")};
    m.dst_port = {Range{53, 53}, Range{5000, 6000}};
    m.src_port = {Range{1024, 65535}};
  }));
  EXPECT_TRUE(builds([](rules::Match& m) {
    m.dst_port = {Range{53, 53}};
  })) << "a port-only rule merged into the context: the empty prefix";
  EXPECT_TRUE(builds([](rules::Match& m) { m.dst = {prefix("2001:db8::/32")}; }))
      << "it cannot match IPv4: left out";
  EXPECT_FALSE(builds([](rules::Match& m) {
    m.src = {prefix("10.1.0.0/16")};
    m.fragment = rules::FragmentKind::first;
  }));
  EXPECT_FALSE(builds([](rules::Match& m) {
    m.src = {prefix("10.1.0.0/16")};
    m.vlan = {Range{0, 4095}};
  })) << "tagged frames only: the flags byte's test";
  EXPECT_FALSE(builds([](rules::Match& m) {
    m.src = {prefix("10.1.0.0/16")};
    m.dst = {prefix("192.0.2.0/24")};
  }));
  EXPECT_FALSE(builds([](rules::Match& m) {
    m.src = {prefix("10.1.0.0/16")};
    m.ttl = {Range{1, 2}};
  }));

  // One address with more items than a leaf holds: rte_acl's.
  std::vector<Rule> deep;
  for (uint16_t port = 1; port <= kMaxPrefixLeaf + 1; ++port) {
    deep.push_back(rule_where([port](rules::Match& m) {
      m.src = {prefix("10.0.0.0/8")};
      m.dst_port = {Range{port, port}};
    }));
  }
  EXPECT_FALSE(PrefixLookup<1>::build(deep, all_of(deep), PrefixSide::src, kSeed));
  deep.pop_back();
  EXPECT_TRUE(PrefixLookup<1>::build(deep, all_of(deep), PrefixSide::src, kSeed));
  // A rule matching every packet of the prefix ends every leaf under it.
  deep.insert(deep.begin(), rule_where([](rules::Match& m) { m.src = {prefix("10.0.0.0/8")}; }));
  deep.push_back(deep.back());
  deep.push_back(deep.back());
  EXPECT_TRUE(PrefixLookup<1>::build(deep, all_of(deep), PrefixSide::src, kSeed));
}

TEST(PrefixLookup, NestedPrefixesGiveTheFirstMatchInFileOrder) {
  const std::vector<Rule> rules = {
      rule_where([](rules::Match& m) {  // 1
        m.src = {prefix("10.1.2.0/24")};
        m.dst_port = {Range{53, 53}};
      }),
      rule_where([](rules::Match& m) {  // 2
        m.src = {prefix("10.1.0.0/16")};
        m.dst_port = {Range{100, 200}};
      }),
      rule_where([](rules::Match& m) { m.src = {prefix("10.1.2.128/25")}; }),  // 3
      rule_where([](rules::Match& m) { m.src = {prefix("10.0.0.0/8")}; }),     // 4
      rule_where([](rules::Match& m) { m.src = {prefix("10.1.2.3/32")}; }),    // 5: shadowed
      rule_where([](rules::Match& m) {
        m.dst_port = {Range{9, 9}};
      }),                               // 6: no address
      rule_where([](rules::Match& m) {  // 7
        m.src = {prefix("192.0.2.0/24"), prefix("198.51.100.7/32")};
        m.dst_port = {Range{0, 65535}};  // any packet with a UDP header
      }),
  };
  const auto lookup = PrefixLookup<1>::build(rules, all_of(rules), PrefixSide::src, kSeed);
  ASSERT_TRUE(lookup);
  EXPECT_EQ(lookup->entries(), 8U) << "one item per prefix and port range";
  EXPECT_EQ(lookup->lengths(), 3U) << "/24 /25 /32 searched; /8 and /16 in the blocks";
  const auto at = [&](const char* src, uint16_t port, bool has_ports = true) {
    return classify_one(*lookup, packet(src, "203.0.113.1", port, has_ports));
  };
  EXPECT_EQ(at("10.1.2.3", 53), 1U);
  EXPECT_EQ(at("10.1.2.200", 53), 1U);
  EXPECT_EQ(at("10.1.2.200", 150), 2U);
  EXPECT_EQ(at("10.1.2.200", 54), 3U);
  EXPECT_EQ(at("10.1.2.3", 54), 4U) << "the /8 comes before the /32";
  EXPECT_EQ(at("10.1.2.3", 53, false), 4U) << "no UDP header: port rules miss";
  EXPECT_EQ(at("10.1.3.3", 150), 2U);
  EXPECT_EQ(at("10.9.9.9", 150), 4U);
  EXPECT_EQ(at("11.0.0.1", 9), 6U);
  EXPECT_EQ(at("11.0.0.1", 10), 0U);
  EXPECT_EQ(at("192.0.2.77", 9), 6U);
  EXPECT_EQ(at("192.0.2.77", 10), 7U);
  EXPECT_EQ(at("192.0.2.77", 10, false), 0U);
  EXPECT_EQ(at("198.51.100.7", 10), 7U);
  EXPECT_EQ(at("198.51.100.6", 10), 0U);
}

// --- differential ------------------------------------------------------------------------------

/// Random rules the lookup takes: prefixes of many lengths around a few bases, so they nest and
/// packets find them; ports as values, ranges and lists, sometimes none, sometimes a source
/// port; a few rules with no address; for one family and side.
struct Generator : test::RuleDice {
  Family family;
  PrefixSide side;
  std::vector<std::array<uint8_t, 16>> bases;

  Generator(uint64_t seed, Family f, std::size_t rules) : RuleDice(seed), family(f) {
    side = coin(70) ? PrefixSide::src : PrefixSide::dst;
    for (std::size_t i = 0; i < std::max<std::size_t>(4, rules / 6); ++i) {
      std::array<uint8_t, 16> base{};
      for (auto& b : base)
        b = static_cast<uint8_t>(rng());
      bases.push_back(base);
    }
  }
  [[nodiscard]] unsigned bits() const { return family == Family::ipv4 ? 32 : 128; }
  /// An address near a base: its bytes, with a few bits flipped near the end, so prefixes of
  /// the base nest and packets fall in and out of them.
  std::array<uint8_t, 16> address() {
    std::array<uint8_t, 16> a = bases[rng() % bases.size()];
    for (int flips = static_cast<int>(between(0, 3)); flips > 0; --flips) {
      const unsigned bit = between(bits() / 2, bits() - 1);
      a[bit / 8] = static_cast<uint8_t>(a[bit / 8] ^ (0x80U >> (bit % 8)));
    }
    for (unsigned i = bits() / 8; i < 16; ++i)
      a[i] = 0;
    return a;
  }
  Prefix prefix_of(unsigned length) { return prefix_at(family, address(), length); }
  Rule rule(std::size_t index) {
    Rule rule;
    rule.id = "r" + std::to_string(index);
    rules::Match& m = rule.match;
    std::vector<Prefix>& list = side == PrefixSide::src ? m.src : m.dst;
    // No address (a port-only rule merged in) or the empty prefix: a few per set, whose
    // items every leaf holds.
    bool everywhere = index < 300 && coin(1);
    if (!everywhere) {
      for (unsigned n = coin(85) ? 1 : between(2, 3); n > 0; --n) {
        const bool empty = index < 300 && coin(1);
        everywhere |= empty;
        // Mostly the longer half of the lengths, where the bits vary; some short ones cover
        // whole bases.
        const unsigned length =
            coin(10) ? between(bits() / 8, bits() / 2) : between(bits() / 2, bits());
        list.push_back(prefix_of(empty ? 0 : length));
      }
    }
    if (coin(60) || everywhere) m.dst_port = ports();  // else most packets would match it
    if (coin(15)) m.src_port = ports();
    if (coin(5)) m.dst_port = {Range{0, 65535}};  // unpinned, yet needs a UDP header
    return rule;
  }
  rules::PacketKey packet() {
    rules::PacketKey key;
    key.family = family;
    key.src = coin(90) ? address() : std::array<uint8_t, 16>{};
    key.dst = coin(90) ? address() : std::array<uint8_t, 16>{};
    if (coin(10)) {  // far from every base
      for (unsigned i = 0; i < bits() / 8; ++i)
        (side == PrefixSide::src ? key.src : key.dst)[i] = static_cast<uint8_t>(rng());
    }
    key.has_ports = !coin(5);
    key.fragment = key.has_ports ? rules::FragmentKind::none : rules::FragmentKind::non_first;
    key.src_port = key.has_ports ? static_cast<uint16_t>(between(48, 66)) : 0;
    key.dst_port = key.has_ports ? static_cast<uint16_t>(between(48, 66)) : 0;
    key.l3_length = 60;
    return key;
  }
};

TEST(PrefixLookup, AgreesWithTheReferenceMatcher) {
  std::size_t built = 0;
  std::size_t many_lengths = 0;
  std::size_t matched = 0;
  std::size_t packets = 0;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    const Family family = seed % 3 == 0 ? Family::ipv6 : Family::ipv4;
    std::mt19937_64 sizes(seed);
    const std::size_t count = seed % 10 == 0 ? 5000 : 1 + sizes() % 300;
    Generator gen(seed, family, count);
    std::vector<Rule> rules;
    for (std::size_t i = 0; i < count; ++i)
      rules.push_back(gen.rule(i));
    std::vector<rules::PacketKey> keys;
    for (int i = 0; i < 3000; ++i)
      keys.push_back(gen.packet());
    std::vector<const rules::PacketKey*> pointers(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i)
      pointers[i] = &keys[i];
    std::vector<uint32_t> results(keys.size(), 0);
    const auto run = [&](const auto& lookup) {
      test::in_bursts(keys.size(), [&](std::size_t done, uint32_t n) {
        lookup.classify(pointers.data() + done, results.data() + done, n);
      });
      return lookup.lengths();
    };
    const std::array<uint64_t, 2> key_seed = {seed * 0x9e3779b97f4a7c15ULL, ~seed};
    std::size_t lengths = 0;
    if (family == Family::ipv4) {
      const auto lookup = PrefixLookup<1>::build(rules, all_of(rules), gen.side, key_seed);
      if (!lookup) continue;  // some address with too many items: rte_acl's
      lengths = run(*lookup);
    } else {
      const auto lookup = PrefixLookup<4>::build(rules, all_of(rules), gen.side, key_seed);
      if (!lookup) continue;
      lengths = run(*lookup);
    }
    ++built;
    many_lengths += lengths > kMaxExactShapes ? 1 : 0;
    ASSERT_TRUE(test::agrees_with_reference(seed, rules, keys, results, matched));
    packets += keys.size();
  }
  EXPECT_GT(built, 50U) << "most seeds' rules fit";
  EXPECT_GT(many_lengths, 40U) << "more lengths than a hashed lookup probes";
  EXPECT_GT(matched, packets / 5);
  EXPECT_LT(matched, packets * 9 / 10);
}

}  // namespace
}  // namespace udpsieve::dataplane
