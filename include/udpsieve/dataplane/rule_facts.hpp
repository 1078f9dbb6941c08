#pragma once
/// What a build finds out about each rule by itself: its signature per family, the classifier
/// entries it expands into, its hashed-lookup entries (shapes and keys), its action and payload
/// offset. None of it depends on the other rules, so a reload's build copies the facts of the
/// rules it shares with the previous build (the blocks of unchanged rule files: the very same
/// rule objects) instead of finding them again; only the changed files' rules are read. The
/// limit check, the classifier and the part's verdicts read the facts, which are compact, not
/// the rules (528 bytes each, with their lists elsewhere in the heap).

#include <cstdint>
#include <memory>
#include <vector>

#include "udpsieve/dataplane/exact_lookup.hpp"
#include "udpsieve/dataplane/rule_limits.hpp"
#include "udpsieve/rules/rule_list.hpp"
#include "udpsieve/rules/rule_set.hpp"

namespace udpsieve::dataplane {

/// A rule's action, and the match fields a part's layout needs, for a build that reads no rule
/// it does not have to.
struct ActionFacts {
  static constexpr uint16_t kNoPort = 0xffff;
  static constexpr uint16_t kNoPayload = 0xffff;
  uint64_t talker_key = 0;  ///< fnv1a64 of the id: its key in the top-talker summaries
  rules::ActionKind kind = rules::ActionKind::forward;
  uint16_t out_port = kNoPort;           ///< a forward's port index, if it names one
  uint16_t payload_offset = kNoPayload;  ///< the payload match's offset, if it has one
  bool count_bytes = false;              ///< a rate limit in bytes
  bool per_source = false;               ///< a rate limit per source
  bool src_sets = false;                 ///< matches on src_set
  bool dst_sets = false;                 ///< matches on dst_set
  friend bool operator==(const ActionFacts&, const ActionFacts&) = default;
};

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
  [[nodiscard]] const std::vector<ActionFacts>& actions() const noexcept { return actions_; }
  /// The distinct payload offsets, in first-use order (payload_offsets()).
  [[nodiscard]] const std::vector<uint16_t>& payload_offsets() const noexcept {
    return payload_offsets_;
  }
  /// Rules whose facts were copied from the earlier build's.
  [[nodiscard]] std::size_t copied() const noexcept { return copied_; }
  /// The rule set these are the facts of (null for a plain list).
  [[nodiscard]] const std::shared_ptr<const rules::RuleSet>& rule_set() const noexcept {
    return set_;
  }

 private:
  void find(const rules::RuleList& rules, const RuleFacts* earlier);

  std::shared_ptr<const rules::RuleSet> set_;  ///< the rules these are of, when a set
  FamilySignatures signatures_;
  std::vector<uint32_t> entries_v4_;
  std::vector<uint32_t> entries_v6_;
  ExactUses exact_v4_;
  ExactUses exact_v6_;
  std::vector<ActionFacts> actions_;
  std::vector<uint16_t> payload_offsets_;
  std::size_t copied_ = 0;
};

}  // namespace udpsieve::dataplane
