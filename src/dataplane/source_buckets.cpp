// Per-source token buckets (see source_buckets.hpp).
#include "udpsieve/dataplane/source_buckets.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace udpsieve::dataplane {
namespace {

constexpr uint64_t rotl(uint64_t x, int b) noexcept {
  return (x << b) | (x >> (64 - b));
}

struct SipState {
  uint64_t v0, v1, v2, v3;
  void round() noexcept {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  }
};

/// The first `length` bits of a 16-byte address as two big-endian words (the rest zero).
std::array<uint64_t, 2> masked_address(const std::array<uint8_t, 16>& address, unsigned length) {
  uint64_t high = 0;
  uint64_t low = 0;
  std::memcpy(&high, address.data(), 8);
  std::memcpy(&low, address.data() + 8, 8);
  high = __builtin_bswap64(high);
  low = __builtin_bswap64(low);
  const auto keep = [](unsigned bits) {  // the top `bits` of a word, 0-64
    return bits == 0 ? uint64_t{0} : bits >= 64 ? ~uint64_t{0} : ~uint64_t{0} << (64 - bits);
  };
  return {high & keep(length), low & keep(length > 64 ? length - 64 : 0)};
}

}  // namespace

template <std::size_t N>
uint64_t siphash13(const std::array<uint64_t, 2>& seed,
                   const std::array<uint64_t, N>& words) noexcept {
  SipState s{seed[0] ^ 0x736f6d6570736575ULL, seed[1] ^ 0x646f72616e646f6dULL,
             seed[0] ^ 0x6c7967656e657261ULL, seed[1] ^ 0x7465646279746573ULL};
  for (const uint64_t m : words) {
    s.v3 ^= m;
    s.round();
    s.v0 ^= m;
  }
  const uint64_t last = uint64_t{sizeof(words)} << 56;
  s.v3 ^= last;
  s.round();
  s.v0 ^= last;
  s.v2 ^= 0xff;
  s.round();
  s.round();
  s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

template uint64_t siphash13<2>(const std::array<uint64_t, 2>&,
                               const std::array<uint64_t, 2>&) noexcept;
template uint64_t siphash13<3>(const std::array<uint64_t, 2>&,
                               const std::array<uint64_t, 3>&) noexcept;
template uint64_t siphash13<4>(const std::array<uint64_t, 2>&,
                               const std::array<uint64_t, 4>&) noexcept;

SourceBuckets::SourceBuckets(std::size_t entries, std::array<uint64_t, 2> seed)
    : set_count_(std::bit_ceil(std::max<std::size_t>(1, (entries + kWays - 1) / kWays))),
      mask_(set_count_ - 1),
      seed_(seed),
      memory_(set_count_ * sizeof(Set)),
      sets_(static_cast<Set*>(memory_.data())) {}

SourceBuckets::~SourceBuckets() = default;

uint64_t SourceBuckets::hash(const rules::PacketKey& key, const SourceLimit& limit) const noexcept {
  // Two words for an IPv4 source, three for IPv6: the length SipHash folds in keeps the two
  // families' keys apart.
  if (key.family == rules::Family::ipv4) {
    const std::array<uint64_t, 2> source = masked_address(key.src, limit.v4_length);
    return siphash13<2>(seed_, {limit.rule, source[0]});
  }
  const std::array<uint64_t, 2> source = masked_address(key.src, limit.v6_length);
  return siphash13<3>(seed_, {limit.rule, source[0], source[1]});
}

bool SourceBuckets::admit_hashed(uint64_t h, const SourceLimit& limit, uint64_t now, double cost) {
  const uint64_t tag = h | 1U;
  Set& set = *set_of(h);
  const auto now_ticks = static_cast<double>(now);
  std::size_t way = kWays;
  std::size_t victim = 0;
  for (std::size_t w = 0; w < kWays; ++w) {
    if (set.tags[w] == tag) {
      way = w;
      break;
    }
    // Empty entries first (tag 0), then the fullest bucket.
    if (set.tags[victim] != 0 && (set.tags[w] == 0 || set.full_at[w] < set.full_at[victim]))
      victim = w;
  }
  if (way == kWays) {
    way = victim;
    if (set.tags[way] == 0) {
      ++in_use_;
    } else {
      ++evictions_;
    }
    set.tags[way] = tag;
    set.full_at[way] = now_ticks;  // a full bucket
  }
  // Full at `full_at`: it lacks (full_at - now) / ticks_per_token tokens of its burst.
  const double start = std::max(set.full_at[way], now_ticks);
  const double after = start + cost * limit.ticks_per_token;
  if (after - now_ticks > limit.burst * limit.ticks_per_token) return false;
  set.full_at[way] = after;
  return true;
}

}  // namespace udpsieve::dataplane
