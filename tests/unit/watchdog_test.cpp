// WatchdogGate: a ping only when every worker's heartbeat advanced since the last decision.
#include "udpsieve/service/watchdog.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {

using namespace std::chrono_literals;
using udpsieve::service::WatchdogGate;

struct Step {
  const char* what;
  std::chrono::milliseconds at;  ///< since the first poll
  std::vector<uint64_t> heartbeats;
  bool ping;
  int stalled;  ///< expected stalled worker, -1 for none
};

TEST(WatchdogGate, PingsOnlyWhenEveryWorkerAdvanced) {
  const Step steps[] = {
      {"first poll records", 0ms, {5, 7}, false, -1},
      {"before the interval", 50ms, {9, 9}, false, -1},
      {"both advanced", 100ms, {10, 12}, true, -1},
      {"too soon again (and not recorded)", 150ms, {20, 20}, false, -1},
      {"second worker stuck since the last ping", 200ms, {30, 12}, false, 1},
      {"first worker stuck", 300ms, {30, 25}, false, 0},
      {"both stuck", 400ms, {30, 25}, false, 0},
      {"both advanced again", 500ms, {31, 26}, true, -1},
      {"late poll still judged on progress", 900ms, {40, 30}, true, -1},
  };
  WatchdogGate gate(100ms);
  const auto start = WatchdogGate::Clock::time_point{} + 1h;
  for (const Step& step : steps) {
    const WatchdogGate::Decision decision = gate.poll(start + step.at, step.heartbeats);
    EXPECT_EQ(decision.ping, step.ping) << step.what;
    EXPECT_EQ(decision.stalled.has_value() ? static_cast<int>(*decision.stalled) : -1, step.stalled)
        << step.what;
  }
}

TEST(WatchdogGate, NoWorkersMeansAlive) {
  WatchdogGate gate(10ms);
  const auto start = WatchdogGate::Clock::time_point{} + 1h;
  EXPECT_FALSE(gate.poll(start, {}).ping);
  EXPECT_TRUE(gate.poll(start + 10ms, {}).ping);
}

}  // namespace
