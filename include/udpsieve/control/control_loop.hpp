#pragma once
/// The control thread's loop: serve the socket, drain the workers' snapshot rings, run rule
/// reloads and checks off the datapath, publish new tables, reclaim replaced ones (folding
/// their counters), react to signals, and stop the workers cleanly.

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "udpsieve/control/commands.hpp"
#include "udpsieve/control/compile_jobs.hpp"
#include "udpsieve/control/rates.hpp"
#include "udpsieve/control/rule_counters.hpp"
#include "udpsieve/control/runtime_updates.hpp"
#include "udpsieve/control/set_updates.hpp"
#include "udpsieve/control/socket_server.hpp"
#include "udpsieve/control/talkers.hpp"
#include "udpsieve/dataplane/table.hpp"

namespace udpsieve::dataplane {
class CaptureTap;
class RulePart;
class SnapshotChannel;
}  // namespace udpsieve::dataplane

namespace udpsieve::control {
class FlowSteering;
}

namespace udpsieve::control {

/// What the loop drives; all owned by the daemon.
struct ControlParts {
  SocketServer& server;
  int signal_fd;  ///< signalfd for SIGTERM, SIGINT, SIGHUP
  std::vector<std::unique_ptr<dataplane::SnapshotChannel>>& channels;
  StatsAggregator& stats;
  dataplane::TablePublisher& tables;
  std::atomic<bool>& stop_workers;
  CompileJobs& jobs;          ///< reloads and checks
  CompileJobs& runtime_jobs;  ///< runtime rule builds
  RuntimeUpdates& runtime;
  SetUpdates& sets;  ///< runtime changes to the prefix sets
  const dataplane::PortSet& ports;
  const dataplane::MempoolSet& pools;
  const std::vector<std::unique_ptr<dataplane::Worker>>& workers;
  unsigned stats_interval_ms;
  /// Called after a reload is applied with the configuration now in effect.
  std::function<void(const config::LoadedConfig&)> on_applied;
  /// Called when a reload starts compiling, and when it ends (applied or refused): the
  /// service layer tells systemd RELOADING=1 ... READY=1. Optional.
  std::function<void()> on_reload_started;
  std::function<void(bool applied)> on_reload_finished;
  /// Called once per loop pass (at least every stats_interval_ms / 4, at most 50 ms apart)
  /// after the snapshots are drained: the service layer's periodic work (watchdog, status,
  /// the metrics listener). Must not block. Optional.
  std::function<void(const ControlContext&)> on_tick;
  /// Called once a stop was requested (SIGTERM, SIGINT), before the workers are told to stop.
  std::function<void()> on_stopping;
  /// Offer the test-only command `test_stall_worker` (set from UDPSIEVE_TEST_HOOKS=1).
  bool test_hooks = false;
  /// The workers' verdict capture tap (the `capture` command); none when null.
  dataplane::CaptureTap* tap = nullptr;
  /// The NICs' flow rules, kept in step with every published table; none when null.
  FlowSteering* steering = nullptr;
};

class ControlLoop {
 public:
  /// The current table must already be published; `config` is the one it came from (its
  /// runtime part holds parts.runtime's published rules).
  ControlLoop(ControlParts parts, std::shared_ptr<const config::LoadedConfig> config);
  ~ControlLoop();
  ControlLoop(const ControlLoop&) = delete;
  ControlLoop& operator=(const ControlLoop&) = delete;

  /// Runs until SIGTERM or SIGINT. Then sets the stop flag and keeps draining until every
  /// worker has published its final snapshot. Returns false when a worker failed to stop
  /// within the grace period.
  [[nodiscard]] bool run();

  /// Takes every pending snapshot from every worker's ring.
  void drain();
  /// After the workers stopped: folds every table's counters (for the final report).
  void finish();
  [[nodiscard]] const RuleCounterBook& rule_counters(std::size_t part) const noexcept {
    return books_.at(part);
  }

 private:
  /// Reads pending signals; returns true when a stop was requested.
  bool handle_signals();
  std::optional<std::string> handle(std::string_view line, SocketServer::ClientId client);
  /// {"cmd": "test_stall_worker", "worker": N, "stalled": true|false} (test hook).
  std::string stall_worker(const Request& request);
  [[nodiscard]] ControlContext context() const;
  void request_reload(std::optional<SocketServer::ClientId> client, const std::string& source);
  void start_next_job();
  void finish_job(JobRequest request, CompileOutcome outcome);
  /// Refuses a reload whose file rules clash with the runtime rules; else publishes it.
  [[nodiscard]] std::optional<std::string> apply_reload(CompileOutcome& outcome);
  /// Whether the running sets hold everything their files listed (no set-del or set-flush
  /// took out a file's prefix) and the tables hold every change: only then may a reload that
  /// finds the set files unchanged keep them.
  [[nodiscard]] bool running_sets_hold_their_files() const;
  /// Whether the running sets still stand for the set files a reload that kept them vouched
  /// for (running_sets_hold_their_files, still, after the reload was built).
  [[nodiscard]] bool running_sets_stand_for(const config::LoadedConfig& kept) const;
  /// Joins `file` and `runtime` into a table for `config`, publishes it, and returns the RCU
  /// token after which every worker uses it. Throws ConfigError when the parts do not fit
  /// together (nothing is published then).
  uint64_t publish(std::shared_ptr<const dataplane::RulePart> file,
                   std::shared_ptr<const dataplane::RulePart> runtime,
                   const config::LoadedConfig& config, std::string_view cause,
                   std::shared_ptr<dataplane::SetTables> sets);
  /// Points the set updates at the configuration in effect and its tables.
  void attach_sets();
  /// Frees the graveyard on the reaper thread once the previous batch is gone.
  void reap();
  /// Folds the parts a retired table does not share with its successor.
  void retire(const dataplane::Table& retired, const dataplane::Table& successor);
  /// Once large rule parts were freed and none for kTrimQuiet: returns the heap's free memory
  /// to the kernel.
  void give_back_memory(std::chrono::steady_clock::time_point now);
  /// Notes which workers' heartbeats moved since the last pass, and when.
  void watch_heartbeats();
  /// Fails every request still waiting for a compile (the daemon is stopping).
  void abandon_waiters();
  /// {"cmd": "capture", ...}: validates, arms the tap, and answers later (nullopt) or now.
  std::optional<std::string> start_capture(const Request& request, SocketServer::ClientId client);
  /// Drains the tap; answers and disarms once the capture has its count or its time is up.
  void service_capture();
  /// After a new table: points a rule capture at the rule's index in it; `cause` says what
  /// removed the rule when it is gone.
  void retarget_capture(std::string_view cause);
  void finish_capture(const std::string& note);

  ControlParts parts_;
  std::shared_ptr<const config::LoadedConfig> config_;
  /// Large things no longer used (replaced prefix set tables, a replaced configuration with its
  /// set model): freed on a thread of their own, since freeing gigabytes would stall the loop.
  std::vector<std::shared_ptr<const void>> graveyard_;
  std::thread reaper_;
  std::atomic<bool> reaper_done_{true};
  std::array<RuleCounterBook, dataplane::kPartKinds> books_{RuleCounterBook(0), RuleCounterBook(1)};
  RateBook rates_;
  TalkerBook talkers_;
  ReloadStatus reloads_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point next_flow_query_{};
  std::vector<uint64_t> heartbeats_;  // per worker, as last seen
  std::vector<std::chrono::steady_clock::time_point> heartbeat_moved_;
  /// Rules of the parts retired since the heap was last trimmed (give_back_memory), and when
  /// the last of them was retired.
  std::size_t retired_rules_ = 0;
  std::chrono::steady_clock::time_point last_retired_{};
  static constexpr std::size_t kTrimAfterRules = 20000;
  /// How long after the last retirement the heap is trimmed: reloads that follow each other
  /// sooner reuse the freed pages instead of faulting fresh ones in.
  static constexpr std::chrono::seconds kTrimQuiet{3};
  static constexpr std::size_t kKeptAfterTrim = std::size_t{64} << 20;
  uint64_t next_generation_;       // tables: 1 at start, one more per publication
  uint64_t next_part_generation_;  // rule parts: unique across both kinds (captures rely on it)

  struct PendingCheck {
    SocketServer::ClientId client;
    std::vector<CheckFile> files;
  };
  bool reload_wanted_ = false;
  /// The next reload runs again for the waiters of one that could not keep the sets.
  bool reload_again_ = false;
  std::string reload_source_;
  std::vector<SocketServer::ClientId> reload_waiters_;   // for the next reload
  std::vector<SocketServer::ClientId> running_waiters_;  // for the reload running now
  std::chrono::steady_clock::time_point reload_started_{};
  std::deque<PendingCheck> checks_;
  std::optional<SocketServer::ClientId> running_check_;

  struct CaptureSession;
  std::unique_ptr<CaptureSession> capture_;
};

}  // namespace udpsieve::control
