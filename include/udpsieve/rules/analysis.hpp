#pragma once
/// Rule-set analysis: rules that can never match because an earlier rule already matches every
/// packet they would.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "udpsieve/rules/rule.hpp"
#include "udpsieve/rules/rule_list.hpp"

namespace udpsieve::rules {

/// Rule `rule` never matches: the earlier rule `by` matches every packet it would match.
struct RuleFinding {
  enum class Kind : uint8_t {
    duplicate,  ///< both rules match exactly the same packets
    shadowed,   ///< `by` matches strictly more packets
  };
  Kind kind = Kind::shadowed;
  std::size_t rule = 0;  ///< index of the unreachable rule
  std::size_t by = 0;    ///< index of the first earlier rule that covers it
};

struct AnalysisResult {
  std::vector<RuleFinding> findings;  ///< in rule order
  bool complete = true;               ///< false when the budget ran out before the last rule
};

/// For each rule, the first earlier rule whose match covers it. Exact per field, and never
/// reports a rule that can still match (see analysis.cpp for the set definitions). Stops when
/// `budget` is spent, returning the findings so far with `complete` false.
[[nodiscard]] AnalysisResult find_unreachable_rules(const RuleList& rules,
                                                    std::chrono::milliseconds budget);

/// True when `inner` matches at least one packet and `outer` matches every packet `inner`
/// matches.
[[nodiscard]] bool match_covers(const Match& outer, const Match& inner);

/// One line: `rule "b" (FILE:LINE:COL) never matches: rule "a" (FILE:LINE:COL) has the same
/// match`, or `...: every packet it matches is matched first by rule "a" (FILE:LINE:COL)`.
[[nodiscard]] std::string finding_message(const RuleFinding& finding, const RuleList& rules);

}  // namespace udpsieve::rules
