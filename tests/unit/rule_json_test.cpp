// Runtime rules: rules as JSON (rule_to_json), read back through YamlNode::from_json and
// RuleCollector::parse_list, with the exact error lines a client sees; and rule files sent as
// JSON (YamlNode::to_json). Random rules check that every path round-trips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/temp_dir.hpp"
#include "udpsieve/common/config_error.hpp"
#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/rules/rule_json.hpp"
#include "udpsieve/rules/rule_loader.hpp"

namespace udpsieve::rules {
namespace {

using nlohmann::json;

const std::vector<std::string> kPorts = {"wan", "lan"};

/// Parses a runtime request `{"rules": [...]}` the way the daemon does.
std::vector<Rule> parse_request(const json& request, const std::string& display_name = "",
                                const std::vector<std::string>& ports = kPorts) {
  const RuleCollector collector(ports);
  return collector.parse_list(YamlNode::from_json(request, display_name).require("rules"));
}

Prefix prefix(const char* text) {
  std::string error;
  return Prefix::parse(text, error).value();
}

/// Everything but `where`, which says where a rule was written and so differs by design.
void expect_same_rule(const Rule& got, const Rule& want, const std::string& context) {
  SCOPED_TRACE(context + " rule " + want.id);
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.match.src, want.match.src);
  EXPECT_EQ(got.match.dst, want.match.dst);
  EXPECT_EQ(got.match.src_port, want.match.src_port);
  EXPECT_EQ(got.match.dst_port, want.match.dst_port);
  EXPECT_EQ(got.match.in_port, want.match.in_port);
  EXPECT_EQ(got.match.length, want.match.length);
  EXPECT_EQ(got.match.ttl, want.match.ttl);
  EXPECT_EQ(got.match.dscp, want.match.dscp);
  EXPECT_EQ(got.match.vlan, want.match.vlan);
  EXPECT_EQ(got.match.fragment, want.match.fragment);
  EXPECT_EQ(got.match.payload, want.match.payload);
  EXPECT_EQ(got.action.kind, want.action.kind);
  EXPECT_EQ(got.action.port, want.action.port);
  EXPECT_EQ(got.action.port_name, want.action.port_name);
  EXPECT_EQ(got.action.rate_limit, want.action.rate_limit);
}

void expect_same_rules(const udpsieve::rules::RuleList& got, const udpsieve::rules::RuleList& want,
                       const std::string& context) {
  ASSERT_EQ(got.size(), want.size()) << context;
  for (std::size_t i = 0; i < got.size(); ++i)
    expect_same_rule(got[i], want[i], context);
}

TEST(RuleJsonTest, Shapes) {
  Rule rule;
  rule.id = "everything";
  rule.match.src = {prefix("10.0.0.0/8"), prefix("2001:db8::/32")};
  rule.match.dst = {prefix("192.0.2.1")};
  rule.match.src_port = {{53, 53}};
  rule.match.dst_port = {{1024, 65535}, {0, 0}};
  rule.match.in_port = {1, 0};
  rule.match.length = {{28, 1500}};
  rule.match.ttl = {{1, 1}};
  rule.match.dscp = {{46, 46}, {40, 47}};
  rule.match.vlan = {{100, 199}};
  rule.match.fragment = FragmentKind::first;
  rule.match.payload = PayloadMatch{2, {0x01, 0x00}, {0xff, 0x00}};
  rule.action.kind = ActionKind::drop;
  EXPECT_EQ(rule_to_json(rule, kPorts), json::parse(R"({
    "id": "everything",
    "match": {
      "src": ["10.0.0.0/8", "2001:db8::/32"], "dst": ["192.0.2.1/32"],
      "src_port": ["53"], "dst_port": ["1024-65535", "0"], "in_port": ["lan", "wan"],
      "length": ["28-1500"], "ttl": ["1"], "dscp": ["46", "40-47"], "vlan": ["100-199"],
      "fragment": "first", "payload": {"offset": 2, "value": "0100", "mask": "ff00"}
    },
    "action": "drop"
  })"));

  const Rule any{"any", {}, {}, {}, {}};
  EXPECT_EQ(rule_to_json(any, kPorts), json::parse(R"({"id": "any", "action": "forward"})"));
  EXPECT_EQ(match_to_json(Match{}, kPorts), json::object());
  Match non_first;
  non_first.fragment = FragmentKind::non_first;
  EXPECT_EQ(match_to_json(non_first, kPorts), json::parse(R"({"fragment": "non_first"})"));

  Action action;
  action.kind = ActionKind::forward;
  EXPECT_EQ(action_to_json(action), json("forward"));
  action.port = 1;
  action.port_name = "lan";
  EXPECT_EQ(action_to_json(action), json::parse(R"({"forward": "lan"})"));
  action = Action{};
  action.kind = ActionKind::rate_limit;
  action.rate_limit = {RateLimit::Unit::packets, 1000, 100, 0};
  EXPECT_EQ(action_to_json(action), json::parse(R"({"rate_limit": {"pps": 1000, "burst": 100}})"));
  action.rate_limit = {RateLimit::Unit::bytes, 1'000'000, 100'000, 8'000'000};
  EXPECT_EQ(action_to_json(action),
            json::parse(R"({"rate_limit": {"bps": 8000000, "burst_bytes": 100000}})"));
}

TEST(RuleJsonTest, ParsesARuntimeRequest) {
  const std::vector<Rule> rules = parse_request(json::parse(R"({"rules": [
    {"id": "a", "match": {"src": "10.0.0.0/8", "dst_port": 53, "in_port": "wan"},
     "action": {"forward": "lan"}},
    {"id": "b", "match": {"dst_port": [53, "1024-65535"], "ttl": ["1-5"],
                          "payload": {"offset": 4, "value": "0xFF00", "mask": "ff00"}},
     "action": {"rate_limit": {"pps": 1000, "burst": 100}}},
    {"id": "null", "match": null, "action": "drop"},
    {"id": 42, "action": "forward"}
  ]})"),
                                                "runtime");
  ASSERT_EQ(rules.size(), 4u);
  EXPECT_EQ(rules[0].match.src, std::vector<Prefix>{prefix("10.0.0.0/8")});
  EXPECT_EQ(rules[0].match.dst_port, (std::vector<Range>{{53, 53}}));
  EXPECT_EQ(rules[0].match.in_port, std::vector<int>{0});
  EXPECT_EQ(rules[0].action.port, 1);
  EXPECT_EQ(rules[0].where.to_string(), "runtime");
  EXPECT_EQ(rules[1].match.dst_port, (std::vector<Range>{{53, 53}, {1024, 65535}}));
  EXPECT_EQ(rules[1].match.payload, (PayloadMatch{4, {0xff, 0x00}, {0xff, 0x00}}));
  EXPECT_EQ(action_to_string(rules[1].action), "rate_limit:1000pps/100");
  EXPECT_EQ(rules[2].id, "null");  // a JSON string, never YAML's null
  EXPECT_EQ(rules[3].id, "42");
}

TEST(RuleJsonTest, RuntimeErrorMessages) {
  struct Case {
    const char* description;
    const char* request;  // JSON
    std::string error;
  };
  const std::string match_keys =
      "unknown key (expected one of: src, dst, src_set, dst_set, src_port, dst_port, in_port, "
      "length, ttl, dscp, vlan, fragment, payload)";
  const Case cases[] = {
      {"bad prefix in src[0] of the third rule",
       R"({"rules": [{"id": "a", "action": "drop"}, {"id": "b", "action": "drop"},
                     {"id": "c", "match": {"src": ["10.0.0.300"]}, "action": "drop"}]})",
       "rules[2].match.src[0]: '10.0.0.300' is not an IPv4 address"},
      {"host bits set",
       R"({"rules": [{"id": "a", "match": {"dst": "10.0.0.1/8"}, "action": "drop"}]})",
       "rules[0].match.dst: 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)"},
      {"port out of range in dst_port[1]",
       R"({"rules": [{"id": "a", "match": {"dst_port": [53, 70000]}, "action": "drop"}]})",
       "rules[0].match.dst_port[1]: 70000 is out of range 0-65535"},
      {"negative number", R"({"rules": [{"id": "a", "match": {"ttl": -1}, "action": "drop"}]})",
       "rules[0].match.ttl: '-1' is not a TTL or a TTL range like 1-64"},
      {"boolean as a port",
       R"({"rules": [{"id": "a", "match": {"src_port": true}, "action": "drop"}]})",
       "rules[0].match.src_port: 'true' is not a port or a port range like 1024-65535"},
      {"unknown match key",
       R"({"rules": [{"id": "a", "match": {"proto": "udp"}, "action": "drop"}]})",
       "rules[0].match.proto: " + match_keys},
      {"unknown rule key", R"({"rules": [{"id": "a", "action": "drop", "comment": "x"}]})",
       "rules[0].comment: unknown key (expected one of: id, match, action, note)"},
      {"match is a string", R"({"rules": [{"id": "a", "match": "", "action": "drop"}]})",
       "rules[0].match: expected a mapping, got ''"},
      {"empty list", R"({"rules": [{"id": "a", "match": {"vlan": []}, "action": "drop"}]})",
       "rules[0].match.vlan: empty list matches nothing; remove the key to match any"},
      {"families never meet",
       R"({"rules": [{"id": "a", "match": {"src": "10.0.0.0/8", "dst": "::1"}, "action": "drop"}]})",
       "rules[0].match: src is IPv4 only and dst is IPv6 only, so this rule can never match"},
      {"payload offset is a fraction",
       R"({"rules": [{"id": "a", "match": {"payload": {"offset": 1.5, "value": "ff"}},
                      "action": "drop"}]})",
       "rules[0].match.payload.offset: expected a whole number, got '1.5'"},
      {"payload value outside the mask",
       R"({"rules": [{"id": "a", "match": {"payload": {"value": "ff", "mask": "0f"}},
                      "action": "drop"}]})",
       "rules[0].match.payload: value has bits outside the mask at byte 0; clear them or widen "
       "the mask"},
      {"unknown action word", R"({"rules": [{"id": "a", "action": "reject"}]})",
       "rules[0].action: 'reject' is not an action; expected drop, forward, {forward: PORT} or "
       "{rate_limit: ...}"},
      {"action is null", R"({"rules": [{"id": "a", "action": null}]})",
       "rules[0].action: required key is missing"},
      {"action is an empty object", R"({"rules": [{"id": "a", "action": {}}]})",
       "rules[0].action: expected {forward: PORT} or {rate_limit: ...}"},
      {"rate_limit missing burst",
       R"({"rules": [{"id": "a", "action": {"rate_limit": {"pps": 1000}}}]})",
       "rules[0].action.rate_limit: a pps limit needs burst (packets), e.g. {pps: 1000, burst: "
       "100}"},
      {"bps not whole bytes",
       R"({"rules": [{"id": "a", "action": {"rate_limit": {"bps": 1001, "burst_bytes": 100}}}]})",
       "rules[0].action.rate_limit.bps: 1001 bits per second is not a whole number of bytes; use "
       "a multiple of 8"},
      {"pps zero", R"({"rules": [{"id": "a", "action": {"rate_limit": {"pps": 0, "burst": 1}}}]})",
       "rules[0].action.rate_limit.pps: 0 is out of range 1-1000000000"},
      {"id with a bad character", R"({"rules": [{"id": "a b", "action": "drop"}]})",
       "rules[0].id: rule id \"a b\" contains ' '; use only letters, digits and _ . : -"},
      {"empty id", R"({"rules": [{"id": "", "action": "drop"}]})",
       "rules[0].id: must not be empty"},
      {"id is a list", R"({"rules": [{"id": ["a"], "action": "drop"}]})",
       "rules[0].id: expected a single value, got a list"},
      {"missing id", R"({"rules": [{"id": "a", "action": "drop"}, {"action": "drop"}]})",
       "rules[1].id: required key is missing"},
      {"null id", R"({"rules": [{"id": null, "action": "drop"}]})",
       "rules[0].id: required key is missing"},
      {"duplicate id inside one list",
       R"({"rules": [{"id": "x", "action": "drop"}, {"id": "y", "action": "drop"},
                     {"id": "x", "action": "forward"}]})",
       "rules[2].id: duplicate rule id \"x\" (also given at rules[0].id)"},
      {"duplicate id, one given as a number",
       R"({"rules": [{"id": "7", "action": "drop"}, {"id": 7, "action": "drop"}]})",
       "rules[1].id: duplicate rule id \"7\" (also given at rules[0].id)"},
      {"in_port naming an unknown port",
       R"({"rules": [{"id": "a", "match": {"in_port": ["wan", "dmz"]}, "action": "drop"}]})",
       "rules[0].match.in_port[1]: unknown port \"dmz\" (ports are: wan, lan)"},
      {"forward to an unknown port", R"({"rules": [{"id": "a", "action": {"forward": "dmz"}}]})",
       "rules[0].action.forward: unknown port \"dmz\" (ports are: wan, lan)"},
      {"a rule that is not an object", R"({"rules": ["drop"]})",
       "rules[0]: expected a mapping, got 'drop'"},
      {"rules is not a list", R"({"rules": {"id": "a", "action": "drop"}})",
       "rules: expected a list, got a mapping"},
      {"no rules key", R"({"rule": []})", "rules: required key is missing"},
      {"a number where a list is expected is fine",
       R"({"rules": [{"id": "a", "match": {"dst_port": 53, "dscp": 46, "in_port": "lan"},
                      "action": "drop"}]})",
       "(no error)"},
      {"numbers and number-like strings are the same",
       R"({"rules": [{"id": "a", "match": {"vlan": ["100", 200, "0300"]}, "action": "drop"}]})",
       "(no error)"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(test::config_error_of([&] { (void)parse_request(json::parse(c.request)); }), c.error)
        << c.description;
  }
  // A display name leads the line like a file name, still without a position.
  EXPECT_EQ(test::config_error_of([] {
              (void)parse_request(json::parse(R"({"rules": [{"id": "a", "action": "x"}]})"),
                                  "runtime");
            }),
            "runtime: rules[0].action: 'x' is not an action; expected drop, forward, {forward: "
            "PORT} or {rate_limit: ...}");
}

TEST(RuleJsonTest, ParseListLeavesTheCollectorAlone) {
  RuleCollector collector(kPorts);
  collector.add_document(YamlNode::load_string("rules:\n  - id: x\n    action: drop\n", "a.yaml"));
  // parse_list checks the list on its own: an id the collector already holds is the caller's
  // business (the daemon decides whether a runtime rule may shadow a file's).
  const std::vector<Rule> rules = collector.parse_list(
      YamlNode::from_json(json::parse(R"([{"id": "x", "action": "drop"}])"), ""));
  ASSERT_EQ(rules.size(), 1u);
  ASSERT_EQ(collector.rules().size(), 1u);
  // ...and records nothing: a file may still use an id a parsed list had.
  (void)collector.parse_list(
      YamlNode::from_json(json::parse(R"([{"id": "y", "action": "drop"}])"), ""));
  collector.add_document(YamlNode::load_string("rules:\n  - id: y\n    action: drop\n", "b.yaml"));
  EXPECT_EQ(collector.rules().size(), 2u);

  // A file's list through parse_list keeps the positions in its messages.
  const YamlNode file = YamlNode::load_string(
      "rules:\n  - id: x\n    action: drop\n  - id: x\n    action: drop\n", "c.yaml");
  EXPECT_EQ(test::config_error_of([&] { (void)collector.parse_list(file.require("rules")); }),
            "c.yaml:4:9: rules[1].id: duplicate rule id \"x\" (first defined at c.yaml:2:9)");

  const Rule one = collector.parse_one(YamlNode::from_json(
      json::parse(R"({"id": "one", "match": {"dst_port": 53}, "action": {"forward": "lan"}})"),
      ""));
  EXPECT_EQ(one.id, "one");
  EXPECT_EQ(one.action.port, 1);
  EXPECT_EQ(test::config_error_of([&] {
              (void)collector.parse_one(YamlNode::from_json(json::parse(R"({"id": "a"})"), ""));
            }),
            "action: required key is missing");
}

// --- random rules --------------------------------------------------------------------------

/// Port names that look like YAML numbers and booleans on purpose.
const std::vector<std::string> kRandomPorts = {"wan", "lan", "42", "007", "true"};

/// Valid random rules covering every match field and action, reproducible from a seed.
class RuleGenerator {
 public:
  explicit RuleGenerator(uint32_t seed) : rng_(seed) {}

  uint64_t between(uint64_t low, uint64_t high) {
    return std::uniform_int_distribution<uint64_t>(low, high)(rng_);
  }
  bool chance(unsigned percent) { return between(1, 100) <= percent; }
  template <class T>
  const T& pick(const std::vector<T>& values) {
    return values[between(0, values.size() - 1)];
  }

  Rule rule(std::size_t index) {
    Rule rule;
    rule.id = id(index);
    Match& m = rule.match;
    if (chance(40)) m.src = prefixes();
    if (chance(40)) m.dst = prefixes();
    if (!m.src.empty() && !m.dst.empty()) {
      // Rules whose src and dst share no family are refused; give dst one of src's.
      bool shared = false;
      for (const Prefix& s : m.src) {
        for (const Prefix& d : m.dst)
          shared = shared || s.family == d.family;
      }
      if (!shared) m.dst.push_back(prefix_of(m.src.front().family));
    }
    if (chance(30)) m.src_port = ranges(65535);
    if (chance(30)) m.dst_port = ranges(65535);
    if (chance(25)) {
      const std::size_t count = between(1, 3);
      for (std::size_t i = 0; i < count; ++i)
        m.in_port.push_back(static_cast<int>(between(0, kRandomPorts.size() - 1)));
    }
    if (chance(20)) m.length = ranges(65535);
    if (chance(20)) m.ttl = ranges(255);
    if (chance(20)) m.dscp = ranges(63);
    if (chance(20)) m.vlan = ranges(4095);
    if (chance(20)) {
      m.fragment = pick(std::vector<FragmentKind>{FragmentKind::none, FragmentKind::first,
                                                  FragmentKind::non_first});
    }
    if (chance(20)) m.payload = payload();
    if (m.fragment == FragmentKind::non_first) {
      // Refused: non-first fragments carry no UDP header.
      m.src_port.clear();
      m.dst_port.clear();
      m.payload.reset();
    }
    rule.action = action();
    return rule;
  }

 private:
  std::string id(std::size_t index) {
    static const std::string kChars =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-";
    // A leading digit makes ids like "0042" or "42" that YAML would read as numbers.
    std::string out = chance(20) ? "" : "r";
    out += std::to_string(index);
    if (chance(30)) out.insert(0, std::string(between(1, 3), '0'));
    const std::size_t extra = chance(10) ? 64 - out.size() : between(0, 8);
    if (out.size() + extra <= 64) {
      if (extra > 0) out += '-';
      for (std::size_t i = 1; i < extra; ++i)
        out += kChars[between(0, kChars.size() - 1)];
    }
    return out;
  }

  Prefix prefix_of(Family family) {
    Prefix p;
    p.family = family;
    const unsigned bits = family == Family::ipv4 ? 32 : 128;
    const uint64_t kind = between(0, 9);
    p.length = static_cast<uint8_t>(kind == 0 ? 0 : kind == 1 ? bits : between(1, bits));
    for (unsigned i = 0; i < bits / 8; ++i)
      p.addr[i] = static_cast<uint8_t>(between(0, 255));
    // Clear the host bits: the parser refuses prefixes with any set.
    for (unsigned bit = p.length; bit < bits; ++bit) {
      p.addr[bit / 8] = static_cast<uint8_t>(p.addr[bit / 8] & ~(0x80u >> (bit % 8)));
    }
    if (family == Family::ipv6 && chance(10)) {
      // Also "::/0" and host-only forms with leading zero groups.
      for (unsigned i = 0; i < 8 && i < p.length / 8; ++i)
        p.addr[i] = 0;
    }
    return p;
  }

  std::vector<Prefix> prefixes() {
    std::vector<Prefix> out;
    const std::size_t count = between(1, 3);
    for (std::size_t i = 0; i < count; ++i)
      out.push_back(prefix_of(chance(50) ? Family::ipv4 : Family::ipv6));
    return out;
  }

  std::vector<Range> ranges(uint16_t max) {
    std::vector<Range> out;
    const std::size_t count = between(1, 3);
    for (std::size_t i = 0; i < count; ++i) {
      Range r;
      switch (between(0, 3)) {
        case 0:  // one value
          r.first = r.last = static_cast<uint16_t>(between(0, max));
          break;
        case 1:  // the whole domain, and its ends
          r = chance(50) ? Range{0, max} : Range{max, max};
          break;
        default:
          r.first = static_cast<uint16_t>(between(0, max));
          r.last = static_cast<uint16_t>(between(r.first, max));
          break;
      }
      out.push_back(r);
    }
    return out;
  }

  PayloadMatch payload() {
    PayloadMatch p;
    p.offset = static_cast<uint16_t>(chance(20) ? PayloadMatch::kMaxOffset
                                                : between(0, PayloadMatch::kMaxOffset));
    const std::size_t size = between(1, PayloadMatch::kMaxBytes);
    for (std::size_t i = 0; i < size; ++i) {
      const auto mask = static_cast<uint8_t>(chance(50) ? 0xff : between(0, 255));
      p.mask.push_back(mask);
      // Digit-only values ("0011") are what YAML would misread as numbers.
      const auto byte =
          static_cast<uint8_t>(chance(30) ? between(0, 9) * 16 + between(0, 9) : between(0, 255));
      p.value.push_back(static_cast<uint8_t>(byte & mask));
    }
    return p;
  }

  Action action() {
    Action a;
    switch (between(0, 4)) {
      case 0:
        a.kind = ActionKind::drop;
        break;
      case 1:
        a.kind = ActionKind::forward;
        break;
      case 2:
        a.kind = ActionKind::forward;
        a.port = static_cast<int>(between(0, kRandomPorts.size() - 1));
        a.port_name = kRandomPorts[static_cast<std::size_t>(a.port)];
        break;
      case 3:
        a.kind = ActionKind::rate_limit;
        a.rate_limit.unit = RateLimit::Unit::packets;
        a.rate_limit.rate = chance(10) ? 1'000'000'000 : between(1, 1'000'000);
        a.rate_limit.burst = chance(10) ? 1 : between(1, 1'000'000'000);
        break;
      default:
        a.kind = ActionKind::rate_limit;
        a.rate_limit.unit = RateLimit::Unit::bytes;
        a.rate_limit.bps = 8 * (chance(10) ? 125'000'000'000 : between(1, 1'000'000'000));
        a.rate_limit.rate = a.rate_limit.bps / 8;
        a.rate_limit.burst = chance(10) ? 64 : between(64, 1'000'000'000'000);
        break;
    }
    return a;
  }

  std::mt19937 rng_;
};

/// How often each kind of field appears, so a generator change cannot silently stop covering one.
std::map<std::string, int> coverage(const std::vector<Rule>& rules) {
  std::map<std::string, int> seen;
  for (const Rule& r : rules) {
    for (const auto* list : {&r.match.src, &r.match.dst}) {
      for (const Prefix& p : *list) {
        const unsigned bits = p.family == Family::ipv4 ? 32 : 128;
        const std::string family = p.family == Family::ipv4 ? "v4" : "v6";
        seen[family] += 1;
        if (p.length == 0) seen[family + "/0"] += 1;
        if (p.length == bits) seen[family + " host"] += 1;
      }
    }
    seen["src_port"] += !r.match.src_port.empty();
    seen["dst_port"] += !r.match.dst_port.empty();
    seen["in_port"] += !r.match.in_port.empty();
    seen["length"] += !r.match.length.empty();
    seen["ttl"] += !r.match.ttl.empty();
    seen["dscp"] += !r.match.dscp.empty();
    seen["vlan"] += !r.match.vlan.empty();
    if (r.match.fragment) seen[std::string("fragment ") + fragment_name(*r.match.fragment)] += 1;
    seen["payload"] += r.match.payload.has_value();
    switch (r.action.kind) {
      case ActionKind::drop:
        seen["drop"] += 1;
        break;
      case ActionKind::forward:
        seen[r.action.port_name.empty() ? "forward" : "forward named"] += 1;
        break;
      case ActionKind::rate_limit:
        seen[r.action.rate_limit.unit == RateLimit::Unit::packets ? "pps" : "bps"] += 1;
        break;
    }
  }
  return seen;
}

void expect_coverage(const std::vector<Rule>& rules) {
  const std::map<std::string, int> seen = coverage(rules);
  for (const char* kind : {"v4",
                           "v6",
                           "v4/0",
                           "v6/0",
                           "v4 host",
                           "v6 host",
                           "src_port",
                           "dst_port",
                           "in_port",
                           "length",
                           "ttl",
                           "dscp",
                           "vlan",
                           "fragment none",
                           "fragment first",
                           "fragment non_first",
                           "payload",
                           "drop",
                           "forward",
                           "forward named",
                           "pps",
                           "bps"}) {
    const auto it = seen.find(kind);
    EXPECT_TRUE(it != seen.end() && it->second >= 5) << kind;
  }
}

TEST(RuleJsonTest, RandomRulesRoundTripThroughJson) {
  RuleGenerator generator(20240611);
  std::vector<Rule> rules;
  for (std::size_t i = 0; i < 2500; ++i)
    rules.push_back(generator.rule(i));
  expect_coverage(rules);

  json list = json::array();
  for (const Rule& rule : rules)
    list.push_back(rule_to_json(rule, kRandomPorts));
  // Through text as well, as the socket carries it.
  const json request = json::parse(json{{"rules", list}}.dump());
  const RuleCollector collector(kRandomPorts);
  std::vector<Rule> parsed;
  ASSERT_NO_THROW(parsed = collector.parse_list(YamlNode::from_json(request, "").require("rules")));
  expect_same_rules(parsed, rules, "json");
  for (const Rule& rule : parsed)
    EXPECT_EQ(rule.where.line, 0);
  for (std::size_t i = 0; i < rules.size(); ++i)
    EXPECT_EQ(rule_to_json(parsed[i], kRandomPorts), list[i]);

  // One at a time too.
  for (std::size_t i = 0; i < 200; ++i) {
    expect_same_rule(collector.parse_one(YamlNode::from_json(list[i], "")), rules[i], "one");
  }
}

/// A scalar in one of YAML's styles, plain only where YAML would read the same text back.
std::string yaml_scalar(RuleGenerator& g, const std::string& text) {
  // ':' at either end would read as a mapping; '-' first as a list item.
  const bool plain_ok =
      !text.empty() && text.front() != ':' && text.front() != '-' && text.back() != ':';
  const uint64_t style = g.between(0, 3);
  if (style <= 1 && plain_ok) return text;
  if (style == 2) return "'" + text + "'";
  return "\"" + text + "\"";
}

/// One value or a flow list: `53`, `[53, '1-2']`.
std::string yaml_list(RuleGenerator& g, const std::vector<std::string>& texts) {
  if (texts.size() == 1 && g.chance(50)) return yaml_scalar(g, texts.front());
  std::string out = "[";
  for (std::size_t i = 0; i < texts.size(); ++i)
    out += (i > 0 ? ", " : "") + yaml_scalar(g, texts[i]);
  return out + "]";
}

/// A range as an operator might write it: "53" sometimes as "0053".
std::vector<std::string> range_texts(RuleGenerator& g, const std::vector<Range>& ranges) {
  std::vector<std::string> out;
  for (const Range& r : ranges) {
    std::string text = r.to_string();
    if (r.first == r.last && g.chance(20)) text.insert(0, "00");
    out.push_back(text);
  }
  return out;
}

/// A rule file entry for `rule`, in a random mix of block and flow style.
std::string yaml_rule(RuleGenerator& g, const Rule& rule) {
  const Match& m = rule.match;
  std::vector<std::pair<std::string, std::string>> fields;
  const auto prefixes = [](const std::vector<Prefix>& list) {
    std::vector<std::string> out;
    for (const Prefix& p : list)
      out.push_back(p.to_string());
    return out;
  };
  if (!m.src.empty()) fields.emplace_back("src", yaml_list(g, prefixes(m.src)));
  if (!m.dst.empty()) fields.emplace_back("dst", yaml_list(g, prefixes(m.dst)));
  if (!m.src_port.empty())
    fields.emplace_back("src_port", yaml_list(g, range_texts(g, m.src_port)));
  if (!m.dst_port.empty())
    fields.emplace_back("dst_port", yaml_list(g, range_texts(g, m.dst_port)));
  if (!m.in_port.empty()) {
    std::vector<std::string> names;
    for (int port : m.in_port)
      names.push_back(kRandomPorts[static_cast<std::size_t>(port)]);
    fields.emplace_back("in_port", yaml_list(g, names));
  }
  if (!m.length.empty()) fields.emplace_back("length", yaml_list(g, range_texts(g, m.length)));
  if (!m.ttl.empty()) fields.emplace_back("ttl", yaml_list(g, range_texts(g, m.ttl)));
  if (!m.dscp.empty()) fields.emplace_back("dscp", yaml_list(g, range_texts(g, m.dscp)));
  if (!m.vlan.empty()) fields.emplace_back("vlan", yaml_list(g, range_texts(g, m.vlan)));
  if (m.fragment) fields.emplace_back("fragment", yaml_scalar(g, fragment_name(*m.fragment)));
  if (m.payload) {
    std::string payload = "{offset: " + std::to_string(m.payload->offset) +
                          ", value: " + yaml_scalar(g, to_hex(m.payload->value));
    const bool full_mask = std::all_of(m.payload->mask.begin(), m.payload->mask.end(),
                                       [](uint8_t b) { return b == 0xff; });
    if (!full_mask || g.chance(50)) payload += ", mask: " + yaml_scalar(g, to_hex(m.payload->mask));
    fields.emplace_back("payload", payload + "}");
  }

  std::string out = "  - id: " + yaml_scalar(g, rule.id) + "\n";
  if (!fields.empty() || g.chance(10)) {
    if (g.chance(50)) {
      out += "    match: {";
      for (std::size_t i = 0; i < fields.size(); ++i)
        out += (i > 0 ? ", " : "") + fields[i].first + ": " + fields[i].second;
      out += "}\n";
    } else {
      out += "    match:\n";
      for (const auto& [key, value] : fields)
        out += "      " + key + ": " + value + "\n";
    }
  }
  const Action& a = rule.action;
  const std::string number_burst = std::to_string(a.rate_limit.burst);
  switch (a.kind) {
    case ActionKind::drop:
      out += "    action: " + yaml_scalar(g, "drop") + "\n";
      break;
    case ActionKind::forward:
      if (a.port_name.empty()) {
        out += "    action: " + yaml_scalar(g, "forward") + "\n";
      } else if (g.chance(50)) {
        out += "    action: {forward: " + yaml_scalar(g, a.port_name) + "}\n";
      } else {
        out += "    action:\n      forward: " + yaml_scalar(g, a.port_name) + "\n";
      }
      break;
    case ActionKind::rate_limit:
      if (a.rate_limit.unit == RateLimit::Unit::packets) {
        out += "    action: {rate_limit: {pps: " + std::to_string(a.rate_limit.rate) +
               ", burst: " + yaml_scalar(g, number_burst) + "}}\n";
      } else {
        out += "    action:\n      rate_limit:\n        bps: " + std::to_string(a.rate_limit.bps) +
               "\n        burst_bytes: " + yaml_scalar(g, number_burst) + "\n";
      }
      break;
  }
  return out;
}

TEST(RuleJsonTest, RuleFilesRoundTripThroughToJson) {
  RuleGenerator generator(7);
  std::vector<Rule> all;
  for (int file = 0; file < 8; ++file) {
    std::vector<Rule> rules;
    std::string text = "# generated\nrules:\n";
    for (std::size_t i = 0; i < 300; ++i) {
      rules.push_back(generator.rule(all.size() + i));
      text += yaml_rule(generator, rules.back());
    }
    const std::string name = "rules" + std::to_string(file) + ".yaml";
    SCOPED_TRACE(name);
    const YamlNode document = YamlNode::load_string(text, name);

    RuleCollector direct(kRandomPorts);
    ASSERT_NO_THROW(direct.add_document(document)) << text;
    expect_same_rules(direct.rules(), rules, "yaml");

    const json sent = json::parse(document.to_json().dump());
    const RuleCollector collector(kRandomPorts);
    std::vector<Rule> received;
    ASSERT_NO_THROW(received =
                        collector.parse_list(YamlNode::from_json(sent, "").require("rules")));
    expect_same_rules(received, direct.rules(), "yaml -> json");
    EXPECT_EQ(YamlNode::from_json(sent, "").to_json(), sent);
    all.insert(all.end(), rules.begin(), rules.end());
  }
  expect_coverage(all);
}

TEST(RuleJsonTest, TrickyRuleFileScalarsSurviveToJson) {
  // Numbers with leading zeros, booleans and digit-only hex keep their meaning.
  const std::vector<std::string> ports = {"wan", "42", "007", "true"};
  const YamlNode document = YamlNode::load_string(
      "rules:\n"
      "  - id: 0042\n"
      "    match: {dst_port: 0053, in_port: [42, 007, true], vlan: 0,\n"
      "            payload: {offset: 010, value: 0011, mask: 00ff}}\n"
      "    action: {forward: true}\n"
      "  - id: true\n"
      "    action: {rate_limit: {pps: 18, burst: 01}}\n"
      "  - id: '1e3'\n"
      "    action: forward\n",
      "t.yaml");
  EXPECT_EQ(document.to_json(), json::parse(R"({"rules": [
    {"id": "0042",
     "match": {"dst_port": "0053", "in_port": [42, "007", true], "vlan": 0,
               "payload": {"offset": "010", "value": "0011", "mask": "00ff"}},
     "action": {"forward": true}},
    {"id": true, "action": {"rate_limit": {"pps": 18, "burst": "01"}}},
    {"id": "1e3", "action": "forward"}
  ]})"));
  RuleCollector direct(ports);
  direct.add_document(document);
  const RuleCollector collector(ports);
  const std::vector<Rule> received =
      collector.parse_list(YamlNode::from_json(document.to_json(), "").require("rules"));
  expect_same_rules(received, direct.rules(), "tricky");
  ASSERT_EQ(received.size(), 3u);
  EXPECT_EQ(received[0].id, "0042");
  EXPECT_EQ(received[0].match.in_port, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(received[0].match.payload, (PayloadMatch{10, {0x00, 0x11}, {0x00, 0xff}}));
  EXPECT_EQ(received[0].action.port_name, "true");
  EXPECT_EQ(received[1].id, "true");
}

TEST(RuleJsonTest, ANoteTravelsWithTheRule) {
  const std::vector<Rule> rules = parse_request(json::parse(R"({"rules": [
    {"id": "bgp-1", "match": {"dst_port": 53}, "action": "drop",
     "note": "flow destination-ipv4 192.0.2.0/24 destination-port =53 \"é\""},
    {"id": "plain", "action": "drop"}]})"));
  ASSERT_EQ(rules.size(), 2U);
  EXPECT_EQ(rules[0].note, "flow destination-ipv4 192.0.2.0/24 destination-port =53 \"é\"");
  EXPECT_EQ(rule_to_json(rules[0], kPorts)["note"], rules[0].note);
  EXPECT_FALSE(rule_to_json(rules[1], kPorts).contains("note"));
  EXPECT_EQ(parse_request(json{{"rules", {rule_to_json(rules[0], kPorts)}}})[0].note,
            rules[0].note);
}

}  // namespace
}  // namespace udpsieve::rules
