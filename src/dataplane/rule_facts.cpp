#include "udpsieve/dataplane/rule_facts.hpp"

#include <algorithm>
#include <cstddef>
#include <utility>

#include "udpsieve/common/fnv1a.hpp"

namespace udpsieve::dataplane {

using rules::Family;

RuleFacts::RuleFacts(const rules::RuleList& rules) {
  find(rules, nullptr);
}

RuleFacts::RuleFacts(std::shared_ptr<const rules::RuleSet> set, const RuleFacts* earlier)
    : set_(std::move(set)) {
  find(set_->rules(), earlier != nullptr && earlier->set_ != nullptr ? earlier : nullptr);
}

namespace {

ActionFacts action_facts(const rules::Rule& rule) {
  ActionFacts facts;
  facts.talker_key = fnv1a64(rule.id);
  facts.kind = rule.action.kind;
  if (rule.action.kind == rules::ActionKind::forward && rule.action.port >= 0)
    facts.out_port = static_cast<uint16_t>(rule.action.port);
  if (rule.match.payload) facts.payload_offset = rule.match.payload->offset;
  if (rule.action.kind == rules::ActionKind::rate_limit) {
    facts.count_bytes = rule.action.rate_limit.unit == rules::RateLimit::Unit::bytes;
    facts.per_source = rule.action.rate_limit.per_source != 0;
  }
  facts.src_sets = !rule.match.src_set.empty();
  facts.dst_sets = !rule.match.dst_set.empty();
  return facts;
}

/// Appends [at, at + count) of `from` to `to`.
template <typename T>
void append_range(std::vector<T>& to, const std::vector<T>& from, std::size_t at,
                  std::size_t count) {
  const auto first = from.begin() + static_cast<std::ptrdiff_t>(at);
  to.insert(to.end(), first, first + static_cast<std::ptrdiff_t>(count));
}

}  // namespace

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
  actions_.reserve(n);
  if (earlier != nullptr) {
    exact_v4_.reserve(n, earlier->exact_v4_);
    exact_v6_.reserve(n, earlier->exact_v6_);
  }
  const auto entries_of = [](const rules::Rule& rule, Family family,
                             const std::optional<Signature>& s) -> uint32_t {
    // classifier_entries() saturates at kMaxEntriesPerRule + 1, well inside 32 bits.
    return s ? static_cast<uint32_t>(classifier_entries(rule, family, *s)) : 0;
  };
  for (std::size_t i = 0; i < n;) {
    const std::size_t at = from.empty() ? rules::RuleList::npos : from[i];
    if (at != rules::RuleList::npos) {
      // A run of rules that stood one after another before too: copied as one range.
      std::size_t count = 1;
      while (i + count < n && from[i + count] == at + count)
        ++count;
      append_range(signatures_.v4, earlier->signatures_.v4, at, count);
      append_range(signatures_.v6, earlier->signatures_.v6, at, count);
      append_range(entries_v4_, earlier->entries_v4_, at, count);
      append_range(entries_v6_, earlier->entries_v6_, at, count);
      append_range(actions_, earlier->actions_, at, count);
      exact_v4_.copy(earlier->exact_v4_, at, count);
      exact_v6_.copy(earlier->exact_v6_, at, count);
      copied_ += count;
      i += count;
      continue;
    }
    const rules::Rule& rule = rules[i];
    const std::optional<Signature> v4 = signature_of(rule, Family::ipv4);
    const std::optional<Signature> v6 = signature_of(rule, Family::ipv6);
    signatures_.v4.push_back(v4);
    signatures_.v6.push_back(v6);
    entries_v4_.push_back(entries_of(rule, Family::ipv4, v4));
    entries_v6_.push_back(entries_of(rule, Family::ipv6, v6));
    exact_v4_.add(rule, v4, Family::ipv4);
    exact_v6_.add(rule, v6, Family::ipv6);
    actions_.push_back(action_facts(rule));
    ++i;
  }
  for (const ActionFacts& action : actions_) {
    if (action.payload_offset != ActionFacts::kNoPayload)
      add_payload_offset(payload_offsets_, action.payload_offset);
  }
}

}  // namespace udpsieve::dataplane
