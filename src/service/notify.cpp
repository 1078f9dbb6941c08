#include "udpsieve/service/notify.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "udpsieve/common/human_rate.hpp"
#include "udpsieve/control/commands.hpp"
#include "udpsieve/control/rates.hpp"
#include "udpsieve/dataplane/table.hpp"
#include "udpsieve/dataplane/worker.hpp"

namespace udpsieve::service {
namespace {

constexpr auto kStatusInterval = std::chrono::seconds(1);

/// CLOCK_MONOTONIC in microseconds, as systemd wants it with RELOADING=1.
uint64_t monotonic_usec() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000 + static_cast<uint64_t>(now.tv_nsec) / 1000;
}

}  // namespace

Notifier::Notifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  active_ = socket != nullptr && *socket != '\0';
  uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, is this process.
  if (active_ && sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_ = std::chrono::microseconds(usec);
    gate_.emplace(std::chrono::microseconds(usec / 2));
  }
  if (active_) {
    spdlog::info("systemd notification on {}; watchdog {}", socket,
                 watchdog_ ? std::to_string(watchdog_->count() / 1000) + " ms (pinged every half)"
                           : std::string("off"));
  }
}

void Notifier::send(const std::string& message) const {
  if (!active_) return;
  const int rc = sd_notify(0, message.c_str());
  if (rc < 0) spdlog::warn("sd_notify({}) failed: {}", message, std::strerror(-rc));
}

std::string Notifier::status_line(const control::ControlContext& context) {
  const dataplane::Table* table = context.tables.current();
  const auto pps = [&](control::RateBook::Total which) {
    return human_rate(context.rates.total(which).pps) + "pps";
  };
  return std::to_string(table != nullptr ? table->rule_count() : 0) + " rules (generation " +
         std::to_string(table != nullptr ? table->generation() : 0) + "), " +
         std::to_string(context.workers.size()) + " worker(s); rx " +
         pps(control::RateBook::Total::rx) + ", forwarded " +
         pps(control::RateBook::Total::forwarded) + ", dropped " +
         pps(control::RateBook::Total::dropped);
}

void Notifier::reload_started() {
  if (!ready_) return;  // a reload before READY=1 is part of starting
  reloading_ = true;
  send("RELOADING=1\nSTATUS=reloading rules\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()));
}

void Notifier::reload_finished(bool applied) {
  if (!reloading_) return;
  reloading_ = false;
  last_status_.clear();  // the next tick repeats the status line after this one
  send(std::string("READY=1\nSTATUS=") +
       (applied ? "reload applied" : "reload refused, the previous rules stay in effect"));
}

void Notifier::stopping() {
  send("STOPPING=1\nSTATUS=stopping: flushing and publishing final counters");
}

void Notifier::tick(const control::ControlContext& context) {
  if (!active_) return;
  const auto now = std::chrono::steady_clock::now();
  std::vector<uint64_t> heartbeats;
  heartbeats.reserve(context.workers.size());
  for (const auto& worker : context.workers)
    heartbeats.push_back(worker->heartbeat());

  if (!ready_) {
    // Ports were started before the workers were launched; ready once every worker polls.
    for (uint64_t beats : heartbeats) {
      if (beats == 0) return;
    }
    ready_ = true;
    last_status_ = status_line(context);
    next_status_ = now + kStatusInterval;
    send("READY=1\nSTATUS=" + last_status_);
    if (gate_) (void)gate_->poll(now, heartbeats);
    return;
  }

  if (gate_) {
    const WatchdogGate::Decision decision = gate_->poll(now, heartbeats);
    if (decision.ping) {
      send("WATCHDOG=1");
      if (stall_reported_) spdlog::info("every worker is polling again; watchdog pings resume");
      stall_reported_ = false;
    } else if (decision.stalled && !stall_reported_) {
      stall_reported_ = true;
      spdlog::error(
          "worker on lcore {} has made no progress for {} ms; withholding systemd's "
          "watchdog ping (systemd restarts the service when WatchdogSec passes)",
          context.workers[*decision.stalled]->setup().lcore, watchdog_->count() / 2000);
    }
  }
  if (!reloading_ && now >= next_status_) {
    next_status_ = now + kStatusInterval;
    std::string status = status_line(context);
    if (status != last_status_) {
      last_status_ = std::move(status);
      send("STATUS=" + last_status_);
    }
  }
}

}  // namespace udpsieve::service
