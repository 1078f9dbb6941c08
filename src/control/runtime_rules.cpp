// Runtime rules: parsing rule-add / rule-del / rule-sync requests and applying changes.
#include "udpsieve/control/runtime_rules.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <set>
#include <utility>

#include "udpsieve/common/config_error.hpp"
#include "udpsieve/common/text.hpp"
#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/dataplane/rule_limits.hpp"
#include "udpsieve/rules/rule_loader.hpp"

namespace udpsieve::control {
namespace {

using nlohmann::json;

/// `message` with control characters escaped (\n, \u0001): ids and values from a request are
/// quoted into messages, and a refusal is always one line, in a log as on a terminal.
std::string one_line(const std::string& message) {
  std::string out;
  for (const char c : message) {
    const auto byte = static_cast<unsigned char>(c);
    if (!common::is_control(c)) {
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", byte);
      out += escaped;
    }
  }
  return out;
}

}  // namespace

[[noreturn]] void refuse(const std::string& message) {
  throw ChangeError(one_line(message));
}

namespace {

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

std::string describe(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

}  // namespace

bool optional_bool(const json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return false;
  if (!it->is_boolean())
    refuse(std::string(key) + ": expected true or false, got " + describe(*it));
  return it->get<bool>();
}

std::optional<std::chrono::seconds> parse_ttl(const json& body) {
  const auto it = body.find("ttl_s");
  if (it == body.end() || it->is_null()) return std::nullopt;
  const int64_t max = kMaxTtl.count();
  // A parsed line holds 60 as unsigned, a json built in code as signed: both are whole seconds.
  const bool whole = it->is_number_integer();
  if (!whole ||
      (it->is_number_unsigned() ? it->get<uint64_t>() > static_cast<uint64_t>(max)
                                : it->get<int64_t>() < 1 || it->get<int64_t>() > max) ||
      (it->is_number_unsigned() && it->get<uint64_t>() == 0)) {
    refuse("ttl_s: expected whole seconds from 1 to " + std::to_string(max) + " (a year), got " +
           describe(*it));
  }
  return std::chrono::seconds(it->is_number_unsigned() ? static_cast<int64_t>(it->get<uint64_t>())
                                                       : it->get<int64_t>());
}

namespace {

std::string parse_source(const json& body, bool required) {
  const auto it = body.find("source");
  if (it == body.end() || it->is_null()) {
    if (required) refuse("source: required (the runtime source whose rules are replaced)");
    return std::string(kPersistedSource);
  }
  if (!it->is_string() || !valid_source(it->get<std::string>())) {
    refuse(
        "source: expected a label of 1-32 lower-case letters, digits, _ or - starting with "
        "a letter (not \"file\"), got " +
        describe(*it));
  }
  return it->get<std::string>();
}

/// The request's rules, parsed exactly as a rule file's (same checks, same messages, key paths
/// instead of file positions).
std::vector<rules::Rule> parse_rules(const json& body, const rules::RuleCollector& collector,
                                     std::size_t max_rules, bool allow_empty) {
  const auto it = body.find("rules");
  if (it == body.end() || !it->is_array()) {
    refuse(
        "rules: expected a list of rules like [{\"id\": \"x\", \"match\": {...}, "
        "\"action\": \"drop\"}], got " +
        (it == body.end() ? std::string("nothing") : describe(*it)));
  }
  if (it->empty() && !allow_empty) refuse("rules: the list is empty; give at least one rule");
  if (it->size() > max_rules) {
    refuse("rules: " + std::to_string(it->size()) +
           " rules in one request, more than pipeline.dynamic_max_rules (" +
           std::to_string(max_rules) + ")");
  }
  try {
    const YamlNode root = YamlNode::from_json(json{{"rules", *it}}, "");
    return collector.parse_list(root.require("rules"));
  } catch (const ConfigError& e) {
    refuse(e.what());
  }
}

std::vector<std::string> parse_ids(const json& body) {
  const auto it = body.find("ids");
  if (it == body.end() || !it->is_array() || it->empty()) {
    refuse("ids: expected a non-empty list of rule ids, got " +
           (it == body.end() ? std::string("nothing") : describe(*it)));
  }
  std::vector<std::string> ids;
  std::map<std::string, std::size_t, std::less<>> seen;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& id = (*it)[i];
    const std::string path = "ids[" + std::to_string(i) + "]";
    if (!id.is_string() || id.get<std::string>().empty()) {
      refuse(path + ": expected a rule id, got " + describe(id));
    }
    const auto [where, fresh] = seen.emplace(id.get<std::string>(), i);
    if (!fresh) {
      refuse(path + ": " + in_quotes(where->first) + " is listed twice (also at ids[" +
             std::to_string(where->second) + "])");
    }
    ids.push_back(id.get<std::string>());
  }
  return ids;
}

/// "rules.yaml:3:5" for a file rule's position.
std::string file_rule_place(const rules::Rule& rule) {
  const std::string where = rule.where.to_string();
  return where.empty() ? "a file rule" : "a file rule at " + where;
}

}  // namespace

bool valid_source(std::string_view source) noexcept {
  if (source.empty() || source.size() > 32 || source == "file") return false;
  if (source.front() < 'a' || source.front() > 'z') return false;
  return std::all_of(source.begin(), source.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

namespace {

std::tm utc_of(WallClock::time_point when) {
  const std::time_t seconds = WallClock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return tm;
}

}  // namespace

std::string utc_text(WallClock::time_point when) {
  const std::tm tm = utc_of(when);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string compact_utc_text(WallClock::time_point when) {
  const std::tm tm = utc_of(when);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &tm);
  return text;
}

int64_t unix_seconds(WallClock::time_point when) {
  return std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count();
}

RuntimeChange parse_change(std::string_view command, const json& body,
                           const std::vector<std::string>& port_names, std::size_t max_rules,
                           const std::vector<std::string>& set_slots) {
  if (!body.is_object()) refuse("a request is a JSON object");
  RuntimeChange change;
  if (command == "rule-del") {
    change.kind = RuntimeChange::Kind::del;
    change.ids = parse_ids(body);
    change.missing_ok = optional_bool(body, "missing_ok");
    return change;
  }
  if (command == "rule-add") {
    change.kind = RuntimeChange::Kind::add;
    change.source = parse_source(body, false);
    change.ttl = parse_ttl(body);
    change.replace = optional_bool(body, "replace");
    change.rules = parse_rules(body, rules::RuleCollector(port_names, set_slots), max_rules, false);
    return change;
  }
  if (command == "rule-sync") {
    change.kind = RuntimeChange::Kind::sync;
    change.source = parse_source(body, true);
    change.ttl = parse_ttl(body);
    change.rules = parse_rules(body, rules::RuleCollector(port_names, set_slots), max_rules, true);
    return change;
  }
  refuse(in_quotes(command) + " is not a runtime rule command");
}

// --- the set ---------------------------------------------------------------------------------

ChangeResult RuntimeRuleSet::apply(const RuntimeChange& change, WallClock::time_point now,
                                   const ChangeLimits& limits) {
  ChangeResult result;
  const auto file_rule = [&](std::string_view id) -> const rules::Rule* {
    return limits.file_rules != nullptr ? limits.file_rules->find(id) : nullptr;
  };

  if (change.kind == RuntimeChange::Kind::del || change.kind == RuntimeChange::Kind::expire) {
    for (std::size_t i = 0; i < change.ids.size(); ++i) {
      const std::string& id = change.ids[i];
      const std::string path = "ids[" + std::to_string(i) + "]";
      if (const RuntimeRule* rule = find(id)) {
        result.persisted_source = result.persisted_source || rule->source == kPersistedSource;
        result.deleted.push_back(id);
        continue;
      }
      if (change.kind == RuntimeChange::Kind::expire) continue;
      if (const rules::Rule* rule = file_rule(id)) {
        refuse(path + ": " + in_quotes(id) + " is " + file_rule_place(*rule) +
               "; edit that file and reload to remove it");
      }
      if (!change.missing_ok) {
        refuse(path + ": no runtime rule " + in_quotes(id) +
               " (send \"missing_ok\": true to ignore ids that are gone)");
      }
      result.missing.push_back(id);
    }
    for (const std::string& id : result.deleted)
      erase(id);
    return result;
  }

  // add or sync: check everything before changing anything.
  const bool sync = change.kind == RuntimeChange::Kind::sync;
  std::set<std::string_view> leaving;  // sync: this source's ids the new set lacks
  std::size_t kept = 0;                // existing rules that stay (replaced or unchanged)
  std::set<std::string_view> incoming;
  for (const rules::Rule& rule : change.rules)
    incoming.insert(rule.id);
  if (sync) {
    for (const auto& [order, entry] : by_order_) {
      if (entry.source == change.source && incoming.count(entry.rule.id) == 0) {
        leaving.insert(entry.rule.id);
      }
    }
  }
  for (std::size_t i = 0; i < change.rules.size(); ++i) {
    const rules::Rule& rule = change.rules[i];
    const std::string path = "rules[" + std::to_string(i) + "].id";
    if (const rules::Rule* clash = file_rule(rule.id)) {
      refuse(path + ": " + in_quotes(rule.id) + " is " + file_rule_place(*clash) +
             "; runtime rules need ids of their own");
    }
    const RuntimeRule* existing = find(rule.id);
    if (existing == nullptr) continue;
    if (existing->source != change.source) {
      refuse(path + ": runtime rule " + in_quotes(rule.id) + " belongs to source " +
             existing->source + "; only that source may replace it");
    }
    if (!sync && !change.replace) {
      refuse(path + ": runtime rule " + in_quotes(rule.id) + " exists (source " + existing->source +
             "); send \"replace\": true to replace it");
    }
    ++kept;
  }
  const std::size_t total = size() - leaving.size() + change.rules.size() - kept;
  if (total > limits.max_rules) {
    refuse("rules: this change would bring the runtime rules to " + std::to_string(total) +
           ", more than pipeline.dynamic_max_rules (" + std::to_string(limits.max_rules) +
           "); delete some first");
  }

  // Payload offsets: the rules that stay, plus the incoming ones, must fit beside the file
  // rules' offsets in the classifier key.
  std::map<uint16_t, std::size_t> offsets = offset_counts_;
  const auto forget = [&](const rules::Rule& rule) {
    if (rule.match.payload && --offsets[rule.match.payload->offset] == 0) {
      offsets.erase(rule.match.payload->offset);
    }
  };
  for (const std::string_view id : leaving)
    forget(find(id)->rule);
  for (const rules::Rule& rule : change.rules) {
    if (const RuntimeRule* existing = find(rule.id)) forget(existing->rule);
  }
  for (std::size_t i = 0; i < change.rules.size(); ++i) {
    const rules::Rule& rule = change.rules[i];
    if (!rule.match.payload) continue;
    ++offsets[rule.match.payload->offset];
    if (offsets.size() + limits.file_windows > dataplane::kMaxPayloadWindows) {
      refuse("rules[" + std::to_string(i) + "].match.payload.offset: reading the payload at " +
             std::to_string(rule.match.payload->offset) + " would make " +
             std::to_string(offsets.size()) + " distinct offset(s) among runtime rules beside " +
             std::to_string(limits.file_windows) + " of the file rules; at most " +
             std::to_string(dataplane::kMaxPayloadWindows) +
             " fit together (the two kinds do not share offsets); align payload matches on "
             "offsets already in use");
    }
  }
  // Each rule on its own against the classifier's and the rate limiter's limits.
  try {
    dataplane::check_rule_limits(change.rules, limits.workers);
  } catch (const ConfigError& e) {
    for (std::size_t i = 0; i < change.rules.size(); ++i) {
      if (e.key_path() == "rule " + change.rules[i].id) {
        refuse("rules[" + std::to_string(i) + "]: " + e.message());
      }
    }
    refuse(std::string("rules: ") + e.message());
  }

  // Apply.
  const std::optional<WallClock::time_point> expires =
      change.ttl ? std::optional(now + *change.ttl) : std::nullopt;
  result.expires_at = expires;
  for (const std::string_view id : leaving)
    result.deleted.emplace_back(id);
  for (const std::string& id : result.deleted)
    erase(id);
  bool expiry_changed = false;  // a rule kept as it is but with another expiry (sync)
  for (std::size_t i = 0; i < change.rules.size(); ++i) {
    const rules::Rule& rule = change.rules[i];
    const std::optional<WallClock::time_point> rule_expires =
        i < change.expires.size() ? change.expires[i] : expires;
    const WallClock::time_point added = i < change.added.size() ? change.added[i] : now;
    if (const auto it = by_id_.find(rule.id); it != by_id_.end()) {
      RuntimeRule& entry = by_order_.at(it->second);
      const bool same = entry.rule.match == rule.match && entry.rule.action == rule.action &&
                        entry.rule.note == rule.note;
      if (sync && same) {
        ++result.unchanged;
        expiry_changed = expiry_changed || entry.expires_at != rule_expires;
      } else {
        result.replaced.push_back(rule.id);
      }
      count_offset(entry.rule, -1);
      entry.rule = rule;
      count_offset(entry.rule, +1);
      entry.expires_at = rule_expires;
      continue;
    }
    result.added.push_back(rule.id);
    insert(RuntimeRule{rule, change.source, rule_expires, added, 0});
  }
  if (sync) result.reordered = order_as_given(change.rules);
  result.persisted_source = change.source == kPersistedSource &&
                            (!result.added.empty() || !result.replaced.empty() ||
                             !result.deleted.empty() || expiry_changed || result.reordered);
  return result;
}

bool RuntimeRuleSet::order_as_given(const std::vector<rules::Rule>& given) {
  // The places the rules hold now, in first-match order; given[i] takes the i-th of them, so
  // rules of other sources keep theirs.
  std::vector<uint64_t> places;
  places.reserve(given.size());
  for (const rules::Rule& rule : given)
    places.push_back(by_id_.at(rule.id));
  if (std::is_sorted(places.begin(), places.end())) return false;
  std::vector<RuntimeRule> moving;
  moving.reserve(given.size());
  for (const uint64_t place : places) {
    auto node = by_order_.extract(place);
    moving.push_back(std::move(node.mapped()));
  }
  std::sort(places.begin(), places.end());
  for (std::size_t i = 0; i < moving.size(); ++i) {
    moving[i].order = places[i];
    by_id_[moving[i].rule.id] = places[i];
    by_order_.emplace(places[i], std::move(moving[i]));
  }
  return true;
}

void RuntimeRuleSet::count_offset(const rules::Rule& rule, int delta) {
  if (!rule.match.payload) return;
  const uint16_t offset = rule.match.payload->offset;
  if (delta > 0) {
    ++offset_counts_[offset];
  } else if (--offset_counts_[offset] == 0) {
    offset_counts_.erase(offset);
  }
}

void RuntimeRuleSet::insert(RuntimeRule rule) {
  count_offset(rule.rule, +1);
  rule.order = next_order_++;
  by_id_.emplace(rule.rule.id, rule.order);
  by_order_.emplace(rule.order, std::move(rule));
}

void RuntimeRuleSet::erase(std::string_view id) {
  const auto it = by_id_.find(std::string(id));
  if (it == by_id_.end()) return;
  count_offset(by_order_.at(it->second).rule, -1);
  by_order_.erase(it->second);
  by_id_.erase(it);
}

const RuntimeRule* RuntimeRuleSet::find(std::string_view id) const {
  const auto it = by_id_.find(std::string(id));
  return it == by_id_.end() ? nullptr : &by_order_.at(it->second);
}

std::vector<std::string> RuntimeRuleSet::expired(WallClock::time_point now) const {
  std::vector<std::string> out;
  for (const auto& [order, entry] : by_order_) {
    if (entry.expires_at && *entry.expires_at <= now) out.push_back(entry.rule.id);
  }
  return out;
}

std::optional<WallClock::time_point> RuntimeRuleSet::next_expiry() const {
  std::optional<WallClock::time_point> next;
  for (const auto& [order, entry] : by_order_) {
    if (entry.expires_at && (!next || *entry.expires_at < *next)) next = entry.expires_at;
  }
  return next;
}

std::vector<rules::Rule> RuntimeRuleSet::rules() const {
  std::vector<rules::Rule> out;
  out.reserve(by_order_.size());
  for (const auto& [order, entry] : by_order_)
    out.push_back(entry.rule);
  return out;
}

std::vector<const RuntimeRule*> RuntimeRuleSet::entries() const {
  std::vector<const RuntimeRule*> out;
  out.reserve(by_order_.size());
  for (const auto& [order, entry] : by_order_)
    out.push_back(&entry);
  return out;
}

std::map<std::string, std::size_t> RuntimeRuleSet::count_by_source() const {
  std::map<std::string, std::size_t> out;
  for (const auto& [order, entry] : by_order_)
    ++out[entry.source];
  return out;
}

const RuntimeRule* RuntimeRuleSet::clash_with(const rules::RuleSet& file_rules) const {
  for (const auto& [order, entry] : by_order_) {
    if (file_rules.find(entry.rule.id) != nullptr) return &entry;
  }
  return nullptr;
}

std::size_t RuntimeRuleSet::payload_windows() const {
  return offset_counts_.size();
}

}  // namespace udpsieve::control
