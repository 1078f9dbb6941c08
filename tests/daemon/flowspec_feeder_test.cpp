// udpsieve-flowspec against a live daemon, fed through a pipe the JSON lines ExaBGP 4.2 writes
// (no BGP session here): routes become bgp rules in RFC order and go with their withdraw; a
// rule the daemon refuses is left out and the rest applied; the daemon restarting is survived
// with a re-sync; a feeder that stops leaves the rules (with their time to live) to the next
// one, which takes them over without re-adding them; --withdraw-on-exit takes them out.
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
  Feeder(const std::string& socket, std::string log, std::vector<std::string> extra = {})
      : log_(std::move(log)) {
    std::vector<std::string> args = {udpsieve::test::binary_dir() + "/udpsieve-flowspec",
                                     "--socket", socket};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (std::string& arg : args)
      argv.push_back(arg.data());
    argv.push_back(nullptr);
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
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
      execv(argv[0], argv.data());
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
  /// Waits until the log holds `text`.
  bool wait_log(const std::string& text) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (log().find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
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

  // ExaBGP goes away: the feeder exits cleanly and leaves the rule to its successor.
  EXPECT_EQ(feeder.close_input(), 0) << feeder.log();
  EXPECT_NE(feeder.log().find("stopping (end of input (ExaBGP stopped)): the bgp rules stay in "
                              "the daemon for at most 120 s unless a feeder renews them"),
            std::string::npos)
      << feeder.log();
  EXPECT_EQ(bgp_rules(1).size(), 1U);
}

TEST_F(FlowSpecFeeder, ARestartedFeederTakesTheRulesOverWithoutReaddingThem) {
  json first;
  {
    Feeder feeder(socket_, dir_.file("feeder1.log"), {"--hold", "30"});
    // It asks the peers for their routes (ExaBGP answers "done") before anything else.
    ASSERT_TRUE(
        feeder.wait_log("announce route-refresh ipv4 flow\nannounce route-refresh ipv6 "
                        "flow\n"))
        << feeder.log();
    feeder.send("done");
    feeder.send("done");
    feeder.send(update("announce", {kDns, kNtp}));
    first = bgp_rules(2);
    ASSERT_EQ(first.size(), 2U) << feeder.log();
    // The rules carry the time to live, renewed while the feeder runs.
    for (const json& rule : first) {
      EXPECT_GT(rule["expires_in_s"].get<double>(), 20.0) << rule;
      EXPECT_LE(rule["expires_in_s"].get<double>(), 30.0) << rule;
    }
    EXPECT_EQ(feeder.log().find("skipped a line"), std::string::npos) << feeder.log();
    ASSERT_EQ(feeder.close_input(), 0) << feeder.log();
  }
  const auto adds = [&] {
    return json::parse(udpsieve::cli::request(socket_, R"({"cmd": "stats"})",
                                              std::chrono::seconds(10)))["dynamic"]["adds"];
  };
  const json adds_before = adds();

  Feeder feeder(socket_, dir_.file("feeder2.log"), {"--withdraw-on-exit"});
  // Nothing heard yet: no sync, the rules stay (a sync now would empty them).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(bgp_rules(2).size(), 2U) << feeder.log();
  EXPECT_EQ(feeder.log().find("synced"), std::string::npos) << feeder.log();
  // The peer answers the route refresh: the same routes, the same rules, kept as they were.
  feeder.send(update("announce", {kNtp}));
  feeder.send(update("announce", {kDns}));
  ASSERT_TRUE(feeder.wait_log("synced 2 rule(s) from 2 route(s)")) << feeder.log();
  EXPECT_NE(feeder.log().find("first sync: 2 route(s) heard"), std::string::npos) << feeder.log();
  const json second = bgp_rules(2);
  ASSERT_EQ(second.size(), 2U);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(second[i]["id"], first[i]["id"]);
    EXPECT_EQ(second[i]["added_at"], first[i]["added_at"]) << "kept, not deleted and re-added";
    EXPECT_GT(second[i]["expires_in_s"].get<double>(), 100.0) << "renewed with --hold 120";
  }
  EXPECT_EQ(adds(), adds_before);

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
  EXPECT_TRUE(feeder.wait_log("the daemon refused rule bgp-")) << feeder.log();
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
  EXPECT_TRUE(feeder.wait_log("daemon unreachable")) << feeder.log();
  start_daemon();
  // bgp rules are not saved by the daemon: both come back from the feeder (which logs the sync
  // once the daemon's reply is in, a moment after the rules are).
  EXPECT_EQ(bgp_rules(2).size(), 2U) << feeder.log();
  EXPECT_TRUE(feeder.wait_log("daemon back: synced 2 rule(s) from 2 route(s)")) << feeder.log();

  // A restart with nothing announced meanwhile: the feeder notices (the daemon's run id
  // changed, or it was unreachable) and puts the rules back.
  ASSERT_EQ(daemon_->stop(), 0) << daemon_->log();
  start_daemon();
  EXPECT_EQ(bgp_rules(2).size(), 2U) << feeder.log();
}

}  // namespace
