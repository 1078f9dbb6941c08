#pragma once
/// Worker-owned counters and the snapshots that carry them to the control thread.

#include <array>
#include <cstdint>
#include <vector>

#include "udpsieve/common/stats_schema.hpp"
#include "udpsieve/dataplane/talkers.hpp"

namespace udpsieve::dataplane {

inline constexpr std::size_t kCacheLine = 64;

/// Per-rule counters of one worker. `packets`/`bytes` count matches; for rate-limited rules
/// `limited` counts the matches dropped for exceeding the rate (passed = packets - limited).
struct RuleCounter {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t limited = 0;
};

/// One worker's scalar counters. Written only by that worker; cumulative since start.
/// Prefix set slots (rules::kMaxSets): one hit counter each.
inline constexpr std::size_t kSetSlots = 16;

struct alignas(kCacheLine) WorkerCounters {
  std::array<uint64_t, kWorkerStatCount> stats{};
  std::array<uint64_t, kDropReasonCount> drops{};
  std::array<uint64_t, kBurstHistogramBuckets> burst_histogram{};
  /// Address lookups (source and destination) that found the address in the set of each slot.
  std::array<uint64_t, kSetSlots> set_hits{};

  [[nodiscard]] uint64_t stat(WorkerStat s) const noexcept { return stats[index_of(s)]; }
  [[nodiscard]] uint64_t drop(DropReason r) const noexcept { return drops[index_of(r)]; }
  /// Sum of the drop reasons.
  [[nodiscard]] uint64_t dropped() const noexcept {
    uint64_t sum = 0;
    for (uint64_t d : drops)
      sum += d;
    return sum;
  }
};

/// The rule counters of one rule part (file or runtime rules) in a snapshot.
struct PartSnapshot {
  uint64_t generation = 0;  ///< generation of the part the counters belong to (0: none)
  uint32_t first = 0;       ///< index of its first counter in WorkerSnapshot::rules
  uint32_t count = 0;       ///< its rules
};

/// A copy of a worker's counters at one moment. Taken at the end of a loop pass, after TX
/// was flushed, so within a snapshot rx_packets == forwarded_packets + dropped() exactly.
struct WorkerSnapshot {
  uint64_t sequence = 0;  ///< 1, 2, 3... per worker
  uint64_t tsc = 0;       ///< rte_rdtsc() when taken
  bool final = false;     ///< the worker's last snapshot before it exits
  WorkerCounters counters;
  /// The table's file and runtime parts, in that order.
  std::array<PartSnapshot, 2> parts{};
  /// The table had more rules than `rules` holds, so none were copied; the control thread
  /// keeps the worker's previous rule counts and enlarges the buffer.
  bool rules_truncated = false;
  std::vector<RuleCounter> rules;  ///< sized by the control thread; the worker only copies
  /// The top-talker summaries of a period that ended since the last snapshot (if `valid`).
  TalkerReport talkers;
};

}  // namespace udpsieve::dataplane
