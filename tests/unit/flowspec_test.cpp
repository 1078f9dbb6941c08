// FlowSpec translation: ExaBGP's JSON routes and communities into runtime rules, table-driven;
// the RFC 8955 ordering on route pairs; id stability. Every rule produced goes through the
// daemon's own rule reader (as a rule-add request's rules would) and must be accepted.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/flowspec/route.hpp"
#include "udpsieve/rules/rule_loader.hpp"

namespace udpsieve::flowspec {
namespace {

using nlohmann::json;

Route v4(const std::string& components) {
  return parse_route(Family::ipv4, json::parse(components));
}
Route v6(const std::string& components) {
  return parse_route(Family::ipv6, json::parse(components));
}

/// The daemon's rule reader accepts every rule a translation gives.
void expect_daemon_accepts(const std::vector<json>& rules) {
  const YamlNode root = YamlNode::from_json(json{{"rules", rules}}, "");
  const rules::RuleCollector collector({"wan"});
  EXPECT_NO_THROW((void)collector.parse_list(root.require("rules"))) << json(rules).dump();
}

struct Case {
  const char* description;
  Family family;
  const char* route;                     ///< the component object as ExaBGP prints it
  std::vector<std::string> communities;  ///< extended-community strings
  const char* expected;  ///< the rules' matches and actions (ids left out), or "ignored: ..." /
                         ///< "refused: ..." with the start of the reason
};

const Case kCases[] = {
    {"discard a DNS amplification target",
     Family::ipv4,
     R"({"destination-ipv4": ["192.0.2.0/24"], "protocol": ["=udp"], "source-port": ["=53"],
         "packet-length": [">=512"], "string": "flow ..."})",
     {"rate-limit:0"},
     R"([{"match": {"dst": "192.0.2.0/24", "src_port": [53], "length": ["512-65535"]},
          "action": "drop"}])"},
    {"a range and a list",
     Family::ipv4,
     R"({"destination-port": [">=1000&<=2000", "=53", "=54"]})",
     {"rate-limit:0"},
     R"([{"match": {"dst": "0.0.0.0/0", "dst_port": ["53-54", "1000-2000"]}, "action": "drop"}])"},
    {"not-equal splits the domain",
     Family::ipv4,
     R"({"source-port": ["!=0"]})",
     {"rate-limit:0"},
     R"([{"match": {"dst": "0.0.0.0/0", "src_port": ["1-65535"]}, "action": "drop"}])"},
    {"less and greater",
     Family::ipv4,
     R"({"packet-length": ["<100", ">1400"]})",
     {},
     R"([{"match": {"dst": "0.0.0.0/0", "length": ["0-99", "1401-65535"]}, "action": "forward"}])"},
    {"a rate in bytes",
     Family::ipv4,
     R"({"destination-ipv4": ["198.51.100.7/32"]})",
     {"rate-limit:1000000"},
     R"([{"match": {"dst": "198.51.100.7/32"},
          "action": {"rate_limit": {"bps": 8000000, "burst_bytes": 1000000}}}])"},
    {"a small rate in packets",
     Family::ipv4,
     R"({"destination-ipv4": ["198.51.100.7/32"]})",
     {"rate-limit:50:packets"},
     R"([{"match": {"dst": "198.51.100.7/32"},
          "action": {"rate_limit": {"pps": 50, "burst": 128}}}])"},
    {"packets rate 0 drops",
     Family::ipv4,
     R"({"source-ipv4": ["203.0.113.0/24"]})",
     {"rate-limit:0:packets"},
     R"([{"match": {"src": "203.0.113.0/24"}, "action": "drop"}])"},
    {"port is source or destination: two rules",
     Family::ipv4,
     R"({"destination-ipv4": ["192.0.2.1/32"], "port": ["=123"]})",
     {"rate-limit:0"},
     R"([{"match": {"dst": "192.0.2.1/32", "dst_port": [123]}, "action": "drop"},
         {"match": {"dst": "192.0.2.1/32", "src_port": [123]}, "action": "drop"}])"},
    {"IPv6 with ExaBGP's prefix/offset",
     Family::ipv6,
     R"({"destination-ipv6": ["2001:db8::/32/0"], "next-header": ["=udp"],
         "traffic-class": ["=46"]})",
     {"rate-limit:0"},
     R"([{"match": {"dst": "2001:db8::/32", "dscp": [46]}, "action": "drop"}])"},
    {"IPv6 without prefixes stays IPv6",
     Family::ipv6,
     R"({"destination-port": ["=443"]})",
     {"rate-limit:0"},
     R"([{"match": {"dst": "::/0", "dst_port": [443]}, "action": "drop"}])"},
    {"host bits past the length are cleared",
     Family::ipv4,
     R"({"source-ipv4": ["10.1.2.3/8"]})",
     {"rate-limit:0"},
     R"([{"match": {"src": "10.0.0.0/8"}, "action": "drop"}])"},
    {"protocol by number, UDP among others",
     Family::ipv4,
     R"({"protocol": ["=6", "=17"], "destination-port": ["=53"]})",
     {"rate-limit:0"},
     R"([{"match": {"dst": "0.0.0.0/0", "dst_port": [53]}, "action": "drop"}])"},
    {"any fragment: first and non-first",
     Family::ipv4,
     R"({"destination-ipv4": ["192.0.2.0/24"], "fragment": ["is-fragment"]})",
     {"rate-limit:0"},
     R"([{"match": {"dst": "192.0.2.0/24", "fragment": "first"}, "action": "drop"},
         {"match": {"dst": "192.0.2.0/24", "fragment": "non_first"}, "action": "drop"}])"},
    {"not a fragment",
     Family::ipv4,
     R"({"fragment": ["!is-fragment"]})",
     {"rate-limit:0"},
     R"([{"match": {"dst": "0.0.0.0/0", "fragment": "none"}, "action": "drop"}])"},
    {"first fragments",
     Family::ipv4,
     R"({"fragment": ["first-fragment"]})",
     {"rate-limit:0"},
     R"([{"match": {"dst": "0.0.0.0/0", "fragment": "first"}, "action": "drop"}])"},
    {"fragments with a port: later fragments cannot match",
     Family::ipv4,
     R"({"destination-port": ["=53"], "fragment": ["is-fragment"]})",
     {"rate-limit:0"},
     R"([{"match": {"dst": "0.0.0.0/0", "dst_port": [53], "fragment": "first"},
          "action": "drop"}])"},
    {"sample is noted, not acted on",
     Family::ipv4,
     R"({"destination-ipv4": ["192.0.2.0/24"]})",
     {"rate-limit:0", "action sample"},
     R"([{"match": {"dst": "192.0.2.0/24"}, "action": "drop"}])"},
    {"route targets are not actions",
     Family::ipv4,
     R"({"destination-ipv4": ["192.0.2.0/24"]})",
     {"target:65000:1"},
     R"([{"match": {"dst": "192.0.2.0/24"}, "action": "forward"}])"},

    {"TCP only",
     Family::ipv4,
     R"({"protocol": ["=tcp"], "destination-port": ["=80"]})",
     {"rate-limit:0"},
     "ignored: matches no UDP"},
    {"TCP flags",
     Family::ipv4,
     R"({"tcp-flags": ["=syn"]})",
     {"rate-limit:0"},
     "ignored: tcp-flags can only match non-UDP traffic"},
    {"ICMP type",
     Family::ipv4,
     R"({"icmp-type": ["=8"]})",
     {"rate-limit:0"},
     "ignored: an ICMP field can only match non-UDP traffic"},
    {"an IPv6 offset",
     Family::ipv6,
     R"({"destination-ipv6": ["::1234:0/128/96"]})",
     {"rate-limit:0"},
     "refused: an IPv6 prefix with a non-zero offset"},
    {"flow label",
     Family::ipv6,
     R"({"flow-label": ["=5"]})",
     {"rate-limit:0"},
     "refused: flow-label is not supported"},
    {"the last fragment alone",
     Family::ipv4,
     R"({"fragment": ["last-fragment"]})",
     {"rate-limit:0"},
     "refused: fragment: udpsieve tells first from later fragments"},
    {"dont-fragment",
     Family::ipv4,
     R"({"fragment": ["dont-fragment"]})",
     {"rate-limit:0"},
     "refused: fragment: the dont-fragment flag"},
    {"an empty range",
     Family::ipv4,
     R"({"destination-port": [">100&<50"]})",
     {"rate-limit:0"},
     "refused: dst_port: matches no value"},
    {"too many entries",
     Family::ipv4,
     R"({"destination-port": ["=1","=3","=5","=7","=9","=11","=13","=15","=17","=19","=21",
                              "=23","=25","=27","=29","=31","=33"],
         "source-port": ["=1","=3","=5","=7","=9","=11","=13","=15","=17","=19","=21","=23",
                         "=25","=27","=29","=31","=33"]})",
     {"rate-limit:0"},
     "refused: needs 289 classifier entries, more than 256"},
    {"port beside destination-port",
     Family::ipv4,
     R"({"port": ["=53"], "destination-port": ["=53"]})",
     {"rate-limit:0"},
     "refused: port together with dst_port"},
};

TEST(FlowSpecTranslate, Cases) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.description);
    const Route route = parse_route(c.family, json::parse(c.route));
    const Translation t = translate(route, parse_action(c.communities));
    const std::string expected = c.expected;
    if (expected.rfind("ignored: ", 0) == 0 || expected.rfind("refused: ", 0) == 0) {
      EXPECT_EQ(t.outcome,
                expected[0] == 'i' ? Translation::Outcome::ignored : Translation::Outcome::refused);
      EXPECT_EQ(t.reason.rfind(expected.substr(9), 0), 0U) << t.reason;
      EXPECT_TRUE(t.rules.empty());
      continue;
    }
    ASSERT_EQ(t.outcome, Translation::Outcome::rules) << t.reason;
    json got = json::array();
    for (const json& rule : t.rules)
      got.push_back({{"match", rule["match"]}, {"action", rule["action"]}});
    EXPECT_EQ(got, json::parse(expected));
    expect_daemon_accepts(t.rules);
  }
}

TEST(FlowSpecTranslate, IdsAreStableAndDistinct) {
  const Route a = v4(R"({"destination-ipv4": ["192.0.2.0/24"], "protocol": ["=udp"]})");
  // The same match spelt differently (a number for the name, another order, other text).
  const Route same =
      v4(R"({"protocol": ["=17"], "destination-ipv4": ["192.0.2.0/24"], "string": "other"})");
  const Route other = v4(R"({"destination-ipv4": ["192.0.2.0/25"], "protocol": ["=udp"]})");
  const auto id = [](const Route& r, const char* community) {
    return translate(r, parse_action({community})).rules.at(0)["id"].get<std::string>();
  };
  EXPECT_EQ(id(a, "rate-limit:0"), id(same, "rate-limit:0"));
  // The action is not part of the id: a route whose rate changes keeps its counters.
  EXPECT_EQ(id(a, "rate-limit:0"), id(a, "rate-limit:1000"));
  EXPECT_NE(id(a, "rate-limit:0"), id(other, "rate-limit:0"));
  EXPECT_EQ(id(a, "rate-limit:0").size(), 4U + 16U);
  EXPECT_EQ(id(a, "rate-limit:0").rfind("bgp-", 0), 0U);
  // A fixed value: ids must match across boxes, builds and releases.
  EXPECT_EQ(canonical_key(a), "ipv4 1:192.0.2.0/24 3:8111");
  const Translation two = translate(v4(R"({"port": ["=123"]})"), parse_action({"rate-limit:0"}));
  ASSERT_EQ(two.rules.size(), 2U);
  EXPECT_EQ(two.rules[0]["id"].get<std::string>().substr(20), "-1");
  EXPECT_EQ(two.rules[1]["id"].get<std::string>().substr(20), "-2");
}

TEST(FlowSpecTranslate, RulesCarryTheRouteAsTheirNote) {
  const auto note = [](const Route& r) {
    return translate(r, parse_action({"rate-limit:0"})).rules.at(0)["note"].get<std::string>();
  };
  // ExaBGP's text when it gave one, else the canonical key.
  EXPECT_EQ(note(v4(R"({"destination-ipv4": ["192.0.2.0/24"], "string": "flow x\ny"})")),
            "flow x?y");
  EXPECT_EQ(note(v4(R"({"destination-ipv4": ["192.0.2.0/24"]})")), "ipv4 1:192.0.2.0/24");
  // At most a note's length, cut between UTF-8 characters.
  const std::string long_text = "flow " + std::string(191, 'a') + "\u00e9\u00e9\u00e9";
  const std::string cut =
      note(v4(R"({"destination-ipv4": ["192.0.2.0/24"], "string": ")" + long_text + R"("})"));
  EXPECT_EQ(cut, "flow " + std::string(191, 'a') + "...");  // not half an é
  EXPECT_LE(cut.size(), udpsieve::rules::kMaxRuleNoteLength);
}

TEST(FlowSpecActions, RefusedAndConflicting) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> refused = {
      {{"redirect:65000:100"}, "'redirect:65000:100': redirects are not supported"},
      {{"redirect-to-nexthop"}, "'redirect-to-nexthop': redirects are not supported"},
      {{"mark 10"}, "'mark 10': traffic-marking is not supported"},
      {{"action terminal"}, "traffic-action with the terminal bit"},
      {{"action sample-terminal"}, "traffic-action with the terminal bit"},
      {{"rate-limit:0", "rate-limit:100"}, "two different traffic-rate actions"},
      {{"rate-limit:1.5"}, "traffic-rate 'rate-limit:1.5': not a whole rate"},
      {{"rate-limit:5:bits"}, "unknown traffic-rate community 'rate-limit:5:bits'"},
  };
  for (const auto& [communities, reason] : refused) {
    try {
      (void)parse_action(communities);
      ADD_FAILURE() << communities[0] << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).rfind(reason, 0), 0U) << e.what();
    }
  }
  EXPECT_EQ(parse_action({}).kind, Action::Kind::accept);
  EXPECT_EQ(parse_action({"rate-limit:0", "rate-limit:0"}).kind, Action::Kind::drop);
  EXPECT_TRUE(parse_action({"action sample"}).sample);
}

TEST(FlowSpecParse, MalformedRoutesAreRefusedWithAReason) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"([1])", "a flow route is a JSON object"},
      {R"({})", "a flow route without components"},
      {R"({"string": "flow"})", "a flow route without components"},
      {R"({"destination-ipv6": ["::/0/0"]})", "unknown IPv4 flow component 'destination-ipv6'"},
      {R"({"bogus": ["=1"]})", "unknown IPv4 flow component 'bogus'"},
      {R"({"destination-ipv4": ["192.0.2.0"]})", "destination-ipv4: '192.0.2.0' is not ADDRESS"},
      {R"({"destination-ipv4": ["192.0.2.0/33"]})", "destination-ipv4: '192.0.2.0/33' is not an"},
      {R"({"destination-ipv4": ["1.2.3.4/8", "5.6.7.8/8"]})",
       "destination-ipv4: expected one prefix"},
      {R"({"destination-port": []})", "destination-port: expected a non-empty list"},
      {R"({"destination-port": "=53"})", "destination-port: expected a non-empty list"},
      {R"({"destination-port": [53]})", "destination-port: every entry is an operator string"},
      {R"({"destination-port": ["=70000"]})", "destination-port: '70000' is not a value of"},
      {R"({"destination-port": ["~5"]})", "destination-port: '~5' is not a value of"},
      {R"({"destination-port": ["=>5"]})", "destination-port: unknown operator '=>'"},
      {R"({"protocol": ["=quic"]})", "protocol: 'quic' is not a value of 0-255 or a known name"},
      {R"({"fragment": ["is-broken"]})", "fragment: 'is-broken' is not a value of"},
  };
  for (const auto& [text, reason] : bad) {
    try {
      (void)parse_route(Family::ipv4, json::parse(text));
      ADD_FAILURE() << text << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).rfind(reason, 0), 0U) << text << ": " << e.what();
    }
  }
}

// RFC 8955 section 5.1 on pairs: `first` takes precedence over `second`, never the reverse.
TEST(FlowSpecOrder, PairsFromTheRfcRules) {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      // A lower component type first: a destination prefix beats a route without one.
      {R"({"destination-ipv4": ["10.0.0.0/8"]})", R"({"source-ipv4": ["10.0.0.0/8"]})"},
      {R"({"destination-ipv4": ["10.0.0.0/8"]})", R"({"destination-port": ["=53"]})"},
      // Prefixes: the lower value over the common length first...
      {R"({"destination-ipv4": ["10.0.0.0/8"]})", R"({"destination-ipv4": ["11.0.0.0/8"]})"},
      {R"({"destination-ipv4": ["10.0.0.0/16"]})", R"({"destination-ipv4": ["10.1.0.0/16"]})"},
      // ...and with the same common part, the more specific first.
      {R"({"destination-ipv4": ["10.1.0.0/16"]})", R"({"destination-ipv4": ["10.0.0.0/8"]})"},
      // Equal first components: the next one decides; having it beats not having it.
      {R"({"destination-ipv4": ["10.0.0.0/8"], "source-ipv4": ["1.0.0.0/8"]})",
       R"({"destination-ipv4": ["10.0.0.0/8"]})"},
      // Other components: memcmp of the encoding, lower first; a longer string after an equal
      // start first.
      {R"({"destination-port": ["=53"]})", R"({"destination-port": ["=54"]})"},
      {R"({"destination-port": ["=53"]})", R"({"destination-port": [">=53"]})"},
      {R"({"destination-port": ["=53", "=80"]})", R"({"destination-port": ["=80"]})"},
  };
  for (const auto& [first, second] : pairs) {
    const Route a = v4(first);
    const Route b = v4(second);
    EXPECT_TRUE(takes_precedence(a, b)) << first << " before " << second;
    EXPECT_FALSE(takes_precedence(b, a)) << second << " not before " << first;
  }
  const Route a = v4(R"({"destination-port": ["=53"]})");
  EXPECT_FALSE(takes_precedence(a, a));
  EXPECT_TRUE(takes_precedence(a, v6(R"({"destination-port": ["=53"]})")));
}

// The order is total over distinct routes and does not depend on arrival: shuffled lists sort
// to the same sequence.
TEST(FlowSpecOrder, ArrivalOrderDoesNotMatter) {
  std::vector<Route> routes;
  for (const char* text :
       {R"({"destination-ipv4": ["10.0.0.0/8"]})", R"({"destination-ipv4": ["10.1.0.0/16"]})",
        R"({"destination-ipv4": ["10.1.0.0/16"], "destination-port": ["=53"]})",
        R"({"source-ipv4": ["192.0.2.0/24"]})", R"({"destination-port": ["=53"]})",
        R"({"destination-port": [">=1000&<=2000"]})", R"({"packet-length": [">=512"]})",
        R"({"destination-ipv4": ["0.0.0.0/0"]})", R"({"fragment": ["is-fragment"]})"}) {
    routes.push_back(v4(text));
  }
  std::vector<Route> sorted = routes;
  std::sort(sorted.begin(), sorted.end(), takes_precedence);
  std::mt19937 random(7);
  for (int round = 0; round < 50; ++round) {
    std::shuffle(routes.begin(), routes.end(), random);
    std::vector<Route> again = routes;
    std::sort(again.begin(), again.end(), takes_precedence);
    EXPECT_EQ(again, sorted);
  }
  EXPECT_EQ(canonical_key(sorted.front()), "ipv4 1:10.1.0.0/16 5:8135");
}

}  // namespace
}  // namespace udpsieve::flowspec
