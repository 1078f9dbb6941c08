#include "udpsieve/dataplane/flow_rules.hpp"

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <map>

namespace udpsieve::dataplane {
namespace {

using rules::Family;

/// A prefix's network-order address and mask, `bytes` long.
void prefix_bytes(const rules::Prefix& prefix, std::size_t bytes, uint8_t* value, uint8_t* mask) {
  for (std::size_t i = 0; i < bytes; ++i) {
    const int bits = std::clamp(static_cast<int>(prefix.length) - 8 * static_cast<int>(i), 0, 8);
    mask[i] = static_cast<uint8_t>(0xff00 >> bits);
    value[i] = static_cast<uint8_t>(prefix.addr[i] & mask[i]);
  }
}

/// Why `rc` / `error` refused a flow operation, in words.
std::string flow_error(const rte_flow_error& error, int rc) {
  std::string reason = std::strerror(-rc);
  if (error.message != nullptr && *error.message != '\0' && reason != error.message) {
    reason += ": " + std::string(error.message);
  }
  return reason;
}

/// A drop of UDP to port 9 (discard): what a driver with rte_flow takes if it takes anything.
FlowWish probe_wish() {
  FlowWish wish;
  wish.id = "probe";
  wish.pattern.family = Family::ipv4;
  wish.pattern.dst_port = rules::MaskedValue{9, 0xffff};
  return wish;
}

}  // namespace

const char* flow_kind_name(FlowWish::Kind kind) noexcept {
  return kind == FlowWish::Kind::queue ? "queue" : "drop";
}

FlowSpec::FlowSpec(const FlowWish& wish, bool count) {
  attr_.ingress = 1;
  attr_.priority = wish.priority;
  const rules::FlowEntry& e = wish.pattern;
  std::size_t n = 0;
  items_[n++].type = RTE_FLOW_ITEM_TYPE_ETH;
  if (e.vlan) {
    vlan_spec.hdr.vlan_tci = rte_cpu_to_be_16(static_cast<uint16_t>(e.vlan->value & 0x0fff));
    vlan_mask.hdr.vlan_tci = rte_cpu_to_be_16(static_cast<uint16_t>(e.vlan->mask & 0x0fff));
    items_[n].type = RTE_FLOW_ITEM_TYPE_VLAN;
    items_[n].spec = &vlan_spec;
    items_[n++].mask = &vlan_mask;
  }
  if (e.family == Family::ipv4) {
    rte_ipv4_hdr& spec = ipv4_spec.hdr;
    rte_ipv4_hdr& mask = ipv4_mask.hdr;
    if (e.src) {
      prefix_bytes(*e.src, 4, reinterpret_cast<uint8_t*>(&spec.src_addr),
                   reinterpret_cast<uint8_t*>(&mask.src_addr));
    }
    if (e.dst) {
      prefix_bytes(*e.dst, 4, reinterpret_cast<uint8_t*>(&spec.dst_addr),
                   reinterpret_cast<uint8_t*>(&mask.dst_addr));
    }
    if (e.ttl) {
      spec.time_to_live = static_cast<uint8_t>(e.ttl->value);
      mask.time_to_live = static_cast<uint8_t>(e.ttl->mask);
    }
    if (e.dscp) {
      // DSCP is the upper six bits of the type-of-service byte.
      spec.type_of_service = static_cast<uint8_t>(e.dscp->value << 2);
      mask.type_of_service = static_cast<uint8_t>(e.dscp->mask << 2);
    }
    items_[n].type = RTE_FLOW_ITEM_TYPE_IPV4;
    items_[n].spec = &ipv4_spec;
    items_[n++].mask = &ipv4_mask;
  } else {
    rte_ipv6_hdr& spec = ipv6_spec.hdr;
    rte_ipv6_hdr& mask = ipv6_mask.hdr;
    if (e.src) prefix_bytes(*e.src, 16, spec.src_addr, mask.src_addr);
    if (e.dst) prefix_bytes(*e.dst, 16, spec.dst_addr, mask.dst_addr);
    if (e.ttl) {
      spec.hop_limits = static_cast<uint8_t>(e.ttl->value);
      mask.hop_limits = static_cast<uint8_t>(e.ttl->mask);
    }
    if (e.dscp) {
      // vtc_flow: version (4 bits), traffic class (8), flow label (20); DSCP is the traffic
      // class's upper six bits.
      spec.vtc_flow = rte_cpu_to_be_32(static_cast<uint32_t>(e.dscp->value) << 22);
      mask.vtc_flow = rte_cpu_to_be_32(static_cast<uint32_t>(e.dscp->mask) << 22);
    }
    items_[n].type = RTE_FLOW_ITEM_TYPE_IPV6;
    items_[n].spec = &ipv6_spec;
    items_[n++].mask = &ipv6_mask;
  }
  if (e.src_port) {
    udp_spec.hdr.src_port = rte_cpu_to_be_16(e.src_port->value);
    udp_mask.hdr.src_port = rte_cpu_to_be_16(e.src_port->mask);
  }
  if (e.dst_port) {
    udp_spec.hdr.dst_port = rte_cpu_to_be_16(e.dst_port->value);
    udp_mask.hdr.dst_port = rte_cpu_to_be_16(e.dst_port->mask);
  }
  // The UDP item is always there: only UDP ever reaches a rule.
  items_[n].type = RTE_FLOW_ITEM_TYPE_UDP;
  items_[n].spec = &udp_spec;
  items_[n++].mask = &udp_mask;
  items_[n++].type = RTE_FLOW_ITEM_TYPE_END;
  item_count_ = n;

  std::size_t a = 0;
  if (wish.kind == FlowWish::Kind::queue) {
    queue_.index = wish.queue;
    actions_[a].type = RTE_FLOW_ACTION_TYPE_QUEUE;
    actions_[a++].conf = &queue_;
  } else {
    if (count) {
      actions_[a].type = RTE_FLOW_ACTION_TYPE_COUNT;
      actions_[a++].conf = &count_;
    }
    actions_[a++].type = RTE_FLOW_ACTION_TYPE_DROP;
  }
  actions_[a].type = RTE_FLOW_ACTION_TYPE_END;
}

namespace {

class PortFlowDriver final : public FlowDriver {
 public:
  explicit PortFlowDriver(uint16_t port_id) : port_id_(port_id) {
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(port_id_, &info) == 0 && info.driver_name != nullptr) {
      name_ = info.driver_name;
    }
  }
  [[nodiscard]] const std::string& name() const override { return name_; }
  int validate(const FlowSpec& spec, rte_flow_error& error) override {
    return rte_flow_validate(port_id_, spec.attr(), spec.pattern(), spec.actions(), &error);
  }
  rte_flow* create(const FlowSpec& spec, rte_flow_error& error, int& rc) override {
    rte_flow* flow = rte_flow_create(port_id_, spec.attr(), spec.pattern(), spec.actions(), &error);
    rc = flow == nullptr ? -rte_errno : 0;
    return flow;
  }
  int destroy(rte_flow* flow, rte_flow_error& error) override {
    return rte_flow_destroy(port_id_, flow, &error);
  }
  std::optional<uint64_t> query_count(rte_flow* flow) override {
    rte_flow_query_count count{};
    rte_flow_action action{};
    action.type = RTE_FLOW_ACTION_TYPE_COUNT;
    rte_flow_error error{};
    if (rte_flow_query(port_id_, flow, &action, &count, &error) != 0 || !count.hits_set) {
      return std::nullopt;
    }
    return count.hits;  // cumulative: reset is not asked for
  }

 private:
  uint16_t port_id_;
  std::string name_;
};

}  // namespace

std::unique_ptr<FlowDriver> port_flow_driver(uint16_t port_id) {
  return std::make_unique<PortFlowDriver>(port_id);
}

std::string flow_support(FlowDriver& driver) {
  const FlowSpec spec(probe_wish(), false);
  rte_flow_error error{};
  const int rc = driver.validate(spec, error);
  if (rc == -ENOSYS || rc == -ENOTSUP) return "the driver has no rte_flow";
  if (rc != 0) return "the driver refuses a UDP drop rule: " + flow_error(error, rc);
  error = rte_flow_error{};
  int created = 0;
  rte_flow* flow = driver.create(spec, error, created);
  if (flow == nullptr)
    return "it validates the rule but cannot create it: " + flow_error(error, created);
  (void)driver.destroy(flow, error);
  return {};
}

std::string flow_support(uint16_t port_id) {
  PortFlowDriver driver(port_id);
  return flow_support(driver);
}

std::string unhonoured_mask(std::string_view driver, const rules::FlowEntry& entry) {
  const bool i40e = driver == "net_i40e";
  const bool ice = driver == "net_ice";
  if (!i40e && !ice) return {};
  const unsigned width = entry.family == rules::Family::ipv4 ? 32 : 128;
  const auto partial_prefix = [&](const std::optional<rules::Prefix>& prefix) {
    return prefix && prefix->length != width && (i40e || entry.family == rules::Family::ipv6);
  };
  const auto partial = [&](const std::optional<rules::MaskedValue>& field, uint16_t full) {
    return i40e && field && field->mask != full;
  };
  std::string field;
  if (partial_prefix(entry.src)) field = "src " + entry.src->to_string();
  if (field.empty() && partial_prefix(entry.dst)) field = "dst " + entry.dst->to_string();
  if (field.empty() && (partial(entry.src_port, 0xffff) || partial(entry.dst_port, 0xffff)))
    field = "a port range";
  if (field.empty() && (partial(entry.ttl, 0xff) || partial(entry.dscp, 0x3f)))
    field = "a ttl or dscp range";
  if (field.empty() && partial(entry.vlan, 0x0fff)) field = "a vlan range";
  if (field.empty()) return {};
  return "driver " + std::string(driver) + " matches only exact " +
         (i40e ? "values" : "IPv6 addresses") + " and would ignore " + field +
         ", dropping more than the rule";
}

PortFlows::PortFlows(uint16_t port_id, std::string port_name)
    : PortFlows(port_flow_driver(port_id), std::move(port_name)) {}

PortFlows::PortFlows(std::unique_ptr<FlowDriver> driver, std::string port_name)
    : driver_(std::move(driver)), name_(std::move(port_name)) {
  unavailable_ = flow_support(*driver_);
  available_ = unavailable_.empty();
  if (!available_) return;
  // Whether the driver also counts what a drop rule matched.
  const FlowSpec counted(probe_wish(), true);
  rte_flow_error error{};
  count_ = driver_->validate(counted, error) == 0;
}

PortFlows::~PortFlows() {
  destroy_all();
}

std::string PortFlows::validate(const FlowWish& wish) const {
  if (!available_) return unavailable_;
  if (std::string unsafe = unhonoured_mask(driver_->name(), wish.pattern); !unsafe.empty()) {
    return unsafe;
  }
  const bool count = count_ && wish.kind == FlowWish::Kind::drop;
  rte_flow_error error{};
  int rc = 0;
  for (const bool with_count : {count, false}) {  // as create() tries
    const FlowSpec spec(wish, with_count);
    error = rte_flow_error{};
    rc = driver_->validate(spec, error);
    if (rc == 0 || !with_count) break;
  }
  return rc == 0 ? std::string() : "the driver refuses it: " + flow_error(error, rc);
}

bool PortFlows::create(Held& held) {
  held.refusal.clear();
  if (!available_) {
    held.refusal = unavailable_;
    return false;
  }
  held.refusal = unhonoured_mask(driver_->name(), held.wish.pattern);
  if (!held.refusal.empty()) return false;
  if (test_capacity_ &&
      static_cast<std::size_t>(std::count_if(held_.begin(), held_.end(), [](const Held& h) {
        return h.flow != nullptr;
      })) >= *test_capacity_) {
    held.refusal = "the driver refused it: no room (test capacity of " +
                   std::to_string(*test_capacity_) + " flow rules)";
    return false;
  }
  // Counted where the driver counts; where it refuses this drop with COUNT, without (some
  // drivers take COUNT in one engine only, e.g. ice's flow director but not its switch).
  bool count = count_ && held.wish.kind == FlowWish::Kind::drop;
  rte_flow_error error{};
  int rc = 0;
  for (;;) {
    const FlowSpec spec(held.wish, count);
    error = rte_flow_error{};
    held.flow = driver_->create(spec, error, rc);
    if (held.flow != nullptr || !count) break;
    count = false;
  }
  if (held.flow == nullptr) held.refusal = "the driver refused it: " + flow_error(error, rc);
  held.counted = held.flow != nullptr && count;
  if (held.flow != nullptr) {
    spdlog::debug("port '{}': flow rule created: {} {} entry {} at priority {}", name_,
                  flow_kind_name(held.wish.kind), held.wish.id, held.wish.entry,
                  held.wish.priority);
  }
  return held.flow != nullptr;
}

void PortFlows::destroy(Held& held) noexcept {
  if (held.flow == nullptr) return;
  rte_flow_error error{};
  if (const int rc = driver_->destroy(held.flow, error); rc != 0) {
    // Nothing else can be done about it; say so, since the NIC may still act on it.
    spdlog::error("port '{}': cannot destroy the flow rule of {}: {}", name_, held.wish.id,
                  flow_error(error, rc));
  } else {
    spdlog::debug("port '{}': flow rule destroyed: {} {} entry {} at priority {}", name_,
                  flow_kind_name(held.wish.kind), held.wish.id, held.wish.entry,
                  held.wish.priority);
  }
  held.flow = nullptr;
}

std::vector<std::string> PortFlows::add(const std::vector<FlowWish>& wanted) {
  std::vector<std::string> refusals;
  for (const FlowWish& wish : wanted) {
    const auto it = std::find_if(held_.begin(), held_.end(),
                                 [&](const Held& held) { return held.wish == wish; });
    if (it != held_.end()) continue;  // held already (created, or refused before)
    Held held;
    held.wish = wish;
    held.fresh = true;
    if (!create(held)) refusals.push_back(wish.id + ": " + held.refusal);
    held_.push_back(std::move(held));
  }
  return refusals;
}

bool PortFlows::holds_others(const std::vector<FlowWish>& wanted) const {
  return std::any_of(held_.begin(), held_.end(), [&](const Held& held) {
    return held.flow != nullptr &&
           std::find(wanted.begin(), wanted.end(), held.wish) == wanted.end();
  });
}

void PortFlows::retire(const std::vector<FlowWish>& wanted) {
  const auto still_wanted = [&](const std::string& id) {
    return std::any_of(wanted.begin(), wanted.end(),
                       [&](const FlowWish& wish) { return wish.id == id; });
  };
  query();  // the last counts of the flows about to go
  std::erase_if(held_, [&](Held& held) {
    if (std::find(wanted.begin(), wanted.end(), held.wish) != wanted.end()) return false;
    if (held.counted && still_wanted(held.wish.id)) carried_[held.wish.id] += held.hits;
    destroy(held);
    return true;
  });
}

std::vector<std::string> PortFlows::retry(const std::vector<FlowWish>& wanted) {
  std::vector<std::string> refusals;
  for (Held& held : held_) {
    if (!held.fresh || held.flow != nullptr) continue;
    if (std::find(wanted.begin(), wanted.end(), held.wish) == wanted.end()) continue;
    if (!create(held)) refusals.push_back(held.wish.id + ": " + held.refusal);
  }
  return refusals;
}

void PortFlows::abandon() noexcept {
  std::erase_if(held_, [&](Held& held) {
    if (!held.fresh) return false;
    destroy(held);
    return true;
  });
}

void PortFlows::settle(const std::vector<FlowWish>& wanted) {
  std::vector<Held> next;
  next.reserve(wanted.size());
  for (const FlowWish& wish : wanted) {
    const auto it = std::find_if(held_.begin(), held_.end(),
                                 [&](const Held& held) { return held.wish == wish; });
    if (it == held_.end()) continue;
    it->fresh = false;
    next.push_back(std::move(*it));
    held_.erase(it);
  }
  for (Held& held : held_)
    destroy(held);  // not wanted: retire() has normally taken it already
  held_ = std::move(next);
  std::erase_if(carried_, [&](const auto& entry) {
    return std::none_of(held_.begin(), held_.end(),
                        [&](const Held& held) { return held.wish.id == entry.first; });
  });
}

void PortFlows::destroy_all() noexcept {
  for (Held& held : held_)
    destroy(held);
  held_.clear();
  carried_.clear();
}

void PortFlows::query() {
  for (Held& held : held_) {
    if (!held.counted) continue;
    if (const std::optional<uint64_t> hits = driver_->query_count(held.flow)) held.hits = *hits;
  }
}

std::vector<FlowOutcome> PortFlows::outcomes() const {
  std::vector<FlowOutcome> out;
  std::map<std::string, std::size_t> index;
  for (const Held& held : held_) {
    auto [it, first] = index.emplace(held.wish.id, out.size());
    if (first) {
      FlowOutcome outcome;
      outcome.id = held.wish.id;
      outcome.kind = held.wish.kind;
      outcome.offloaded = true;
      if (held.counted) outcome.hw_packets = 0;
      out.push_back(std::move(outcome));
    }
    FlowOutcome& outcome = out[it->second];
    if (held.flow == nullptr) {
      outcome.offloaded = false;
      if (outcome.reason.empty()) outcome.reason = held.refusal;
    }
    if (held.counted && outcome.hw_packets) {
      if (first) {
        if (const auto carried = carried_.find(held.wish.id); carried != carried_.end())
          *outcome.hw_packets += carried->second;
      }
      *outcome.hw_packets += held.hits;
    } else {
      outcome.hw_packets.reset();  // one entry not counted: the rule's count is unknown
    }
  }
  return out;
}

std::size_t PortFlows::offloaded_rules() const {
  std::size_t count = 0;
  for (const FlowOutcome& outcome : outcomes())
    count += outcome.offloaded ? 1 : 0;
  return count;
}

}  // namespace udpsieve::dataplane
