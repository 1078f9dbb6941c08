#pragma once
/// Limits the classifier and rate limiter put on a rule set, checked without DPDK so a rule
/// set that would fail to compile is refused before any port is touched.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "udpsieve/rules/rule.hpp"

namespace udpsieve::dataplane {

/// Most distinct payload offsets one rule set may use (each costs four classifier levels).
inline constexpr std::size_t kMaxPayloadWindows = 4;
/// Most classifier entries one rule may expand into (its lists' sizes multiplied).
inline constexpr std::size_t kMaxEntriesPerRule = 65536;
/// The largest standard Ethernet frame: a byte-rate bucket smaller than this per worker would
/// never pass a full-size frame.
inline constexpr uint64_t kMaxStandardFrame = 1518;

/// Classifier entries `rule` expands into for `family` (0 when it cannot match the family),
/// saturating at kMaxEntriesPerRule + 1.
[[nodiscard]] std::size_t classifier_entries(const rules::Rule& rule, rules::Family family);

/// The distinct payload offsets of `rules`, in first-use order.
[[nodiscard]] std::vector<uint16_t> payload_offsets(const std::vector<rules::Rule>& rules);

/// Throws ConfigError (at the offending rule) when `rules` exceed a classifier limit or a
/// byte rate limit's burst, split over `workers`, is smaller than a full-size frame.
void check_rule_limits(const std::vector<rules::Rule>& rules, uint32_t workers);

}  // namespace udpsieve::dataplane
