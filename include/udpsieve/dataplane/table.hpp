#pragma once
/// The immutable table workers classify against, and its publication with RCU.
///
/// The control side builds a Table (compiled classifier, verdicts, routes, per-worker counter
/// rows and rate-limit meters) off the datapath, publishes it with one atomic pointer store,
/// and frees a replaced table only after every worker has reported a quiescent state
/// (rte_rcu_qsbr) since the swap. Workers load the pointer once per loop pass.

#include <rte_meter.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "udpsieve/dataplane/acl_classifier.hpp"
#include "udpsieve/dataplane/counters.hpp"
#include "udpsieve/rules/rule_set.hpp"

struct rte_rcu_qsbr;

namespace udpsieve::dataplane {

/// What a matched rule does, precomputed for the worker.
struct RuleVerdict {
  static constexpr uint16_t kInputsForwardTo = 0xffff;
  static constexpr uint16_t kNoMeter = 0xffff;
  rules::ActionKind kind = rules::ActionKind::forward;
  uint16_t out_port = kInputsForwardTo;  ///< port index, or the input port's forward_to
  uint16_t meter = kNoMeter;             ///< rate-limit meter slot
  bool count_bytes = false;              ///< the meter counts bytes, not packets
};

/// One worker's share of a rate limit: its token bucket and profile.
struct alignas(kCacheLine) MeterSlot {
  rte_meter_srtcm_profile profile;
  rte_meter_srtcm meter;
};

/// Everything needed to build a table (besides the rules).
struct TableParams {
  std::vector<uint16_t> forward_to;  ///< output port index per input port index
  uint32_t workers = 1;
  uint64_t generation = 1;
  int socket = 0;  ///< NUMA socket for the classifier
};

class Table {
 public:
  /// Compiles `rules` and lays out counters and meters. Throws ConfigError for a rule the
  /// classifier or rate limiter cannot take, std::runtime_error when DPDK fails.
  Table(std::shared_ptr<const rules::RuleSet> rules, const TableParams& params);
  ~Table();
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  [[nodiscard]] const rules::RuleSet& rules() const noexcept { return *rules_; }
  [[nodiscard]] const std::shared_ptr<const rules::RuleSet>& rules_ptr() const noexcept {
    return rules_;
  }
  [[nodiscard]] const AclClassifier& classifier() const noexcept { return *classifier_; }
  [[nodiscard]] uint64_t generation() const noexcept { return generation_; }
  [[nodiscard]] const RuleVerdict* verdicts() const noexcept { return verdicts_.data(); }
  [[nodiscard]] uint16_t forward_to(uint16_t in_port) const noexcept {
    return forward_to_[in_port];
  }
  [[nodiscard]] std::size_t rule_count() const noexcept { return verdicts_.size(); }
  [[nodiscard]] uint32_t workers() const noexcept { return static_cast<uint32_t>(rows_.size()); }
  /// The per-rule counter row owned by one worker (written only by that worker).
  [[nodiscard]] RuleCounter* rule_counters(uint32_t worker) const noexcept { return rows_[worker]; }
  /// The rate-limit meters owned by one worker (written only by that worker).
  [[nodiscard]] MeterSlot* meters(uint32_t worker) const noexcept { return meters_[worker]; }
  /// Packets and bytes per second one worker may pass for rule `index` (0 if not rate-limited).
  [[nodiscard]] uint64_t worker_rate(std::size_t index, uint32_t worker) const;

 private:
  std::shared_ptr<const rules::RuleSet> rules_;
  std::unique_ptr<AclClassifier> classifier_;
  std::vector<RuleVerdict> verdicts_;
  std::vector<uint16_t> forward_to_;
  std::vector<RuleCounter*> rows_;          // one cache-line-aligned allocation per worker
  std::vector<MeterSlot*> meters_;          // one allocation per worker (null without rate limits)
  std::vector<std::size_t> metered_rules_;  // rule index of each meter slot
  uint64_t generation_;
};

/// Splits `total` over `parts` as evenly as possible; part i gets the remainder's share first,
/// so the parts sum to `total` exactly.
[[nodiscard]] constexpr uint64_t share_of(uint64_t total, uint32_t parts, uint32_t part) noexcept {
  return total / parts + (part < total % parts ? 1 : 0);
}

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
  /// `on_retire` on each first (to fold its final counters). Returns how many still wait.
  std::size_t reclaim(const std::function<void(const Table&)>& on_retire = {});
  /// Control side, after the workers stopped: retires every replaced table (calling
  /// `on_retire`) and frees everything.
  void clear(const std::function<void(const Table&)>& on_retire = {}) noexcept;
  /// Tables replaced but not yet reclaimed.
  [[nodiscard]] std::vector<const Table*> retained() const;

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
