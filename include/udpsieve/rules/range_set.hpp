#pragma once
/// Sets of 16-bit values (ports, lengths, TTLs, DSCPs, VLAN ids) as sorted, disjoint ranges: the
/// form the rule analyses (shadowing, NIC offload) compare matches in.

#include <cstdint>
#include <vector>

#include "udpsieve/rules/rule.hpp"

namespace udpsieve::rules {

/// Sorted by `first`, disjoint and not adjacent.
using RangeSet = std::vector<Range>;

/// The values of `ranges` within [0, max]; an absent (empty) list is all of them.
[[nodiscard]] RangeSet normalize_ranges(const std::vector<Range>& ranges, uint16_t max);
/// Whether `set` is all of [0, max].
[[nodiscard]] bool is_whole(const RangeSet& set, uint16_t max);

}  // namespace udpsieve::rules
