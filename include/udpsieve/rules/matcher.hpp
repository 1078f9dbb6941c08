#pragma once
/// First-match rule matching: a plain reference matcher and a flattened linear matcher.

#include <cstdint>
#include <span>
#include <vector>

#include "udpsieve/rules/packet_key.hpp"
#include "udpsieve/rules/rule.hpp"

namespace udpsieve::rules {

/// Returned when no rule matches.
inline constexpr int32_t kNoMatch = -1;

/// True when `rule` matches a UDP packet with fields `key` (the obviously-correct definition).
[[nodiscard]] bool rule_matches(const Rule& rule, const PacketKey& key) noexcept;

/// Index of the first rule in `rules` matching `key`, or kNoMatch. Plain code kept as the
/// oracle that faster matchers are tested against.
[[nodiscard]] int32_t reference_match(std::span<const Rule> rules, const PacketKey& key) noexcept;

/// Rules flattened into contiguous arrays for a cache-friendly first-match scan.
class LinearMatcher {
 public:
  LinearMatcher() = default;
  explicit LinearMatcher(std::span<const Rule> rules);

  /// Index of the first matching rule, or kNoMatch.
  [[nodiscard]] int32_t match(const PacketKey& key) const noexcept;
  /// Classifies `count` keys; `keys[i]` may be null (not UDP), giving kNoMatch.
  void match_burst(const PacketKey* const* keys, uint32_t count, int32_t* results) const noexcept;

  [[nodiscard]] std::size_t size() const noexcept { return rules_.size(); }

 private:
  struct V4Prefix {
    uint32_t network;  // host byte order
    uint32_t mask;
  };
  struct V6Prefix {
    uint64_t network_hi, network_lo;  // host byte order halves
    uint64_t mask_hi, mask_lo;
  };
  /// [begin, end) slices into the shared arrays below.
  struct Slice {
    uint32_t begin = 0;
    uint32_t end = 0;
    [[nodiscard]] bool empty() const noexcept { return begin == end; }
  };
  struct FlatRule {
    Slice src_v4, dst_v4, src_v6, dst_v6, src_port, dst_port;
    bool any_src = true;  // no src prefixes given
    bool any_dst = true;
  };

  [[nodiscard]] bool matches(const FlatRule& rule, const PacketKey& key) const noexcept;

  std::vector<FlatRule> rules_;
  std::vector<V4Prefix> v4_;
  std::vector<V6Prefix> v6_;
  std::vector<PortRange> ports_;
};

}  // namespace udpsieve::rules
