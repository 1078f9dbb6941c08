// Flow rules on drivers without rte_flow (net_null): `offload: auto` falls back to software
// with the reason shown, `required` refuses a start or a change it cannot honour, isolate is
// refused where the driver cannot isolate, and `udpsievectl steering` says why each rule is
// where it is. (With a driver that has rte_flow, tests/rteflow runs in a VM.)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "support/daemon_process.hpp"

namespace {

using nlohmann::json;
using udpsieve::test::ctl_binary;
using udpsieve::test::daemon_binary;
using udpsieve::test::DaemonProcess;
using udpsieve::test::run_program;
using udpsieve::test::TempDir;

const char* const kRules =
    "rules:\n"
    "  - {id: allow-dns, match: {dst_port: 53}, action: forward}\n"
    "  - {id: drop-dns-flood, match: {dst_port: 53, length: 512-65535}, action: drop}\n"
    "  - {id: drop-ntp, match: {src_port: 123, dst_port: 123}, action: drop}\n"
    "  - {id: drop-after-allow, match: {dst_port: 53-54}, action: drop}\n"
    "steering:\n"
    "  - {id: pin-game, match: {dst_port: 27015}, worker: 1}\n"
    "  - {id: pin-wide, match: {src_port: 1-65534, dst_port: 1-65534}, worker: 1}\n";

class FlowSteeringTest : public testing::Test {
 protected:
  /// Writes config.yaml with `port_keys` on the port and `rules` as rules.yaml.
  std::string write(const std::string& port_keys, const std::string& rules = kRules) {
    dir_.write("rules.yaml", rules);
    return dir_.write(
        "config.yaml",
        "eal: {lcores: [0, 1], hugepages: auto, memory_mb: 256, file_prefix: " + prefix_ +
            "}\n"
            "ports:\n"
            "  - {name: wan, device: net_null0, forward_to: wan" +
            port_keys +
            "}\n"
            "pipeline: {rules: [rules.yaml, dynamic], dynamic_state: " +
            dir_.file("dynamic.json") + "}\ncontrol: {socket: " + socket_ + "}\n");
  }
  void start(const std::string& config) {
    daemon_ = std::make_unique<DaemonProcess>(std::vector<std::string>{"--config", config},
                                              dir_.file("daemon.log"));
    ASSERT_TRUE(daemon_->wait_ready(socket_)) << daemon_->log();
  }
  void TearDown() override {
    if (daemon_ && !daemon_->exited()) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    }
  }
  json steering_rule(const std::string& id) const {
    const json reply = daemon_->request(socket_, "steering");
    for (const json& rule : reply["ports"][0]["rules"]) {
      if (rule["id"] == id) return rule;
    }
    return nullptr;
  }

  TempDir dir_;
  std::string prefix_ = udpsieve::test::unique_prefix("flows");
  std::string socket_ = dir_.file("ctl.sock");
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(FlowSteeringTest, AutoFallsBackToSoftwareSayingWhy) {
  REQUIRE_DPDK();
  start(write(""));
  const json port = daemon_->request(socket_, "steering")["ports"][0];
  EXPECT_EQ(port["name"], "wan");
  EXPECT_EQ(port["offload"], "auto");
  EXPECT_EQ(port["rte_flow"], false);
  EXPECT_EQ(port["rte_flow_reason"], "the driver has no rte_flow");
  // Eligible, but the NIC cannot take it.
  EXPECT_EQ(steering_rule("drop-ntp"), (json{{"id", "drop-ntp"},
                                             {"kind", "drop"},
                                             {"offloaded", false},
                                             {"reason", "the driver has no rte_flow"},
                                             {"hw_packets", nullptr}}));
  // Not eligible, whatever the NIC: the analysis's reasons.
  EXPECT_EQ(steering_rule("drop-dns-flood")["reason"],
            "it matches on length, which NIC flow rules cannot express");
  EXPECT_NE(steering_rule("drop-after-allow")["reason"].get<std::string>().find("allow-dns"),
            std::string::npos)
      << steering_rule("drop-after-allow");
  // Forward rules are not candidates at all; the steering rule is there, not in the NIC.
  EXPECT_TRUE(steering_rule("allow-dns").is_null());
  const json pin = steering_rule("pin-game");
  EXPECT_EQ(pin["kind"], "queue");
  EXPECT_EQ(pin["worker"], 1);
  EXPECT_EQ(pin["offloaded"], false);
  EXPECT_EQ(pin["reason"], "the driver has no rte_flow");
  // A steering rule no NIC can take, whatever the driver.
  EXPECT_EQ(steering_rule("pin-wide")["reason"].get<std::string>().rfind("it needs ", 0), 0U)
      << steering_rule("pin-wide");
  // Rules replies say it too.
  const json rules = daemon_->request(socket_, "rules");
  for (const json& rule : rules["rules"]) {
    EXPECT_EQ(rule["offloaded"], false) << rule;
    EXPECT_TRUE(rule["hw_packets"].is_null()) << rule;
  }
  EXPECT_NE(daemon_->log().find("flow rules: wan: no rte_flow (the driver has no rte_flow)"),
            std::string::npos)
      << daemon_->log();
  // The text form.
  const auto text = run_program({ctl_binary(), "--socket", socket_, "steering"});
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("port wan: offload auto, isolate false, rte_flow no (the driver "
                             "has no rte_flow)"),
            std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("pin-game"), std::string::npos) << text.output;
}

TEST_F(FlowSteeringTest, RequiredRefusesAStartTheNicCannotHonour) {
  REQUIRE_DPDK();
  const auto result =
      run_program({daemon_binary(), "--config", write(", offload: required"), "--socket", socket_});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("port wan (offload: required): rule drop-ntp: the driver has no "
                               "rte_flow"),
            std::string::npos)
      << result.output;
}

TEST_F(FlowSteeringTest, RequiredRefusesRuntimeRulesAndReloadsTheNicCannotHonour) {
  REQUIRE_DPDK();
  // Nothing eligible: the rule matches on length. The daemon starts.
  const std::string rules =
      "rules:\n  - {id: drop-big, match: {src: 198.51.100.0/24, length: 1000-65535}, "
      "action: drop}\n";
  start(write(", offload: required", rules));
  const auto generation = [this] { return daemon_->request(socket_, "rules")["generation"]; };
  EXPECT_EQ(generation(), 1);
  const auto block =
      run_program({ctl_binary(), "--socket", socket_, "block", "203.0.113.0/24", "--id", "b1"});
  EXPECT_EQ(block.exit_code, 1) << block.output;
  EXPECT_EQ(generation(), 1) << "a refused change moved the generation in effect";
  EXPECT_NE(block.output.find("rule-add refused, nothing changed: port wan (offload: required): "
                              "rule b1: the driver has no rte_flow"),
            std::string::npos)
      << block.output;
  EXPECT_EQ(daemon_->request(socket_, "rules")["rules"].size(), 1U);
  // In auto mode the same rule applies (and is enforced in software).
  write("", rules);
  const auto reload = run_program({ctl_binary(), "--socket", socket_, "reload"});
  EXPECT_EQ(reload.exit_code, 0) << reload.output;
  EXPECT_EQ(generation(), 2);
  const auto again =
      run_program({ctl_binary(), "--socket", socket_, "block", "203.0.113.0/24", "--id", "b1"});
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(generation(), 3);
  // Back to required with b1 in place: the reload is refused and auto stays in effect.
  write(", offload: required", rules);
  const auto refused = run_program({ctl_binary(), "--socket", socket_, "reload"});
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(
      refused.output.find("port wan (offload: required): rule b1: the driver has no rte_flow"),
      std::string::npos)
      << refused.output;
  EXPECT_EQ(daemon_->request(socket_, "steering")["ports"][0]["offload"], "auto");
  EXPECT_EQ(daemon_->request(socket_, "rules")["rules"].size(), 2U);
  // Neither the refused reload nor a check moves the generation: it is the table in effect.
  const auto check =
      run_program({ctl_binary(), "--socket", socket_, "check", dir_.file("rules.yaml")});
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_EQ(generation(), 3);
}

TEST_F(FlowSteeringTest, IsolateIsRefusedWhereTheDriverCannot) {
  REQUIRE_DPDK();
  const auto result =
      run_program({daemon_binary(), "--config", write(", isolate: true"), "--socket", socket_});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("isolate: driver net_null cannot run in isolated mode ("),
            std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("set isolate: false"), std::string::npos) << result.output;
}

TEST_F(FlowSteeringTest, OffloadOffLeavesTheNicAlone) {
  REQUIRE_DPDK();
  start(write(", offload: off"));
  EXPECT_EQ(steering_rule("drop-ntp")["reason"], "offload is off on this port");
  EXPECT_EQ(steering_rule("drop-ntp")["offloaded"], false);
}

}  // namespace
