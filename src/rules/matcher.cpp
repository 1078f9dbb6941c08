#include "udpsieve/rules/matcher.hpp"

#include <algorithm>
#include <cstring>

namespace udpsieve::rules {
namespace {

bool any_prefix_contains(const std::vector<Prefix>& prefixes, Family family,
                         const std::array<uint8_t, 16>& address) noexcept {
  return std::any_of(prefixes.begin(), prefixes.end(), [&](const Prefix& prefix) {
    return prefix.family == family && prefix.contains(address);
  });
}

bool any_range_contains(const std::vector<PortRange>& ranges, uint16_t port) noexcept {
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const PortRange& range) { return range.contains(port); });
}

uint32_t load_be32(const uint8_t* bytes) noexcept {
  uint32_t value = 0;
  std::memcpy(&value, bytes, sizeof value);
  return __builtin_bswap32(value);
}

uint64_t load_be64(const uint8_t* bytes) noexcept {
  uint64_t value = 0;
  std::memcpy(&value, bytes, sizeof value);
  return __builtin_bswap64(value);
}

uint64_t mask64(int bits) noexcept {
  if (bits <= 0) return 0;
  if (bits >= 64) return ~uint64_t{0};
  return ~uint64_t{0} << (64 - bits);
}

}  // namespace

bool rule_matches(const Rule& rule, const PacketKey& key) noexcept {
  const Match& m = rule.match;
  if (!m.src.empty() && !any_prefix_contains(m.src, key.family, key.src)) return false;
  if (!m.dst.empty() && !any_prefix_contains(m.dst, key.family, key.dst)) return false;
  if (!m.src_port.empty() && !(key.has_ports && any_range_contains(m.src_port, key.src_port))) {
    return false;
  }
  if (!m.dst_port.empty() && !(key.has_ports && any_range_contains(m.dst_port, key.dst_port))) {
    return false;
  }
  return true;
}

int32_t reference_match(std::span<const Rule> rules, const PacketKey& key) noexcept {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (rule_matches(rules[i], key)) return static_cast<int32_t>(i);
  }
  return kNoMatch;
}

LinearMatcher::LinearMatcher(std::span<const Rule> rules) {
  rules_.reserve(rules.size());
  for (const Rule& rule : rules) {
    FlatRule flat;
    auto add_prefixes = [&](const std::vector<Prefix>& prefixes, Slice& v4, Slice& v6) {
      v4.begin = v4.end = static_cast<uint32_t>(v4_.size());
      v6.begin = v6.end = static_cast<uint32_t>(v6_.size());
      for (const Prefix& p : prefixes) {
        if (p.family == Family::ipv4) {
          const uint32_t mask = p.length == 0 ? 0 : ~uint32_t{0} << (32 - p.length);
          v4_.push_back({load_be32(p.addr.data()) & mask, mask});
        } else {
          const uint64_t hi_mask = mask64(p.length);
          const uint64_t lo_mask = mask64(p.length - 64);
          v6_.push_back({load_be64(p.addr.data()) & hi_mask, load_be64(p.addr.data() + 8) & lo_mask,
                         hi_mask, lo_mask});
        }
      }
      v4.end = static_cast<uint32_t>(v4_.size());
      v6.end = static_cast<uint32_t>(v6_.size());
    };
    auto add_ports = [&](const std::vector<PortRange>& ranges, Slice& slice) {
      slice.begin = static_cast<uint32_t>(ports_.size());
      ports_.insert(ports_.end(), ranges.begin(), ranges.end());
      slice.end = static_cast<uint32_t>(ports_.size());
    };
    add_prefixes(rule.match.src, flat.src_v4, flat.src_v6);
    add_prefixes(rule.match.dst, flat.dst_v4, flat.dst_v6);
    add_ports(rule.match.src_port, flat.src_port);
    add_ports(rule.match.dst_port, flat.dst_port);
    flat.any_src = rule.match.src.empty();
    flat.any_dst = rule.match.dst.empty();
    rules_.push_back(flat);
  }
}

bool LinearMatcher::matches(const FlatRule& rule, const PacketKey& key) const noexcept {
  auto v4_hit = [&](Slice slice, uint32_t address) {
    for (uint32_t i = slice.begin; i < slice.end; ++i) {
      if ((address & v4_[i].mask) == v4_[i].network) return true;
    }
    return false;
  };
  auto v6_hit = [&](Slice slice, uint64_t hi, uint64_t lo) {
    for (uint32_t i = slice.begin; i < slice.end; ++i) {
      const V6Prefix& p = v6_[i];
      if ((hi & p.mask_hi) == p.network_hi && (lo & p.mask_lo) == p.network_lo) return true;
    }
    return false;
  };
  auto port_hit = [&](Slice slice, uint16_t port) {
    for (uint32_t i = slice.begin; i < slice.end; ++i) {
      if (ports_[i].contains(port)) return true;
    }
    return false;
  };

  if (key.family == Family::ipv4) {
    if (!rule.any_src && !v4_hit(rule.src_v4, load_be32(key.src.data()))) return false;
    if (!rule.any_dst && !v4_hit(rule.dst_v4, load_be32(key.dst.data()))) return false;
  } else {
    if (!rule.any_src &&
        !v6_hit(rule.src_v6, load_be64(key.src.data()), load_be64(key.src.data() + 8))) {
      return false;
    }
    if (!rule.any_dst &&
        !v6_hit(rule.dst_v6, load_be64(key.dst.data()), load_be64(key.dst.data() + 8))) {
      return false;
    }
  }
  if (!rule.src_port.empty() && !(key.has_ports && port_hit(rule.src_port, key.src_port))) {
    return false;
  }
  if (!rule.dst_port.empty() && !(key.has_ports && port_hit(rule.dst_port, key.dst_port))) {
    return false;
  }
  return true;
}

int32_t LinearMatcher::match(const PacketKey& key) const noexcept {
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    if (matches(rules_[i], key)) return static_cast<int32_t>(i);
  }
  return kNoMatch;
}

void LinearMatcher::match_burst(const PacketKey* const* keys, uint32_t count,
                                int32_t* results) const noexcept {
  for (uint32_t i = 0; i < count; ++i) {
    results[i] = keys[i] == nullptr ? kNoMatch : match(*keys[i]);
  }
}

}  // namespace udpsieve::rules
