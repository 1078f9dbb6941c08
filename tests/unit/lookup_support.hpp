#pragma once
// Test support shared by the hashed and prefix lookups' tests (exact_lookup_test.cpp,
// prefix_lookup_test.cpp): rules and prefixes written tersely, and the dice of their random
// rule generators.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "udpsieve/rules/matcher.hpp"
#include "udpsieve/rules/packet_key.hpp"
#include "udpsieve/rules/rule.hpp"

namespace udpsieve::test {

/// "10.0.0.0/8", "2001:db8::1" ...; a parse failure fails the test.
inline rules::Prefix parsed_prefix(const std::string& text) {
  std::string error;
  const std::optional<rules::Prefix> p = rules::Prefix::parse(text, error);
  EXPECT_TRUE(p) << text << ": " << error;
  return p.value_or(rules::Prefix{});
}

/// A rule whose match `set` fills in.
inline rules::Rule rule_where(const std::function<void(rules::Match&)>& set) {
  rules::Rule rule;
  rule.id = "r";
  set(rule.match);
  return rule;
}

/// Every rule's index: the members of a lookup that takes them all.
inline std::vector<std::size_t> all_of(const std::vector<rules::Rule>& rules) {
  std::vector<std::size_t> members(rules.size());
  std::iota(members.begin(), members.end(), 0);
  return members;
}

/// Calls `classify(done, n)` for bursts of every size from 1 to 40 (two 32-packet chunks) in
/// turn until `count` packets are covered.
template <typename Classify>
void in_bursts(std::size_t count, Classify&& classify) {
  for (std::size_t done = 0, n = 1; done < count; done += n, n = n % 40 + 1) {
    n = std::min(n, count - done);
    classify(done, static_cast<uint32_t>(n));
  }
}

/// Whether results[i] is the reference matcher's answer for keys[i] (rule index + 1, 0 for
/// none) for every key; the first difference fails the test naming `seed`. `matched` counts the
/// keys some rule matches.
inline bool agrees_with_reference(uint64_t seed, const std::vector<rules::Rule>& rules,
                                  const std::vector<rules::PacketKey>& keys,
                                  const std::vector<uint32_t>& results, std::size_t& matched) {
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const int32_t expected = rules::reference_match(rules, keys[i]);
    if (results[i] != static_cast<uint32_t>(expected + 1)) {
      ADD_FAILURE() << "seed " << seed << ", packet " << i << ", " << rules.size() << " rules: got "
                    << results[i] << ", expected " << expected + 1;
      return false;
    }
    matched += expected >= 0 ? 1 : 0;
  }
  return true;
}

/// The random choices of a rule generator.
struct RuleDice {
  explicit RuleDice(uint64_t seed) : rng(seed) {}
  std::mt19937_64 rng;

  bool coin(unsigned percent) { return rng() % 100 < percent; }
  unsigned between(unsigned lo, unsigned hi) {
    return lo + static_cast<unsigned>(rng() % (hi - lo + 1));
  }
  /// One to three port ranges around 50-65 (values, sometimes a few wide), where the packets'
  /// ports fall.
  std::vector<rules::Range> ports() {
    std::vector<rules::Range> list;
    for (unsigned n = between(1, 3); n > 0; --n) {
      const auto first = static_cast<uint16_t>(between(50, 60));
      list.push_back(
          rules::Range{first, static_cast<uint16_t>(first + (coin(30) ? between(1, 5) : 0))});
    }
    return list;
  }
  /// A prefix of `family` of `length` bits with `address`'s first bits.
  static rules::Prefix prefix_at(rules::Family family, const std::array<uint8_t, 16>& address,
                                 unsigned length) {
    rules::Prefix p;
    p.family = family;
    p.length = static_cast<uint8_t>(length);
    p.addr = address;
    for (unsigned bit = length; bit < 128; ++bit)
      p.addr[bit / 8] = static_cast<uint8_t>(p.addr[bit / 8] & ~(0x80U >> (bit % 8)));
    return p;
  }
};

}  // namespace udpsieve::test
