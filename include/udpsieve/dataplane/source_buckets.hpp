#pragma once
/// Per-source token buckets for `rate_limit: {per_source: LEN, ...}`: one worker's fixed-size,
/// lock-free table of buckets keyed by (rule, source prefix).
///
/// A bucket is kept as one number, its theoretical arrival time (GCRA): the TSC time at which
/// it would be full again. A packet of `cost` tokens passes when that time plus the packet's
/// own `cost * ticks_per_token` lies at most `burst * ticks_per_token` ahead of now, and then
/// moves it on by that much; a refused packet changes nothing. This is the token bucket with
/// rate 1/ticks_per_token and depth `burst`, exactly, in one double instead of a stamp and a
/// token count.
///
/// The table is set-associative: a key's hash picks one set of kWays entries, one cache line;
/// a key not there takes an empty entry of its set, or evicts (counted) the entry whose bucket
/// is fullest (the earliest arrival time): a source whose bucket is full loses nothing by being
/// forgotten, and a source in debt keeps its debt as long as any other can go instead. The
/// hash is SipHash-1-3 under a seed drawn when the table is made, so a sender cannot compute
/// which sources share a set and flush a victim's bucket on purpose. A new source starts with
/// a full burst, as a new rule does. Pure code (time comes in as TSC ticks), so accuracy is
/// tested with a synthetic clock.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "udpsieve/dataplane/huge_region.hpp"
#include "udpsieve/rules/packet_key.hpp"

namespace udpsieve::dataplane {

/// One rule's per-source limit as a worker applies it (its share of the rule's rate and burst).
struct SourceLimit {
  double ticks_per_token = 1;  ///< TSC ticks that one token (packet or byte) takes to refill
  double burst = 0;            ///< most tokens a bucket holds
  uint64_t rule = 0;           ///< the rule's identity in keys (a hash of its id)
  uint8_t v4_length = 32;      ///< IPv4 source prefix length of a bucket
  uint8_t v6_length = 64;      ///< IPv6 source prefix length of a bucket
};

class SourceBuckets {
 public:
  static constexpr std::size_t kWays = 4;

  /// Room for about `entries` sources (rounded up to a power-of-two number of sets); `seed`
  /// keys the hash. The memory is zero pages until the worker touches it (its NUMA node),
  /// transparent huge pages where the kernel gives them.
  SourceBuckets(std::size_t entries, std::array<uint64_t, 2> seed);
  ~SourceBuckets();
  SourceBuckets(const SourceBuckets&) = delete;
  SourceBuckets& operator=(const SourceBuckets&) = delete;

  /// Whether a packet of `cost` tokens from `key`'s source passes `limit` at TSC time `now`
  /// (and takes its tokens when it does).
  bool admit(const rules::PacketKey& key, const SourceLimit& limit, uint64_t now, double cost) {
    return admit_hashed(hash(key, limit), limit, now, cost);
  }
  /// admit() for a key whose hash() is known; a worker hashes a burst's keys first and
  /// prefetches their sets, so the table's cache and TLB misses overlap.
  bool admit_hashed(uint64_t hash, const SourceLimit& limit, uint64_t now, double cost);
  /// Starts loading the set of a key's hash into the cache.
  void prefetch(uint64_t hash) const noexcept { __builtin_prefetch(set_of(hash), 1); }

  [[nodiscard]] std::size_t capacity() const noexcept { return set_count_ * kWays; }
  /// Entries holding a source (they are reused, never freed).
  [[nodiscard]] uint64_t in_use() const noexcept { return in_use_; }
  /// Sources that found their set full and took the entry whose bucket was fullest.
  [[nodiscard]] uint64_t evictions() const noexcept { return evictions_; }

  /// The key hash of (rule, source prefix); exposed for tests.
  [[nodiscard]] uint64_t hash(const rules::PacketKey& key, const SourceLimit& limit) const noexcept;

 private:
  /// kWays entries in one cache line.
  struct alignas(64) Set {
    std::array<uint64_t, kWays> tags;   ///< each key's hash with the low bit set; 0: empty
    std::array<double, kWays> full_at;  ///< each bucket's theoretical arrival time (TSC)
  };
  static_assert(sizeof(Set) == 64);
  [[nodiscard]] Set* set_of(uint64_t hash) const noexcept { return sets_ + ((hash >> 1) & mask_); }

  std::size_t set_count_;
  std::size_t mask_;
  std::array<uint64_t, 2> seed_;
  HugeRegion memory_;
  Set* sets_ = nullptr;
  uint64_t in_use_ = 0;
  uint64_t evictions_ = 0;
};

/// SipHash-1-3 of N 64-bit words under `seed` (instantiated for 2, 3 and 4 words).
template <std::size_t N>
[[nodiscard]] uint64_t siphash13(const std::array<uint64_t, 2>& seed,
                                 const std::array<uint64_t, N>& words) noexcept;

}  // namespace udpsieve::dataplane
