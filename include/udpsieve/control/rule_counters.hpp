#pragma once
/// Per-rule counters that survive rebuilds of their rule part: kept by rule id.
///
/// One book per part kind (file rules, runtime rules). A rule's total is what the parts it
/// lived in counted: the final rows of retired parts (folded in when no worker uses them any
/// more, so exact) plus the workers' latest snapshots of the parts still in use. A rule whose
/// match or action changed keeps its id's counters; an id that disappears from the rules
/// loses them, even if it comes back later — but not before its final count is reported to
/// whoever asked (an expired runtime rule's log line).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "udpsieve/dataplane/counters.hpp"
#include "udpsieve/rules/rule_set.hpp"

namespace udpsieve::dataplane {
class RulePart;
}

namespace udpsieve::control {

class StatsAggregator;

class RuleCounterBook {
 public:
  /// Called with an id that left the rules and its exact final count, once the last part
  /// holding it retired.
  using GoneFn = std::function<void(const std::string& id, const dataplane::RuleCounter& total)>;

  /// `part_index`: which part of the snapshots this book reads (0 file, 1 runtime).
  explicit RuleCounterBook(std::size_t part_index) : part_index_(part_index) {}

  /// `part` became current for this book's kind.
  void on_publish(const dataplane::RulePart& part);
  /// `retired` is no longer used by any worker: fold its final counts.
  void on_retire(const dataplane::RulePart& retired, const GoneFn& on_gone = {});
  /// Totals for every rule of `current`, in rule order. `retained` are replaced parts of this
  /// kind that some worker's latest snapshot may still describe.
  [[nodiscard]] std::vector<dataplane::RuleCounter> totals(
      const dataplane::RulePart& current, const std::vector<const dataplane::RulePart*>& retained,
      const StatsAggregator& stats) const;

 private:
  struct Carried {
    dataplane::RuleCounter counts;
    uint64_t since = 0;  ///< first generation of the id's unbroken presence
  };
  /// An id that left: its counts so far, until the last part holding it retires.
  struct Leaving {
    std::string id;
    Carried carried;
    uint64_t last = 0;  ///< generation of the last part that held it
  };
  /// The carried counts of the current part's rule with this id, or null.
  [[nodiscard]] const Carried* carried_of(std::string_view id) const noexcept;

  std::size_t part_index_;
  /// The current part's rules (their id index finds an id's position) and each one's carried
  /// counts, in rule order: a reload looks 100,000 ids up in two flat indexes rather than
  /// rebuilding a map keyed by id.
  std::shared_ptr<const rules::RuleSet> rules_;
  std::vector<Carried> carried_;
  uint64_t current_generation_ = 0;
  std::vector<Leaving> leaving_;
};

}  // namespace udpsieve::control
