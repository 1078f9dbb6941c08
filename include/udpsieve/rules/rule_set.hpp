#pragma once
/// An immutable rule set: the rules and the pipeline defaults.

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "udpsieve/rules/rule.hpp"

namespace udpsieve::rules {

/// What happens to a packet that no rule decides.
enum class Verdict : uint8_t { forward, drop };

/// "forward" or "drop".
[[nodiscard]] const char* verdict_name(Verdict verdict) noexcept;

class RuleSet {
 public:
  RuleSet(std::vector<Rule> rules, Verdict default_action, Verdict non_udp);
  // The id index points into rules_: a copy would point into the original.
  RuleSet(const RuleSet&) = delete;
  RuleSet& operator=(const RuleSet&) = delete;
  RuleSet(RuleSet&&) noexcept = default;
  RuleSet& operator=(RuleSet&&) noexcept = default;

  [[nodiscard]] const std::vector<Rule>& rules() const noexcept { return rules_; }
  [[nodiscard]] Verdict default_action() const noexcept { return default_action_; }
  [[nodiscard]] Verdict non_udp() const noexcept { return non_udp_; }
  /// The rule with this id, or null.
  [[nodiscard]] const Rule* find(std::string_view id) const noexcept;

 private:
  std::vector<Rule> rules_;
  std::unordered_map<std::string_view, std::size_t> index_;  // id → position in rules_
  Verdict default_action_;
  Verdict non_udp_;
};

}  // namespace udpsieve::rules
