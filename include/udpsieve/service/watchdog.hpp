#pragma once
/// When udpsieved may tell systemd's watchdog that it is alive: only when every worker's
/// heartbeat (loop passes) has advanced since the previous ping. A stuck worker therefore stops
/// the pings and systemd restarts the service, even though the control thread is fine.
///
/// Pure logic (no systemd, no DPDK), so it is unit-tested on its own.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace udpsieve::service {

class WatchdogGate {
 public:
  using Clock = std::chrono::steady_clock;

  /// `interval`: how often to consider a ping (half of systemd's WatchdogSec is customary).
  explicit WatchdogGate(std::chrono::microseconds interval) : interval_(interval) {}

  /// What poll() decided.
  struct Decision {
    bool ping = false;  ///< send WATCHDOG=1 now
    std::optional<std::size_t>
        stalled;  ///< when not pinging: the first worker that did not advance
  };

  /// Called often (each control-loop pass) with every worker's heartbeat. The first call only
  /// records the heartbeats; after that, once per interval, pings when all of them advanced
  /// since the previous decision.
  [[nodiscard]] Decision poll(Clock::time_point now, std::span<const uint64_t> heartbeats) {
    Decision decision;
    if (!started_) {
      started_ = true;
      last_.assign(heartbeats.begin(), heartbeats.end());
      next_ = now + interval_;
      return decision;
    }
    if (now < next_) return decision;
    next_ = now + interval_;
    decision.ping = heartbeats.size() == last_.size();
    for (std::size_t i = 0; i < heartbeats.size() && decision.ping; ++i) {
      if (heartbeats[i] == last_[i]) {
        decision.ping = false;
        decision.stalled = i;
      }
    }
    last_.assign(heartbeats.begin(), heartbeats.end());
    return decision;
  }

 private:
  std::chrono::microseconds interval_;
  bool started_ = false;
  Clock::time_point next_{};
  std::vector<uint64_t> last_;
};

}  // namespace udpsieve::service
