#pragma once
/// The immutable table workers classify against, and its publication with RCU.
///
/// A table joins two compiled rule parts: the file rules (rebuilt by a reload) and the runtime
/// rules (rebuilt by every runtime change), each with its own classifier, verdicts, per-worker
/// counter rows and rate-limit meters. A runtime change therefore builds only a small part and
/// a new table that shares the file part: the file rules' classifier, counters and token
/// buckets stay exactly as they were. The control side publishes a table with one atomic
/// pointer store, and frees a replaced table only after every worker has reported a quiescent
/// state (rte_rcu_qsbr) since the swap. Workers load the pointer once per loop pass.

#include <rte_meter.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "udpsieve/dataplane/acl_classifier.hpp"
#include "udpsieve/dataplane/counters.hpp"
#include "udpsieve/dataplane/set_tables.hpp"
#include "udpsieve/dataplane/source_buckets.hpp"
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
  bool per_source = false;  ///< a bucket per source: source_limits(worker)[meter], not the meter
};

/// One worker's share of a rate limit: its token bucket and profile.
struct alignas(kCacheLine) MeterSlot {
  rte_meter_srtcm_profile profile;
  rte_meter_srtcm meter;
};

/// The file rules or the runtime rules.
enum class PartKind : uint8_t { file = 0, runtime = 1 };
inline constexpr std::size_t kPartKinds = 2;

/// "file" or "runtime".
[[nodiscard]] const char* part_kind_name(PartKind kind) noexcept;

/// Everything needed to build a part (besides the rules).
struct PartParams {
  PartKind kind = PartKind::file;
  uint32_t workers = 1;
  uint64_t generation = 1;  ///< unique among parts and tables: names the classifier
  int socket = 0;           ///< NUMA socket for the classifier
  /// Every port hashes addresses only (rss: ip), so all of a source's packets reach one
  /// worker: each worker applies a per-source limit whole instead of its share.
  bool per_source_whole = false;
  /// Runs between the build's long stages; what it throws abandons the build (a compile
  /// cancelled because the daemon stops).
  std::function<void()> checkpoint;
  /// The previous build's facts (RulePart::facts()): the rules this build shares with it
  /// (unchanged rule files) take their facts from there instead of being walked again.
  std::shared_ptr<const RuleFacts> earlier;
};

/// Rules compiled for the workers: the classifier, each rule's verdict, and per worker one row
/// of rule counters and one set of rate-limit meters. Immutable once built, except for the
/// rows and meters, which each worker writes in its own.
class RulePart {
 public:
  /// Compiles `rules` and lays out counters and meters. Throws ConfigError for a rule the
  /// classifier or rate limiter cannot take, std::runtime_error when DPDK fails.
  RulePart(std::shared_ptr<const rules::RuleSet> rules, const PartParams& params);
  ~RulePart();
  RulePart(const RulePart&) = delete;
  RulePart& operator=(const RulePart&) = delete;

  [[nodiscard]] PartKind kind() const noexcept { return kind_; }
  [[nodiscard]] const rules::RuleSet& rules() const noexcept { return *rules_; }
  [[nodiscard]] const std::shared_ptr<const rules::RuleSet>& rules_ptr() const noexcept {
    return rules_;
  }
  [[nodiscard]] const AclClassifier& classifier() const noexcept { return *classifier_; }
  /// What the build found out about each rule, for the next build (PartParams::earlier).
  [[nodiscard]] const std::shared_ptr<const RuleFacts>& facts() const noexcept { return facts_; }
  [[nodiscard]] uint64_t generation() const noexcept { return generation_; }
  [[nodiscard]] const RuleVerdict* verdicts() const noexcept { return verdicts_.data(); }
  [[nodiscard]] std::size_t rule_count() const noexcept { return verdicts_.size(); }
  /// Each rule's key in the top-talker summaries: the FNV-1a hash of its id.
  [[nodiscard]] const uint64_t* talker_keys() const noexcept { return talker_keys_.data(); }
  [[nodiscard]] uint32_t workers() const noexcept { return static_cast<uint32_t>(rows_.size()); }
  /// The per-rule counter row owned by one worker (written only by that worker).
  [[nodiscard]] RuleCounter* rule_counters(uint32_t worker) const noexcept { return rows_[worker]; }
  /// The rate-limit meters owned by one worker (written only by that worker).
  [[nodiscard]] MeterSlot* meters(uint32_t worker) const noexcept { return meters_[worker]; }
  /// Whether some rule has a per-source limit.
  [[nodiscard]] bool per_source() const noexcept { return per_source_; }
  /// Whether some rule matches on src_set / dst_set (so packets need a set lookup).
  [[nodiscard]] bool uses_src_sets() const noexcept { return uses_src_sets_; }
  [[nodiscard]] bool uses_dst_sets() const noexcept { return uses_dst_sets_; }
  /// One worker's per-source limits by meter slot (meaningful for per-source rules).
  [[nodiscard]] const SourceLimit* source_limits(uint32_t worker) const noexcept {
    return source_limits_[worker].data();
  }
  /// Packets and bytes per second one worker may pass for rule `index` (0 if not rate-limited).
  [[nodiscard]] uint64_t worker_rate(std::size_t index, uint32_t worker) const;

  /// Control side, before this part is published: starts each rate limit whose rule (by id)
  /// had the same limit in `previous` with the token buckets where `previous` has them now,
  /// so a rebuild does not hand every limited rule a full burst. `previous` may still be in
  /// use; its buckets are read with relaxed atomic loads. (Const: the meters are the workers'
  /// state, not the part's; nobody uses them before publication.)
  void carry_meters(const RulePart& previous) const noexcept;

 private:
  PartKind kind_;
  std::shared_ptr<const rules::RuleSet> rules_;
  std::shared_ptr<const RuleFacts> facts_;
  std::unique_ptr<AclClassifier> classifier_;
  std::vector<RuleVerdict> verdicts_;
  std::vector<uint64_t> talker_keys_;       // parallel to verdicts_; read only for sampled packets
  std::vector<RuleCounter*> rows_;          // one cache-line-aligned allocation per worker
  std::vector<MeterSlot*> meters_;          // one allocation per worker (null without rate limits)
  std::vector<std::size_t> metered_rules_;  // rule index of each meter slot
  std::vector<std::vector<SourceLimit>> source_limits_;  // per worker, by meter slot
  bool per_source_ = false;
  bool uses_src_sets_ = false;
  bool uses_dst_sets_ = false;
  uint64_t generation_;
};

/// What a table adds to its parts.
struct TableParams {
  std::vector<uint16_t> forward_to;  ///< output port index per input port index
  std::size_t runtime_at = 0;        ///< file rules before the runtime rules (pipeline `dynamic`)
  uint64_t generation = 1;
  /// The prefix sets' lookup tables (null without sets); shared by the tables that follow
  /// until a reload builds new ones.
  std::shared_ptr<SetTables> sets;
};

/// A rule match as the worker carries it: 0 for none, else the rule's index in its part + 1,
/// with bit 31 set for the runtime part.
inline constexpr uint32_t kRuntimeHit = 1U << 31;

class Table {
 public:
  /// Joins `file` and `runtime` (either may hold no rules; neither may be null). Throws
  /// ConfigError when together they use more payload offsets than a key holds.
  Table(std::shared_ptr<const RulePart> file, std::shared_ptr<const RulePart> runtime,
        TableParams params);

  [[nodiscard]] const RulePart& file() const noexcept { return *parts_[0]; }
  [[nodiscard]] const RulePart& runtime() const noexcept { return *parts_[1]; }
  [[nodiscard]] const RulePart& part(PartKind kind) const noexcept {
    return *parts_[static_cast<std::size_t>(kind)];
  }
  [[nodiscard]] const std::shared_ptr<const RulePart>& part_ptr(PartKind kind) const noexcept {
    return parts_[static_cast<std::size_t>(kind)];
  }
  /// The pipeline defaults (default_action, non_udp) come with the file rules.
  [[nodiscard]] const rules::RuleSet& defaults() const noexcept { return file().rules(); }
  [[nodiscard]] uint64_t generation() const noexcept { return generation_; }
  [[nodiscard]] uint16_t forward_to(uint16_t in_port) const noexcept {
    return forward_to_[in_port];
  }
  [[nodiscard]] std::size_t runtime_at() const noexcept { return runtime_at_; }
  /// Rules of both parts.
  [[nodiscard]] std::size_t rule_count() const noexcept {
    return file().rule_count() + runtime().rule_count();
  }
  /// The payload offset of each key window slot (kNoWindow for unused slots); empty when no
  /// rule reads the payload.
  [[nodiscard]] const std::vector<uint16_t>& windows() const noexcept { return windows_; }
  /// The set tables, when some rule matches on a set (null otherwise: no lookup).
  [[nodiscard]] const SetTables* sets() const noexcept {
    return lookup_sets_ ? sets_.get() : nullptr;
  }
  [[nodiscard]] const std::shared_ptr<SetTables>& sets_ptr() const noexcept { return sets_; }
  /// Whether a lookup of `family` reads the AclKey's fields besides its payload windows
  /// (AclClassifier::reads_key_fields of either part).
  [[nodiscard]] bool reads_key_fields(rules::Family family) const noexcept {
    return file().classifier().reads_key_fields(family) ||
           runtime().classifier().reads_key_fields(family);
  }
  [[nodiscard]] bool src_sets() const noexcept { return src_sets_; }
  [[nodiscard]] bool dst_sets() const noexcept { return dst_sets_; }

  /// The first-match winner of a packet's two lookups (each 0 or index + 1): the runtime
  /// match when it exists and no file rule before the runtime rules matched.
  [[nodiscard]] uint32_t pick(uint32_t file_hit, uint32_t runtime_hit) const noexcept {
    if (runtime_hit != 0 && (file_hit == 0 || file_hit > runtime_at_)) {
      return runtime_hit | kRuntimeHit;
    }
    return file_hit;
  }
  /// The position of a rule in first-match order over both parts.
  [[nodiscard]] std::size_t position(PartKind kind, std::size_t index) const noexcept;

 private:
  std::array<std::shared_ptr<const RulePart>, kPartKinds> parts_;
  std::vector<uint16_t> forward_to_;
  std::size_t runtime_at_;
  std::vector<uint16_t> windows_;
  uint64_t generation_;
  std::shared_ptr<SetTables> sets_;
  bool src_sets_ = false;  // some rule matches on src_set
  bool dst_sets_ = false;
  bool lookup_sets_ = false;
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
  /// Returns the RCU token after which every worker uses `table`.
  uint64_t publish(std::unique_ptr<Table> table);
  /// Control side, non-blocking: whether every worker reported a quiescent state after the
  /// publication that returned `token` (so none still uses an older table).
  [[nodiscard]] bool quiescent_since(uint64_t token) const noexcept;
  /// Called for each retired table with the table that replaced it (a retained one or the
  /// current one): a part the successor does not share is retired with it.
  using RetireFn = std::function<void(const Table& retired, const Table& successor)>;
  /// Control side, non-blocking: frees replaced tables every worker has moved past, calling
  /// `on_retire` on each first (to fold its final counters). Returns how many still wait.
  std::size_t reclaim(const RetireFn& on_retire = {});
  /// Control side, after the workers stopped: retires every replaced table (calling
  /// `on_retire`) and frees everything.
  void clear(const RetireFn& on_retire = {}) noexcept;
  /// Tables replaced but not yet reclaimed, oldest first.
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
