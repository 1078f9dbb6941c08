// Rule files: every accepted form and every error line, with exact file:line:col and key path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"
#include "udpsieve/common/config_error.hpp"
#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/rules/rule_loader.hpp"

namespace udpsieve::rules {
namespace {

using udpsieve::test::TempDir;

const std::vector<std::string> kPorts = {"wan", "lan"};

std::vector<Rule> load(const std::string& yaml, const std::vector<std::string>& ports = kPorts) {
  RuleCollector collector(ports);
  collector.add_document(YamlNode::load_string(yaml, "rules.yaml"));
  return collector.take().to_vector();
}

/// The ConfigError line that loading `yaml` produces, or "(no error)".
std::string error_of(const std::string& yaml, const std::vector<std::string>& ports = kPorts) {
  return udpsieve::test::config_error_of([&] { (void)load(yaml, ports); });
}

Prefix prefix(const char* text) {
  std::string error;
  return Prefix::parse(text, error).value();
}

TEST(RuleLoaderTest, ParsesTheDocumentedExample) {
  const std::vector<Rule> rules = load(
      "rules:\n"
      "  - id: drop-ntp-reflection        # unique across ALL loaded files\n"
      "    match:                         # optional\n"
      "      src: [203.0.113.0/24]        # one or a list\n"
      "      dst: 198.51.100.0/24\n"
      "      src_port: 123\n"
      "      dst_port: 1024-65535\n"
      "    action: drop\n"
      "  - id: dns.to-lan:v6\n"
      "    match:\n"
      "      dst: [2001:db8::/32, '::ffff:10.0.0.0/104']\n"
      "      dst_port: [\"53\", 5353, \"8000-8080\", 0-1]\n"
      "    action: {forward: lan}\n"
      "  - id: Everything_else\n"
      "    match: {}\n"
      "    action: forward\n");
  ASSERT_EQ(rules.size(), 3u);

  EXPECT_EQ(rules[0].id, "drop-ntp-reflection");
  EXPECT_EQ(rules[0].where.to_string(), "rules.yaml:2:5");
  EXPECT_EQ(rules[0].match.src, std::vector<Prefix>{prefix("203.0.113.0/24")});
  EXPECT_EQ(rules[0].match.dst, std::vector<Prefix>{prefix("198.51.100.0/24")});
  EXPECT_EQ(rules[0].match.src_port, (std::vector<Range>{{123, 123}}));
  EXPECT_EQ(rules[0].match.dst_port, (std::vector<Range>{{1024, 65535}}));
  EXPECT_EQ(rules[0].action.kind, ActionKind::drop);
  EXPECT_EQ(action_to_string(rules[0].action), "drop");

  EXPECT_EQ(rules[1].id, "dns.to-lan:v6");
  EXPECT_EQ(rules[1].where.to_string(), "rules.yaml:9:5");
  EXPECT_TRUE(rules[1].match.src.empty());
  EXPECT_EQ(rules[1].match.dst,
            (std::vector<Prefix>{prefix("2001:db8::/32"), prefix("::ffff:10.0.0.0/104")}));
  EXPECT_TRUE(rules[1].match.src_port.empty());
  EXPECT_EQ(rules[1].match.dst_port,
            (std::vector<Range>{{53, 53}, {5353, 5353}, {8000, 8080}, {0, 1}}));
  EXPECT_EQ(rules[1].action.kind, ActionKind::forward);
  EXPECT_EQ(rules[1].action.port, 1);
  EXPECT_EQ(rules[1].action.port_name, "lan");
  EXPECT_EQ(action_to_string(rules[1].action), "forward:lan");

  EXPECT_EQ(rules[2].id, "Everything_else");
  EXPECT_TRUE(rules[2].match.src.empty());
  EXPECT_TRUE(rules[2].match.dst.empty());
  EXPECT_TRUE(rules[2].match.src_port.empty());
  EXPECT_TRUE(rules[2].match.dst_port.empty());
  EXPECT_EQ(rules[2].action.kind, ActionKind::forward);
  EXPECT_EQ(rules[2].action.port, -1);
  EXPECT_EQ(rules[2].action.port_name, "");
  EXPECT_EQ(action_to_string(rules[2].action), "forward");
}

TEST(RuleLoaderTest, EmptyFilesGiveNoRules) {
  for (const char* yaml : {"", "# nothing here yet\n", "rules: []\n", "rules:\n", "{}\n"}) {
    EXPECT_TRUE(load(yaml).empty()) << yaml;
  }
}

TEST(RuleLoaderTest, AcceptsEdgeValues) {
  const std::vector<Rule> rules = load(
      "rules:\n"
      "  - id: " +
      std::string(64, 'x') +
      "\n"
      "    match: {src: [10.0.0.0/8, 2001:db8::/32], dst: 2001:db8::1, src_port: 0, "
      "dst_port: 65535-65535}\n"
      "    action: {forward: wan}\n"
      "  - id: no-match-key\n"
      "    match:\n"
      "    action: drop\n");
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].id.size(), 64u);
  EXPECT_EQ(rules[0].match.src.size(), 2u);
  EXPECT_EQ(rules[0].match.src_port, (std::vector<Range>{{0, 0}}));
  EXPECT_EQ(rules[0].match.dst_port, (std::vector<Range>{{65535, 65535}}));
  EXPECT_EQ(rules[0].action.port, 0);
  EXPECT_TRUE(rules[1].match.src.empty());
}

struct ErrorCase {
  const char* description;
  std::string yaml;
  std::string error;
};

// Each case: the whole file and the one line the operator sees.
const ErrorCase kErrorCases[] = {
    // --- the file ---
    {"top level is a list", "- id: x\n  action: drop\n",
     "rules.yaml:1:1: a rule file must be a mapping with the key 'rules', got a list"},
    {"top level is a scalar", "hello\n",
     "rules.yaml:1:1: a rule file must be a mapping with the key 'rules', got 'hello'"},
    {"unknown top-level key", "rule:\n  - id: x\n",
     "rules.yaml:1:1: rule: unknown key (expected one of: rules, steering)"},
    {"second top-level key", "rules: []\nports: []\n",
     "rules.yaml:2:1: ports: unknown key (expected one of: rules, steering)"},
    {"rules is not a list", "rules: drop\n", "rules.yaml:1:8: rules: expected a list, got 'drop'"},
    {"rules is a mapping", "rules:\n  id: x\n",
     "rules.yaml:2:3: rules: expected a list, got a mapping"},
    {"rule is not a mapping", "rules:\n  - drop\n",
     "rules.yaml:2:5: rules[0]: expected a mapping, got 'drop'"},
    {"YAML syntax error", "rules:\n  - id: [a\n    action: drop\n",
     "rules.yaml:3:11: YAML syntax error: did not find expected ',' or ']' (while parsing a flow "
     "sequence starting at 2:9)"},

    // --- rule keys and id ---
    {"unknown rule key",
     "rules:\n"
     "  - id: a\n"
     "    actoin: drop\n",
     "rules.yaml:3:5: rules[0].actoin: unknown key (expected one of: id, match, action, note)"},
    {"key given twice",
     "rules:\n"
     "  - id: a\n"
     "    id: b\n"
     "    action: drop\n",
     "rules.yaml:3:5: rules[0].id: key given twice"},
    {"id missing",
     "rules:\n"
     "  - action: drop\n",
     "rules.yaml:2:5: rules[0].id: required key is missing"},
    {"id null",
     "rules:\n"
     "  - id:\n"
     "    action: drop\n",
     "rules.yaml:2:5: rules[0].id: required key is missing"},
    {"id empty",
     "rules:\n"
     "  - id: \"\"\n"
     "    action: drop\n",
     "rules.yaml:2:9: rules[0].id: must not be empty"},
    {"id with a space",
     "rules:\n"
     "  - id: drop ntp\n"
     "    action: drop\n",
     "rules.yaml:2:9: rules[0].id: rule id \"drop ntp\" contains ' '; use only letters, digits and "
     "_ . : -"},
    {"id with a quote",
     "rules:\n"
     "  - id: 'a\"b'\n"
     "    action: drop\n",
     "rules.yaml:2:9: rules[0].id: rule id \"a\"b\" contains '\"'; use only letters, digits and "
     "_ . : -"},
    {"id too long",
     "rules:\n"
     "  - id: " +
         std::string(65, 'a') +
         "\n"
         "    action: drop\n",
     "rules.yaml:2:9: rules[0].id: rule id is 65 characters long; at most 64 are allowed"},
    {"id is a list",
     "rules:\n"
     "  - id: [a]\n"
     "    action: drop\n",
     "rules.yaml:2:9: rules[0].id: expected a single value, got a list"},
    {"duplicate id in one file",
     "rules:\n"
     "  - id: x\n"
     "    action: drop\n"
     "  - id: y\n"
     "    action: drop\n"
     "  - id: x\n"
     "    action: forward\n",
     "rules.yaml:6:9: rules[2].id: duplicate rule id \"x\" (first defined at rules.yaml:2:9)"},

    // --- match ---
    {"match is a scalar",
     "rules:\n"
     "  - id: a\n"
     "    match: 10.0.0.0/8\n"
     "    action: drop\n",
     "rules.yaml:3:12: rules[0].match: expected a mapping, got '10.0.0.0/8'"},
    {"unknown match key",
     "rules:\n"
     "  - id: a\n"
     "    match: {proto: udp}\n"
     "    action: drop\n",
     "rules.yaml:3:13: rules[0].match.proto: unknown key (expected one of: src, dst, src_set, "
     "dst_set, src_port, dst_port, in_port, length, ttl, dscp, vlan, fragment, payload)"},
    {"empty src list",
     "rules:\n"
     "  - id: a\n"
     "    match: {src: []}\n"
     "    action: drop\n",
     "rules.yaml:3:18: rules[0].match.src: empty list matches nothing; remove the key to match "
     "any"},
    {"dst_port with no value (would match any port)",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      dst_port:\n"
     "      src: 10.0.0.0/8\n"
     "    action: drop\n",
     "rules.yaml:4:16: rules[0].match.dst_port: no value given; remove the key to match any "
     "packet"},
    {"src given as ~",
     "rules:\n"
     "  - id: a\n"
     "    match: {src: ~}\n"
     "    action: drop\n",
     "rules.yaml:3:18: rules[0].match.src: no value given; remove the key to match any packet"},
    {"empty dst_port list",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      dst_port: []\n"
     "    action: drop\n",
     "rules.yaml:4:17: rules[0].match.dst_port: empty list matches nothing; remove the key to "
     "match any"},
    {"prefix with host bits, in a list",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      src: [10.0.0.0/8, 10.0.0.1/8]\n"
     "    action: drop\n",
     "rules.yaml:4:25: rules[0].match.src[1]: 10.0.0.1/8 has host bits set (did you mean "
     "10.0.0.0/8?)"},
    {"bad IPv4 address, single value",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      dst: 300.1.1.1\n"
     "    action: drop\n",
     "rules.yaml:4:12: rules[0].match.dst: '300.1.1.1' is not an IPv4 address"},
    {"bad IPv6 address",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      dst: 2001:db8:::1\n"
     "    action: drop\n",
     "rules.yaml:4:12: rules[0].match.dst: '2001:db8:::1' is not an IPv6 address"},
    {"prefix length out of range",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      src: 2001:db8::/129\n"
     "    action: drop\n",
     "rules.yaml:4:12: rules[0].match.src: prefix length 129 is out of range 0-128 for IPv6"},
    {"prefix is a mapping",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      src: [{net: 10.0.0.0/8}]\n"
     "    action: drop\n",
     "rules.yaml:4:13: rules[0].match.src[0]: expected a single value, got a mapping"},
    {"port out of range",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      dst_port: 70000\n"
     "    action: drop\n",
     "rules.yaml:4:17: rules[0].match.dst_port: 70000 is out of range 0-65535"},
    {"port out of range in a list",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      dst_port: [53, 70000]\n"
     "    action: drop\n",
     "rules.yaml:4:22: rules[0].match.dst_port[1]: 70000 is out of range 0-65535"},
    {"huge port",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      src_port: 99999999999999999999999\n"
     "    action: drop\n",
     "rules.yaml:4:17: rules[0].match.src_port: 99999999999999999999999 is out of range 0-65535"},
    {"range end out of range",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      src_port: 1024-65536\n"
     "    action: drop\n",
     "rules.yaml:4:17: rules[0].match.src_port: 65536 is out of range 0-65535"},
    {"range backwards",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      dst_port: [53, \"2000-1000\"]\n"
     "    action: drop\n",
     "rules.yaml:4:22: rules[0].match.dst_port[1]: port range 2000-1000 has first port greater "
     "than last"},
    {"range missing end",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      dst_port: 10-\n"
     "    action: drop\n",
     "rules.yaml:4:17: rules[0].match.dst_port: '10-' is not a port or a port range like "
     "1024-65535"},
    {"range with three parts",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      dst_port: 1-2-3\n"
     "    action: drop\n",
     "rules.yaml:4:17: rules[0].match.dst_port: '1-2-3' is not a port or a port range like "
     "1024-65535"},
    {"negative port",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      dst_port: -5\n"
     "    action: drop\n",
     "rules.yaml:4:17: rules[0].match.dst_port: '-5' is not a port or a port range like "
     "1024-65535"},
    {"port name instead of number",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      dst_port: domain\n"
     "    action: drop\n",
     "rules.yaml:4:17: rules[0].match.dst_port: 'domain' is not a port or a port range like "
     "1024-65535"},
    {"port with spaces around the dash",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      dst_port: \"1 - 2\"\n"
     "    action: drop\n",
     "rules.yaml:4:17: rules[0].match.dst_port: '1 - 2' is not a port or a port range like "
     "1024-65535"},
    {"src IPv4 only, dst IPv6 only",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      src: 10.0.0.0/8\n"
     "      dst: [2001:db8::/32, 2001:db9::/32]\n"
     "    action: drop\n",
     "rules.yaml:4:7: rules[0].match: src is IPv4 only and dst is IPv6 only, so this rule can "
     "never match"},
    {"src IPv6 only, dst IPv4 only",
     "rules:\n"
     "  - id: a\n"
     "    match: {src: '::/0', dst: 0.0.0.0/0}\n"
     "    action: drop\n",
     "rules.yaml:3:12: rules[0].match: src is IPv6 only and dst is IPv4 only, so this rule can "
     "never match"},

    // --- action ---
    {"action missing",
     "rules:\n"
     "  - id: a\n",
     "rules.yaml:2:5: rules[0].action: required key is missing"},
    {"action unknown word",
     "rules:\n"
     "  - id: a\n"
     "    action: accept\n",
     "rules.yaml:3:13: rules[0].action: 'accept' is not an action; expected drop, forward, "
     "{forward: PORT} or {rate_limit: ...}"},
    {"action is a list",
     "rules:\n"
     "  - id: a\n"
     "    action: [drop]\n",
     "rules.yaml:3:13: rules[0].action: expected drop, forward, {forward: PORT} or "
     "{rate_limit: ...}, got a list"},
    {"action mapping with the wrong key",
     "rules:\n"
     "  - id: a\n"
     "    action: {drop: lan}\n",
     "rules.yaml:3:14: rules[0].action.drop: unknown key (expected one of: forward, rate_limit)"},
    {"action mapping with two keys",
     "rules:\n"
     "  - id: a\n"
     "    action: {forward: lan, drop: x}\n",
     "rules.yaml:3:28: rules[0].action.drop: unknown key (expected one of: forward, "
     "rate_limit)"},
    {"action mapping with forward twice",
     "rules:\n"
     "  - id: a\n"
     "    action: {forward: lan, forward: wan}\n",
     "rules.yaml:3:28: rules[0].action.forward: key given twice"},
    {"action mapping empty",
     "rules:\n"
     "  - id: a\n"
     "    action: {}\n",
     "rules.yaml:3:13: rules[0].action: expected {forward: PORT} or {rate_limit: ...}"},
    {"forward to a list",
     "rules:\n"
     "  - id: a\n"
     "    action: {forward: [lan]}\n",
     "rules.yaml:3:23: rules[0].action.forward: expected a single value, got a list"},
    {"forward to an unknown port",
     "rules:\n"
     "  - id: a\n"
     "    action:\n"
     "      forward: dmz\n",
     "rules.yaml:4:16: rules[0].action.forward: unknown port \"dmz\" (ports are: wan, lan)"},
    {"error in a later rule",
     "rules:\n"
     "  - id: a\n"
     "    action: drop\n"
     "  - id: b\n"
     "    action: drop\n"
     "  - id: c\n"
     "    match:\n"
     "      dst_port: [53, 1024-65535, \"x\"]\n"
     "    action: drop\n",
     "rules.yaml:8:34: rules[2].match.dst_port[2]: 'x' is not a port or a port range like "
     "1024-65535"},
    {"a note with a line break", "rules:\n  - id: a\n    note: \"two\\nlines\"\n    action: drop\n",
     "rules.yaml:3:11: rules[0].note: a note holds no control characters (tabs and line breaks "
     "included)"},
    {"a note too long",
     "rules:\n  - id: a\n    note: " + std::string(201, 'n') + "\n    action: drop\n",
     "rules.yaml:3:11: rules[0].note: a note is at most 200 bytes, this one 201"},
};

TEST(RuleLoaderTest, ErrorMessages) {
  for (const ErrorCase& c : kErrorCases) {
    EXPECT_EQ(error_of(c.yaml), c.error) << c.description << "\n" << c.yaml;
  }
}

/// A rule file with one rule whose match block holds `line` (indented under `match:`).
std::string with_match(const std::string& line) {
  return "rules:\n"
         "  - id: a\n"
         "    match:\n"
         "      " +
         line +
         "\n"
         "    action: drop\n";
}

// The fields beyond addresses and ports; `with_match` puts the field on line 4 at column 7.
const ErrorCase kMatchFieldErrorCases[] = {
    // --- in_port ---
    {"in_port unknown", with_match("in_port: dmz"),
     "rules.yaml:4:16: rules[0].match.in_port: unknown port \"dmz\" (ports are: wan, lan)"},
    {"in_port unknown in a list", with_match("in_port: [wan, dmz]"),
     "rules.yaml:4:22: rules[0].match.in_port[1]: unknown port \"dmz\" (ports are: wan, lan)"},
    {"in_port empty list", with_match("in_port: []"),
     "rules.yaml:4:16: rules[0].match.in_port: empty list matches nothing; remove the key to "
     "match any"},
    {"in_port empty name", with_match("in_port: \"\""),
     "rules.yaml:4:16: rules[0].match.in_port: must not be empty"},
    {"in_port a mapping", with_match("in_port: {name: wan}"),
     "rules.yaml:4:16: rules[0].match.in_port: expected a single value, got a mapping"},

    // --- length, ttl, dscp, vlan: the port syntax with their own ranges and words ---
    {"length out of range", with_match("length: 70000"),
     "rules.yaml:4:15: rules[0].match.length: 70000 is out of range 0-65535"},
    {"length not a number", with_match("length: big"),
     "rules.yaml:4:15: rules[0].match.length: 'big' is not a length or a length range like "
     "28-1500"},
    {"length range backwards", with_match("length: 100-28"),
     "rules.yaml:4:15: rules[0].match.length: length range 100-28 has first length greater than "
     "last"},
    {"length empty list", with_match("length: []"),
     "rules.yaml:4:15: rules[0].match.length: empty list matches nothing; remove the key to match "
     "any"},
    {"ttl out of range", with_match("ttl: 300"),
     "rules.yaml:4:12: rules[0].match.ttl: 300 is out of range 0-255"},
    {"ttl range end out of range, in a list", with_match("ttl: [1, 2-256]"),
     "rules.yaml:4:16: rules[0].match.ttl[1]: 256 is out of range 0-255"},
    {"ttl range backwards", with_match("ttl: 5-1"),
     "rules.yaml:4:12: rules[0].match.ttl: TTL range 5-1 has first TTL greater than last"},
    {"ttl not a number", with_match("ttl: x"),
     "rules.yaml:4:12: rules[0].match.ttl: 'x' is not a TTL or a TTL range like 1-64"},
    {"dscp out of range", with_match("dscp: 64"),
     "rules.yaml:4:13: rules[0].match.dscp: 64 is out of range 0-63"},
    {"dscp range out of range, in a list", with_match("dscp: [46, \"40-70\"]"),
     "rules.yaml:4:18: rules[0].match.dscp[1]: 70 is out of range 0-63"},
    {"dscp by name", with_match("dscp: ef"),
     "rules.yaml:4:13: rules[0].match.dscp: 'ef' is not a DSCP or a DSCP range like 40-47"},
    {"dscp range backwards", with_match("dscp: 47-40"),
     "rules.yaml:4:13: rules[0].match.dscp: DSCP range 47-40 has first DSCP greater than last"},
    {"vlan out of range", with_match("vlan: 4096"),
     "rules.yaml:4:13: rules[0].match.vlan: 4096 is out of range 0-4095"},
    {"vlan range backwards", with_match("vlan: 200-100"),
     "rules.yaml:4:13: rules[0].match.vlan: VLAN id range 200-100 has first VLAN id greater than "
     "last"},
    {"vlan negative", with_match("vlan: \"-1\""),
     "rules.yaml:4:13: rules[0].match.vlan: '-1' is not a VLAN id or a VLAN id range like "
     "100-199"},
    {"vlan empty list", with_match("vlan: []"),
     "rules.yaml:4:13: rules[0].match.vlan: empty list matches nothing; remove the key to match "
     "any"},

    // --- fragment ---
    {"fragment unknown word", with_match("fragment: last"),
     "rules.yaml:4:17: rules[0].match.fragment: 'last' is not one of: first | non_first | none"},
    {"fragment a list", with_match("fragment: [first]"),
     "rules.yaml:4:17: rules[0].match.fragment: expected a single value, got a list"},

    // --- payload ---
    {"payload a scalar", with_match("payload: ffff"),
     "rules.yaml:4:16: rules[0].match.payload: expected a mapping, got 'ffff'"},
    {"payload unknown key", with_match("payload: {value: ff, len: 2}"),
     "rules.yaml:4:28: rules[0].match.payload.len: unknown key (expected one of: offset, value, "
     "mask)"},
    {"payload without value", with_match("payload: {offset: 2}"),
     "rules.yaml:4:16: rules[0].match.payload.value: required key is missing"},
    {"payload value not hex", with_match("payload: {value: abc}"),
     "rules.yaml:4:24: rules[0].match.payload.value: 'abc' is not hex bytes (two hex digits per "
     "byte)"},
    {"payload value with a non-hex digit", with_match("payload: {value: \"ffzz\"}"),
     "rules.yaml:4:24: rules[0].match.payload.value: 'ffzz' is not hex bytes (two hex digits per "
     "byte)"},
    {"payload value odd after 0x", with_match("payload: {value: 0xabc}"),
     "rules.yaml:4:24: rules[0].match.payload.value: '0xabc' is not hex bytes (two hex digits per "
     "byte)"},
    {"payload value with spaces", with_match("payload: {value: \"ff ff\"}"),
     "rules.yaml:4:24: rules[0].match.payload.value: 'ff ff' is not hex bytes (two hex digits "
     "per byte)"},
    {"payload value empty", with_match("payload: {value: \"\"}"),
     "rules.yaml:4:24: rules[0].match.payload.value: value is empty; give 1-16 bytes as hex "
     "digits like ffff0001"},
    {"payload value only 0x", with_match("payload: {value: 0x}"),
     "rules.yaml:4:24: rules[0].match.payload.value: value is empty; give 1-16 bytes as hex "
     "digits like ffff0001"},
    {"payload value too long", with_match("payload: {value: " + std::string(34, 'a') + "}"),
     "rules.yaml:4:24: rules[0].match.payload.value: value is 17 bytes long; at most 16 are "
     "allowed"},
    {"payload mask not hex", with_match("payload: {value: ff, mask: fg}"),
     "rules.yaml:4:34: rules[0].match.payload.mask: 'fg' is not hex bytes (two hex digits per "
     "byte)"},
    {"payload mask shorter than value", with_match("payload: {value: ffff, mask: ff}"),
     "rules.yaml:4:36: rules[0].match.payload.mask: mask is 1 byte long but value is 2 bytes; "
     "give both the same length"},
    {"payload mask longer than value", with_match("payload: {value: ff, mask: ffff}"),
     "rules.yaml:4:34: rules[0].match.payload.mask: mask is 2 bytes long but value is 1 byte; "
     "give both the same length"},
    {"payload value outside the mask", with_match("payload: {value: ffff01, mask: ffff00}"),
     "rules.yaml:4:16: rules[0].match.payload: value has bits outside the mask at byte 2; clear "
     "them or widen the mask"},
    {"payload value one bit outside the mask", with_match("payload: {value: 0x81, mask: 0x80}"),
     "rules.yaml:4:16: rules[0].match.payload: value has bits outside the mask at byte 0; clear "
     "them or widen the mask"},
    {"payload offset out of range", with_match("payload: {offset: 1501, value: ff}"),
     "rules.yaml:4:25: rules[0].match.payload.offset: 1501 is out of range 0-1500"},
    {"payload offset negative", with_match("payload: {offset: -1, value: ff}"),
     "rules.yaml:4:25: rules[0].match.payload.offset: expected a whole number, got '-1'"},

    // --- fields that can never match together ---
    {"non_first with dst_port",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      fragment: non_first\n"
     "      dst_port: 53\n"
     "    action: drop\n",
     "rules.yaml:4:7: rules[0].match: non-first fragments carry no UDP header, so fragment "
     "non_first with dst_port can never match"},
    {"non_first with both ports and payload",
     "rules:\n"
     "  - id: a\n"
     "    match:\n"
     "      payload: {value: ff}\n"
     "      src_port: 123\n"
     "      fragment: non_first\n"
     "      dst_port: 53\n"
     "    action: drop\n",
     "rules.yaml:4:7: rules[0].match: non-first fragments carry no UDP header, so fragment "
     "non_first with src_port, dst_port and payload can never match"},
    {"non_first with payload",
     "rules:\n"
     "  - id: a\n"
     "    match: {fragment: non_first, payload: {offset: 0, value: ff}}\n"
     "    action: drop\n",
     "rules.yaml:3:12: rules[0].match: non-first fragments carry no UDP header, so fragment "
     "non_first with payload can never match"},
};

TEST(RuleLoaderTest, MatchFieldErrorMessages) {
  for (const ErrorCase& c : kMatchFieldErrorCases) {
    EXPECT_EQ(error_of(c.yaml), c.error) << c.description << "\n" << c.yaml;
  }
}

/// A rule file with one rule whose action is `rate_limit:` followed by `lines` (indented under
/// it, so the first key is on line 5 at column 9).
std::string with_rate_limit(const std::string& lines) {
  return "rules:\n"
         "  - id: a\n"
         "    action:\n"
         "      rate_limit:\n" +
         lines;
}

const ErrorCase kRateLimitErrorCases[] = {
    {"forward and rate_limit together",
     "rules:\n"
     "  - id: a\n"
     "    action: {forward: lan, rate_limit: {pps: 1, burst: 1}}\n",
     "rules.yaml:3:13: rules[0].action: give forward or rate_limit, not both"},
    {"rate_limit a scalar",
     "rules:\n"
     "  - id: a\n"
     "    action: {rate_limit: 1000}\n",
     "rules.yaml:3:26: rules[0].action.rate_limit: expected {pps: N, burst: N} or {bps: N, "
     "burst_bytes: N}, got '1000'"},
    {"rate_limit a list",
     "rules:\n"
     "  - id: a\n"
     "    action: {rate_limit: [1000, 100]}\n",
     "rules.yaml:3:26: rules[0].action.rate_limit: expected {pps: N, burst: N} or {bps: N, "
     "burst_bytes: N}, got a list"},
    {"rate_limit empty",
     "rules:\n"
     "  - id: a\n"
     "    action: {rate_limit: {}}\n",
     "rules.yaml:3:26: rules[0].action.rate_limit: expected {pps: N, burst: N} or {bps: N, "
     "burst_bytes: N}"},
    {"rate_limit null",
     "rules:\n"
     "  - id: a\n"
     "    action: {rate_limit: }\n",
     "rules.yaml:3:13: rules[0].action: expected {forward: PORT} or {rate_limit: ...}"},
    {"rate_limit with only a burst", with_rate_limit("        burst: 10\n"),
     "rules.yaml:5:9: rules[0].action.rate_limit: expected {pps: N, burst: N} or {bps: N, "
     "burst_bytes: N}"},
    {"rate_limit unknown key", with_rate_limit("        pps: 10\n        rate: 5\n"),
     "rules.yaml:6:9: rules[0].action.rate_limit.rate: unknown key (expected one of: pps, burst, "
     "bps, burst_bytes, per_source, per_source_v6)"},
    {"pps and bps", with_rate_limit("        pps: 10\n        bps: 800\n        burst: 1\n"),
     "rules.yaml:5:9: rules[0].action.rate_limit: give pps or bps, not both"},
    {"pps with burst_bytes", with_rate_limit("        pps: 1000\n        burst_bytes: 100\n"),
     "rules.yaml:6:22: rules[0].action.rate_limit.burst_bytes: burst_bytes goes with bps; a pps "
     "limit takes burst"},
    {"pps with both bursts",
     with_rate_limit("        pps: 1000\n        burst: 10\n        burst_bytes: 100\n"),
     "rules.yaml:7:22: rules[0].action.rate_limit.burst_bytes: burst_bytes goes with bps; a pps "
     "limit takes burst"},
    {"bps with burst", with_rate_limit("        bps: 8000\n        burst: 100\n"),
     "rules.yaml:6:16: rules[0].action.rate_limit.burst: burst goes with pps; a bps limit takes "
     "burst_bytes"},
    {"pps without burst", with_rate_limit("        pps: 1000\n"),
     "rules.yaml:5:9: rules[0].action.rate_limit: a pps limit needs burst (packets), e.g. {pps: "
     "1000, burst: 100}"},
    {"bps without burst_bytes", with_rate_limit("        bps: 8000\n"),
     "rules.yaml:5:9: rules[0].action.rate_limit: a bps limit needs burst_bytes, e.g. {bps: "
     "8000000, burst_bytes: 100000}"},
    {"pps zero", with_rate_limit("        pps: 0\n        burst: 1\n"),
     "rules.yaml:5:14: rules[0].action.rate_limit.pps: 0 is out of range 1-1000000000"},
    {"pps too big", with_rate_limit("        pps: 1000000001\n        burst: 1\n"),
     "rules.yaml:5:14: rules[0].action.rate_limit.pps: 1000000001 is out of range 1-1000000000"},
    {"pps not a number", with_rate_limit("        pps: fast\n        burst: 1\n"),
     "rules.yaml:5:14: rules[0].action.rate_limit.pps: expected a whole number, got 'fast'"},
    {"pps with a unit", with_rate_limit("        pps: 10k\n        burst: 1\n"),
     "rules.yaml:5:14: rules[0].action.rate_limit.pps: expected a whole number, got '10k'"},
    {"burst zero", with_rate_limit("        pps: 10\n        burst: 0\n"),
     "rules.yaml:6:16: rules[0].action.rate_limit.burst: 0 is out of range 1-1000000000"},
    {"burst too big", with_rate_limit("        pps: 10\n        burst: 1000000001\n"),
     "rules.yaml:6:16: rules[0].action.rate_limit.burst: 1000000001 is out of range 1-1000000000"},
    {"bps below one byte", with_rate_limit("        bps: 7\n        burst_bytes: 64\n"),
     "rules.yaml:5:14: rules[0].action.rate_limit.bps: 7 is out of range 8-1000000000000"},
    {"bps too big", with_rate_limit("        bps: 1000000000008\n        burst_bytes: 64\n"),
     "rules.yaml:5:14: rules[0].action.rate_limit.bps: 1000000000008 is out of range "
     "8-1000000000000"},
    {"bps not whole bytes", with_rate_limit("        bps: 8000001\n        burst_bytes: 64\n"),
     "rules.yaml:5:14: rules[0].action.rate_limit.bps: 8000001 bits per second is not a whole "
     "number of bytes; use a multiple of 8"},
    {"burst_bytes below a frame", with_rate_limit("        bps: 8000\n        burst_bytes: 63\n"),
     "rules.yaml:6:22: rules[0].action.rate_limit.burst_bytes: 63 is out of range "
     "64-1000000000000"},
    {"burst_bytes too big",
     with_rate_limit("        bps: 8000\n        burst_bytes: 1000000000001\n"),
     "rules.yaml:6:22: rules[0].action.rate_limit.burst_bytes: 1000000000001 is out of range "
     "64-1000000000000"},
    {"per_source too long",
     with_rate_limit("        pps: 10\n        burst: 10\n        per_source: 33\n"),
     "rules.yaml:7:21: rules[0].action.rate_limit.per_source: 33 is out of range 1-32"},
    {"per_source_v6 too long",
     with_rate_limit("        pps: 10\n        burst: 10\n        per_source: 32\n        "
                     "per_source_v6: 129\n"),
     "rules.yaml:8:24: rules[0].action.rate_limit.per_source_v6: 129 is out of range 1-128"},
    {"per_source_v6 alone",
     with_rate_limit("        pps: 10\n        burst: 10\n        per_source_v6: 64\n"),
     "rules.yaml:7:24: rules[0].action.rate_limit.per_source_v6: per_source_v6 goes with "
     "per_source (the IPv4 prefix length of each source's bucket, 32 for one per address)"},
};

TEST(RuleLoaderTest, PerSourceRateLimits) {
  const std::vector<Rule> rules = load(
      "rules:\n"
      "  - {id: a, action: {rate_limit: {pps: 200, burst: 400, per_source: 32}}}\n"
      "  - {id: b, action: {rate_limit: {bps: 8000, burst_bytes: 3000, per_source: 24, "
      "per_source_v6: 48}}}\n"
      "  - {id: c, action: {rate_limit: {pps: 200, burst: 400}}}\n");
  ASSERT_EQ(rules.size(), 3U);
  EXPECT_EQ(rules[0].action.rate_limit.per_source, 32);
  EXPECT_EQ(rules[0].action.rate_limit.per_source_v6, 64) << "the IPv6 default";
  EXPECT_EQ(rules[1].action.rate_limit.per_source, 24);
  EXPECT_EQ(rules[1].action.rate_limit.per_source_v6, 48);
  EXPECT_EQ(rules[2].action.rate_limit.per_source, 0);
  EXPECT_EQ(action_to_string(rules[0].action), "rate_limit:200pps/400 per source /32 /64");
  EXPECT_EQ(action_to_string(rules[2].action), "rate_limit:200pps/400");
}

TEST(RuleLoaderTest, RateLimitErrorMessages) {
  for (const ErrorCase& c : kRateLimitErrorCases) {
    EXPECT_EQ(error_of(c.yaml), c.error) << c.description << "\n" << c.yaml;
  }
}

TEST(RuleLoaderTest, InPortWithNoPortsConfigured) {
  EXPECT_EQ(error_of(with_match("in_port: wan"), {}),
            "rules.yaml:4:16: rules[0].match.in_port: unknown port \"wan\" (no ports are "
            "configured)");
}

TEST(RuleLoaderTest, ParsesTheNewMatchFields) {
  const std::vector<Rule> rules = load(
      "rules:\n"
      "  - id: example\n"
      "    match:\n"
      "      in_port: wan\n"
      "      length: 28-100\n"
      "      ttl: 1-5\n"
      "      dscp: [46, \"40-47\"]\n"
      "      vlan: 100\n"
      "      fragment: first\n"
      "      payload:\n"
      "        offset: 0\n"
      "        value: \"ffffffff54\"\n"
      "        mask: \"ffffffffff\"\n"
      "    action: {rate_limit: {pps: 1000, burst: 100}}\n"
      "  - id: lists\n"
      "    match:\n"
      "      in_port: [lan, wan, lan]\n"
      "      length: [28, \"40-60\", 65535]\n"
      "      ttl: [0, 255]\n"
      "      dscp: 0-63\n"
      "      vlan: [0, 4095, 10-20]\n"
      "      fragment: none\n"
      "      payload: {offset: 1500, value: 0xDeadBEEF}\n"
      "    action: {rate_limit: {bps: 8000000, burst_bytes: 100000}}\n"
      "  - id: non-first\n"
      "    match: {fragment: non_first, dst: 10.0.0.0/8, ttl: 64}\n"
      "    action: drop\n"
      "  - id: longest-payload\n"
      "    match:\n"
      "      dst_port: 53\n"
      "      payload: {value: 00010003000500070009000b000d000f, mask: "
      "0X00FF00ff00ff00ff00ff00ff00ff00ff}\n"
      "    action: forward\n");
  ASSERT_EQ(rules.size(), 4u);

  const Match& example = rules[0].match;
  EXPECT_EQ(example.in_port, std::vector<int>{0});
  EXPECT_EQ(example.length, (std::vector<Range>{{28, 100}}));
  EXPECT_EQ(example.ttl, (std::vector<Range>{{1, 5}}));
  EXPECT_EQ(example.dscp, (std::vector<Range>{{46, 46}, {40, 47}}));
  EXPECT_EQ(example.vlan, (std::vector<Range>{{100, 100}}));
  EXPECT_EQ(example.fragment, FragmentKind::first);
  ASSERT_TRUE(example.payload.has_value());
  EXPECT_EQ(*example.payload,
            (PayloadMatch{0, {0xff, 0xff, 0xff, 0xff, 0x54}, {0xff, 0xff, 0xff, 0xff, 0xff}}));
  EXPECT_TRUE(example.src.empty());
  EXPECT_TRUE(example.dst_port.empty());

  const Match& lists = rules[1].match;
  EXPECT_EQ(lists.in_port, (std::vector<int>{1, 0, 1}));
  EXPECT_EQ(lists.length, (std::vector<Range>{{28, 28}, {40, 60}, {65535, 65535}}));
  EXPECT_EQ(lists.ttl, (std::vector<Range>{{0, 0}, {255, 255}}));
  EXPECT_EQ(lists.dscp, (std::vector<Range>{{0, 63}}));
  EXPECT_EQ(lists.vlan, (std::vector<Range>{{0, 0}, {4095, 4095}, {10, 20}}));
  EXPECT_EQ(lists.fragment, FragmentKind::none);
  ASSERT_TRUE(lists.payload.has_value());
  EXPECT_EQ(*lists.payload,
            (PayloadMatch{1500, {0xde, 0xad, 0xbe, 0xef}, {0xff, 0xff, 0xff, 0xff}}));
  EXPECT_EQ(to_hex(lists.payload->value), "deadbeef");

  const Match& non_first = rules[2].match;
  EXPECT_EQ(non_first.fragment, FragmentKind::non_first);
  EXPECT_FALSE(non_first.payload.has_value());
  EXPECT_TRUE(non_first.in_port.empty());
  EXPECT_TRUE(non_first.vlan.empty());

  const PayloadMatch& longest = rules[3].match.payload.value();
  EXPECT_EQ(longest.offset, 0);
  EXPECT_EQ(to_hex(longest.value), "00010003000500070009000b000d000f");
  EXPECT_EQ(to_hex(longest.mask), "00ff00ff00ff00ff00ff00ff00ff00ff");
}

TEST(RuleLoaderTest, ParsesRateLimits) {
  const std::vector<Rule> rules = load(
      "rules:\n"
      "  - id: pps\n"
      "    action: {rate_limit: {pps: 1000, burst: 100}}\n"
      "  - id: bps\n"
      "    action:\n"
      "      rate_limit:\n"
      "        burst_bytes: 100000\n"
      "        bps: 8000000\n"
      "  - id: smallest-pps\n"
      "    action: {rate_limit: {pps: 1, burst: 1}}\n"
      "  - id: largest-pps\n"
      "    action: {rate_limit: {pps: 1000000000, burst: 1000000000}}\n"
      "  - id: smallest-bps\n"
      "    action: {rate_limit: {bps: 8, burst_bytes: 64}}\n"
      "  - id: largest-bps\n"
      "    action: {rate_limit: {bps: 1000000000000, burst_bytes: 1000000000000}}\n");
  ASSERT_EQ(rules.size(), 6u);
  using Unit = RateLimit::Unit;
  const RateLimit expected[] = {
      {Unit::packets, 1000, 100, 0}, {Unit::bytes, 1000000, 100000, 8000000},
      {Unit::packets, 1, 1, 0},      {Unit::packets, 1000000000, 1000000000, 0},
      {Unit::bytes, 1, 64, 8},       {Unit::bytes, 125000000000, 1000000000000, 1000000000000},
  };
  const char* texts[] = {
      "rate_limit:1000pps/100", "rate_limit:8000000bps/100000B",
      "rate_limit:1pps/1",      "rate_limit:1000000000pps/1000000000",
      "rate_limit:8bps/64B",    "rate_limit:1000000000000bps/1000000000000B",
  };
  for (std::size_t i = 0; i < rules.size(); ++i) {
    EXPECT_EQ(rules[i].action.kind, ActionKind::rate_limit) << rules[i].id;
    EXPECT_EQ(rules[i].action.rate_limit, expected[i]) << rules[i].id;
    EXPECT_EQ(rules[i].action.port, -1) << rules[i].id;
    EXPECT_EQ(rules[i].action.port_name, "") << rules[i].id;
    EXPECT_EQ(action_to_string(rules[i].action), texts[i]) << rules[i].id;
  }
}

TEST(RuleLoaderTest, FragmentNamesAndHex) {
  EXPECT_STREQ(fragment_name(FragmentKind::none), "none");
  EXPECT_STREQ(fragment_name(FragmentKind::first), "first");
  EXPECT_STREQ(fragment_name(FragmentKind::non_first), "non_first");
  EXPECT_EQ(to_hex({}), "");
  EXPECT_EQ(to_hex({0x00, 0x0f, 0xf0, 0xff, 0x54}), "000ff0ff54");
}

TEST(RuleLoaderTest, ABadNewFieldAddsNothing) {
  RuleCollector collector(kPorts);
  collector.add_document(YamlNode::load_string("rules:\n  - id: x\n    action: drop\n", "a.yaml"));
  const std::string bad =
      "rules:\n"
      "  - id: y\n"
      "    match: {ttl: 64}\n"
      "    action: drop\n"
      "  - id: z\n"
      "    action: {rate_limit: {pps: 10}}\n";
  EXPECT_EQ(udpsieve::test::config_error_of(
                [&] { collector.add_document(YamlNode::load_string(bad, "b.yaml")); }),
            "b.yaml:6:26: rules[1].action.rate_limit: a pps limit needs burst (packets), e.g. "
            "{pps: 1000, burst: 100}");
  ASSERT_EQ(collector.rules().size(), 1u);
  EXPECT_EQ(collector.rules()[0].id, "x");
}

TEST(RuleLoaderTest, UnknownPortWithNoPortsConfigured) {
  EXPECT_EQ(error_of("rules:\n"
                     "  - id: a\n"
                     "    action: {forward: lan}\n",
                     {}),
            "rules.yaml:3:23: rules[0].action.forward: unknown port \"lan\" (no ports are "
            "configured)");
}

TEST(RuleLoaderTest, ErrorCarriesLocationAndKeyPath) {
  try {
    (void)load("rules:\n  - id: a\n    match: {dst_port: 70000}\n    action: drop\n");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.where().file, "rules.yaml");
    EXPECT_EQ(e.where().line, 3);
    EXPECT_EQ(e.where().column, 23);
    EXPECT_EQ(e.key_path(), "rules[0].match.dst_port");
    EXPECT_EQ(e.message(), "70000 is out of range 0-65535");
  }
}

TEST(RuleLoaderTest, IdsAreUniqueAcrossDocuments) {
  RuleCollector collector(kPorts);
  collector.add_document(
      YamlNode::load_string("rules:\n"
                            "  - id: x\n"
                            "    action: drop\n",
                            "a.yaml"));
  const YamlNode second = YamlNode::load_string(
      "rules:\n"
      "  - id: y\n"
      "    action: drop\n"
      "  - id: x\n"
      "    action: drop\n",
      "b.yaml");
  try {
    collector.add_document(second);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "b.yaml:4:9: rules[1].id: duplicate rule id \"x\" (first defined at a.yaml:2:9)");
  }
  // A refused file adds nothing, not even the rules before the bad one.
  ASSERT_EQ(collector.rules().size(), 1u);
  EXPECT_EQ(collector.rules()[0].id, "x");

  // ...and its ids stay free for a corrected file.
  collector.add_document(YamlNode::load_string("rules:\n  - id: y\n    action: drop\n", "c.yaml"));
  ASSERT_EQ(collector.rules().size(), 2u);
  EXPECT_EQ(collector.rules()[1].id, "y");
  EXPECT_EQ(collector.rules()[1].where.to_string(), "c.yaml:2:5");
}

TEST(RuleLoaderTest, IdsAreCaseSensitive) {
  EXPECT_EQ(load("rules:\n"
                 "  - id: a\n"
                 "    action: drop\n"
                 "  - id: A\n"
                 "    action: drop\n")
                .size(),
            2u);
}

TEST(RuleLoaderTest, AddFileReadsFromDisk) {
  const TempDir dir;
  const std::string first = dir.write("10-first.yaml",
                                      "rules:\n"
                                      "  - id: first\n"
                                      "    match: {dst_port: 53}\n"
                                      "    action: drop\n");
  const std::string second = dir.write("20-second.yaml", "# comments only: no rules yet\n");
  RuleCollector collector(kPorts);
  collector.add_file(first);
  collector.add_file(second);
  ASSERT_EQ(collector.rules().size(), 1u);
  EXPECT_EQ(collector.rules()[0].where.to_string(), first + ":2:5");
}

TEST(RuleLoaderTest, AddFileErrors) {
  const TempDir dir;
  RuleCollector collector(kPorts);
  const std::string missing = dir.file("missing.yaml");
  try {
    collector.add_file(missing);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), missing + ": cannot open file: No such file or directory");
  }

  const std::string broken = dir.write("broken.yaml", "rules:\n  - id: a\n  action: drop\n");
  try {
    collector.add_file(broken);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              broken +
                  ":3:3: YAML syntax error: did not find expected '-' indicator (while "
                  "parsing a block collection starting at 2:3)");
  }

  const std::string bad = dir.write("bad.yaml", "rules:\n  - id: a\n    action: {forward: dmz}\n");
  try {
    collector.add_file(bad);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              bad + ":3:23: rules[0].action.forward: unknown port \"dmz\" (ports are: wan, lan)");
  }
  EXPECT_TRUE(collector.rules().empty());
}

TEST(RuleLoaderTest, PortListHelpers) {
  const YamlNode root = YamlNode::load_string("a: 53\nb: [1-2, \"3\", 4-4]\nc: 1024-65535\n", "x");
  EXPECT_EQ(parse_port_list(root.require("a")), (std::vector<Range>{{53, 53}}));
  EXPECT_EQ(parse_port_list(root.require("b")), (std::vector<Range>{{1, 2}, {3, 3}, {4, 4}}));
  EXPECT_EQ(parse_port_list(root.require("c")), (std::vector<Range>{{1024, 65535}}));
}

TEST(RuleLoaderTest, PrefixListHelpers) {
  const YamlNode root = YamlNode::load_string("a: 10.0.0.0/8\nb: [\"::1\", 192.0.2.1]\n", "x");
  EXPECT_EQ(parse_prefix_list(root.require("a")), std::vector<Prefix>{prefix("10.0.0.0/8")});
  EXPECT_EQ(parse_prefix_list(root.require("b")),
            (std::vector<Prefix>{prefix("::1"), prefix("192.0.2.1/32")}));
}

}  // namespace
}  // namespace udpsieve::rules

// --- steering rules ----------------------------------------------------------------------------

namespace udpsieve::rules {
namespace {

TEST(SteeringRules, ParseBesideRules) {
  RuleCollector collector({"wan", "lan"});
  collector.add_document(YamlNode::load_string(
      "rules:\n"
      "  - {id: r1, action: drop}\n"
      "steering:\n"
      "  - id: pin-game\n"
      "    match: {dst: 198.51.100.0/24, dst_port: 27015-27030, in_port: wan}\n"
      "    worker: 2\n"
      "  - {id: pin-all, worker: 1}\n",
      "rules.yaml"));
  ASSERT_EQ(collector.rules().size(), 1U);
  const std::vector<SteeringRule>& steering = collector.steering();
  ASSERT_EQ(steering.size(), 2U);
  EXPECT_EQ(steering[0].id, "pin-game");
  EXPECT_EQ(steering[0].worker, 2U);
  EXPECT_EQ(steering[0].match.dst_port, (std::vector<Range>{{27015, 27030}}));
  EXPECT_EQ(steering[0].match.in_port, (std::vector<int>{0}));
  EXPECT_EQ(steering[0].where.to_string(), "rules.yaml:4:5");
  EXPECT_EQ(steering[0].worker_where.to_string(), "rules.yaml:6:13");
  EXPECT_EQ(steering[0].worker_path, "steering[0].worker");
  EXPECT_EQ(steering[1].match, Match{});
}

TEST(SteeringRules, ErrorMessages) {
  const struct {
    const char* yaml;
    const char* error;
  } cases[] = {
      {"steering:\n  - {id: s, match: {payload: {value: \"01\"}}, worker: 1}\n",
       "rules.yaml:2:21: steering[0].match.payload: unknown key (expected one of: src, dst, "
       "src_port, dst_port, in_port)"},
      {"steering:\n  - {id: s, match: {dst_port: 53}}\n",
       "rules.yaml:2:5: steering[0].worker: required key is missing"},
      {"steering:\n  - {id: s, worker: lcore2}\n",
       "rules.yaml:2:21: steering[0].worker: expected a whole number, got 'lcore2'"},
      {"steering:\n  - {id: s, worker: 128}\n",
       "rules.yaml:2:21: steering[0].worker: 128 is out of range 0-127"},
      {"steering:\n  - {id: s, worker: 1, action: drop}\n",
       "rules.yaml:2:24: steering[0].action: unknown key (expected one of: id, match, worker)"},
      {"rules:\n  - {id: same, action: drop}\nsteering:\n  - {id: same, worker: 1}\n",
       "rules.yaml:4:10: steering[0].id: duplicate rule id \"same\" (first defined at "
       "rules.yaml:2:10)"},
      {"steering: {id: s, worker: 1}\n",
       "rules.yaml:1:11: steering: expected a list, got a mapping"},
  };
  for (const auto& c : cases) {
    RuleCollector collector({"wan", "lan"});
    EXPECT_EQ(udpsieve::test::config_error_of(
                  [&] { collector.add_document(YamlNode::load_string(c.yaml, "rules.yaml")); }),
              c.error)
        << c.yaml;
  }
}

}  // namespace
}  // namespace udpsieve::rules
