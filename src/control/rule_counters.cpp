#include "udpsieve/control/rule_counters.hpp"

#include <algorithm>
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

void RuleCounterBook::on_publish(const dataplane::RulePart& part) {
  std::unordered_map<std::string, Carried> next;
  next.reserve(part.rule_count());
  in_order_.clear();
  in_order_.reserve(part.rule_count());
  for (const rules::Rule& rule : part.rules().rules()) {
    // An id that stays moves its map node across (no copy of the id, no allocation).
    const auto it = ids_.find(rule.id);
    const auto at = it != ids_.end() ? next.insert(ids_.extract(it)).position
                                     : next.emplace(rule.id, Carried{{}, part.generation()}).first;
    in_order_.push_back(&at->second);  // nodes stay put when the map grows or moves
  }
  // What is left of the old map are the ids that left with this part.
  for (auto& [id, carried] : ids_) {
    leaving_.push_back(Leaving{id, carried, current_generation_});
  }
  ids_ = std::move(next);
  current_generation_ = part.generation();
}

void RuleCounterBook::on_retire(const dataplane::RulePart& retired, const GoneFn& on_gone) {
  const auto& rules = retired.rules().rules();
  const uint64_t generation = retired.generation();
  const auto row_sum = [&](std::size_t i, dataplane::RuleCounter& into) {
    for (uint32_t w = 0; w < retired.workers(); ++w)
      add(into, retired.rule_counters(w)[i]);
  };
  // Ids leaving at or after this part: fold by id first (they are few).
  std::unordered_map<std::string_view, Leaving*> leaving;
  for (Leaving& entry : leaving_) {
    if (entry.carried.since <= generation && generation <= entry.last) {
      leaving.emplace(entry.id, &entry);
    }
  }
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const auto it = ids_.find(rules[i].id);
    // Only counts from the id's current, unbroken run of parts carry over.
    if (it != ids_.end() && it->second.since <= generation) {
      row_sum(i, it->second.counts);
      continue;
    }
    if (const auto gone = leaving.find(rules[i].id); gone != leaving.end()) {
      row_sum(i, gone->second->carried.counts);
    }
  }
  // An id whose last part this was is complete now.
  std::erase_if(leaving_, [&](const Leaving& entry) {
    if (entry.last > generation) return false;
    if (on_gone) on_gone(entry.id, entry.carried.counts);
    return true;
  });
}

std::vector<dataplane::RuleCounter> RuleCounterBook::totals(
    const dataplane::RulePart& current, const std::vector<const dataplane::RulePart*>& retained,
    const StatsAggregator& stats) const {
  const auto& rules = current.rules().rules();
  std::vector<dataplane::RuleCounter> out(rules.size());
  if (current.generation() == current_generation_ && in_order_.size() == rules.size()) {
    for (std::size_t i = 0; i < rules.size(); ++i)
      out[i] = in_order_[i]->counts;
  } else {
    for (std::size_t i = 0; i < rules.size(); ++i) {
      if (const auto it = ids_.find(rules[i].id); it != ids_.end()) out[i] = it->second.counts;
    }
  }

  // The current part: each worker's latest snapshot of it (a worker that has not published
  // one yet adds nothing until it does).
  for (std::size_t w = 0; w < stats.workers(); ++w) {
    if (stats.rule_generation(w, part_index_) != current.generation()) continue;
    const std::vector<dataplane::RuleCounter>& counts = stats.rules(w, part_index_);
    for (std::size_t i = 0; i < counts.size() && i < out.size(); ++i)
      add(out[i], counts[i]);
  }
  if (retained.empty()) return out;

  // Replaced parts not yet retired, mapped to the current rules by id. A worker whose latest
  // snapshot is of this part contributes that snapshot; a worker whose snapshot is of a newer
  // part will never write this one again, so its row here is final and is read directly (the
  // snapshot ring's release/acquire ordering makes those writes visible). A worker still on an
  // older part has not counted anything here yet.
  std::unordered_map<std::string_view, std::size_t> index;
  index.reserve(rules.size());
  for (std::size_t i = 0; i < rules.size(); ++i)
    index.emplace(rules[i].id, i);
  for (const dataplane::RulePart* part : retained) {
    const uint64_t generation = part->generation();
    const auto& old_rules = part->rules().rules();
    std::vector<std::ptrdiff_t> target(old_rules.size(), -1);
    for (std::size_t j = 0; j < old_rules.size(); ++j) {
      const auto it = index.find(old_rules[j].id);
      const auto carried = ids_.find(old_rules[j].id);
      if (it == index.end() || carried == ids_.end() || carried->second.since > generation) {
        continue;  // not carried over: a removed id, or one that came back later
      }
      target[j] = static_cast<std::ptrdiff_t>(it->second);
    }
    for (std::size_t w = 0; w < stats.workers() && w < part->workers(); ++w) {
      const uint64_t seen = stats.rule_generation(w, part_index_);
      if (seen < generation) continue;
      const bool from_snapshot = seen == generation;
      const dataplane::RuleCounter* row = part->rule_counters(static_cast<uint32_t>(w));
      const std::vector<dataplane::RuleCounter>& counts = stats.rules(w, part_index_);
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
