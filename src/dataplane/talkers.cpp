// Top-talker summaries (see talkers.hpp).
#include "udpsieve/dataplane/talkers.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "udpsieve/dataplane/fold_mix.hpp"

namespace udpsieve::dataplane {
namespace {

uint64_t load_be64(const uint8_t* bytes) noexcept {
  uint64_t value = 0;
  std::memcpy(&value, bytes, sizeof value);
  return __builtin_bswap64(value);
}

/// A packet's source as a key, its first `v4_bits` / `v6_bits` bits kept.
TalkerKey source_key(const rules::PacketKey& packet, unsigned v4_bits, unsigned v6_bits) noexcept {
  TalkerKey key;
  if (packet.family == rules::Family::ipv4) {
    uint32_t address = 0;
    std::memcpy(&address, packet.src.data(), sizeof address);
    address = __builtin_bswap32(address);
    key.low = v4_bits >= 32 ? address : address & ~(~uint32_t{0} >> v4_bits);
    key.family = 4;
  } else {
    key.high = load_be64(packet.src.data());
    key.low = load_be64(packet.src.data() + 8);
    if (v6_bits <= 64) {
      key.high &= v6_bits == 0 ? 0 : ~uint64_t{0} << (64 - v6_bits);
      key.low = 0;
    } else if (v6_bits < 128) {
      key.low &= ~uint64_t{0} << (128 - v6_bits);
    }
    key.family = 6;
  }
  return key;
}

}  // namespace

std::size_t TalkerTable::sets_for(std::size_t entries) noexcept {
  return std::bit_ceil(std::max<std::size_t>(1, (entries + kWays - 1) / kWays));
}

std::size_t TalkerTable::bytes(std::size_t entries) noexcept {
  return sets_for(entries) * (sizeof(Set) + kWays * sizeof(TalkerKey));
}

TalkerTable::TalkerTable(std::size_t entries, void* memory) : mask_(sets_for(entries) - 1) {
  if (memory == nullptr) {
    own_ = std::make_unique<HugeRegion>(bytes(entries));
    memory = own_->data();
  }
  sets_ = static_cast<Set*>(memory);
  wide_ = reinterpret_cast<TalkerKey*>(sets_ + mask_ + 1);
  clear();
}

namespace {

/// Whether a key is its own tag.
bool compact(const TalkerKey& key) noexcept {
  return key.high == 0 && key.low <= UINT32_MAX;
}

/// Bit w set where lane w of the four `values` equals `value`.
unsigned equal_mask(const std::array<uint32_t, TalkerTable::kWays>& values,
                    uint32_t value) noexcept {
  static_assert(TalkerTable::kWays == 4);
#ifdef __SSE2__
  const __m128i lanes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(values.data()));
  return static_cast<unsigned>(_mm_movemask_ps(
      _mm_castsi128_ps(_mm_cmpeq_epi32(lanes, _mm_set1_epi32(static_cast<int>(value))))));
#else
  unsigned mask = 0;
  for (std::size_t w = 0; w < TalkerTable::kWays; ++w)
    mask |= static_cast<unsigned>(values[w] == value) << w;
  return mask;
#endif
}

}  // namespace

TalkerKey TalkerTable::key_of(std::size_t index, std::size_t way) const noexcept {
  const Set& set = sets_[index];
  if ((set.kinds[way] & kWide) != 0) return wide_[index * kWays + way];
  return TalkerKey{0, set.tags[way], static_cast<uint8_t>(set.kinds[way])};
}

void TalkerTable::add(const TalkerKey& key, uint64_t hash) noexcept {
  const std::size_t index = (hash >> 7) & mask_;
  Set& set = sets_[index];
  const bool is_compact = compact(key);
  const auto tag = is_compact ? static_cast<uint32_t>(key.low) : static_cast<uint32_t>(hash >> 32);
  const uint32_t kind = key.family | (is_compact ? 0 : kWide);
  // Vector compares over the set's line, then a branch per outcome, not per way.
  const unsigned empty = equal_mask(set.counts, 0);
  unsigned matches = equal_mask(set.tags, tag) & equal_mask(set.kinds, kind) & ~empty;
  // A compact key matches at most one way, exactly; a wide one may share its tag.
  for (; matches != 0; matches &= matches - 1) {
    const auto w = static_cast<std::size_t>(__builtin_ctz(matches));
    if (is_compact || wide_[index * kWays + w] == key) {
      ++set.counts[w];
      return;
    }
  }
  // A new key takes the first empty way (a set fills from the front), else - Space-Saving -
  // the smallest counter, inheriting its count as its error.
  const auto& c = set.counts;
  const uint32_t error = empty != 0 ? 0 : std::min(std::min(c[0], c[1]), std::min(c[2], c[3]));
  const auto way =
      static_cast<std::size_t>(__builtin_ctz(empty != 0 ? empty : equal_mask(set.counts, error)));
  set.tags[way] = tag;
  set.kinds[way] = kind;
  set.counts[way] = error + 1;
  set.errors[way] = error;
  if (!is_compact) wide_[index * kWays + way] = key;
}

void TalkerTable::top(TalkerList& out) const noexcept {
  // A min-heap (by count) of the heaviest seen so far, in out.top; then sorted heaviest first.
  const auto lighter = [](const TalkerCount& a, const TalkerCount& b) { return a.count > b.count; };
  std::size_t size = 0;
  uint32_t floor = 0;
  bool left_out = false;
  for (std::size_t index = 0; index <= mask_; ++index) {
    const Set& set = sets_[index];
    uint32_t set_min = set.counts[0];
    for (std::size_t w = 0; w < kWays; ++w) {
      const uint32_t count = set.counts[w];
      set_min = std::min(set_min, count);
      if (count == 0) continue;
      if (size < TalkerList::kShipped) {
        out.top[size++] = TalkerCount{key_of(index, w), count, set.errors[w]};
        std::push_heap(out.top.begin(), out.top.begin() + static_cast<std::ptrdiff_t>(size),
                       lighter);
      } else {
        left_out = true;
        if (count > out.top[0].count) {
          std::pop_heap(out.top.begin(), out.top.end(), lighter);
          out.top.back() = TalkerCount{key_of(index, w), count, set.errors[w]};
          std::push_heap(out.top.begin(), out.top.end(), lighter);
        }
      }
    }
    // A full set may have evicted keys, each counted at most its smallest count; a set with
    // an empty counter never evicted one.
    floor = std::max(floor, set_min);
  }
  if (left_out) floor = std::max(floor, out.top[0].count);
  std::sort_heap(out.top.begin(), out.top.begin() + static_cast<std::ptrdiff_t>(size), lighter);
  out.size = static_cast<uint32_t>(size);
  out.floor = floor;
}

void TalkerTable::clear() noexcept {
  // Counts say which ways hold a key; the tags and slots of empty ways are never read.
  for (std::size_t index = 0; index <= mask_; ++index)
    sets_[index].counts.fill(0);
}

Talkers::Talkers(Sampling sampling, std::size_t entries, std::array<uint64_t, 2> seed)
    : bounds_{std::clamp<uint32_t>(sampling.one_in, 1, kMaxOneIn), sampling.max_rate,
              sampling.tsc_hz},
      sampling_(bounds_.one_in),
      rng_(seed[0] ^ std::rotl(seed[1], 17) ^ 0x9e3779b97f4a7c15ULL),
      seed_(seed),
      memory_(2 * kTables * TalkerTable::bytes(entries)),
      report_(std::make_unique<TalkerReport>()) {
  if (rng_ == 0) rng_ = 1;
  auto* next = static_cast<std::byte*>(memory_.data());
  for (auto& set : tables_) {
    for (auto& table : set) {
      table = std::make_unique<TalkerTable>(entries, next);
      next += TalkerTable::bytes(entries);
    }
  }
  gap_ = next_gap();
}

uint32_t Talkers::next_gap() noexcept {
  if (sampling_ == 1) return 1;
  // xorshift64; a gap uniform in 1 .. 2 * sampling - 1 averages `sampling`.
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  // Lemire's multiply-shift instead of a division: uniform enough for a sampler.
  return 1 + static_cast<uint32_t>(((rng_ >> 32) * (2 * uint64_t{sampling_} - 1)) >> 32);
}

uint64_t Talkers::hash(const TalkerKey& key) const noexcept {
  // wyhash's shape: the key under the seed, then a fixed odd multiplier (one derived from the
  // seed could be degenerate: all ones folds every product to all ones). A compact key (see
  // TalkerTable) needs only its set from the hash: one multiplication.
  if (compact(key))
    return fold((key.low | uint64_t{key.family} << 32) ^ seed_[0], 0xe7037ed1a0b428dbULL);
  const uint64_t h = fold(key.high ^ seed_[0], key.low ^ seed_[1]);
  return fold(h ^ (uint64_t{key.family} << 56) ^ 0xa0761d6478bd642fULL, 0xe7037ed1a0b428dbULL);
}

void Talkers::record(const rules::PacketKey& packet, bool dropped, uint64_t rule_hash,
                     uint8_t part) noexcept {
  const std::size_t verdict = dropped ? 1 : 0;
  ++sampled_[verdict];
  std::unique_ptr<TalkerTable>* tables = tables_[active_].data() + verdict * kTalkerKinds;
  const auto count = [&](TalkerKind kind, const TalkerKey& key) {
    TalkerTable* table = tables[static_cast<std::size_t>(kind)].get();
    const uint64_t h = hash(key);
    table->prefetch(h);
    updates_[queued_++] = Update{table, key, h};
  };
  count(TalkerKind::src, source_key(packet, 32, 128));
  count(TalkerKind::src_prefix, source_key(packet, kTalkerPrefixV4, kTalkerPrefixV6));
  if (packet.has_ports) count(TalkerKind::dst_port, TalkerKey{0, packet.dst_port, 0});
  count(TalkerKind::rule, TalkerKey{part == TalkerKey::kNoRule ? 0 : rule_hash, 0, part});
  if (queued_ + kTalkerKinds > updates_.size()) flush();
}

void Talkers::flush() noexcept {
  for (std::size_t i = 0; i < queued_; ++i)
    updates_[i].table->add(updates_[i].key, updates_[i].hash);
  queued_ = 0;
}

bool Talkers::end_period(uint64_t now) noexcept {
  if (pending_ != kNone) return false;
  flush();
  TalkerReport& report = *report_;
  report.start_tsc = period_start_;
  report.end_tsc = now;
  report.seen = seen_;
  report.picked = picked_;
  report.sampled = sampled_;
  // The next period samples at this one's packet rate over the bound (never less than one in
  // bounds_.one_in): a flood costs a bounded number of samples a second, not a share of it.
  uint32_t next = bounds_.one_in;
  if (bounds_.max_rate != 0 && now > period_start_) {
    const double seconds = static_cast<double>(now - period_start_) / bounds_.tsc_hz;
    const double wanted = std::ceil(static_cast<double>(seen_) / seconds / bounds_.max_rate);
    if (wanted > next) next = wanted >= kMaxOneIn ? kMaxOneIn : static_cast<uint32_t>(wanted);
  }
  if (next != sampling_) {
    sampling_ = next;
    gap_ = next_gap();  // the next pick at the new rate, not the rest of an old gap
  }
  seen_ = 0;
  picked_ = 0;
  sampled_ = {};
  period_start_ = now;
  active_ ^= 1;
  pending_ = 0;
  return true;
}

bool Talkers::prepare_step() noexcept {
  if (pending_ == kNone) return false;
  if (pending_ < kTables) {
    TalkerTable& table = *tables_[active_ ^ 1][pending_];
    table.top(report_->lists[pending_ / kTalkerKinds][pending_ % kTalkerKinds]);
    table.clear();
    ++pending_;
  }
  return pending_ == kTables;
}

void Talkers::take_report(TalkerReport& out) noexcept {
  out = *report_;
  out.valid = true;
  pending_ = kNone;
}

}  // namespace udpsieve::dataplane
