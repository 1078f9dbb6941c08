#pragma once
/// The immutable table workers classify against, and its publication with RCU.
///
/// The control thread builds a Table (rules, verdicts, routes), publishes it with one atomic
/// pointer store, and frees a replaced table only after every worker has reported a quiescent
/// state (rte_rcu_qsbr) since the swap. Workers load the pointer once per loop pass.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "udpsieve/dataplane/counters.hpp"
#include "udpsieve/rules/rule_set.hpp"

struct rte_rcu_qsbr;

namespace udpsieve::dataplane {

/// What a matched rule does, precomputed for the worker.
struct RuleVerdict {
  static constexpr uint16_t kInputsForwardTo = 0xffff;
  bool drop = false;
  uint16_t out_port = kInputsForwardTo;  ///< port index, or the input port's forward_to
};

class Table {
 public:
  /// `forward_to[i]` is the output port index for packets arriving on port index i.
  Table(std::shared_ptr<const rules::RuleSet> rules, std::vector<uint16_t> forward_to,
        uint32_t workers, uint64_t generation);
  ~Table();
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  [[nodiscard]] const rules::RuleSet& rules() const noexcept { return *rules_; }
  [[nodiscard]] const std::shared_ptr<const rules::RuleSet>& rules_ptr() const noexcept {
    return rules_;
  }
  [[nodiscard]] uint64_t generation() const noexcept { return generation_; }
  [[nodiscard]] const RuleVerdict* verdicts() const noexcept { return verdicts_.data(); }
  [[nodiscard]] uint16_t forward_to(uint16_t in_port) const noexcept {
    return forward_to_[in_port];
  }
  [[nodiscard]] std::size_t rule_count() const noexcept { return verdicts_.size(); }
  /// The per-rule counter row owned by one worker (written only by that worker).
  [[nodiscard]] RuleCounter* rule_counters(uint32_t worker) const noexcept { return rows_[worker]; }

 private:
  std::shared_ptr<const rules::RuleSet> rules_;
  std::vector<RuleVerdict> verdicts_;
  std::vector<uint16_t> forward_to_;
  std::vector<RuleCounter*> rows_;  // one cache-line-aligned allocation per worker
  uint64_t generation_;
};

/// Publishes tables to the workers and reclaims replaced ones once it is safe.
class TablePublisher {
 public:
  /// `workers` threads will register with ids 0..workers-1.
  explicit TablePublisher(uint32_t workers);
  ~TablePublisher();
  TablePublisher(const TablePublisher&) = delete;
  TablePublisher& operator=(const TablePublisher&) = delete;

  /// Worker side: the current table (acquire load).
  [[nodiscard]] const Table* current() const noexcept {
    return current_.load(std::memory_order_acquire);
  }
  [[nodiscard]] rte_rcu_qsbr* qsbr() const noexcept { return qsbr_; }

  /// Control side: makes `table` current; the replaced one waits for the workers' quiescence.
  void publish(std::unique_ptr<Table> table);
  /// Control side, non-blocking: frees replaced tables every worker has moved past, calling
  /// `on_retire` on each first (to fold its final counters). Returns how many are still waiting.
  std::size_t reclaim(const std::function<void(const Table&)>& on_retire = {});
  /// Control side, after the workers stopped: frees everything.
  void clear() noexcept;

 private:
  struct Retired {
    std::unique_ptr<Table> table;
    uint64_t token;
  };
  std::atomic<const Table*> current_{nullptr};
  std::unique_ptr<Table> owned_;  // the table `current_` points at
  std::vector<Retired> retired_;
  rte_rcu_qsbr* qsbr_ = nullptr;
};

}  // namespace udpsieve::dataplane
