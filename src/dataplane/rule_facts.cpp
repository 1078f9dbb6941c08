#include "udpsieve/dataplane/rule_facts.hpp"

#include <algorithm>
#include <utility>

namespace udpsieve::dataplane {

using rules::Family;

RuleFacts::RuleFacts(const rules::RuleList& rules) {
  find(rules, nullptr);
}

RuleFacts::RuleFacts(std::shared_ptr<const rules::RuleSet> set, const RuleFacts* earlier)
    : set_(std::move(set)) {
  find(set_->rules(), earlier != nullptr && earlier->set_ != nullptr ? earlier : nullptr);
}

void RuleFacts::find(const rules::RuleList& rules, const RuleFacts* earlier) {
  // Where each rule stood in the earlier set when it is the very same rule object (a block
  // both share): only that rule is sure to have the same facts.
  std::vector<std::size_t> from;
  if (earlier != nullptr) from = earlier->set_->rules().positions_of_same(rules);
  const std::size_t n = rules.size();
  signatures_.v4.reserve(n);
  signatures_.v6.reserve(n);
  entries_v4_.reserve(n);
  entries_v6_.reserve(n);
  if (earlier != nullptr) {
    exact_v4_.reserve(n, earlier->exact_v4_);
    exact_v6_.reserve(n, earlier->exact_v6_);
  }
  const auto entries_of = [](const rules::Rule& rule, Family family,
                             const std::optional<Signature>& s) -> uint32_t {
    // classifier_entries() saturates at kMaxEntriesPerRule + 1, well inside 32 bits.
    return s ? static_cast<uint32_t>(classifier_entries(rule, family, *s)) : 0;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const rules::Rule& rule = rules[i];
    const std::size_t at = from.empty() ? rules::RuleList::npos : from[i];
    if (at != rules::RuleList::npos) {
      signatures_.v4.push_back(earlier->signatures_.v4[at]);
      signatures_.v6.push_back(earlier->signatures_.v6[at]);
      entries_v4_.push_back(earlier->entries_v4_[at]);
      entries_v6_.push_back(earlier->entries_v6_[at]);
      exact_v4_.copy(earlier->exact_v4_, at);
      exact_v6_.copy(earlier->exact_v6_, at);
      ++copied_;
      continue;
    }
    const std::optional<Signature> v4 = signature_of(rule, Family::ipv4);
    const std::optional<Signature> v6 = signature_of(rule, Family::ipv6);
    signatures_.v4.push_back(v4);
    signatures_.v6.push_back(v6);
    entries_v4_.push_back(entries_of(rule, Family::ipv4, v4));
    entries_v6_.push_back(entries_of(rule, Family::ipv6, v6));
    exact_v4_.add(rule, v4, Family::ipv4);
    exact_v6_.add(rule, v6, Family::ipv6);
  }
}

}  // namespace udpsieve::dataplane
