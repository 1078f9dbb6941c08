// The NIC offload planner: split_range against a brute-force count, plan_offload decisions and
// reasons on small rule files, the entries it makes, may_overlap, and the safety property on
// random rule sets: whatever entry the NIC would pick for a packet, software's first match is
// that entry's rule and drops it.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "support/random_rules.hpp"
#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/rules/matcher.hpp"
#include "udpsieve/rules/offload.hpp"
#include "udpsieve/rules/rule_loader.hpp"

namespace udpsieve::rules {
namespace {

namespace gen = udpsieve::test::rulegen;

// --- split_range ------------------------------------------------------------------------------

/// The aligned block of 2^`size_bits` values at `value` in a `bits`-wide field.
MaskedValue block(uint16_t value, unsigned size_bits, unsigned bits) {
  const uint32_t max = (1u << bits) - 1u;
  return MaskedValue{value, static_cast<uint16_t>(max & ~((1u << size_bits) - 1u))};
}

/// [1, 65534]: blocks of 1, 2, 4 ... 16384 up to the middle, then down again.
std::vector<MaskedValue> all_but_the_ends() {
  std::vector<MaskedValue> out;
  for (unsigned k = 0; k < 15; ++k)
    out.push_back(block(static_cast<uint16_t>(1u << k), k, 16));
  uint32_t at = 32768;
  for (unsigned k = 15; k-- > 0;) {
    out.push_back(block(static_cast<uint16_t>(at), k, 16));
    at += 1u << k;
  }
  return out;
}

struct SplitCase {
  const char* description;
  Range range;
  unsigned bits;
  std::vector<MaskedValue> blocks;
};

const SplitCase kSplitCases[] = {
    {"whole port range", {0, 65535}, 16, {{0, 0}}},
    {"one port", {53, 53}, 16, {{53, 0xffff}}},
    {"unprivileged ports",
     {1024, 65535},
     16,
     {{1024, 0xfc00},
      {2048, 0xf800},
      {4096, 0xf000},
      {8192, 0xe000},
      {16384, 0xc000},
      {32768, 0x8000}}},
    {"1000-1999",
     {1000, 1999},
     16,
     {{1000, 0xfff8},
      {1008, 0xfff0},
      {1024, 0xfe00},
      {1536, 0xff00},
      {1792, 0xff80},
      {1920, 0xffc0},
      {1984, 0xfff0}}},
    {"all but 0 and 65535", {1, 65534}, 16, all_but_the_ends()},
    {"empty (first > last)", {5, 4}, 16, {}},
    {"ttl: whole", {0, 255}, 8, {{0, 0}}},
    {"ttl: upper half", {128, 255}, 8, {{128, 0x80}}},
    {"ttl: 64-127", {64, 127}, 8, {{64, 0xc0}}},
    {"ttl: 10-20", {10, 20}, 8, {{10, 0xfe}, {12, 0xfc}, {16, 0xfc}, {20, 0xff}}},
    {"ttl: one value", {64, 64}, 8, {{64, 0xff}}},
    {"ttl: clipped at 255", {250, 300}, 8, {{250, 0xfe}, {252, 0xfc}}},
    {"ttl: past the width", {300, 400}, 8, {}},
    {"dscp: whole", {0, 63}, 6, {{0, 0}}},
    {"dscp: EF", {46, 46}, 6, {{46, 0x3f}}},
    {"dscp: 8-47", {8, 47}, 6, {{8, 0x38}, {16, 0x30}, {32, 0x30}}},
    {"dscp: 1-62",
     {1, 62},
     6,
     {{1, 0x3f},
      {2, 0x3e},
      {4, 0x3c},
      {8, 0x38},
      {16, 0x30},
      {32, 0x30},
      {48, 0x38},
      {56, 0x3c},
      {60, 0x3e},
      {62, 0x3f}}},
    {"vlan: whole", {0, 4095}, 12, {{0, 0}}},
    {"vlan: one id", {4095, 4095}, 12, {{4095, 0xfff}}},
    {"vlan: 100-199",
     {100, 199},
     12,
     {{100, 0xffc}, {104, 0xff8}, {112, 0xff0}, {128, 0xfc0}, {192, 0xff8}}},
    {"vlan: clipped at 4095", {4000, 5000}, 12, {{4000, 0xfe0}, {4032, 0xfc0}}},
};

TEST(SplitRange, Table) {
  for (const SplitCase& c : kSplitCases) {
    SCOPED_TRACE(c.description);
    const std::vector<MaskedValue> got = split_range(c.range, c.bits);
    ASSERT_EQ(got.size(), c.blocks.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].value, c.blocks[i].value) << "block " << i;
      EXPECT_EQ(got[i].mask, c.blocks[i].mask) << "block " << i;
    }
  }
}

/// The fewest aligned blocks that tile [first, min(last, max)] exactly, trying every tiling.
std::size_t fewest_blocks(Range range, unsigned bits) {
  const uint32_t max = (1u << bits) - 1u;
  if (range.first > range.last || range.first > max) return 0;
  const uint32_t first = range.first;
  const uint32_t last = std::min<uint32_t>(range.last, max);
  constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
  // best[x - first]: the fewest blocks tiling [x, last]; a tiling of it starts with a block at x.
  std::vector<std::size_t> best(last - first + 2, kNone);
  best[last + 1 - first] = 0;
  for (uint32_t x = last + 1; x-- > first;) {
    for (uint32_t size = 1; size <= max + 1u && x % size == 0 && x + size - 1 <= last;
         size <<= 1u) {
      if (best[x + size - first] != kNone) {
        best[x - first] = std::min(best[x - first], best[x + size - first] + 1);
      }
    }
  }
  return best[0];
}

TEST(SplitRange, BlocksAreDisjointExactAndFewest) {
  gen::Rng rng(20240601);
  const unsigned kWidths[] = {6, 8, 12, 16};
  std::size_t checked = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    const unsigned bits = kWidths[rng.below(4)];
    const uint32_t max = (1u << bits) - 1u;
    const auto below = [&](uint32_t n) { return static_cast<uint32_t>(rng.below(n)); };
    const auto value = [&]() -> uint32_t {
      switch (rng.below(4)) {
        case 0:  // around a power of two
          return std::min(max, (1u << below(bits + 1)) + below(3) - 1u);
        case 1:
          return rng.percent(50) ? 0 : max;
        default:
          return below(max + 1u);
      }
    };
    uint32_t first = value();
    uint32_t last = rng.percent(50) ? std::min(max, first + below(300)) : value();
    if (first > last && rng.percent(90)) std::swap(first, last);
    if (rng.percent(3)) last = std::min(65535u, last + below(5000));  // past the width
    const Range range{static_cast<uint16_t>(first), static_cast<uint16_t>(last)};
    SCOPED_TRACE(std::to_string(first) + "-" + std::to_string(last) + " in " +
                 std::to_string(bits) + " bits");

    const std::vector<MaskedValue> blocks = split_range(range, bits);
    const uint32_t end = std::min(last, max);
    // Ascending and touching, from first to end: disjoint and covering exactly.
    uint32_t next = first;
    for (const MaskedValue& b : blocks) {
      ASSERT_EQ(b.value & ~b.mask, 0) << "value bits outside the mask";
      ASSERT_EQ(b.mask & ~max, 0u) << "mask wider than the field";
      const uint32_t size = (~uint32_t{b.mask} & max) + 1u;
      ASSERT_EQ(size & (size - 1u), 0u) << "not a prefix mask: " << b.mask;
      ASSERT_EQ(b.value, next);
      next = b.value + size;
    }
    if (first <= end) {
      ASSERT_EQ(next, end + 1u);
    } else {
      ASSERT_TRUE(blocks.empty());
    }
    // For narrow fields, check membership value by value too.
    if (bits <= 12) {
      for (uint32_t x = 0; x <= max; ++x) {
        const auto hits = std::count_if(blocks.begin(), blocks.end(), [&](const MaskedValue& b) {
          return (x & b.mask) == b.value;
        });
        ASSERT_EQ(hits, x >= first && x <= last ? 1 : 0) << "value " << x;
      }
    }
    ASSERT_EQ(blocks.size(), fewest_blocks(range, bits));
    ++checked;
  }
  EXPECT_EQ(checked, 4000u);
}

// --- plan_offload on rule files -----------------------------------------------------------------

const std::vector<std::string> kPorts = {"wan", "lan", "dmz"};

std::vector<Rule> load(const std::string& yaml) {
  RuleCollector collector(kPorts);
  collector.add_document(YamlNode::load_string(yaml, "rules.yaml"));
  return collector.take().to_vector();
}

/// A rule file of one-line rules: {"{id: a, action: drop}", ...}.
std::string file(const std::vector<std::string>& rules) {
  std::string out = "rules:\n";
  for (const std::string& rule : rules)
    out += "  - " + rule + "\n";
  return out;
}

/// Per drop rule: "ID: offload #PRIORITY, N entries" or "ID: REASON".
std::vector<std::string> outcomes(const std::vector<Rule>& rules,
                                  const std::vector<OffloadDecision>& decisions) {
  std::vector<std::string> out;
  for (const OffloadDecision& d : decisions) {
    std::string line = rules[d.rule].id + ": ";
    if (d.offload) {
      line += "offload #" + std::to_string(d.priority) + ", " + std::to_string(d.entries.size()) +
              " entries";
    } else {
      line += d.reason;
    }
    out.push_back(line);
  }
  return out;
}

struct PlanCase {
  const char* description;
  std::vector<std::string> rules;
  std::vector<std::string> expected;  ///< outcomes() of the plan
};

const std::string kForwardA =
    "an earlier rule 'a' (forward) overlaps it, so the NIC could drop packets software forwards";
const std::string kRateLimitA =
    "an earlier rule 'a' (rate_limit) overlaps it, so the NIC could drop packets software "
    "forwards within the rate limit";
std::string in_software(const char* id) {
  return std::string("an earlier drop rule '") + id +
         "' that stays in software overlaps it, so the NIC would count that rule's packets on "
         "this one";
}
const std::string kUntaggedA =
    "an earlier offloaded drop rule 'a' without a vlan match overlaps it, and a NIC may not "
    "apply that rule's entries to tagged packets, so they could be counted on this one";
const std::string kTaggedA =
    "an earlier offloaded drop rule 'a' with a vlan match overlaps it, and a NIC may not apply "
    "that rule's entries to double-tagged packets, so they could be counted on this one";
std::string cannot(const char* fields) {
  return std::string("it matches on ") + fields + ", which NIC flow rules cannot express";
}

const PlanCase kPlanCases[] = {
    // --- rule 1: only drop rules get a decision ---
    {"only drop rules are candidates",
     {"{id: a, match: {dst_port: 53}, action: forward}",
      "{id: b, match: {dst_port: 54}, action: {forward: lan}}",
      "{id: c, match: {dst_port: 55}, action: {rate_limit: {pps: 100, burst: 10}}}"},
     {}},
    {"drop all UDP", {"{id: all, action: drop}"}, {"all: offload #0, 2 entries"}},

    // --- rule 4: earlier rules of another action ---
    {"forward before an overlapping drop",
     {"{id: a, match: {dst_port: 53}, action: forward}",
      "{id: b, match: {dst: 10.0.0.0/8}, action: drop}"},
     {"b: " + kForwardA}},
    {"forward to a port before an overlapping drop",
     {"{id: a, match: {dst_port: 50-60}, action: {forward: dmz}}",
      "{id: b, match: {dst_port: 60-70}, action: drop}"},
     {"b: " + kForwardA}},
    {"forward before a drop of another dst_port",
     {"{id: a, match: {dst_port: 53}, action: forward}",
      "{id: b, match: {dst_port: 54}, action: drop}"},
     {"b: offload #0, 2 entries"}},
    {"forward before a drop of the other family",
     {"{id: a, match: {dst: 10.0.0.0/8}, action: forward}",
      "{id: b, match: {src: '2001:db8::/32'}, action: drop}"},
     {"b: offload #0, 1 entries"}},
    {"forward of both families before a drop of one",
     {"{id: a, match: {dst: [10.0.0.0/8, '2001:db8::/32']}, action: forward}",
      "{id: b, match: {src: '2001:db8:1::/48'}, action: drop}"},
     {"b: " + kForwardA}},
    {"forward on another port",
     {"{id: a, match: {in_port: lan}, action: forward}",
      "{id: b, match: {in_port: wan, dst_port: 53}, action: drop}"},
     {"b: offload #0, 2 entries"}},
    {"forward on one of the drop's ports",
     {"{id: a, match: {in_port: lan}, action: forward}",
      "{id: b, match: {in_port: [wan, lan], dst_port: 53}, action: drop}"},
     {"b: " + kForwardA}},
    {"forward on every port before a drop on one",
     {"{id: a, match: {dst_port: 53}, action: forward}",
      "{id: b, match: {in_port: dmz, dst_port: 53}, action: drop}"},
     {"b: " + kForwardA}},
    {"rate_limit before an overlapping drop",
     {"{id: a, match: {dst_port: 53}, action: {rate_limit: {pps: 100, burst: 10}}}",
      "{id: b, match: {dst_port: 50-60}, action: drop}"},
     {"b: " + kRateLimitA}},
    {"forward after the drop does not matter",
     {"{id: b, match: {dst_port: 53}, action: drop}",
      "{id: a, match: {dst_port: 53}, action: forward}"},
     {"b: offload #0, 2 entries"}},
    {"disjoint ttl ranges",
     {"{id: a, match: {ttl: 1-10}, action: forward}",
      "{id: b, match: {ttl: 11-255}, action: drop}"},
     {"b: offload #0, 12 entries"}},
    {"disjoint dscp",
     {"{id: a, match: {dscp: 46}, action: forward}",
      "{id: b, match: {dscp: [0-45, 47-63]}, action: drop}"},
     {"b: offload #0, 12 entries"}},
    {"forward on a length before a drop",
     {"{id: a, match: {length: 0-100}, action: forward}",
      "{id: b, match: {dst_port: 53}, action: drop}"},
     {"b: " + kForwardA}},
    {"forward on a payload before a drop",
     {"{id: a, match: {payload: {value: ff}}, action: forward}",
      "{id: b, match: {dst_port: 53}, action: drop}"},
     {"b: " + kForwardA}},

    // --- fragments ---
    {"non-first fragments forwarded before a port drop",
     {"{id: a, match: {fragment: non_first}, action: forward}",
      "{id: b, match: {dst_port: 53}, action: drop}"},
     {"b: offload #0, 2 entries"}},
    {"non-first fragments forwarded before an address drop",
     {"{id: a, match: {fragment: non_first}, action: forward}",
      "{id: b, match: {dst: 10.0.0.0/8}, action: drop}"},
     {"b: " + kForwardA}},
    {"first fragments forwarded before a port drop",
     {"{id: a, match: {fragment: first}, action: forward}",
      "{id: b, match: {dst_port: 53}, action: drop}"},
     {"b: " + kForwardA}},

    // --- vlan ---
    {"forward on another vlan",
     {"{id: a, match: {vlan: 100}, action: forward}", "{id: b, match: {vlan: 200}, action: drop}"},
     {"b: offload #0, 2 entries"}},
    {"forward on a vlan before a drop of any tag",
     {"{id: a, match: {vlan: 100}, action: forward}",
      "{id: b, match: {dst_port: 53}, action: drop}"},
     {"b: " + kForwardA}},
    {"vlan 0-4095 still needs a tag",
     {"{id: d, match: {vlan: 0-4095}, action: drop}"},
     {"d: offload #0, 2 entries"}},

    // --- rule 4: earlier drop rules ---
    {"drop before drop: both, in order",
     {"{id: a, match: {dst: 10.0.0.0/8}, action: drop}",
      "{id: b, match: {dst_port: 53}, action: drop}",
      "{id: c, match: {dst: 10.1.0.0/16, dst_port: 53}, action: drop}"},
     {"a: offload #0, 1 entries", "b: offload #1, 2 entries", "c: offload #2, 1 entries"}},
    {"disjoint rules share a priority",
     {"{id: a, match: {dst_port: 53}, action: drop}",
      "{id: f, match: {dst_port: 80}, action: forward}",
      "{id: b, match: {dst_port: 80, ttl: 1}, action: drop}",
      "{id: c, match: {dst_port: 123}, action: drop}"},
     {"a: offload #0, 2 entries",
      "b: an earlier rule 'f' (forward) overlaps it, so the NIC could drop packets software "
      "forwards",
      "c: offload #0, 2 entries"}},
    {"one priority below the lowest earlier rule it overlaps",
     {"{id: a, match: {dst: 10.0.0.0/8}, action: drop}",
      "{id: b, match: {dst_port: 53}, action: drop}",
      "{id: c, match: {dst: 192.168.0.0/16, dst_port: 123}, action: drop}",
      "{id: d, match: {dst: 10.1.0.0/16, dst_port: 53}, action: drop}",
      "{id: e, match: {dst: 192.168.1.0/24}, action: drop}"},
     {"a: offload #0, 1 entries", "b: offload #1, 2 entries", "c: offload #0, 1 entries",
      "d: offload #2, 1 entries", "e: offload #2, 1 entries"}},
    {"sources: containing, inside, equal, disjoint, any",
     {"{id: a, match: {src: 10.1.0.0/16}, action: drop}",
      "{id: b, match: {src: 10.0.0.0/8}, action: drop}",
      "{id: c, match: {src: 10.1.2.0/24}, action: drop}",
      "{id: d, match: {src: 10.1.0.0/16, dst_port: 9}, action: drop}",
      "{id: e, match: {src: 172.16.0.0/12}, action: drop}",
      "{id: f, match: {src: '2001:db8::/32'}, action: drop}",
      "{id: g, match: {src: '2001:db8:1::/48'}, action: drop}",
      "{id: h, match: {dst_port: 9}, action: drop}"},
     {"a: offload #0, 1 entries", "b: offload #1, 1 entries", "c: offload #2, 1 entries",
      "d: offload #3, 1 entries", "e: offload #0, 1 entries", "f: offload #0, 1 entries",
      "g: offload #1, 1 entries", "h: offload #4, 2 entries"}},
    {"an earlier drop in software blocks, and so on down the list",
     {"{id: a, match: {dst_port: 53, payload: {value: ff}}, action: drop}",
      "{id: b, match: {dst: 10.0.0.0/8}, action: drop}",
      "{id: c, match: {dst_port: 123}, action: drop}"},
     {"a: " + cannot("payload"), "b: " + in_software("a"), "c: " + in_software("b")}},
    {"an earlier drop in software that does not overlap",
     {"{id: a, match: {dst_port: 53, payload: {value: ff}}, action: drop}",
      "{id: b, match: {dst_port: 54}, action: drop}"},
     {"a: " + cannot("payload"), "b: offload #0, 2 entries"}},
    {"an untagged-pattern drop before a vlan drop",
     {"{id: a, match: {dst: 10.0.0.0/8}, action: drop}",
      "{id: b, match: {vlan: 100}, action: drop}"},
     {"a: offload #0, 1 entries", "b: " + kUntaggedA}},
    {"a vlan drop before an untagged-pattern drop",
     {"{id: a, match: {vlan: 100}, action: drop}",
      "{id: b, match: {dst: 10.0.0.0/8}, action: drop}"},
     {"a: offload #0, 2 entries", "b: " + kTaggedA}},
    {"vlan drops in order",
     {"{id: a, match: {vlan: 100, dst_port: 53}, action: drop}",
      "{id: b, match: {vlan: 64-127}, action: drop}"},
     {"a: offload #0, 2 entries", "b: offload #1, 2 entries"}},
    {"vlan-ness only matters when they overlap",
     {"{id: a, match: {vlan: 100, dst_port: 53}, action: drop}",
      "{id: b, match: {dst_port: 54}, action: drop}"},
     {"a: offload #0, 2 entries", "b: offload #0, 2 entries"}},

    // --- rule 2: what the NIC cannot express ---
    {"payload",
     {"{id: p, match: {payload: {offset: 4, value: ff}}, action: drop}"},
     {"p: " + cannot("payload")}},
    {"length", {"{id: l, match: {length: 0-100}, action: drop}"}, {"l: " + cannot("length")}},
    {"fragment", {"{id: f, match: {fragment: none}, action: drop}"}, {"f: " + cannot("fragment")}},
    {"all three",
     {"{id: x, match: {length: 28, fragment: first, payload: {value: '00'}}, action: drop}"},
     {"x: " + cannot("payload, length and fragment")}},
    {"too many entries",
     {"{id: big, match: {src_port: 1-65534, dst_port: [53, 123]}, action: drop}"},
     {"big: it needs 120 NIC flow entries (its lists and range blocks multiplied), more than the "
      "limit of 64"}},
    {"just enough entries",
     {"{id: fits, match: {dst_port: 1-65534}, action: drop}"},
     {"fits: offload #0, 60 entries"}},

    // --- entry counts: lists × blocks ---
    {"lists times blocks",
     {"{id: n, match: {src: [10.0.0.0/8, 192.0.2.0/24], dst_port: [53, 1000-1999], ttl: 1-2}, "
      "action: drop}"},
     {"n: offload #0, 32 entries"}},
    {"both families",
     {"{id: n, match: {src: [10.0.0.0/8, '2001:db8::/32'], dst_port: 1000-1999}, action: drop}"},
     {"n: offload #0, 14 entries"}},
    {"merged ranges and nested prefixes",
     {"{id: n, match: {dst: [10.0.0.0/8, 10.1.0.0/16, 10.0.0.0/8], dst_port: [1-10, 11-20, 5]}, "
      "action: drop}"},
     {"n: offload #0, 6 entries"}},
    {"whole ranges are any",
     {"{id: n, match: {src_port: 0-65535, ttl: [0-100, 101-255], dscp: 0-63}, action: drop}"},
     {"n: offload #0, 2 entries"}},
};

TEST(OffloadPlan, Table) {
  for (const PlanCase& c : kPlanCases) {
    SCOPED_TRACE(c.description);
    const std::vector<Rule> rules = load(file(c.rules));
    EXPECT_EQ(outcomes(rules, plan_offload(rules)), c.expected);
  }
}

TEST(OffloadPlan, LimitIsTheOperatorsChoice) {
  const std::vector<Rule> rules =
      load(file({"{id: n, match: {dst_port: 1000-1999}, action: drop}"}));
  EXPECT_EQ(outcomes(rules, plan_offload(rules, OffloadLimits{14})),
            std::vector<std::string>{"n: offload #0, 14 entries"});
  EXPECT_EQ(outcomes(rules, plan_offload(rules, OffloadLimits{13})),
            std::vector<std::string>{"n: it needs 14 NIC flow entries (its lists and range blocks "
                                     "multiplied), more than the limit of 13"});
}

TEST(OffloadPlan, RuleThatMatchesNothing) {
  Rule rule;
  rule.id = "never";
  rule.action.kind = ActionKind::drop;
  rule.match.ttl = {Range{300, 400}};  // past TTL's width (the loader would refuse it)
  const std::vector<Rule> rules = {rule};
  EXPECT_EQ(outcomes(rules, plan_offload(rules)),
            std::vector<std::string>{
                "never: it can match no packet, so there is nothing for the NIC to drop"});
}

Prefix prefix(const char* text) {
  std::string error;
  return Prefix::parse(text, error).value();
}

TEST(OffloadPlan, EntriesIpv4) {
  const std::vector<Rule> rules =
      load(file({"{id: f, match: {in_port: lan}, action: forward}",
                 "{id: v4, match: {in_port: [dmz, wan, dmz], src: 10.0.0.0/8, "
                 "dst: [192.0.2.0/24, 198.51.100.7], src_port: 0-65535, dst_port: [53, 1000-1001], "
                 "ttl: 64, dscp: 46, vlan: 100}, action: drop}"}));
  const std::vector<OffloadDecision> decisions = plan_offload(rules);
  ASSERT_EQ(decisions.size(), 1u);
  const OffloadDecision& d = decisions[0];
  EXPECT_EQ(d.rule, 1u);
  ASSERT_TRUE(d.offload) << d.reason;
  EXPECT_EQ(d.reason, "");
  EXPECT_EQ(d.priority, 0u);
  EXPECT_EQ(d.ports, (std::vector<int>{0, 2}));
  const auto entry = [&](const char* dst, MaskedValue dst_port) {
    return FlowEntry{
        Family::ipv4, prefix("10.0.0.0/8"),  prefix(dst),           std::nullopt,
        dst_port,     MaskedValue{64, 0xff}, MaskedValue{46, 0x3f}, MaskedValue{100, 0xfff}};
  };
  const std::vector<FlowEntry> expected = {
      entry("192.0.2.0/24", {53, 0xffff}),
      entry("192.0.2.0/24", {1000, 0xfffe}),
      entry("198.51.100.7", {53, 0xffff}),
      entry("198.51.100.7", {1000, 0xfffe}),
  };
  EXPECT_EQ(d.entries, expected);
}

TEST(OffloadPlan, EntriesIpv6) {
  const std::vector<Rule> rules =
      load(file({"{id: v6, match: {src: ['2001:db8::/32', '2001:db8:1::/48'], dst: '::/0', "
                 "src_port: 1024-65535, dscp: 0-63, ttl: 255, vlan: 0-4095}, action: drop}"}));
  const std::vector<OffloadDecision> decisions = plan_offload(rules);
  ASSERT_EQ(decisions.size(), 1u);
  const OffloadDecision& d = decisions[0];
  ASSERT_TRUE(d.offload) << d.reason;
  EXPECT_TRUE(d.ports.empty());
  std::vector<FlowEntry> expected;
  for (const uint16_t mask :
       std::initializer_list<uint16_t>{0xfc00, 0xf800, 0xf000, 0xe000, 0xc000, 0x8000}) {
    const auto value = static_cast<uint16_t>(~mask + 1);  // the block's first port
    expected.push_back(FlowEntry{Family::ipv6, prefix("2001:db8::/32"), std::nullopt,
                                 MaskedValue{value, mask}, std::nullopt, MaskedValue{255, 0xff},
                                 std::nullopt, MaskedValue{0, 0}});
  }
  EXPECT_EQ(d.entries, expected);
}

TEST(OffloadPlan, EntriesOfBothFamiliesAndAny) {
  const std::vector<Rule> rules =
      load(file({"{id: m, match: {src: [0.0.0.0/0, '2001:db8::/32']}, action: drop}",
                 "{id: all, action: drop}"}));
  const std::vector<OffloadDecision> decisions = plan_offload(rules);
  ASSERT_EQ(decisions.size(), 2u);
  FlowEntry any4;
  any4.family = Family::ipv4;
  FlowEntry v6 = any4;
  v6.family = Family::ipv6;
  v6.src = prefix("2001:db8::/32");
  EXPECT_EQ(decisions[0].entries, (std::vector<FlowEntry>{any4, v6}));
  FlowEntry any6 = any4;
  any6.family = Family::ipv6;
  ASSERT_TRUE(decisions[1].offload) << decisions[1].reason;
  EXPECT_EQ(decisions[1].priority, 1u);
  EXPECT_EQ(decisions[1].entries, (std::vector<FlowEntry>{any4, any6}));
}

// --- entry_matches and may_overlap ---------------------------------------------------------------

PacketKey udp4(const char* src, const char* dst, uint16_t src_port, uint16_t dst_port) {
  PacketKey key;
  key.family = Family::ipv4;
  key.src = prefix(src).addr;
  key.dst = prefix(dst).addr;
  key.src_port = src_port;
  key.dst_port = dst_port;
  key.has_ports = true;
  key.ttl = 64;
  return key;
}

TEST(OffloadEntry, Matches) {
  FlowEntry e;
  e.family = Family::ipv4;
  e.dst = prefix("192.0.2.0/24");
  e.dst_port = MaskedValue{1000, 0xfffe};
  PacketKey key = udp4("10.0.0.1", "192.0.2.9", 5, 1001);
  EXPECT_TRUE(entry_matches(e, key));
  key.dst_port = 1002;
  EXPECT_FALSE(entry_matches(e, key));
  key.dst_port = 1000;
  key.dst = prefix("192.0.3.1").addr;
  EXPECT_FALSE(entry_matches(e, key));
  key.dst = prefix("192.0.2.1").addr;
  key.vlan_count = 1;
  key.outer_vlan = 7;
  EXPECT_TRUE(entry_matches(e, key)) << "no vlan item: tags do not matter";
  e.vlan = MaskedValue{0, 0};
  EXPECT_TRUE(entry_matches(e, key)) << "vlan mask 0: any tag";
  key.vlan_count = 0;
  key.outer_vlan = 0;
  EXPECT_FALSE(entry_matches(e, key)) << "vlan item: untagged never matches";
  e.vlan.reset();
  key.has_ports = false;
  key.fragment = FragmentKind::non_first;
  EXPECT_FALSE(entry_matches(e, key)) << "the udp item needs a UDP header";
  key.has_ports = true;
  key.fragment = FragmentKind::none;
  key.family = Family::ipv6;
  EXPECT_FALSE(entry_matches(e, key)) << "other family";
  FlowEntry any6;
  any6.family = Family::ipv6;
  EXPECT_TRUE(entry_matches(any6, key));
}

struct OverlapCase {
  const char* description;
  std::string a, b;  ///< match fields
  bool overlap;
};

const OverlapCase kOverlapCases[] = {
    {"both any", "", "", true},
    {"other dst_port", "dst_port: 53", "dst_port: 54", false},
    {"touching ranges", "dst_port: 50-60", "dst_port: 60-70", true},
    {"src_port and dst_port", "src_port: 53", "dst_port: 54", true},
    {"other family", "dst: 10.0.0.0/8", "src: '2001:db8::/32'", false},
    {"one family shared", "dst: [10.0.0.0/8, '2001:db8::/32']", "src: '2001:db8::/48'", true},
    {"disjoint prefixes", "src: 10.0.0.0/8", "src: 11.0.0.0/8", false},
    {"nested prefixes", "src: 10.0.0.0/8", "src: 10.9.0.0/16", true},
    {"src shared, dst not", "src: 10.0.0.0/8, dst: 1.0.0.0/8", "src: 10.0.0.0/8, dst: 2.0.0.0/8",
     false},
    {"disjoint in_port", "in_port: wan", "in_port: [lan, dmz]", false},
    {"shared in_port", "in_port: [wan, lan]", "in_port: [lan, dmz]", true},
    {"in_port and every port", "in_port: wan", "", true},
    {"ttl", "ttl: 1-10", "ttl: 11-20", false},
    {"dscp", "dscp: 46", "dscp: 0-45", false},
    {"length", "length: 0-100", "length: 101-200", false},
    {"vlan ids", "vlan: 100", "vlan: 200", false},
    {"vlan and none", "vlan: 100", "", true},
    {"non_first and ports", "fragment: non_first", "dst_port: 53", false},
    {"non_first and payload", "fragment: non_first", "payload: {value: ff}", false},
    {"non_first and addresses", "fragment: non_first", "dst: 10.0.0.0/8", true},
    {"first and none", "fragment: first", "fragment: none", false},
    {"first and ports", "fragment: first", "src_port: 1-2", true},
    {"payloads that contradict", "payload: {offset: 2, value: '0f', mask: '0f'}",
     "payload: {offset: 1, value: '0001', mask: '00ff'}", false},
    {"payloads on other bits", "payload: {offset: 2, value: '0f', mask: '0f'}",
     "payload: {offset: 1, value: '0010', mask: '00f0'}", true},
    {"payloads at other offsets", "payload: {value: ff}", "payload: {offset: 1, value: '00'}",
     true},
};

TEST(OffloadOverlap, Table) {
  for (const OverlapCase& c : kOverlapCases) {
    SCOPED_TRACE(c.description);
    const std::vector<Rule> rules = load(file({"{id: a, match: {" + c.a + "}, action: drop}",
                                               "{id: b, match: {" + c.b + "}, action: drop}"}));
    EXPECT_EQ(may_overlap(rules[0].match, rules[1].match), c.overlap);
    EXPECT_EQ(may_overlap(rules[1].match, rules[0].match), c.overlap) << "swapped";
  }
}

// --- the safety property
// --------------------------------------------------------------------------

/// How the NIC treats tags. The contract's model (entry_matches) is the first; drivers may also
/// match patterns without a vlan item on untagged packets only, and ones with it on single-tagged
/// packets only. The plan must be safe under each.
struct NicModel {
  const char* name;
  bool untagged_only_without_vlan = false;
  bool single_tag_only_with_vlan = false;
};

constexpr NicModel kModels[] = {
    {"entry_matches", false, false},
    {"no vlan item: untagged only", true, false},
    {"vlan item: single tag only", false, true},
    {"both", true, true},
};

/// The offloaded rules' entries, by priority.
struct Nic {
  struct Offloaded {
    std::size_t index;
    const OffloadDecision* decision;
  };
  std::vector<Offloaded> rules;

  explicit Nic(const std::vector<OffloadDecision>& decisions) {
    for (const OffloadDecision& d : decisions) {
      if (d.offload) rules.push_back(Offloaded{d.rule, &d});
    }
    std::sort(rules.begin(), rules.end(), [](const Offloaded& a, const Offloaded& b) {
      return a.decision->priority < b.decision->priority;
    });
  }

  /// The index of the rule whose entry the NIC picks for `key`, -1 for none, or kAmbiguous
  /// when rules of one priority both match it (a NIC may then pick either).
  static constexpr int64_t kAmbiguous = -2;
  [[nodiscard]] int64_t pick(const PacketKey& key, const NicModel& model) const {
    int64_t picked = -1;
    uint32_t at = 0;
    for (const Offloaded& r : rules) {
      if (picked >= 0 && r.decision->priority != at) break;
      const std::vector<int>& ports = r.decision->ports;
      if (!ports.empty() &&
          std::find(ports.begin(), ports.end(), int{key.in_port}) == ports.end()) {
        continue;
      }
      for (const FlowEntry& e : r.decision->entries) {
        if (!entry_matches(e, key)) continue;
        if (!e.vlan && model.untagged_only_without_vlan && key.vlan_count != 0) continue;
        if (e.vlan && model.single_tag_only_with_vlan && key.vlan_count != 1) continue;
        if (picked >= 0) return kAmbiguous;
        picked = static_cast<int64_t>(r.index);
        at = r.decision->priority;
        break;
      }
    }
    return picked;
  }
};

struct SafetyPlan {
  const char* name;
  gen::Plan plan;
  std::size_t sets = 1000;
  std::size_t min_rules = 5, max_rules = 30;
  std::size_t packets = 200;
  uint64_t drop_percent = 60;  ///< of rules, the rest keep their random forward/rate_limit
  uint64_t first_seed = 1;
};

struct SafetyTally {
  std::size_t drop_rules = 0, offloaded = 0;
  std::size_t packets = 0, software_drops = 0, nic_drops = 0;
  std::size_t failures = 0;
};

void check_set(const SafetyPlan& sp, uint64_t seed, SafetyTally& tally) {
  gen::Rng rng(seed);
  const gen::Profile profile = gen::make_profile(rng, sp.plan, seed);
  std::vector<Rule> rules =
      gen::random_rules(rng, profile, rng.between(sp.min_rules, sp.max_rules));
  for (Rule& rule : rules) {
    if (rng.percent(sp.drop_percent)) {
      rule.action = Action{};
      rule.action.kind = ActionKind::drop;
    } else if (rule.action.kind == ActionKind::drop) {
      rule.action.kind = ActionKind::forward;
    }
  }
  static const std::vector<std::size_t> kLimits = {4, 16, 64, 64, 64};
  const OffloadLimits limits{rng.pick(kLimits)};
  const std::vector<OffloadDecision> decisions = plan_offload(rules, limits);
  const Nic nic(decisions);
  std::vector<const OffloadDecision*> by_rule(rules.size(), nullptr);
  for (const OffloadDecision& d : decisions) {
    by_rule[d.rule] = &d;
    ++tally.drop_rules;
    tally.offloaded += d.offload ? 1 : 0;
  }

  const auto report = [&](const std::string& what, const gen::Packet& packet) {
    if (++tally.failures > 5) return;
    std::string text = "seed " + std::to_string(seed) + ": " + what +
                       "\n  packet: " + gen::describe(packet.key) + "\n  rules:";
    for (std::size_t i = 0; i < rules.size(); ++i) {
      text += "\n    " + std::to_string(i) + " " + gen::describe(rules[i]);
      if (by_rule[i] != nullptr) {
        text += by_rule[i]->offload ? " [offload #" + std::to_string(by_rule[i]->priority) + "]"
                                    : " [" + by_rule[i]->reason + "]";
      }
    }
    ADD_FAILURE() << text;
  };

  const std::vector<gen::Packet> packets = gen::random_packets(rng, profile, rules, sp.packets);
  for (const gen::Packet& packet : packets) {
    const PacketKey& key = packet.key;
    const int32_t first = reference_match(rules, key);
    const bool software_drop =
        first >= 0 && rules[static_cast<std::size_t>(first)].action.kind == ActionKind::drop;
    ++tally.packets;
    tally.software_drops += software_drop ? 1 : 0;
    for (const NicModel& model : kModels) {
      const int64_t picked = nic.pick(key, model);
      if (picked == Nic::kAmbiguous) {
        report(std::string("NIC model '") + model.name +
                   "': two offloaded rules of one priority match it",
               packet);
      }
      if (picked >= 0 && (picked != first || !software_drop)) {
        report(std::string("NIC model '") + model.name + "' drops it by rule " +
                   std::to_string(picked) + ", software's first match is " + std::to_string(first),
               packet);
      }
    }
    // In the contract's model the entries are exact: the NIC drops every packet with a UDP
    // header whose first match is an offloaded rule (on its ports), and no other.
    const int64_t picked = nic.pick(key, kModels[0]);
    const bool expected =
        software_drop && key.has_ports && by_rule[static_cast<std::size_t>(first)]->offload;
    if ((picked >= 0) != expected) {
      report(expected ? "the NIC misses a packet of its rule" : "the NIC drops it", packet);
    }
    tally.nic_drops += picked >= 0 ? 1 : 0;

    // may_overlap is never wrong about a packet that two rules match.
    std::vector<std::size_t> matching;
    for (std::size_t i = 0; i < rules.size(); ++i) {
      if (rule_matches(rules[i], key)) matching.push_back(i);
    }
    for (std::size_t x = 0; x < matching.size(); ++x) {
      for (std::size_t y = x + 1; y < matching.size(); ++y) {
        if (!may_overlap(rules[matching[x]].match, rules[matching[y]].match)) {
          report("may_overlap says rules " + std::to_string(matching[x]) + " and " +
                     std::to_string(matching[y]) + " are disjoint, both match",
                 packet);
        }
      }
    }
  }
}

void run_safety(const SafetyPlan& sp) {
  SafetyTally tally;
  std::size_t sets = 0;
  for (; sets < sp.sets && tally.failures == 0; ++sets)
    check_set(sp, sp.first_seed + sets, tally);
  const auto percent = [](std::size_t part, std::size_t whole) {
    return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  };
  const double offloaded = percent(tally.offloaded, tally.drop_rules);
  const double nic = percent(tally.nic_drops, tally.packets);
  const double of_drops = percent(tally.nic_drops, tally.software_drops);
  std::printf(
      "%s: %zu rule sets, %zu of %zu drop rules offloaded (%.1f%%); %zu packets, software drops "
      "%zu by rule, the NIC %zu (%.1f%% of packets, %.1f%% of rule drops)\n",
      sp.name, sets, tally.offloaded, tally.drop_rules, offloaded, tally.packets,
      tally.software_drops, tally.nic_drops, nic, of_drops);
  testing::Test::RecordProperty("offloaded_drop_rules_percent", static_cast<int>(offloaded));
  testing::Test::RecordProperty("nic_dropped_packets_percent", static_cast<int>(nic));
  EXPECT_EQ(tally.failures, 0u);
  // The property only bites if the NIC takes a fair share.
  EXPECT_GT(offloaded, 20.0);
  EXPECT_GT(nic, 5.0);
}

TEST(OffloadSafety, ExpressibleFields) {
  SafetyPlan sp{.name = "expressible fields",
                .plan = {.extras = {&gen::Profile::src_port, &gen::Profile::in_port,
                                    &gen::Profile::ttl, &gen::Profile::dscp, &gen::Profile::vlan},
                         .extra_kinds = 5,
                         .extra_percents = {0, 10, 25, 50},
                         .base_percents = {0, 25, 50, 80},
                         .broad = 25,
                         .catch_all = true},
                .first_seed = 1000};
  run_safety(sp);
}

TEST(OffloadSafety, EveryFieldKind) {
  SafetyPlan sp{.name = "every field kind",
                .plan = {.extra_kinds = 8,
                         .extra_percents = {0, 10, 25},
                         .base_percents = {0, 25, 50, 80},
                         .broad = 25,
                         .catch_all = true},
                .drop_percent = 50,
                .first_seed = 2000};
  run_safety(sp);
}

TEST(OffloadSafety, MostlyDrops) {
  SafetyPlan sp{.name = "mostly drops",
                .plan = {.extras = {&gen::Profile::in_port, &gen::Profile::vlan, &gen::Profile::ttl,
                                    &gen::Profile::fragment},
                         .extra_kinds = 2,
                         .extra_percents = {10, 25},
                         .base_percents = {25, 50, 80},
                         .broad = 10},
                .sets = 500,
                .min_rules = 20,
                .max_rules = 60,
                .packets = 300,
                .drop_percent = 85,
                .first_seed = 3000};
  run_safety(sp);
}

}  // namespace
}  // namespace udpsieve::rules

namespace udpsieve::rules {
namespace {

// The order check compares rule pairs on the control thread before every publication: past
// its budget, the remaining rules stay in software, saying why.
TEST(OffloadPlan, PairBudgetLeavesTheRestInSoftware) {
  std::vector<Rule> list;
  for (int i = 0; i < 20; ++i) {
    Rule rule;
    rule.id = "r" + std::to_string(i);
    rule.action.kind = i % 2 == 0 ? ActionKind::forward : ActionKind::drop;
    rule.match.dst_port = {Range{static_cast<uint16_t>(1000 + i), static_cast<uint16_t>(1000 + i)}};
    list.push_back(rule);
  }
  OffloadLimits limits;
  const std::vector<OffloadDecision> all = plan_offload(list, limits);
  ASSERT_EQ(all.size(), 10U);
  for (const OffloadDecision& d : all)
    EXPECT_TRUE(d.offload) << d.reason;  // disjoint ports: nothing blocks
  limits.max_pairs = 10;
  const std::vector<OffloadDecision> cut = plan_offload(list, limits);
  std::size_t stopped = 0;
  for (const OffloadDecision& d : cut) {
    if (d.offload) continue;
    EXPECT_EQ(d.reason.rfind("the offload analysis stopped after comparing ", 0), 0U) << d.reason;
    ++stopped;
  }
  EXPECT_GT(stopped, 0U);
  EXPECT_LT(stopped, 10U);
}

// Long prefix lists: the redundant prefixes (inside another of the list, or a repeat) are
// left out of the entries, the others kept in list order, and overlap is decided exactly —
// checked against the pairwise definition on random lists that nest, repeat and touch.
TEST(OffloadPlan, LongPrefixListsAgainstThePairwiseDefinition) {
  gen::Rng rng(20261205);
  const auto random_prefix = [&] {
    // Few distinct values in 10.0.0.0/20, mostly long prefixes, so that nesting, repeats and
    // prefixes that only touch are all common.
    const auto length =
        static_cast<unsigned>(rng.below(16) == 0 ? 20 + rng.below(5) : 26 + rng.below(7));
    std::array<uint8_t, 4> bytes = {10, 0, static_cast<uint8_t>(rng.below(16)),
                                    static_cast<uint8_t>(rng.below(4) * 64)};
    const uint32_t value = (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) |
                           (uint32_t{bytes[2]} << 8) | bytes[3];
    const uint32_t masked = length == 0 ? 0 : value & ~((uint32_t{1} << (32 - length)) - 1);
    char text[32];
    std::snprintf(text, sizeof text, "%u.%u.%u.%u/%u", masked >> 24, (masked >> 16) & 0xff,
                  (masked >> 8) & 0xff, masked & 0xff, length);
    return prefix(text);
  };
  const auto inside = [](const Prefix& outer, const Prefix& inner) {
    return outer.length <= inner.length && outer.contains(inner.addr);
  };
  OffloadLimits limits;
  limits.max_entries_per_rule = 100'000;
  for (int round = 0; round < 200; ++round) {
    std::vector<Prefix> list(1 + rng.below(60));
    for (Prefix& p : list)
      p = random_prefix();
    std::vector<Prefix> expected;
    for (std::size_t a = 0; a < list.size(); ++a) {
      bool redundant = false;
      for (std::size_t b = 0; b < list.size() && !redundant; ++b)
        redundant = b != a && inside(list[b], list[a]) && (list[b] != list[a] || b < a);
      if (!redundant) expected.push_back(list[a]);
    }
    Rule rule;
    rule.id = "long";
    rule.action.kind = ActionKind::drop;
    rule.match.src = list;
    const std::vector<OffloadDecision> decisions = plan_offload({rule}, limits);
    ASSERT_EQ(decisions.size(), 1U);
    ASSERT_TRUE(decisions[0].offload) << decisions[0].reason;
    std::vector<Prefix> got;
    for (const FlowEntry& entry : decisions[0].entries)
      got.push_back(entry.src.value());
    EXPECT_EQ(got, expected) << "round " << round;

    Match other;
    other.src.resize(1 + rng.below(20));
    for (Prefix& p : other.src)
      p = random_prefix();
    bool meet = false;
    for (const Prefix& a : list) {
      for (const Prefix& b : other.src)
        meet = meet || inside(a, b) || inside(b, a);
    }
    EXPECT_EQ(may_overlap(rule.match, other), meet) << "round " << round;
  }
}

}  // namespace
}  // namespace udpsieve::rules
