// FlowSpec routes into udpsieve runtime rules: actions, components, ids.
//
// Choices (docs/fleet.md lists them for operators):
// - traffic-rate 0 (bytes or packets) drops; a non-zero rate becomes a daemon-wide rate_limit
//   (bytes: bps = 8 x rate; packets: pps); no action forwards (an "accept" route).
// - traffic-action sample is noted and ignored; the terminal bit set ("keep evaluating later
//   routes") is refused: udpsieve stops at the first match. Redirects and traffic-marking are
//   refused: udpsieve only drops, forwards and limits.
// - Components that can only match ICMP or TCP (icmp-type, icmp-code, tcp-flags, a protocol
//   list without UDP) make the route ignored: udpsieve filters UDP and leaves the rest to
//   pipeline.non_udp. flow-label and IPv6 prefix offsets are refused.
// - port (source OR destination) becomes two rules; fragment flags become the daemon's
//   first / non_first / none where they can be expressed exactly.
// - packet-length is the whole IP packet, header included (RFC 8955 type 10, which RFC 8956
//   keeps for IPv6): the daemon's `length` means the same for both families, so it is copied.
#include "udpsieve/flowspec/route.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <span>
#include <stdexcept>
#include <string_view>

#include "udpsieve/common/decimal.hpp"
#include "udpsieve/common/fnv1a.hpp"
#include "udpsieve/common/text.hpp"
#include "udpsieve/rules/rule.hpp"

namespace udpsieve::flowspec {
namespace {

using nlohmann::json;

/// A set of values as sorted, disjoint inclusive ranges.
using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;

/// The values of [0, max] an AND term of numeric ops accepts.
Ranges term_values(std::span<const NumericOp> term, uint64_t max) {
  Ranges set = {{0, max}};
  for (const NumericOp& op : term) {
    Ranges allowed;  // values of [0, max] this op accepts
    const uint64_t v = op.value;
    if (op.lt && v > 0) allowed.emplace_back(0, std::min(v - 1, max));
    if (op.eq && v <= max) allowed.emplace_back(v, v);
    if (op.gt && v < max) allowed.emplace_back(v + 1, max);
    Ranges next;
    for (const auto& [a, b] : set) {
      for (const auto& [c, d] : allowed) {
        const uint64_t lo = std::max(a, c);
        const uint64_t hi = std::min(b, d);
        if (lo <= hi) next.emplace_back(lo, hi);
      }
    }
    set = std::move(next);
  }
  return set;
}

/// The union of the component's OR terms, normalised.
Ranges numeric_values(const std::vector<NumericOp>& ops, uint64_t max) {
  Ranges all;
  for (std::size_t start = 0; start < ops.size();) {
    std::size_t end = start + 1;
    while (end < ops.size() && ops[end].and_with_previous)
      ++end;
    const Ranges part =
        term_values(std::span<const NumericOp>(ops).subspan(start, end - start), max);
    all.insert(all.end(), part.begin(), part.end());
    start = end;
  }
  std::sort(all.begin(), all.end());
  Ranges merged;
  for (const auto& range : all) {
    if (!merged.empty() && range.first <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, range.second);
    } else {
      merged.push_back(range);
    }
  }
  return merged;
}

json ranges_json(const Ranges& ranges) {
  json list = json::array();
  for (const auto& [a, b] : ranges) {
    if (a == b) {
      list.push_back(a);
    } else {
      list.push_back(std::to_string(a) + "-" + std::to_string(b));
    }
  }
  return list;
}

/// Whether a packet whose flag bits are `bits` passes the bitmask ops (OR of AND terms).
bool bitmask_passes(const std::vector<BitmaskOp>& ops, uint64_t bits) {
  bool any_term = false;
  bool term = true;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const BitmaskOp& op = ops[i];
    bool result = op.match ? (bits & op.value) == op.value : (bits & op.value) != 0;
    if (op.negate) result = !result;
    if (i > 0 && !op.and_with_previous) {
      any_term = any_term || term;
      term = true;
    }
    term = term && result;
  }
  return any_term || term;
}

/// The daemon's fragment kinds a fragment component selects, or a refusal. Packets fall into
/// five classes by their flags (dont-fragment 1, is-fragment 2, first-fragment 4,
/// last-fragment 8); the daemon tells apart unfragmented, first and non-first only.
std::variant<std::vector<std::string>, std::string> fragment_kinds(
    const std::vector<BitmaskOp>& ops) {
  const bool none0 = bitmask_passes(ops, 0x00);
  const bool none1 = bitmask_passes(ops, 0x01);
  const bool first = bitmask_passes(ops, 0x06);
  const bool middle = bitmask_passes(ops, 0x02);
  const bool last = bitmask_passes(ops, 0x0a);
  if (none0 != none1) {
    return std::string("fragment: the dont-fragment flag is not something udpsieve matches");
  }
  if (middle != last) {
    return std::string(
        "fragment: udpsieve tells first from later fragments, not the last one from the "
        "others");
  }
  std::vector<std::string> kinds;
  if (none0) kinds.emplace_back("none");
  if (first) kinds.emplace_back("first");
  if (middle) kinds.emplace_back("non_first");
  if (kinds.empty()) return std::string("fragment: matches no packet");
  return kinds;
}

std::string hex64(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

/// The rules' note: the route as ExaBGP wrote it ("flow destination-ipv4 192.0.2.0/24 ..."),
/// or its canonical key, fit for a rule's note (no control characters, at most its length).
std::string note_of(const Route& route) {
  std::string note = route.text.empty() ? canonical_key(route) : route.text;
  common::replace_controls(note);
  if (note.size() > rules::kMaxRuleNoteLength) {
    note.resize(rules::kMaxRuleNoteLength - 3);
    // Not in the middle of a UTF-8 sequence.
    while (!note.empty() && (static_cast<unsigned char>(note.back()) & 0xc0) == 0x80)
      note.pop_back();
    if (!note.empty() && static_cast<unsigned char>(note.back()) >= 0xc0) note.pop_back();
    note += "...";
  }
  return note;
}

json action_json(const Action& action) {
  switch (action.kind) {
    case Action::Kind::drop:
      return "drop";
    case Action::Kind::accept:
      return "forward";
    case Action::Kind::rate_bytes:
      // A burst of one second's worth, and at least 1518 bytes for each of up to 128 workers.
      return {
          {"rate_limit",
           {{"bps", action.rate * 8}, {"burst_bytes", std::max<uint64_t>(action.rate, 194304)}}}};
    case Action::Kind::rate_packets:
      return {
          {"rate_limit", {{"pps", action.rate}, {"burst", std::max<uint64_t>(action.rate, 128)}}}};
  }
  return "drop";
}

Translation refuse(Translation::Outcome outcome, std::string reason) {
  Translation t;
  t.outcome = outcome;
  t.reason = std::move(reason);
  return t;
}

}  // namespace

Action parse_action(const std::vector<std::string>& communities) {
  Action action;
  bool rated = false;
  for (const std::string& community : communities) {
    const std::string_view text(community);
    if (text.rfind("rate-limit:", 0) == 0) {
      std::string_view number = text.substr(11);
      bool packets = false;
      if (const std::size_t colon = number.find(':'); colon != std::string_view::npos) {
        if (number.substr(colon + 1) != "packets") {
          throw std::invalid_argument("unknown traffic-rate community '" + community + "'");
        }
        packets = true;
        number = number.substr(0, colon);
      }
      uint64_t rate = 0;
      if (parse_decimal(number, UINT64_MAX, rate) != DecimalResult::ok) {
        throw std::invalid_argument("traffic-rate '" + community + "': not a whole rate");
      }
      Action next;
      next.kind = rate == 0 ? Action::Kind::drop
                            : (packets ? Action::Kind::rate_packets : Action::Kind::rate_bytes);
      next.rate = rate;
      if (rated && (next.kind != action.kind || next.rate != action.rate)) {
        throw std::invalid_argument("two different traffic-rate actions");
      }
      action.kind = next.kind;
      action.rate = next.rate;
      rated = true;
    } else if (text.rfind("action", 0) == 0) {
      if (text.find("terminal") != std::string_view::npos) {
        throw std::invalid_argument(
            "traffic-action with the terminal bit (keep evaluating later routes): udpsieve "
            "stops at the first matching rule");
      }
      if (text.find("sample") != std::string_view::npos) action.sample = true;
    } else if (text.rfind("redirect", 0) == 0 || text.rfind("copy-to-nexthop", 0) == 0) {
      throw std::invalid_argument("'" + community +
                                  "': redirects are not supported (udpsieve drops, forwards "
                                  "and rate-limits)");
    } else if (text.rfind("mark", 0) == 0) {
      throw std::invalid_argument("'" + community +
                                  "': traffic-marking is not supported (udpsieve does not "
                                  "rewrite packets)");
    }
    // Other extended communities (route targets, origins) are not actions.
  }
  return action;
}

Translation translate(const Route& route, const Action& action) {
  const bool v4 = route.family == Family::ipv4;
  json match = json::object();
  std::vector<std::string> fragment;  // kinds, one rule each; empty: no fragment component
  bool any_port = false;              // the `port` component: two rules
  Ranges port_ranges;
  std::size_t entries = 1;  // product of the list sizes, per rule
  bool has_prefix = false;

  for (const Component& component : route.components) {
    const auto numeric = [&](uint64_t max) {
      return numeric_values(std::get<std::vector<NumericOp>>(component.value), max);
    };
    switch (component.type) {
      case ComponentType::destination:
      case ComponentType::source: {
        const auto& prefix = std::get<PrefixComponent>(component.value);
        if (prefix.offset != 0) {
          return refuse(Translation::Outcome::refused,
                        "an IPv6 prefix with a non-zero offset is not supported");
        }
        char buffer[INET6_ADDRSTRLEN] = {};
        (void)inet_ntop(v4 ? AF_INET : AF_INET6, prefix.address.data(), buffer, sizeof buffer);
        match[component.type == ComponentType::destination ? "dst" : "src"] =
            std::string(buffer) + "/" + std::to_string(prefix.length);
        has_prefix = true;
        break;
      }
      case ComponentType::protocol: {
        const Ranges protocols = numeric(0xff);
        const bool udp = std::any_of(protocols.begin(), protocols.end(),
                                     [](const auto& r) { return r.first <= 17 && 17 <= r.second; });
        if (!udp) {
          return refuse(Translation::Outcome::ignored,
                        "matches no UDP (its protocol list leaves out 17): udpsieve filters UDP "
                        "only");
        }
        break;  // UDP is all the rules see; the route's other protocols follow non_udp
      }
      case ComponentType::icmp_type:
      case ComponentType::icmp_code:
      case ComponentType::tcp_flags:
        return refuse(Translation::Outcome::ignored,
                      std::string(component.type == ComponentType::tcp_flags ? "tcp-flags"
                                                                             : "an ICMP field") +
                          " can only match non-UDP traffic, which udpsieve does not filter");
      case ComponentType::flow_label:
        return refuse(Translation::Outcome::refused, "flow-label is not supported");
      case ComponentType::port:
        any_port = true;
        port_ranges = numeric(0xffff);
        if (port_ranges.empty()) {
          return refuse(Translation::Outcome::refused, "port: matches no value");
        }
        entries *= port_ranges.size();
        break;
      case ComponentType::destination_port:
      case ComponentType::source_port:
      case ComponentType::packet_length:
      case ComponentType::dscp: {
        const uint64_t max = component.type == ComponentType::dscp ? 63 : 0xffff;
        const Ranges values = numeric(max);
        const char* field = component.type == ComponentType::destination_port ? "dst_port"
                            : component.type == ComponentType::source_port    ? "src_port"
                            : component.type == ComponentType::packet_length  ? "length"
                                                                              : "dscp";
        if (values.empty()) {
          return refuse(Translation::Outcome::refused, std::string(field) + ": matches no value");
        }
        match[field] = ranges_json(values);
        entries *= values.size();
        break;
      }
      case ComponentType::fragment: {
        auto kinds = fragment_kinds(std::get<std::vector<BitmaskOp>>(component.value));
        if (auto* reason = std::get_if<std::string>(&kinds)) {
          return refuse(Translation::Outcome::refused, *reason);
        }
        fragment = std::get<std::vector<std::string>>(kinds);
        if (fragment.size() == 3) fragment.clear();  // every packet: no condition
        break;
      }
    }
  }
  // A route of one family matches only packets of it, also when it names no prefix.
  if (!has_prefix) match["dst"] = v4 ? "0.0.0.0/0" : "::/0";

  // One rule per fragment kind and per port side.
  std::vector<json> matches;
  for (std::size_t k = 0; k < std::max<std::size_t>(fragment.size(), 1); ++k) {
    json m = match;
    if (!fragment.empty()) m["fragment"] = fragment[k];
    if (!any_port) {
      matches.push_back(std::move(m));
      continue;
    }
    for (const char* side : {"dst_port", "src_port"}) {
      json with_port = m;
      // A port component ANDs with the dedicated ones: intersect where both are given.
      if (with_port.contains(side)) {
        return refuse(Translation::Outcome::refused,
                      std::string("port together with ") + side +
                          " is not supported (the rules would need their intersection)");
      }
      with_port[side] = ranges_json(port_ranges);
      matches.push_back(std::move(with_port));
    }
  }
  if (matches.size() * entries > kMaxEntriesPerRoute) {
    return refuse(Translation::Outcome::refused,
                  "needs " + std::to_string(matches.size() * entries) +
                      " classifier entries, more than " + std::to_string(kMaxEntriesPerRoute) +
                      " for one route");
  }
  // Non-first fragments carry no ports: a port or fragment combination that can never match.
  Translation t;
  const std::string id = "bgp-" + hex64(fnv1a64(canonical_key(route)));
  const json rule_action = action_json(action);
  const std::string note = note_of(route);
  for (std::size_t i = 0; i < matches.size(); ++i) {
    const bool ports = matches[i].contains("dst_port") || matches[i].contains("src_port");
    if (ports && matches[i].value("fragment", "") == "non_first") continue;
    t.rules.push_back({{"id", matches.size() == 1 ? id : id + "-" + std::to_string(i + 1)},
                       {"match", std::move(matches[i])},
                       {"action", rule_action},
                       {"note", note}});
  }
  if (t.rules.empty()) {
    return refuse(Translation::Outcome::refused,
                  "ports on non-first fragments: matches no packet (they carry no UDP header)");
  }
  return t;
}

}  // namespace udpsieve::flowspec
