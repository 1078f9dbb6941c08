// Value sets for the rule analyses.
#include "udpsieve/rules/range_set.hpp"

#include <algorithm>

namespace udpsieve::rules {

RangeSet normalize_ranges(const std::vector<Range>& ranges, uint16_t max) {
  if (ranges.empty()) return {Range{0, max}};
  RangeSet sorted;
  for (Range range : ranges) {
    if (range.first > range.last || range.first > max) continue;  // no value of the domain
    range.last = std::min(range.last, max);
    sorted.push_back(range);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const Range& a, const Range& b) { return a.first < b.first; });
  RangeSet out;
  for (const Range& range : sorted) {
    if (!out.empty() && uint32_t{range.first} <= uint32_t{out.back().last} + 1) {
      out.back().last = std::max(out.back().last, range.last);
    } else {
      out.push_back(range);
    }
  }
  return out;
}

bool is_whole(const RangeSet& set, uint16_t max) {
  return set.size() == 1 && set[0].first == 0 && set[0].last == max;
}

Address highest_address(Family family) {
  return family == Family::ipv4 ? Address{0xffffffffu} : ~Address{0};
}

AddressRange address_range(const Prefix& prefix) {
  const unsigned bytes = prefix.family == Family::ipv4 ? 4u : 16u;
  Address first = 0;
  for (unsigned i = 0; i < bytes; ++i)
    first = (first << 8) | prefix.addr[i];
  const unsigned host = bytes * 8 - prefix.length;
  const Address span = host >= 128 ? ~Address{0} : (Address{1} << host) - 1;
  return {first, first | span};
}

AddressSet address_set(const std::vector<Prefix>& list, Family family) {
  if (list.empty()) return {AddressRange{0, highest_address(family)}};
  AddressSet sorted;
  for (const Prefix& p : list) {
    if (p.family == family) sorted.push_back(address_range(p));
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const AddressRange& a, const AddressRange& b) { return a.first < b.first; });
  AddressSet out;
  for (const AddressRange& range : sorted) {
    // Overlapping or adjacent (the `last + 1` cannot wrap: nothing follows the highest address).
    if (!out.empty() &&
        (out.back().last == highest_address(family) || range.first <= out.back().last + 1)) {
      out.back().last = std::max(out.back().last, range.last);
    } else {
      out.push_back(range);
    }
  }
  return out;
}

bool every_address(const AddressSet& set, Family family) {
  return set.size() == 1 && set[0].first == 0 && set[0].last == highest_address(family);
}

}  // namespace udpsieve::rules
