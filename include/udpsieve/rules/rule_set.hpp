#pragma once
/// An immutable rule set: the rules and the pipeline defaults.

#include <string>
#include <string_view>
#include <vector>

#include "udpsieve/rules/rule.hpp"
#include "udpsieve/rules/rule_list.hpp"

namespace udpsieve::rules {

/// What happens to a packet that no rule decides.
enum class Verdict : uint8_t { forward, drop };

/// "forward" or "drop".
[[nodiscard]] const char* verdict_name(Verdict verdict) noexcept;

class RuleSet {
 public:
  /// `earlier`, when given, is a set that may share rules with this one (an unchanged rule
  /// file's): their ids' hashes are taken from it.
  RuleSet(RuleList rules, Verdict default_action, Verdict non_udp,
          const RuleSet* earlier = nullptr);
  // A set is shared (shared_ptr), never copied.
  RuleSet(const RuleSet&) = delete;
  RuleSet& operator=(const RuleSet&) = delete;
  RuleSet(RuleSet&&) noexcept = default;
  RuleSet& operator=(RuleSet&&) noexcept = default;

  [[nodiscard]] const RuleList& rules() const noexcept { return rules_; }
  [[nodiscard]] Verdict default_action() const noexcept { return default_action_; }
  [[nodiscard]] Verdict non_udp() const noexcept { return non_udp_; }
  /// The rule with this id, or null.
  [[nodiscard]] const Rule* find(std::string_view id) const noexcept;
  /// The position of the rule with this id in rules(), or npos.
  [[nodiscard]] std::size_t position(std::string_view id) const noexcept;
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  /// position() of each rule of `rules`, in their order. Runs of rules this set shares (the
  /// same blocks, as an unchanged file's between reloads) are followed without hashing ids.
  [[nodiscard]] std::vector<std::size_t> positions_of(const RuleList& rules) const;

 private:
  RuleList rules_;
  /// The ids' index, open addressing: each slot holds the id's hash in its high 32 bits and
  /// its position + 1 in the low 32 (0: empty). One array, no allocation per rule: building it
  /// is part of every reload.
  std::vector<uint64_t> index_;
  std::vector<uint64_t> hashes_;  ///< each rule's id's hash, by position
  /// The slot of index_ that holds the id `id_of()` gives (whose hash is `hash`), or the empty
  /// one where it would go. `id_of` is called only where a slot's hash agrees.
  template <typename IdOf>
  [[nodiscard]] std::size_t slot_of(uint64_t hash, const IdOf& id_of) const noexcept;
  Verdict default_action_;
  Verdict non_udp_;
};

}  // namespace udpsieve::rules
