#pragma once
/// udpsieved's side of systemd's notification protocol (sd_notify(3)), for Type=notify units:
///
///   READY=1        once the ports are up and every worker has completed a loop pass
///   RELOADING=1    when a reload starts compiling; READY=1 again when it is applied or refused
///   STOPPING=1     when a stop was requested
///   STATUS=...     a one-line summary (rules, rates, drops/s), refreshed every second
///   WATCHDOG=1     every half WatchdogSec, but only while every worker's heartbeat advances
///
/// Outside systemd (no NOTIFY_SOCKET in the environment) every call does nothing.

#include <chrono>
#include <optional>
#include <string>

#include "udpsieve/service/watchdog.hpp"

namespace udpsieve::control {
struct ControlContext;
}

namespace udpsieve::service {

class Notifier {
 public:
  /// Reads NOTIFY_SOCKET and the watchdog settings (WATCHDOG_USEC, WATCHDOG_PID).
  Notifier();

  /// True under a service manager that listens (NOTIFY_SOCKET is set).
  [[nodiscard]] bool active() const noexcept { return active_; }
  /// The watchdog period systemd asked for, if any.
  [[nodiscard]] std::optional<std::chrono::microseconds> watchdog() const noexcept {
    return watchdog_;
  }

  void reload_started();
  void reload_finished(bool applied);
  void stopping();
  /// Called every control-loop pass: READY=1 once all workers run, then STATUS and WATCHDOG.
  void tick(const control::ControlContext& context);

 private:
  void send(const std::string& message) const;
  [[nodiscard]] static std::string status_line(const control::ControlContext& context);

  bool active_ = false;
  bool ready_ = false;
  bool reloading_ = false;
  std::optional<std::chrono::microseconds> watchdog_;
  std::optional<WatchdogGate> gate_;
  bool stall_reported_ = false;
  std::chrono::steady_clock::time_point next_status_{};
  std::string last_status_;
};

}  // namespace udpsieve::service
