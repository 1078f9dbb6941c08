// Per-source token buckets on a synthetic clock: every source under its limit passes in full,
// every source over it passes its burst plus the rate, sources of one prefix share a bucket,
// rules keep separate buckets, a bucket refills at its rate up to its burst and decides as a
// plain token bucket does, a full set evicts the fullest bucket, and the keyed hash changes with
// the seed.
#include "udpsieve/dataplane/source_buckets.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

namespace udpsieve::dataplane {
namespace {

constexpr uint64_t kHz = 1'000'000;  // a 1 MHz "TSC": one tick per microsecond

rules::PacketKey source4(uint32_t address) {
  rules::PacketKey key;
  key.family = rules::Family::ipv4;
  key.src[0] = static_cast<uint8_t>(address >> 24);
  key.src[1] = static_cast<uint8_t>(address >> 16);
  key.src[2] = static_cast<uint8_t>(address >> 8);
  key.src[3] = static_cast<uint8_t>(address);
  return key;
}

SourceLimit limit_pps(double pps, double burst, uint8_t v4 = 32, uint8_t v6 = 64) {
  SourceLimit limit;
  limit.ticks_per_token = kHz / pps;
  limit.burst = burst;
  limit.rule = 42;
  limit.v4_length = v4;
  limit.v6_length = v6;
  return limit;
}

// The accuracy case: 1,000 sources at ten times a 200 pps limit and 1,000 at half of it,
// through one rule, for 10 s, interleaved as a flood would be.
TEST(SourceBuckets, SourcesUnderTheLimitPassInFullOthersAtTheirLimit) {
  SourceBuckets buckets(1 << 16, {1, 2});
  const SourceLimit limit = limit_pps(200, 400);
  constexpr uint64_t kSeconds = 10;
  constexpr uint32_t kSources = 1000;
  std::vector<uint64_t> passed(2 * kSources, 0);
  std::vector<uint64_t> sent(2 * kSources, 0);
  // Heavy sources send every 500 us (2,000 pps), light ones every 10 ms (100 pps).
  for (uint64_t t = 0; t < kSeconds * kHz; t += 500) {
    for (uint32_t s = 0; s < 2 * kSources; ++s) {
      const bool heavy = s < kSources;
      if (!heavy && t % 10'000 != 0) continue;
      // Spread each source's sending instant a little, as real senders are.
      const uint64_t now = t + s % 97;
      ++sent[s];
      if (buckets.admit(source4(0x0a000000U + s), limit, now, 1.0)) ++passed[s];
    }
  }
  for (uint32_t s = 0; s < kSources; ++s) {
    // Its limit over the run: the burst, then 200 a second.
    const double expected = 400.0 + 200.0 * kSeconds;
    EXPECT_NEAR(static_cast<double>(passed[s]), expected, expected * 0.01) << "heavy source " << s;
  }
  for (uint32_t s = kSources; s < 2 * kSources; ++s)
    EXPECT_EQ(passed[s], sent[s]) << "light source " << s;
  EXPECT_EQ(buckets.in_use(), 2 * kSources);
  EXPECT_EQ(buckets.evictions(), 0U);
}

TEST(SourceBuckets, APrefixSharesOneBucketAndRulesKeepTheirOwn) {
  SourceBuckets buckets(1024, {3, 4});
  const SourceLimit per24 = limit_pps(1, 10, 24);
  // Ten tokens for all of 192.0.2.0/24.
  uint64_t passed = 0;
  for (uint32_t host = 0; host < 20; ++host)
    passed += buckets.admit(source4(0xc0000200U + host), per24, 0, 1.0) ? 1U : 0U;
  EXPECT_EQ(passed, 10U);
  EXPECT_TRUE(buckets.admit(source4(0xc0000300U), per24, 0, 1.0)) << "another /24";
  SourceLimit other_rule = per24;
  other_rule.rule = 43;
  EXPECT_TRUE(buckets.admit(source4(0xc0000201U), other_rule, 0, 1.0)) << "another rule";
  // Byte costs: a 1,500-byte frame does not fit in 1,000 bytes.
  const SourceLimit bytes = limit_pps(1000, 1000);
  EXPECT_FALSE(buckets.admit(source4(0x0b000001U), bytes, 0, 1500.0));
  EXPECT_TRUE(buckets.admit(source4(0x0b000001U), bytes, 0, 1000.0));
  // IPv6 by its own prefix length.
  rules::PacketKey a;
  a.family = rules::Family::ipv6;
  a.src = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
  rules::PacketKey b = a;
  b.src[15] = 2;  // the same /64
  rules::PacketKey c = a;
  c.src[7] = 2;  // another /64
  EXPECT_EQ(buckets.hash(a, per24), buckets.hash(b, per24));
  EXPECT_NE(buckets.hash(a, per24), buckets.hash(c, per24));
}

TEST(SourceBuckets, AFullSetEvictsTheFullestBucket) {
  // One set of kWays entries: a source more evicts the source whose bucket is fullest.
  SourceBuckets buckets(SourceBuckets::kWays, {5, 6});
  ASSERT_EQ(buckets.capacity(), SourceBuckets::kWays);
  const SourceLimit limit = limit_pps(1, 3);  // 3 tokens, one back a second
  // Source s takes 3 tokens, except source 2, which takes 1 and keeps 2.
  for (uint32_t s = 0; s < SourceBuckets::kWays; ++s) {
    for (uint32_t k = 0; k < (s == 2 ? 1U : 3U); ++k)
      EXPECT_TRUE(buckets.admit(source4(s), limit, 10 * s, 1.0)) << s << " " << k;
  }
  // Refused, and a refusal changes nothing: source 0 stays the most in debt.
  EXPECT_FALSE(buckets.admit(source4(0), limit, 100, 1.0));
  EXPECT_EQ(buckets.evictions(), 0U);
  EXPECT_TRUE(buckets.admit(source4(1000), limit, 101, 1.0));
  EXPECT_EQ(buckets.evictions(), 1U);
  EXPECT_EQ(buckets.in_use(), SourceBuckets::kWays);
  // Source 2 was forgotten: it comes back with a full burst of 3 (it had 2 left) and evicts
  // source 1000 (2 tokens left, the fullest now). Source 0 kept its empty bucket.
  for (uint32_t k = 0; k < 3; ++k)
    EXPECT_TRUE(buckets.admit(source4(2), limit, 102, 1.0)) << k;
  EXPECT_FALSE(buckets.admit(source4(2), limit, 103, 1.0));
  EXPECT_EQ(buckets.evictions(), 2U);
  EXPECT_FALSE(buckets.admit(source4(0), limit, 104, 1.0));
  EXPECT_EQ(buckets.evictions(), 2U);
  // A second later source 0 has one token again, and only one.
  EXPECT_TRUE(buckets.admit(source4(0), limit, 1'000'000, 1.0));
  EXPECT_FALSE(buckets.admit(source4(0), limit, 1'000'001, 1.0));
}

// The bucket refills at its rate, holds at most its burst, and charges byte costs whole.
TEST(SourceBuckets, RefillsAtTheRateUpToTheBurst) {
  SourceBuckets buckets(1024, {9, 10});
  const SourceLimit limit = limit_pps(1000, 5);  // one token a millisecond (1,000 ticks)
  const rules::PacketKey key = source4(0x0a000001U);
  for (uint32_t k = 0; k < 5; ++k)
    EXPECT_TRUE(buckets.admit(key, limit, 0, 1.0));
  EXPECT_FALSE(buckets.admit(key, limit, 0, 1.0));
  EXPECT_FALSE(buckets.admit(key, limit, 999, 1.0)) << "not quite one token back";
  EXPECT_TRUE(buckets.admit(key, limit, 1000, 1.0));
  EXPECT_FALSE(buckets.admit(key, limit, 1000, 1.0));
  // An hour idle: the burst, not more.
  uint32_t passed = 0;
  for (uint32_t k = 0; k < 10; ++k)
    passed += buckets.admit(key, limit, 3'600'000'000ULL, 1.0) ? 1U : 0U;
  EXPECT_EQ(passed, 5U);
  // A cost of 2.5 tokens needs 2.5 ms of refill.
  EXPECT_FALSE(buckets.admit(key, limit, 3'600'002'499ULL, 2.5));
  EXPECT_TRUE(buckets.admit(key, limit, 3'600'002'500ULL, 2.5));
}

// Differential: on random arrivals, costs and limits, every decision is the one a plain token
// bucket (tokens and a stamp, refilled on each packet) makes. Whole ticks and tokens, so both
// sides compute exactly and a boundary case (a packet that just fits) is decided the same way.
TEST(SourceBuckets, DecidesAsAPlainTokenBucket) {
  struct Reference {
    bool seen = false;
    uint64_t stamp = 0;
    uint64_t ticks = 0;  // tokens times ticks per token
  };
  std::mt19937_64 random(2026);
  SourceBuckets buckets(1 << 16, {11, 12});
  constexpr uint32_t kSources = 300;
  std::vector<SourceLimit> limits(kSources);
  std::vector<Reference> reference(kSources);
  for (uint32_t s = 0; s < kSources; ++s) {
    limits[s].ticks_per_token = static_cast<double>(1 + random() % 3000);
    limits[s].burst = static_cast<double>(1 + random() % 40);
    limits[s].rule = 7;
  }
  uint64_t now = 1'000'000;
  uint64_t passed = 0;
  uint64_t refused = 0;
  for (uint32_t packet = 0; packet < 200'000; ++packet) {
    now += random() % 5;  // often the same tick, sometimes a long gap
    if (random() % 1000 == 0) now += 5'000'000;
    const uint32_t s = static_cast<uint32_t>(random() % kSources);
    const auto cost = static_cast<uint64_t>(random() % 4 == 0 ? 1 + random() % 8 : 1);
    const SourceLimit& limit = limits[s];
    const auto per_token = static_cast<uint64_t>(limit.ticks_per_token);
    const uint64_t depth = static_cast<uint64_t>(limit.burst) * per_token;
    Reference& r = reference[s];
    if (!r.seen) {
      r = Reference{true, now, depth};
    }
    r.ticks = std::min(depth, r.ticks + (now - r.stamp));
    r.stamp = now;
    const bool want = r.ticks >= cost * per_token;
    if (want) r.ticks -= cost * per_token;
    const bool got = buckets.admit(source4(0x0a000000U + s), limit, now, static_cast<double>(cost));
    ASSERT_EQ(got, want) << "packet " << packet << " source " << s << " at " << now;
    ++(got ? passed : refused);
  }
  EXPECT_EQ(buckets.evictions(), 0U);
  // Both outcomes are common, so the comparison is not one-sided.
  EXPECT_GT(passed, 10'000U);
  EXPECT_GT(refused, 10'000U);
}

TEST(SourceBuckets, TheHashDependsOnTheSeed) {
  const SourceLimit limit = limit_pps(1, 1);
  SourceBuckets one(1024, {7, 8});
  SourceBuckets two(1024, {7, 9});
  std::set<uint64_t> hashes;
  uint32_t same = 0;
  for (uint32_t s = 0; s < 1000; ++s) {
    hashes.insert(one.hash(source4(s), limit));
    same += one.hash(source4(s), limit) == two.hash(source4(s), limit) ? 1U : 0U;
  }
  EXPECT_EQ(hashes.size(), 1000U);
  EXPECT_EQ(same, 0U);
  // SipHash-1-3 itself: the same input, the same output; a changed word, another.
  EXPECT_EQ(siphash13<4>({1, 2}, {3, 4, 5, 6}), siphash13<4>({1, 2}, {3, 4, 5, 6}));
  EXPECT_NE(siphash13<4>({1, 2}, {3, 4, 5, 6}), siphash13<4>({1, 2}, {3, 4, 5, 7}));
  // The length is part of the hash: a trailing zero word is not the same input.
  EXPECT_NE(siphash13<2>({1, 2}, {3, 4}), siphash13<3>({1, 2}, {3, 4, 0}));
}

}  // namespace
}  // namespace udpsieve::dataplane
