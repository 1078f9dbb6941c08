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

}  // namespace udpsieve::rules
