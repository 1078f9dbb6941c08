// The feeder's memory (flowspec::Feed) driven by ExaBGP JSON lines as ExaBGP 4.2 writes them:
// announces and withdraws per neighbor, sessions going down (with and without grace), the same
// route from two neighbors, RFC order whatever the arrival order, routes the daemon refused,
// and bad lines that are skipped, counted and logged.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "udpsieve/flowspec/feed.hpp"

namespace udpsieve::flowspec {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const Clock::time_point kT0{};

json neighbor(const std::string& peer) {
  return {{"address", {{"local", "10.98.0.1"}, {"peer", peer}}},
          {"asn", {{"local", 65000}, {"peer", 65000}}}};
}

/// An update line announcing `routes` (objects of components) with `communities`.
std::string announce(const std::string& peer, const std::vector<json>& routes,
                     const std::vector<std::string>& communities = {"rate-limit:0"},
                     const std::string& family = "ipv4 flow") {
  json extended = json::array();
  for (const std::string& c : communities)
    extended.push_back({{"value", 0}, {"string", c}});
  json n = neighbor(peer);
  n["direction"] = "in";
  n["message"] = {{"update",
                   {{"attribute", {{"origin", "igp"}, {"extended-community", extended}}},
                    {"announce", {{family, {{"no-nexthop", routes}}}}}}}};
  return json{{"exabgp", "4.0.1"}, {"type", "update"}, {"neighbor", n}}.dump();
}

std::string withdraw(const std::string& peer, const std::vector<json>& routes,
                     const std::string& family = "ipv4 flow") {
  json n = neighbor(peer);
  n["message"] = {{"update", {{"withdraw", {{family, routes}}}}}};
  return json{{"exabgp", "4.0.1"}, {"type", "update"}, {"neighbor", n}}.dump();
}

std::string state(const std::string& peer, const std::string& value) {
  json n = neighbor(peer);
  n["state"] = value;
  return json{{"exabgp", "4.0.1"}, {"type", "state"}, {"neighbor", n}}.dump();
}

const json kDns = {{"destination-ipv4", {"192.0.2.0/24"}}, {"destination-port", {"=53"}}};
const json kNtp = {{"destination-ipv4", {"192.0.2.0/24"}}, {"source-port", {"=123"}}};
const json kWide = {{"destination-ipv4", {"192.0.2.0/23"}}};

std::vector<std::string> matches(const Feed& feed) {
  std::vector<std::string> out;
  for (const json& rule : feed.rules())
    out.push_back(rule["match"].dump() + " " + rule["action"].dump());
  return out;
}

TEST(FlowSpecFeed, AnnounceWithdrawAndOrder) {
  Feed feed;
  // Arrival order: wide, then NTP, then DNS; RFC order: the /24s before the /23, and of those
  // destination-port (type 5) before source-port (type 6).
  EXPECT_EQ(feed.apply(announce("10.98.0.2", {kWide}), kT0).kind, LineOutcome::Kind::changed);
  EXPECT_EQ(feed.apply(announce("10.98.0.2", {kNtp, kDns}), kT0).kind, LineOutcome::Kind::changed);
  EXPECT_EQ(matches(feed), (std::vector<std::string>{
                               R"({"dst":"192.0.2.0/24","dst_port":[53]} "drop")",
                               R"({"dst":"192.0.2.0/24","src_port":[123]} "drop")",
                               R"({"dst":"192.0.2.0/23"} "drop")",
                           }));
  // The same announcement again changes nothing; a new action replaces the rule in place.
  const uint64_t version = feed.version();
  EXPECT_EQ(feed.apply(announce("10.98.0.2", {kDns}), kT0).kind, LineOutcome::Kind::unchanged);
  EXPECT_EQ(feed.version(), version);
  const std::string dns_id = feed.rules()[0]["id"];
  feed.apply(announce("10.98.0.2", {kDns}, {"rate-limit:1000:packets"}), kT0);
  EXPECT_EQ(feed.rules()[0]["id"], dns_id);
  EXPECT_EQ(feed.rules()[0]["action"],
            json::parse(R"({"rate_limit": {"pps": 1000, "burst": 1000}})"));
  // Withdraw by the same components (ExaBGP repeats them), however spelt.
  feed.apply(withdraw("10.98.0.2", {{{"destination-port", {"=53"}},
                                     {"destination-ipv4", {"192.0.2.0/24"}},
                                     {"string", "flow ..."}}}),
             kT0);
  EXPECT_EQ(feed.rules().size(), 2U);
  EXPECT_EQ(feed.counters().withdrawn, 1U);
  // A withdraw of something never announced changes nothing.
  EXPECT_EQ(feed.apply(withdraw("10.98.0.2", {kDns}), kT0).kind, LineOutcome::Kind::unchanged);
}

TEST(FlowSpecFeed, ANeighborGoingDownTakesItsRoutes) {
  Feed feed;
  feed.apply(announce("10.98.0.2", {kDns}), kT0);
  feed.apply(announce("10.98.0.3", {kNtp}), kT0);
  const LineOutcome down = feed.apply(state("10.98.0.2", "down"), kT0);
  EXPECT_EQ(down.kind, LineOutcome::Kind::changed);
  EXPECT_EQ(down.log, std::vector<std::string>{"neighbor 10.98.0.2 down: its 1 route(s) go"});
  EXPECT_EQ(matches(feed),
            std::vector<std::string>{R"({"dst":"192.0.2.0/24","src_port":[123]} "drop")"});
  // Up again: nothing until it announces.
  EXPECT_EQ(feed.apply(state("10.98.0.2", "up"), kT0).kind, LineOutcome::Kind::unchanged);
  EXPECT_EQ(feed.rules().size(), 1U);
}

TEST(FlowSpecFeed, GraceKeepsRoutesThatComeBack) {
  Feed feed(30s);
  feed.apply(announce("10.98.0.2", {kDns, kNtp}), kT0);
  const LineOutcome down = feed.apply(state("10.98.0.2", "down"), kT0);
  EXPECT_EQ(down.log, std::vector<std::string>{
                          "neighbor 10.98.0.2 down: its 2 route(s) go in 30 s unless announced "
                          "again"});
  EXPECT_EQ(feed.rules().size(), 2U);  // still enforced during the grace
  EXPECT_EQ(feed.next_expiry(), kT0 + 30s);
  feed.apply(state("10.98.0.2", "up"), kT0 + 5s);
  feed.apply(announce("10.98.0.2", {kDns}), kT0 + 6s);  // DNS comes back, NTP does not
  EXPECT_FALSE(feed.expire(kT0 + 29s));
  EXPECT_TRUE(feed.expire(kT0 + 30s));
  EXPECT_EQ(matches(feed),
            std::vector<std::string>{R"({"dst":"192.0.2.0/24","dst_port":[53]} "drop")"});
  EXPECT_EQ(feed.next_expiry(), Clock::time_point::max());
}

TEST(FlowSpecFeed, OneRouteFromTwoNeighborsIsOneRule) {
  Feed feed;
  feed.apply(announce("10.98.0.3", {kDns}, {"rate-limit:0"}), kT0);
  feed.apply(announce("10.98.0.2", {kDns}, {"rate-limit:500:packets"}), kT0);
  ASSERT_EQ(feed.rules().size(), 1U);
  // The lower neighbor address speaks for it, on every box alike.
  EXPECT_EQ(feed.rules()[0]["action"],
            json::parse(R"({"rate_limit": {"pps": 500, "burst": 500}})"));
  feed.apply(withdraw("10.98.0.2", {kDns}), kT0);
  ASSERT_EQ(feed.rules().size(), 1U);
  EXPECT_EQ(feed.rules()[0]["action"], "drop");
  EXPECT_EQ(feed.routes(), 1U);
}

TEST(FlowSpecFeed, IPv6AndOtherFamilies) {
  Feed feed;
  feed.apply(announce("10.98.0.2",
                      {{{"destination-ipv6", {"2001:db8::/32/0"}}, {"next-header", {"=udp"}}}},
                      {"rate-limit:0"}, "ipv6 flow"),
             kT0);
  // Unicast routes are not ours: nothing happens.
  EXPECT_EQ(
      feed.apply(announce("10.98.0.2", {{{"nlri", "10.0.0.0/8"}}}, {}, "ipv4 unicast"), kT0).kind,
      LineOutcome::Kind::unchanged);
  EXPECT_EQ(matches(feed), std::vector<std::string>{R"({"dst":"2001:db8::/32"} "drop")"});
}

TEST(FlowSpecFeed, IgnoredAndRefusedRoutesAreHeldAndLoggedOnce) {
  Feed feed;
  const json tcp = {{"destination-ipv4", {"192.0.2.0/24"}}, {"protocol", {"=tcp"}}};
  const LineOutcome first = feed.apply(announce("10.98.0.2", {tcp}), kT0);
  ASSERT_EQ(first.log.size(), 1U);
  EXPECT_EQ(first.log[0].rfind("route ignored: matches no UDP", 0), 0U) << first.log[0];
  EXPECT_TRUE(feed.apply(announce("10.98.0.2", {tcp}), kT0).log.empty());  // once
  const LineOutcome redirect = feed.apply(announce("10.98.0.2", {kDns}, {"redirect:65000:1"}), kT0);
  ASSERT_EQ(redirect.log.size(), 1U);
  EXPECT_EQ(redirect.log[0].rfind("route refused: 'redirect:65000:1': redirects are not", 0), 0U);
  EXPECT_TRUE(feed.rules().empty());
  EXPECT_EQ(feed.routes(), 2U);  // held, so their withdraws are recognised
  feed.apply(withdraw("10.98.0.2", {tcp, kDns}), kT0);
  EXPECT_EQ(feed.routes(), 0U);
  EXPECT_EQ(feed.counters().ignored, 2U);
  EXPECT_EQ(feed.counters().refused, 1U);
  // A route that does not even parse is refused with its reason and never held.
  const LineOutcome broken =
      feed.apply(announce("10.98.0.2", {{{"destination-ipv4", {"300.1.2.3/8"}}}}), kT0);
  ASSERT_EQ(broken.log.size(), 1U);
  EXPECT_EQ(broken.log[0].rfind("route refused: destination-ipv4: '300.1.2.3/8' is not", 0), 0U);
  EXPECT_EQ(feed.routes(), 0U);
}

TEST(FlowSpecFeed, ARouteTheDaemonRefusedIsLeftOutUntilAnnouncedAgain) {
  Feed feed;
  feed.apply(announce("10.98.0.2", {kDns, kNtp}), kT0);
  const std::string ntp_id = feed.rules()[1]["id"];
  EXPECT_EQ(feed.daemon_refused(ntp_id, "rules[1]: no"),
            "ipv4 1:192.0.2.0/24 6:817b");  // no ExaBGP text here: the canonical key
  EXPECT_EQ(feed.rules().size(), 1U);
  EXPECT_EQ(feed.daemon_refused("bgp-nothing", "no"), "");
  feed.apply(announce("10.98.0.2", {kNtp}, {"rate-limit:0:packets"}), kT0);
  EXPECT_EQ(feed.rules().size(), 2U);
}

TEST(FlowSpecFeed, BadLinesAreSkippedCountedAndQuoted) {
  Feed feed;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"not json", "skipped a line: not JSON: not json"},
      {"[1, 2]", "skipped a line: not a JSON object: [1, 2]"},
      {R"({"type": "update"})", "skipped a line: no neighbor: "},
      {R"({"type": "update", "neighbor": {"address": {}}})",
       "skipped a line: no neighbor.address.peer: "},
      {R"({"type": "update", "neighbor": {"address": {"peer": "p"}}})",
       "skipped a line: an update without neighbor.message.update: "},
      {R"({"type": "update", "neighbor": {"address": {"peer": "p"}, "message": {"update":
          {"announce": {"ipv4 flow": {"no-nexthop": 5}}}}}})",
       "skipped a line: ipv4 flow: routes are not a list: "},
      {std::string(1000, 'x'), "skipped a line: not JSON: " + std::string(300, 'x') + "..."},
      // A field of the wrong type anywhere: the line is skipped, nothing throws.
      {R"({"type": 5})", "skipped a line: [json.exception.type_error.302]"},
      {R"({"type": "state", "neighbor": {"address": {"peer": "p"}, "state": 7}})",
       "skipped a line: [json.exception.type_error.302]"},
  };
  for (const auto& [line, log] : bad) {
    const LineOutcome outcome = feed.apply(line, kT0);
    EXPECT_EQ(outcome.kind, LineOutcome::Kind::bad) << line;
    ASSERT_EQ(outcome.log.size(), 1U) << line;
    EXPECT_EQ(outcome.log[0].rfind(log, 0), 0U) << outcome.log[0];
  }
  EXPECT_EQ(feed.counters().bad_lines, bad.size());
  // What peers send is quoted in the log, but never as a line break of its own.
  const LineOutcome control = feed.apply("not json\x1b[2J\r", kT0);
  ASSERT_EQ(control.log.size(), 1U);
  EXPECT_EQ(control.log[0], "skipped a line: not JSON: not json?[2J?");
  // Other message types are not errors.
  EXPECT_EQ(feed.apply(R"({"type": "keepalive", "neighbor": {}})", kT0).kind,
            LineOutcome::Kind::unchanged);
  EXPECT_EQ(feed.counters().lines, bad.size() + 2);
}

TEST(FlowSpecFeed, AStartingFeederSettlesOnceTheRoutesCameBack) {
  using namespace std::chrono_literals;
  Feed feed;
  // Nothing heard: the fallback.
  EXPECT_EQ(feed.settled_at(kT0, 60s), kT0 + 60s);
  // ExaBGP's answers to the route refresh commands are not BGP messages and change nothing.
  for (const char* answer : {"done", "shutdown"}) {
    const LineOutcome outcome = feed.apply(answer, kT0);
    EXPECT_EQ(outcome.kind, LineOutcome::Kind::unchanged) << answer;
    EXPECT_TRUE(outcome.log.empty()) << answer;
  }
  const LineOutcome error = feed.apply("error", kT0);
  EXPECT_EQ(error.kind, LineOutcome::Kind::unchanged);
  ASSERT_EQ(error.log.size(), 1U);
  EXPECT_NE(error.log[0].find("route-refresh"), std::string::npos) << error.log[0];
  EXPECT_EQ(feed.counters().bad_lines, 0U);
  EXPECT_EQ(feed.settled_at(kT0, 60s), kT0 + 60s);
  // A second of quiet after the last BGP message...
  feed.apply(state("10.98.0.2", "up"), kT0 + 2s);
  EXPECT_EQ(feed.settled_at(kT0, 60s), kT0 + 3s);
  feed.apply(announce("10.98.0.2", {kDns}), kT0 + 2500ms);
  EXPECT_EQ(feed.settled_at(kT0, 60s), kT0 + 3500ms);
  // ... but no more than ten seconds after the first, however busy the peers are.
  for (auto at = kT0 + 3s; at < kT0 + 20s; at += 500ms)
    feed.apply(announce("10.98.0.2", {kNtp}), at);
  EXPECT_EQ(feed.settled_at(kT0, 60s), kT0 + 12s);
}

}  // namespace
}  // namespace udpsieve::flowspec
