// udpsieve-flowspec against a live daemon, fed through a pipe the JSON lines ExaBGP 4.2 writes
// (no BGP session here): routes become bgp rules in RFC order and go with their withdraw; a
// rule the daemon refuses is left out and the rest applied; the daemon restarting is survived
// with a re-sync; ExaBGP going away withdraws the rules.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/daemon_process.hpp"
#include "udpsieve/cli/client.hpp"

namespace {

using nlohmann::json;
using udpsieve::test::DaemonProcess;
using udpsieve::test::TempDir;

/// The feeder with a pipe on its stdin; its stderr goes to a file.
class Feeder {
 public:
  Feeder(const std::string& socket, std::string log) : log_(std::move(log)) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    const std::string binary = udpsieve::test::binary_dir() + "/udpsieve-flowspec";
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[0], 0);
      close(fds[0]);
      close(fds[1]);
      const int out = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out, 1);
      dup2(out, 2);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      execl(binary.c_str(), binary.c_str(), "--socket", socket.c_str(), nullptr);
      _exit(127);
    }
    close(fds[0]);
    input_ = fds[1];
  }
  ~Feeder() {
    if (input_ >= 0) close(input_);
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Feeder(const Feeder&) = delete;
  Feeder& operator=(const Feeder&) = delete;

  void send(const std::string& line) {
    const std::string data = line + "\n";
    ASSERT_EQ(write(input_, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }
  /// Closes its input (ExaBGP going away) and returns its exit status.
  int close_input() {
    close(input_);
    input_ = -1;
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  [[nodiscard]] std::string log() const {
    std::ifstream in(log_);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  int input_ = -1;
  bool exited_ = false;
};

std::string update(const std::string& kind, const std::vector<json>& routes,
                   const std::vector<std::string>& communities = {"rate-limit:0"}) {
  json extended = json::array();
  for (const std::string& c : communities)
    extended.push_back({{"value", 0}, {"string", c}});
  json update_body;
  if (kind == "announce") {
    update_body = {{"attribute", {{"origin", "igp"}, {"extended-community", extended}}},
                   {"announce", {{"ipv4 flow", {{"no-nexthop", routes}}}}}};
  } else {
    update_body = {{"withdraw", {{"ipv4 flow", routes}}}};
  }
  return json{{"exabgp", "4.0.1"},
              {"type", "update"},
              {"neighbor",
               {{"address", {{"local", "10.98.0.1"}, {"peer", "10.98.0.2"}}},
                {"message", {{"update", update_body}}}}}}
      .dump();
}

const json kDns = {{"destination-ipv4", {"192.0.2.0/24"}}, {"destination-port", {"=53"}}};
const json kNtp = {{"destination-ipv4", {"198.51.100.0/24"}}, {"source-port", {"=123"}}};
// One byte per second: below what two workers can meter (the daemon refuses it).
const json kTiny = {{"destination-ipv4", {"203.0.113.0/24"}}};

class FlowSpecFeeder : public testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_DPDK();
    dir_.write("rules.yaml",
               "rules:\n  - {id: allow-ntp, match: {src_port: 123}, action: forward}\n");
    config_ = dir_.write("config.yaml",
                         "eal: {lcores: [0, 1, \"2@1\"], memory_mb: 256}\n"
                         "ports:\n  - {name: wan, device: net_null0, forward_to: wan}\n"
                         "pipeline: {rules: [rules.yaml, dynamic], dynamic_state: " +
                             dir_.file("dynamic.json") + "}\n");
    start_daemon();
  }
  void start_daemon() {
    daemon_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"--config", config_, "--file-prefix", prefix_, "--socket",
                                 socket_},
        dir_.file("d.log"));
    ASSERT_TRUE(daemon_->wait_ready(socket_)) << daemon_->log();
  }
  /// The bgp rules in effect: id → {match, action}, once `want` of them are there.
  json bgp_rules(std::size_t want) {
    json rules;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    do {
      rules = json::parse(udpsieve::cli::request_all_rules(
          socket_, {{"cmd", "rules"}, {"source", "bgp"}}, std::chrono::seconds(10)))["rules"];
      if (rules.size() == want) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < deadline);
    return rules;
  }
  void TearDown() override {
    if (daemon_ && !daemon_->exited()) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    }
  }

  TempDir dir_;
  std::string config_;
  std::string socket_ = dir_.file("ctl.sock");
  std::string prefix_ = udpsieve::test::unique_prefix("feeder");
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(FlowSpecFeeder, RoutesBecomeRulesAndGoWithTheirWithdraw) {
  Feeder feeder(socket_, dir_.file("feeder.log"));
  feeder.send(update("announce", {kNtp, kDns}));
  json rules = bgp_rules(2);
  ASSERT_EQ(rules.size(), 2U) << feeder.log();
  // RFC order: 192.0.2.0/24 before 198.51.100.0/24, whatever the order announced.
  EXPECT_EQ(rules[0]["match"]["dst"], json::array({"192.0.2.0/24"})) << rules;
  EXPECT_EQ(rules[0]["match"]["dst_port"], json::array({"53"})) << rules;
  EXPECT_EQ(rules[1]["match"]["src_port"], json::array({"123"})) << rules;
  EXPECT_EQ(rules[0]["action"], "drop");
  // They sit at `dynamic`: after the file rule allow-ntp.
  EXPECT_EQ(rules[0]["index"], 1);

  feeder.send("this is not JSON");
  feeder.send(update("withdraw", {kNtp}));
  rules = bgp_rules(1);
  ASSERT_EQ(rules.size(), 1U) << feeder.log();
  EXPECT_EQ(rules[0]["match"]["dst"], json::array({"192.0.2.0/24"}));
  EXPECT_NE(feeder.log().find("skipped a line: not JSON: this is not JSON"), std::string::npos)
      << feeder.log();

  // ExaBGP goes away: the feeder withdraws what it held and exits cleanly.
  EXPECT_EQ(feeder.close_input(), 0) << feeder.log();
  EXPECT_EQ(bgp_rules(0).size(), 0U);
  EXPECT_NE(feeder.log().find("stopping (end of input (ExaBGP stopped)): bgp rules withdrawn"),
            std::string::npos)
      << feeder.log();
}

TEST_F(FlowSpecFeeder, ARuleTheDaemonRefusesIsLeftOutAndTheRestApply) {
  Feeder feeder(socket_, dir_.file("feeder.log"));
  feeder.send(update("announce", {kDns}));
  feeder.send(update("announce", {kTiny}, {"rate-limit:1"}));
  ASSERT_EQ(bgp_rules(1).size(), 1U) << feeder.log();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (feeder.log().find("the daemon refused rule bgp-") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(feeder.log().find("the daemon refused rule bgp-"), std::string::npos) << feeder.log();
  EXPECT_NE(feeder.log().find("rules[1]: rate_limit.bps 8 is split over 2 worker(s)"),
            std::string::npos)
      << feeder.log();
  EXPECT_NE(feeder.log().find("route left out: ipv4 1:203.0.113.0/24"), std::string::npos)
      << feeder.log();
  EXPECT_EQ(bgp_rules(1)[0]["match"]["dst"], json::array({"192.0.2.0/24"}));
}

TEST_F(FlowSpecFeeder, TheDaemonRestartingIsSurvivedWithAResync) {
  Feeder feeder(socket_, dir_.file("feeder.log"));
  feeder.send(update("announce", {kDns}));
  ASSERT_EQ(bgp_rules(1).size(), 1U) << feeder.log();
  ASSERT_EQ(daemon_->stop(), 0) << daemon_->log();
  // While the daemon is away ExaBGP keeps talking, and the feeder keeps listening.
  feeder.send(update("announce", {kNtp}));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (feeder.log().find("daemon unreachable") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(feeder.log().find("daemon unreachable"), std::string::npos) << feeder.log();
  start_daemon();
  // bgp rules are not saved by the daemon: both come back from the feeder.
  EXPECT_EQ(bgp_rules(2).size(), 2U) << feeder.log();
  EXPECT_NE(feeder.log().find("daemon back: synced 2 rule(s) from 2 route(s)"), std::string::npos)
      << feeder.log();
}

}  // namespace
