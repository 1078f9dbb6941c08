#pragma once
/// Flow rules in the NIC (rte_flow): eligible drop rules dropped before any worker sees them,
/// and steering rules that send a flow to one worker's queue. Software stays the authority:
/// every rule stays in the classifier, and a rule the NIC refuses is simply not offloaded,
/// with the driver's reason kept for `udpsievectl steering`.

#include <rte_flow.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "udpsieve/config/config.hpp"
#include "udpsieve/rules/offload.hpp"

namespace udpsieve::dataplane {

/// One flow rule udpsieve wants on a port.
struct FlowWish {
  enum class Kind : uint8_t { drop, queue };
  Kind kind = Kind::drop;
  std::string id;         ///< the rule's (or steering rule's) id
  std::size_t entry = 0;  ///< which of the rule's entries
  rules::FlowEntry pattern;
  uint32_t priority = 0;  ///< 0 = highest
  uint16_t queue = 0;     ///< for Kind::queue
  friend bool operator==(const FlowWish&, const FlowWish&) = default;
};

/// "drop" or "queue".
[[nodiscard]] const char* flow_kind_name(FlowWish::Kind kind) noexcept;

/// The rte_flow form of a wish: attributes, pattern (eth / [vlan] / ipv4|ipv6 / udp / end) and
/// actions (drop [+ count] | queue), with the storage its items point into (so it neither
/// copies nor moves).
class FlowSpec {
 public:
  /// `count` adds a COUNT action to a drop (where the driver counts).
  FlowSpec(const FlowWish& wish, bool count);
  FlowSpec(const FlowSpec&) = delete;
  FlowSpec& operator=(const FlowSpec&) = delete;

  [[nodiscard]] const rte_flow_attr* attr() const noexcept { return &attr_; }
  [[nodiscard]] const rte_flow_item* pattern() const noexcept { return items_.data(); }
  [[nodiscard]] const rte_flow_action* actions() const noexcept { return actions_.data(); }
  /// The items up to and including END (for tests).
  [[nodiscard]] std::size_t item_count() const noexcept { return item_count_; }

  // Storage the items point into (public for tests; read-only in use).
  rte_flow_item_vlan vlan_spec{}, vlan_mask{};
  rte_flow_item_ipv4 ipv4_spec{}, ipv4_mask{};
  rte_flow_item_ipv6 ipv6_spec{}, ipv6_mask{};
  rte_flow_item_udp udp_spec{}, udp_mask{};

 private:
  rte_flow_attr attr_{};
  std::array<rte_flow_item, 6> items_{};
  std::size_t item_count_ = 0;
  rte_flow_action_queue queue_{};
  rte_flow_action_count count_{};
  std::array<rte_flow_action, 3> actions_{};
};

/// What PortFlows asks of a port's rte_flow: the port's driver in the daemon, a fake in tests.
/// Results are 0 or a negative errno, with `error` filled in by the driver on failure.
class FlowDriver {
 public:
  virtual ~FlowDriver() = default;
  [[nodiscard]] virtual const std::string& name() const = 0;  ///< e.g. "net_mlx5"
  virtual int validate(const FlowSpec& spec, rte_flow_error& error) = 0;
  /// The new flow, or null with `rc` set.
  virtual rte_flow* create(const FlowSpec& spec, rte_flow_error& error, int& rc) = 0;
  virtual int destroy(rte_flow* flow, rte_flow_error& error) = 0;
  /// What a flow created with COUNT has matched so far; nullopt when it cannot be read.
  virtual std::optional<uint64_t> query_count(rte_flow* flow) = 0;
};

/// rte_flow on `port_id`.
[[nodiscard]] std::unique_ptr<FlowDriver> port_flow_driver(uint16_t port_id);

/// Whether `driver` takes a simple ingress rule (eth / ipv4 / udp dst 9 → drop), the kind of
/// pre-filter a NIC applies in hardware: validated, then created and destroyed at once (some
/// drivers validate what they cannot install). Call before the port starts, so the probe never
/// sees a packet. Empty when it does, else the reason.
[[nodiscard]] std::string flow_support(FlowDriver& driver);
[[nodiscard]] std::string flow_support(uint16_t port_id);

/// Where a driver would accept `entry` but not honour one of its masks (it would leave the
/// field out of its match, so the NIC would drop more than the rule): why the entry must stay
/// in software; empty otherwise. From DPDK 22.11's sources: i40e's flow director matches a
/// field only when its mask is all ones and ignores it otherwise (i40e_flow.c); ice's flow
/// director, which takes DROP with COUNT, does the same with IPv6 addresses
/// (ice_fdir_filter.c). Other drivers refuse what they cannot match, as rte_flow asks.
[[nodiscard]] std::string unhonoured_mask(std::string_view driver, const rules::FlowEntry& entry);

/// How one rule fared on one port.
struct FlowOutcome {
  std::string id;
  FlowWish::Kind kind = FlowWish::Kind::drop;
  bool offloaded = false;              ///< every entry is in the NIC
  std::string reason;                  ///< why not (the analysis's or the driver's)
  std::optional<uint64_t> hw_packets;  ///< what the NIC matched, where it counts
};

/// The flow rules udpsieve holds on one port. Control thread only.
class PortFlows {
 public:
  PortFlows(uint16_t port_id, std::string port_name);
  /// On any driver (tests give a fake one); probes it as the constructor above does.
  PortFlows(std::unique_ptr<FlowDriver> driver, std::string port_name);
  ~PortFlows();
  PortFlows(const PortFlows&) = delete;
  PortFlows& operator=(const PortFlows&) = delete;

  /// Whether the driver offers rte_flow at all (flow_support, probed at construction: before
  /// the port starts).
  [[nodiscard]] bool available() const noexcept { return available_; }
  [[nodiscard]] const std::string& unavailable_reason() const noexcept { return unavailable_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  /// Whether the driver would take `wish` (rte_flow_validate); empty when it would, else why
  /// not.
  [[nodiscard]] std::string validate(const FlowWish& wish) const;
  /// The first half of a change to `wanted`: creates every wish not held yet, beside the
  /// flows held now (a refusal leaves the others alone). Returns the new refusals as
  /// "ID: reason".
  std::vector<std::string> add(const std::vector<FlowWish>& wanted);
  /// Whether flows not among `wanted` are still held (room a refused creation may need).
  [[nodiscard]] bool holds_others(const std::vector<FlowWish>& wanted) const;
  /// Destroys every flow not among `wanted`; a counted flow's last count stays with its rule
  /// when the rule is still wanted (its flow was replaced).
  void retire(const std::vector<FlowWish>& wanted);
  /// Creates again what add() could not create; returns what is still refused.
  std::vector<std::string> retry(const std::vector<FlowWish>& wanted);
  /// Undoes add(): destroys the flows it created.
  void abandon() noexcept;
  /// The second half: the flows are exactly `wanted`, in its order (retire() came first).
  void settle(const std::vector<FlowWish>& wanted);
  /// Destroys every flow (shutdown, a port about to restart).
  void destroy_all() noexcept;
  /// Reads the COUNT of every counted flow (hw_packets).
  void query();
  /// Per rule id, in the order the wishes came: offloaded or why not, and the NIC's count.
  [[nodiscard]] std::vector<FlowOutcome> outcomes() const;
  /// Rules whose every entry is in the NIC.
  [[nodiscard]] std::size_t offloaded_rules() const;
  /// Test hook (the daemon sets it only with UDPSIEVE_TEST_HOOKS=1): a NIC with room for
  /// `flows` flow rules, refusing any beyond, as a full NIC would.
  void set_test_capacity(std::size_t flows) noexcept { test_capacity_ = flows; }

 private:
  struct Held {
    FlowWish wish;
    rte_flow* flow = nullptr;  ///< null when refused
    std::string refusal;
    bool counted = false;
    uint64_t hits = 0;
    bool fresh = false;  ///< created by the add() not yet settled
  };
  /// Creates `held`'s flow; false (with the refusal kept) when the driver refuses.
  bool create(Held& held);
  void destroy(Held& held) noexcept;

  std::unique_ptr<FlowDriver> driver_;
  std::string name_;
  bool available_ = false;
  std::string unavailable_;
  bool count_ = false;  // the driver takes COUNT with DROP
  std::optional<std::size_t> test_capacity_;
  std::vector<Held> held_;
  /// NIC counts of counted flows destroyed while their rule stayed (a replaced flow), by id.
  std::map<std::string, uint64_t> carried_;
};

}  // namespace udpsieve::dataplane
