// Top-talker summaries (see talkers.hpp).
#include "udpsieve/dataplane/talkers.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

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
    : entries_(nullptr),
      mask_(std::bit_ceil(std::max<std::size_t>(1, (entries + kWays - 1) / kWays)) - 1) {
  entries_ = std::make_unique<TalkerCount[]>((mask_ + 1) * kWays);
}

void TalkerTable::add(const TalkerKey& key, uint64_t hash) noexcept {
  TalkerCount* set = entries_.get() + ((hash >> 7) & mask_) * kWays;
  TalkerCount* smallest = set;
  for (std::size_t w = 0; w < kWays; ++w) {
    TalkerCount& entry = set[w];
    if (entry.count == 0) {  // the set fills from the front: the key is not in it
      entry = TalkerCount{key, 1, 0};
      return;
    }
    if (entry.key == key) {
      ++entry.count;
      return;
    }
    if (entry.count < smallest->count) smallest = &entry;
  }
  // Space-Saving: the newcomer takes the smallest counter, inheriting its count as its error.
  smallest->key = key;
  smallest->error = smallest->count;
  ++smallest->count;
}

void TalkerTable::top(TalkerList& out) const noexcept {
  // A min-heap (by count) of the heaviest seen so far, in out.top; then sorted heaviest first.
  const auto lighter = [](const TalkerCount& a, const TalkerCount& b) { return a.count > b.count; };
  std::size_t size = 0;
  uint32_t floor = 0;
  bool left_out = false;
  for (std::size_t set = 0; set <= mask_; ++set) {
    const TalkerCount* ways = entries_.get() + set * kWays;
    uint32_t set_min = ways[0].count;
    for (std::size_t w = 0; w < kWays; ++w) {
      const TalkerCount& entry = ways[w];
      set_min = std::min(set_min, entry.count);
      if (entry.count == 0) continue;
      if (size < TalkerList::kShipped) {
        out.top[size++] = entry;
        std::push_heap(out.top.begin(), out.top.begin() + static_cast<std::ptrdiff_t>(size),
                       lighter);
      } else {
        left_out = true;
        if (entry.count > out.top[0].count) {
          std::pop_heap(out.top.begin(), out.top.end(), lighter);
          out.top.back() = entry;
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
  std::fill_n(entries_.get(), capacity(), TalkerCount{});
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
  return 1 + static_cast<uint32_t>(rng_ % (2 * uint64_t{sampling_} - 1));
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
  const auto count = [&](TalkerKind kind, const TalkerKey& key) {
    tables[static_cast<std::size_t>(kind)]->add(key, hash(key));
  };
  count(TalkerKind::src, source_key(packet, 32, 128));
  count(TalkerKind::src_prefix, source_key(packet, kTalkerPrefixV4, kTalkerPrefixV6));
  if (packet.has_ports) count(TalkerKind::dst_port, TalkerKey{0, packet.dst_port, 0});
  count(TalkerKind::rule, TalkerKey{part == TalkerKey::kNoRule ? 0 : rule_hash, 0, part});
}

bool Talkers::end_period(uint64_t now) noexcept {
  if (pending_ != kNone) return false;
  TalkerReport& report = *report_;
  report.start_tsc = period_start_;
  report.end_tsc = now;
  report.seen = seen_;
  report.sampled = sampled_;
  seen_ = 0;
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
