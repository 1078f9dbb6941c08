#include "udpsieve/dataplane/rule_limits.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "udpsieve/common/config_error.hpp"
#include "udpsieve/common/fnv1a.hpp"
#include "udpsieve/dataplane/rule_facts.hpp"

namespace udpsieve::dataplane {
namespace {

using rules::Family;
using rules::Prefix;
using rules::Range;

/// A range list narrower than [0, max] (a list holding the whole domain pins nothing).
bool pins(const std::vector<Range>& list, uint16_t max) {
  return !list.empty() && std::none_of(list.begin(), list.end(), [&](const Range& r) {
    return r.first == 0 && r.last == max;
  });
}

/// Prefixes of `family` in `list`; -1 when the list has none of the family (so the rule cannot
/// match it), 0 when it holds the whole family (a /0) or is absent (any address).
int prefixes_of(const std::vector<Prefix>& list, Family family) {
  if (list.empty()) return 0;
  int count = 0;
  for (const Prefix& p : list) {
    if (p.family != family) continue;
    if (p.length == 0) return 0;
    ++count;
  }
  return count == 0 ? -1 : count;
}

std::size_t list_size_if(bool pinned, std::size_t size) {
  return pinned ? size : 1;
}

constexpr std::size_t kFieldCount = 12;  // the SignatureField bits

/// Distinct values a group of rules pins, per field: what a rule that leaves the field wild is
/// copied under when merged with them. Each value is kept as a 64-bit key (a range or an input
/// port exactly, an IPv4 prefix exactly, others hashed: two distinct values agreeing would only
/// lower a merge's estimated cost, with odds of about 2^-64 a pair), appended per rule and
/// counted (sorted, duplicates dropped) when a merge asks; building strings and trees of them
/// took half of a 100,000-rule build.
struct Distinct {
  mutable std::array<std::vector<uint64_t>, kFieldCount> values;
  mutable std::array<bool, kFieldCount> counted{};  ///< values[f] sorted and unique

  void add(const rules::Rule& rule, const Signature& s, Family family) {
    const rules::Match& m = rule.match;
    auto ranges = [&](std::size_t field, const std::vector<Range>& list) {
      for (const Range& r : list)
        values[field].push_back(uint64_t{r.first} << 16 | r.last);
    };
    auto prefixes = [&](std::size_t field, const std::vector<Prefix>& list) {
      for (const Prefix& p : list) {
        if (p.family == family) values[field].push_back(prefix_key(p));
      }
    };
    auto names = [&](std::size_t field, const std::vector<std::string>& list) {
      for (const std::string& name : list)
        values[field].push_back(fnv1a64(name));
    };
    for (std::size_t f = 0; f < kFieldCount; ++f) {
      const auto bit = static_cast<uint16_t>(1U << f);
      if ((s.fields & bit) == 0) continue;
      counted[f] = false;
      switch (bit) {
        case kPinsTtl:
          ranges(f, m.ttl);
          break;
        case kPinsDscp:
          ranges(f, m.dscp);
          break;
        case kPinsInPort:
          for (int port : m.in_port)
            values[f].push_back(static_cast<uint64_t>(port));
          break;
        case kPinsSrcPort:
          ranges(f, m.src_port);
          break;
        case kPinsDstPort:
          ranges(f, m.dst_port);
          break;
        case kPinsLength:
          ranges(f, m.length);
          break;
        case kPinsVlan:
          ranges(f, m.vlan);
          break;
        case kPinsPayload: {
          const std::string_view value(reinterpret_cast<const char*>(m.payload->value.data()),
                                       m.payload->value.size());
          const std::string_view mask(reinterpret_cast<const char*>(m.payload->mask.data()),
                                      m.payload->mask.size());
          values[f].push_back(fnv1a64(value) * 31 + fnv1a64(mask));
          break;
        }
        case kPinsSrc:
          prefixes(f, m.src);
          break;
        case kPinsDst:
          prefixes(f, m.dst);
          break;
        case kPinsSrcSet:
          names(f, m.src_set);
          break;
        case kPinsDstSet:
          names(f, m.dst_set);
          break;
        default:
          break;
      }
    }
  }

  void merge(const Distinct& other) {
    for (std::size_t f = 0; f < kFieldCount; ++f) {
      if (other.values[f].empty()) continue;
      values[f].insert(values[f].end(), other.values[f].begin(), other.values[f].end());
      counted[f] = false;
    }
  }

  /// The number of distinct values of field `f`.
  [[nodiscard]] std::size_t count(std::size_t f) const {
    std::vector<uint64_t>& list = values[f];
    if (!counted[f]) {
      std::sort(list.begin(), list.end());
      list.erase(std::unique(list.begin(), list.end()), list.end());
      counted[f] = true;
    }
    return list.size();
  }

  /// The number of value combinations over `fields`, saturating at kMergeBudget + 1.
  [[nodiscard]] std::size_t combinations(uint16_t fields) const {
    std::size_t total = 1;
    for (std::size_t f = 0; f < kFieldCount; ++f) {
      if ((fields & (1U << f)) == 0) continue;
      const std::size_t n = std::max<std::size_t>(count(f), 1);
      if (total > (kMergeBudget + 1) / n) return kMergeBudget + 1;
      total *= n;
    }
    return total;
  }

 private:
  /// An IPv4 prefix's address and length exactly; an IPv6 one's hashed.
  static uint64_t prefix_key(const Prefix& p) {
    if (p.family == Family::ipv4) {
      return uint64_t{p.addr[0]} << 40 | uint64_t{p.addr[1]} << 32 | uint64_t{p.addr[2]} << 24 |
             uint64_t{p.addr[3]} << 16 | p.length;
    }
    const std::string_view bytes(reinterpret_cast<const char*>(p.addr.data()), p.addr.size());
    return fnv1a64(bytes) ^ (uint64_t{p.length} << 56);
  }
};

struct Group {
  Signature signature;
  std::vector<std::size_t> rules;
  Distinct distinct;
  std::size_t copies = 0;  // rule copies the merges into this context have cost so far
};

/// Rule copies merging `a` and `b` into one context costs (each side's rules copied under the
/// value combinations the other side pins in fields they leave wild), saturating at
/// kMergeBudget + 1, which also means "cannot merge".
std::size_t merge_cost(const Group& a, const Group& b) {
  const bool a_payload = (a.signature.fields & kPinsPayload) != 0;
  const bool b_payload = (b.signature.fields & kPinsPayload) != 0;
  if (a_payload && b_payload && a.signature.payload_offset != b.signature.payload_offset) {
    return kMergeBudget + 1;  // a context reads one payload window
  }
  const auto a_only = static_cast<uint16_t>(a.signature.fields & ~b.signature.fields);
  const auto b_only = static_cast<uint16_t>(b.signature.fields & ~a.signature.fields);
  const std::size_t b_copies = b.rules.size() * a.distinct.combinations(a_only);
  const std::size_t a_copies = a.rules.size() * b.distinct.combinations(b_only);
  return std::min(b_copies + a_copies, kMergeBudget + 1);
}

}  // namespace

std::optional<Signature> signature_of(const rules::Rule& rule, Family family) {
  const rules::Match& m = rule.match;
  const int src = prefixes_of(m.src, family);
  const int dst = prefixes_of(m.dst, family);
  if (src < 0 || dst < 0) return std::nullopt;
  Signature s;
  auto set = [&](bool pinned, uint16_t bit) {
    if (pinned) s.fields = static_cast<uint16_t>(s.fields | bit);
  };
  set(pins(m.ttl, 255), kPinsTtl);
  set(pins(m.dscp, 63), kPinsDscp);
  set(!m.in_port.empty(), kPinsInPort);
  set(pins(m.src_port, 65535), kPinsSrcPort);
  set(pins(m.dst_port, 65535), kPinsDstPort);
  set(pins(m.length, 65535), kPinsLength);
  set(pins(m.vlan, 4095), kPinsVlan);
  set(m.payload.has_value(), kPinsPayload);
  set(src > 0, kPinsSrc);
  set(dst > 0, kPinsDst);
  set(!m.src_set.empty(), kPinsSrcSet);
  set(!m.dst_set.empty(), kPinsDstSet);
  if (m.payload) s.payload_offset = m.payload->offset;
  return s;
}

std::vector<std::optional<rules::Prefix>> pinned_prefixes(const std::vector<rules::Prefix>& list,
                                                          bool pinned, Family family) {
  std::vector<std::optional<rules::Prefix>> out;
  each_prefix(list, pinned, family,
              [&](const std::optional<rules::Prefix>& p) { out.push_back(p); });
  return out;
}

std::string signature_name(const Signature& s) {
  static constexpr std::pair<uint16_t, const char*> kNames[] = {
      {kPinsSrc, "src"},          {kPinsDst, "dst"},        {kPinsSrcPort, "src_port"},
      {kPinsDstPort, "dst_port"}, {kPinsInPort, "in_port"}, {kPinsLength, "length"},
      {kPinsTtl, "ttl"},          {kPinsDscp, "dscp"},      {kPinsVlan, "vlan"},
      {kPinsPayload, "payload"},  {kPinsSrcSet, "src_set"}, {kPinsDstSet, "dst_set"}};
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if ((s.fields & bit) == 0) continue;
    if (!out.empty()) out += ", ";
    out += name;
    if (bit == kPinsPayload) out += "@" + std::to_string(s.payload_offset);
  }
  return out.empty() ? "no field" : out;
}

Signatures signatures_of(const rules::RuleList& rules, Family family) {
  Signatures out;
  out.reserve(rules.size());
  for (const rules::Rule& rule : rules)
    out.push_back(signature_of(rule, family));
  return out;
}

std::vector<ContextPlan> plan_contexts(const rules::RuleList& rules, Family family) {
  return plan_contexts(rules, signatures_of(rules, family), family);
}

std::vector<ContextPlan> plan_contexts(const rules::RuleList& rules, const Signatures& signatures,
                                       Family family) {
  std::vector<std::size_t> all(rules.size());
  for (std::size_t i = 0; i < all.size(); ++i)
    all[i] = i;
  return plan_contexts(rules, signatures, family, all);
}

std::vector<ContextPlan> plan_contexts(const rules::RuleList& rules, const Signatures& signatures,
                                       Family family, const std::vector<std::size_t>& members) {
  // Group by signature, in first-use order.
  std::vector<Group> groups;
  for (const std::size_t i : members) {
    const std::optional<Signature>& s = signatures[i];
    if (!s) continue;
    auto group = std::find_if(groups.begin(), groups.end(),
                              [&](const Group& g) { return g.signature == *s; });
    if (group == groups.end()) {
      groups.push_back(Group{*s, {}, {}, 0});
      group = groups.end() - 1;
    }
    group->rules.push_back(i);
    group->distinct.add(rules[i], *s, family);
  }
  // Largest groups first; each joins the context it is cheapest to merge with, if affordable.
  std::stable_sort(groups.begin(), groups.end(),
                   [](const Group& a, const Group& b) { return a.rules.size() > b.rules.size(); });
  std::vector<Group> contexts;
  for (Group& group : groups) {
    Group* best = nullptr;
    std::size_t best_cost = kMergeBudget + 1;
    for (Group& context : contexts) {
      const std::size_t cost = merge_cost(context, group);
      if (context.copies + cost <= kMergeBudget && cost < best_cost) {
        best = &context;
        best_cost = cost;
      }
    }
    if (best == nullptr) {
      contexts.push_back(std::move(group));
      continue;
    }
    best->copies += best_cost;
    if ((group.signature.fields & kPinsPayload) != 0) {
      best->signature.payload_offset = group.signature.payload_offset;
    }
    best->signature.fields = static_cast<uint16_t>(best->signature.fields | group.signature.fields);
    best->rules.insert(best->rules.end(), group.rules.begin(), group.rules.end());
    best->distinct.merge(group.distinct);
  }
  std::vector<ContextPlan> plans;
  plans.reserve(contexts.size());
  for (Group& context : contexts) {
    std::sort(context.rules.begin(), context.rules.end());
    plans.push_back(ContextPlan{context.signature, std::move(context.rules)});
  }
  return plans;
}

std::size_t classifier_entries(const rules::Rule& rule, Family family, const Signature& s) {
  const rules::Match& m = rule.match;
  const auto count = [&](const std::vector<Prefix>& list) {
    return static_cast<std::size_t>(std::max(prefixes_of(list, family), 1));
  };
  std::size_t total = 1;
  for (std::size_t n : {count(m.src), count(m.dst), std::max<std::size_t>(m.src_set.size(), 1),
                        std::max<std::size_t>(m.dst_set.size(), 1),
                        list_size_if((s.fields & kPinsSrcPort) != 0, m.src_port.size()),
                        list_size_if((s.fields & kPinsDstPort) != 0, m.dst_port.size()),
                        list_size_if((s.fields & kPinsInPort) != 0, m.in_port.size()),
                        list_size_if((s.fields & kPinsLength) != 0, m.length.size()),
                        list_size_if((s.fields & kPinsTtl) != 0, m.ttl.size()),
                        list_size_if((s.fields & kPinsDscp) != 0, m.dscp.size()),
                        list_size_if((s.fields & kPinsVlan) != 0, m.vlan.size())}) {
    if (total > kMaxEntriesPerRule / n) return kMaxEntriesPerRule + 1;
    total *= n;
  }
  return total;
}

std::size_t classifier_entries(const rules::Rule& rule, Family family) {
  const std::optional<Signature> s = signature_of(rule, family);
  return s ? classifier_entries(rule, family, *s) : 0;
}

void add_payload_offset(std::vector<uint16_t>& offsets, uint16_t offset) {
  if (std::find(offsets.begin(), offsets.end(), offset) == offsets.end()) offsets.push_back(offset);
}

std::vector<uint16_t> payload_offsets(const rules::RuleList& rules) {
  std::vector<uint16_t> offsets;
  for (const rules::Rule& rule : rules) {
    if (rule.match.payload) add_payload_offset(offsets, rule.match.payload->offset);
  }
  return offsets;
}

namespace {

/// Classifier size limits of one family: entries per rule and in all (checked rule by rule),
/// and lookups per packet (checked at the end).
class FamilyCheck {
 public:
  FamilyCheck(const RuleFacts& facts, Family family)
      : all_(facts.signatures().of(family)), entries_of_(facts.entries(family)), family_(family) {}

  void check(const rules::RuleList& rules, std::size_t i) {
    const std::optional<Signature>& s = all_[i];
    if (!s) return;  // no entries in this family
    // Planning merges the rules of one signature into one context, never splits them: rules
    // of at most kMaxSignatures signatures need no plan to pass.
    if (signatures_.size() <= kMaxSignatures &&
        std::find(signatures_.begin(), signatures_.end(), *s) == signatures_.end())
      signatures_.push_back(*s);
    const std::size_t count = entries_of_[i];
    if (count > kMaxEntriesPerRule) {
      const rules::Rule& rule = rules[i];
      throw ConfigError(rule.where, "rule " + rule.id,
                        "its lists combine into more than " + std::to_string(kMaxEntriesPerRule) +
                            " classifier entries (the product of their lengths); split it "
                            "into several rules");
    }
    entries_ += count;
    if (entries_ > kMaxEntriesPerFamily) {
      const rules::Rule& rule = rules[i];
      throw ConfigError(rule.where, "rule " + rule.id,
                        std::string("the rules up to this one make more than ") +
                            std::to_string(kMaxEntriesPerFamily) + " " + name() +
                            " classifier entries, the most one rule set may compile to");
    }
  }

  void finish(const rules::RuleList& rules) const {
    if (signatures_.size() <= kMaxSignatures) return;
    const std::vector<ContextPlan> plans = plan_contexts(rules, all_, family_);
    if (plans.size() <= kMaxSignatures) return;
    // Name a rule of the first context beyond the limit, and the combinations in use.
    const std::size_t first = plans[kMaxSignatures].rules.front();
    const rules::Rule& rule = rules[first];
    std::string in_use;
    for (std::size_t c = 0; c < kMaxSignatures; ++c) {
      in_use += (in_use.empty() ? "" : "; ") + signature_name(plans[c].signature);
    }
    throw ConfigError(rule.where, "rule " + rule.id,
                      "it matches on " + signature_name(*all_[first]) +
                          ", a combination of match fields that would need a " +
                          std::to_string(kMaxSignatures + 1) + "th classifier lookup per " +
                          name() + " packet (at most " + std::to_string(kMaxSignatures) +
                          " are allowed; the lookups in use match on: " + in_use +
                          "); give rules the same set of fields");
  }

 private:
  [[nodiscard]] const char* name() const noexcept {
    return family_ == Family::ipv4 ? "IPv4" : "IPv6";
  }

  const Signatures& all_;
  const std::vector<uint32_t>& entries_of_;
  Family family_;
  std::size_t entries_ = 0;
  std::vector<Signature> signatures_;
};

/// A rule's payload offset (not `beyond`: the first distinct offset past kMaxPayloadWindows,
/// or kNoPayload) and its rate limit's share per worker.
void check_payload_and_rate(const RuleFacts& facts, const rules::RuleList& rules, std::size_t i,
                            uint16_t beyond, uint32_t workers) {
  const ActionFacts& action = facts.actions()[i];
  const bool too_many =
      action.payload_offset != ActionFacts::kNoPayload && action.payload_offset == beyond;
  if (!too_many && action.kind != rules::ActionKind::rate_limit)
    return;  // the rule itself is not read
  const rules::Rule& rule = rules[i];
  if (too_many) {
    // The first rule with that offset is the one that brings it in.
    throw ConfigError(rule.where, "rule " + rule.id,
                      "payload offset " + std::to_string(beyond) +
                          " is one more distinct payload offset than the " +
                          std::to_string(kMaxPayloadWindows) +
                          " a rule set may use; align payload matches on shared offsets");
  }
  if (rule.action.kind != rules::ActionKind::rate_limit) return;
  const std::string key = "rule " + rule.id;
  const rules::RateLimit& limit = rule.action.rate_limit;
  if (limit.unit == rules::RateLimit::Unit::bytes) {
    if (limit.burst / workers < kMaxStandardFrame) {
      throw ConfigError(rule.where, key,
                        "rate_limit.burst_bytes " + std::to_string(limit.burst) +
                            " is split over " + std::to_string(workers) + " worker(s), leaving " +
                            std::to_string(limit.burst / workers) +
                            " bytes each, less than one full-size frame (1518 bytes); raise "
                            "burst_bytes to at least " +
                            std::to_string(kMaxStandardFrame * workers));
    }
    if (limit.rate < workers) {
      throw ConfigError(rule.where, key,
                        "rate_limit.bps " + std::to_string(limit.bps) + " is split over " +
                            std::to_string(workers) +
                            " worker(s), leaving less than one byte per second each; raise "
                            "bps to at least " +
                            std::to_string(8 * static_cast<uint64_t>(workers)));
    }
  } else {
    for (const auto& [name, value] : {std::pair{"pps", limit.rate}, {"burst", limit.burst}}) {
      if (value >= workers) continue;
      throw ConfigError(rule.where, key,
                        std::string("rate_limit.") + name + " " + std::to_string(value) +
                            " is split over " + std::to_string(workers) +
                            " worker(s), leaving less than one packet each; raise it to at "
                            "least " +
                            std::to_string(workers));
    }
  }
}

}  // namespace

void check_rule_limits(const rules::RuleList& rules, uint32_t workers) {
  check_rule_limits(rules, RuleFacts(rules), workers);
}

void check_rule_limits(const rules::RuleList& rules, const RuleFacts& facts, uint32_t workers) {
  workers = std::max<uint32_t>(workers, 1);
  // One walk over the rules for every per-rule check (at 100,000 rules each walk is
  // memory-bound): the first rule in file order that breaks a limit is the one named.
  FamilyCheck v4(facts, Family::ipv4);
  FamilyCheck v6(facts, Family::ipv6);
  const std::vector<uint16_t>& offsets = facts.payload_offsets();  // in first-use order
  const uint16_t beyond =
      offsets.size() > kMaxPayloadWindows ? offsets[kMaxPayloadWindows] : ActionFacts::kNoPayload;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    v4.check(rules, i);
    v6.check(rules, i);
    check_payload_and_rate(facts, rules, i, beyond, workers);
  }
  v4.finish(rules);
  v6.finish(rules);
}

}  // namespace udpsieve::dataplane
