// Rules into the rule-file schema as JSON; the inverse of rule_loader on a from_json document.
#include "udpsieve/rules/rule_json.hpp"

#include <cstddef>

#include <nlohmann/json.hpp>

namespace udpsieve::rules {
namespace {

using nlohmann::json;

json prefixes_json(const std::vector<Prefix>& prefixes) {
  json out = json::array();
  for (const Prefix& p : prefixes)
    out.push_back(p.to_string());
  return out;
}

json ranges_json(const std::vector<Range>& ranges) {
  json out = json::array();
  for (const Range& r : ranges)
    out.push_back(r.to_string());
  return out;
}

}  // namespace

json match_to_json(const Match& match, const std::vector<std::string>& port_names) {
  json out = json::object();
  if (!match.src.empty()) out["src"] = prefixes_json(match.src);
  if (!match.dst.empty()) out["dst"] = prefixes_json(match.dst);
  if (!match.src_set.empty()) out["src_set"] = match.src_set;
  if (!match.dst_set.empty()) out["dst_set"] = match.dst_set;
  if (!match.src_port.empty()) out["src_port"] = ranges_json(match.src_port);
  if (!match.dst_port.empty()) out["dst_port"] = ranges_json(match.dst_port);
  if (!match.in_port.empty()) {
    json ports = json::array();
    for (int port : match.in_port)
      ports.push_back(port_names.at(static_cast<std::size_t>(port)));
    out["in_port"] = std::move(ports);
  }
  if (!match.length.empty()) out["length"] = ranges_json(match.length);
  if (!match.ttl.empty()) out["ttl"] = ranges_json(match.ttl);
  if (!match.dscp.empty()) out["dscp"] = ranges_json(match.dscp);
  if (!match.vlan.empty()) out["vlan"] = ranges_json(match.vlan);
  if (match.fragment) out["fragment"] = fragment_name(*match.fragment);
  if (match.payload) {
    out["payload"] = {{"offset", match.payload->offset},
                      {"value", to_hex(match.payload->value)},
                      {"mask", to_hex(match.payload->mask)}};
  }
  return out;
}

json action_to_json(const Action& action) {
  switch (action.kind) {
    case ActionKind::drop:
      return "drop";
    case ActionKind::forward:
      if (action.port_name.empty()) return "forward";
      return {{"forward", action.port_name}};
    case ActionKind::rate_limit: {
      const RateLimit& limit = action.rate_limit;
      json out = limit.unit == RateLimit::Unit::packets
                     ? json{{"pps", limit.rate}, {"burst", limit.burst}}
                     : json{{"bps", limit.bps}, {"burst_bytes", limit.burst}};
      if (limit.per_source != 0) {
        out["per_source"] = limit.per_source;
        out["per_source_v6"] = limit.per_source_v6;
      }
      return {{"rate_limit", std::move(out)}};
    }
  }
  return nullptr;
}

json rule_to_json(const Rule& rule, const std::vector<std::string>& port_names) {
  json out = {{"id", rule.id}};
  json match = match_to_json(rule.match, port_names);
  if (!match.empty()) out["match"] = std::move(match);
  out["action"] = action_to_json(rule.action);
  if (!rule.note.empty()) out["note"] = rule.note;
  return out;
}

}  // namespace udpsieve::rules
