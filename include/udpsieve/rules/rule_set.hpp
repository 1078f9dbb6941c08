#pragma once
/// An immutable rule set: the rules and the pipeline defaults.

#include <string>
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

  [[nodiscard]] const std::vector<Rule>& rules() const noexcept { return rules_; }
  [[nodiscard]] Verdict default_action() const noexcept { return default_action_; }
  [[nodiscard]] Verdict non_udp() const noexcept { return non_udp_; }

 private:
  std::vector<Rule> rules_;
  Verdict default_action_;
  Verdict non_udp_;
};

}  // namespace udpsieve::rules
