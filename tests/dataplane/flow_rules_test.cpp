// Flow rules in the NIC: a wish's rte_flow form, item by item (spec, mask, priority, actions),
// and PortFlows on a driver without rte_flow (every wish refused with the reason, nothing
// created, nothing to destroy).
#include <gtest/gtest.h>
#include <rte_byteorder.h>
#include <rte_dev.h>
#include <rte_ethdev.h>

#include <cstring>
#include <string>

#include "udpsieve/dataplane/flow_rules.hpp"

namespace udpsieve::dataplane {
namespace {

using rules::Family;
using rules::MaskedValue;
using rules::Prefix;

Prefix prefix(const std::string& text) {
  std::string error;
  const auto parsed = Prefix::parse(text, error);
  EXPECT_TRUE(parsed) << error;
  return *parsed;
}

FlowWish drop(rules::FlowEntry pattern, uint32_t priority = 0) {
  FlowWish wish;
  wish.id = "r";
  wish.pattern = std::move(pattern);
  wish.priority = priority;
  return wish;
}

TEST(FlowSpec, Ipv4DropWithPrefixesPortsTtlAndDscp) {
  rules::FlowEntry e;
  e.family = Family::ipv4;
  e.src = prefix("203.0.113.0/24");
  e.dst = prefix("198.51.100.53");
  e.src_port = MaskedValue{123, 0xffff};
  e.dst_port = MaskedValue{1024, 0xfc00};  // 1024-2047
  e.ttl = MaskedValue{64, 0xc0};
  e.dscp = MaskedValue{46, 0x3f};
  const FlowSpec spec(drop(e, 7), false);
  EXPECT_EQ(spec.attr()->ingress, 1U);
  EXPECT_EQ(spec.attr()->priority, 7U);
  ASSERT_EQ(spec.item_count(), 4U);
  const rte_flow_item* items = spec.pattern();
  EXPECT_EQ(items[0].type, RTE_FLOW_ITEM_TYPE_ETH);
  EXPECT_EQ(items[0].spec, nullptr);  // any Ethernet header
  EXPECT_EQ(items[1].type, RTE_FLOW_ITEM_TYPE_IPV4);
  EXPECT_EQ(items[2].type, RTE_FLOW_ITEM_TYPE_UDP);
  EXPECT_EQ(items[3].type, RTE_FLOW_ITEM_TYPE_END);
  const rte_ipv4_hdr& v = spec.ipv4_spec.hdr;
  const rte_ipv4_hdr& m = spec.ipv4_mask.hdr;
  EXPECT_EQ(rte_be_to_cpu_32(v.src_addr), 0xcb007100U);
  EXPECT_EQ(rte_be_to_cpu_32(m.src_addr), 0xffffff00U);
  EXPECT_EQ(rte_be_to_cpu_32(v.dst_addr), 0xc6336435U);
  EXPECT_EQ(rte_be_to_cpu_32(m.dst_addr), 0xffffffffU);
  EXPECT_EQ(v.time_to_live, 64);
  EXPECT_EQ(m.time_to_live, 0xc0);
  EXPECT_EQ(v.type_of_service, 46 << 2);
  EXPECT_EQ(m.type_of_service, 0xfc);
  EXPECT_EQ(m.next_proto_id, 0);  // the udp item says UDP
  EXPECT_EQ(rte_be_to_cpu_16(spec.udp_spec.hdr.src_port), 123);
  EXPECT_EQ(rte_be_to_cpu_16(spec.udp_mask.hdr.src_port), 0xffff);
  EXPECT_EQ(rte_be_to_cpu_16(spec.udp_spec.hdr.dst_port), 1024);
  EXPECT_EQ(rte_be_to_cpu_16(spec.udp_mask.hdr.dst_port), 0xfc00);
  const rte_flow_action* actions = spec.actions();
  EXPECT_EQ(actions[0].type, RTE_FLOW_ACTION_TYPE_DROP);
  EXPECT_EQ(actions[1].type, RTE_FLOW_ACTION_TYPE_END);
}

TEST(FlowSpec, Ipv6WithVlanCountAndAnyAddress) {
  rules::FlowEntry e;
  e.family = Family::ipv6;
  e.dst = prefix("2001:db8:100::/40");
  e.vlan = MaskedValue{100, 0x0fff};
  e.dscp = MaskedValue{40, 0x38};  // 40-47
  e.ttl = MaskedValue{255, 0xff};
  const FlowSpec spec(drop(e), true);
  ASSERT_EQ(spec.item_count(), 5U);
  const rte_flow_item* items = spec.pattern();
  EXPECT_EQ(items[1].type, RTE_FLOW_ITEM_TYPE_VLAN);
  EXPECT_EQ(rte_be_to_cpu_16(spec.vlan_spec.hdr.vlan_tci), 100);
  EXPECT_EQ(rte_be_to_cpu_16(spec.vlan_mask.hdr.vlan_tci), 0x0fff);  // the id, not the priority
  EXPECT_EQ(items[2].type, RTE_FLOW_ITEM_TYPE_IPV6);
  const rte_ipv6_hdr& v = spec.ipv6_spec.hdr;
  const rte_ipv6_hdr& m = spec.ipv6_mask.hdr;
  const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0x01};
  const uint8_t dst_mask[16] = {0xff, 0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(std::memcmp(v.dst_addr, dst, 16), 0);
  EXPECT_EQ(std::memcmp(m.dst_addr, dst_mask, 16), 0);
  const uint8_t zero[16] = {};
  EXPECT_EQ(std::memcmp(m.src_addr, zero, 16), 0);  // any source
  EXPECT_EQ(v.hop_limits, 255);
  // DSCP in the traffic class's upper six bits: bits 22-27 of version/class/label.
  EXPECT_EQ(rte_be_to_cpu_32(v.vtc_flow), 40U << 22);
  EXPECT_EQ(rte_be_to_cpu_32(m.vtc_flow), 0x38U << 22);
  EXPECT_EQ(items[3].type, RTE_FLOW_ITEM_TYPE_UDP);
  EXPECT_EQ(spec.udp_mask.hdr.dst_port, 0);  // any port
  const rte_flow_action* actions = spec.actions();
  EXPECT_EQ(actions[0].type, RTE_FLOW_ACTION_TYPE_COUNT);
  EXPECT_EQ(actions[1].type, RTE_FLOW_ACTION_TYPE_DROP);
  EXPECT_EQ(actions[2].type, RTE_FLOW_ACTION_TYPE_END);
}

TEST(FlowSpec, SteeringIsAQueueAction) {
  rules::FlowEntry e;
  e.dst_port = MaskedValue{27015, 0xffff};
  FlowWish wish = drop(e, 3);
  wish.kind = FlowWish::Kind::queue;
  wish.queue = 2;
  const FlowSpec spec(wish, true);  // count applies to drops only
  const rte_flow_action* actions = spec.actions();
  ASSERT_EQ(actions[0].type, RTE_FLOW_ACTION_TYPE_QUEUE);
  EXPECT_EQ(static_cast<const rte_flow_action_queue*>(actions[0].conf)->index, 2);
  EXPECT_EQ(actions[1].type, RTE_FLOW_ACTION_TYPE_END);
}

// Drivers that accept masks they do not honour: the entries that must stay in software there.
TEST(UnhonouredMask, Table) {
  const auto entry = [](const char* src, std::optional<MaskedValue> dst_port = std::nullopt) {
    rules::FlowEntry e;
    std::string error;
    e.src = rules::Prefix::parse(src, error);
    e.family = e.src->family;
    e.dst_port = dst_port;
    return e;
  };
  const MaskedValue exact{53, 0xffff};
  const MaskedValue block{1024, 0xfc00};
  struct Case {
    const char* driver;
    rules::FlowEntry entry;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"net_i40e", entry("203.0.113.7/32", exact), ""},
      {"net_i40e", entry("203.0.113.0/24", exact),
       "driver net_i40e matches only exact values and would ignore src 203.0.113.0/24, dropping "
       "more than the rule"},
      {"net_i40e", entry("203.0.113.7/32", block),
       "driver net_i40e matches only exact values and would ignore a port range, dropping more "
       "than the rule"},
      {"net_i40e", entry("2001:db8::1/128"), ""},
      {"net_ice", entry("203.0.113.0/24", block), ""},  // the switch and fdir refuse or honour
      {"net_ice", entry("2001:db8::/32"),
       "driver net_ice matches only exact IPv6 addresses and would ignore src 2001:db8::/32, "
       "dropping more than the rule"},
      {"net_mlx5", entry("2001:db8::/32", block), ""},
      {"net_tap", entry("203.0.113.0/24", block), ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(unhonoured_mask(c.driver, c.entry), c.expected)
        << c.driver << " " << c.entry.src->to_string();
  }
}

// net_null has no rte_flow: every wish is refused with that reason and nothing is held that
// would need destroying.
TEST(PortFlows, DriverWithoutRteFlowRefusesEveryWishSaying) {
  const std::string name = "net_null_flows" + std::to_string(getpid() % 10000);
  ASSERT_EQ(rte_eal_hotplug_add("vdev", name.c_str(), ""), 0);
  uint16_t port = 0;
  ASSERT_EQ(rte_eth_dev_get_port_by_name(name.c_str(), &port), 0);
  {
    PortFlows flows(port, "null");
    EXPECT_FALSE(flows.available());
    EXPECT_EQ(flows.unavailable_reason(), "the driver has no rte_flow");
    rules::FlowEntry e;
    e.dst_port = MaskedValue{53, 0xffff};
    const std::vector<FlowWish> wishes = {drop(e)};
    EXPECT_EQ(flows.validate(wishes[0]), "the driver has no rte_flow");
    const std::vector<std::string> refusals = flows.add(wishes);
    ASSERT_EQ(refusals.size(), 1U);
    EXPECT_EQ(refusals[0], "r: the driver has no rte_flow");
    EXPECT_FALSE(flows.holds_others(wishes));  // a refused wish holds no flow
    flows.settle(wishes);
    const std::vector<FlowOutcome> outcomes = flows.outcomes();
    ASSERT_EQ(outcomes.size(), 1U);
    EXPECT_FALSE(outcomes[0].offloaded);
    EXPECT_EQ(outcomes[0].reason, "the driver has no rte_flow");
    EXPECT_FALSE(outcomes[0].hw_packets);
    EXPECT_EQ(flows.offloaded_rules(), 0U);
    flows.retire({});
    EXPECT_TRUE(flows.outcomes().empty());
  }
  EXPECT_EQ(rte_eth_dev_close(port), 0);
  EXPECT_EQ(rte_eal_hotplug_remove("vdev", name.c_str()), 0);
}

}  // namespace
}  // namespace udpsieve::dataplane
