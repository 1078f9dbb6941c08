// libFuzzer target: YAML text read as a daemon configuration and, separately, as a rule file.
//
// First the two YAML readers are compared: where the subset reader takes the text, libyaml
// must read the same document from it.
//
// The configuration goes through parse_daemon_config (no filesystem: relative paths resolve
// against a directory that does not exist and the rule files are not read), then the pure steps
// the daemon takes next: comparing it with itself for a reload and planning the EAL command
// line. The rule file goes through a RuleCollector for the ports "wan" and "lan", the
// classifier limits for two workers and the shadowed-rule analysis. ConfigError is how input
// is refused; any other exception escapes and libFuzzer reports it, as it does crashes, leaks
// and sanitizer reports. Each unreachable rule the analysis reports is checked against the
// reference matcher on packets built from that rule's own fields.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "udpsieve/common/config_error.hpp"
#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/config/config.hpp"
#include "udpsieve/config/eal_args.hpp"
#include "udpsieve/dataplane/rule_limits.hpp"
#include "udpsieve/rules/analysis.hpp"
#include "udpsieve/rules/matcher.hpp"
#include "udpsieve/rules/rule_loader.hpp"

namespace {

using udpsieve::ConfigError;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

void fuzz_daemon_config(const std::string& text) {
  udpsieve::config::DaemonConfig config;
  try {
    config = udpsieve::config::parse_daemon_config(text, "fuzz.yaml", "/nonexistent");
  } catch (const ConfigError&) {
    return;
  }
  // A configuration never differs from itself.
  check(udpsieve::config::restart_required_changes(config, config).empty());
  // With plenty of hugepages every mode plans; without any, only `required` refuses.
  (void)udpsieve::config::plan_eal(config,
                                   {.free_bytes = uint64_t{1} << 30, .hugetlbfs_mounted = true});
  try {
    (void)udpsieve::config::plan_eal(config, {.free_bytes = 0, .hugetlbfs_mounted = false});
  } catch (const std::runtime_error&) {
    check(config.eal.hugepages == udpsieve::config::HugepageMode::required);
  }
}

// A packet `rule` matches, built from the lowest (`high` false) or highest value of each field
// it pins, in `family`; nullopt when the rule pins no prefix of that family. `payload` holds the
// payload bytes the key points at.
std::optional<udpsieve::rules::PacketKey> packet_for(const udpsieve::rules::Rule& rule,
                                                     udpsieve::rules::Family family, bool high,
                                                     std::vector<uint8_t>& payload) {
  using udpsieve::rules::Prefix;
  using udpsieve::rules::Range;
  const udpsieve::rules::Match& m = rule.match;
  udpsieve::rules::PacketKey key;
  key.family = family;
  const auto address = [&](const std::vector<Prefix>& prefixes, std::array<uint8_t, 16>& out) {
    if (prefixes.empty()) return true;
    for (const Prefix& prefix : prefixes) {
      if (prefix.family != family) continue;
      out = prefix.addr;
      if (high) {  // the prefix's last address
        const unsigned bytes = family == udpsieve::rules::Family::ipv4 ? 4 : 16;
        for (unsigned bit = prefix.length; bit < bytes * 8; ++bit)
          out[bit / 8] = static_cast<uint8_t>(out[bit / 8] | (0x80U >> (bit % 8)));
      }
      return true;
    }
    return false;
  };
  if (!address(m.src, key.src) || !address(m.dst, key.dst)) return std::nullopt;
  const auto pick = [&](const std::vector<Range>& ranges, uint16_t otherwise) -> uint16_t {
    if (ranges.empty()) return otherwise;
    return high ? ranges.back().last : ranges.front().first;
  };
  key.fragment = m.fragment.value_or(udpsieve::rules::FragmentKind::none);
  key.has_ports = key.fragment != udpsieve::rules::FragmentKind::non_first;
  key.src_port = pick(m.src_port, 1024);
  key.dst_port = pick(m.dst_port, 53);
  key.in_port = m.in_port.empty() ? uint8_t{0} : static_cast<uint8_t>(m.in_port.front());
  key.l3_length = pick(m.length, 100);
  key.ttl = static_cast<uint8_t>(pick(m.ttl, 64));
  key.dscp = static_cast<uint8_t>(pick(m.dscp, 0));
  if (!m.vlan.empty()) {
    key.vlan_count = 1;
    key.outer_vlan = pick(m.vlan, 0);
  }
  if (m.payload && key.has_ports) {
    const udpsieve::rules::PayloadMatch& match = *m.payload;
    payload.assign(match.offset + match.value.size(), high ? 0xff : 0);
    for (std::size_t i = 0; i < match.value.size(); ++i) {
      const auto keep = static_cast<uint8_t>(high ? ~match.mask[i] : 0);
      payload[match.offset + i] = static_cast<uint8_t>(match.value[i] | keep);
    }
    key.payload = payload.data();
    key.payload_length = static_cast<uint16_t>(payload.size());
  }
  return key;
}

// The analysis never reports a rule that can still match: for packets the unreachable rule
// matches, the covering rule matches too, and an earlier rule always wins.
void check_finding(const std::vector<udpsieve::rules::Rule>& rules,
                   const udpsieve::rules::RuleFinding& finding) {
  for (const auto family : {udpsieve::rules::Family::ipv4, udpsieve::rules::Family::ipv6}) {
    for (const bool high : {false, true}) {
      std::vector<uint8_t> payload;
      const std::optional<udpsieve::rules::PacketKey> key =
          packet_for(rules[finding.rule], family, high, payload);
      // Only packets the construction really made for that rule say anything.
      if (!key || !udpsieve::rules::rule_matches(rules[finding.rule], *key)) continue;
      check(udpsieve::rules::rule_matches(rules[finding.by], *key));
      const int32_t first = udpsieve::rules::reference_match(rules, *key);
      check(first >= 0 && static_cast<std::size_t>(first) < finding.rule);
    }
  }
}

void fuzz_rule_file(const std::string& text) {
  std::vector<udpsieve::rules::Rule> rules;
  try {
    udpsieve::rules::RuleCollector collector({"wan", "lan"});
    collector.add_document(udpsieve::YamlNode::load_string(text, "fuzz-rules.yaml"));
    rules = collector.take().to_vector();
  } catch (const ConfigError&) {
    return;
  }
  try {
    udpsieve::dataplane::check_rule_limits(rules, 2);
  } catch (const ConfigError&) {
    // Refused for the classifier. The analysis is defined for any rule set (the daemon only
    // runs it on ones that fit), so it runs either way and sees more inputs.
  }
  const udpsieve::rules::AnalysisResult result =
      udpsieve::rules::find_unreachable_rules(rules, std::chrono::milliseconds(50));
  for (const udpsieve::rules::RuleFinding& finding : result.findings) {
    check(finding.by < finding.rule && finding.rule < rules.size());
    (void)udpsieve::rules::finding_message(finding, rules);
    check_finding(rules, finding);
  }
}

}  // namespace

// Where the subset reader reads the text, libyaml reads the same nodes at the same positions.
void fuzz_readers(const std::string& text) {
  const std::optional<udpsieve::YamlNode> subset =
      udpsieve::YamlNode::load_subset(text, "fuzz.yaml");
  if (!subset) return;
  try {
    check(subset->dump_document() ==
          udpsieve::YamlNode::load_with_libyaml(text, "fuzz.yaml").dump_document());
  } catch (const ConfigError&) {
    check(false);  // libyaml refuses what the subset reader read
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz_readers(text);
  fuzz_daemon_config(text);
  fuzz_rule_file(text);
  return 0;
}
