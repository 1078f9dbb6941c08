// find_unreachable_rules: hand cases per field and message, then a seeded soundness test that
// checks every finding against the reference matcher on packets built from the covered rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/rules/analysis.hpp"
#include "udpsieve/rules/matcher.hpp"
#include "udpsieve/rules/rule_loader.hpp"

namespace udpsieve::rules {
namespace {

using namespace std::chrono_literals;

const std::vector<std::string> kPorts = {"wan", "lan", "dmz"};

std::vector<Rule> load(const std::string& yaml) {
  RuleCollector collector(kPorts);
  collector.add_document(YamlNode::load_string(yaml, "rules.yaml"));
  return collector.take().to_vector();
}

/// The finding lines for a rule file, in order.
std::vector<std::string> findings_of(const std::string& yaml) {
  const std::vector<Rule> rules = load(yaml);
  const AnalysisResult result = find_unreachable_rules(rules, 60s);
  EXPECT_TRUE(result.complete);
  std::vector<std::string> out;
  for (const RuleFinding& finding : result.findings)
    out.push_back(finding_message(finding, rules));
  return out;
}

/// Two one-line rules, `a` then `b`: "rules:\n  - {id: a, match: {A}, action: drop}\n ...".
std::string two(const std::string& a, const std::string& b) {
  return "rules:\n"
         "  - {id: a, match: {" +
         a +
         "}, action: drop}\n"
         "  - {id: b, match: {" +
         b + "}, action: forward}\n";
}

const std::string kSame =
    "rule \"b\" (rules.yaml:3:5) never matches: rule \"a\" (rules.yaml:2:5) has the same match";
const std::string kShadowed =
    "rule \"b\" (rules.yaml:3:5) never matches: every packet it matches is matched first by rule "
    "\"a\" (rules.yaml:2:5)";

struct PairCase {
  const char* description;
  std::string a;        ///< the earlier rule's match fields
  std::string b;        ///< the later rule's
  std::string finding;  ///< kSame, kShadowed or "" (b can match)
};

const PairCase kPairCases[] = {
    // --- duplicates: the same set, however it is written ---
    {"identical", "dst: 10.0.0.0/8, dst_port: 53", "dst: 10.0.0.0/8, dst_port: 53", kSame},
    {"both empty", "", "", kSame},
    {"list order", "dst_port: [53, 123]", "dst_port: [123, 53]", kSame},
    {"adjacent ranges", "dst_port: [1-10, 11-20]", "dst_port: 1-20", kSame},
    {"overlapping ranges", "ttl: [1-10, 5-20]", "ttl: 1-20", kSame},
    {"prefix halves", "src: [10.0.0.0/9, 10.128.0.0/9]", "src: 10.0.0.0/8", kSame},
    {"redundant prefix", "src: [10.0.0.0/8, 10.1.0.0/16]", "src: 10.0.0.0/8", kSame},
    {"ttl 0-255 is any", "ttl: 0-255", "", kSame},
    {"ttl split full range is any", "ttl: [0-100, 101-255]", "", kSame},
    {"dscp 0-63 is any", "dscp: [0-31, 32-63]", "", kSame},
    {"length 0-65535 is any", "length: 0-65535", "", kSame},
    {"both families whole is any", "src: [0.0.0.0/0, '::/0']", "", kSame},
    {"v4 halves plus all v6 is any", "dst: [0.0.0.0/1, 128.0.0.0/1, '::/0']", "", kSame},
    {"payload mask default", "payload: {value: ff54}",
     "payload: {offset: 0, value: FF54, mask: ffff}", kSame},
    {"actions do not matter", "dst_port: 53", "dst_port: 53", kSame},

    // --- shadowed by a broader earlier rule ---
    {"empty match covers all", "", "dst: 10.0.0.0/8, dst_port: 53, ttl: 1", kShadowed},
    {"broader prefix", "dst: 10.0.0.0/8", "dst: 10.1.0.0/16", kShadowed},
    {"host inside prefix", "dst: 10.0.0.0/8", "dst: 10.9.9.9", kShadowed},
    {"prefix union covers one inside both", "src: [10.0.0.0/9, 10.128.0.0/9]",
     "src: [10.64.0.0/10, 10.128.0.0/10]", kShadowed},
    {"port union", "dst_port: [1-10, 11-20]", "dst_port: 5-15", kShadowed},
    {"port list", "dst_port: [53, 123, 1000-2000]", "dst_port: [123, 1500]", kShadowed},
    {"missing field covers a present one", "dst: 10.0.0.0/8", "dst: 10.0.0.0/8, src_port: 53",
     kShadowed},
    {"in_port subset", "in_port: [wan, lan]", "in_port: lan", kShadowed},
    {"ttl subset", "ttl: 1-64", "ttl: [1, 63-64]", kShadowed},
    {"dscp subset", "dscp: [40-47, 46]", "dscp: 46", kShadowed},
    {"length subset", "length: 28-1500", "length: 100", kShadowed},
    {"vlan subset", "vlan: [100, 200-300]", "vlan: 250", kShadowed},
    {"vlan whole range covers any tag", "vlan: 0-4095", "vlan: 7", kShadowed},
    {"fragment same kind", "fragment: first", "fragment: first, dst: 10.0.0.0/8", kShadowed},
    {"full port range covers a port", "dst_port: 0-65535", "src_port: 53", kShadowed},
    {"full port range covers a payload", "dst_port: 0-65535", "payload: {value: 01}", kShadowed},
    {"mixed fields", "dst: 10.0.0.0/8, dst_port: [53, 5353], ttl: 1-64, fragment: none",
     "dst: 10.1.2.0/24, dst_port: 53, ttl: 5-6, fragment: none, in_port: wan, vlan: 3, "
     "payload: {value: ab}",
     kShadowed},

    // --- not covered: one field of b is wider somewhere ---
    {"narrower prefix first", "dst: 10.1.0.0/16", "dst: 10.0.0.0/8", ""},
    {"one field narrower", "dst: 10.0.0.0/8, dst_port: 53", "dst: 10.1.0.0/16", ""},
    {"prefix union with a hole", "src: [10.0.0.0/9, 10.192.0.0/10]", "src: 10.0.0.0/8", ""},
    {"port union with a hole", "dst_port: [1-10, 12-20]", "dst_port: 5-15", ""},
    {"range one past", "ttl: 1-64", "ttl: 1-65", ""},
    {"in_port not a subset", "in_port: wan", "in_port: [wan, lan]", ""},
    {"in_port listed covers not absent", "in_port: [wan, lan, dmz]", "", ""},
    {"full port range needs a UDP header", "dst_port: 0-65535", "", ""},
    {"full port range misses non-first fragments", "src_port: 0-65535", "fragment: non_first", ""},
    {"full vlan range needs a tag", "vlan: 0-4095", "", ""},
    {"fragment other kind", "fragment: first", "fragment: none", ""},
    {"fragment present covers not absent", "fragment: none", "", ""},
    {"mixed fields, ttl wider", "dst: 10.0.0.0/8, dst_port: [53, 5353], ttl: 1-64, fragment: none",
     "dst: 10.1.2.0/24, dst_port: 53, ttl: 60-70, fragment: none", ""},

    // --- payload ---
    {"shorter payload value", "payload: {value: ff}", "payload: {value: ff54}", kShadowed},
    {"longer payload value first", "payload: {value: ff54}", "payload: {value: ff}", ""},
    {"window inside", "payload: {offset: 1, value: 54}", "payload: {offset: 0, value: ff5401}",
     kShadowed},
    {"window elsewhere", "payload: {offset: 2, value: ff}", "payload: {offset: 0, value: ff}", ""},
    {"window reaching further", "payload: {offset: 1, value: 5401}",
     "payload: {offset: 0, value: ff54}", ""},
    {"window starting earlier", "payload: {value: ff}", "payload: {offset: 1, value: ff}", ""},
    {"same bytes tested, written differently", "payload: {value: 00ff, mask: 00ff}",
     "payload: {offset: 1, value: ff}", kSame},
    {"window starting earlier, unmasked there", "payload: {value: 00ff, mask: 00ff}",
     "payload: {offset: 1, value: ff54}", kShadowed},
    {"narrower mask", "payload: {value: 80, mask: 80}", "payload: {value: ff}", kShadowed},
    {"narrower mask, other value", "payload: {value: 80, mask: 80}", "payload: {value: 7f}", ""},
    {"wider mask first", "payload: {value: 0f, mask: ff}", "payload: {value: 0f, mask: 0f}", ""},
    {"zero mask still needs the bytes", "payload: {offset: 2, value: 00, mask: 00}",
     "payload: {offset: 3, value: ff}", kShadowed},
    {"zero mask beyond the window", "payload: {offset: 4, value: 00, mask: 00}",
     "payload: {offset: 3, value: ff}", ""},
    {"payload needs one", "payload: {value: 00, mask: 00}", "dst_port: 53", ""},
    {"different value", "payload: {value: ff54}", "payload: {value: ff55}", ""},

    // --- address families: a rule's packets are those of the families both src and dst allow
    {"all IPv4 sources cover a v4-only dst", "src: 0.0.0.0/0", "dst: 192.0.2.0/24", kShadowed},
    {"all IPv4 sources do not cover any family", "src: 0.0.0.0/0", "dst_port: 53", ""},
    {"IPv4 prefix does not cover IPv6", "src: 10.0.0.0/8", "src: [10.1.0.0/16, '2001:db8::/32']",
     ""},
    {"both families covered", "src: [10.0.0.0/8, '::/0']", "src: [10.1.0.0/16, '2001:db8::/32']",
     kShadowed},
    {"later v6 source unusable without a v6 dst", "src: 10.0.0.0/8",
     "src: [10.1.0.0/16, '2001:db8::/32'], dst: 192.0.2.0/24", kShadowed},
    {"later v6 source unusable, earlier has other v6 sources", "src: [10.0.0.0/8, '2001:db9::/32']",
     "src: [10.1.0.0/16, '2001:db8::/32'], dst: 192.0.2.0/24", kShadowed},
    {"earlier v6 source unusable without a v6 dst",
     "src: [10.0.0.0/8, '2001:db8::/32'], dst: 192.0.2.0/24", "src: '2001:db8::1'", ""},
    {"per-family products", "src: [10.0.0.0/8, '2001:db8::/32'], dst: [192.0.2.0/24, '::/0']",
     "src: [10.1.1.1, '2001:db8::1'], dst: [192.0.2.1, '2001:db9::1']", kShadowed},
    {"per-family products, one family wider",
     "src: [10.0.0.0/8, '2001:db8::/32'], dst: [192.0.2.0/24, '2001:db9::/32']",
     "src: [10.1.1.1, '2001:db8::1'], dst: [192.0.2.1, '2001:dba::1']", ""},
    {"IPv4-mapped IPv6 is IPv6", "dst: 10.0.0.0/8", "dst: '::ffff:10.0.0.0/104'", ""},
    {"IPv6 halves", "src: ['::/1', '8000::/1']", "src: '::/0'", kSame},
    {"IPv6 halves with a hole", "src: ['::/1', '8000::/2']", "src: '::/0'", ""},
    {"the highest IPv4 addresses", "dst: [255.255.255.255, 255.255.255.254]",
     "dst: 255.255.255.254/31", kSame},
    {"the highest IPv6 addresses",
     "dst: ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe']",
     "dst: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127'", kSame},
    {"a list ending at the highest address, then one before it", "dst: ['128.0.0.0/1', 10.0.0.0/8]",
     "dst: [10.1.0.0/16, 200.0.0.0/8]", kShadowed},
};

TEST(AnalysisTest, PairCases) {
  for (const PairCase& c : kPairCases) {
    const std::vector<std::string> findings = findings_of(two(c.a, c.b));
    const std::vector<std::string> expected =
        c.finding.empty() ? std::vector<std::string>{} : std::vector<std::string>{c.finding};
    EXPECT_EQ(findings, expected) << c.description << "\n" << two(c.a, c.b);
  }
}

TEST(AnalysisTest, ReportsTheFirstCoveringRuleForEachRule) {
  const std::string yaml =
      "rules:\n"
      "  - {id: ten-one, match: {dst: 10.1.0.0/16}, action: drop}\n"
      "  - {id: ten, match: {dst: 10.0.0.0/8}, action: drop}\n"
      "  - {id: ten-one-one, match: {dst: 10.1.1.0/24}, action: drop}\n"
      "  - {id: dns, match: {dst_port: 53}, action: drop}\n"
      "  - {id: ten-again, match: {dst: 10.0.0.0/8}, action: forward}\n"
      "  - {id: dns-ten, match: {dst: 10.2.0.0/16, dst_port: 53}, action: drop}\n";
  EXPECT_EQ(findings_of(yaml),
            (std::vector<std::string>{
                "rule \"ten-one-one\" (rules.yaml:4:5) never matches: every packet it matches is "
                "matched first by rule \"ten-one\" (rules.yaml:2:5)",
                "rule \"ten-again\" (rules.yaml:6:5) never matches: rule \"ten\" (rules.yaml:3:5) "
                "has the same match",
                "rule \"dns-ten\" (rules.yaml:7:5) never matches: every packet it matches is "
                "matched first by rule \"ten\" (rules.yaml:3:5)",
            }));
}

TEST(AnalysisTest, FindingFields) {
  const std::vector<Rule> rules = load(two("dst: 10.0.0.0/8", "dst: 10.0.0.0/8") +
                                       "  - {id: c, match: {dst: 10.1.0.0/16}, action: drop}\n");
  const AnalysisResult result = find_unreachable_rules(rules, 60s);
  EXPECT_TRUE(result.complete);
  ASSERT_EQ(result.findings.size(), 2u);
  EXPECT_EQ(result.findings[0].kind, RuleFinding::Kind::duplicate);
  EXPECT_EQ(result.findings[0].rule, 1u);
  EXPECT_EQ(result.findings[0].by, 0u);
  EXPECT_EQ(result.findings[1].kind, RuleFinding::Kind::shadowed);
  EXPECT_EQ(result.findings[1].rule, 2u);
  EXPECT_EQ(result.findings[1].by, 0u);
}

TEST(AnalysisTest, NoRulesAndNoBudget) {
  const AnalysisResult none = find_unreachable_rules({}, 0ms);
  EXPECT_TRUE(none.complete);
  EXPECT_TRUE(none.findings.empty());
  const std::vector<Rule> rules = load(two("", ""));
  const AnalysisResult out_of_time = find_unreachable_rules(rules, 0ms);
  EXPECT_FALSE(out_of_time.complete);
  EXPECT_TRUE(out_of_time.findings.empty());
}

/// `count` distinct IPv4 /32s from 10.0.0.0 up, every `stride`-th address.
std::vector<Prefix> host_prefixes(uint32_t count, uint32_t stride) {
  std::vector<Prefix> out;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t address = (10u << 24) + i * stride;
    out.push_back(Prefix{Family::ipv4,
                         32,
                         {static_cast<uint8_t>(address >> 24), static_cast<uint8_t>(address >> 16),
                          static_cast<uint8_t>(address >> 8), static_cast<uint8_t>(address)}});
  }
  return out;
}

// Lists of 100,000 prefixes are compared as sorted ranges, so the whole analysis (preparation
// included) finishes well within the daemon's budget of 10 s (in tens of milliseconds; pairwise
// prefix comparison took minutes) and still finds the cover.
TEST(AnalysisTest, LongPrefixListsFinishWithinTheBudget) {
  std::vector<Rule> rules(3);
  rules[0].id = "a";
  rules[0].match.src = host_prefixes(100000, 3);
  rules[1].id = "b";  // the same addresses, listed backwards
  rules[1].match.src = rules[0].match.src;
  std::reverse(rules[1].match.src.begin(), rules[1].match.src.end());
  rules[2].id = "c";  // every other one of them, and one address a does not hold
  for (std::size_t i = 0; i < rules[0].match.src.size(); i += 2)
    rules[2].match.src.push_back(rules[0].match.src[i]);
  rules[2].match.src.push_back(host_prefixes(1, 1)[0]);
  rules[2].match.src.back().addr[3] = 1;  // 10.0.0.1: between a's 10.0.0.0 and 10.0.0.3
  const AnalysisResult result = find_unreachable_rules(rules, 10s);
  EXPECT_TRUE(result.complete);
  ASSERT_EQ(result.findings.size(), 1u);
  EXPECT_EQ(result.findings[0].rule, 1u);
  EXPECT_EQ(result.findings[0].by, 0u);
  EXPECT_EQ(result.findings[0].kind, RuleFinding::Kind::duplicate);
}

// The budget covers preparing the rules, not only comparing them.
TEST(AnalysisTest, TheBudgetCoversPreparation) {
  std::vector<Rule> rules(2);
  rules[0].match.src = host_prefixes(20000, 1);
  rules[1].match.src = host_prefixes(20000, 1);
  const AnalysisResult result = find_unreachable_rules(rules, 0ms);
  EXPECT_FALSE(result.complete);
  EXPECT_TRUE(result.findings.empty());
}

// Rules the loader refuses still get a safe answer: no finding that could be false.
TEST(AnalysisTest, EmptyOrMalformedMatchesCoverNothing) {
  Match any;
  Match ttl_outside;  // no packet has a TTL above 255
  ttl_outside.ttl = {{300, 400}};
  Match host_bits;  // 10.0.0.1/8 would never match (Prefix::parse refuses it)
  host_bits.dst = {Prefix{Family::ipv4, 8, {10, 0, 0, 1}}};
  Match outside_mask;
  outside_mask.payload = PayloadMatch{0, {0xff}, {0x0f}};
  Match sizes_differ;
  sizes_differ.payload = PayloadMatch{0, {0xff, 0x00}, {0xff}};
  Match families_apart;
  families_apart.src = {Prefix{Family::ipv4, 0, {}}};
  families_apart.dst = {Prefix{Family::ipv6, 0, {}}};
  for (const Match* m : {&ttl_outside, &host_bits, &outside_mask, &sizes_differ, &families_apart}) {
    EXPECT_FALSE(match_covers(any, *m));
    EXPECT_FALSE(match_covers(*m, any));
    EXPECT_FALSE(match_covers(*m, *m));
  }
  EXPECT_TRUE(match_covers(any, any));
  Match ttl_partly;  // only 255 is a real TTL
  ttl_partly.ttl = {{255, 400}};
  Match ttl_255;
  ttl_255.ttl = {{255, 255}};
  EXPECT_TRUE(match_covers(ttl_partly, ttl_255));
  EXPECT_TRUE(match_covers(ttl_255, ttl_partly));
}

// --- soundness: every reported cover holds for packets built from the covered rule ------------

class RandomRules {
 public:
  explicit RandomRules(uint64_t seed) : rng_(seed) {}

  /// Rules of which a good share copy or narrow an earlier one, so covers do occur.
  std::vector<Rule> rules(std::size_t count) {
    std::vector<Rule> out;
    for (std::size_t i = 0; i < count; ++i) {
      Rule r;
      if (!out.empty() && chance(10)) {
        r.match = out[uniform(0, out.size() - 1)].match;  // a duplicate
      } else if (!out.empty() && chance(45)) {
        r.match = narrowed(out[uniform(0, out.size() - 1)].match);
      } else {
        r.match = fresh();
      }
      r.id = "r" + std::to_string(i);
      r.action.kind = chance(50) ? ActionKind::drop : ActionKind::forward;
      r.where = SourceLocation{"random.yaml", static_cast<int>(i) + 2, 5};
      out.push_back(std::move(r));
    }
    return out;
  }

  /// A key `rule` matches, with every field the rule leaves free (or partly free) random.
  /// `buffer` holds the payload the key points at.
  PacketKey key_matching(const Rule& rule, std::vector<uint8_t>& buffer) {
    const Match& m = rule.match;
    PacketKey k;
    std::vector<Family> families;
    for (Family f : {Family::ipv4, Family::ipv6}) {
      if (allows(m.src, f) && allows(m.dst, f)) families.push_back(f);
    }
    k.family = families.at(uniform(0, families.size() - 1));
    k.src = address_from(m.src, k.family);
    k.dst = address_from(m.dst, k.family);
    const bool needs_header = !m.src_port.empty() || !m.dst_port.empty() || m.payload;
    k.has_ports = needs_header || chance(50);
    k.src_port = value_from(m.src_port, 65535);
    k.dst_port = value_from(m.dst_port, 65535);
    k.in_port = m.in_port.empty()
                    ? static_cast<uint8_t>(chance(80) ? uniform(0, 3) : uniform(0, 255))
                    : static_cast<uint8_t>(m.in_port[uniform(0, m.in_port.size() - 1)]);
    k.l3_length = value_from(m.length, 65535);
    k.ttl = static_cast<uint8_t>(value_from(m.ttl, 255));
    k.dscp = static_cast<uint8_t>(value_from(m.dscp, 63));
    k.vlan_count = static_cast<uint8_t>(m.vlan.empty() ? uniform(0, 2) : uniform(1, 2));
    k.outer_vlan = value_from(m.vlan, 4095);
    k.inner_vlan = static_cast<uint16_t>(uniform(0, 4095));
    static constexpr FragmentKind kKinds[] = {FragmentKind::none, FragmentKind::first,
                                              FragmentKind::non_first};
    k.fragment = m.fragment ? *m.fragment : kKinds[uniform(0, 2)];

    std::size_t length = uniform(0, 24);
    if (m.payload) {
      const std::size_t end = m.payload->offset + m.payload->value.size();
      length = end + (chance(40) ? 0 : uniform(1, 6));
    }
    buffer.resize(length);
    for (uint8_t& b : buffer)
      b = random_byte();
    if (m.payload) {
      const PayloadMatch& p = *m.payload;
      for (std::size_t t = 0; t < p.value.size(); ++t) {
        uint8_t& b = buffer[p.offset + t];
        b = static_cast<uint8_t>((b & ~p.mask[t]) | p.value[t]);
      }
    }
    const bool has_payload = m.payload || chance(80);
    k.payload = has_payload ? buffer.data() : nullptr;
    k.payload_length = has_payload ? static_cast<uint16_t>(buffer.size()) : 0;
    return k;
  }

 private:
  std::size_t uniform(std::size_t lo, std::size_t hi) {
    return std::uniform_int_distribution<std::size_t>(lo, hi)(rng_);
  }
  bool chance(unsigned percent) { return uniform(0, 99) < percent; }
  uint8_t random_byte() {
    static constexpr uint8_t kBytes[] = {0x00, 0x01, 0x0f, 0x7f, 0x80, 0xf0, 0xff};
    return chance(50) ? kBytes[uniform(0, std::size(kBytes) - 1)]
                      : static_cast<uint8_t>(uniform(0, 255));
  }

  static bool allows(const std::vector<Prefix>& list, Family f) {
    return list.empty() ||
           std::any_of(list.begin(), list.end(), [&](const Prefix& p) { return p.family == f; });
  }

  // --- rules ---

  /// Two to four random fields (one sometimes): broad rules would cover everything after them.
  Match fresh() {
    Match m;
    std::array<std::size_t, 11> fields = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    std::shuffle(fields.begin(), fields.end(), rng_);
    const std::size_t count = chance(10) ? 1 : uniform(2, 4);
    for (std::size_t n = 0; n < count; ++n) {
      switch (fields[n]) {
        case 0:
          m.src = prefix_list();
          break;
        case 1:
          m.dst = prefix_list();
          break;
        case 2:
          m.src_port = range_list(65535);
          break;
        case 3:
          m.dst_port = range_list(65535);
          break;
        case 4:
          m.in_port = port_list();
          break;
        case 5:
          m.length = range_list(65535);
          break;
        case 6:
          m.ttl = range_list(255);
          break;
        case 7:
          m.dscp = range_list(63);
          break;
        case 8:
          m.vlan = range_list(4095);
          break;
        case 9:
          m.fragment = fragment();
          break;
        default:
          m.payload = payload();
          break;
      }
    }
    return m;
  }

  /// A copy of `m` with one to three changes, most of which can only shrink its set.
  Match narrowed(Match m) {
    const std::size_t changes = uniform(1, 3);
    for (std::size_t c = 0; c < changes; ++c) {
      switch (uniform(0, 12)) {
        case 0:
          narrow_prefixes(m.src);
          break;
        case 1:
          narrow_prefixes(m.dst);
          break;
        case 2:
          narrow_ranges(m.src_port, 65535);
          break;
        case 3:
          narrow_ranges(m.dst_port, 65535);
          break;
        case 4:
          narrow_ranges(m.length, 65535);
          break;
        case 5:
          narrow_ranges(m.ttl, 255);
          break;
        case 6:
          narrow_ranges(m.dscp, 63);
          break;
        case 7:
          narrow_ranges(m.vlan, 4095);
          break;
        case 8:
          if (m.in_port.empty()) {
            m.in_port = port_list();
          } else if (m.in_port.size() > 1) {
            m.in_port.erase(m.in_port.begin() +
                            static_cast<std::ptrdiff_t>(uniform(0, m.in_port.size() - 1)));
          }
          break;
        case 9:
          if (!m.fragment) m.fragment = fragment();
          break;
        case 10:
          narrow_payload(m.payload);
          break;
        case 11:  // a near miss: one range grows by one, so the copy usually escapes its origin
          if (!m.dst_port.empty() && m.dst_port[0].last < 65535) ++m.dst_port[0].last;
          break;
        default:  // a near miss in the address: a sibling prefix
          if (!m.dst.empty() && m.dst[0].length > 0) {
            Prefix& p = m.dst[0];
            const unsigned bit = p.length - 1u;
            p.addr[bit / 8] = static_cast<uint8_t>(p.addr[bit / 8] ^ (0x80u >> (bit % 8)));
          }
          break;
      }
    }
    return m;
  }

  Prefix random_prefix() {
    Prefix p;
    p.family = chance(60) ? Family::ipv4 : Family::ipv6;
    std::array<uint8_t, 16> a{};
    if (p.family == Family::ipv4) {
      static constexpr uint8_t kLengths[] = {0, 8, 9, 10, 16, 17, 24, 32};
      p.length = kLengths[uniform(0, std::size(kLengths) - 1)];
      a[0] = chance(80) ? 10 : random_byte();
      for (std::size_t i = 1; i < 4; ++i)
        a[i] = random_byte();
    } else {
      static constexpr uint8_t kLengths[] = {0, 16, 32, 33, 48, 64, 128};
      p.length = kLengths[uniform(0, std::size(kLengths) - 1)];
      if (chance(80)) {
        a[0] = 0x20;
        a[1] = 0x01;
        a[2] = 0x0d;
        a[3] = 0xb8;
      }
      for (std::size_t i = chance(80) ? 4 : 0; i < 16; ++i)
        a[i] = chance(70) ? 0 : random_byte();
    }
    for (unsigned bit = 0; bit < p.length; ++bit) {
      const auto mask = static_cast<uint8_t>(0x80u >> (bit % 8));
      p.addr[bit / 8] = static_cast<uint8_t>(p.addr[bit / 8] | (a[bit / 8] & mask));
    }
    return p;
  }

  std::vector<Prefix> prefix_list() {
    std::vector<Prefix> out(uniform(1, 3));
    for (Prefix& p : out)
      p = random_prefix();
    return out;
  }

  /// Longer prefixes inside the old ones, one prefix fewer, or a new list.
  void narrow_prefixes(std::vector<Prefix>& list) {
    if (list.empty()) {
      list = prefix_list();
      return;
    }
    if (list.size() > 1 && chance(30)) {
      list.erase(list.begin() + static_cast<std::ptrdiff_t>(uniform(0, list.size() - 1)));
      return;
    }
    Prefix& p = list[uniform(0, list.size() - 1)];
    const unsigned max = p.family == Family::ipv4 ? 32 : 128;
    const unsigned length =
        std::min<unsigned>(max, p.length + static_cast<unsigned>(uniform(1, 9)));
    for (unsigned bit = p.length; bit < length; ++bit) {
      if (chance(50))
        p.addr[bit / 8] = static_cast<uint8_t>(p.addr[bit / 8] | (0x80u >> (bit % 8)));
    }
    p.length = static_cast<uint8_t>(length);
  }

  uint16_t random_value(uint16_t max) {
    const std::array<std::size_t, 7> pool = {0, 1, 53, 63, 100, 1000, max};
    const std::size_t v = chance(60) ? pool[uniform(0, pool.size() - 1)] : uniform(0, max);
    return static_cast<uint16_t>(std::min<std::size_t>(v, max));
  }

  std::vector<Range> range_list(uint16_t max) {
    if (chance(10)) {  // the whole domain in two pieces
      const auto split = static_cast<uint16_t>(uniform(0, max - 1u));
      return {{0, split}, {static_cast<uint16_t>(split + 1), max}};
    }
    std::vector<Range> out(uniform(1, 3));
    for (Range& r : out) {
      const uint16_t a = random_value(max);
      const uint16_t b = chance(40) ? a : random_value(max);
      r = {std::min(a, b), std::max(a, b)};
    }
    return out;
  }

  void narrow_ranges(std::vector<Range>& list, uint16_t max) {
    if (list.empty()) {
      list = range_list(max);
      return;
    }
    if (list.size() > 1 && chance(30)) {
      list.erase(list.begin() + static_cast<std::ptrdiff_t>(uniform(0, list.size() - 1)));
      return;
    }
    Range& r = list[uniform(0, list.size() - 1)];
    const auto a = static_cast<uint16_t>(uniform(r.first, r.last));
    const auto b = static_cast<uint16_t>(uniform(r.first, r.last));
    r = {std::min(a, b), std::max(a, b)};
  }

  std::vector<int> port_list() {
    std::vector<int> out(uniform(1, 3));
    for (int& port : out)
      port = static_cast<int>(uniform(0, 3));
    return out;
  }

  FragmentKind fragment() {
    static constexpr FragmentKind kKinds[] = {FragmentKind::none, FragmentKind::first,
                                              FragmentKind::non_first};
    return kKinds[uniform(0, 2)];
  }

  uint8_t random_mask() {
    static constexpr uint8_t kMasks[] = {0x00, 0x0f, 0xf0, 0x80, 0xff, 0xff};
    return kMasks[uniform(0, std::size(kMasks) - 1)];
  }

  PayloadMatch payload() {
    PayloadMatch p;
    p.offset = static_cast<uint16_t>(uniform(0, 4));
    const std::size_t size = uniform(1, 4);
    for (std::size_t i = 0; i < size; ++i) {
      const uint8_t mask = random_mask();
      p.mask.push_back(mask);
      p.value.push_back(static_cast<uint8_t>(random_byte() & mask));
    }
    return p;
  }

  /// More mask bits, or one more byte after the window, or one more before it.
  void narrow_payload(std::optional<PayloadMatch>& payload_match) {
    if (!payload_match) {
      payload_match = payload();
      return;
    }
    PayloadMatch& p = *payload_match;
    switch (uniform(0, 2)) {
      case 0: {
        const std::size_t t = uniform(0, p.value.size() - 1);
        const auto added = static_cast<uint8_t>(random_mask() & ~p.mask[t]);
        p.mask[t] = static_cast<uint8_t>(p.mask[t] | added);
        p.value[t] = static_cast<uint8_t>(p.value[t] | (random_byte() & added));
        break;
      }
      case 1:
        if (p.value.size() < PayloadMatch::kMaxBytes) {
          const uint8_t mask = random_mask();
          p.mask.push_back(mask);
          p.value.push_back(static_cast<uint8_t>(random_byte() & mask));
        }
        break;
      default:
        if (p.offset > 0 && p.value.size() < PayloadMatch::kMaxBytes) {
          const uint8_t mask = random_mask();
          --p.offset;
          p.mask.insert(p.mask.begin(), mask);
          p.value.insert(p.value.begin(), static_cast<uint8_t>(random_byte() & mask));
        }
        break;
    }
  }

  // --- keys ---

  std::array<uint8_t, 16> random_address(Family family) {
    std::array<uint8_t, 16> out{};  // IPv4 keeps bytes 4..15 zero, like the parser
    const std::size_t bytes = family == Family::ipv4 ? 4 : 16;
    for (std::size_t i = 0; i < bytes; ++i)
      out[i] = random_byte();
    return out;
  }

  /// An address of `family` inside one of the list's prefixes of that family (any address when
  /// the list is empty); host bits random, all zero or all one.
  std::array<uint8_t, 16> address_from(const std::vector<Prefix>& list, Family family) {
    std::array<uint8_t, 16> out = random_address(family);
    std::vector<const Prefix*> candidates;
    for (const Prefix& p : list) {
      if (p.family == family) candidates.push_back(&p);
    }
    if (candidates.empty()) return out;
    const Prefix& p = *candidates[uniform(0, candidates.size() - 1)];
    const std::size_t style = uniform(0, 4);  // 0: host bits zero, 1: one, else random
    const unsigned max = family == Family::ipv4 ? 32 : 128;
    for (unsigned bit = 0; bit < max; ++bit) {
      const auto mask = static_cast<uint8_t>(0x80u >> (bit % 8));
      uint8_t& byte = out[bit / 8];
      const bool set = bit < p.length ? (p.addr[bit / 8] & mask) != 0
                       : style == 0   ? false
                       : style == 1   ? true
                                      : (byte & mask) != 0;
      byte = static_cast<uint8_t>(set ? byte | mask : byte & ~mask);
    }
    return out;
  }

  /// A value in one of the ranges (clipped to max), often an end; any value when empty.
  uint16_t value_from(const std::vector<Range>& ranges, uint16_t max) {
    if (ranges.empty()) return random_value(max);
    const Range& r = ranges[uniform(0, ranges.size() - 1)];
    const uint16_t last = std::min(r.last, max);
    switch (uniform(0, 3)) {
      case 0:
        return r.first;
      case 1:
        return last;
      default:
        return static_cast<uint16_t>(uniform(r.first, last));
    }
  }

  std::mt19937_64 rng_;
};

constexpr int kKeysPerCover = 100;

/// Packets built from `inner` all match `outer` too; fails the test with the pair otherwise.
void expect_covered(RandomRules& random, const Rule& outer, const Rule& inner, uint64_t seed) {
  std::vector<uint8_t> buffer;
  for (int n = 0; n < kKeysPerCover; ++n) {
    const PacketKey k = random.key_matching(inner, buffer);
    ASSERT_TRUE(rule_matches(inner, k)) << "seed " << seed << ": generator broke for " << inner.id;
    ASSERT_TRUE(rule_matches(outer, k))
        << "seed " << seed << ": " << inner.id << " is reported covered by " << outer.id
        << ", but a packet it matches escapes (key " << n << ")";
  }
}

TEST(AnalysisTest, EveryFindingHoldsOnRandomRules) {
  constexpr uint64_t kSeeds = 40;
  constexpr std::size_t kRulesPerSet = 250;
  std::size_t duplicates = 0;
  std::size_t shadowed = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    RandomRules random(seed);
    const std::vector<Rule> rules = random.rules(kRulesPerSet);
    const AnalysisResult result = find_unreachable_rules(rules, 600s);
    ASSERT_TRUE(result.complete);
    for (std::size_t n = 0; n < result.findings.size(); ++n) {
      const RuleFinding& f = result.findings[n];
      ASSERT_LT(f.by, f.rule);
      if (n > 0) {
        ASSERT_LT(result.findings[n - 1].rule, f.rule);  // in rule order, once each
      }
      expect_covered(random, rules[f.by], rules[f.rule], seed);
      if (f.kind == RuleFinding::Kind::duplicate) {
        expect_covered(random, rules[f.rule], rules[f.by], seed);
        ++duplicates;
      } else {
        ++shadowed;
      }
      if (HasFatalFailure()) return;
    }
  }
  // The generator is meant to produce both kinds often; guard against it drifting.
  EXPECT_GT(duplicates, kSeeds * 5);
  EXPECT_GT(shadowed, kSeeds * 20);
}

// Every covering pair, not just the first cover of each rule: match_covers on all pairs of a
// few smaller sets.
TEST(AnalysisTest, EveryCoverHoldsOnRandomPairs) {
  constexpr uint64_t kSeeds = 10;
  std::size_t covers = 0;
  std::size_t pairs = 0;
  for (uint64_t seed = 100; seed < 100 + kSeeds; ++seed) {
    RandomRules random(seed);
    const std::vector<Rule> rules = random.rules(80);
    for (const Rule& outer : rules) {
      for (const Rule& inner : rules) {
        ++pairs;
        if (!match_covers(outer.match, inner.match)) continue;
        ++covers;
        expect_covered(random, outer, inner, seed);
        if (HasFatalFailure()) return;
      }
    }
  }
  EXPECT_GT(covers, pairs / 50);
}

}  // namespace
}  // namespace udpsieve::rules
