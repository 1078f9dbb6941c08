#pragma once
/// Per-rule counters that survive reloads: kept by rule id.
///
/// A rule's total is what the tables it lived in counted: the final rows of retired tables
/// (folded in when no worker uses them any more, so exact) plus the workers' latest snapshots
/// of the tables still in use. A rule whose match or action changed keeps its id's counters;
/// an id that disappears from the rules loses them, even if it comes back later.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "udpsieve/dataplane/counters.hpp"

namespace udpsieve::dataplane {
class Table;
}

namespace udpsieve::control {

class StatsAggregator;

class RuleCounterBook {
 public:
  /// `table` became current.
  void on_publish(const dataplane::Table& table);
  /// `retired` is no longer used by any worker: fold its final counts.
  void on_retire(const dataplane::Table& retired);
  /// Totals for every rule of `current`, in rule order. `retained` are replaced tables some
  /// worker's latest snapshot may still describe.
  [[nodiscard]] std::vector<dataplane::RuleCounter> totals(
      const dataplane::Table& current, const std::vector<const dataplane::Table*>& retained,
      const StatsAggregator& stats) const;

 private:
  struct Carried {
    dataplane::RuleCounter counts;
    uint64_t since = 0;  ///< first generation of the id's unbroken presence
  };
  std::unordered_map<std::string, Carried> ids_;  // every id of the current table
};

}  // namespace udpsieve::control
