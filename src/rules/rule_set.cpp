#include "udpsieve/rules/rule_set.hpp"

#include <utility>

namespace udpsieve::rules {

const char* verdict_name(Verdict verdict) noexcept {
  return verdict == Verdict::drop ? "drop" : "forward";
}

RuleSet::RuleSet(std::vector<Rule> rules, Verdict default_action, Verdict non_udp)
    : rules_(std::move(rules)), default_action_(default_action), non_udp_(non_udp) {}

}  // namespace udpsieve::rules
