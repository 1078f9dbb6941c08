#pragma once
/// Rules as JSON in the rule-file schema (`{"id", "match", "action"}`), for the control socket:
/// listing the live rules, and runtime rules, which the daemon reads back with
/// YamlNode::from_json and RuleCollector::parse_list. Reading back what these functions write
/// gives the same rule.

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "udpsieve/rules/rule.hpp"

namespace udpsieve::rules {

/// The present match fields: prefixes and ranges as lists of strings ("10.0.0.0/8",
/// "1024-65535"), in_port as port names, fragment as its word, payload as
/// {offset, value, mask} with hex strings. `port_names` are the daemon's ports in config order.
[[nodiscard]] nlohmann::json match_to_json(const Match& match,
                                           const std::vector<std::string>& port_names);
/// "drop", "forward", {"forward": NAME}, {"rate_limit": {"pps": N, "burst": M}} or
/// {"rate_limit": {"bps": N, "burst_bytes": M}}.
[[nodiscard]] nlohmann::json action_to_json(const Action& action);
/// {"id", "match", "action"}; "match" is left out when the rule matches everything.
[[nodiscard]] nlohmann::json rule_to_json(const Rule& rule,
                                          const std::vector<std::string>& port_names);

}  // namespace udpsieve::rules
