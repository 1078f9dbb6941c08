#pragma once
/// Sets of 16-bit values (ports, lengths, TTLs, DSCPs, VLAN ids) and of addresses as sorted,
/// disjoint ranges: the form the rule analyses (shadowing, NIC offload) compare matches in.

#include <cstddef>
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

/// Addresses of one family as integers (IPv4 in the low 32 bits).
__extension__ typedef unsigned __int128 Address;  // NOLINT(modernize-use-using): pedantic needs it

/// An inclusive range of addresses.
struct AddressRange {
  Address first = 0;
  Address last = 0;
};

/// A union of prefixes of one family as sorted, disjoint, non-adjacent address ranges: union,
/// subset, overlap and "every address" become merge passes, so lists of 100,000 prefixes cost
/// O(n log n) to prepare and O(n + m) to compare.
using AddressSet = std::vector<AddressRange>;

/// The highest address of the family.
[[nodiscard]] Address highest_address(Family family);
/// The addresses of a prefix.
[[nodiscard]] AddressRange address_range(const Prefix& prefix);
/// The addresses of `list`'s prefixes of `family`; an absent (empty) list is every address.
[[nodiscard]] AddressSet address_set(const std::vector<Prefix>& list, Family family);
/// Whether `set` is every address of the family.
[[nodiscard]] bool every_address(const AddressSet& set, Family family);

/// inner ⊆ outer, for sorted disjoint ranges (RangeSet, AddressSet). Outer's ranges have gaps
/// between them, so each inner range must lie inside a single outer range: one merge pass.
template <typename Set>
[[nodiscard]] bool ranges_subset(const Set& inner, const Set& outer) {
  std::size_t k = 0;
  for (const auto& range : inner) {
    while (k < outer.size() && outer[k].last < range.first)
      ++k;
    if (k == outer.size() || outer[k].first > range.first || outer[k].last < range.last) {
      return false;
    }
  }
  return true;
}

/// Some value lies in both (sorted disjoint ranges: RangeSet, AddressSet); one merge pass.
template <typename Set>
[[nodiscard]] bool ranges_meet(const Set& a, const Set& b) {
  std::size_t i = 0;
  std::size_t k = 0;
  while (i < a.size() && k < b.size()) {
    if (a[i].last < b[k].first) {
      ++i;
    } else if (b[k].last < a[i].first) {
      ++k;
    } else {
      return true;
    }
  }
  return false;
}

}  // namespace udpsieve::rules
