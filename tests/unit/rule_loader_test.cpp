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
  return collector.take();
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
  EXPECT_EQ(rules[0].match.src_port, (std::vector<PortRange>{{123, 123}}));
  EXPECT_EQ(rules[0].match.dst_port, (std::vector<PortRange>{{1024, 65535}}));
  EXPECT_EQ(rules[0].action.kind, ActionKind::drop);
  EXPECT_EQ(action_to_string(rules[0].action), "drop");

  EXPECT_EQ(rules[1].id, "dns.to-lan:v6");
  EXPECT_EQ(rules[1].where.to_string(), "rules.yaml:9:5");
  EXPECT_TRUE(rules[1].match.src.empty());
  EXPECT_EQ(rules[1].match.dst,
            (std::vector<Prefix>{prefix("2001:db8::/32"), prefix("::ffff:10.0.0.0/104")}));
  EXPECT_TRUE(rules[1].match.src_port.empty());
  EXPECT_EQ(rules[1].match.dst_port,
            (std::vector<PortRange>{{53, 53}, {5353, 5353}, {8000, 8080}, {0, 1}}));
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
  EXPECT_EQ(rules[0].match.src_port, (std::vector<PortRange>{{0, 0}}));
  EXPECT_EQ(rules[0].match.dst_port, (std::vector<PortRange>{{65535, 65535}}));
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
     "rules.yaml:1:1: rule: unknown key (expected one of: rules)"},
    {"second top-level key", "rules: []\nports: []\n",
     "rules.yaml:2:1: ports: unknown key (expected one of: rules)"},
    {"rules is not a list", "rules: drop\n", "rules.yaml:1:8: rules: expected a list, got 'drop'"},
    {"rules is a mapping", "rules:\n  id: x\n",
     "rules.yaml:2:3: rules: expected a list, got a mapping"},
    {"rule is not a mapping", "rules:\n  - drop\n",
     "rules.yaml:2:5: rules[0]: expected a mapping, got 'drop'"},
    {"YAML syntax error", "rules:\n  - id: [a\n    action: drop\n",
     "rules.yaml:3:11: YAML syntax error: end of sequence flow not found"},

    // --- rule keys and id ---
    {"unknown rule key",
     "rules:\n"
     "  - id: a\n"
     "    actoin: drop\n",
     "rules.yaml:3:5: rules[0].actoin: unknown key (expected one of: id, match, action)"},
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
     "rules.yaml:3:13: rules[0].match.proto: unknown key (expected one of: src, dst, src_port, "
     "dst_port)"},
    {"empty src list",
     "rules:\n"
     "  - id: a\n"
     "    match: {src: []}\n"
     "    action: drop\n",
     "rules.yaml:3:18: rules[0].match.src: empty list matches nothing; remove the key to match "
     "any"},
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
     "rules.yaml:3:13: rules[0].action: 'accept' is not an action; expected drop, forward or "
     "{forward: PORT}"},
    {"action is a list",
     "rules:\n"
     "  - id: a\n"
     "    action: [drop]\n",
     "rules.yaml:3:13: rules[0].action: expected drop, forward or {forward: PORT}, got a list"},
    {"action mapping with the wrong key",
     "rules:\n"
     "  - id: a\n"
     "    action: {drop: lan}\n",
     "rules.yaml:3:14: rules[0].action.drop: unknown key (expected one of: forward)"},
    {"action mapping with two keys",
     "rules:\n"
     "  - id: a\n"
     "    action: {forward: lan, drop: x}\n",
     "rules.yaml:3:28: rules[0].action.drop: unknown key (expected one of: forward)"},
    {"action mapping with forward twice",
     "rules:\n"
     "  - id: a\n"
     "    action: {forward: lan, forward: wan}\n",
     "rules.yaml:3:28: rules[0].action.forward: key given twice"},
    {"action mapping empty",
     "rules:\n"
     "  - id: a\n"
     "    action: {}\n",
     "rules.yaml:3:13: rules[0].action.forward: required key is missing"},
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
};

TEST(RuleLoaderTest, ErrorMessages) {
  for (const ErrorCase& c : kErrorCases) {
    EXPECT_EQ(error_of(c.yaml), c.error) << c.description << "\n" << c.yaml;
  }
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
    EXPECT_EQ(std::string(e.what()), broken + ":3:3: YAML syntax error: end of map not found");
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
  EXPECT_EQ(parse_port_list(root.require("a")), (std::vector<PortRange>{{53, 53}}));
  EXPECT_EQ(parse_port_list(root.require("b")), (std::vector<PortRange>{{1, 2}, {3, 3}, {4, 4}}));
  EXPECT_EQ(parse_port_list(root.require("c")), (std::vector<PortRange>{{1024, 65535}}));
}

TEST(RuleLoaderTest, PrefixListHelpers) {
  const YamlNode root = YamlNode::load_string("a: 10.0.0.0/8\nb: [\"::1\", 192.0.2.1]\n", "x");
  EXPECT_EQ(parse_prefix_list(root.require("a")), std::vector<Prefix>{prefix("10.0.0.0/8")});
  EXPECT_EQ(parse_prefix_list(root.require("b")),
            (std::vector<Prefix>{prefix("::1"), prefix("192.0.2.1/32")}));
}

}  // namespace
}  // namespace udpsieve::rules
