// The hashed lookup of address and port rules (dataplane/exact_lookup.hpp): which contexts it
// takes, and a differential test against the reference matcher on random rule sets of the
// shapes it takes, with random packets of many flows (tests/dataplane/acl_differential_test.cpp
// checks it inside the whole classifier).

#include "udpsieve/dataplane/exact_lookup.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "udpsieve/dataplane/acl_key.hpp"
#include "udpsieve/dataplane/rule_facts.hpp"
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

/// plan_exact() of all of `rules` for `family`.
std::optional<ExactPlan> plan_of(const std::vector<Rule>& rules, Family family) {
  const RuleFacts facts(rules);
  return plan_exact(facts.exact(family), all_of(rules));
}

TEST(ExactLookup, TakesAddressAndPortRulesOfFewShapes) {
  const std::vector<Rule> rules = {
      rule_where([](rules::Match& m) {
        m.src = {prefix("10.0.0.0/24")};
        m.dst_port = {Range{53, 53}};
      }),
      rule_where([](rules::Match& m) {
        m.src = {prefix("10.0.1.0/24"), prefix("10.0.2.0/24")};
      }),
      rule_where([](rules::Match& m) {
        m.dst = {prefix("198.51.100.0/24")};
        m.src_port = {Range{123, 124}};
      }),
      rule_where([](rules::Match& m) {
        m.dst_port = {Range{0, 65535}};
      }),  // any packet with a UDP header
  };
  const std::optional<ExactPlan> plan = plan_of(rules, Family::ipv4);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->entries, 1U + 2 + 2 + 1);
  EXPECT_EQ(plan->shapes.size(), 4U) << "/24 + port, /24, dst /24 + source port, any port";
}

TEST(ExactLookup, LeavesOtherRulesToTheAcl) {
  const auto refused = [](const std::function<void(rules::Match&)>& set) {
    const std::vector<Rule> rules = {rule_where(set)};
    return !plan_of(rules, Family::ipv4).has_value();
  };
  EXPECT_FALSE(refused([](rules::Match& m) {
    m.dst_port = {Range{53, 53}};
    m.length = {Range{900, 999}};
  })) << "a length range of 100 values";
  EXPECT_TRUE(refused([](rules::Match& m) {
    m.src_port = {Range{53, 53}};
    m.length = {Range{900, 999}};
  })) << "both the source port and the length";
  EXPECT_TRUE(refused([](rules::Match& m) { m.length = {Range{100, 1500}}; })) << "1,401 lengths";
  EXPECT_TRUE(refused([](rules::Match& m) {
    m.src = {prefix("10.0.0.0/8")};
    m.ttl = {Range{1, 5}};
  }));
  EXPECT_TRUE(refused([](rules::Match& m) {
    m.src = {prefix("10.0.0.0/8")};
    m.fragment = rules::FragmentKind::first;
  }));
  EXPECT_TRUE(refused([](rules::Match& m) {
    m.src = {prefix("10.0.0.0/8")};
    m.vlan = {Range{0, 4095}};
  }));
  EXPECT_TRUE(refused([](rules::Match& m) { m.dst_port = {Range{1000, 2000}}; })) << "1,001 ports";
  EXPECT_FALSE(refused([](rules::Match& m) { m.dst_port = {Range{1000, 1255}}; })) << "256 ports";
  EXPECT_FALSE(refused([](rules::Match&) {}));
  // Five prefix lengths: five probes per packet, more than a trie walk costs.
  std::vector<Rule> rules;
  for (const char* p : {"10.0.0.0/8", "10.0.0.0/16", "10.0.0.0/24", "10.0.0.0/28", "10.0.0.1"})
    rules.push_back(rule_where([p](rules::Match& m) { m.src = {prefix(p)}; }));
  EXPECT_FALSE(plan_of(rules, Family::ipv4));
  rules.pop_back();
  EXPECT_TRUE(plan_of(rules, Family::ipv4));
}

// --- differential ------------------------------------------------------------------------------

/// Random rules of the shapes the lookup takes: prefixes of a few lengths around a few bases,
/// destination (and sometimes source) ports as values or short ranges, for one family.
struct Generator : test::RuleDice {
  Family family;
  std::vector<unsigned> src_lengths, dst_lengths;
  std::vector<std::array<uint8_t, 16>> bases;

  Generator(uint64_t seed, Family f) : RuleDice(seed), family(f) {
    const unsigned max = family == Family::ipv4 ? 32 : 128;
    src_lengths = {pick_length(max)};
    if (coin(50)) src_lengths.push_back(pick_length(max));
    dst_lengths = {pick_length(max)};
    for (int i = 0; i < 4; ++i) {
      std::array<uint8_t, 16> base{};
      for (auto& b : base)
        b = static_cast<uint8_t>(rng());
      bases.push_back(base);
    }
  }
  unsigned pick_length(unsigned max) {
    static constexpr unsigned kV4[] = {8, 16, 20, 24, 28, 32};
    static constexpr unsigned kV6[] = {32, 48, 56, 64, 96, 128};
    return max == 32 ? kV4[rng() % 6] : kV6[rng() % 6];
  }
  /// An address near a base: its first bytes, the rest random with few values, so prefixes
  /// overlap and packets find them.
  std::array<uint8_t, 16> address() {
    std::array<uint8_t, 16> a = bases[rng() % bases.size()];
    const unsigned bytes = family == Family::ipv4 ? 4 : 16;
    for (unsigned i = bytes / 2; i < bytes; ++i)
      a[i] = static_cast<uint8_t>(rng() % 4);
    for (unsigned i = bytes; i < 16; ++i)
      a[i] = 0;
    return a;
  }
  Prefix prefix_of(unsigned length) { return prefix_at(family, address(), length); }
  /// A rule of one of up to four kinds this seed draws: which fields it names and the prefix
  /// lengths (each kind one shape, or two when its source list mixes lengths).
  struct Kind {
    bool src, dst, src_port, dst_port, any_port, length;
    std::optional<rules::PayloadMatch> payload;  ///< its offset and mask; values vary
  };
  std::vector<Kind> kinds;
  std::deque<std::vector<uint8_t>> payloads;  ///< the packets' payload bytes
  Rule rule(std::size_t index) {
    while (kinds.size() < 1 + index % 4 && kinds.size() < 3) {
      Kind kind{coin(85), coin(25), coin(15), coin(70), coin(10), coin(25), std::nullopt};
      kind.length = kind.length && !kind.src_port;  // a slot holds one of the two
      if (coin(25)) {
        rules::PayloadMatch payload;
        payload.offset = static_cast<uint16_t>(coin(50) ? 0 : between(1, 6));
        const unsigned bytes = between(1, 4);
        for (unsigned b = 0; b < bytes; ++b)  // whole bytes, a nibble or a bit
          payload.mask.push_back(static_cast<uint8_t>(coin(60) ? 0xff : coin(50) ? 0x0f : 0x01));
        kind.payload = payload;
      }
      kinds.push_back(kind);
    }
    const Kind& kind = kinds[rng() % kinds.size()];
    Rule rule;
    rule.id = "r" + std::to_string(index);
    rules::Match& m = rule.match;
    if (kind.src) {
      for (unsigned n = coin(80) ? 1 : 2; n > 0; --n)
        m.src.push_back(prefix_of(src_lengths[n == 2 ? src_lengths.size() - 1 : 0]));
    }
    if (kind.dst) m.dst.push_back(prefix_of(dst_lengths[0]));
    if (kind.dst_port) m.dst_port = ports();
    if (kind.src_port) m.src_port = ports();
    if (kind.any_port) m.dst_port = {Range{0, 65535}};  // unpinned, yet needs a UDP header
    if (kind.payload) {                                 // few values, so packets find them
      m.payload = kind.payload;
      for (const uint8_t mask : m.payload->mask)
        m.payload->value.push_back(static_cast<uint8_t>(between(0, 2) & mask));
    }
    if (kind.length) {
      for (unsigned n = between(1, 2); n > 0; --n) {
        const auto first = static_cast<uint16_t>(between(60, 70));
        m.length.push_back(
            Range{first, static_cast<uint16_t>(first + (coin(30) ? between(1, 4) : 0))});
      }
    }
    return rule;
  }
  rules::PacketKey packet(const std::vector<Rule>& rules) {
    rules::PacketKey key;
    key.family = family;
    key.src = address();
    key.dst = address();
    key.has_ports = !coin(5);
    key.fragment = key.has_ports ? rules::FragmentKind::none : rules::FragmentKind::non_first;
    key.src_port = key.has_ports ? static_cast<uint16_t>(between(48, 66)) : 0;
    key.dst_port = key.has_ports ? static_cast<uint16_t>(between(48, 66)) : 0;
    key.l3_length = static_cast<uint16_t>(between(58, 76));
    if (key.has_ports) {  // 0-11 bytes of few values; half the time a rule's at its offset
      std::vector<uint8_t>& payload = payloads.emplace_back(between(0, 11));
      for (uint8_t& b : payload)
        b = static_cast<uint8_t>(between(0, 2) | (coin(20) ? 0x10 : 0));
      const Rule& near = rules.empty() ? Rule{} : rules[rng() % rules.size()];
      if (coin(50) && near.match.payload) {
        const rules::PayloadMatch& p = *near.match.payload;
        for (std::size_t i = 0; i < p.value.size() && p.offset + i < payload.size(); ++i)
          payload[p.offset + i] = p.value[i];
      }
      key.payload = payload.data();
      key.payload_length = static_cast<uint16_t>(payload.size());
    }
    if (coin(50) && !rules.empty()) {  // inside a rule's first prefix
      const Rule& near = rules[rng() % rules.size()];
      if (!near.match.src.empty()) {
        const Prefix& p = near.match.src[0];
        for (unsigned bit = p.length; bit < 128; ++bit) {
          if (coin(50))
            key.src[bit / 8] = static_cast<uint8_t>(key.src[bit / 8] ^ (0x80U >> (bit % 8)));
        }
        for (unsigned bit = 0; bit < p.length; ++bit) {
          const uint8_t mask = static_cast<uint8_t>(0x80U >> (bit % 8));
          key.src[bit / 8] =
              static_cast<uint8_t>((key.src[bit / 8] & ~mask) | (p.addr[bit / 8] & mask));
        }
        if (family == Family::ipv4) std::fill(key.src.begin() + 4, key.src.end(), 0);
      }
    }
    return key;
  }
};

TEST(ExactLookup, AgreesWithTheReferenceMatcher) {
  std::size_t planned = 0;
  std::size_t with_payload = 0;
  std::size_t matched = 0;
  std::size_t packets = 0;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    const Family family = seed % 3 == 0 ? Family::ipv6 : Family::ipv4;
    Generator gen(seed, family);
    std::vector<Rule> rules;
    const std::size_t count = seed % 4 == 0 ? 5000 : gen.between(1, 300);
    for (std::size_t i = 0; i < count; ++i)
      rules.push_back(gen.rule(i));
    const RuleFacts facts(rules);
    const std::optional<ExactPlan> plan = plan_exact(facts.exact(family), all_of(rules));
    if (!plan) continue;  // more shapes than it takes: the ACL's
    ++planned;
    with_payload += std::any_of(plan->shapes.begin(), plan->shapes.end(),
                                [](const ExactPlan::Shape& s) { return s.payload_end != 0; });
    const std::array<uint64_t, 2> key_seed = {seed * 0x9e3779b97f4a7c15ULL, ~seed};
    std::vector<rules::PacketKey> keys;
    for (int i = 0; i < 3000; ++i)
      keys.push_back(gen.packet(rules));
    // Only the keys' payload windows: the lookups read the rest from the packets.
    std::vector<AclKey> acl_keys(keys.size());
    std::vector<const uint8_t*> pointers(keys.size());
    std::vector<const rules::PacketKey*> packet_pointers(keys.size());
    const std::vector<uint16_t> windows = payload_offsets(rules);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      std::memset(&acl_keys[i], 0xa5, sizeof acl_keys[i]);
      fill_acl_windows(windows, keys[i].payload, keys[i].payload_length, acl_keys[i]);
      pointers[i] = reinterpret_cast<const uint8_t*>(&acl_keys[i]);
      packet_pointers[i] = &keys[i];
    }
    std::vector<uint32_t> results(keys.size(), 0);
    const auto run = [&](auto& lookup) {
      test::in_bursts(keys.size(), [&](std::size_t done, uint32_t n) {
        lookup.classify(packet_pointers.data() + done, pointers.data() + done,
                        results.data() + done, n);
      });
    };
    if (family == Family::ipv4) {
      ExactLookup<1> lookup(rules, facts.exact(family), all_of(rules), *plan, windows, key_seed);
      EXPECT_EQ(lookup.entries(), plan->entries);
      run(lookup);
    } else {
      ExactLookup<4> lookup(rules, facts.exact(family), all_of(rules), *plan, windows, key_seed);
      run(lookup);
    }
    ASSERT_TRUE(test::agrees_with_reference(seed, rules, keys, results, matched));
    packets += keys.size();
  }
  EXPECT_GT(planned, 30U) << "most seeds' rules fit";
  EXPECT_GT(with_payload, 5U) << "some hash payload bytes";
  // Packets are built to hit rules about half of the time.
  EXPECT_GT(matched, packets / 5);
  EXPECT_LT(matched, packets * 9 / 10);
}

}  // namespace
}  // namespace udpsieve::dataplane
