// udpsievectl's runtime-rule commands without a daemon: the requests `rule add`, `rule del`,
// `rule list` / `rules` and `block` send, the text their replies become, and the daemon's rule
// errors placed in the operator's rule file.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"
#include "udpsieve/cli/args.hpp"
#include "udpsieve/cli/command_line.hpp"
#include "udpsieve/cli/render.hpp"
#include "udpsieve/cli/rule_commands.hpp"
#include "udpsieve/common/config_error.hpp"
#include "udpsieve/common/yaml_node.hpp"

namespace {

using nlohmann::json;
namespace cli = udpsieve::cli;

constexpr const char* kRuleFile =
    "rules:\n"                        // 1
    "  - id: dns-amp\n"               // 2
    "    match: {src: 10.0.0.0/8}\n"  // 3
    "    action: drop\n"              // 4
    "  - id: ntp\n"                   // 5
    "    match:\n"                    // 6
    "      dst_port: [123, 99999]\n"  // 7
    "      src_port: 123\n"           // 8
    "    action: {forward: lan}\n";   // 9

/// The request udpsievectl would send for `args`, reading `stdin_text` for `-`.
cli::Request request_for(const std::vector<std::string>& args,
                         const std::string& stdin_text = kRuleFile) {
  const cli::Invocation invocation = cli::parse_command_line(args, "/run/test.sock");
  return cli::build_request(invocation, [&] { return stdin_text; });
}

/// The usage error `args` give, or "(no error)".
std::string usage_error(const std::vector<std::string>& args) {
  try {
    (void)request_for(args);
  } catch (const cli::UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

/// The rule-file error `text` gives as `rule add -`, or "(no error)".
std::string file_error(const std::string& text) {
  return udpsieve::test::config_error_of([&] { (void)request_for({"rule", "add", "-"}, text); });
}

std::chrono::system_clock::time_point at(int64_t unix_seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds));
}

// --- requests -----------------------------------------------------------------------------------

TEST(CliRuleAdd, SendsTheFilesRulesAsJson) {
  const cli::Request request = request_for({"rule", "add", "-"});
  EXPECT_EQ(request.command, "rule-add");
  EXPECT_EQ(request.words, "rule add");
  EXPECT_EQ(request.body, json::parse(R"({"cmd": "rule-add", "rules": [
      {"id": "dns-amp", "match": {"src": "10.0.0.0/8"}, "action": "drop"},
      {"id": "ntp", "match": {"dst_port": [123, 99999], "src_port": 123},
       "action": {"forward": "lan"}}]})"));
  EXPECT_EQ(request.timeout, std::chrono::seconds(60));
  ASSERT_TRUE(request.rule_file.has_value());
  EXPECT_EQ(request.rule_file->entries.size(), 2U);
}

TEST(CliRuleAdd, TtlAndReplace) {
  const json body = request_for({"rule", "add", "--ttl", "2h", "--replace", "-"}).body;
  EXPECT_EQ(body["ttl_s"], 7200);
  EXPECT_EQ(body["replace"], true);
  EXPECT_EQ(request_for({"rule", "add", "--ttl=90", "-"}).body["ttl_s"], 90);
  EXPECT_FALSE(request_for({"rule", "add", "-"}).body.contains("ttl_s"));
  EXPECT_FALSE(request_for({"rule", "add", "-"}).body.contains("replace"));
}

TEST(CliRuleAdd, ReadsAFileByPath) {
  udpsieve::test::TempDir dir;
  const std::string path = dir.write("r.yaml", kRuleFile);
  const cli::Request request = request_for({"rule", "add", path});
  EXPECT_EQ(request.body["rules"].size(), 2U);
  EXPECT_EQ(request.rule_file->entries[1].location().to_string(), path + ":5:5");
  EXPECT_EQ(udpsieve::test::config_error_of([&] {
              (void)request_for({"rule", "add", dir.file("none.yaml")});
            }).rfind(dir.file("none.yaml") + ": ", 0),
            0U);
}

TEST(CliRuleAdd, ChecksTheFileHoldsARulesList) {
  EXPECT_EQ(file_error("- a\n"),
            "<stdin>:1:1: a rule file must be a mapping with the key 'rules', got a list");
  EXPECT_EQ(file_error("rules: []\nextra: 1\n"),
            "<stdin>:2:1: extra: unknown key (expected one of: rules)");
  EXPECT_EQ(file_error("rules: {id: x}\n"),
            "<stdin>:1:8: rules: expected a list of rules, got a mapping");
  EXPECT_EQ(file_error("rules: []\n"),
            "<stdin>:1:8: rules: the list is empty; there are no rules to add");
  EXPECT_EQ(file_error("rules:\n"), "<stdin>:1:1: rules: missing or empty; give a list of rules");
  EXPECT_NE(file_error("").find("holds no rules"), std::string::npos);
  EXPECT_NE(file_error("rules: [\n").rfind("<stdin>:", 0), std::string::npos);
}

TEST(CliRuleDel, IdsAndMissingOk) {
  const cli::Request request = request_for({"rule", "del", "a", "b"});
  EXPECT_EQ(request.body, json::parse(R"({"cmd": "rule-del", "ids": ["a", "b"]})"));
  EXPECT_EQ(request.timeout, std::chrono::seconds(60));
  EXPECT_EQ(request_for({"rule", "del", "--missing-ok", "a"}).body,
            json::parse(R"({"cmd": "rule-del", "ids": ["a"], "missing_ok": true})"));
  // After `--` an id may start with a dash.
  EXPECT_EQ(request_for({"rule", "del", "--", "-odd"}).body["ids"], json::array({"-odd"}));
}

TEST(CliRules, BothFormsWithAndWithoutSource) {
  for (const std::vector<std::string>& words :
       {std::vector<std::string>{"rules"}, std::vector<std::string>{"rule", "list"}}) {
    const cli::Request plain = request_for(words);
    EXPECT_EQ(plain.command, "rules");
    EXPECT_EQ(plain.body, json::parse(R"({"cmd": "rules"})"));
    EXPECT_EQ(plain.timeout, std::chrono::seconds(5));
    std::vector<std::string> with_source = words;
    with_source.insert(with_source.end(), {"--source", "api"});
    EXPECT_EQ(request_for(with_source).body, json::parse(R"({"cmd": "rules", "source": "api"})"));
  }
  EXPECT_EQ(request_for({"rules", "--source=bgp"}).body["source"], "bgp");
}

TEST(CliField, PathsByKeyPositionIdOrName) {
  const json reply = json::parse(R"({
    "totals": {"rx_packets": 10, "drops": {"rule": 3}},
    "ports": [{"name": "wan", "rx_packets": 7}, {"name": "lan", "rx_packets": 2}],
    "rules": [{"id": "ssdp-rl", "passed": 4}, {"id": "a.b", "packets": 1},
              {"id": "a", "packets": 9}]
  })");
  EXPECT_EQ(cli::reply_field(reply, "totals.drops.rule"), json(3));
  EXPECT_EQ(cli::reply_field(reply, "ports.1.rx_packets"), json(2));
  EXPECT_EQ(cli::reply_field(reply, "ports.wan.rx_packets"), json(7));
  EXPECT_EQ(cli::reply_field(reply, "rules.ssdp-rl.passed"), json(4));
  EXPECT_EQ(cli::reply_field(reply, "rules.a.b.packets"), json(1));  // the longest id that fits
  EXPECT_EQ(cli::reply_field(reply, "rules.a.packets"), json(9));
  EXPECT_EQ(cli::reply_field(reply, "ports.lan"), reply["ports"][1]);
  EXPECT_FALSE(cli::reply_field(reply, "ports.dmz.rx_packets"));
  EXPECT_FALSE(cli::reply_field(reply, "ports.7"));
  EXPECT_FALSE(cli::reply_field(reply, "totals.rx_packets.more"));
  EXPECT_FALSE(cli::reply_field(reply, "nothing"));
  EXPECT_EQ(usage_error({"stats", "--field", ""}),
            "--field needs a path (totals.rx_packets, rules.ID.packets, ...)");
  EXPECT_EQ(usage_error({"stats", "--json", "--field", "totals"}),
            "--json and --field exclude each other: --json prints the whole reply");
  EXPECT_EQ(usage_error({"capture", "--verdict", "drop", "--out", "x.pcapng", "--field", "a"}),
            "capture writes its packets to a file; --field is not offered");
}

TEST(CliRules, FiltersAndPages) {
  EXPECT_EQ(request_for({"rules", "--id", "dns", "--limit", "10", "--offset", "20"}).body,
            json::parse(R"({"cmd": "rules", "id": "dns", "limit": 10, "offset": 20})"));
  // --top N is one reply of the N busiest.
  EXPECT_EQ(request_for({"rule", "list", "--top", "5"}).body,
            json::parse(R"({"cmd": "rules", "top": 5, "limit": 5})"));
  EXPECT_EQ(request_for({"rules", "--top", "5", "--limit", "2"}).body,
            json::parse(R"({"cmd": "rules", "top": 5, "limit": 2})"));
  EXPECT_EQ(usage_error({"rules", "--limit", "0"}),
            "rules: --limit: a number from 1 to 10000, got '0'");
  EXPECT_EQ(usage_error({"rules", "--top", "10001"}),
            "rules: --top: a number from 1 to 10000, got '10001'");
  EXPECT_EQ(usage_error({"rules", "--offset", "-1"}),
            "rules: --offset: a number from 0 to 4294967295, got '-1'");
  EXPECT_EQ(usage_error({"rules", "--id", ""}), "rules: --id: a rule id is required");
}

TEST(CliBlock, OneDropRuleWithTheGivenId) {
  cli::BlockOptions options = cli::parse_block(std::vector<std::string>{
      "203.0.113.7", "2001:db8::/32", "--dst-port", "53", "--ttl", "10m", "--id", "incident-42"});
  EXPECT_EQ(cli::block_request(options, at(0), 0), json::parse(R"({"cmd": "rule-add",
      "rules": [{"id": "incident-42",
                 "match": {"src": ["203.0.113.7", "2001:db8::/32"], "dst_port": 53},
                 "action": "drop"}],
      "ttl_s": 600})"));
  // Without --dst-port and --ttl: any port, permanent.
  options = cli::parse_block(std::vector<std::string>{"198.51.100.0/24"});
  const json body = cli::block_request(options, at(1796416800), 0xbeef);
  EXPECT_EQ(body["rules"][0]["match"], json::parse(R"({"src": ["198.51.100.0/24"]})"));
  EXPECT_FALSE(body.contains("ttl_s"));
  EXPECT_FALSE(body.contains("replace"));
  // A port range goes as the text a rule file would hold.
  options = cli::parse_block(std::vector<std::string>{"10.1.2.3", "--dst-port=1024-65535"});
  EXPECT_EQ(cli::block_request(options, at(0), 0)["rules"][0]["match"]["dst_port"], "1024-65535");
}

TEST(CliBlock, GeneratedIdIsUtcTimeAndFourHexDigits) {
  EXPECT_EQ(cli::block_id(at(1796416800), 0xbeef), "block-20261204T204000Z-beef");
  EXPECT_EQ(cli::block_id(at(0), 0x000a), "block-19700101T000000Z-000a");
  const cli::Request request = request_for({"block", "203.0.113.7", "--ttl", "1h"});
  EXPECT_EQ(request.command, "rule-add");
  EXPECT_EQ(request.timeout, std::chrono::seconds(60));
  const json& rule = request.body["rules"][0];
  const std::string id = rule["id"];
  EXPECT_TRUE(std::regex_match(id, std::regex("block-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4}"))) << id;
  EXPECT_LE(id.size(), 64U);
  EXPECT_EQ(rule["match"], json::parse(R"({"src": ["203.0.113.7"]})"));
  EXPECT_EQ(rule["action"], "drop");
  EXPECT_EQ(request.body["ttl_s"], 3600);
}

TEST(CliCommandLine, OtherCommandsAndTimeouts) {
  EXPECT_EQ(request_for({"stats"}).body, json::parse(R"({"cmd": "stats"})"));
  EXPECT_EQ(request_for({"stats"}).timeout, std::chrono::seconds(5));
  EXPECT_EQ(request_for({"reload"}).timeout, std::chrono::minutes(5));
  const cli::Request capture =
      request_for({"capture", "--rule", "dns", "--timeout", "20", "--out", "x.pcapng"});
  EXPECT_EQ(capture.body["timeout_ms"], 20000);
  EXPECT_EQ(capture.timeout, std::chrono::seconds(50));
  EXPECT_EQ(capture.capture.out, "x.pcapng");
  // --timeout overrides every default; before capture it is the global one.
  EXPECT_EQ(request_for({"--timeout", "7", "rule", "del", "a"}).timeout, std::chrono::seconds(7));
  EXPECT_EQ(request_for({"rule", "del", "a", "--timeout=900"}).timeout, std::chrono::seconds(900));
  EXPECT_EQ(request_for({"--timeout", "3", "capture", "--verdict", "drop", "--out", "x"}).timeout,
            std::chrono::seconds(3));
}

TEST(CliCommandLine, GlobalOptionsAnywhere) {
  const cli::Invocation invocation = cli::parse_command_line(
      std::vector<std::string>{"block", "10.0.0.1", "--json", "--socket", "/s"}, "/default.sock");
  EXPECT_EQ(invocation.words, "block");
  EXPECT_EQ(invocation.command->name, "rule-add");
  EXPECT_TRUE(invocation.json_output);
  EXPECT_EQ(invocation.socket_path, "/s");
  EXPECT_EQ(invocation.args, std::vector<std::string>{"10.0.0.1"});
  EXPECT_EQ(cli::parse_command_line(
                std::vector<std::string>{"block", "10.0.0.1", "--field", "added.0"}, "/s")
                .field,
            "added.0");
  EXPECT_TRUE(cli::parse_command_line(std::vector<std::string>{"--help"}, "/s").help);
  EXPECT_TRUE(cli::parse_command_line(std::vector<std::string>{"rule", "add", "-h"}, "/s").help);
}

TEST(CliCommandLine, UsageErrors) {
  EXPECT_EQ(usage_error({}), "a command is required");
  EXPECT_EQ(usage_error({"frobnicate"}), "unknown command 'frobnicate'");
  EXPECT_EQ(usage_error({"rule"}), "'rule' needs one of: list, add, del");
  EXPECT_EQ(usage_error({"rule", "sync"}), "'rule' needs one of: list, add, del (not 'sync')");
  EXPECT_EQ(usage_error({"--bogus", "stats"}), "unknown option '--bogus'");
  EXPECT_EQ(usage_error({"stats", "--bogus"}), "stats: unknown option '--bogus'");
  EXPECT_EQ(usage_error({"stats", "extra"}), "stats: unexpected argument 'extra'");
  EXPECT_EQ(usage_error({"--timeout", "0", "stats"}),
            "--timeout: '0' is not a whole number of seconds from 1 to 86400");
  EXPECT_EQ(usage_error({"stats", "--timeout"}), "--timeout needs a value");

  EXPECT_EQ(usage_error({"block"}),
            "block: the source prefixes to block are required (PREFIX..., like 203.0.113.7 or "
            "2001:db8::/32)");
  EXPECT_EQ(usage_error({"block", "--ttl", "1h"}).rfind("block: the source prefixes", 0), 0U);
  EXPECT_EQ(usage_error({"block", "10.0.0.1", "--ttl", "0"}),
            "block: --ttl: '0' is zero; a duration is at least 1s");
  EXPECT_EQ(usage_error({"block", "10.0.0.1", "--ttl", "soon"})
                .rfind("block: --ttl: 'soon' is not a duration", 0),
            0U);
  EXPECT_EQ(usage_error({"block", "10.0.0.1", "--ttl"}), "block: --ttl needs a value");
  EXPECT_EQ(usage_error({"block", "10.0.0.1", "--dst-port", "http"}),
            "block: --dst-port: 'http' is not a port (0-65535) or a port range like 1024-65535");
  EXPECT_EQ(usage_error({"block", "10.0.0.1", "--dst-port", "90-80"}).rfind("block: --dst-port", 0),
            0U);
  EXPECT_EQ(usage_error({"block", "10.0.0.1", "--id", ""}), "block: --id: an id is required");
  EXPECT_EQ(usage_error({"block", "10.0.0.1", "--force"}), "block: unknown option '--force'");

  EXPECT_EQ(usage_error({"rule", "add"}),
            "rule add: a rule file is required (FILE, or - for stdin)");
  EXPECT_EQ(usage_error({"rule", "add", "rules.yaml", "-"}),
            "rule add: one rule file (FILE, or - for stdin), not 2: 'rules.yaml', '-'");
  EXPECT_EQ(usage_error({"rule", "add", "--force", "-"}), "rule add: unknown option '--force'");
  EXPECT_EQ(usage_error({"rule", "add", "--replace=yes", "-"}),
            "rule add: --replace takes no value");
  EXPECT_EQ(usage_error({"rule", "add", "--ttl", "400d", "-"}),
            "rule add: --ttl: '400d' is longer than 365 days");
  EXPECT_EQ(usage_error({"rule", "del"}),
            "rule del: the ids of the rules to delete are required (ID...)");
  EXPECT_EQ(usage_error({"rule", "del", "--missing-ok"}),
            "rule del: the ids of the rules to delete are required (ID...)");
  EXPECT_EQ(usage_error({"rule", "list", "--source"}), "rule list: --source needs a value");
  EXPECT_EQ(usage_error({"rules", "api"}), "rules: unexpected argument 'api'");
}

TEST(CliCommandLine, UsageComesFromTheCommandTable) {
  const std::string usage = cli::usage_text();
  EXPECT_NE(usage.find(udpsieve::protocol::cli_commands_text()), std::string::npos);
  EXPECT_NE(usage.find("--timeout SECONDS"), std::string::npos);
  EXPECT_NE(usage.find("exit status:"), std::string::npos);
  EXPECT_EQ(cli::usage_text("rule"),
            "usage: udpsievectl rule list [--source S] [--id ID] [--top N [--by "
            "packets|rate|rate_10s]] [--limit N] [--offset N]\n"
            "       udpsievectl rule add [--ttl DURATION] [--replace] (FILE | -)\n"
            "       udpsievectl rule del [--missing-ok] ID...\n"
            "(udpsievectl --help lists every command and option)\n");
  EXPECT_EQ(cli::usage_text("block"),
            "usage: udpsievectl block PREFIX... [--dst-port P] [--ttl DURATION] [--id ID]\n"
            "(udpsievectl --help lists every command and option)\n");
  EXPECT_EQ(cli::usage_text(""), usage);
}

// --- the daemon's errors in the operator's file -------------------------------------------------

TEST(CliRuleErrors, KeyPathsAreLocatedInTheFile) {
  const cli::Request request = request_for({"rule", "add", "-"});
  EXPECT_EQ(
      cli::explain_error(request, "rules[1].match.dst_port[1]: 99999 is out of range 0-65535"),
      "<stdin>:7:23: rules[1].match.dst_port[1]: 99999 is out of range 0-65535");
  EXPECT_EQ(cli::explain_error(request, "rules[1].match.dst_port[0]: bad"),
            "<stdin>:7:18: rules[1].match.dst_port[0]: bad");
  // A single value where a list may stand is element 0 of it.
  EXPECT_EQ(cli::explain_error(request, "rules[1].match.src_port[0]: bad"),
            "<stdin>:8:17: rules[1].match.src_port[0]: bad");
  // As far as the file has the path: a key the daemon names but the file lacks.
  EXPECT_EQ(cli::explain_error(request, "rules[0].match.dst: required"),
            "<stdin>:3:12: rules[0].match.dst: required");
  EXPECT_EQ(cli::explain_error(request, "rules[1]: duplicate id"),
            "<stdin>:5:5: rules[1]: duplicate id");
  EXPECT_EQ(cli::explain_error(request, "rules[1].action.forward: unknown port \"lan\""),
            "<stdin>:9:23: rules[1].action.forward: unknown port \"lan\"");
  // Not about one of the file's rules: unchanged.
  for (const char* other :
       {"rules[2].id: no such rule", "rules[x]: odd", "rule-add: busy", "the rule table is full"}) {
    EXPECT_EQ(cli::explain_error(request, other), other);
  }
  // As the daemon words it: after "refused, nothing changed: ".
  EXPECT_EQ(cli::explain_error(request,
                               "rule-add refused, nothing changed: "
                               "rules[1].match.dst_port[0]: bad"),
            "rule-add refused, nothing changed: <stdin>:7:18: rules[1].match.dst_port[0]: bad");
  // Hints about request fields name the options instead.
  EXPECT_EQ(cli::explain_error(request_for({"rule", "del", "x"}),
                               "rule-del refused, nothing changed: ids[0]: no runtime rule \"x\" "
                               "(send \"missing_ok\": true to ignore ids that are gone)"),
            "rule-del refused, nothing changed: ids[0]: no runtime rule \"x\" (use --missing-ok "
            "to ignore ids that are gone)");
  // block has no --replace: another id, or a delete first.
  EXPECT_EQ(cli::explain_error(request_for({"block", "10.0.0.0/8", "--id", "x"}),
                               "rule-add refused, nothing changed: rules[0].id: runtime rule \"x\" "
                               "exists (source api); send \"replace\": true to replace it"),
            "rule-add refused, nothing changed: rules[0].id: runtime rule \"x\" exists (source "
            "api); give another --id, or delete it first (udpsievectl rule del ID)");
  // Other commands keep the daemon's text.
  EXPECT_EQ(cli::explain_error(request_for({"block", "10.0.0.300"}),
                               "rules[0].match.src[0]: '10.0.0.300' is not an IPv4 or IPv6 prefix"),
            "rules[0].match.src[0]: '10.0.0.300' is not an IPv4 or IPv6 prefix");
}

// --- replies ------------------------------------------------------------------------------------

TEST(CliRuleReplies, AddAndDel) {
  EXPECT_EQ(cli::render("rule-add", json::parse(R"({"added": ["a", "b", "c"], "replaced": [],
      "expires_at": "2026-12-04T20:40:00Z", "expires_at_unix": 1796416800, "generation": 7,
      "apply_ms": 1.25})")),
            "added 3 rule(s): a, b, c; expires 2026-12-04T20:40:00Z (generation 7, applied in "
            "1.2 ms)\n");
  EXPECT_EQ(cli::render("rule-add", json::parse(R"({"added": ["a"], "replaced": ["b"],
      "expires_at": null, "expires_at_unix": null, "generation": 8, "apply_ms": 0.5})")),
            "added 1 rule(s): a; replaced 1 rule(s): b; permanent (generation 8, applied in 0.5 "
            "ms)\n");
  EXPECT_EQ(cli::render("rule-add", json::parse(R"({"added": [], "replaced": ["b"],
      "expires_at": null, "generation": 9, "apply_ms": 0.5})")),
            "replaced 1 rule(s): b; permanent (generation 9, applied in 0.5 ms)\n");
  json many = json::parse(R"({"added": [], "replaced": [], "expires_at": null, "generation": 1,
      "apply_ms": 2.0})");
  for (int i = 0; i < 12; ++i)
    many["added"].push_back("r" + std::to_string(i));
  EXPECT_EQ(cli::render("rule-add", many),
            "added 12 rule(s): r0, r1, r2, r3, r4, r5, r6, r7, r8, r9 (and 2 more); permanent "
            "(generation 1, applied in 2.0 ms)\n");

  EXPECT_EQ(cli::render("rule-del", json::parse(R"({"deleted": ["a", "b"], "missing": ["x"],
      "generation": 10, "apply_ms": 0.75})")),
            "deleted 2 rule(s): a, b; missing: x (generation 10, applied in 0.8 ms)\n");
  EXPECT_EQ(cli::render("rule-del", json::parse(R"({"deleted": [], "missing": [],
      "generation": 10, "apply_ms": 0.0})")),
            "deleted 0 rule(s) (generation 10, applied in 0.0 ms)\n");
}

TEST(CliRuleReplies, Block) {
  const json request = json::parse(R"({"cmd": "rule-add", "ttl_s": 600, "rules": [{"id": "b1",
      "match": {"src": ["203.0.113.7", "2001:db8::/32"], "dst_port": 53}, "action": "drop"}]})");
  EXPECT_EQ(cli::render_block(request, json::parse(R"({"added": ["b1"], "replaced": [],
      "expires_at": "2026-12-04T20:50:00Z", "generation": 3, "apply_ms": 1.0})")),
            "blocked b1: 203.0.113.7, 2001:db8::/32 dst_port 53 (expires 2026-12-04T20:50:00Z)\n");
  const json permanent = json::parse(R"({"cmd": "rule-add", "rules": [{"id": "b2",
      "match": {"src": ["198.51.100.0/24"]}, "action": "drop"}]})");
  EXPECT_EQ(cli::render_block(permanent, json::parse(R"({"added": ["b2"], "expires_at": null})")),
            "blocked b2: 198.51.100.0/24 (permanent)\n");
}

TEST(CliRuleReplies, RulesTableShowsSourceAndExpiryAndRates) {
  const json reply = json::parse(R"({
    "default_action": "forward", "non_udp": "drop", "generation": 8,
    "files": ["/etc/udpsieve/rules.yaml"],
    "dynamic": {"at": 1, "count": 2},
    "rules": [
      {"index": 0, "id": "drop-ntp", "source": "file", "location": "/etc/udpsieve/rules.yaml:3:5",
       "match": {"dst_port": [123]}, "action": "drop", "packets": 5, "bytes": 300,
       "rate_pps": 2500000.0, "rate_bps": 1.2e9, "rate_pps_10s": 1500.0},
      {"index": 1, "id": "block-x", "source": "api", "expires_in_s": 598.7,
       "match": {"src": ["203.0.113.0/24"]}, "action": "drop", "packets": 0, "bytes": 0,
       "rate_pps": 0.0, "rate_bps": 0.0, "rate_pps_10s": 0.0},
      {"index": 2, "id": "peer", "source": "bgp", "expires_in_s": null, "match": {},
       "action": "forward", "packets": 1, "bytes": 60}]})");
  EXPECT_EQ(
      cli::render("rules", reply),
      "default_action forward, non_udp drop, generation 8\n"
      "file /etc/udpsieve/rules.yaml\n"
      "runtime rules: 2, from #1 in first-match order\n"
      "\n"
      "#  id        source  expires  match               action   packets  pps     pps 10s  "
      "bytes  limited\n"
      "0  drop-ntp  file          -  dst_port=123        drop           5  2.50 M    1.5 k    "
      "300        -\n"
      "1  block-x   api     9m58s    src=203.0.113.0/24  drop           0       0        0      "
      "0        -\n"
      "2  peer      bgp           -  any                 forward        1       -        -     "
      "60        -\n");
  json none = reply;
  none["dynamic"] = {{"at", 1}, {"count", 0}};
  EXPECT_NE(cli::render("rules", none).find("runtime rules: none\n"), std::string::npos);
}

}  // namespace
