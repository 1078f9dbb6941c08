#pragma once
/// The NIC's share of the work: for every table about to be published, which drop rules go
/// into each port's NIC (rules/offload.hpp decides what is safe), which flows steering rules
/// send to which worker's queue, and the rte_flow rules that follow from that.
///
/// Around a publication, new flows are created before the table is published and old ones
/// destroyed after, so what the NIC drops stays in the NIC through a reload (where the NIC
/// cannot hold both sets, the old flows go first and software covers the gap). For the
/// moments between, the NIC applies the old or the new table's verdicts, as workers do while
/// they move to the new table. On a port with `offload: required`, a flow the driver refuses
/// refuses the change (start, reload, runtime change), and the NIC is left as it was.

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "udpsieve/config/config.hpp"
#include "udpsieve/dataplane/flow_rules.hpp"
#include "udpsieve/rules/offload.hpp"

namespace udpsieve::dataplane {
class Table;
}

namespace udpsieve::control {

class FlowSteering {
 public:
  /// One attached port, in configuration order; `flows` is null only where a test leaves the
  /// NIC out.
  struct Port {
    std::string name;
    std::unique_ptr<dataplane::PortFlows> flows;
    bool isolate = false;
  };

  /// What a table asks of the NICs.
  struct Plan {
    /// Per port (configuration order), the flows it should hold.
    std::vector<std::vector<dataplane::FlowWish>> wishes;
    /// The analysis of every drop rule, in first-match order, with its id.
    std::vector<rules::OffloadDecision> decisions;
    std::vector<std::string> decision_ids;
    /// Steering rules: id, the lcore of their worker, and why the NIC cannot take one at all
    /// (empty when it can).
    struct Steer {
      std::string id;
      unsigned lcore = 0;
      std::string reason;
    };
    std::vector<Steer> steering;
  };

  explicit FlowSteering(std::vector<Port> ports);
  ~FlowSteering();
  FlowSteering(const FlowSteering&) = delete;
  FlowSteering& operator=(const FlowSteering&) = delete;

  /// The plan for `table` under `config` (its ports' offload modes and steering rules).
  [[nodiscard]] Plan plan(const dataplane::Table& table, const config::LoadedConfig& config) const;
  /// Before publishing: on `required` ports, whether the driver would take every new flow of
  /// `plan` (rte_flow_validate); then creates the new flows beside the old ones (where a
  /// driver refuses one and old flows are still held, the old ones go first and it is tried
  /// again). A refusal on a `required` port ("port wan (offload: required): rule ID: reason")
  /// undoes the creations and leaves the flows of the table in effect.
  [[nodiscard]] std::optional<std::string> prepare(const Plan& plan,
                                                   const config::LoadedConfig& config);
  /// After publishing: destroys the flows `plan` no longer wants; `plan` is in effect.
  void commit(Plan plan);
  /// Destroys every flow (shutdown, a failed start).
  void shutdown() noexcept;
  /// Reads the NICs' counts (every stats interval).
  void query();

  /// `steering` command: per port, rte_flow support, isolate, mode, and every rule's fate.
  [[nodiscard]] nlohmann::json status(const dataplane::Table& table,
                                      const config::LoadedConfig& config) const;
  /// A drop rule's place in the NICs.
  struct NicCount {
    bool offloaded = false;  ///< in the NIC of at least one port
    /// Its NIC count over every port, where every port holding it counts; nullopt else.
    std::optional<uint64_t> hw_packets;
  };
  /// Every offloaded drop rule by id, in one pass over the ports' flows (a reply takes this
  /// once rather than scanning every flow for each of its rules).
  [[nodiscard]] std::unordered_map<std::string, NicCount> nic_counts() const;
  /// Whether nic_counts() has the rule.
  [[nodiscard]] bool offloaded(const std::string& id) const;
  /// The NIC drops counted so far (rules whose NIC counts are known).
  [[nodiscard]] uint64_t hw_dropped() const;
  /// Offloaded rules per port, for logs: "wan 12/15, lan 0/15".
  [[nodiscard]] std::string summary() const;

 private:
  std::vector<Port> ports_;
  Plan current_;  // the plan of the table in effect
};

}  // namespace udpsieve::control
