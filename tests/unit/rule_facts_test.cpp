// RuleFacts: what a build finds out about each rule by itself, and the copy a reload's build
// takes of the facts of rules it shares with the previous build. The copy must equal what
// finding them afresh gives, rule by rule.
#include "udpsieve/dataplane/rule_facts.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "support/random_rules.hpp"
#include "udpsieve/rules/rule_set.hpp"

namespace udpsieve::dataplane {
namespace {

using rules::Family;
using rules::Rule;
using rules::RuleList;
using rules::RuleSet;

namespace gen = test::rulegen;

/// `count` random rules of every field kind (tests/support/random_rules.hpp) named `name`N,
/// some with per-source byte limits and set matches on top.
std::vector<Rule> random_block(gen::Rng& rng, const gen::Profile& profile, const std::string& name,
                               std::size_t count) {
  std::vector<Rule> rules = gen::random_rules(rng, profile, count);
  for (std::size_t i = 0; i < rules.size(); ++i) {
    Rule& rule = rules[i];
    rule.id = name + std::to_string(i);
    if (rng.percent(10)) {
      rule.action = rules::Action{};
      rule.action.kind = rules::ActionKind::rate_limit;
      rule.action.rate_limit.unit = rules::RateLimit::Unit::bytes;
      rule.action.rate_limit.per_source = 24;
    }
    if (rng.percent(10)) rule.match.src_set = {"blocked"};
    if (rng.percent(10)) rule.match.dst_set = {"servers"};
  }
  return rules;
}

void expect_same_facts(const RuleFacts& got, const RuleFacts& want, const std::string& what) {
  EXPECT_TRUE(got.actions() == want.actions()) << what;
  EXPECT_EQ(got.payload_offsets(), want.payload_offsets()) << what;
  for (const Family family : {Family::ipv4, Family::ipv6}) {
    const std::string where = what + (family == Family::ipv4 ? " (IPv4)" : " (IPv6)");
    EXPECT_EQ(got.signatures().of(family), want.signatures().of(family)) << where;
    EXPECT_EQ(got.entries(family), want.entries(family)) << where;
    const ExactUses& g = got.exact(family);
    const ExactUses& w = want.exact(family);
    ASSERT_EQ(g.size(), w.size()) << where;
    EXPECT_TRUE(g.shapes() == w.shapes()) << where << ": shapes, in first-use order";
    for (std::size_t i = 0; i < g.size(); ++i) {
      ASSERT_EQ(g.qualifies(i), w.qualifies(i)) << where << " rule " << i;
      ASSERT_EQ(g.uses_end(i) - g.uses_begin(i), w.uses_end(i) - w.uses_begin(i))
          << where << " rule " << i;
      for (auto u = g.uses_begin(i), v = w.uses_begin(i); u != g.uses_end(i); ++u, ++v) {
        EXPECT_EQ(u->shape, v->shape) << where << " rule " << i;
        EXPECT_EQ(u->entries, v->entries) << where << " rule " << i;
      }
      ASSERT_EQ(g.entries_end(i) - g.entries_begin(i), w.entries_end(i) - w.entries_begin(i))
          << where << " rule " << i;
      for (auto e = g.entries_begin(i), f = w.entries_begin(i); e != g.entries_end(i); ++e, ++f) {
        EXPECT_EQ(e->shape, f->shape) << where << " rule " << i;
        EXPECT_EQ(e->ports, f->ports) << where << " rule " << i;
        EXPECT_EQ(e->src, f->src) << where << " rule " << i;
        EXPECT_EQ(e->dst, f->dst) << where << " rule " << i;
      }
    }
  }
}

TEST(RuleFacts, CopiedFactsEqualFreshOnesRuleByRule) {
  const auto block = [](std::vector<Rule> rules) {
    return std::make_shared<const std::vector<Rule>>(std::move(rules));
  };
  std::size_t copied_in_all = 0;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    gen::Rng rng(seed);
    const gen::Profile profile = gen::make_profile(rng, gen::Plan{}, seed);
    const RuleList::Block a = block(random_block(rng, profile, "a", rng.between(50, 400)));
    const RuleList::Block b = block(random_block(rng, profile, "b", rng.between(50, 400)));
    const RuleList::Block c = block(random_block(rng, profile, "c", rng.between(50, 400)));
    RuleList first;
    for (const auto& file : {a, b, c})
      first.append(file);
    const auto set_of = [](const RuleList& list) {
      return std::make_shared<const RuleSet>(list, rules::Verdict::forward,
                                             rules::Verdict::forward);
    };
    const auto earlier = std::make_shared<const RuleFacts>(set_of(first), nullptr);
    EXPECT_EQ(earlier->copied(), 0U);
    expect_same_facts(*earlier, RuleFacts(first), "seed " + std::to_string(seed));

    // One file changed (the same ids, other rules), the files reordered, one left.
    std::vector<RuleList> afters(3);
    for (const auto& file : {a, block(random_block(rng, profile, "b", b->size() + 7)), c})
      afters[0].append(file);
    for (const auto& file : {c, b, a})
      afters[1].append(file);
    afters[2].append(b);
    const std::vector<std::size_t> shared = {a->size() + c->size(), first.size(), b->size()};
    for (std::size_t k = 0; k < afters.size(); ++k) {
      const std::string what = "seed " + std::to_string(seed) + ", list " + std::to_string(k);
      const RuleFacts copied(set_of(afters[k]), earlier.get());
      EXPECT_EQ(copied.copied(), shared[k]) << what << ": the shared files' rules";
      copied_in_all += copied.copied();
      expect_same_facts(copied, RuleFacts(afters[k]), what);
    }
  }
  EXPECT_GT(copied_in_all, 0U);
}

}  // namespace
}  // namespace udpsieve::dataplane
