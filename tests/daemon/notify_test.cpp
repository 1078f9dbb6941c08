// systemd's notification protocol against a live daemon: the test listens on a datagram socket
// named by NOTIFY_SOCKET, as systemd would, and checks READY, RELOADING/READY, STATUS,
// STOPPING and the watchdog pings — which must stop while a worker is stalled (a test-only
// hook) and resume when it runs again.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "support/daemon_process.hpp"
#include "udpsieve/cli/client.hpp"

namespace {

using namespace std::chrono_literals;
using udpsieve::test::DaemonProcess;
using udpsieve::test::ScopedEnv;
using udpsieve::test::TempDir;

/// The service manager's end: a bound datagram socket.
class NotifyListener {
 public:
  explicit NotifyListener(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("cannot bind " + path + ": " + std::strerror(errno));
    }
  }
  ~NotifyListener() { close(fd_); }
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  /// The next message, or nullopt after `timeout` without one.
  std::optional<std::string> next(std::chrono::milliseconds timeout) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buffer[4096];
    const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
    if (n < 0) return std::nullopt;
    std::string message(buffer, static_cast<std::size_t>(n));
    seen_ += message + "\n--\n";
    return message;
  }

  /// Waits for a message containing `line` as one of its lines; false after `timeout`.
  bool wait_for(const std::string& line, std::chrono::milliseconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto message = next(200ms);
      if (message && has_line(*message, line)) return true;
    }
    return false;
  }

  static bool has_line(const std::string& message, const std::string& line) {
    return ("\n" + message + "\n").find("\n" + line + "\n") != std::string::npos;
  }
  static bool has_prefix(const std::string& message, const std::string& prefix) {
    return ("\n" + message).find("\n" + prefix) != std::string::npos;
  }
  /// Every message received so far, for failure output.
  [[nodiscard]] const std::string& seen() const noexcept { return seen_; }

 private:
  int fd_ = -1;
  std::string seen_;
};

std::string stall(const std::string& socket, unsigned worker, bool stalled) {
  return udpsieve::cli::request(socket, R"({"cmd": "test_stall_worker", "worker": )" +
                                            std::to_string(worker) + R"(, "stalled": )" +
                                            (stalled ? "true" : "false") + "}");
}

TEST(SystemdNotify, ReadyReloadStatusWatchdogAndStopping) {
  REQUIRE_DPDK();
  TempDir dir;
  NotifyListener listener(dir.file("notify.sock"));
  // Two workers (lcore 2 shares CPU 1), so the watchdog must wait for each of them.
  dir.write("rules.yaml", "rules:\n  - {id: r1, match: {dst_port: 53}, action: drop}\n");
  const std::string config =
      dir.write("config.yaml",
                "eal:\n  lcores: [0, 1, \"2@1\"]\n  hugepages: off\n  memory_mb: 256\n"
                "ports:\n"
                "  - {name: wan, device: net_null0, forward_to: lan}\n"
                "  - {name: lan, device: net_null1, forward_to: wan}\n"
                "pipeline:\n  rules: [rules.yaml]\n"
                "control:\n  stats_interval_ms: 20\n");
  const std::string socket = dir.file("ctl.sock");

  const ScopedEnv notify("NOTIFY_SOCKET", dir.file("notify.sock"));
  const ScopedEnv watchdog("WATCHDOG_USEC", "400000");  // pings every 200 ms
  const ScopedEnv hooks("UDPSIEVE_TEST_HOOKS", "1");
  DaemonProcess daemon({"--config", config, "--file-prefix",
                        udpsieve::test::unique_prefix("notify"), "--socket", socket},
                       dir.file("d.log"));

  // READY=1 comes with a status line, and only once the workers poll: the socket answers
  // and both workers have received packets by then or very soon after.
  std::optional<std::string> ready;
  for (auto deadline = std::chrono::steady_clock::now() + 60s;
       !ready && std::chrono::steady_clock::now() < deadline;) {
    if (auto message = listener.next(200ms);
        message && NotifyListener::has_line(*message, "READY=1")) {
      ready = message;
    }
    ASSERT_FALSE(daemon.exited().has_value()) << daemon.log();
  }
  ASSERT_TRUE(ready) << listener.seen() << daemon.log();
  EXPECT_TRUE(NotifyListener::has_prefix(*ready, "STATUS=1 rules (generation 1), 2 worker(s)"))
      << *ready;
  ASSERT_TRUE(daemon.wait_rx(socket, 1000).has_value()) << daemon.log();

  // Watchdog pings while both workers run; a status line with rates.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(listener.wait_for("WATCHDOG=1")) << listener.seen();
  }
  const auto status_deadline = std::chrono::steady_clock::now() + 30s;
  bool status = false;
  while (!status && std::chrono::steady_clock::now() < status_deadline) {
    const auto message = listener.next(200ms);
    status = message && NotifyListener::has_prefix(*message, "STATUS=") &&
             message->find("Mpps") != std::string::npos;
  }
  EXPECT_TRUE(status) << listener.seen();

  // A reload: RELOADING=1 (with the monotonic time systemd asks for), then READY=1.
  const auto reply = nlohmann::json::parse(
      udpsieve::cli::request(socket, udpsieve::cli::command_request("reload")));
  ASSERT_EQ(reply.value("ok", false), true) << reply.dump();
  std::optional<std::string> reloading;
  while (!reloading) {
    auto message = listener.next(30s);
    ASSERT_TRUE(message) << listener.seen();
    if (NotifyListener::has_line(*message, "RELOADING=1")) reloading = message;
  }
  EXPECT_TRUE(NotifyListener::has_prefix(*reloading, "MONOTONIC_USEC=")) << *reloading;
  ASSERT_TRUE(listener.wait_for("READY=1")) << listener.seen();

  // A stalled worker (the second one) stops the pings, though the other worker and the
  // control thread carry on...
  ASSERT_EQ(nlohmann::json::parse(stall(socket, 1, true)).value("ok", false), true);
  // (a ping decided before the stall may still be in flight: let it arrive)
  for (auto settle = std::chrono::steady_clock::now() + 600ms;
       std::chrono::steady_clock::now() < settle;) {
    (void)listener.next(100ms);
  }
  const auto quiet_until = std::chrono::steady_clock::now() + 2s;  // five ping periods
  while (std::chrono::steady_clock::now() < quiet_until) {
    const auto message = listener.next(100ms);
    ASSERT_FALSE(message && NotifyListener::has_line(*message, "WATCHDOG=1"))
        << "a watchdog ping while a worker is stalled:\n"
        << listener.seen();
  }
  EXPECT_NE(daemon.log().find("withholding systemd's watchdog ping"), std::string::npos)
      << daemon.log();
  EXPECT_TRUE(
      nlohmann::json::parse(udpsieve::cli::request(socket, udpsieve::cli::command_request("stats")))
          .contains("totals"));
  // `workers` shows which one: its heartbeat has not moved for the 2 s above; the other's has.
  const auto workers = nlohmann::json::parse(
      udpsieve::cli::request(socket, udpsieve::cli::command_request("workers")))["workers"];
  EXPECT_GE(workers[1]["heartbeat_age_ms"].get<double>(), 2000.0) << workers;
  EXPECT_LT(workers[0]["heartbeat_age_ms"].get<double>(), 1000.0) << workers;

  // ...and they resume once it runs again.
  ASSERT_EQ(nlohmann::json::parse(stall(socket, 1, false)).value("ok", false), true);
  ASSERT_TRUE(listener.wait_for("WATCHDOG=1")) << listener.seen();

  // SIGTERM: STOPPING=1, then a clean exit.
  ASSERT_EQ(kill(daemon.pid(), SIGTERM), 0);
  ASSERT_TRUE(listener.wait_for("STOPPING=1")) << listener.seen();
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}

TEST(SystemdNotify, OutsideSystemdSilentAndTestHooksOff) {
  REQUIRE_DPDK();
  TempDir dir;
  const std::string config =
      dir.write("config.yaml",
                "eal:\n  lcores: [0, 1]\n  hugepages: off\n  memory_mb: 256\n"
                "ports:\n  - {name: wan, device: net_null0, forward_to: wan}\n");
  const std::string socket = dir.file("ctl.sock");
  DaemonProcess daemon({"--config", config, "--file-prefix",
                        udpsieve::test::unique_prefix("nohooks"), "--socket", socket},
                       dir.file("d.log"));
  ASSERT_TRUE(daemon.wait_ready(socket)) << daemon.log();
  const auto reply = nlohmann::json::parse(stall(socket, 0, true));
  ASSERT_TRUE(reply.contains("error")) << reply.dump();
  EXPECT_NE(reply["error"].get<std::string>().find("unknown command 'test_stall_worker'"),
            std::string::npos);
  EXPECT_TRUE(daemon.wait_rx(socket, 1000).has_value()) << daemon.log();
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();
  // Without NOTIFY_SOCKET nothing of the notification protocol runs.
  EXPECT_EQ(daemon.log().find("systemd notification"), std::string::npos) << daemon.log();
  EXPECT_EQ(daemon.log().find("sd_notify"), std::string::npos) << daemon.log();
}

}  // namespace
