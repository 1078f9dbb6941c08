// RuleFacts: what a build finds out about each rule by itself, and the copy a reload's build
// takes of the facts of rules it shares with the previous build. The copy must equal what
// finding them afresh gives, rule by rule.
#include "udpsieve/dataplane/rule_facts.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "udpsieve/rules/rule_set.hpp"
#include "unit/prefix_text.hpp"

namespace udpsieve::dataplane {
namespace {

using rules::Family;
using rules::Prefix;
using rules::Range;
using rules::Rule;
using rules::RuleList;
using rules::RuleSet;

using test_support::prefix;

/// `count` rules named `name`N of many kinds: hashed shapes of both families (several prefix
/// lengths, port lists and ranges, lengths, payload bytes), rules of both families, and rules
/// a hashed lookup refuses (TTLs, too many ports).
std::vector<Rule> mixed(const std::string& name, std::size_t count, uint32_t seed) {
  std::mt19937 random(seed);
  const auto pick = [&](uint32_t n) { return static_cast<uint32_t>(random() % n); };
  std::vector<Rule> rules(count);
  for (std::size_t i = 0; i < count; ++i) {
    Rule& rule = rules[i];
    rule.id = name + std::to_string(i);
    rules::Match& m = rule.match;
    const std::string octet = std::to_string(pick(250));
    switch (pick(7)) {
      case 0:
        m.src = {prefix("10." + octet + ".0.0/" + std::to_string(16 + pick(3) * 4))};
        m.dst_port = {Range{static_cast<uint16_t>(1000 + pick(50)), 1060}};
        break;
      case 1:
        m.src = {prefix("2001:db8:" + octet + "::/48")};
        m.dst_port = {Range{53, 53}};
        break;
      case 2:
        m.dst = {prefix("192.0.2." + octet + "/32"), prefix("2001:db8::" + octet + "/128")};
        m.length = {Range{100, static_cast<uint16_t>(100 + pick(4))}};
        break;
      case 3:
        m.dst_port = {Range{123, 123}};
        m.payload = rules::PayloadMatch{static_cast<uint16_t>(pick(2) * 8),
                                        {0x17, 0x00},
                                        {0xff, static_cast<uint8_t>(pick(256))}};
        break;
      case 4:
        m.src = {prefix("10." + octet + ".1.0/24")};
        m.ttl = {Range{1, 5}};  // nothing a hashed key holds
        break;
      case 5:
        m.dst_port = {Range{1000, 3000}};  // too many entries for a hashed lookup
        break;
      default:
        m.src_port = {Range{static_cast<uint16_t>(pick(65535)), 65535}};
        break;
    }
    // Actions of every kind, and set matches (which only the layout notes).
    switch (pick(5)) {
      case 0:
        rule.action.kind = rules::ActionKind::drop;
        break;
      case 1:
        rule.action.port = static_cast<int>(pick(3));
        break;
      case 2:
        rule.action.kind = rules::ActionKind::rate_limit;
        rule.action.rate_limit.unit =
            pick(2) == 0 ? rules::RateLimit::Unit::bytes : rules::RateLimit::Unit::packets;
        rule.action.rate_limit.per_source = static_cast<uint8_t>(pick(2) * 24);
        break;
      default:
        break;
    }
    if (pick(10) == 0) m.src_set = {"blocked"};
    if (pick(10) == 0) m.dst_set = {"servers"};
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
  const RuleList::Block a = block(mixed("a", 400, 1));
  const RuleList::Block b = block(mixed("b", 300, 2));
  const RuleList::Block c = block(mixed("c", 500, 3));
  RuleList first;
  for (const auto& file : {a, b, c})
    first.append(file);
  const auto earlier = std::make_shared<const RuleFacts>(
      std::make_shared<const RuleSet>(first, rules::Verdict::forward, rules::Verdict::forward),
      nullptr);
  EXPECT_EQ(earlier->copied(), 0U);
  expect_same_facts(*earlier, RuleFacts(first), "the first build");

  // One file changed (the same ids, other rules), the files reordered, one dropped.
  std::vector<RuleList> afters(3);
  for (const auto& file : {a, block(mixed("b", 320, 9)), c})
    afters[0].append(file);
  for (const auto& file : {c, b, a})
    afters[1].append(file);
  afters[2].append(b);
  const std::vector<std::size_t> shared = {900, 1200, 300};
  for (std::size_t k = 0; k < afters.size(); ++k) {
    const RuleFacts copied(std::make_shared<const RuleSet>(afters[k], rules::Verdict::forward,
                                                           rules::Verdict::forward),
                           earlier.get());
    EXPECT_EQ(copied.copied(), shared[k]) << "list " << k << ": the shared files' rules";
    expect_same_facts(copied, RuleFacts(afters[k]), "list " + std::to_string(k));
  }
}

}  // namespace
}  // namespace udpsieve::dataplane
