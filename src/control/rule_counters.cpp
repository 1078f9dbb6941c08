#include "udpsieve/control/rule_counters.hpp"

#include <algorithm>
#include <cstddef>
#include <string_view>
#include <unordered_map>

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

const RuleCounterBook::Carried* RuleCounterBook::carried_of(std::string_view id) const noexcept {
  if (rules_ == nullptr) return nullptr;
  const std::size_t at = rules_->position(id);
  return at == rules::RuleSet::npos ? nullptr : &carried_[at];
}

void RuleCounterBook::on_publish(const dataplane::RulePart& part) {
  const rules::RuleList& rules = part.rules().rules();
  const Carried fresh{{}, part.generation()};
  std::vector<Carried> next;
  if (rules_ == nullptr) {
    next.assign(rules.size(), fresh);
  } else {
    // Every id the new part keeps finds its old position here, so the old positions not
    // found are the ids that left with the old part.
    const std::vector<std::size_t> old_at = rules_->positions_of(rules);
    std::vector<bool> kept(carried_.size(), false);
    next.reserve(rules.size());
    for (std::size_t i = 0; i < rules.size();) {
      const std::size_t at = old_at[i];
      if (at == rules::RuleSet::npos) {
        next.push_back(fresh);
        ++i;
        continue;
      }
      // A run of ids that stood one after another before too (an unchanged file's): one copy.
      std::size_t count = 1;
      while (i + count < rules.size() && old_at[i + count] == at + count)
        ++count;
      const auto first = carried_.begin() + static_cast<std::ptrdiff_t>(at);
      next.insert(next.end(), first, first + static_cast<std::ptrdiff_t>(count));
      std::fill(kept.begin() + static_cast<std::ptrdiff_t>(at),
                kept.begin() + static_cast<std::ptrdiff_t>(at + count), true);
      i += count;
    }
    const rules::RuleList& old = rules_->rules();
    for (std::size_t j = 0; j < old.size(); ++j) {
      if (!kept[j]) leaving_.push_back(Leaving{old[j].id, carried_[j], current_generation_});
    }
  }
  rules_ = part.rules_ptr();
  carried_ = std::move(next);
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
  const std::vector<std::size_t> current_at =
      rules_ != nullptr ? rules_->positions_of(rules)
                        : std::vector<std::size_t>(rules.size(), rules::RuleSet::npos);
  for (std::size_t i = 0; i < rules.size(); ++i) {
    // Only counts from the id's current, unbroken run of parts carry over.
    if (const std::size_t at = current_at[i];
        at != rules::RuleSet::npos && carried_[at].since <= generation) {
      row_sum(i, carried_[at].counts);
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
  if (current.generation() == current_generation_ && carried_.size() == rules.size()) {
    for (std::size_t i = 0; i < rules.size(); ++i)
      out[i] = carried_[i].counts;
  } else {
    for (std::size_t i = 0; i < rules.size(); ++i) {
      if (const Carried* carried = carried_of(rules[i].id)) out[i] = carried->counts;
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
  for (const dataplane::RulePart* part : retained) {
    const uint64_t generation = part->generation();
    const auto& old_rules = part->rules().rules();
    std::vector<std::ptrdiff_t> target(old_rules.size(), -1);
    const std::vector<std::size_t> current_at = current.rules().positions_of(old_rules);
    const bool book_is_current = current.rules_ptr() == rules_;
    for (std::size_t j = 0; j < old_rules.size(); ++j) {
      const std::size_t at = current_at[j];
      const Carried* carried = !book_is_current             ? carried_of(old_rules[j].id)
                               : at != rules::RuleSet::npos ? &carried_[at]
                                                            : nullptr;
      if (at == rules::RuleSet::npos || carried == nullptr || carried->since > generation) {
        continue;  // not carried over: a removed id, or one that came back later
      }
      target[j] = static_cast<std::ptrdiff_t>(at);
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
