#include "udpsieve/control/stats_aggregator.hpp"

#include <algorithm>

namespace udpsieve::control {

StatsAggregator::StatsAggregator(std::size_t workers) : workers_(workers) {}

void StatsAggregator::absorb(std::size_t worker, const dataplane::WorkerSnapshot& snapshot) {
  PerWorker& w = workers_.at(worker);
  if (snapshot.sequence <= w.sequence) return;  // never go backwards
  w.counters = snapshot.counters;
  w.sequence = snapshot.sequence;
  w.final = w.final || snapshot.final;
  if (!snapshot.rules_truncated) {  // else keep the previous rule counts
    for (std::size_t k = 0; k < w.parts.size(); ++k) {
      const dataplane::PartSnapshot& part = snapshot.parts[k];
      w.parts[k].generation = part.generation;
      const auto first = snapshot.rules.begin() + static_cast<std::ptrdiff_t>(part.first);
      w.parts[k].rules.assign(first, first + static_cast<std::ptrdiff_t>(part.count));
    }
  }
  ++snapshots_;
}

bool StatsAggregator::all_final() const noexcept {
  return std::all_of(workers_.begin(), workers_.end(), [](const PerWorker& w) { return w.final; });
}

dataplane::WorkerCounters StatsAggregator::totals() const noexcept {
  dataplane::WorkerCounters sum;
  for (const PerWorker& w : workers_) {
    for (std::size_t i = 0; i < sum.stats.size(); ++i)
      sum.stats[i] += w.counters.stats[i];
    for (std::size_t i = 0; i < sum.drops.size(); ++i)
      sum.drops[i] += w.counters.drops[i];
    for (std::size_t i = 0; i < sum.burst_histogram.size(); ++i) {
      sum.burst_histogram[i] += w.counters.burst_histogram[i];
    }
    for (std::size_t i = 0; i < sum.set_hits.size(); ++i)
      sum.set_hits[i] += w.counters.set_hits[i];
  }
  return sum;
}

}  // namespace udpsieve::control
