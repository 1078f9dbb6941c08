// What a reload may change, and the classifier limits checked before any port is touched.
#include <gtest/gtest.h>

#include "support/temp_dir.hpp"
#include "udpsieve/config/config.hpp"
#include "udpsieve/dataplane/rule_limits.hpp"
#include "udpsieve/rules/rule_loader.hpp"

namespace {

using udpsieve::config::DaemonConfig;
using udpsieve::config::restart_required_changes;

DaemonConfig parse(const std::string& yaml) {
  return udpsieve::config::parse_daemon_config(yaml, "c.yaml", "/etc/udpsieve");
}

const char* const kBase = R"(eal: {lcores: [0, 1], memory_mb: 512}
ports:
  - {name: wan, device: "0000:3b:00.0", forward_to: lan}
  - {name: lan, device: "0000:3b:00.1", forward_to: wan}
pipeline: {default_action: forward, rules: [a.yaml]}
control: {socket: /run/u.sock, stats_interval_ms: 100}
logging: {level: info}
)";

std::string with(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(ReloadPolicy, ReloadableChangesNeedNoRestart) {
  const DaemonConfig base = parse(kBase);
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"default_action: forward", "default_action: drop"},
           {"rules: [a.yaml]", "rules: [a.yaml, b.yaml]"},
           {"rules: [a.yaml]", "rules: [a.yaml, dynamic], dynamic_max_rules: 5"},
           {"stats_interval_ms: 100",
            "stats_interval_ms: 100, socket_group: root, "
            "admin_group: root"},
           {"forward_to: lan}", "forward_to: wan}"},
           {"level: info", "level: debug"}}) {
    EXPECT_TRUE(restart_required_changes(base, parse(with(kBase, from, to))).empty()) << to;
  }
}

TEST(ReloadPolicy, EverythingElseNeedsARestartAndIsNamed) {
  const DaemonConfig base = parse(kBase);
  const std::vector<std::pair<std::pair<std::string, std::string>, std::string>> cases = {
      {{"lcores: [0, 1]", "lcores: [0, 1, \"2@1\"]"}, "eal.lcores"},
      {{"memory_mb: 512", "memory_mb: 1024"}, "eal.memory_mb"},
      {{"device: \"0000:3b:00.1\"", "device: \"0000:3b:00.2\""}, "ports[1].device"},
      {{"name: lan, device", "name: lan2, device"}, "ports[1].name"},
      {{"name: lan, device", "name: lan, mtu: 9000, device"}, "ports[1].mtu"},
      {{"name: lan, device", "name: lan, rss: ip, device"}, "ports[1].rss"},
      {{"name: lan, device", "name: lan, rss_symmetric: true, device"}, "ports[1].rss_symmetric"},
      {{"socket: /run/u.sock", "socket: /run/v.sock"}, "control.socket"},
      {{"stats_interval_ms: 100", "stats_interval_ms: 200"}, "control.stats_interval_ms"},
      {{"rules: [a.yaml]", "rules: [a.yaml], dynamic_state: /var/lib/x.json"},
       "pipeline.dynamic_state"},
      {{"rules: [a.yaml]", "rules: [a.yaml], talker_sampling: 4"}, "pipeline.talker_sampling"},
      {{"rules: [a.yaml]", "rules: [a.yaml], talker_max_sample_rate: 5000"},
       "pipeline.talker_max_sample_rate"},
  };
  for (const auto& [edit, key] : cases) {
    std::string text = with(kBase, edit.first, edit.second);
    if (key == "ports[1].name") text = with(text, "forward_to: lan}", "forward_to: lan2}");
    const auto changed = restart_required_changes(base, parse(text));
    EXPECT_NE(std::find(changed.begin(), changed.end(), key), changed.end()) << key;
  }
  const auto fewer = restart_required_changes(
      base, parse("eal: {lcores: [0, 1], memory_mb: 512}\nports:\n  - {name: wan, device: "
                  "\"0000:3b:00.0\", forward_to: wan}\npipeline: {rules: [a.yaml]}\n"
                  "control: {socket: /run/u.sock}\n"));
  EXPECT_EQ(fewer, std::vector<std::string>{"ports (number of ports)"});
}

std::vector<udpsieve::rules::Rule> rules_of(const std::string& yaml) {
  udpsieve::rules::RuleCollector collector({"wan", "lan", "dmz", "mgmt"});
  collector.add_document(udpsieve::YamlNode::load_string(yaml, "r.yaml"));
  return collector.take().to_vector();
}

std::string limit_error(const std::string& yaml, uint32_t workers) {
  return udpsieve::test::config_error_of(
      [&] { udpsieve::dataplane::check_rule_limits(rules_of(yaml), workers); });
}

TEST(RuleLimits, EntriesMultiplyPerFamily) {
  const auto rules = rules_of(R"(rules:
  - id: a
    match: {src: [10.0.0.0/8, 11.0.0.0/8, "2001:db8::/32"], dst_port: [1, 2, 3], in_port: [wan, lan]}
    action: drop
  - id: b
    match: {src: "2001:db8::/32"}
    action: drop
  - id: c
    action: drop
)");
  using udpsieve::dataplane::classifier_entries;
  using udpsieve::rules::Family;
  EXPECT_EQ(classifier_entries(rules[0], Family::ipv4), 2U * 3U * 2U);
  EXPECT_EQ(classifier_entries(rules[0], Family::ipv6), 1U * 3U * 2U);
  EXPECT_EQ(classifier_entries(rules[1], Family::ipv4), 0U);
  EXPECT_EQ(classifier_entries(rules[1], Family::ipv6), 1U);
  EXPECT_EQ(classifier_entries(rules[2], Family::ipv4), 1U);
}

TEST(RuleLimits, ErrorsNameTheRule) {
  std::string ports;
  for (int i = 0; i < 300; ++i)
    ports += (ports.empty() ? "" : ", ") + std::to_string(i);
  EXPECT_EQ(limit_error("rules:\n  - id: wide\n    match: {src_port: [" + ports + "], dst_port: [" +
                            ports + "]}\n    action: drop\n",
                        1),
            "r.yaml:2:5: rule wide: its lists combine into more than 65536 classifier entries "
            "(the product of their lengths); split it into several rules");

  std::string five;
  for (int i = 0; i < 5; ++i) {
    five += "  - id: p" + std::to_string(i) +
            "\n    match: {payload: {offset: " + std::to_string(i * 10) +
            ", value: \"01\"}}\n    action: drop\n";
  }
  EXPECT_EQ(limit_error("rules:\n" + five, 1),
            "r.yaml:14:5: rule p4: payload offset 40 is one more distinct payload offset than "
            "the 4 a rule set may use; align payload matches on shared offsets");

  const std::string bytes =
      "rules:\n  - id: slow\n    action: {rate_limit: {bps: 8000000, burst_bytes: 3000}}\n";
  EXPECT_EQ(limit_error(bytes, 1), "(no error)");
  EXPECT_EQ(limit_error(bytes, 2),
            "r.yaml:2:5: rule slow: rate_limit.burst_bytes 3000 is split over 2 worker(s), "
            "leaving 1500 bytes each, less than one full-size frame (1518 bytes); raise "
            "burst_bytes to at least 3036");
}

TEST(RuleLimits, PayloadOffsetsInFirstUseOrder) {
  const auto rules = rules_of(R"(rules:
  - {id: a, match: {payload: {offset: 8, value: "01"}}, action: drop}
  - {id: b, match: {payload: {offset: 0, value: "02"}}, action: drop}
  - {id: c, match: {payload: {offset: 8, value: "03"}}, action: drop}
)");
  EXPECT_EQ(udpsieve::dataplane::payload_offsets(rules), (std::vector<uint16_t>{8, 0}));
}

}  // namespace
