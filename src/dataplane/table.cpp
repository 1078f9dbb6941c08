#include "udpsieve/dataplane/table.hpp"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "udpsieve/common/config_error.hpp"
#include "udpsieve/common/fnv1a.hpp"
#include "udpsieve/dataplane/rule_limits.hpp"

namespace udpsieve::dataplane {
namespace {

template <class T>
T* aligned_array(std::size_t count) {
  auto* items = static_cast<T*>(
      ::operator new[](std::max<std::size_t>(count, 1) * sizeof(T), std::align_val_t{kCacheLine}));
  for (std::size_t i = 0; i < std::max<std::size_t>(count, 1); ++i)
    new (&items[i]) T{};
  return items;
}

template <class T>
void free_aligned(T* items) {
  ::operator delete[](items, std::align_val_t{kCacheLine});
}

/// One worker's rate-limit profile: its share of the rate and of the burst.
rte_meter_srtcm_params worker_params(const rules::RateLimit& limit, uint32_t workers,
                                     uint32_t worker) {
  rte_meter_srtcm_params params{};
  params.cir = std::max<uint64_t>(share_of(limit.rate, workers, worker), 1);
  params.cbs = std::max<uint64_t>(share_of(limit.burst, workers, worker), 1);
  params.ebs = 0;
  return params;
}

}  // namespace

const char* part_kind_name(PartKind kind) noexcept {
  return kind == PartKind::file ? "file" : "runtime";
}

RulePart::RulePart(std::shared_ptr<const rules::RuleSet> rules, const PartParams& params)
    : kind_(params.kind), rules_(std::move(rules)), generation_(params.generation) {
  const auto& list = rules_->rules();
  const uint32_t workers = std::max<uint32_t>(params.workers, 1);
  facts_ = std::make_shared<const RuleFacts>(rules_, params.earlier.get());
  check_rule_limits(list, *facts_, workers);
  verdicts_.reserve(list.size());
  talker_keys_.reserve(list.size());
  // From the facts: the rules themselves are not read again (most are an unchanged file's).
  static_assert(ActionFacts::kNoPort == RuleVerdict::kInputsForwardTo);
  const std::vector<ActionFacts>& actions = facts_->actions();
  for (std::size_t i = 0; i < actions.size(); ++i) {
    const ActionFacts& action = actions[i];
    RuleVerdict verdict;
    verdict.kind = action.kind;
    verdict.out_port = action.out_port;
    uses_src_sets_ = uses_src_sets_ || action.src_sets;
    uses_dst_sets_ = uses_dst_sets_ || action.dst_sets;
    if (action.kind == rules::ActionKind::rate_limit) {
      verdict.count_bytes = action.count_bytes;
      verdict.per_source = action.per_source;
      per_source_ = per_source_ || verdict.per_source;
      verdict.meter = static_cast<uint16_t>(metered_rules_.size());
      metered_rules_.push_back(i);
    }
    verdicts_.push_back(verdict);
    talker_keys_.push_back(action.talker_key);
  }
  if (metered_rules_.size() >= RuleVerdict::kNoMeter) {
    throw std::runtime_error("more than 65534 rate_limit rules");
  }

  // Runtime rules take the key's payload windows from the last slot down, file rules from the
  // first up, so neither part's slots depend on the other's rules.
  classifier_ = std::make_unique<AclClassifier>(
      list, params.socket,
      std::string(params.kind == PartKind::file ? "udpsieve_f" : "udpsieve_r") +
          std::to_string(params.generation),
      params.kind == PartKind::runtime, params.checkpoint, facts_.get());

  // Per worker, each per-source rule's share of the rate and burst, in TSC ticks.
  const double tsc_hz = static_cast<double>(rte_get_tsc_hz());
  source_limits_.assign(workers, std::vector<SourceLimit>(metered_rules_.size()));
  for (std::size_t m = 0; m < metered_rules_.size(); ++m) {
    const rules::Rule& rule = list[metered_rules_[m]];
    const rules::RateLimit& limit = rule.action.rate_limit;
    if (limit.per_source == 0) continue;
    // Keyed by the rule's id and its limit, so a rebuilt part (a reload, a runtime change)
    // finds the same rule's buckets where they were, and a changed limit starts its sources
    // afresh with full buckets, as a shared limit does (a bucket's debt is in ticks of the
    // rate it was charged at). The same key in every worker.
    const uint64_t key =
        fnv1a64(rule.id + '\0' + std::to_string(limit.rate) + '/' + std::to_string(limit.burst) +
                '/' + (limit.unit == rules::RateLimit::Unit::bytes ? 'B' : 'P') + '/' +
                std::to_string(limit.per_source) + '/' + std::to_string(limit.per_source_v6));
    const uint32_t split = params.per_source_whole ? 1 : workers;
    for (uint32_t w = 0; w < workers; ++w) {
      const uint32_t share = params.per_source_whole ? 0 : w;
      SourceLimit& source = source_limits_[w][m];
      source.ticks_per_token =
          tsc_hz / static_cast<double>(std::max<uint64_t>(share_of(limit.rate, split, share), 1));
      source.burst =
          static_cast<double>(std::max<uint64_t>(share_of(limit.burst, split, share), 1));
      source.rule = key;
      source.v4_length = limit.per_source;
      source.v6_length = limit.per_source_v6;
    }
  }

  // One row of counters and one set of meters per worker, each in its own cache lines.
  rows_.reserve(workers);
  meters_.reserve(workers);
  try {
    for (uint32_t w = 0; w < workers; ++w) {
      rows_.push_back(aligned_array<RuleCounter>(list.size()));
      if (metered_rules_.empty()) {
        meters_.push_back(nullptr);
        continue;
      }
      MeterSlot* slots = aligned_array<MeterSlot>(metered_rules_.size());
      meters_.push_back(slots);
      for (std::size_t m = 0; m < metered_rules_.size(); ++m) {
        rte_meter_srtcm_params p =
            worker_params(list[metered_rules_[m]].action.rate_limit, workers, w);
        if (rte_meter_srtcm_profile_config(&slots[m].profile, &p) != 0 ||
            rte_meter_srtcm_config(&slots[m].meter, &slots[m].profile) != 0) {
          const rules::Rule& rule = list[metered_rules_[m]];
          throw ConfigError(rule.where, "rule " + rule.id,
                            "the rate limiter rejects this rate and burst");
        }
      }
    }
  } catch (...) {
    for (RuleCounter* row : rows_)
      free_aligned(row);
    for (MeterSlot* slots : meters_)
      free_aligned(slots);
    throw;
  }
}

RulePart::~RulePart() {
  for (RuleCounter* row : rows_)
    free_aligned(row);
  for (MeterSlot* slots : meters_) {
    if (slots != nullptr) free_aligned(slots);
  }
}

uint64_t RulePart::worker_rate(std::size_t index, uint32_t worker) const {
  const rules::Rule& rule = rules_->rules().at(index);
  if (rule.action.kind != rules::ActionKind::rate_limit) return 0;
  return share_of(rule.action.rate_limit.rate, workers(), worker);
}

void RulePart::carry_meters(const RulePart& previous) const noexcept {
  if (metered_rules_.empty() || previous.metered_rules_.empty() ||
      previous.workers() != workers()) {
    return;
  }
  std::unordered_map<std::string_view, std::size_t> old_slots;
  const auto& old_rules = previous.rules().rules();
  for (std::size_t m = 0; m < previous.metered_rules_.size(); ++m) {
    old_slots.emplace(old_rules[previous.metered_rules_[m]].id, m);
  }
  const auto& list = rules_->rules();
  for (std::size_t m = 0; m < metered_rules_.size(); ++m) {
    const rules::Rule& rule = list[metered_rules_[m]];
    const auto it = old_slots.find(rule.id);
    if (it == old_slots.end()) continue;
    if (!(old_rules[previous.metered_rules_[it->second]].action.rate_limit ==
          rule.action.rate_limit)) {
      continue;  // a new limit starts with a full bucket, as a new rule does
    }
    for (uint32_t w = 0; w < workers(); ++w) {
      // The owning worker may be updating the old bucket right now: read each word once,
      // atomically; a bucket a few packets stale is harmless.
      const rte_meter_srtcm& from = previous.meters_[w][it->second].meter;
      rte_meter_srtcm& to = meters_[w][m].meter;
      to.time = __atomic_load_n(&from.time, __ATOMIC_RELAXED);
      to.tc = __atomic_load_n(&from.tc, __ATOMIC_RELAXED);
      to.te = __atomic_load_n(&from.te, __ATOMIC_RELAXED);
    }
  }
}

Table::Table(std::shared_ptr<const RulePart> file, std::shared_ptr<const RulePart> runtime,
             TableParams params)
    : parts_{std::move(file), std::move(runtime)},
      forward_to_(std::move(params.forward_to)),
      runtime_at_(std::min(params.runtime_at, parts_[0]->rule_count())),
      generation_(params.generation),
      sets_(std::move(params.sets)) {
  src_sets_ = parts_[0]->uses_src_sets() || parts_[1]->uses_src_sets();
  dst_sets_ = parts_[0]->uses_dst_sets() || parts_[1]->uses_dst_sets();
  lookup_sets_ = sets_ != nullptr && (src_sets_ || dst_sets_);
  const std::vector<uint16_t>& file_windows = parts_[0]->classifier().window_offsets();
  const std::vector<uint16_t>& runtime_windows = parts_[1]->classifier().window_offsets();
  const auto used = [](const std::vector<uint16_t>& slots) {
    return static_cast<std::size_t>(
        std::count_if(slots.begin(), slots.end(), [](uint16_t o) { return o != kNoWindow; }));
  };
  const std::size_t file_used = used(file_windows);
  const std::size_t runtime_used = used(runtime_windows);
  if (file_used + runtime_used > kMaxPayloadWindows) {
    throw ConfigError(SourceLocation{}, "",
                      "the file rules read the payload at " + std::to_string(file_used) +
                          " offset(s) and the runtime rules at " + std::to_string(runtime_used) +
                          "; together at most " + std::to_string(kMaxPayloadWindows) +
                          " are possible");
  }
  if (file_used + runtime_used != 0) {
    windows_.assign(kMaxPayloadWindows, kNoWindow);
    for (std::size_t s = 0; s < file_windows.size(); ++s) {
      if (file_windows[s] != kNoWindow) windows_[s] = file_windows[s];
    }
    for (std::size_t s = 0; s < runtime_windows.size(); ++s) {
      if (runtime_windows[s] != kNoWindow) windows_[s] = runtime_windows[s];
    }
  }
}

std::size_t Table::position(PartKind kind, std::size_t index) const noexcept {
  if (kind == PartKind::runtime) return runtime_at_ + index;
  return index < runtime_at_ ? index : index + runtime().rule_count();
}

TablePublisher::TablePublisher(uint32_t workers) {
  const std::size_t size = rte_rcu_qsbr_get_memsize(workers);
  qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("udpsieve_qsbr", size, RTE_CACHE_LINE_SIZE));
  if (qsbr_ == nullptr) throw std::runtime_error("cannot allocate the RCU state");
  if (rte_rcu_qsbr_init(qsbr_, workers) != 0) {
    rte_free(qsbr_);
    throw std::runtime_error(std::string("rte_rcu_qsbr_init: ") + rte_strerror(rte_errno));
  }
}

TablePublisher::~TablePublisher() {
  clear();
  rte_free(qsbr_);
}

uint64_t TablePublisher::publish(std::unique_ptr<Table> table) {
  current_.store(table.get(), std::memory_order_release);
  std::unique_ptr<Table> previous = std::exchange(owned_, std::move(table));
  const uint64_t token = rte_rcu_qsbr_start(qsbr_);
  if (previous) retired_.push_back({std::move(previous), token});
  return token;
}

bool TablePublisher::quiescent_since(uint64_t token) const noexcept {
  return rte_rcu_qsbr_check(qsbr_, token, false) == 1;
}

std::size_t TablePublisher::reclaim(const RetireFn& on_retire) {
  // Retire in publication order so counters fold oldest first.
  std::size_t done = 0;
  while (done < retired_.size() && rte_rcu_qsbr_check(qsbr_, retired_[done].token, false) == 1) {
    if (on_retire) {
      const Table& successor = done + 1 < retired_.size() ? *retired_[done + 1].table : *owned_;
      on_retire(*retired_[done].table, successor);
    }
    ++done;
  }
  retired_.erase(retired_.begin(), retired_.begin() + static_cast<std::ptrdiff_t>(done));
  return retired_.size();
}

void TablePublisher::clear(const RetireFn& on_retire) noexcept {
  for (std::size_t i = 0; i < retired_.size(); ++i) {
    if (on_retire && owned_) {
      on_retire(*retired_[i].table, i + 1 < retired_.size() ? *retired_[i + 1].table : *owned_);
    }
  }
  retired_.clear();
  current_.store(nullptr, std::memory_order_release);
  owned_.reset();
}

std::vector<const Table*> TablePublisher::retained() const {
  std::vector<const Table*> out;
  for (const Retired& entry : retired_)
    out.push_back(entry.table.get());
  return out;
}

}  // namespace udpsieve::dataplane
