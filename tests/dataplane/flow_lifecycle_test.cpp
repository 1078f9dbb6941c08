// The life of flow rules on a port, on a fake driver that records every call: a change creates
// the new flows beside the old ones and destroys the old ones after (or first, where the NIC is
// full); `offload: required` refuses and undoes; COUNT is read, summed per rule, carried when a
// flow is replaced and retried without where the driver refuses it. (tests/rteflow runs the
// same on net_tap in a VM; no driver here counts.)
#include <gtest/gtest.h>
#include <rte_byteorder.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "udpsieve/control/flow_steering.hpp"
#include "udpsieve/dataplane/flow_rules.hpp"

namespace udpsieve::dataplane {
namespace {

using rules::MaskedValue;

/// A NIC: flows are numbered handles; `log` records "create PORT@PRIO[+count]" and
/// "destroy PORT@PRIO".
class FakeDriver final : public FlowDriver {
 public:
  struct Flow {
    uint16_t dst_port = 0;
    uint32_t priority = 0;
    bool counted = false;
    uint64_t hits = 0;
  };
  struct State {
    bool counts = true;                    ///< takes COUNT (validate and create)
    bool count_refused_on_create = false;  ///< validates COUNT, refuses it on create
    std::size_t capacity = 1000;           ///< flows it holds at most
    std::vector<uint16_t> refused_ports;   ///< dst ports it refuses (validate and create)
    std::vector<std::string> log;
    std::map<uintptr_t, Flow> flows;
    uintptr_t next = 1;
  };

  explicit FakeDriver(State& state) : state_(state) {}
  [[nodiscard]] const std::string& name() const override { return name_; }

  int validate(const FlowSpec& spec, rte_flow_error& error) override {
    if (with_count(spec) && !state_.counts) return fail(error, "no count");
    if (refused(spec)) return fail(error, "refused port");
    return 0;
  }
  rte_flow* create(const FlowSpec& spec, rte_flow_error& error, int& rc) override {
    rc = validate(spec, error);
    if (rc == 0 && with_count(spec) && state_.count_refused_on_create) rc = fail(error, "count");
    if (rc == 0 && state_.flows.size() >= state_.capacity) rc = fail(error, "full");
    if (rc != 0) return nullptr;
    const Flow flow{rte_be_to_cpu_16(spec.udp_spec.hdr.dst_port), spec.attr()->priority,
                    with_count(spec)};
    state_.log.push_back("create " + text(flow) + (flow.counted ? "+count" : ""));
    state_.flows[state_.next] = flow;
    return reinterpret_cast<rte_flow*>(state_.next++);
  }
  int destroy(rte_flow* handle, rte_flow_error& error) override {
    const auto it = state_.flows.find(reinterpret_cast<uintptr_t>(handle));
    if (it == state_.flows.end()) return fail(error, "no such flow");
    state_.log.push_back("destroy " + text(it->second));
    state_.flows.erase(it);
    return 0;
  }
  std::optional<uint64_t> query_count(rte_flow* handle) override {
    const auto it = state_.flows.find(reinterpret_cast<uintptr_t>(handle));
    if (it == state_.flows.end() || !it->second.counted) return std::nullopt;
    return it->second.hits;
  }

 private:
  static bool with_count(const FlowSpec& spec) {
    return spec.actions()[0].type == RTE_FLOW_ACTION_TYPE_COUNT;
  }
  [[nodiscard]] bool refused(const FlowSpec& spec) const {
    const uint16_t port = rte_be_to_cpu_16(spec.udp_spec.hdr.dst_port);
    return std::find(state_.refused_ports.begin(), state_.refused_ports.end(), port) !=
           state_.refused_ports.end();
  }
  static int fail(rte_flow_error& error, const char* why) {
    error.message = why;
    return -EINVAL;
  }
  static std::string text(const Flow& flow) {
    return std::to_string(flow.dst_port) + "@" + std::to_string(flow.priority);
  }
  State& state_;
  std::string name_ = "net_fake";
};

/// A drop of UDP to `port` (IPv4), entry 0, at `priority`.
FlowWish drop(const std::string& id, uint16_t port, uint32_t priority = 0) {
  FlowWish wish;
  wish.id = id;
  wish.pattern.family = rules::Family::ipv4;
  wish.pattern.dst_port = MaskedValue{port, 0xffff};
  wish.priority = priority;
  return wish;
}

/// The probe's create and destroy, which every PortFlows starts with, taken off the log.
std::vector<std::string> after_probe(FakeDriver::State& state) {
  std::vector<std::string> log = state.log;
  EXPECT_GE(log.size(), 2U);
  if (log.size() >= 2) log.erase(log.begin(), log.begin() + 2);
  state.log.clear();
  return log;
}

TEST(FlowLifecycle, NewFlowsBesideTheOldThenTheOldGo) {
  FakeDriver::State nic;
  PortFlows flows(std::make_unique<FakeDriver>(nic), "wan");
  ASSERT_TRUE(flows.available());
  (void)after_probe(nic);
  const std::vector<FlowWish> first = {drop("a", 53), drop("b", 123)};
  EXPECT_TRUE(flows.add(first).empty());
  flows.retire(first);
  flows.settle(first);
  EXPECT_EQ(nic.log, (std::vector<std::string>{"create 53@0+count", "create 123@0+count"}));
  nic.log.clear();
  // b moves under a new rule c: b's new flow comes before its old one goes; a stays untouched.
  const std::vector<FlowWish> second = {drop("a", 53), drop("c", 123), drop("b", 123, 1)};
  EXPECT_FALSE(flows.holds_others(first));
  EXPECT_TRUE(flows.add(second).empty());
  EXPECT_TRUE(flows.holds_others(second));
  flows.retire(second);
  flows.settle(second);
  EXPECT_EQ(nic.log, (std::vector<std::string>{"create 123@0+count", "create 123@1+count",
                                               "destroy 123@0"}));
  EXPECT_EQ(nic.flows.size(), 3U);
  flows.destroy_all();
  EXPECT_TRUE(nic.flows.empty());
}

TEST(FlowLifecycle, CountsSumPerRuleAndSurviveAReplacedFlow) {
  FakeDriver::State nic;
  PortFlows flows(std::make_unique<FakeDriver>(nic), "wan");
  FlowWish v6 = drop("a", 53);
  v6.entry = 1;
  v6.pattern.family = rules::Family::ipv6;
  std::vector<FlowWish> wanted = {drop("a", 53), v6, drop("b", 123)};
  (void)flows.add(wanted);
  flows.settle(wanted);
  for (auto& [handle, flow] : nic.flows)
    flow.hits = flow.dst_port == 53 ? 10 : 7;
  flows.query();
  std::map<std::string, std::optional<uint64_t>> hw;
  for (const FlowOutcome& o : flows.outcomes())
    hw[o.id] = o.hw_packets;
  EXPECT_EQ(hw["a"], 20U);  // both entries
  EXPECT_EQ(hw["b"], 7U);
  // a's flows are replaced (new priority): its count continues from 20; b's goes with b.
  FlowWish a4 = drop("a", 53, 2);
  FlowWish a6 = v6;
  a6.priority = 2;
  wanted = {a4, a6};
  (void)flows.add(wanted);
  flows.retire(wanted);
  flows.settle(wanted);
  for (auto& [handle, flow] : nic.flows)
    flow.hits = 1;
  flows.query();
  const std::vector<FlowOutcome> after = flows.outcomes();
  ASSERT_EQ(after.size(), 1U);
  EXPECT_EQ(after[0].hw_packets, 22U);
  // b comes back: it starts from 0, not from what it had.
  wanted.push_back(drop("b", 123));
  (void)flows.add(wanted);
  flows.settle(wanted);
  flows.query();
  EXPECT_EQ(flows.outcomes().back().hw_packets, 0U);
}

TEST(FlowLifecycle, CountRefusedOnCreateIsRetriedWithoutAndReportsNoCount) {
  FakeDriver::State nic;
  nic.count_refused_on_create = true;
  PortFlows flows(std::make_unique<FakeDriver>(nic), "wan");
  (void)after_probe(nic);
  const std::vector<FlowWish> wanted = {drop("a", 53)};
  EXPECT_TRUE(flows.validate(wanted[0]).empty());
  EXPECT_TRUE(flows.add(wanted).empty());
  flows.settle(wanted);
  EXPECT_EQ(nic.log, (std::vector<std::string>{"create 53@0"}));
  ASSERT_EQ(flows.outcomes().size(), 1U);
  EXPECT_TRUE(flows.outcomes()[0].offloaded);
  EXPECT_FALSE(flows.outcomes()[0].hw_packets);
}

TEST(FlowLifecycle, OneEntryUncountedMakesTheRulesCountUnknown) {
  FakeDriver::State nic;
  nic.counts = false;  // no COUNT at all (net_tap)
  PortFlows flows(std::make_unique<FakeDriver>(nic), "wan");
  const std::vector<FlowWish> wanted = {drop("a", 53)};
  (void)flows.add(wanted);
  flows.settle(wanted);
  flows.query();
  EXPECT_TRUE(flows.outcomes()[0].offloaded);
  EXPECT_FALSE(flows.outcomes()[0].hw_packets);
}

TEST(FlowLifecycle, ARefusalLeavesTheOthersAndIsKeptWithItsReason) {
  FakeDriver::State nic;
  nic.refused_ports = {123};
  PortFlows flows(std::make_unique<FakeDriver>(nic), "wan");
  const std::vector<FlowWish> wanted = {drop("a", 123), drop("b", 53)};
  EXPECT_EQ(flows.add(wanted),
            (std::vector<std::string>{"a: the driver refused it: Invalid argument: refused port"}));
  flows.settle(wanted);
  const std::vector<FlowOutcome> outcomes = flows.outcomes();
  ASSERT_EQ(outcomes.size(), 2U);
  EXPECT_FALSE(outcomes[0].offloaded);
  EXPECT_EQ(outcomes[0].reason, "the driver refused it: Invalid argument: refused port");
  EXPECT_TRUE(outcomes[1].offloaded);
  EXPECT_EQ(flows.offloaded_rules(), 1U);
}

// --- FlowSteering's prepare and commit on fake NICs ----------------------------------------------

struct Steering {
  FakeDriver::State nic;
  std::unique_ptr<control::FlowSteering> steering;
  config::LoadedConfig config;

  explicit Steering(config::OffloadMode mode, std::size_t capacity = 1000) {
    nic.capacity = capacity;
    std::vector<control::FlowSteering::Port> ports;
    ports.push_back(
        {"wan", std::make_unique<PortFlows>(std::make_unique<FakeDriver>(nic), "wan"), false});
    (void)after_probe(nic);
    config::PortConfig port;
    port.name = "wan";
    port.offload = mode;
    config.config.ports.push_back(port);
    steering = std::make_unique<control::FlowSteering>(std::move(ports));
  }
  /// prepare, then (when it passes) commit; the refusal if any.
  std::optional<std::string> change(std::vector<FlowWish> wishes) {
    control::FlowSteering::Plan plan;
    plan.wishes = {std::move(wishes)};
    std::optional<std::string> refused = steering->prepare(plan, config);
    if (!refused) steering->commit(std::move(plan));
    return refused;
  }
};

TEST(FlowSteeringChange, WhereTheNicIsFullTheOldFlowsGoFirst) {
  Steering s(config::OffloadMode::automatic, 2);
  EXPECT_FALSE(s.change({drop("a", 53), drop("b", 123)}));
  s.nic.log.clear();
  EXPECT_FALSE(s.change({drop("a", 53), drop("c", 5353)}));
  EXPECT_EQ(s.nic.log, (std::vector<std::string>{"destroy 123@0", "create 5353@0+count"}));
  EXPECT_TRUE(s.steering->offloaded("c"));
  EXPECT_FALSE(s.steering->offloaded("b"));
}

TEST(FlowSteeringChange, RequiredRefusesWhatTheDriverWouldNotTakeBeforeTouchingTheNic) {
  Steering s(config::OffloadMode::required);
  s.nic.refused_ports = {9};
  EXPECT_FALSE(s.change({drop("a", 53)}));
  s.nic.log.clear();
  EXPECT_EQ(s.change({drop("a", 53), drop("b", 9)}),
            "port wan (offload: required): rule b: the driver refuses it: Invalid argument: "
            "refused port");
  EXPECT_TRUE(s.nic.log.empty());
  EXPECT_TRUE(s.steering->offloaded("a"));
}

TEST(FlowSteeringChange, RequiredUndoesACreationThatFailedAfterValidating) {
  // Full after one flow: the new flow validates, is refused beside a, and a goes to make room;
  // then it is still refused (it needs a second slot), so the change is refused and a returns.
  Steering s(config::OffloadMode::required, 1);
  EXPECT_FALSE(s.change({drop("a", 53)}));
  s.nic.log.clear();
  const std::optional<std::string> refused = s.change({drop("a", 53), drop("b", 123)});
  ASSERT_TRUE(refused);
  EXPECT_EQ(*refused,
            "port wan (offload: required): rule b: the driver refused it: Invalid argument: full");
  EXPECT_EQ(s.nic.log, (std::vector<std::string>{}));  // b was refused, a was still wanted
  EXPECT_TRUE(s.steering->offloaded("a"));
  EXPECT_EQ(s.nic.flows.size(), 1U);
  // Replacing a by c where only one fits: a goes to make room, c is created.
  EXPECT_FALSE(s.change({drop("c", 5353)}));
  EXPECT_TRUE(s.steering->offloaded("c"));
  s.nic.log.clear();
  // c and d where one fits: d is refused, c stays (nothing of the change remains).
  s.nic.refused_ports = {};
  ASSERT_TRUE(s.change({drop("d", 7), drop("c", 5353, 1)}));
  EXPECT_EQ(s.nic.log, (std::vector<std::string>{"destroy 5353@0", "create 7@0+count",
                                                 "destroy 7@0", "create 5353@0+count"}));
  EXPECT_TRUE(s.steering->offloaded("c"));
  EXPECT_FALSE(s.steering->offloaded("d"));
  EXPECT_EQ(s.nic.flows.size(), 1U);
}

}  // namespace
}  // namespace udpsieve::dataplane
