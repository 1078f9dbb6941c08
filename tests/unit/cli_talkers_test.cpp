// udpsievectl talkers without a daemon: the request its options make, the usage errors of bad
// ones, and the text a reply becomes for each kind of talker.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "udpsieve/cli/args.hpp"
#include "udpsieve/cli/command_line.hpp"
#include "udpsieve/cli/render.hpp"
#include "udpsieve/common/protocol.hpp"

namespace {

using nlohmann::json;
namespace cli = udpsieve::cli;
namespace protocol = udpsieve::protocol;

cli::Request request_for(const std::vector<std::string>& args) {
  const cli::Invocation invocation = cli::parse_command_line(args, "/run/test.sock");
  return cli::build_request(invocation, [] { return std::string(); });
}

/// The usage error `args` give, or "(no error)"; `words` gets the usage it names.
std::string usage_error(const std::vector<std::string>& args, std::string* words = nullptr) {
  try {
    (void)request_for(args);
  } catch (const cli::UsageError& e) {
    if (words != nullptr) *words = e.words();
    return e.what();
  }
  return "(no error)";
}

// --- requests -----------------------------------------------------------------------------------

TEST(CliTalkers, RequestHoldsOnlyTheOptionsGiven) {
  struct Case {
    std::vector<std::string> args;
    const char* body;
  };
  const Case cases[] = {
      {{"talkers"}, R"({"cmd": "talkers"})"},
      {{"talkers", "--by", "src"}, R"({"cmd": "talkers", "by": "src"})"},
      {{"talkers", "--by", "src_prefix"}, R"({"cmd": "talkers", "by": "src_prefix"})"},
      {{"talkers", "--by=dst_port"}, R"({"cmd": "talkers", "by": "dst_port"})"},
      {{"talkers", "--by", "rule"}, R"({"cmd": "talkers", "by": "rule"})"},
      {{"talkers", "--verdict", "drop"}, R"({"cmd": "talkers", "verdict": "drop"})"},
      {{"talkers", "--verdict", "forward"}, R"({"cmd": "talkers", "verdict": "forward"})"},
      {{"talkers", "--verdict=all"}, R"({"cmd": "talkers", "verdict": "all"})"},
      {{"talkers", "--top", "1"}, R"({"cmd": "talkers", "top": 1})"},
      {{"talkers", "--top=64"}, R"({"cmd": "talkers", "top": 64})"},
      {{"talkers", "--top", "5", "--verdict", "drop", "--by", "src_prefix"},
       R"({"cmd": "talkers", "by": "src_prefix", "verdict": "drop", "top": 5})"},
      // Global options mix in and stay out of the request.
      {{"--json", "talkers", "--by", "rule", "--timeout", "2"},
       R"({"cmd": "talkers", "by": "rule"})"},
  };
  for (const Case& c : cases) {
    const cli::Request request = request_for(c.args);
    EXPECT_EQ(request.body, json::parse(c.body)) << c.body;
    EXPECT_EQ(request.command, "talkers");
  }
  EXPECT_EQ(request_for({"talkers"}).timeout, std::chrono::seconds(5));
  // Every kind and verdict the protocol declares is accepted.
  for (std::string_view kind : protocol::kTalkerKinds) {
    EXPECT_EQ(request_for({"talkers", "--by", std::string(kind)}).body["by"], kind);
  }
  for (std::string_view verdict : protocol::kTalkerVerdicts) {
    EXPECT_EQ(request_for({"talkers", "--verdict", std::string(verdict)}).body["verdict"], verdict);
  }
}

TEST(CliTalkers, BadOptionsAreUsageErrors) {
  struct Case {
    std::vector<std::string> args;
    const char* error;
  };
  const Case cases[] = {
      {{"talkers", "--by", "dst"}, "talkers: --by: src, src_prefix, dst_port or rule, got 'dst'"},
      {{"talkers", "--by="}, "talkers: --by: src, src_prefix, dst_port or rule, got ''"},
      {{"talkers", "--by", "SRC"}, "talkers: --by: src, src_prefix, dst_port or rule, got 'SRC'"},
      {{"talkers", "--verdict", "dropped"},
       "talkers: --verdict: drop, forward or all, got 'dropped'"},
      {{"talkers", "--top", "0"}, "talkers: --top: a number from 1 to 64, got '0'"},
      {{"talkers", "--top", "65"}, "talkers: --top: a number from 1 to 64, got '65'"},
      {{"talkers", "--top", "ten"}, "talkers: --top: a number from 1 to 64, got 'ten'"},
      {{"talkers", "--top", "-1"}, "talkers: --top: a number from 1 to 64, got '-1'"},
      {{"talkers", "--top", "5x"}, "talkers: --top: a number from 1 to 64, got '5x'"},
      {{"talkers", "--top"}, "talkers: --top needs a value"},
      {{"talkers", "--by"}, "talkers: --by needs a value"},
      {{"talkers", "10.0.0.1"}, "talkers: unexpected argument '10.0.0.1'"},
      {{"talkers", "--limit", "5"}, "talkers: unknown option '--limit'"},
      // The same checks serve rules' --by.
      {{"rules", "--top", "5", "--by", "bytes"},
       "rules: --by: packets, rate or rate_10s, got 'bytes'"},
  };
  for (const Case& c : cases) {
    std::string words;
    EXPECT_EQ(usage_error(c.args, &words), c.error);
    EXPECT_EQ(words, c.args.front()) << "the usage shown is the command's: " << c.error;
  }
  EXPECT_EQ(cli::usage_text("talkers"),
            "usage: udpsievectl talkers [--by src|src_prefix|dst_port|rule] "
            "[--verdict drop|forward|all] [--top N]\n"
            "(udpsievectl --help lists every command and option)\n");
}

TEST(CliTalkers, TheDaemonsErrorIsShownAsItCame) {
  const std::string off = "talkers are off (pipeline.talker_sampling is 0)";
  EXPECT_EQ(cli::explain_error(request_for({"talkers"}), off), off);
}

// --- replies ------------------------------------------------------------------------------------

TEST(CliTalkers, RepliesBecomeAHeadingAndATableForEachKind) {
  struct Case {
    const char* what;
    const char* reply;
    const char* text;
  };
  const Case cases[] = {
      {"addresses, IPv4 and IPv6, keys left-aligned", R"({"by": "src", "verdict": "all",
        "window_s": 9.97, "sampling": 16, "max_sample_rate": 100000,
        "effective_sampling": 16.2, "sampled": 623411, "pps": 1234567.8, "talkers": [
        {"key": "198.51.100.7", "pps": 24000.5, "error_pps": 120.0, "share": 0.0194},
        {"key": "2001:db8::1", "pps": 950.0, "error_pps": 12.4, "share": 0.00077}]})",
       "talkers by src, all packets, last 9.97 s (1 in 16 sampled, 623,411 samples): 1.23 Mpps\n"
       "#  src           pps     +/-  share %\n"
       "1  198.51.100.7  24.0 k  120      1.9\n"
       "2  2001:db8::1      950   12      0.1\n"},
      {"prefixes of dropped packets", R"({"by": "src_prefix", "verdict": "drop",
        "window_s": 10, "sampling": 1, "sampled": 999, "pps": 99.9, "talkers": [
        {"key": "198.51.100.0/24", "pps": 80.0, "error_pps": 0.0, "share": 0.8008},
        {"key": "2001:db8:1::/48", "pps": 19.9, "error_pps": 0.0, "share": 0.1992}]})",
       "talkers by src_prefix, dropped packets, last 10 s (every packet sampled, 999 samples): "
       "100 pps\n"
       "#  src_prefix       pps  +/-  share %\n"
       "1  198.51.100.0/24   80    0     80.1\n"
       "2  2001:db8:1::/48   20    0     19.9\n"},
      {"destination ports of forwarded packets", R"({"by": "dst_port", "verdict": "forward",
        "window_s": 9.5, "sampling": 16, "max_sample_rate": 100000,
        "effective_sampling": 1999.6, "sampled": 1234, "pps": 2.5e9, "talkers": [
        {"key": "53", "pps": 2.0e9, "error_pps": 1.5e6, "share": 0.8},
        {"key": "123", "pps": 4.0e8, "error_pps": 1.5e6, "share": 0.16}]})",
       "talkers by dst_port, forwarded packets, last 9.5 s (1 in ~2,000 sampled, capped at "
       "100,000/s per worker, 1,234 samples): 2.50 Gpps\n"
       "#  dst_port  pps       +/-     share %\n"
       "1  53          2.00 G  1.50 M     80.0\n"
       "2  123       400.00 M  1.50 M     16.0\n"},
      {"rules with their source, no rule and a removed one", R"j({"by": "rule", "verdict": "all",
        "window_s": 9.99, "sampling": 16, "sampled": 5000, "pps": 8000.0, "talkers": [
        {"key": "ntp-flood", "source": "bgp", "pps": 6000.0, "error_pps": 50.0, "share": 0.75},
        {"key": "(no rule)", "source": "default", "pps": 1500.0, "error_pps": 50.0,
         "share": 0.1875},
        {"key": "dns", "source": "file", "pps": 400.0, "error_pps": 50.0, "share": 0.05},
        {"key": "(removed rule)", "pps": 100.0, "error_pps": 50.0, "share": 0.0125}]})j",
       "talkers by rule, all packets, last 9.99 s (1 in 16 sampled, 5,000 samples): 8.0 kpps\n"
       "#  rule            source   pps    +/-  share %\n"
       "1  ntp-flood       bgp      6.0 k   50     75.0\n"
       "2  (no rule)       default  1.5 k   50     18.8\n"
       "3  dns             file       400   50      5.0\n"
       "4  (removed rule)  -          100   50      1.2\n"},
      {"no traffic: an empty list", R"({"by": "src", "verdict": "drop", "window_s": 9.98,
        "sampling": 16, "sampled": 0, "pps": 0.0, "talkers": []})",
       "talkers by src, dropped packets, last 9.98 s (1 in 16 sampled, 0 samples): 0 pps\n"
       "(no packets were sampled in the window)\n"},
      {"a talker without share", R"({"by": "src", "verdict": "all", "window_s": 1,
        "sampling": 2, "sampled": 1000000, "pps": 0.0, "talkers": [
        {"key": "192.0.2.1", "pps": 2.0, "error_pps": 1.0}]})",
       "talkers by src, all packets, last 1 s (1 in 2 sampled, 1,000,000 samples): 0 pps\n"
       "#  src        pps  +/-  share %\n"
       "1  192.0.2.1    2    1        -\n"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(cli::render("talkers", json::parse(c.reply)), c.text) << c.what;
  }
}

TEST(CliTalkers, AReplyOfAnotherShapeIsShownAsJson) {
  const json odd = {{"by", "src"}, {"talkers", 7}};
  EXPECT_EQ(cli::render("talkers", odd), odd.dump(2) + "\n");
  const json none = {{"by", "src"}};
  EXPECT_EQ(cli::render("talkers", none), none.dump(2) + "\n");
}

TEST(CliTalkers, HeadingOfARequestNamesOnlyKindAndVerdict) {
  EXPECT_EQ(cli::talkers_heading(json::parse(R"({"cmd": "talkers", "by": "rule",
      "verdict": "forward", "top": 8})")),
            "talkers by rule, forwarded packets");
}

}  // namespace
