// udpsievectl top's pure half: the frame drawn from stats and rules replies (rates, drop
// reasons, ports, rules of the view), the keys, the rules request per view, and top's options.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
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
  const std::vector<std::string> lines = top_frame(kStats, kRules, TopView{}, 20);
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
  std::vector<std::string> lines = top_frame(kStats, kRules, view, 20);
  EXPECT_TRUE(has_line_starting(lines, "ntp-flood ")) << joined(lines);
  EXPECT_TRUE(has_line_starting(lines, "dns ")) << "a rate limit drops too";
  EXPECT_FALSE(has_line_starting(lines, "web ")) << joined(lines);
  ASSERT_TRUE(top_key('f', view));
  lines = top_frame(kStats, kRules, view, 20);
  EXPECT_FALSE(has_line_starting(lines, "ntp-flood ")) << joined(lines);
  EXPECT_TRUE(has_line_starting(lines, "dns ")) << "a rate limit forwards too";
  EXPECT_TRUE(has_line_starting(lines, "web ")) << joined(lines);
  ASSERT_TRUE(top_key('a', view));
  lines = top_frame(kStats, kRules, view, 1);
  EXPECT_TRUE(has_line_starting(lines, "ntp-flood ")) << joined(lines);
  EXPECT_FALSE(has_line_starting(lines, "dns ")) << "one row asked for";
  lines = top_frame(kStats, json::parse(R"({"rules": []})"), view, 20);
  EXPECT_EQ(lines.back(), "(no all rules)");
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
