// Top-talker summaries (see talkers.hpp).
#include "udpsieve/dataplane/talkers.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace udpsieve::dataplane {
namespace {

__extension__ using Wide = unsigned __int128;

/// The high and low 64 bits of a 64 x 64 multiplication, folded (wyhash's mix).
constexpr uint64_t fold(uint64_t a, uint64_t b) noexcept {
  const Wide product = static_cast<Wide>(a) * b;
  return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
}

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

TalkerTable::TalkerTable(std::size_t entries)
    : mask_(std::bit_ceil(std::max<std::size_t>(1, (entries + kWays - 1) / kWays)) - 1) {
  sets_ = std::make_unique<Set[]>(mask_ + 1);
  slots_ = std::make_unique<Slot[]>(capacity());
  clear();
}

namespace {

/// Bit w set where lane w of the eight `values` equals `value`.
unsigned equal_mask(const std::array<uint32_t, TalkerTable::kWays>& values,
                    uint32_t value) noexcept {
#ifdef __SSE2__
  const __m128i wanted = _mm_set1_epi32(static_cast<int>(value));
  const auto half = [&](std::size_t at) {
    const __m128i lanes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(values.data() + at));
    return static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(lanes, wanted))));
  };
  return half(0) | half(4) << 4;
#else
  unsigned mask = 0;
  for (std::size_t w = 0; w < TalkerTable::kWays; ++w)
    mask |= static_cast<unsigned>(values[w] == value) << w;
  return mask;
#endif
}

/// The smallest of eight counts, as a tree (three steps deep, not seven).
uint32_t smallest(const std::array<uint32_t, TalkerTable::kWays>& c) noexcept {
  return std::min(std::min(std::min(c[0], c[1]), std::min(c[2], c[3])),
                  std::min(std::min(c[4], c[5]), std::min(c[6], c[7])));
}

}  // namespace

void TalkerTable::add(const TalkerKey& key, uint64_t hash) noexcept {
  static_assert(kWays == 8);
  const std::size_t index = (hash >> 7) & mask_;
  Set& set = sets_[index];
  Slot* slots = slots_.get() + index * kWays;
  const auto tag = static_cast<uint32_t>(hash >> 32);
  // Vector compares over the set's line, then a branch per outcome, not per way.
  const unsigned empty = equal_mask(set.counts, 0);
  for (unsigned matches = equal_mask(set.tags, tag) & ~empty; matches != 0;
       matches &= matches - 1) {
    const auto w = static_cast<std::size_t>(__builtin_ctz(matches));
    if (slots[w].key == key) {
      ++set.counts[w];
      return;
    }
  }
  // A new key takes the first empty way (a set fills from the front), else - Space-Saving -
  // the smallest counter, inheriting its count as its error.
  const uint32_t error = empty != 0 ? 0 : smallest(set.counts);
  const auto way =
      static_cast<std::size_t>(__builtin_ctz(empty != 0 ? empty : equal_mask(set.counts, error)));
  set.tags[way] = tag;
  set.counts[way] = error + 1;
  slots[way].key = key;
  slots[way].error = error;
}

void TalkerTable::prefetch_slot(uint64_t hash) const noexcept {
  const std::size_t index = (hash >> 7) & mask_;
  const Set& set = sets_[index];
  // The way add() will most likely touch: the tag's, else the first empty or smallest (an
  // empty way counts 0).
  const unsigned matches = equal_mask(set.tags, static_cast<uint32_t>(hash >> 32));
  const unsigned way = matches != 0 ? matches : equal_mask(set.counts, smallest(set.counts));
  __builtin_prefetch(slots_.get() + index * kWays + __builtin_ctz(way), 1);
}

void TalkerTable::top(TalkerList& out) const noexcept {
  // A min-heap (by count) of the heaviest seen so far, in out.top; then sorted heaviest first.
  const auto lighter = [](const TalkerCount& a, const TalkerCount& b) { return a.count > b.count; };
  std::size_t size = 0;
  uint32_t floor = 0;
  bool left_out = false;
  for (std::size_t index = 0; index <= mask_; ++index) {
    const Set& set = sets_[index];
    const Slot* slots = slots_.get() + index * kWays;
    uint32_t set_min = set.counts[0];
    for (std::size_t w = 0; w < kWays; ++w) {
      const uint32_t count = set.counts[w];
      set_min = std::min(set_min, count);
      if (count == 0) continue;
      if (size < TalkerList::kShipped) {
        out.top[size++] = TalkerCount{slots[w].key, count, slots[w].error};
        std::push_heap(out.top.begin(), out.top.begin() + static_cast<std::ptrdiff_t>(size),
                       lighter);
      } else {
        left_out = true;
        if (count > out.top[0].count) {
          std::pop_heap(out.top.begin(), out.top.end(), lighter);
          out.top.back() = TalkerCount{slots[w].key, count, slots[w].error};
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

Talkers::Talkers(uint32_t sampling, std::size_t entries, std::array<uint64_t, 2> seed)
    : sampling_(std::max<uint32_t>(1, sampling)),
      rng_(seed[0] ^ std::rotl(seed[1], 17) ^ 0x9e3779b97f4a7c15ULL),
      seed_(seed),
      report_(std::make_unique<TalkerReport>()) {
  if (rng_ == 0) rng_ = 1;
  for (auto& set : tables_) {
    for (auto& table : set)
      table = std::make_unique<TalkerTable>(entries);
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
  // seed could be degenerate: all ones folds every product to all ones).
  const uint64_t h = fold(key.high ^ seed_[0], key.low ^ seed_[1]);
  return fold(h ^ (uint64_t{key.family} << 56) ^ 0xa0761d6478bd642fULL, 0xe7037ed1a0b428dbULL);
}

void Talkers::record(const rules::PacketKey& packet, bool dropped, uint64_t rule_hash,
                     uint8_t part) noexcept {
  const std::size_t verdict = dropped ? 1 : 0;
  ++sampled_[verdict];
  std::unique_ptr<TalkerTable>* tables = tables_[active_].data() + verdict * kTalkerKinds;
  const auto queue = [&](TalkerKind kind, const TalkerKey& key) {
    TalkerTable* table = tables[static_cast<std::size_t>(kind)].get();
    const uint64_t h = hash(key);
    table->prefetch(h);
    updates_[queued_++] = Update{table, key, h};
  };
  queue(TalkerKind::src, source_key(packet, 32, 128));
  queue(TalkerKind::src_prefix, source_key(packet, kTalkerPrefixV4, kTalkerPrefixV6));
  if (packet.has_ports) queue(TalkerKind::dst_port, TalkerKey{0, packet.dst_port, 0});
  queue(TalkerKind::rule, TalkerKey{part == TalkerKey::kNoRule ? 0 : rule_hash, 0, part});
  if (queued_ + kTalkerKinds > updates_.size()) flush();
}

void Talkers::flush() noexcept {
  // The sets were prefetched when the packets were recorded; now the slots, then the counts.
  for (std::size_t i = 0; i < queued_; ++i)
    updates_[i].table->prefetch_slot(updates_[i].hash);
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
