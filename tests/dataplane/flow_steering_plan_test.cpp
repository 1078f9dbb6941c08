// What a table asks of the NICs (FlowSteering::plan): which drop rules become flows on which
// port, at which priority, and where steering rules go. Ports are net_null devices in
// `offload: required` mode, so the plan is made although net_null cannot hold a flow (prepare
// would then refuse it, which the daemon tests check).
#include <gtest/gtest.h>
#include <rte_bus_vdev.h>
#include <rte_ethdev.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "udpsieve/config/config.hpp"
#include "udpsieve/control/flow_steering.hpp"
#include "udpsieve/dataplane/table.hpp"
#include "udpsieve/rules/rule_set.hpp"

namespace udpsieve::control {
namespace {

using dataplane::FlowWish;
using rules::ActionKind;
using rules::Range;
using rules::Rule;

/// Two net_null ports, removed again at the end.
class FlowPlan : public testing::Test {
 protected:
  void SetUp() override {
    std::vector<FlowSteering::Port> ports;
    for (int i = 0; i < 2; ++i) {
      const std::string name =
          "net_null_plan" + std::to_string(i) + "_" + std::to_string(getpid() % 10000);
      ASSERT_EQ(rte_eal_hotplug_add("vdev", name.c_str(), ""), 0);
      uint16_t id = 0;
      ASSERT_EQ(rte_eth_dev_get_port_by_name(name.c_str(), &id), 0);
      names_.push_back(name);
      ids_.push_back(id);
      ports.push_back(
          {i == 0 ? "wan" : "lan", std::make_unique<dataplane::PortFlows>(id, name), false});
      config::PortConfig port;
      port.name = ports.back().name;
      port.offload = config::OffloadMode::required;
      config_.config.ports.push_back(port);
    }
    steering_ = std::make_unique<FlowSteering>(std::move(ports));
  }
  void TearDown() override {
    steering_.reset();
    for (std::size_t i = 0; i < ids_.size(); ++i) {
      EXPECT_EQ(rte_eth_dev_close(ids_[i]), 0);
      EXPECT_EQ(rte_eal_hotplug_remove("vdev", names_[i].c_str()), 0);
    }
  }

  /// The plan of a table holding `file` rules (and no runtime rules).
  FlowSteering::Plan plan(std::vector<Rule> file) {
    static uint64_t generation = 5000;
    const auto part = [&](std::vector<Rule> rules, dataplane::PartKind kind) {
      dataplane::PartParams p;
      p.kind = kind;
      p.workers = 2;
      p.generation = generation++;
      p.socket = 0;
      return std::make_shared<const dataplane::RulePart>(
          std::make_shared<const rules::RuleSet>(std::move(rules), rules::Verdict::forward,
                                                 rules::Verdict::forward),
          p);
    };
    dataplane::TableParams params;
    params.forward_to = {0, 1};
    params.runtime_at = file.size();
    params.generation = generation++;
    const dataplane::Table table(part(std::move(file), dataplane::PartKind::file),
                                 part({}, dataplane::PartKind::runtime), std::move(params));
    return steering_->plan(table, config_);
  }

  void steer(const std::string& id, rules::Match match, unsigned lcore, uint16_t queue) {
    rules::SteeringRule rule;
    rule.id = id;
    rule.match = std::move(match);
    rule.worker = lcore;
    config_.steering.push_back(rule);
    config_.steering_queues.push_back(queue);
  }

  config::LoadedConfig config_;
  std::unique_ptr<FlowSteering> steering_;
  std::vector<std::string> names_;
  std::vector<uint16_t> ids_;
};

Rule rule(const std::string& id, ActionKind kind, rules::Match match = {}) {
  Rule r;
  r.id = id;
  r.action.kind = kind;
  r.match = std::move(match);
  return r;
}

rules::Match dst_port(uint16_t first, uint16_t last) {
  rules::Match m;
  m.dst_port = {Range{first, last}};
  return m;
}

/// "ID/ENTRY:KIND@PRIORITY[>QUEUE]" for each wish of a port.
std::vector<std::string> describe(const std::vector<FlowWish>& wishes) {
  std::vector<std::string> out;
  for (const FlowWish& w : wishes) {
    std::string text = w.id + "/" + std::to_string(w.entry) + ":" +
                       dataplane::flow_kind_name(w.kind) + "@" + std::to_string(w.priority);
    if (w.kind == FlowWish::Kind::queue) text += ">" + std::to_string(w.queue);
    out.push_back(text);
  }
  return out;
}

TEST_F(FlowPlan, DropsOnTheirPortsThenSteeringBelowWhatItOverlaps) {
  rules::Match on_lan = dst_port(123, 123);
  on_lan.in_port = {1};
  rules::Match v4_only = dst_port(9, 9);
  std::string error;
  v4_only.src = {*rules::Prefix::parse("203.0.113.0/24", error)};
  steer("pin-game", dst_port(27015, 27015), 2, 1);  // overlaps no drop: priority 0
  steer("pin-dns", dst_port(53, 53), 1, 0);         // below drop-53
  steer("pin-all", {}, 2, 1);                       // below pin-game, pin-dns and every drop
  const FlowSteering::Plan p =
      plan({rule("allow-80", ActionKind::forward, dst_port(80, 80)),
            rule("drop-53", ActionKind::drop, dst_port(53, 53)),
            rule("drop-ntp-lan", ActionKind::drop, on_lan),
            rule("drop-low", ActionKind::drop, dst_port(1, 100)),  // under drop-53; overlaps 80
            rule("drop-9", ActionKind::drop, v4_only)});
  ASSERT_EQ(p.decision_ids,
            (std::vector<std::string>{"drop-53", "drop-ntp-lan", "drop-low", "drop-9"}));
  EXPECT_FALSE(p.decisions[2].offload);  // allow-80 forwards part of it
  EXPECT_NE(p.decisions[3].reason.find("'drop-low'"), std::string::npos)  // stays in software
      << p.decisions[3].reason;
  EXPECT_EQ(describe(p.wishes[0]),
            (std::vector<std::string>{"drop-53/0:drop@0", "drop-53/1:drop@0",
                                      "pin-game/0:queue@0>1", "pin-game/1:queue@0>1",
                                      "pin-dns/0:queue@1>0", "pin-dns/1:queue@1>0",
                                      "pin-all/0:queue@2>1", "pin-all/1:queue@2>1"}));
  EXPECT_EQ(
      describe(p.wishes[1]),
      (std::vector<std::string>{
          "drop-53/0:drop@0", "drop-53/1:drop@0", "drop-ntp-lan/0:drop@0", "drop-ntp-lan/1:drop@0",
          "pin-game/0:queue@0>1", "pin-game/1:queue@0>1", "pin-dns/0:queue@1>0",
          "pin-dns/1:queue@1>0", "pin-all/0:queue@2>1", "pin-all/1:queue@2>1"}));
  ASSERT_EQ(p.steering.size(), 3U);
  EXPECT_EQ(p.steering[0].lcore, 2U);
  EXPECT_TRUE(p.steering[0].reason.empty());
}

TEST_F(FlowPlan, OffloadOffKeepsDropsOutButSteers) {
  config_.config.ports[0].offload = config::OffloadMode::off;
  steer("pin", dst_port(7000, 7000), 2, 1);
  const FlowSteering::Plan p = plan({rule("drop-53", ActionKind::drop, dst_port(53, 53))});
  EXPECT_EQ(describe(p.wishes[0]),
            (std::vector<std::string>{"pin/0:queue@0>1", "pin/1:queue@0>1"}));
  EXPECT_EQ(describe(p.wishes[1]),
            (std::vector<std::string>{"drop-53/0:drop@0", "drop-53/1:drop@0", "pin/0:queue@0>1",
                                      "pin/1:queue@0>1"}));
}

TEST_F(FlowPlan, NoPortCanTakeDropsSoTheAnalysisIsSkipped) {
  for (config::PortConfig& port : config_.config.ports)
    port.offload = config::OffloadMode::automatic;  // and net_null has no rte_flow
  const FlowSteering::Plan p = plan({rule("drop-53", ActionKind::drop, dst_port(53, 53))});
  EXPECT_TRUE(p.decisions.empty());
  EXPECT_TRUE(p.wishes[0].empty());
}

}  // namespace
}  // namespace udpsieve::control
