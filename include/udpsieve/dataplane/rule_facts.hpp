#pragma once
/// What a build finds out about each rule by itself: its signature per family, the classifier
/// entries it expands into, the shapes of its hashed-lookup entries. None of it depends on the
/// other rules, so a reload's build copies the facts of the rules it shares with the previous
/// build (the blocks of unchanged rule files: the very same rule objects) instead of finding
/// them again; only the changed files' rules are walked.

#include <cstdint>
#include <memory>
#include <vector>

#include "udpsieve/dataplane/exact_lookup.hpp"
#include "udpsieve/dataplane/rule_limits.hpp"
#include "udpsieve/rules/rule_list.hpp"
#include "udpsieve/rules/rule_set.hpp"

namespace udpsieve::dataplane {

class RuleFacts {
 public:
  /// The facts of `rules`, each found afresh.
  explicit RuleFacts(const rules::RuleList& rules);
  /// The facts of `set`'s rules, copying those of the rules `earlier` (when given) was found
  /// for, where they are the same rule objects.
  RuleFacts(std::shared_ptr<const rules::RuleSet> set, const RuleFacts* earlier);

  [[nodiscard]] const FamilySignatures& signatures() const noexcept { return signatures_; }
  /// Each rule's classifier_entries() for `family`.
  [[nodiscard]] const std::vector<uint32_t>& entries(rules::Family family) const noexcept {
    return family == rules::Family::ipv4 ? entries_v4_ : entries_v6_;
  }
  [[nodiscard]] const ExactUses& exact(rules::Family family) const noexcept {
    return family == rules::Family::ipv4 ? exact_v4_ : exact_v6_;
  }
  /// Rules whose facts were copied from the earlier build's.
  [[nodiscard]] std::size_t copied() const noexcept { return copied_; }

 private:
  void find(const rules::RuleList& rules, const RuleFacts* earlier);

  std::shared_ptr<const rules::RuleSet> set_;  ///< the rules these are of, when a set
  FamilySignatures signatures_;
  std::vector<uint32_t> entries_v4_;
  std::vector<uint32_t> entries_v6_;
  ExactUses exact_v4_;
  ExactUses exact_v6_;
  std::size_t copied_ = 0;
};

}  // namespace udpsieve::dataplane
