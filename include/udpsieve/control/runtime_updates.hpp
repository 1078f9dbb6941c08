#pragma once
/// Runtime rule changes on the control thread: requests are checked and applied to the desired
/// set at once (a bad one is refused without waiting), then built into a new runtime rule part
/// on a helper thread — every change that arrived meanwhile coalesces into one build — saved to
/// the state file (source api), published with the file rules' part unchanged, and answered
/// once every worker has moved past the swap: a reply means "in effect".

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "udpsieve/control/compile_jobs.hpp"
#include "udpsieve/control/request.hpp"
#include "udpsieve/control/runtime_rules.hpp"
#include "udpsieve/control/socket_server.hpp"
#include "udpsieve/control/state_file.hpp"

namespace udpsieve::dataplane {
class RulePart;
class TablePublisher;
}  // namespace udpsieve::dataplane

namespace udpsieve::control {

/// Counters of runtime changes since start (`stats` → dynamic).
struct RuntimeCounters {
  uint64_t adds = 0;
  uint64_t replaces = 0;
  uint64_t deletes = 0;
  uint64_t expiries = 0;
  uint64_t syncs = 0;
  uint64_t refusals = 0;
  uint64_t builds = 0;
  std::chrono::microseconds last_apply{0};  ///< last request: received → reply (in effect)
  std::chrono::microseconds last_build{0};  ///< last build of the runtime part
};

class RuntimeUpdates {
 public:
  /// A table made current: the RCU token after which every worker uses it, and its generation
  /// (what `rules` reports).
  struct Publication {
    uint64_t token = 0;
    uint64_t generation = 0;
  };
  /// What the control loop lends: the publisher, the runtime builder, and the step that makes
  /// a built part current (joins it with the file part, publishes, updates counters and
  /// captures); it throws ConfigError when the part cannot join the file part.
  struct Env {
    dataplane::TablePublisher& tables;
    CompileJobs& builder;
    SocketServer& server;
    std::function<Publication(std::shared_ptr<const dataplane::RulePart>)> publish;
    /// The file rules in effect (ids must not clash) and the payload offsets they read.
    std::function<const rules::RuleSet&()> file_rules;
    std::function<std::size_t()> file_windows;
    /// Allocates the generation a new part is built with.
    std::function<uint64_t()> next_generation;
  };
  struct Settings {
    std::vector<std::string> port_names;
    uint32_t workers = 1;
    std::size_t max_rules = 100'000;
    std::string state_path;                ///< empty: nothing is persisted
    std::vector<std::string> set_slots{};  ///< the prefix set in each slot (config.sets)
  };

  explicit RuntimeUpdates(Settings settings);

  /// Start-up, before the first table: reads the state file and returns the api rules it
  /// holds that are still valid (expired ones dropped; each rule that no longer fits the
  /// configuration or clashes with `file_rules` is logged, left out, and the file kept aside).
  /// A file that does not parse is moved aside; the error shows in stats.
  [[nodiscard]] std::vector<rules::Rule> restore(const rules::RuleSet& file_rules,
                                                 std::size_t file_windows,
                                                 WallClock::time_point now);
  /// Start-up, when the restored rules cannot be compiled together: forgets them, keeps the
  /// state file aside (PATH.rejected-TIMESTAMP) and shows `why` in stats.
  void drop_restored(const std::string& why, WallClock::time_point now);
  /// Connects the loop's parts (after the first table is published).
  void attach(Env env);

  /// rule-add / rule-del / rule-sync: an immediate error line, or nullopt when the reply
  /// comes later through `server`.
  [[nodiscard]] std::optional<std::string> handle(const Request& request,
                                                  SocketServer::ClientId client);
  /// Once per control-loop pass: expiries, builds, publication, replies.
  void poll(SocketServer& server);
  /// Something is in flight (the loop then polls faster).
  [[nodiscard]] bool busy() const noexcept;
  /// Fails every request still waiting (the daemon is stopping).
  void abandon(SocketServer& server, const std::string& line);

  /// The runtime rules in effect (those of the current table's runtime part).
  [[nodiscard]] const RuntimeRuleSet& published() const noexcept { return *published_; }
  /// The runtime rules including changes not yet in effect (a reload checks these).
  [[nodiscard]] const RuntimeRuleSet& desired() const noexcept { return desired_; }
  [[nodiscard]] const RuntimeCounters& counters() const noexcept { return counters_; }
  /// `stats` → dynamic.
  [[nodiscard]] nlohmann::json stats_json() const;
  /// Logs an id's final count once the last part holding it retired (book callback).
  void on_gone(const std::string& id, uint64_t packets, uint64_t bytes);
  /// Logs the final counts still summed up for the current second (at shutdown).
  void flush_log() { flush_gone(std::chrono::steady_clock::time_point::max()); }
  [[nodiscard]] std::size_t max_rules() const noexcept { return settings_.max_rules; }
  /// A reload may change pipeline.dynamic_max_rules.
  void set_max_rules(std::size_t max) noexcept { settings_.max_rules = max; }
  /// After a reload: the sets rules may name now.
  void set_set_slots(std::vector<std::string> slots) { settings_.set_slots = std::move(slots); }

 private:
  struct Pending {
    std::optional<SocketServer::ClientId> client;  ///< none for expiries
    std::string command;
    RuntimeChange change;
    ChangeResult result;
    WallClock::time_point at;                        ///< when it was applied (ttl base)
    std::chrono::steady_clock::time_point received;  ///< for the apply latency
  };
  struct Waiting {
    Pending pending;
    uint64_t token = 0;
    uint64_t generation = 0;
  };

  [[nodiscard]] ChangeLimits limits() const;
  void expire(WallClock::time_point now);
  void start_build();
  /// Takes a finished build; true when it was published.
  bool finish_build(SocketServer& server);
  /// The batch could not be applied: refuse it (or retry its changes one by one) and rebuild
  /// the desired set from what is in effect.
  void fail_batch(SocketServer& server, const std::string& error);
  /// Reapplies the queued changes to `desired_` (after it was reset); refuses those that no
  /// longer apply.
  void replay_queue(SocketServer& server);
  void refuse(SocketServer& server, const Pending& pending, const std::string& error);
  /// The reply to a change now in effect (and its log line).
  std::string reply_line(const Waiting& waiting);
  /// Copies the state file to PATH.rejected-TIMESTAMP and records `why` for stats.
  void keep_aside(const std::string& why, WallClock::time_point now);
  void reply(SocketServer& server, const Waiting& waiting);
  /// The rules of the persisted source, as the state file keeps them.
  [[nodiscard]] static std::vector<PersistedRule> saved_rules(
      const RuntimeRuleSet& set, const std::vector<std::string>& ports);

  Settings settings_;
  std::optional<Env> env_;
  RuntimeRuleSet desired_;  // published_ + every accepted change
  // What the current table holds, and what the running build makes (shared with the builder,
  // which turns it into a rule part and the state file off the control thread).
  std::shared_ptr<const RuntimeRuleSet> published_ = std::make_shared<const RuntimeRuleSet>();
  std::shared_ptr<const RuntimeRuleSet> building_set_;
  std::deque<Pending> queued_;     // accepted, not yet in a build
  std::vector<Pending> building_;  // in the running build
  std::vector<Waiting> waiting_;   // published, waiting for the workers
  /// After a failed batch: build one change at a time until these many have gone through,
  /// so each is answered for itself.
  std::size_t one_by_one_ = 0;
  std::chrono::steady_clock::time_point build_started_{};
  std::chrono::steady_clock::time_point next_expiry_check_{};
  std::unordered_map<std::string, std::string> gone_reason_;  // id → "expired" / "deleted"
  /// Logs the sum of the final counts not logged one by one, once a second.
  void flush_gone(std::chrono::steady_clock::time_point now);
  struct GoneSum {
    uint64_t rules = 0;
    uint64_t packets = 0;
    uint64_t bytes = 0;
  };
  GoneSum gone_quiet_;
  uint64_t gone_logged_ = 0;
  std::chrono::steady_clock::time_point gone_window_end_{};
  RuntimeCounters counters_;
  std::string state_error_;  ///< the state file's last problem (shown in stats)
  std::string state_note_;   ///< where a bad state file was moved
};

}  // namespace udpsieve::control
