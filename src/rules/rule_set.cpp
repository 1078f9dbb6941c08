#include "udpsieve/rules/rule_set.hpp"

#include <utility>

namespace udpsieve::rules {

const char* verdict_name(Verdict verdict) noexcept {
  return verdict == Verdict::drop ? "drop" : "forward";
}

RuleSet::RuleSet(std::vector<Rule> rules, Verdict default_action, Verdict non_udp)
    : rules_(std::move(rules)), default_action_(default_action), non_udp_(non_udp) {
  index_.reserve(rules_.size());
  for (std::size_t i = 0; i < rules_.size(); ++i)
    index_.emplace(rules_[i].id, i);
}

const Rule* RuleSet::find(std::string_view id) const noexcept {
  const auto it = index_.find(id);
  return it == index_.end() ? nullptr : &rules_[it->second];
}

}  // namespace udpsieve::rules
