#include "udpsieve/dataplane/rule_limits.hpp"

#include <algorithm>
#include <string>

#include "udpsieve/common/config_error.hpp"

namespace udpsieve::dataplane {
namespace {

std::size_t count_family(const std::vector<rules::Prefix>& list, rules::Family family) {
  if (list.empty()) return 1;  // any
  return static_cast<std::size_t>(std::count_if(
      list.begin(), list.end(), [&](const rules::Prefix& p) { return p.family == family; }));
}

}  // namespace

std::size_t classifier_entries(const rules::Rule& rule, rules::Family family) {
  const rules::Match& m = rule.match;
  const std::size_t src = count_family(m.src, family);
  const std::size_t dst = count_family(m.dst, family);
  if (src == 0 || dst == 0) return 0;  // an address list without this family matches none of it
  std::size_t total = 1;
  for (std::size_t n : {src, dst, m.src_port.size(), m.dst_port.size(), m.in_port.size(),
                        m.length.size(), m.ttl.size(), m.dscp.size(), m.vlan.size()}) {
    const std::size_t factor = std::max<std::size_t>(n, 1);  // an absent list counts once
    if (total > kMaxEntriesPerRule / factor) return kMaxEntriesPerRule + 1;
    total *= factor;
  }
  return total;
}

std::vector<uint16_t> payload_offsets(const std::vector<rules::Rule>& rules) {
  std::vector<uint16_t> offsets;
  for (const rules::Rule& rule : rules) {
    if (!rule.match.payload) continue;
    const uint16_t offset = rule.match.payload->offset;
    if (std::find(offsets.begin(), offsets.end(), offset) == offsets.end()) {
      offsets.push_back(offset);
    }
  }
  return offsets;
}

void check_rule_limits(const std::vector<rules::Rule>& rules, uint32_t workers) {
  workers = std::max<uint32_t>(workers, 1);
  std::vector<uint16_t> offsets;
  for (const rules::Rule& rule : rules) {
    const std::string key = "rule " + rule.id;
    for (rules::Family family : {rules::Family::ipv4, rules::Family::ipv6}) {
      const std::size_t entries = classifier_entries(rule, family);
      if (entries > kMaxEntriesPerRule) {
        throw ConfigError(rule.where, key,
                          "its lists combine into more than " + std::to_string(kMaxEntriesPerRule) +
                              " classifier entries (the product of their lengths); split it "
                              "into several rules");
      }
    }
    if (rule.match.payload) {
      const uint16_t offset = rule.match.payload->offset;
      if (std::find(offsets.begin(), offsets.end(), offset) == offsets.end()) {
        if (offsets.size() == kMaxPayloadWindows) {
          throw ConfigError(rule.where, key,
                            "payload offset " + std::to_string(offset) +
                                " is one more distinct payload offset than the " +
                                std::to_string(kMaxPayloadWindows) +
                                " a rule set may use; align payload matches on shared offsets");
        }
        offsets.push_back(offset);
      }
    }
    if (rule.action.kind == rules::ActionKind::rate_limit &&
        rule.action.rate_limit.unit == rules::RateLimit::Unit::bytes &&
        rule.action.rate_limit.burst / workers < kMaxStandardFrame) {
      const uint64_t burst = rule.action.rate_limit.burst;
      throw ConfigError(rule.where, key,
                        "rate_limit.burst_bytes " + std::to_string(burst) + " is split over " +
                            std::to_string(workers) + " worker(s), leaving " +
                            std::to_string(burst / workers) +
                            " bytes each, less than one full-size frame (1518 bytes); raise "
                            "burst_bytes to at least " +
                            std::to_string(kMaxStandardFrame * workers));
    }
  }
}

}  // namespace udpsieve::dataplane
