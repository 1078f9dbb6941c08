#pragma once
/// The control thread's loop: serve the socket, drain the workers' snapshot rings, reclaim
/// replaced tables, react to signals, and stop the workers cleanly.

#include <atomic>
#include <memory>
#include <vector>

#include "udpsieve/control/commands.hpp"

namespace udpsieve::dataplane {
class SnapshotChannel;
}

namespace udpsieve::control {

class SocketServer;

/// What the loop drives; all owned by the daemon.
struct ControlParts {
  SocketServer& server;
  int signal_fd;  ///< signalfd for SIGTERM, SIGINT, SIGHUP
  std::vector<std::unique_ptr<dataplane::SnapshotChannel>>& channels;
  StatsAggregator& stats;
  dataplane::TablePublisher& tables;
  std::atomic<bool>& stop_workers;
  unsigned stats_interval_ms;
};

class ControlLoop {
 public:
  ControlLoop(ControlParts parts, ControlContext context);

  /// Runs until SIGTERM or SIGINT. Then sets the stop flag and keeps draining until every
  /// worker has published its final snapshot. Returns false when a worker failed to stop
  /// within the grace period.
  [[nodiscard]] bool run();

  /// Takes every pending snapshot from every worker's ring.
  void drain();

 private:
  /// Reads pending signals; returns true when a stop was requested.
  bool handle_signals();

  ControlParts parts_;
  ControlContext context_;
};

}  // namespace udpsieve::control
