// libFuzzer target: one control-socket request line through parse_request and, for rule-add /
// rule-del / rule-sync, parse_change and RuntimeRuleSet::apply on a set that already holds
// rules of two sources beside two file rules.
//
// A change is refused with a ChangeError of one non-empty line, leaving the set exactly as it
// was, or applied leaving the set consistent: unique ids, at most max_rules rules, payload
// windows within the classifier's limit. Any other exception escapes and is a crash.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/control/request.hpp"
#include "udpsieve/control/runtime_rules.hpp"
#include "udpsieve/dataplane/rule_limits.hpp"
#include "udpsieve/rules/rule_loader.hpp"
#include "udpsieve/rules/rule_set.hpp"

namespace {

using udpsieve::control::ChangeError;
using udpsieve::control::ChangeLimits;
using udpsieve::control::RuntimeChange;
using udpsieve::control::RuntimeRule;
using udpsieve::control::RuntimeRuleSet;
using udpsieve::control::WallClock;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

const std::vector<std::string> kPorts = {"wan", "lan"};
constexpr std::size_t kMaxRules = 8;
const WallClock::time_point kNow = WallClock::time_point{} + std::chrono::seconds(1'800'000'000);

/// The file rules (one reads the payload at 2: one window) and the runtime rules every input
/// starts from: api rules at payload offset 0 and with a ttl, a bgp rate limit at offset 4.
class Fixture {
 public:
  Fixture() : file_(load_file()) {
    limits.file_rules = &file_;
    limits.file_windows = udpsieve::dataplane::payload_offsets(file_.rules()).size();
    limits.max_rules = kMaxRules;
    limits.workers = 2;
    add("rule-add", R"({"rules": [{"id": "a", "match": {"src": "10.0.0.0/8",
                                   "payload": {"offset": 0, "value": "17"}}, "action": "drop"},
                                  {"id": "b", "match": {"dst_port": 53}, "action": "forward"}]})");
    add("rule-add", R"({"rules": [{"id": "t", "action": "drop"}], "ttl_s": 60})");
    add("rule-sync", R"({"source": "bgp", "rules": [{"id": "c", "match": {"payload":
                         {"offset": 4, "value": "ff00", "mask": "ff0f"}},
                         "action": {"rate_limit": {"pps": 100, "burst": 10}}}]})");
  }

  ChangeLimits limits;
  RuntimeRuleSet base;

 private:
  static udpsieve::rules::RuleSet load_file() {
    udpsieve::rules::RuleCollector collector(kPorts);
    collector.add_document(udpsieve::YamlNode::load_string(
        "rules:\n"
        "  - {id: ntp, match: {src_port: 123}, action: drop}\n"
        "  - {id: dns, match: {dst_port: 53, payload: {offset: 2, value: \"01\"}},\n"
        "      action: {forward: lan}}\n",
        "rules.yaml"));
    return udpsieve::rules::RuleSet(collector.take(), udpsieve::rules::Verdict::forward,
                                    udpsieve::rules::Verdict::forward);
  }

  void add(std::string_view command, const char* body) {
    (void)base.apply(
        udpsieve::control::parse_change(command, nlohmann::json::parse(body), kPorts, kMaxRules),
        kNow, limits);
  }

  udpsieve::rules::RuleSet file_;
};

/// Everything about one runtime rule.
struct Entry {
  std::string id;
  udpsieve::rules::Match match;
  udpsieve::rules::Action action;
  std::string source;
  std::optional<WallClock::time_point> expires_at;
  WallClock::time_point added_at;
  uint64_t order;
  friend bool operator==(const Entry&, const Entry&) = default;
};

std::vector<Entry> entries_of(const RuntimeRuleSet& set) {
  std::vector<Entry> out;
  for (const RuntimeRule* entry : set.entries()) {
    out.push_back({entry->rule.id, entry->rule.match, entry->rule.action, entry->source,
                   entry->expires_at, entry->added_at, entry->order});
  }
  return out;
}

void check_message(const ChangeError& error) {
  const std::string_view message = error.what();
  check(!message.empty());
  check(message.find_first_of("\r\n") == std::string_view::npos);
}

/// The set is consistent and within its limits.
void check_set(const RuntimeRuleSet& set, const ChangeLimits& limits) {
  const std::vector<Entry> entries = entries_of(set);
  check(entries.size() == set.size());
  check(set.size() <= limits.max_rules);
  std::set<std::string> ids;
  std::set<uint16_t> offsets;
  uint64_t last_order = 0;
  for (const Entry& entry : entries) {
    check(ids.insert(entry.id).second);
    check(entry.order > last_order);
    last_order = entry.order;
    const RuntimeRule* found = set.find(entry.id);
    check(found != nullptr && found->rule.id == entry.id);
    check(limits.file_rules->find(entry.id) == nullptr);
    if (entry.match.payload) offsets.insert(entry.match.payload->offset);
  }
  check(set.payload_windows() == offsets.size());
  check(set.payload_windows() + limits.file_windows <= udpsieve::dataplane::kMaxPayloadWindows);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Fixture fixture;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const std::variant<udpsieve::control::Request, std::string> parsed =
      udpsieve::control::parse_request(line);
  const auto* request = std::get_if<udpsieve::control::Request>(&parsed);
  if (request == nullptr) return 0;
  if (request->command != "rule-add" && request->command != "rule-del" &&
      request->command != "rule-sync") {
    return 0;
  }

  RuntimeChange change;
  try {
    change = udpsieve::control::parse_change(request->command, request->body, kPorts, kMaxRules);
  } catch (const ChangeError& e) {
    check_message(e);
    return 0;
  }
  check(change.rules.size() <= kMaxRules);

  RuntimeRuleSet set = fixture.base;
  const std::vector<Entry> before = entries_of(set);
  try {
    (void)set.apply(change, kNow, fixture.limits);
  } catch (const ChangeError& e) {
    check_message(e);
    check(entries_of(set) == before);
    return 0;
  }
  check_set(set, fixture.limits);
  for (const udpsieve::rules::Rule& rule : change.rules) {
    const RuntimeRule* entry = set.find(rule.id);
    check(entry != nullptr && entry->source == change.source && entry->rule.match == rule.match);
  }
  for (const std::string& id : change.ids)
    check(set.find(id) == nullptr);

  // Everything due within a year expires through an expire change, which is never refused.
  const WallClock::time_point later = kNow + udpsieve::control::kMaxTtl;
  RuntimeChange expire;
  expire.kind = RuntimeChange::Kind::expire;
  expire.ids = set.expired(later);
  (void)set.apply(expire, later, fixture.limits);
  check(set.expired(later).empty() && !set.next_expiry());
  check_set(set, fixture.limits);
  return 0;
}
