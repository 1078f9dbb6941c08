#pragma once
/// The control thread's view of the workers' counters, built from their snapshots.

#include <array>
#include <cstdint>
#include <vector>

#include "udpsieve/dataplane/counters.hpp"

namespace udpsieve::control {

class StatsAggregator {
 public:
  explicit StatsAggregator(std::size_t workers);

  /// Takes a worker's snapshot. Counters are cumulative, so the newest snapshot replaces the
  /// previous one.
  void absorb(std::size_t worker, const dataplane::WorkerSnapshot& snapshot);

  [[nodiscard]] std::size_t workers() const noexcept { return workers_.size(); }
  [[nodiscard]] const dataplane::WorkerCounters& worker(std::size_t index) const {
    return workers_.at(index).counters;
  }
  /// Whether the worker's final snapshot arrived.
  [[nodiscard]] bool final_received(std::size_t index) const { return workers_.at(index).final; }
  [[nodiscard]] bool all_final() const noexcept;
  /// Snapshots taken in so far (all workers).
  [[nodiscard]] uint64_t snapshots() const noexcept { return snapshots_; }

  /// The workers' counters summed.
  [[nodiscard]] dataplane::WorkerCounters totals() const noexcept;
  /// Generation of the rule part (0 file, 1 runtime) the worker's latest counters of that part
  /// belong to (0: none yet).
  [[nodiscard]] uint64_t rule_generation(std::size_t worker, std::size_t part) const {
    return workers_.at(worker).parts.at(part).generation;
  }
  /// The worker's latest per-rule counters of one part (of rule_generation()).
  [[nodiscard]] const std::vector<dataplane::RuleCounter>& rules(std::size_t worker,
                                                                 std::size_t part) const {
    return workers_.at(worker).parts.at(part).rules;
  }

 private:
  struct PartCounts {
    uint64_t generation = 0;
    std::vector<dataplane::RuleCounter> rules;
  };
  struct PerWorker {
    dataplane::WorkerCounters counters;
    uint64_t sequence = 0;
    bool final = false;
    std::array<PartCounts, 2> parts;  // file, runtime
  };
  std::vector<PerWorker> workers_;
  uint64_t snapshots_ = 0;
};

}  // namespace udpsieve::control
