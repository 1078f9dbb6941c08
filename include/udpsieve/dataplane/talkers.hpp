#pragma once
/// Top talkers: one worker's heavy-hitter summaries of a sample of the packets it decides.
///
/// One packet in `pipeline.talker_sampling` (at random gaps averaging that, so a replayed
/// capture whose length divides the rate is not sampled at the same frames each time), or
/// fewer under a flood (at most `pipeline.talker_max_sample_rate` samples a second: each period
/// sets the next one's sampling from its own packet rate, so the summaries' cost per second is
/// bounded however fast packets come), is counted in a summary per key kind — source address,
/// source prefix (/24, /48), destination port, rule — and verdict (forwarded, dropped). Each
/// summary is a set-associative Space-Saving table (Metwally et al., 2005): a key's keyed hash
/// picks a set of kWays counters; a key not there takes an empty counter of its set, or the
/// smallest, whose count it inherits as its error (so a listed key was seen at most `count` and at
/// least `count - error` times, and a key not listed at most as often as the smallest count of its
/// set).
///
/// The worker keeps two sets of summaries: the one it counts into, and the one it reports. At
/// the end of a period (the first publish point, every control.stats_interval_ms, a second or
/// more after the period began) it swaps them, then moves the finished summaries' top kShipped
/// per table into a TalkerReport a table per loop pass (so no pass stalls for long), which it
/// ships with its next counter snapshot. Pure code: the worker gives it TSC times.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "udpsieve/dataplane/huge_region.hpp"
#include "udpsieve/rules/packet_key.hpp"

namespace udpsieve::dataplane {

/// What a summary is keyed by (protocol::kTalkerKinds' order).
enum class TalkerKind : uint8_t { src, src_prefix, dst_port, rule, count };
inline constexpr std::size_t kTalkerKinds = static_cast<std::size_t>(TalkerKind::count);
/// Summaries per kind: packets forwarded, packets dropped.
inline constexpr std::size_t kTalkerVerdicts = 2;
/// Source prefix lengths of TalkerKind::src_prefix.
inline constexpr unsigned kTalkerPrefixV4 = 24;
inline constexpr unsigned kTalkerPrefixV6 = 48;

/// A talker: an address or prefix (family 4 or 6; IPv4 in the low word), a destination port
/// (`low`), or a rule (`high` its rules::Rule id's FNV-1a hash, family kFilePart or
/// kRuntimePart; kNoRule for packets no rule matched).
struct TalkerKey {
  static constexpr uint8_t kFilePart = 0;
  static constexpr uint8_t kRuntimePart = 1;
  static constexpr uint8_t kNoRule = 2;
  uint64_t high = 0;
  uint64_t low = 0;
  uint8_t family = 0;
  friend bool operator==(const TalkerKey&, const TalkerKey&) = default;
};

/// A listed talker: its key, how often it was counted, and how much of that may belong to
/// other keys (count - error <= true count <= count).
struct TalkerCount {
  TalkerKey key;
  uint32_t count = 0;
  uint32_t error = 0;
};

/// One summary's heaviest keys, heaviest first.
struct TalkerList {
  static constexpr std::size_t kShipped = 64;
  uint32_t size = 0;
  /// A key not listed was counted at most this often (the smallest count a full set held, or
  /// the smallest listed count when more were held than listed; 0 when nothing was left out).
  uint32_t floor = 0;
  std::array<TalkerCount, kShipped> top{};
};

/// One worker's summaries over one period.
struct TalkerReport {
  bool valid = false;  ///< false: the snapshot carries no report
  uint64_t start_tsc = 0;
  uint64_t end_tsc = 0;
  uint64_t seen = 0;    ///< packets offered to the sampler in the period
  uint64_t picked = 0;  ///< packets the sampler picked (UDP or not)
  std::array<uint64_t, kTalkerVerdicts> sampled{};  ///< UDP packets counted, per verdict
  std::array<std::array<TalkerList, kTalkerKinds>, kTalkerVerdicts> lists{};
};

/// One set-associative Space-Saving summary. A set of kWays counters is one cache line: each
/// way's tag, kind, count and error. A key that fits in 32 bits (an IPv4 address or prefix, a
/// port: `high` 0 and `low` < 2^32) is its own tag, so counting it reads and writes that line
/// only; a wider key (IPv6, a rule) is tagged by 32 bits of its hash and kept whole beside the
/// sets, read only when its tag matches and written only when it takes a way.
class TalkerTable {
 public:
  static constexpr std::size_t kWays = 4;
  /// Room for `entries` keys (rounded up to whole sets, a power of two of them), in
  /// bytes(entries) of `memory` (64-byte aligned), or without it in memory of its own.
  explicit TalkerTable(std::size_t entries, void* memory = nullptr);
  [[nodiscard]] static std::size_t bytes(std::size_t entries) noexcept;

  /// Counts one packet of `key`, whose keyed hash (Talkers::hash) is `hash`.
  void add(const TalkerKey& key, uint64_t hash) noexcept;
  /// Starts loading the set `hash` picks, for an add() a little later: a worker's frames sweep
  /// its caches, so the set is rarely there when it is needed.
  void prefetch(uint64_t hash) const noexcept {
    __builtin_prefetch(&sets_[(hash >> 7) & mask_], 1);
  }
  /// The heaviest keys, heaviest first, into `out`.
  void top(TalkerList& out) const noexcept;
  void clear() noexcept;
  [[nodiscard]] std::size_t capacity() const noexcept { return (mask_ + 1) * kWays; }

 private:
  /// A way's kind: the key's family, and kWide when the tag is a hash.
  static constexpr uint32_t kWide = 0x100;
  struct alignas(64) Set {
    std::array<uint32_t, kWays> tags;
    std::array<uint32_t, kWays> kinds;
    std::array<uint32_t, kWays> counts;  ///< 0: empty (a set fills from its first way)
    std::array<uint32_t, kWays> errors;
  };
  [[nodiscard]] TalkerKey key_of(std::size_t index, std::size_t way) const noexcept;
  [[nodiscard]] static std::size_t sets_for(std::size_t entries) noexcept;
  std::size_t mask_;
  std::unique_ptr<HugeRegion> own_;  // without memory given
  Set* sets_;
  TalkerKey* wide_;  // kWays per set: the wide keys
};

class Talkers {
 public:
  /// The sampling's bounds.
  struct Sampling {
    uint32_t one_in = 1;    ///< one packet in this many at least (at least 1)
    uint32_t max_rate = 0;  ///< samples a second at most (0: no bound)
    double tsc_hz = 1e9;    ///< the rate of the TSC times given to start() and end_period()
  };
  /// The most a bounded sampling may skip: one packet in this many.
  static constexpr uint32_t kMaxOneIn = 1U << 24;
  /// `entries`: room per summary; `seed` keys the hash and the sampler.
  Talkers(Sampling sampling, std::size_t entries, std::array<uint64_t, 2> seed);
  /// The sampling of the period under way (one packet in this many, on average).
  [[nodiscard]] uint32_t sampling() const noexcept { return sampling_; }

  /// Offers a burst of `count` packets to the sampler: calls `sampled(i)` for each packet
  /// picked (in order). A picked packet that is not UDP is simply not recorded: the scale
  /// (packets offered / picked) stays unbiased.
  template <typename Sampled>
  void offer(uint32_t count, Sampled&& sampled) {
    // The last burst's samples first: their sets have had a burst's time to load, and are
    // still in the cache (a batch held longer would see them swept out by the frames).
    if (queued_ != 0) flush();
    seen_ += count;
    uint32_t at = gap_ - 1;
    while (at < count) {
      ++picked_;
      sampled(at);
      at += next_gap();
    }
    gap_ = at - count + 1;
  }
  /// Counts a sampled UDP packet: its key, whether it was dropped, and its rule (`rule_hash`
  /// and `part` as in TalkerKey; part kNoRule when none matched). The summaries' sets are
  /// prefetched now and counted when the next burst is offered (or kBatch packets on), so
  /// their cache misses overlap with the packets' work.
  void record(const rules::PacketKey& packet, bool dropped, uint64_t rule_hash,
              uint8_t part) noexcept;
  /// Counts the packets recorded but not counted yet (end_period() does it too).
  void flush() noexcept;

  /// Starts the first period at `now`.
  void start(uint64_t now) noexcept { period_start_ = now; }
  /// Ends the period at `now`: the summaries counted so far become the ones reported, and
  /// counting goes on into the others, at a sampling that would have kept this period's
  /// samples a second within the bound. Returns false (and does nothing) while the last
  /// period's report is not out yet.
  bool end_period(uint64_t now) noexcept;
  /// Whether a finished period's report is being prepared.
  [[nodiscard]] bool reporting() const noexcept { return pending_ != kNone; }
  /// Prepares one more table of the finished period's report; true once all are ready.
  bool prepare_step() noexcept;
  /// Once prepare_step() returned true: moves the report into `out` and frees the summaries.
  void take_report(TalkerReport& out) noexcept;

  /// The keyed hash of a key (exposed for tests): one multiplication for a key that fits in 32
  /// bits, two for a wider one.
  [[nodiscard]] uint64_t hash(const TalkerKey& key) const noexcept;

 private:
  static constexpr std::size_t kTables = kTalkerVerdicts * kTalkerKinds;
  static constexpr std::size_t kNone = ~std::size_t{0};
  static constexpr std::size_t kBatch = 16;
  uint32_t next_gap() noexcept;

  struct Update {
    TalkerTable* table;
    TalkerKey key;
    uint64_t hash;
  };
  std::array<Update, kBatch * kTalkerKinds> updates_{};
  std::size_t queued_ = 0;

  Sampling bounds_;  // one_in within 1 .. kMaxOneIn
  uint32_t sampling_;
  uint32_t gap_ = 1;
  uint64_t rng_;
  uint64_t seen_ = 0;
  uint64_t picked_ = 0;
  std::array<uint64_t, 2> seed_;
  uint64_t period_start_ = 0;
  std::array<uint64_t, kTalkerVerdicts> sampled_{};
  /// Two sets of tables: `active_` counts, the other is reported.
  HugeRegion memory_;  // every table's sets and keys: one huge page, not 160 small ones
  std::array<std::array<std::unique_ptr<TalkerTable>, kTables>, 2> tables_;
  std::size_t active_ = 0;
  std::size_t pending_ = kNone;  ///< the next table of the finished set to prepare
  std::unique_ptr<TalkerReport> report_;
};

}  // namespace udpsieve::dataplane
