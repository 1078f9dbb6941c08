#include "udpsieve/dataplane/table.hpp"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#include "udpsieve/common/config_error.hpp"
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

Table::Table(std::shared_ptr<const rules::RuleSet> rules, const TableParams& params)
    : rules_(std::move(rules)), forward_to_(params.forward_to), generation_(params.generation) {
  const auto& list = rules_->rules();
  const uint32_t workers = std::max<uint32_t>(params.workers, 1);
  check_rule_limits(list, workers);
  verdicts_.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    const rules::Rule& rule = list[i];
    RuleVerdict verdict;
    verdict.kind = rule.action.kind;
    if (rule.action.kind == rules::ActionKind::forward && rule.action.port >= 0) {
      verdict.out_port = static_cast<uint16_t>(rule.action.port);
    }
    if (rule.action.kind == rules::ActionKind::rate_limit) {
      verdict.count_bytes = rule.action.rate_limit.unit == rules::RateLimit::Unit::bytes;
      verdict.meter = static_cast<uint16_t>(metered_rules_.size());
      metered_rules_.push_back(i);
    }
    verdicts_.push_back(verdict);
  }
  if (metered_rules_.size() >= RuleVerdict::kNoMeter) {
    throw std::runtime_error("more than 65534 rate_limit rules");
  }

  classifier_ = std::make_unique<AclClassifier>(list, params.socket,
                                                "udpsieve_g" + std::to_string(params.generation));

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

Table::~Table() {
  for (RuleCounter* row : rows_)
    free_aligned(row);
  for (MeterSlot* slots : meters_) {
    if (slots != nullptr) free_aligned(slots);
  }
}

uint64_t Table::worker_rate(std::size_t index, uint32_t worker) const {
  const rules::Rule& rule = rules_->rules().at(index);
  if (rule.action.kind != rules::ActionKind::rate_limit) return 0;
  return share_of(rule.action.rate_limit.rate, workers(), worker);
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

void TablePublisher::publish(std::unique_ptr<Table> table) {
  current_.store(table.get(), std::memory_order_release);
  std::unique_ptr<Table> previous = std::exchange(owned_, std::move(table));
  if (previous) retired_.push_back({std::move(previous), rte_rcu_qsbr_start(qsbr_)});
}

std::size_t TablePublisher::reclaim(const std::function<void(const Table&)>& on_retire) {
  // Retire in publication order so counters fold oldest first.
  std::size_t done = 0;
  while (done < retired_.size() && rte_rcu_qsbr_check(qsbr_, retired_[done].token, false) == 1) {
    if (on_retire) on_retire(*retired_[done].table);
    ++done;
  }
  retired_.erase(retired_.begin(), retired_.begin() + static_cast<std::ptrdiff_t>(done));
  return retired_.size();
}

void TablePublisher::clear(const std::function<void(const Table&)>& on_retire) noexcept {
  for (Retired& entry : retired_) {
    if (on_retire) on_retire(*entry.table);
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
