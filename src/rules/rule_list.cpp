#include "udpsieve/rules/rule_list.hpp"

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <utility>

namespace udpsieve::rules {

RuleList::RuleList(std::vector<Rule> rules) {
  if (!rules.empty()) append(std::make_shared<const std::vector<Rule>>(std::move(rules)));
}

void RuleList::append(const Block& block) {
  if (block == nullptr || block->empty()) return;
  blocks_.push_back(block);
  index_.reserve(index_.size() + block->size());
  for (const Rule& rule : *block)
    index_.push_back(&rule);
}

void RuleList::append(const RuleList& other, std::size_t first, std::size_t count) {
  if (first > other.size() || count > other.size() - first) {
    throw std::out_of_range("RuleList::append: rules past the end of the list");
  }
  if (count == 0) return;
  // Sharing every block of `other` keeps the range's rules alive; a list has few blocks.
  for (const Block& block : other.blocks_) {
    if (std::find(blocks_.begin(), blocks_.end(), block) == blocks_.end()) blocks_.push_back(block);
  }
  index_.insert(index_.end(), other.index_.begin() + static_cast<std::ptrdiff_t>(first),
                other.index_.begin() + static_cast<std::ptrdiff_t>(first + count));
}

std::vector<std::size_t> RuleList::positions_of_same(const RuleList& other) const {
  // This list's runs of rules that lie one after another in memory (a block's), by address.
  struct Run {
    const Rule* begin;
    std::size_t count;
    std::size_t first;  // its first rule's position here
  };
  std::vector<Run> runs;
  for (std::size_t k = 0; k < index_.size(); ++k) {
    if (!runs.empty() && index_[k - 1] + 1 == index_[k]) {
      ++runs.back().count;
    } else {
      runs.push_back({index_[k], 1, k});
    }
  }
  const std::less<const Rule*> before;
  std::sort(runs.begin(), runs.end(),
            [&](const Run& a, const Run& b) { return before(a.begin, b.begin); });
  std::vector<std::size_t> out(other.size(), npos);
  std::size_t next = 0;  // where the rule after the last one found stands here
  for (std::size_t i = 0; i < other.size(); ++i) {
    const Rule* rule = other.index_[i];
    if (next < index_.size() && index_[next] == rule) {
      out[i] = next++;
      continue;
    }
    // The last run starting at or before the rule; it holds the rule if it reaches it.
    auto run = std::upper_bound(runs.begin(), runs.end(), rule,
                                [&](const Rule* r, const Run& x) { return before(r, x.begin); });
    if (run == runs.begin()) continue;
    --run;
    if (!before(rule, run->begin + run->count)) continue;
    out[i] = run->first + static_cast<std::size_t>(rule - run->begin);
    next = out[i] + 1;
  }
  return out;
}

std::vector<Rule> RuleList::to_vector() const {
  std::vector<Rule> out;
  out.reserve(size());
  for (const Rule* rule : index_)
    out.push_back(*rule);
  return out;
}

}  // namespace udpsieve::rules
