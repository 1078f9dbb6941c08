// The reference matcher: each field of Match checked in the plainest way, one after another.
#include "udpsieve/rules/matcher.hpp"

#include <algorithm>
#include <cstddef>

namespace udpsieve::rules {
namespace {

bool any_prefix_contains(const std::vector<Prefix>& prefixes, Family family,
                         const std::array<uint8_t, 16>& address) noexcept {
  return std::any_of(prefixes.begin(), prefixes.end(), [&](const Prefix& prefix) {
    return prefix.family == family && prefix.contains(address);
  });
}

bool any_range_contains(const std::vector<Range>& ranges, uint16_t value) noexcept {
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const Range& range) { return range.contains(value); });
}

/// The payload must hold every byte of the window, and each byte must equal `value` on the
/// bits of `mask`. Packets without a UDP header have no payload to look at.
bool payload_matches(const PayloadMatch& payload, const PacketKey& key) noexcept {
  if (!key.has_ports || key.payload == nullptr) return false;
  if (payload.mask.size() != payload.value.size()) return false;  // malformed: never matches
  const std::size_t end = std::size_t{payload.offset} + payload.value.size();
  if (key.payload_length < end) return false;
  for (std::size_t i = 0; i < payload.value.size(); ++i) {
    if ((key.payload[payload.offset + i] & payload.mask[i]) != payload.value[i]) return false;
  }
  return true;
}

}  // namespace

bool rule_matches(const Rule& rule, const PacketKey& key) noexcept {
  const Match& m = rule.match;
  if (!m.src.empty() && !any_prefix_contains(m.src, key.family, key.src)) return false;
  if (!m.dst.empty() && !any_prefix_contains(m.dst, key.family, key.dst)) return false;
  if (!m.src_set.empty() && (key.src_sets & m.src_sets) == 0) return false;
  if (!m.dst_set.empty() && (key.dst_sets & m.dst_sets) == 0) return false;
  if (!m.src_port.empty() && !(key.has_ports && any_range_contains(m.src_port, key.src_port))) {
    return false;
  }
  if (!m.dst_port.empty() && !(key.has_ports && any_range_contains(m.dst_port, key.dst_port))) {
    return false;
  }
  if (!m.in_port.empty() &&
      std::find(m.in_port.begin(), m.in_port.end(), int{key.in_port}) == m.in_port.end()) {
    return false;
  }
  if (!m.length.empty() && !any_range_contains(m.length, key.l3_length)) return false;
  if (!m.ttl.empty() && !any_range_contains(m.ttl, key.ttl)) return false;
  if (!m.dscp.empty() && !any_range_contains(m.dscp, key.dscp)) return false;
  if (!m.vlan.empty() && !(key.vlan_count >= 1 && any_range_contains(m.vlan, key.outer_vlan))) {
    return false;
  }
  if (m.fragment && key.fragment != *m.fragment) return false;
  if (m.payload && !payload_matches(*m.payload, key)) return false;
  return true;
}

int32_t reference_match(std::span<const Rule> rules, const PacketKey& key) noexcept {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (rule_matches(rules[i], key)) return static_cast<int32_t>(i);
  }
  return kNoMatch;
}

}  // namespace udpsieve::rules
