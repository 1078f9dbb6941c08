// The feeder's memory of flow routes, per BGP neighbor, from ExaBGP's JSON API lines.
#include "udpsieve/flowspec/feed.hpp"

#include <algorithm>
#include <stdexcept>

#include "udpsieve/common/text.hpp"

namespace udpsieve::flowspec {
namespace {

using nlohmann::json;

/// A line for the log: at most this many bytes of it.
constexpr std::size_t kQuotedBytes = 300;

std::string clipped(std::string_view line) {
  std::string text(line.substr(0, kQuotedBytes));
  if (line.size() > kQuotedBytes) text += "...";
  return text;
}

std::optional<Family> family_of(std::string_view key) {
  if (key == "ipv4 flow") return Family::ipv4;
  if (key == "ipv6 flow") return Family::ipv6;
  return std::nullopt;  // other families (unicast, flow-vpn, ...) are not ours
}

/// The route's text for the log: ExaBGP's own, or the canonical key.
std::string describe(const Route& route) {
  return route.text.empty() ? canonical_key(route) : route.text;
}

/// ExaBGP's extended communities as strings.
std::vector<std::string> communities_of(const json& update) {
  std::vector<std::string> out;
  const auto attribute = update.find("attribute");
  if (attribute == update.end() || !attribute->is_object()) return out;
  const auto list = attribute->find("extended-community");
  if (list == attribute->end() || !list->is_array()) return out;
  for (const json& community : *list) {
    if (community.is_object() && community.contains("string") && community["string"].is_string()) {
      out.push_back(community["string"].get<std::string>());
    } else if (community.is_string()) {
      out.push_back(community.get<std::string>());
    }
  }
  return out;
}

}  // namespace

LineOutcome Feed::apply(std::string_view line, Clock::time_point now) {
  // Log lines quote what peers sent: no control character may start a line of its own.
  const auto printable = [](LineOutcome outcome) {
    for (std::string& text : outcome.log)
      common::replace_controls(text);
    return outcome;
  };
  try {
    return printable(apply_message(line, now));
  } catch (const json::exception& e) {
    // A field of an unexpected type somewhere in the message (a number where ExaBGP writes a
    // string, ...): the whole line is skipped. What it changed before is kept; ExaBGP sends each
    // route in one message, so that is nothing in practice.
    ++counters_.bad_lines;
    LineOutcome outcome;
    outcome.kind = LineOutcome::Kind::bad;
    outcome.log.push_back(std::string("skipped a line: ") + e.what() + ": " + clipped(line));
    return printable(std::move(outcome));
  }
}

Clock::time_point Feed::settled_at(Clock::time_point started, std::chrono::seconds fallback) const {
  if (!first_heard_) return started + fallback;
  return std::min(last_heard_ + kSettleQuiet, *first_heard_ + kSettleMost);
}

LineOutcome Feed::apply_message(std::string_view line, Clock::time_point now) {
  ++counters_.lines;
  LineOutcome outcome;
  // ExaBGP answers each command a process writes (the feeder's route refreshes) with a line.
  if (line == "done" || line == "shutdown") return outcome;
  if (line == "error") {
    outcome.log.emplace_back(
        "ExaBGP answered \"error\" to a route refresh (no session up, or the neighbor lacks "
        "capability { route-refresh; })");
    return outcome;
  }
  const auto bad = [&](const std::string& why) {
    ++counters_.bad_lines;
    outcome.kind = LineOutcome::Kind::bad;
    outcome.log.push_back("skipped a line: " + why + ": " + clipped(line));
    return outcome;
  };
  const json message = json::parse(line, nullptr, false);
  if (message.is_discarded()) return bad("not JSON");
  if (!message.is_object()) return bad("not a JSON object");
  const std::string type = message.value("type", "");
  if (type != "update" && type != "state") return outcome;  // open, keepalive, notification...
  const auto neighbor_it = message.find("neighbor");
  if (neighbor_it == message.end() || !neighbor_it->is_object()) return bad("no neighbor");
  const json& neighbor_json = *neighbor_it;
  const json address = neighbor_json.value("address", json::object());
  if (!address.is_object() || !address.contains("peer") || !address["peer"].is_string()) {
    return bad("no neighbor.address.peer");
  }
  const std::string peer = address["peer"].get<std::string>();
  Neighbor& neighbor = neighbors_[peer];
  if (!first_heard_) first_heard_ = now;
  last_heard_ = now;

  if (type == "state") {
    const std::string state = neighbor_json.value("state", "");
    if (state == "down" && !neighbor.routes.empty()) {
      neighbor.down_since = now;
      for (auto& [key, held] : neighbor.routes)
        held.stale = true;
      outcome.log.push_back(
          "neighbor " + peer + " down: its " + std::to_string(neighbor.routes.size()) +
          " route(s) go" +
          (stale_after_.count() > 0
               ? " in " + std::to_string(stale_after_.count()) + " s unless announced again"
               : ""));
      if (expire(now)) outcome.kind = LineOutcome::Kind::changed;
    }
    return outcome;
  }

  const json* update = nullptr;
  if (const auto m = neighbor_json.find("message"); m != neighbor_json.end() && m->is_object()) {
    if (const auto u = m->find("update"); u != m->end() && u->is_object()) update = &*u;
  }
  if (update == nullptr) return bad("an update without neighbor.message.update");
  const uint64_t before = version_;
  if (const auto announced = update->find("announce"); announced != update->end()) {
    if (!announced->is_object()) return bad("announce is not an object");
    std::optional<Action> action;
    std::string action_error;
    try {
      action = parse_action(communities_of(*update));
    } catch (const std::invalid_argument& e) {
      action_error = e.what();
    }
    for (const auto& [family_key, by_nexthop] : announced->items()) {
      const std::optional<Family> family = family_of(family_key);
      if (!family) continue;
      if (!by_nexthop.is_object()) return bad(family_key + ": not an object of next hops");
      for (const auto& [nexthop, routes] : by_nexthop.items()) {
        if (!routes.is_array()) return bad(family_key + ": routes are not a list");
        for (const json& object : routes) {
          Route route;
          try {
            route = parse_route(*family, object);
          } catch (const std::invalid_argument& e) {
            ++counters_.refused;
            outcome.log.push_back(std::string("route refused: ") + e.what() + ": " +
                                  clipped(object.dump()));
            continue;
          }
          if (action) {
            announce(neighbor, route, *action, outcome);
          } else {
            // Held (a withdraw finds it) but refused: its action cannot be enforced.
            Translation refused;
            refused.outcome = Translation::Outcome::refused;
            refused.reason = action_error;
            Held& held = neighbor.routes[canonical_key(route)];
            held = Held{route, refused, "", false};
            changed();
            ++counters_.announced;
            ++counters_.refused;
            outcome.log.push_back("route refused: " + action_error + ": " + describe(route));
          }
        }
      }
    }
  }
  if (const auto withdraw_it = update->find("withdraw"); withdraw_it != update->end()) {
    if (!withdraw_it->is_object()) return bad("withdraw is not an object");
    for (const auto& [family_key, routes] : withdraw_it->items()) {
      const std::optional<Family> family = family_of(family_key);
      if (!family) continue;
      if (!routes.is_array()) return bad(family_key + ": withdrawn routes are not a list");
      for (const json& object : routes) {
        try {
          withdraw(neighbor, parse_route(*family, object), outcome);
        } catch (const std::invalid_argument&) {
          // A route that never parsed was never held.
        }
      }
    }
  }
  if (version_ != before) outcome.kind = LineOutcome::Kind::changed;
  return outcome;
}

void Feed::announce(Neighbor& neighbor, const Route& route, const Action& action,
                    LineOutcome& outcome) {
  ++counters_.announced;
  const std::string key = canonical_key(route);
  Translation translation = translate(route, action);
  if (translation.outcome != Translation::Outcome::rules) {
    const bool ignored = translation.outcome == Translation::Outcome::ignored;
    ++(ignored ? counters_.ignored : counters_.refused);
    if (reported_.insert(key).second) {
      outcome.log.push_back(std::string(ignored ? "route ignored: " : "route refused: ") +
                            translation.reason + ": " + describe(route));
    }
  }
  if (action.sample) {
    outcome.log.push_back("traffic-action sample is not acted on (use udpsievectl capture): " +
                          describe(route));
  }
  Held& held = neighbor.routes[key];
  const bool same = held.route == route && held.translation.rules == translation.rules &&
                    held.translation.outcome == translation.outcome && !held.stale &&
                    held.daemon_refusal.empty();
  held = Held{route, std::move(translation), "", false};
  if (!same) changed();
}

void Feed::withdraw(Neighbor& neighbor, const Route& route, LineOutcome& /*outcome*/) {
  const std::string key = canonical_key(route);
  if (neighbor.routes.erase(key) == 0) return;
  ++counters_.withdrawn;
  reported_.erase(key);
  changed();
}

bool Feed::expire(Clock::time_point now) {
  bool any = false;
  for (auto& [peer, neighbor] : neighbors_) {
    if (!neighbor.down_since || now < *neighbor.down_since + stale_after_) continue;
    const std::size_t before = neighbor.routes.size();
    std::erase_if(neighbor.routes, [](const auto& entry) { return entry.second.stale; });
    any = any || neighbor.routes.size() != before;
    neighbor.down_since.reset();
  }
  if (any) changed();
  return any;
}

Clock::time_point Feed::next_expiry() const {
  Clock::time_point next = Clock::time_point::max();
  for (const auto& [peer, neighbor] : neighbors_) {
    if (neighbor.down_since) next = std::min(next, *neighbor.down_since + stale_after_);
  }
  return next;
}

std::vector<json> Feed::rules() const {
  // The first neighbor (by address) holding a route speaks for it.
  std::map<std::string, const Held*> chosen;
  for (const auto& [peer, neighbor] : neighbors_) {
    for (const auto& [key, held] : neighbor.routes)
      chosen.emplace(key, &held);
  }
  std::vector<const Held*> live;
  for (const auto& [key, held] : chosen) {
    if (held->translation.outcome == Translation::Outcome::rules && held->daemon_refusal.empty()) {
      live.push_back(held);
    }
  }
  std::sort(live.begin(), live.end(),
            [](const Held* a, const Held* b) { return takes_precedence(a->route, b->route); });
  std::vector<json> out;
  for (const Held* held : live)
    out.insert(out.end(), held->translation.rules.begin(), held->translation.rules.end());
  return out;
}

std::string Feed::daemon_refused(const std::string& rule_id, const std::string& reason) {
  std::string text;
  for (auto& [peer, neighbor] : neighbors_) {
    for (auto& [key, held] : neighbor.routes) {
      const bool makes =
          std::any_of(held.translation.rules.begin(), held.translation.rules.end(),
                      [&](const json& rule) { return rule.value("id", "") == rule_id; });
      if (!makes || !held.daemon_refusal.empty()) continue;
      held.daemon_refusal = reason;
      text = describe(held.route);
    }
  }
  if (!text.empty()) {
    ++counters_.refused;
    changed();
  }
  return text;
}

std::size_t Feed::routes() const {
  std::size_t count = 0;
  for (const auto& [peer, neighbor] : neighbors_)
    count += neighbor.routes.size();
  return count;
}

}  // namespace udpsieve::flowspec
