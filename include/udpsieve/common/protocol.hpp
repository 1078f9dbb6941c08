#pragma once
/// The control socket protocol, shared by the daemon and udpsievectl: every command declared
/// once, with its rights, its request fields, its udpsievectl forms and a line of help. The
/// daemon's request parser and rights check, udpsievectl's usage text and docs/protocol.md are
/// all made from kCommands.
///
/// Each request is one line holding a JSON object {"cmd": NAME, FIELD: VALUE, ...}; each reply
/// is one line holding a JSON object, or {"error": "..."} when the request could not be served.

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace udpsieve::protocol {

inline constexpr std::string_view kCommandKey = "cmd";
inline constexpr std::string_view kErrorKey = "error";

/// Who may send a command. `read`: anyone admitted to the socket (root, the daemon's user, the
/// members of control.socket_group). `admin`: root, the daemon's user and the members of
/// control.admin_group.
enum class Rights : uint8_t { read, admin };

/// One field of a request besides "cmd".
struct Field {
  std::string_view name;
  std::string_view type;  ///< as shown in docs: "string", "list of RULE", "integer", ...
  bool required;
  std::string_view help;
};

/// One way udpsievectl offers a command.
struct CliForm {
  std::string_view usage;  ///< the words after `udpsievectl`, with options
  std::string_view help;   ///< what it does, one or two short lines
};

struct Command {
  std::string_view name;
  Rights rights;
  std::span<const Field> fields;
  std::span<const CliForm> cli;  ///< empty: not offered by udpsievectl
  std::string_view help;         ///< one line for docs and error messages
};

/// Rules one `rules` reply holds at most (`limit`), and by default.
inline constexpr std::size_t kMaxRulesPage = 10000;
inline constexpr std::size_t kDefaultRulesPage = 1000;
/// Rules `stats` lists: the busiest, so its reply stays small whatever the rule count.
inline constexpr std::size_t kStatsRules = 20;
/// Rules with series of their own in the Prometheus exposition (the first in first-match
/// order); the others are counted in udpsieve_rules_without_series.
inline constexpr std::size_t kMetricsRules = 1000;

// --- fields and udpsievectl forms, one array per command ----------------------------------------

inline constexpr std::array<CliForm, 2> kStatsCli = {
    {{"stats", "counters: totals, drop reasons, ports, workers, rules, runtime rules"},
     {"top [--once] [--interval SECONDS] [--rules N]",
      "a live view, refreshed every second (--interval): rates, drop reasons, ports, the\n"
      "busiest rules by current rate, the heaviest talkers; keys s (sort), d, f, a (drop,\n"
      "forward, all rules and talkers), t (talkers by src, src_prefix, dst_port, rule), q;\n"
      "--once prints one frame (also what it prints when stdout is not a terminal)"}}};
inline constexpr std::array<CliForm, 1> kPortsCli = {
    {{"ports", "ports: device, driver, link, queues, counters"}}};
inline constexpr std::array<CliForm, 1> kWorkersCli = {
    {{"workers", "workers: lcore, queues, counters, polls"}}};
/// What a `rules` request's `top` ranks by (its `by` field), in RuleFilter::By's order: packets
/// since start, packets per second over the last second, over the last ten.
inline constexpr std::array<std::string_view, 3> kRuleRankings = {"packets", "rate", "rate_10s"};

inline constexpr std::array<Field, 6> kRulesFields = {{
    {"source", "string", false,
     "only the rules of this source: file, or a runtime source such as api or bgp"},
    {"id", "string", false, "only the rule with this id"},
    {"top", "integer", false,
     "the N busiest rules (1-10000), busiest first, instead of first-match order"},
    {"by", "packets | rate | rate_10s", false,
     "what top ranks by: packets since start (default), packets per second over the last "
     "second, or over the last ten"},
    {"limit", "integer", false,
     "rules in this reply, 1-10000 (default 1000); `next_offset` says where the next page starts"},
    {"offset", "integer", false, "skip this many of the selected rules (default 0)"},
}};
inline constexpr std::array<CliForm, 2> kRulesCli = {
    {{"rules [--source S] [--id ID] [--top N [--by packets|rate|rate_10s]] [--limit N] "
      "[--offset N]",
      "the rules in first-match order, with source, counters and rates (all of them, fetched\n"
      "a page at a time, unless --limit, --offset or --top ask for one page; --top N: the N\n"
      "busiest, by packets or by current rate)"},
     {"rule list [--source S] [--id ID] [--top N [--by packets|rate|rate_10s]] [--limit N] "
      "[--offset N]",
      "the same as rules"}}};
/// What a `talkers` request ranks (its `by` field), in dataplane::TalkerKind's order.
inline constexpr std::array<std::string_view, 4> kTalkerKinds = {"src", "src_prefix", "dst_port",
                                                                 "rule"};
/// Which packets' talkers (its `verdict` field): dropped, forwarded, or both.
inline constexpr std::array<std::string_view, 3> kTalkerVerdicts = {"drop", "forward", "all"};
/// Talkers a `talkers` reply lists at most (each worker ships this many per summary a second).
inline constexpr std::size_t kMaxTalkers = 64;
inline constexpr std::size_t kDefaultTalkers = 10;
/// The window a `talkers` reply covers.
inline constexpr unsigned kTalkerWindowSeconds = 10;

inline constexpr std::array<Field, 3> kTalkersFields = {{
    {"by", "src | src_prefix | dst_port | rule", false,
     "what to rank: source addresses (default), source prefixes (/24, /48), destination ports, "
     "or the rules that decided the packets"},
    {"verdict", "drop | forward | all", false,
     "the dropped packets, the forwarded ones, or both (default)"},
    {"top", "integer", false, "talkers to list, 1-64 (default 10)"},
}};
inline constexpr std::array<CliForm, 1> kTalkersCli = {
    {{"talkers [--by src|src_prefix|dst_port|rule] [--verdict drop|forward|all] [--top N]",
      "the heaviest talkers over the last 10 s, estimated from sampled packets\n"
      "(pipeline.talker_sampling): packets per second, the estimate's error bound, share"}}};
inline constexpr std::array<CliForm, 1> kVersionCli = {{{"version", "daemon and DPDK versions"}}};
inline constexpr std::array<CliForm, 1> kSteeringCli = {
    {{"steering",
      "flow rules in the NICs: per port, rte_flow support and each drop or steering rule's fate"}}};
inline constexpr std::array<CliForm, 1> kMetricsCli = {
    {{"metrics", "the Prometheus text exposition (as served by control.metrics_listen)"}}};
inline constexpr std::array<CliForm, 1> kReloadCli = {
    {{"reload",
      "re-read the configuration and rule files and swap them in without losing a packet;\n"
      "runtime rules stay (exit 1 when refused; the running rules stay in effect)"}}};
inline constexpr std::array<Field, 1> kCheckFields = {
    {{"files", "list of {name, text} or string", true,
      "the rule files to check: their contents (`text`, YAML) under the names errors should "
      "use, or paths the daemon reads itself (it must be able to see them)"}}};
inline constexpr std::array<CliForm, 1> kCheckCli = {
    {{"check FILE...",
      "validate and compile rule files against the running daemon's ports without applying\n"
      "them; warns about rules that can never match"}}};
inline constexpr std::array<Field, 5> kCaptureFields = {{
    {"rule", "string", false, "capture the packets this rule decides (or give verdict)"},
    {"verdict", "drop | forward", false, "capture the packets given this verdict"},
    {"count", "integer", false, "packets to capture, 1-10000 (default 100)"},
    {"timeout_ms", "integer", false, "answer after this long at most (default 10000)"},
    {"snaplen", "integer", false, "bytes kept of each packet (default 2048)"},
}};
inline constexpr std::array<CliForm, 1> kCaptureCli = {
    {{"capture (--rule ID | --verdict drop|forward) --out FILE.pcapng [--count N]\n"
      "        [--timeout SECONDS] [--snaplen BYTES]",
      "sample packets the workers decide, as they are decided, into a pcapng file; each\n"
      "packet's comment names its rule and verdict (defaults: 100 packets, 10 s, 2048 bytes;\n"
      "at most 10000 packets, 300 s)"}}};
inline constexpr std::array<Field, 4> kRuleAddFields = {{
    {"rules", "list of RULE", true,
     "rules as in a rule file: {id, match, action, note}; all are added or none"},
    {"ttl_s", "integer", false, "seconds until the rules expire, 1-31536000 (default: never)"},
    {"replace", "boolean", false,
     "an id that exists is replaced (match, action, ttl), keeping its place and counters; "
     "without it an existing id is an error"},
    {"source", "string", false,
     "the rules' source label (default api); only api rules are persisted"},
}};
inline constexpr std::array<CliForm, 2> kRuleAddCli = {{
    {"rule add [--ttl DURATION] [--replace] (FILE | -)",
     "add the rules of a rule file (YAML, `rules:` list) or of stdin; all or none"},
    {"block PREFIX... [--dst-port P] [--ttl DURATION] [--id ID]",
     "drop traffic from these sources now (a rule-add of one drop rule; prints its id)"},
}};
inline constexpr std::array<Field, 2> kRuleDelFields = {{
    {"ids", "list of string", true, "ids of runtime rules to delete; all are deleted or none"},
    {"missing_ok", "boolean", false, "an id that does not exist is not an error"},
}};
inline constexpr std::array<CliForm, 1> kRuleDelCli = {
    {{"rule del [--missing-ok] ID...", "delete runtime rules"}}};
inline constexpr std::array<Field, 3> kRuleSyncFields = {{
    {"source", "string", true, "the runtime source whose rules are replaced (api, bgp, ...)"},
    {"rules", "list of RULE", true,
     "the complete new set of that source's rules, in the order they are to stand (may be empty)"},
    {"ttl_s", "integer", false, "seconds until the rules expire (default: never)"},
}};

/// Prefixes one set-list reply holds at most.
inline constexpr std::size_t kMaxSetListPage = 100'000;

inline constexpr std::array<Field, 3> kSetAddFields = {{
    {"set", "string", true, "the set's name (config `sets`)"},
    {"prefixes", "list of string", true,
     "1-100000 IPv4/IPv6 prefixes or addresses; all are added or none"},
    {"ttl_s", "integer", false,
     "seconds until these entries expire, 1-31536000 (default: never); adding an entry again "
     "sets its expiry anew"},
}};
inline constexpr std::array<CliForm, 1> kSetAddCli = {
    {{"set add NAME PREFIX... [--ttl DURATION]",
      "add prefixes to a prefix set now (no rebuild; in effect when the command returns);\n"
      "kept across restarts and reloads"}}};
inline constexpr std::array<Field, 3> kSetDelFields = {{
    {"set", "string", true, "the set's name"},
    {"prefixes", "list of string", true, "prefixes to take out; all are removed or none"},
    {"missing_ok", "boolean", false, "a prefix the set does not hold is not an error"},
}};
inline constexpr std::array<CliForm, 1> kSetDelCli = {
    {{"set del [--missing-ok] NAME PREFIX...",
      "take prefixes out of a set (one its file lists comes back at the next reload)"}}};
inline constexpr std::array<Field, 2> kSetListFields = {{
    {"set", "string", true, "the set's name"},
    {"limit", "integer", false, "prefixes to list, 1-100000 (default 1000)"},
}};
inline constexpr std::array<CliForm, 1> kSetListCli = {
    {{"set list NAME [--limit N]",
      "a set's prefixes in address order, each with where it came from and its expiry"}}};
inline constexpr std::array<Field, 1> kSetFlushFields = {{
    {"set", "string", true, "the set's name"},
}};
inline constexpr std::array<CliForm, 1> kSetFlushCli = {
    {{"set flush NAME", "empty a set (its file fills it again at the next reload)"}}};

/// Every command the daemon answers, in the order docs and usage list them.
inline constexpr std::array<Command, 18> kCommands = {{
    {"stats", Rights::read, {}, kStatsCli, "counters of the whole daemon"},
    {"ports", Rights::read, {}, kPortsCli, "the ports and their counters"},
    {"workers", Rights::read, {}, kWorkersCli, "the workers and their counters"},
    {"rules", Rights::read, kRulesFields, kRulesCli, "the rules in effect and their counters"},
    {"talkers", Rights::read, kTalkersFields, kTalkersCli,
     "the heaviest sources, source prefixes, destination ports or rules over the last 10 s"},
    {"version",
     Rights::read,
     {},
     kVersionCli,
     "daemon and DPDK versions, and a run id drawn at each start"},
    {"steering",
     Rights::read,
     {},
     kSteeringCli,
     "which rules each port's NIC holds (offloaded drops, steering), and why not the others"},
    {"metrics", Rights::read, {}, kMetricsCli, "the Prometheus exposition as {\"metrics\": TEXT}"},
    {"reload", Rights::admin, {}, kReloadCli, "re-read the configuration and rule files"},
    {"check", Rights::admin, kCheckFields, kCheckCli,
     "validate and compile rule files without applying them"},
    {"capture", Rights::admin, kCaptureFields, kCaptureCli,
     "copies of decided packets (payloads included)"},
    {"rule-add", Rights::admin, kRuleAddFields, kRuleAddCli,
     "add runtime rules; the reply comes once they are in effect"},
    {"rule-del", Rights::admin, kRuleDelFields, kRuleDelCli,
     "delete runtime rules; the reply comes once they are out of effect"},
    {"rule-sync",
     Rights::admin,
     kRuleSyncFields,
     {},
     "replace every runtime rule of one source in one step (what a feeder does on connect)"},
    {"set-add", Rights::admin, kSetAddFields, kSetAddCli,
     "add prefixes to a prefix set; the reply comes once they are in effect"},
    {"set-del", Rights::admin, kSetDelFields, kSetDelCli,
     "take prefixes out of a prefix set; the reply comes once they are out"},
    {"set-list", Rights::read, kSetListFields, kSetListCli, "the prefixes of a prefix set"},
    {"set-flush", Rights::admin, kSetFlushFields, kSetFlushCli, "empty a prefix set"},
}};

/// The command named `name`, or null.
[[nodiscard]] constexpr const Command* find_command(std::string_view name) noexcept {
  for (const Command& command : kCommands) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

/// "read" or "admin".
[[nodiscard]] constexpr std::string_view rights_name(Rights rights) noexcept {
  return rights == Rights::admin ? "admin" : "read";
}

/// The command reference in Markdown (docs/protocol.md holds it between markers).
[[nodiscard]] std::string reference_markdown();
/// udpsievectl's "commands:" section: each CLI form with its help, indented.
[[nodiscard]] std::string cli_commands_text();

/// Default socket path (control.socket).
inline constexpr std::string_view kDefaultSocket = "/run/udpsieve/control.sock";

}  // namespace udpsieve::protocol
