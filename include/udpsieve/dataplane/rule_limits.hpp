#pragma once
/// How rules map onto the classifier, and the limits that keeps, checked without DPDK so a
/// rule set that would fail to compile is refused before any port is touched.
///
/// Each rule pins some match fields (a field is pinned when given and narrower than its whole
/// domain): its *signature*. Rules of one signature share an rte_acl context. Rules that leave
/// different fields wild multiply each other's trie branches when merged (a thousand src-only
/// rules merged with a thousand dst-only ones make a million paths), which is what makes
/// rte_acl builds take minutes and gigabytes. So contexts are planned: the largest signature
/// groups first, and a group whose signature is a subset of a context's joins it when that is
/// cheap (its rules are copied under each distinct value the context pins in the fields they
/// leave wild, at most kMergeBudget copies). Each context is one lookup per packet.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "udpsieve/rules/rule.hpp"
#include "udpsieve/rules/rule_list.hpp"

namespace udpsieve::dataplane {

class RuleFacts;

/// Most distinct payload offsets one rule set may use (each costs four classifier levels).
inline constexpr std::size_t kMaxPayloadWindows = 4;
/// Most classifier entries one rule may expand into (its pinned lists' sizes multiplied).
inline constexpr std::size_t kMaxEntriesPerRule = 65536;
/// Most classifier entries per address family.
inline constexpr std::size_t kMaxEntriesPerFamily = 1'000'000;
/// Most contexts (classifier lookups per packet) per address family.
inline constexpr std::size_t kMaxSignatures = 8;
/// Most rule copies a merge into a context may cost (see above).
inline constexpr std::size_t kMergeBudget = 32768;
/// The largest standard Ethernet frame: a byte-rate bucket smaller than this per worker would
/// never pass a full-size frame.
inline constexpr uint64_t kMaxStandardFrame = 1518;

/// The match fields a rule pins.
enum SignatureField : uint16_t {
  kPinsTtl = 1U << 0,
  kPinsDscp = 1U << 1,
  kPinsInPort = 1U << 2,
  kPinsSrcPort = 1U << 3,
  kPinsDstPort = 1U << 4,
  kPinsLength = 1U << 5,
  kPinsVlan = 1U << 6,
  kPinsPayload = 1U << 7,
  kPinsSrc = 1U << 8,
  kPinsDst = 1U << 9,
  kPinsSrcSet = 1U << 10,
  kPinsDstSet = 1U << 11,
};

/// Which fields a rule pins for one family, and at which payload offset.
struct Signature {
  uint16_t fields = 0;
  uint16_t payload_offset = 0;  ///< meaningful with kPinsPayload
  friend bool operator==(const Signature&, const Signature&) = default;
};

/// The rule's signature for `family`, or nullopt when it cannot match that family (its address
/// lists hold no prefix of the family).
[[nodiscard]] std::optional<Signature> signature_of(const rules::Rule& rule, rules::Family family);

/// signature_of() of each rule for one family, in rule order (a build's are in its RuleFacts,
/// found once per rule and kept for the next build).
using Signatures = std::vector<std::optional<Signature>>;
[[nodiscard]] Signatures signatures_of(const rules::RuleList& rules, rules::Family family);
/// signatures_of() for both families (RuleFacts finds them once per build).
struct FamilySignatures {
  [[nodiscard]] const Signatures& of(rules::Family family) const noexcept {
    return family == rules::Family::ipv4 ? v4 : v6;
  }
  Signatures v4;
  Signatures v6;
};

/// Calls `body` with each prefix of `family` in an address list the signature pins, or once
/// with nullopt (any address) when it does not: what a rule's entries range over in that field.
template <typename Body>
void each_prefix(const std::vector<rules::Prefix>& list, bool pinned, rules::Family family,
                 Body&& body) {
  if (!pinned) {
    body(std::optional<rules::Prefix>{});
    return;
  }
  for (const rules::Prefix& p : list) {
    if (p.family == family) body(std::optional<rules::Prefix>(p));
  }
}
/// The same prefixes as a list.
[[nodiscard]] std::vector<std::optional<rules::Prefix>> pinned_prefixes(
    const std::vector<rules::Prefix>& list, bool pinned, rules::Family family);

/// "src, dst_port" for messages; "no field" for the empty signature.
[[nodiscard]] std::string signature_name(const Signature& signature);

/// One rte_acl context: the fields it declares and the rules (indices) it holds.
struct ContextPlan {
  Signature signature;  ///< the union of its rules' signatures
  std::vector<std::size_t> rules;
};

/// The contexts `rules` compile into for `family` (see above), in planning order.
[[nodiscard]] std::vector<ContextPlan> plan_contexts(const rules::RuleList& rules,
                                                     rules::Family family);
/// The same, with the rules' signatures_of() for `family` found already.
[[nodiscard]] std::vector<ContextPlan> plan_contexts(const rules::RuleList& rules,
                                                     const Signatures& signatures,
                                                     rules::Family family);
/// The same for the rules at `members` only (indices into `rules`, ascending).
[[nodiscard]] std::vector<ContextPlan> plan_contexts(const rules::RuleList& rules,
                                                     const Signatures& signatures,
                                                     rules::Family family,
                                                     const std::vector<std::size_t>& members);

/// Classifier entries `rule` expands into for `family` (0 when it cannot match the family),
/// saturating at kMaxEntriesPerRule + 1. Only pinned fields expand.
[[nodiscard]] std::size_t classifier_entries(const rules::Rule& rule, rules::Family family);
/// The same for a rule whose signature for `family` is `signature`.
[[nodiscard]] std::size_t classifier_entries(const rules::Rule& rule, rules::Family family,
                                             const Signature& signature);

/// The distinct payload offsets of `rules`, in first-use order.
[[nodiscard]] std::vector<uint16_t> payload_offsets(const rules::RuleList& rules);
/// Appends `offset` to `offsets` unless it is there already: the next rule's offset for a list
/// of distinct offsets in first-use order (payload_offsets(), RuleFacts).
void add_payload_offset(std::vector<uint16_t>& offsets, uint16_t offset);

/// Throws ConfigError (at the offending rule) when `rules` exceed a classifier limit, or a
/// rate limit's rate or burst, split over `workers`, leaves a worker less than it can use.
void check_rule_limits(const rules::RuleList& rules, uint32_t workers);
/// The same with the rules' facts (rule_facts.hpp) found already.
void check_rule_limits(const rules::RuleList& rules, const RuleFacts& facts, uint32_t workers);

}  // namespace udpsieve::dataplane
