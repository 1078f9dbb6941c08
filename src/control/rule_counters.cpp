#include "udpsieve/control/rule_counters.hpp"

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
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    index.emplace(rules[i].id, i);
    if (const auto it = ids_.find(rules[i].id); it != ids_.end()) out[i] = it->second.counts;
  }
  for (std::size_t w = 0; w < stats.workers(); ++w) {
    const uint64_t generation = stats.rule_generation(w);
    const std::vector<dataplane::RuleCounter>& counts = stats.rules(w);
    if (generation == current.generation()) {
      for (std::size_t i = 0; i < counts.size() && i < out.size(); ++i)
        add(out[i], counts[i]);
      continue;
    }
    // A snapshot of a replaced table not yet retired: map its rules by id.
    for (const dataplane::Table* table : retained) {
      if (table->generation() != generation) continue;
      const auto& old_rules = table->rules().rules();
      for (std::size_t j = 0; j < old_rules.size() && j < counts.size(); ++j) {
        const auto it = index.find(old_rules[j].id);
        const auto carried = ids_.find(old_rules[j].id);
        if (it == index.end() || carried == ids_.end() || carried->second.since > generation) {
          continue;
        }
        add(out[it->second], counts[j]);
      }
    }
  }
  return out;
}

}  // namespace udpsieve::control
