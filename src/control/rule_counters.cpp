#include "udpsieve/control/rule_counters.hpp"

#include <cstddef>
#include <string_view>

#include "udpsieve/control/stats_aggregator.hpp"
#include "udpsieve/dataplane/table.hpp"

namespace udpsieve::control {
namespace {

void add(dataplane::RuleCounter& into, const dataplane::RuleCounter& from) {
  into.packets += from.packets;
  into.bytes += from.bytes;
  into.limited += from.limited;
}

}  // namespace

void RuleCounterBook::on_publish(const dataplane::Table& table) {
  std::unordered_map<std::string, Carried> next;
  for (const rules::Rule& rule : table.rules().rules()) {
    const auto it = ids_.find(rule.id);
    next[rule.id] = it != ids_.end() ? it->second : Carried{{}, table.generation()};
  }
  ids_ = std::move(next);
}

void RuleCounterBook::on_retire(const dataplane::Table& retired) {
  const auto& rules = retired.rules().rules();
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const auto it = ids_.find(rules[i].id);
    // Only counts from the id's current, unbroken run of tables carry over.
    if (it == ids_.end() || it->second.since > retired.generation()) continue;
    for (uint32_t w = 0; w < retired.workers(); ++w) {
      add(it->second.counts, retired.rule_counters(w)[i]);
    }
  }
}

std::vector<dataplane::RuleCounter> RuleCounterBook::totals(
    const dataplane::Table& current, const std::vector<const dataplane::Table*>& retained,
    const StatsAggregator& stats) const {
  const auto& rules = current.rules().rules();
  std::vector<dataplane::RuleCounter> out(rules.size());
  std::unordered_map<std::string_view, std::size_t> index;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    index.emplace(rules[i].id, i);
    if (const auto it = ids_.find(rules[i].id); it != ids_.end()) out[i] = it->second.counts;
  }

  // The current table: each worker's latest snapshot of it (a worker that has not published
  // one yet adds nothing until it does).
  for (std::size_t w = 0; w < stats.workers(); ++w) {
    if (stats.rule_generation(w) != current.generation()) continue;
    const std::vector<dataplane::RuleCounter>& counts = stats.rules(w);
    for (std::size_t i = 0; i < counts.size() && i < out.size(); ++i)
      add(out[i], counts[i]);
  }

  // Replaced tables not yet retired, mapped to the current rules by id. A worker whose latest
  // snapshot is of this table contributes that snapshot; a worker whose snapshot is of a newer
  // table will never write this one again, so its row here is final and is read directly (the
  // snapshot ring's release/acquire ordering makes those writes visible). A worker still on an
  // older table has not counted anything here yet.
  for (const dataplane::Table* table : retained) {
    const uint64_t generation = table->generation();
    const auto& old_rules = table->rules().rules();
    std::vector<std::ptrdiff_t> target(old_rules.size(), -1);
    for (std::size_t j = 0; j < old_rules.size(); ++j) {
      const auto it = index.find(old_rules[j].id);
      const auto carried = ids_.find(old_rules[j].id);
      if (it == index.end() || carried == ids_.end() || carried->second.since > generation) {
        continue;  // not carried over: a removed id, or one that came back later
      }
      target[j] = static_cast<std::ptrdiff_t>(it->second);
    }
    for (std::size_t w = 0; w < stats.workers() && w < table->workers(); ++w) {
      const uint64_t seen = stats.rule_generation(w);
      if (seen < generation) continue;
      const bool from_snapshot = seen == generation;
      const dataplane::RuleCounter* row = table->rule_counters(static_cast<uint32_t>(w));
      const std::vector<dataplane::RuleCounter>& counts = stats.rules(w);
      for (std::size_t j = 0; j < old_rules.size(); ++j) {
        if (target[j] < 0) continue;
        if (from_snapshot && j >= counts.size()) continue;
        add(out[static_cast<std::size_t>(target[j])], from_snapshot ? counts[j] : row[j]);
      }
    }
  }
  return out;
}

}  // namespace udpsieve::control
