#include "udpsieve/control/control_loop.hpp"

#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <thread>

#include "udpsieve/control/socket_server.hpp"
#include "udpsieve/control/stats_aggregator.hpp"
#include "udpsieve/dataplane/snapshot_channel.hpp"
#include "udpsieve/dataplane/table.hpp"
#include "udpsieve/dataplane/worker.hpp"

namespace udpsieve::control {
namespace {
/// How long workers get to finish their burst, flush and publish after a stop request.
constexpr auto kStopGrace = std::chrono::seconds(10);
}  // namespace

ControlLoop::ControlLoop(ControlParts parts, ControlContext context)
    : parts_(parts), context_(context) {}

void ControlLoop::drain() {
  for (std::size_t i = 0; i < parts_.channels.size(); ++i) {
    dataplane::SnapshotChannel& channel = *parts_.channels[i];
    while (dataplane::WorkerSnapshot* snapshot = channel.receive()) {
      parts_.stats.absorb(i, *snapshot);
      channel.release(snapshot);
    }
  }
}

bool ControlLoop::handle_signals() {
  bool stop = false;
  signalfd_siginfo info{};
  while (read(parts_.signal_fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    switch (info.ssi_signo) {
      case SIGTERM:
      case SIGINT:
        spdlog::info("{}: stopping", strsignal(static_cast<int>(info.ssi_signo)));
        stop = true;
        break;
      case SIGHUP:
        spdlog::warn("SIGHUP: rule reload is not available in this version; rules unchanged");
        break;
      default:
        break;
    }
  }
  return stop;
}

bool ControlLoop::run() {
  const auto handler = [this](std::string_view line) { return handle_request(line, context_); };
  const int poll_ms = static_cast<int>(std::clamp(parts_.stats_interval_ms / 4, 1U, 50U));
  for (;;) {
    const bool signalled = parts_.server.poll_once(poll_ms, parts_.signal_fd, handler);
    drain();
    parts_.stats.update_rates(std::chrono::steady_clock::now());
    (void)parts_.tables.reclaim();
    if (signalled && handle_signals()) break;
  }

  parts_.stop_workers.store(true, std::memory_order_relaxed);
  const auto deadline = std::chrono::steady_clock::now() + kStopGrace;
  for (;;) {
    drain();
    const bool stopped = std::all_of(context_.workers.begin(), context_.workers.end(),
                                     [](const auto& w) { return w->finished(); });
    if (stopped && parts_.stats.all_final()) {
      drain();
      return true;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      for (std::size_t i = 0; i < context_.workers.size(); ++i) {
        if (!context_.workers[i]->finished()) {
          spdlog::error("worker on lcore {} did not stop within {} s",
                        context_.workers[i]->setup().lcore, kStopGrace.count());
        }
      }
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace udpsieve::control
