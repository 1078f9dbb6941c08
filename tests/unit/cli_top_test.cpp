// udpsievectl top's pure half: the frame drawn from stats, rules and talkers replies (rates,
// drop reasons, ports, rules of the view, talkers), fitted to a screen's height, the keys, the
// rules and talkers requests per view, and top's options.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "udpsieve/cli/args.hpp"
#include "udpsieve/cli/top.hpp"

namespace udpsieve::cli {
namespace {

using nlohmann::json;

const json kStats = json::parse(R"({
  "uptime_s": 3725.4,
  "rates": {
    "rx": {"rate_pps": 2500000.0, "rate_bps": 1.28e9, "rate_pps_10s": 2400000.0},
    "forwarded": {"rate_pps": 500000.0, "rate_bps": 2.56e8, "rate_pps_10s": 480000.0},
    "dropped": {"rate_pps": 2000000.0, "rate_pps_10s": 1920000.0},
    "drops": {"rule": {"rate_pps": 1900000.0}, "default": {"rate_pps": 0.0},
              "non_udp": {"rate_pps": 0.0}, "malformed": {"rate_pps": 0.0},
              "tx_full": {"rate_pps": 0.0}, "rate_limit": {"rate_pps": 100000.0}}},
  "ports": [
    {"name": "wan", "rx_missed": 7, "rx_errors": 0,
     "rates": {"rx": {"rate_pps": 2500000.0, "rate_bps": 1.28e9},
               "tx": {"rate_pps": 0.0, "rate_bps": 0.0}}},
    {"name": "lan", "rx_missed": 0, "rx_errors": 0,
     "rates": {"rx": {"rate_pps": 0.0, "rate_bps": 0.0},
               "tx": {"rate_pps": 500000.0, "rate_bps": 2.56e8}}}]})");

const json kRules = json::parse(R"({"rules": [
  {"id": "ntp-flood", "source": "bgp", "action": "drop", "packets": 90000000,
   "rate_pps": 1900000.0, "rate_bps": 9.7e8, "rate_pps_10s": 1800000.0},
  {"id": "dns", "source": "file", "action": "rate_limit:100000pps/200000", "packets": 600000,
   "limited": 12000, "rate_pps": 200000.0, "rate_bps": 1e8, "rate_pps_10s": 190000.0},
  {"id": "web", "source": "file", "action": "forward", "packets": 4000,
   "rate_pps": 400.0, "rate_bps": 2e5, "rate_pps_10s": 390.0}]})");

const json kTalkers = json::parse(R"({"by": "src", "verdict": "all", "window_s": 9.97,
  "sampling": 16, "sampled": 623411, "pps": 2500000.0, "talkers": [
  {"key": "198.51.100.7", "pps": 1500000.0, "error_pps": 9000.0, "share": 0.6},
  {"key": "2001:db8::1", "pps": 400000.0, "error_pps": 9000.0, "share": 0.16}]})");

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines)
    out += line + "\n";
  return out;
}

bool has_line_starting(const std::vector<std::string>& lines, const std::string& start) {
  for (const std::string& line : lines) {
    if (line.rfind(start, 0) == 0) return true;
  }
  return false;
}

TEST(CliTop, FrameShowsRatesReasonsPortsAndRules) {
  const std::vector<std::string> lines = top_frame(kStats, kRules, kTalkers, TopView{}, 20);
  const std::string text = joined(lines);
  EXPECT_EQ(lines.at(0).rfind("udpsieved up 01:02:05   rules by pps, all rules", 0), 0U) << text;
  EXPECT_EQ(lines.at(1),
            "rx 2.50 Mpps 1.28 Gbit/s   forwarded 500.0 kpps 256.00 Mbit/s   dropped 2.00 Mpps"
            "   (10 s: rx 2.40 Mpps, dropped 1.92 Mpps)");
  EXPECT_EQ(lines.at(2),
            "drops/s:  rule 1.90 M  default 0  non_udp 0  malformed 0  tx_full 0  "
            "rate_limit 100.0 k");
  EXPECT_TRUE(has_line_starting(lines, "wan   2.50 M")) << text;
  EXPECT_TRUE(has_line_starting(lines, "ntp-flood  bgp")) << text;
  EXPECT_TRUE(has_line_starting(lines, "dns ")) << text;
  EXPECT_TRUE(has_line_starting(lines, "web ")) << text;
  EXPECT_NE(text.find("12000"), std::string::npos) << "the rate limit's limited packets";
}

TEST(CliTop, ViewsShowTheRulesThatDropOrForwardAndTheCountLimitsRows) {
  TopView view;
  ASSERT_TRUE(top_key('d', view));
  std::vector<std::string> lines = top_frame(kStats, kRules, kTalkers, view, 20);
  EXPECT_TRUE(has_line_starting(lines, "ntp-flood ")) << joined(lines);
  EXPECT_TRUE(has_line_starting(lines, "dns ")) << "a rate limit drops too";
  EXPECT_FALSE(has_line_starting(lines, "web ")) << joined(lines);
  ASSERT_TRUE(top_key('f', view));
  lines = top_frame(kStats, kRules, kTalkers, view, 20);
  EXPECT_FALSE(has_line_starting(lines, "ntp-flood ")) << joined(lines);
  EXPECT_TRUE(has_line_starting(lines, "dns ")) << "a rate limit forwards too";
  EXPECT_TRUE(has_line_starting(lines, "web ")) << joined(lines);
  ASSERT_TRUE(top_key('a', view));
  lines = top_frame(kStats, kRules, kTalkers, view, 1);
  EXPECT_TRUE(has_line_starting(lines, "ntp-flood ")) << joined(lines);
  EXPECT_FALSE(has_line_starting(lines, "dns ")) << "one row asked for";
  lines = top_frame(kStats, json::parse(R"({"rules": []})"), kTalkers, view, 20);
  EXPECT_TRUE(has_line_starting(lines, "(no all rules)")) << joined(lines);
}

TEST(CliTop, FrameEndsWithTheTalkersSection) {
  const std::vector<std::string> lines = top_frame(kStats, kRules, kTalkers, TopView{}, 20);
  EXPECT_NE(lines.at(0).find("keys: s sort, d drop, f forward, a all, t talkers, q quit"),
            std::string::npos)
      << lines.at(0);
  ASSERT_GE(lines.size(), 5U);
  const std::vector<std::string> tail(lines.end() - 5, lines.end());
  EXPECT_EQ(tail, (std::vector<std::string>{
                      "",
                      "talkers by src, all packets, last 9.97 s (1 in 16 sampled, 623,411 "
                      "samples): 2.50 Mpps",
                      "#  src           pps      +/-    share %",
                      "1  198.51.100.7   1.50 M  9.0 k     60.0",
                      "2  2001:db8::1   400.0 k  9.0 k     16.0",
                  }))
      << joined(lines);
  EXPECT_TRUE(has_line_starting(lines, "ntp-flood  bgp")) << "the rules stay";
  // No traffic: the section says so.
  json none = kTalkers;
  none["talkers"] = json::array();
  EXPECT_EQ(top_frame(kStats, kRules, none, TopView{}, 20).back(),
            "(no packets were sampled in the window)");
}

TEST(CliTop, ATalkersErrorIsOneLineAndTheRestStays) {
  struct Case {
    json reply;
    const char* line;
  };
  const Case cases[] = {
      {{{"error", "talkers are off (pipeline.talker_sampling is 0)"}},
       "talkers by src, all packets: talkers are off (pipeline.talker_sampling is 0)"},
      {{{"error", "unknown command 'talkers' (commands: stats, ports, workers, rules)"}},
       "talkers by src, all packets: this udpsieved does not offer them (it is older than "
       "udpsievectl)"},
      {json::parse(R"({"by": "src", "talkers": "soon"})"),
       "talkers by src, all packets: the daemon's reply has an unexpected shape (udpsievectl "
       "talkers --json)"},
      {json::object(),
       "talkers by src, all packets: the daemon's reply has an unexpected shape (udpsievectl "
       "talkers --json)"},
  };
  const std::vector<std::string> whole = top_frame(kStats, kRules, kTalkers, TopView{}, 20);
  for (const Case& c : cases) {
    const std::vector<std::string> lines = top_frame(kStats, kRules, c.reply, TopView{}, 20);
    EXPECT_EQ(lines.back(), c.line) << joined(lines);
    EXPECT_EQ(lines.at(lines.size() - 2), "");
    // Everything before the talkers section is as with talkers.
    const std::size_t before = whole.size() - 5;
    ASSERT_EQ(lines.size(), before + 2) << joined(lines);
    EXPECT_TRUE(std::equal(lines.begin(), lines.begin() + static_cast<long>(before), whole.begin()))
        << joined(lines);
  }
  TopView drops;
  ASSERT_TRUE(top_key('d', drops));
  ASSERT_TRUE(top_key('t', drops));
  EXPECT_EQ(top_frame(kStats, kRules, cases[0].reply, drops, 20).back(),
            "talkers by src_prefix, dropped packets: talkers are off "
            "(pipeline.talker_sampling is 0)");
}

TEST(CliTop, RulesAndTalkersShrinkToFitTheScreen) {
  json rules = {{"rules", json::array()}};
  json talkers = kTalkers;
  talkers["talkers"] = json::array();
  for (int i = 0; i < 10; ++i) {
    rules["rules"].push_back(
        {{"id", "r" + std::to_string(i)}, {"action", "drop"}, {"rate_pps", 1000.0 - i}});
    talkers["talkers"].push_back({{"key", "10.0.0." + std::to_string(i)},
                                  {"pps", 100.0 - i},
                                  {"error_pps", 1.0},
                                  {"share", 0.01}});
  }
  // Rows of each section in a frame.
  const auto count = [](const std::vector<std::string>& lines, const char* pattern) {
    const std::regex row(pattern);
    return static_cast<std::size_t>(
        std::count_if(lines.begin(), lines.end(),
                      [&](const std::string& l) { return std::regex_match(l, row); }));
  };
  // The frame's fixed part: 3 header lines, a blank one, 3 port lines, a blank one; then the
  // rules table's header, a blank line, the talkers' heading and table header: 12 lines.
  struct Case {
    std::size_t height;
    std::size_t count;  // --rules
    std::size_t rules;
    std::size_t talkers;
  };
  const Case cases[] = {
      {0, 20, 10, kTopTalkers},    // no limit: every rule asked for, kTopTalkers talkers
      {0, 3, 3, kTopTalkers},      // --rules 3
      {100, 20, 10, kTopTalkers},  // room for all
      {30, 20, 10, kTopTalkers},   // exactly
      {29, 20, 9, kTopTalkers},    // the rules give up a row first
      {25, 20, kTopRulesKept, kTopTalkers},
      {24, 20, kTopRulesKept, kTopTalkers - 1},  // then the talkers
      {18, 20, kTopRulesKept, 1},
      {17, 20, kTopRulesKept, 0},
      {14, 20, 2, 0},  // then the rules again
      {12, 20, 0, 0},
      {5, 20, 0, 0},  // shorter than the headings: the screen cuts the rest
      {20, 3, 3, 5},  // fewer rules than kept: the talkers get the rest
  };
  for (const Case& c : cases) {
    const std::vector<std::string> lines =
        top_frame(kStats, rules, talkers, TopView{}, c.count, c.height);
    EXPECT_EQ(count(lines, "r[0-9] .*"), c.rules) << c.height << "\n" << joined(lines);
    EXPECT_EQ(count(lines, "[0-9]+ +10\\.0\\.0\\..*"), c.talkers) << c.height << "\n"
                                                                  << joined(lines);
    if (c.height >= 12) {
      EXPECT_LE(lines.size(), c.height) << joined(lines);
    }
  }
}

TEST(CliTop, KeysCycleTheSortAndQQuits) {
  TopView view;
  EXPECT_EQ(top_rules_request(view, 20),
            json::parse(R"({"cmd": "rules", "top": 20, "limit": 20, "by": "rate"})"));
  ASSERT_TRUE(top_key('s', view));
  EXPECT_EQ(view.sort, TopView::Sort::rate_10s);
  EXPECT_EQ(top_rules_request(view, 20)["by"], "rate_10s");
  ASSERT_TRUE(top_key('s', view));
  EXPECT_EQ(top_rules_request(view, 20)["by"], "packets");
  ASSERT_TRUE(top_key('s', view));
  EXPECT_EQ(view.sort, TopView::Sort::rate);
  ASSERT_TRUE(top_key('d', view));
  EXPECT_EQ(top_rules_request(view, 20)["top"], 150) << "a filtered view asks for more";
  EXPECT_TRUE(top_key('x', view)) << "other keys are ignored";
  EXPECT_FALSE(top_key('q', view));
}

TEST(CliTop, TalkersFollowTheViewAndTCyclesTheirKind) {
  TopView view;
  EXPECT_EQ(top_talkers_request(view),
            json::parse(R"({"cmd": "talkers", "by": "src", "verdict": "all", "top": 8})"));
  struct Step {
    int key;
    const char* by;
    const char* verdict;
  };
  const Step steps[] = {
      {'d', "src", "drop"},         {'t', "src_prefix", "drop"},  {'f', "src_prefix", "forward"},
      {'t', "dst_port", "forward"}, {'s', "dst_port", "forward"}, {'t', "rule", "forward"},
      {'a', "rule", "all"},         {'t', "src", "all"},          {'t', "src_prefix", "all"},
  };
  for (const Step& step : steps) {
    ASSERT_TRUE(top_key(step.key, view));
    const json request = top_talkers_request(view);
    EXPECT_EQ(request["by"], step.by) << static_cast<char>(step.key);
    EXPECT_EQ(request["verdict"], step.verdict) << static_cast<char>(step.key);
    EXPECT_EQ(request["top"], kTopTalkers);
  }
}

TEST(CliTop, OptionsAreCheckedWithClearErrors) {
  const auto parse = [](std::vector<std::string> args) { return parse_top(args); };
  const TopOptions options = parse({"--once", "--interval", "5", "--rules", "40"});
  EXPECT_TRUE(options.once);
  EXPECT_EQ(options.interval, std::chrono::seconds(5));
  EXPECT_EQ(options.rules, 40U);
  const auto error = [&](std::vector<std::string> args) {
    try {
      (void)parse(std::move(args));
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error({"--interval", "0"}), "top: --interval: whole seconds from 1 to 3600, got '0'");
  EXPECT_EQ(error({"--rules", "1001"}), "top: --rules: a number from 1 to 1000, got '1001'");
  EXPECT_EQ(error({"--bogus"}), "top: unknown option '--bogus'");
}

}  // namespace
}  // namespace udpsieve::cli
