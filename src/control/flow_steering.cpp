// The NIC's share of the work: planning and keeping rte_flow rules in step with the tables.
#include "udpsieve/control/flow_steering.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "udpsieve/dataplane/table.hpp"

namespace udpsieve::control {
namespace {

using dataplane::FlowWish;
using nlohmann::json;

/// The rules of `table` in first-match order (file rules before `dynamic`, runtime rules, the
/// other file rules), as the analysis needs them.
rules::RuleList first_match_order(const dataplane::Table& table) {
  const rules::RuleList& file = table.file().rules().rules();
  const rules::RuleList& runtime = table.runtime().rules().rules();
  const std::size_t at = table.runtime_at();
  rules::RuleList list;
  list.append(file, 0, at);
  list.append(runtime, 0, runtime.size());
  list.append(file, at, file.size() - at);
  return list;
}

bool on_port(const std::vector<int>& ports, std::size_t port) {
  return ports.empty() ||
         std::find(ports.begin(), ports.end(), static_cast<int>(port)) != ports.end();
}

}  // namespace

FlowSteering::FlowSteering(std::vector<Port> ports) : ports_(std::move(ports)) {
  current_.wishes.resize(ports_.size());
}

FlowSteering::~FlowSteering() {
  shutdown();
}

FlowSteering::Plan FlowSteering::plan(const dataplane::Table& table,
                                      const config::LoadedConfig& config) const {
  Plan plan;
  plan.wishes.resize(ports_.size());
  // The analysis runs on the control thread before every publication: only when some port
  // could take its result, or must (required: a driver without rte_flow then refuses).
  const auto wanted_on = [&](std::size_t p) {
    const config::OffloadMode mode = config.config.ports[p].offload;
    if (mode == config::OffloadMode::off || ports_[p].flows == nullptr) return false;
    return mode == config::OffloadMode::required || ports_[p].flows->available();
  };
  bool any_offload = false;
  for (std::size_t p = 0; p < ports_.size(); ++p)
    any_offload = any_offload || wanted_on(p);
  uint32_t next_priority = 0;
  rules::RuleList list;
  if (any_offload) {
    list = first_match_order(table);
    plan.decisions = rules::plan_offload(list);
    for (const rules::OffloadDecision& decision : plan.decisions) {
      plan.decision_ids.push_back(list[decision.rule].id);
      if (!decision.offload) continue;
      next_priority = std::max(next_priority, decision.priority + 1);
      for (std::size_t p = 0; p < ports_.size(); ++p) {
        if (!wanted_on(p) || !on_port(decision.ports, p)) continue;
        for (std::size_t e = 0; e < decision.entries.size(); ++e) {
          FlowWish wish;
          wish.kind = FlowWish::Kind::drop;
          wish.id = list[decision.rule].id;
          wish.entry = e;
          wish.pattern = decision.entries[e];
          wish.priority = decision.priority;
          plan.wishes[p].push_back(std::move(wish));
        }
      }
    }
  }
  // Steering rules below every offloaded drop they overlap (a packet both would drop and
  // steer is dropped first) and every earlier steering rule they overlap (the first steering
  // rule decides), sharing priorities where they overlap none, as drops do. Beyond a budget of
  // comparisons, simply below every drop.
  constexpr std::size_t kSteeringChecks = 1'000'000;
  const bool compare =
      config.steering.size() * (plan.decisions.size() + config.steering.size()) <= kSteeringChecks;
  std::vector<uint32_t> steer_priority;
  for (std::size_t s = 0; s < config.steering.size(); ++s) {
    const rules::SteeringRule& steer = config.steering[s];
    uint32_t priority = compare ? 0 : next_priority + static_cast<uint32_t>(s);
    if (compare) {
      for (const rules::OffloadDecision& decision : plan.decisions) {
        if (decision.offload && rules::may_overlap(list[decision.rule].match, steer.match))
          priority = std::max(priority, decision.priority + 1);
      }
      for (std::size_t t = 0; t < s; ++t) {
        if (rules::may_overlap(config.steering[t].match, steer.match))
          priority = std::max(priority, steer_priority[t] + 1);
      }
    }
    steer_priority.push_back(priority);
    rules::Rule as_rule;  // the analysis expands a drop rule's match into entries
    as_rule.id = steer.id;
    as_rule.match = steer.match;
    as_rule.action.kind = rules::ActionKind::drop;
    const std::vector<rules::OffloadDecision> expanded = rules::plan_offload({as_rule});
    plan.steering.push_back({steer.id, steer.worker, expanded.front().reason});
    if (!expanded.front().offload) continue;
    for (std::size_t p = 0; p < ports_.size(); ++p) {
      if (ports_[p].flows == nullptr || !on_port(expanded.front().ports, p)) continue;
      for (std::size_t e = 0; e < expanded.front().entries.size(); ++e) {
        FlowWish wish;
        wish.kind = FlowWish::Kind::queue;
        wish.id = steer.id;
        wish.entry = e;
        wish.pattern = expanded.front().entries[e];
        wish.priority = priority;
        wish.queue = config.steering_queues.at(s);
        plan.wishes[p].push_back(std::move(wish));
      }
    }
  }
  return plan;
}

std::optional<std::string> FlowSteering::prepare(const Plan& plan,
                                                 const config::LoadedConfig& config) {
  const auto required = [&](std::size_t p) {
    return config.config.ports[p].offload == config::OffloadMode::required;
  };
  const auto refusal = [&](std::size_t p, const std::string& what) {
    return "port " + ports_[p].name + " (offload: required): rule " + what;
  };
  // What a required port's driver says it would not take refuses the change before the NIC
  // is touched.
  for (std::size_t p = 0; p < ports_.size(); ++p) {
    if (ports_[p].flows == nullptr || !required(p)) continue;
    for (const FlowWish& wish : plan.wishes[p]) {
      const auto& held = current_.wishes[p];
      if (std::find(held.begin(), held.end(), wish) != held.end()) continue;
      if (std::string reason = ports_[p].flows->validate(wish); !reason.empty()) {
        return refusal(p, wish.id + ": " + reason);
      }
    }
  }
  // The new flows beside the old ones, so a flood the old table drops in the NIC stays there
  // through the change. Where the NIC has no room for both, the old ones go first (software
  // covers the gap).
  std::optional<std::string> refused;
  for (std::size_t p = 0; p < ports_.size() && !refused; ++p) {
    dataplane::PortFlows* flows = ports_[p].flows.get();
    if (flows == nullptr) continue;
    std::vector<std::string> refusals = flows->add(plan.wishes[p]);
    if (!refusals.empty() && flows->holds_others(plan.wishes[p])) {
      spdlog::info(
          "flow rules: port {}: {} new rule(s) refused beside the old ones; removing "
          "the old ones first",
          ports_[p].name, refusals.size());
      flows->retire(plan.wishes[p]);
      refusals = flows->retry(plan.wishes[p]);
    }
    if (!refusals.empty() && required(p)) refused = refusal(p, refusals.front());
  }
  if (refused) {
    // Back to the flows of the table in effect: what was created goes, what had to make room
    // comes back.
    for (std::size_t p = 0; p < ports_.size(); ++p) {
      if (ports_[p].flows == nullptr) continue;
      ports_[p].flows->abandon();
      (void)ports_[p].flows->add(current_.wishes[p]);
      ports_[p].flows->settle(current_.wishes[p]);
    }
  }
  return refused;
}

void FlowSteering::commit(Plan plan) {
  for (std::size_t p = 0; p < ports_.size(); ++p) {
    if (ports_[p].flows == nullptr) continue;
    ports_[p].flows->retire(plan.wishes[p]);
    ports_[p].flows->settle(plan.wishes[p]);
  }
  current_ = std::move(plan);
}

void FlowSteering::shutdown() noexcept {
  for (Port& port : ports_) {
    if (port.flows != nullptr) port.flows->destroy_all();
  }
}

void FlowSteering::query() {
  for (Port& port : ports_) {
    if (port.flows != nullptr) port.flows->query();
  }
}

std::unordered_map<std::string, FlowSteering::NicCount> FlowSteering::nic_counts() const {
  std::unordered_map<std::string, NicCount> counts;
  std::unordered_map<std::string, bool> uncounted;  // some port holds it without a count
  for (const Port& port : ports_) {
    if (port.flows == nullptr) continue;
    for (const dataplane::FlowOutcome& outcome : port.flows->outcomes()) {
      if (!outcome.offloaded || outcome.kind != FlowWish::Kind::drop) continue;
      NicCount& count = counts[outcome.id];
      count.offloaded = true;
      if (!outcome.hw_packets) uncounted[outcome.id] = true;
      count.hw_packets = count.hw_packets.value_or(0) + outcome.hw_packets.value_or(0);
    }
  }
  for (const auto& [id, unused] : uncounted)
    counts[id].hw_packets.reset();
  return counts;
}

bool FlowSteering::offloaded(const std::string& id) const {
  const auto counts = nic_counts();
  return counts.find(id) != counts.end();
}

uint64_t FlowSteering::hw_dropped() const {
  uint64_t total = 0;
  for (const Port& port : ports_) {
    if (port.flows == nullptr) continue;
    for (const dataplane::FlowOutcome& outcome : port.flows->outcomes()) {
      if (outcome.kind == FlowWish::Kind::drop && outcome.hw_packets) total += *outcome.hw_packets;
    }
  }
  return total;
}

std::string FlowSteering::summary() const {
  std::string out;
  for (std::size_t p = 0; p < ports_.size(); ++p) {
    std::string part;
    if (ports_[p].flows == nullptr) {
      part = "off";
    } else if (!ports_[p].flows->available()) {
      part = "no rte_flow (" + ports_[p].flows->unavailable_reason() + ")";
    } else {
      part = std::to_string(ports_[p].flows->offloaded_rules()) + " rule(s) in the NIC";
    }
    out += (out.empty() ? "" : ", ") + ports_[p].name + ": " + part;
  }
  return out;
}

json FlowSteering::status(const dataplane::Table& table, const config::LoadedConfig& config) const {
  // Where no port could take a rule, the analysis was skipped before publishing; say what it
  // would have decided anyway.
  std::vector<rules::OffloadDecision> computed;
  std::vector<std::string> computed_ids;
  const bool fresh = current_.decisions.empty();
  if (fresh) {
    const rules::RuleList list = first_match_order(table);
    computed = rules::plan_offload(list);
    for (const rules::OffloadDecision& decision : computed)
      computed_ids.push_back(list[decision.rule].id);
  }
  const std::vector<rules::OffloadDecision>& decisions = fresh ? computed : current_.decisions;
  const std::vector<std::string>& decision_ids = fresh ? computed_ids : current_.decision_ids;
  json ports = json::array();
  for (std::size_t p = 0; p < ports_.size(); ++p) {
    const Port& port = ports_[p];
    const config::PortConfig& configured = config.config.ports.at(p);
    json entry = {{"name", port.name},
                  {"offload", configured.offload == config::OffloadMode::off        ? "off"
                              : configured.offload == config::OffloadMode::required ? "required"
                                                                                    : "auto"},
                  {"isolate", port.isolate},
                  {"rte_flow", port.flows != nullptr && port.flows->available()}};
    if (port.flows != nullptr && !port.flows->available()) {
      entry["rte_flow_reason"] = port.flows->unavailable_reason();
    }
    std::map<std::string, dataplane::FlowOutcome> outcomes;
    if (port.flows != nullptr) {
      for (dataplane::FlowOutcome& outcome : port.flows->outcomes())
        outcomes.emplace(outcome.id, std::move(outcome));
    }
    json list = json::array();
    const auto fate = [&](const std::string& id, const char* kind, const std::string& why_not) {
      json rule = {{"id", id}, {"kind", kind}, {"offloaded", false}, {"hw_packets", nullptr}};
      if (const auto it = outcomes.find(id); it != outcomes.end()) {
        rule["offloaded"] = it->second.offloaded;
        if (!it->second.offloaded) rule["reason"] = it->second.reason;
        if (it->second.hw_packets) rule["hw_packets"] = *it->second.hw_packets;
      } else {
        rule["reason"] = why_not;
      }
      if (!rule.contains("reason")) rule["reason"] = nullptr;
      return rule;
    };
    const bool off = configured.offload == config::OffloadMode::off;
    for (std::size_t d = 0; d < decisions.size(); ++d) {
      const rules::OffloadDecision& decision = decisions[d];
      std::string why_not = decision.reason;
      if (decision.offload) {
        why_not = off                           ? "offload is off on this port"
                  : !on_port(decision.ports, p) ? "not for this port (in_port)"
                  : port.flows == nullptr       ? "offload is off on this port"
                  : !port.flows->available()    ? port.flows->unavailable_reason()
                                                : "not in the NIC";
      }
      if (!decision.offload || !on_port(decision.ports, p)) {
        // An outcome for the id would only exist if the rule were wished here.
        json rule = {{"id", decision_ids[d]},
                     {"kind", "drop"},
                     {"offloaded", false},
                     {"reason", why_not},
                     {"hw_packets", nullptr}};
        list.push_back(std::move(rule));
        continue;
      }
      list.push_back(fate(decision_ids[d], "drop", why_not));
    }
    for (const Plan::Steer& steer : current_.steering) {
      json rule = fate(steer.id, "queue",
                       !steer.reason.empty()   ? steer.reason
                       : port.flows == nullptr ? "rte_flow is not used on this port"
                                               : "not for this port (in_port)");
      rule["worker"] = steer.lcore;
      list.push_back(std::move(rule));
    }
    entry["rules"] = std::move(list);
    ports.push_back(std::move(entry));
  }
  return {{"ports", std::move(ports)}};
}

}  // namespace udpsieve::control
