#include "udpsieve/dataplane/table.hpp"

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <new>
#include <stdexcept>
#include <string>
#include <utility>

namespace udpsieve::dataplane {

Table::Table(std::shared_ptr<const rules::RuleSet> rules, std::vector<uint16_t> forward_to,
             uint32_t workers, uint64_t generation)
    : rules_(std::move(rules)), forward_to_(std::move(forward_to)), generation_(generation) {
  verdicts_.reserve(rules_->rules().size());
  for (const rules::Rule& rule : rules_->rules()) {
    RuleVerdict verdict;
    verdict.drop = rule.action.kind == rules::ActionKind::drop;
    if (rule.action.port >= 0) verdict.out_port = static_cast<uint16_t>(rule.action.port);
    verdicts_.push_back(verdict);
  }
  // One row per worker, each in its own cache lines so workers never share a line.
  const std::size_t entries = verdicts_.empty() ? 1 : verdicts_.size();
  rows_.reserve(workers);
  for (uint32_t w = 0; w < workers; ++w) {
    auto* row = static_cast<RuleCounter*>(
        ::operator new[](entries * sizeof(RuleCounter), std::align_val_t{kCacheLine}));
    for (std::size_t i = 0; i < entries; ++i)
      new (&row[i]) RuleCounter{};
    rows_.push_back(row);
  }
}

Table::~Table() {
  for (RuleCounter* row : rows_)
    ::operator delete[](row, std::align_val_t{kCacheLine});
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
  std::erase_if(retired_, [&](Retired& entry) {
    if (rte_rcu_qsbr_check(qsbr_, entry.token, false) != 1) return false;
    if (on_retire) on_retire(*entry.table);
    return true;
  });
  return retired_.size();
}

void TablePublisher::clear() noexcept {
  retired_.clear();
  current_.store(nullptr, std::memory_order_release);
  owned_.reset();
}

}  // namespace udpsieve::dataplane
