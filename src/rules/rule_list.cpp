#include "udpsieve/rules/rule_list.hpp"

#include <algorithm>
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

std::vector<Rule> RuleList::to_vector() const {
  std::vector<Rule> out;
  out.reserve(size());
  for (const Rule* rule : index_)
    out.push_back(*rule);
  return out;
}

}  // namespace udpsieve::rules
