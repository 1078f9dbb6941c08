#pragma once
// Test support: temp dirs, running udpsieved as a child process, reading pcap files.

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

namespace udpsieve::test {

/// The build directory holding udpsieved and udpsievectl.
[[nodiscard]] std::string binary_dir();
/// build/udpsieved and build/udpsievectl.
[[nodiscard]] inline std::string daemon_binary() {
  return binary_dir() + "/udpsieved";
}
[[nodiscard]] inline std::string ctl_binary() {
  return binary_dir() + "/udpsievectl";
}
/// The source tree (for tests/scenarios and config/).
[[nodiscard]] std::string source_dir();
/// True under CI (UDPSIEVE_CI set): tests needing root or hugepages must run, not skip.
[[nodiscard]] bool in_ci();

/// Sets an environment variable for the daemons started while this lives.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};
/// A DPDK --file-prefix unique to this process and `name`.
[[nodiscard]] std::string unique_prefix(const std::string& name);

/// Result of a program run to completion.
struct RunResult {
  int exit_code = -1;  ///< -1 when killed by a signal or timed out
  std::string output;  ///< stdout and stderr interleaved
};

/// Runs `argv` (argv[0] a path) to completion, or kills it after `timeout`.
[[nodiscard]] RunResult run_program(const std::vector<std::string>& argv,
                                    std::chrono::seconds timeout = std::chrono::seconds(60));

/// udpsieved running in the background; killed on destruction if still alive.
class DaemonProcess {
 public:
  /// Starts build/udpsieved with `args` (without argv[0]); output goes to `log_path`.
  DaemonProcess(const std::vector<std::string>& args, std::string log_path);
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  /// Waits until the control socket answers `version`; false when the daemon exited first or
  /// the timeout passed.
  [[nodiscard]] bool wait_ready(const std::string& socket,
                                std::chrono::seconds timeout = std::chrono::seconds(60));
  /// Sends {"cmd": command} and parses the reply; throws on connection failure.
  [[nodiscard]] nlohmann::json request(const std::string& socket, const std::string& command) const;
  /// Polls `stats` until totals.rx_packets reaches `packets`; returns the last reply, or nullopt
  /// on timeout.
  [[nodiscard]] std::optional<nlohmann::json> wait_rx(
      const std::string& socket, uint64_t packets,
      std::chrono::seconds timeout = std::chrono::seconds(60));
  /// Sends `signal` and waits for exit; returns the exit status (-1 if it had to be killed).
  int stop(int signal = 15, std::chrono::seconds timeout = std::chrono::seconds(30));
  /// The exit status if the process has already exited.
  [[nodiscard]] std::optional<int> exited();
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  /// Everything the daemon printed so far.
  [[nodiscard]] std::string log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

/// The frames of a pcap file, in order (libpcap).
[[nodiscard]] std::vector<std::vector<uint8_t>> read_pcap(const std::string& path);
/// Writes frames to a pcap file (Ethernet link type).
void write_pcap(const std::string& path, const std::vector<std::vector<uint8_t>>& frames);

/// Parses the daemon's "final totals: key=N ..." log line into key → N; empty when absent.
[[nodiscard]] std::vector<std::pair<std::string, uint64_t>> final_totals(const std::string& log);
/// The value for `key` in final_totals(); nullopt when absent.
[[nodiscard]] std::optional<uint64_t> final_total(const std::string& log, const std::string& key);

}  // namespace udpsieve::test

/// Skips outside CI when DPDK cannot run (it needs root); CI is root and never skips.
#define REQUIRE_DPDK()                                                   \
  do {                                                                   \
    if (geteuid() != 0 && !udpsieve::test::in_ci()) {                    \
      GTEST_SKIP() << "needs root for DPDK (runs in CI, which is root)"; \
    }                                                                    \
  } while (0)
