// Runtime rules against a live daemon: rules added, replaced, deleted and synced over the control
// socket take their place in first-match order and are in effect when the reply comes, with
// exact per-packet accounting (traffic through FIFOs, tests/support/fifo_traffic.hpp); expiry;
// the state file across SIGTERM, SIGKILL and corruption; reloads beside runtime rules; every
// refusal's text; udpsievectl's rule commands; and tens of thousands of rules under traffic.
//
// A change's reply waits until every worker passed a quiescent point after the swap. With FIFO
// input the worker waits inside read() while the test sends nothing, so change() sends one burst
// of padding (ARP, dropped as non_udp by every table here) once the change is published (the
// table generation moved); that burst is classified with the table of before, and every packet
// sent after the reply with the new one.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/daemon_process.hpp"
#include "support/fifo_traffic.hpp"
#include "support/sockets.hpp"
#include "udpsieve/cli/client.hpp"

namespace {

using nlohmann::json;
using udpsieve::test::ctl_binary;
using udpsieve::test::DaemonProcess;
using udpsieve::test::entry_of;
using udpsieve::test::error_text;
using udpsieve::test::final_total;
using udpsieve::test::Flow;
using udpsieve::test::FlowTraffic;
using udpsieve::test::RawClient;
using udpsieve::test::rule_ids;
using udpsieve::test::rule_packets;
using udpsieve::test::run_program;
using udpsieve::test::TempDir;
using udpsieve::test::wait_until;

constexpr auto kReplyLimit = std::chrono::seconds(60);

json rule(const std::string& id, const json& match, const json& action) {
  return {{"id", id}, {"match", match}, {"action", action}};
}

json rule_add(const json& rules, const json& extra = json::object()) {
  json request = {{"cmd", "rule-add"}, {"rules", rules}};
  request.update(extra);
  return request;
}

json rule_del(const std::vector<std::string>& ids, bool missing_ok = false) {
  json request = {{"cmd", "rule-del"}, {"ids", ids}};
  if (missing_ok) request["missing_ok"] = true;
  return request;
}

json rule_sync(const std::string& source, const json& rules) {
  return {{"cmd", "rule-sync"}, {"source", source}, {"rules", rules}};
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The ports of a test's daemon: FIFO traffic (wan reads in.fifo and forwards to out, which
/// writes out.fifo), or two idle net_null ports wan and lan that never block the worker.
enum class Ports { fifo, idle };

class RuntimeRules : public testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_DPDK();
    socket_ = dir_.file("ctl.sock");
    state_ = dir_.file("state.json");
  }

  void TearDown() override {
    // A test that stopped half-way may leave the worker waiting for input: end it first.
    if (traffic_) traffic_->end();
    if (daemon_ && !daemon_->exited().has_value()) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    }
  }

  /// Writes config.yaml: `ports`, pipeline.rules = `rules_list` (a YAML list), non_udp drop,
  /// the state file in the temp dir, and `pipeline` (more lines under pipeline:).
  void configure(Ports ports, const std::string& rules_list = "[rules.yaml]",
                 const std::string& default_action = "forward", const std::string& pipeline = "") {
    ports_ = ports;
    const std::string port_lines =
        ports == Ports::fifo
            ? "  - {name: wan, device: \"net_pcap0,rx_pcap=in.fifo\", forward_to: out}\n"
              "  - {name: out, device: \"net_pcap1,tx_pcap=out.fifo\", forward_to: wan}\n"
            : "  - {name: wan, device: \"net_null0,no-rx=1\", forward_to: lan}\n"
              "  - {name: lan, device: \"net_null1,no-rx=1\", forward_to: wan}\n";
    dir_.write("config.yaml",
               "eal:\n  lcores: [0, 1]\n  hugepages: off\n  memory_mb: 256\nports:\n" + port_lines +
                   "pipeline:\n  default_action: " + default_action +
                   "\n  non_udp: drop\n  rules: " + rules_list + "\n  dynamic_state: " + state_ +
                   "\n" + pipeline + "control:\n  stats_interval_ms: 10\n");
  }

  /// Starts the daemon (a new one, with a prefix of its own, after an earlier one stopped).
  void start(const std::string& name) {
    if (ports_ == Ports::fifo) traffic_ = std::make_unique<FlowTraffic>(dir_);
    daemon_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"--config", dir_.file("config.yaml"), "--file-prefix",
                                 udpsieve::test::unique_prefix(name), "--socket", socket_},
        dir_.file(name + ".log"));
    ASSERT_TRUE(daemon_->wait_ready(socket_)) << daemon_->log();
    if (traffic_) traffic_->watch_output();
  }

  /// One request, its reply.
  json ask(const json& request) const {
    return json::parse(udpsieve::cli::request(socket_, request.dump(), kReplyLimit));
  }
  /// Every rule (fetched a page at a time, as udpsievectl does).
  json rules(const std::string& source = "") const {
    json request = {{"cmd", "rules"}};
    if (!source.empty()) request["source"] = source;
    return json::parse(udpsieve::cli::request_all_rules(socket_, request, kReplyLimit));
  }
  json stats() const { return ask({{"cmd", "stats"}}); }
  uint64_t generation() const { return rules("file")["generation"].get<uint64_t>(); }

  /// Sends a runtime change and returns its reply, padding the traffic once the change is
  /// published so that the worker passes a quiescent point (see the top of the file).
  json change(const json& request) {
    const uint64_t before = generation();
    RawClient client(socket_, kReplyLimit);
    client.send_all(request.dump() + "\n");
    bool padded = traffic_ == nullptr;
    const auto deadline = std::chrono::steady_clock::now() + kReplyLimit;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd readable{client.fd(), POLLIN, 0};
      if (poll(&readable, 1, 5) > 0) {
        const std::vector<std::string> lines = client.read_lines(1);
        if (lines.empty()) break;
        return json::parse(lines.front());
      }
      if (!padded && generation() > before) {
        traffic_->pad();
        padded = true;
      }
    }
    ADD_FAILURE() << "no reply to " << request.dump().substr(0, 200) << "\n" << daemon_->log();
    return {{"error", "no reply"}};
  }

  /// Waits until the worker received every frame sent so far (wan's port counter).
  bool wait_received() {
    return wait_until(
        [&] { return stats()["ports"][0]["rx_packets"].get<uint64_t>() == traffic_->total(); });
  }

  /// Ends the traffic and waits until the workers counted all of it and every forwarded frame
  /// was read back; the final stats.
  json end_traffic() {
    traffic_->end();
    EXPECT_TRUE(traffic_->wait_input_closed()) << traffic_->input_error();
    const auto last = daemon_->wait_rx(socket_, traffic_->total());
    EXPECT_TRUE(last.has_value()) << daemon_->log();
    const json final_stats = stats();
    const uint64_t forwarded = final_stats["totals"]["forwarded_packets"].get<uint64_t>();
    EXPECT_TRUE(wait_until([&] {
      return traffic_->forwarded() + traffic_->bad_frames() >= forwarded;
    })) << traffic_->forwarded()
        << " of " << forwarded << " forwarded frames read back";
    return final_stats;
  }

  /// Stops the daemon (exit 0) and checks its final totals line against `stats` and the
  /// output. Returns the log.
  std::string stop_and_check(const json& stats) {
    EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    const std::string log = daemon_->log();
    EXPECT_TRUE(traffic_->wait_output_closed());
    const json& totals = stats["totals"];
    const uint64_t rx = traffic_->total();
    EXPECT_EQ(totals["rx_packets"].get<uint64_t>(), rx);
    EXPECT_EQ(totals["rx_packets"].get<uint64_t>(), totals["forwarded_packets"].get<uint64_t>() +
                                                        totals["dropped_packets"].get<uint64_t>());
    EXPECT_EQ(totals["forwarded_packets"].get<uint64_t>(), traffic_->forwarded());
    EXPECT_EQ(totals["drops"]["non_udp"].get<uint64_t>(), traffic_->padding());
    EXPECT_EQ(final_total(log, "rx_packets"), rx) << log;
    EXPECT_EQ(final_total(log, "port_rx_packets"), rx);
    EXPECT_EQ(final_total(log, "forwarded_packets"), traffic_->forwarded());
    EXPECT_EQ(final_total(log, "dropped_packets"), rx - traffic_->forwarded());
    EXPECT_EQ(final_total(log, "drop_rule"), totals["drops"]["rule"].get<uint64_t>());
    EXPECT_EQ(final_total(log, "drop_default"), totals["drops"]["default"].get<uint64_t>());
    EXPECT_EQ(final_total(log, "drop_non_udp"), traffic_->padding());
    EXPECT_EQ(traffic_->bad_frames(), 0U);
    return log;
  }

  /// Waits until `rules` reports `expected` packets for every id named (counters reach their
  /// final values a stats interval after the traffic ends); the last reply's counts.
  std::map<std::string, uint64_t> settled_counts(const std::map<std::string, uint64_t>& expected) {
    std::map<std::string, uint64_t> now;
    (void)wait_until([&] {
      now = rule_packets(rules());
      for (const auto& [id, packets] : expected) {
        if (now.count(id) == 0 || now.at(id) != packets) return false;
      }
      return true;
    });
    return now;
  }

  TempDir dir_;
  std::string socket_;
  std::string state_;
  Ports ports_ = Ports::fifo;
  std::unique_ptr<FlowTraffic> traffic_;
  std::unique_ptr<DaemonProcess> daemon_;
};

// --- first-match order -------------------------------------------------------------------------

const char* const kBroadForward =
    "rules:\n  - id: a-fwd\n    match: {src: 10.1.0.0/16, dst_port: 5000}\n    action: forward\n";
const char* const kCatchAll =
    "rules:\n  - id: b-fwd\n    match: {dst_port: 1-9999}\n    action: forward\n";

/// Flows matching file rule A (a-fwd), runtime rule R (r-drop) and file rule B (b-fwd): all
/// three, R and B, B only, none.
const std::vector<Flow> kOrderFlows = {{"arb", {10, 1, 2, 3}, 5000},
                                       {"rb", {10, 2, 0, 1}, 5001},
                                       {"b", {10, 2, 0, 1}, 7000},
                                       {"none", {10, 2, 0, 1}, 20000}};

TEST_F(RuntimeRules, DynamicMarksWhereRuntimeRulesSitInFirstMatchOrder) {
  dir_.write("a.yaml", kBroadForward);
  dir_.write("b.yaml", kCatchAll);
  configure(Ports::fifo, "[a.yaml, dynamic, b.yaml]", "drop");
  start("order_dynamic");
  ASSERT_EQ(change(rule_add(json::array({rule("r-drop", {{"dst_port", "5000-5999"}}, "drop")})))
                .value("added", json::array()),
            json::array({"r-drop"}));
  const json listed = rules();
  EXPECT_EQ(rule_ids(listed), (std::vector<std::string>{"a-fwd", "r-drop", "b-fwd"}));
  EXPECT_EQ(listed["dynamic"], json({{"at", 1}, {"count", 1}}));
  EXPECT_EQ(entry_of(listed, "r-drop")["index"], 1);
  EXPECT_EQ(entry_of(listed, "a-fwd")["location"], dir_.file("a.yaml") + ":2:5");

  traffic_->send(1, kOrderFlows, 64);
  const json final_stats = end_traffic();
  // A wins over R, R over B.
  EXPECT_EQ(traffic_->wrong_fates(
                [](const std::string& flow, int) { return flow == "arb" || flow == "b"; }),
            "");
  const auto packets = settled_counts({{"a-fwd", 64}, {"r-drop", 64}, {"b-fwd", 64}});
  EXPECT_EQ(packets,
            (std::map<std::string, uint64_t>{{"a-fwd", 64}, {"r-drop", 64}, {"b-fwd", 64}}));
  EXPECT_EQ(final_stats["totals"]["drops"]["default"], 64);
  EXPECT_EQ(final_stats["dynamic"]["at"], 1);
  stop_and_check(final_stats);
}

TEST_F(RuntimeRules, WithoutDynamicRuntimeRulesComeBeforeEveryFileRule) {
  dir_.write("a.yaml", kBroadForward);
  dir_.write("b.yaml", kCatchAll);
  configure(Ports::fifo, "[a.yaml, b.yaml]", "drop");
  start("order_first");
  ASSERT_EQ(change(rule_add(json::array({rule("r-drop", {{"dst_port", "5000-5999"}}, "drop")})))
                .value("added", json::array()),
            json::array({"r-drop"}));
  const json listed = rules();
  EXPECT_EQ(rule_ids(listed), (std::vector<std::string>{"r-drop", "a-fwd", "b-fwd"}));
  EXPECT_EQ(listed["dynamic"], json({{"at", 0}, {"count", 1}}));

  traffic_->send(1, kOrderFlows, 64);
  const json final_stats = end_traffic();
  // R wins over A too now.
  EXPECT_EQ(traffic_->wrong_fates([](const std::string& flow, int) { return flow == "b"; }), "");
  const auto packets = settled_counts({{"a-fwd", 0}, {"r-drop", 128}, {"b-fwd", 64}});
  EXPECT_EQ(packets,
            (std::map<std::string, uint64_t>{{"a-fwd", 0}, {"r-drop", 128}, {"b-fwd", 64}}));
  EXPECT_EQ(final_stats["totals"]["drops"]["default"], 64);
  EXPECT_EQ(final_stats["dynamic"]["at"], 0);
  stop_and_check(final_stats);
}

// --- changes under traffic, exactly ------------------------------------------------------------

/// Flows of the phases test: t0-t2 for api rules, g1-g3 for the bgp feed, chargen for the file
/// rule, other for nothing.
const std::vector<Flow> kPhaseFlows = {
    {"t0", {10, 0, 0, 1}, 1001},    {"t1", {10, 0, 0, 1}, 1002},   {"t2", {10, 0, 0, 1}, 1003},
    {"g1", {10, 0, 0, 1}, 2001},    {"g2", {10, 0, 0, 1}, 2002},   {"g3", {10, 0, 0, 1}, 2003},
    {"chargen", {10, 0, 0, 1}, 19}, {"other", {10, 0, 0, 1}, 7777}};
constexpr std::size_t kPerFlow = 32;  // 8 flows x 32 = 8 bursts per phase

TEST_F(RuntimeRules, AddReplaceDeleteAndSyncUnderTrafficAddUpExactly) {
  dir_.write("rules.yaml",
             "rules:\n  - id: f-chargen\n    match: {dst_port: 19}\n    action: drop\n");
  configure(Ports::fifo);
  start("phases");
  const auto drop_port = [](const std::string& id, int port) {
    return rule(id, {{"dst_port", port}}, "drop");
  };

  // Phase 0: only the file rule.
  traffic_->send(0, kPhaseFlows, kPerFlow);
  ASSERT_TRUE(wait_received());

  // Phase 1: r-a drops t0, r-b drops t1.
  const json added =
      change(rule_add(json::array({drop_port("r-a", 1001), drop_port("r-b", 1002)})));
  EXPECT_EQ(added["added"], json::array({"r-a", "r-b"})) << added;
  EXPECT_EQ(added["replaced"], json::array());
  EXPECT_TRUE(added["expires_at"].is_null());
  EXPECT_TRUE(added["expires_at_unix"].is_null());
  EXPECT_TRUE(added["apply_ms"].is_number());
  traffic_->send(1, kPhaseFlows, kPerFlow);
  ASSERT_TRUE(wait_received());

  // Phase 2: r-a replaced by a forward rule for t0 and t1; it keeps its place before r-b (so it
  // decides t1) and its counters.
  const json replaced = change(rule_add(
      json::array({rule("r-a", {{"dst_port", "1001-1002"}}, "forward")}), {{"replace", true}}));
  EXPECT_EQ(replaced["added"], json::array()) << replaced;
  EXPECT_EQ(replaced["replaced"], json::array({"r-a"}));
  EXPECT_EQ(rule_ids(rules("api")), (std::vector<std::string>{"r-a", "r-b"}));
  traffic_->send(2, kPhaseFlows, kPerFlow);
  ASSERT_TRUE(wait_received());

  // Phase 3: r-a deleted; r-b drops t1 again.
  const json deleted = change(rule_del({"r-a"}));
  EXPECT_EQ(deleted["deleted"], json::array({"r-a"})) << deleted;
  EXPECT_EQ(deleted["missing"], json::array());
  traffic_->send(3, kPhaseFlows, kPerFlow);
  ASSERT_TRUE(wait_received());

  // Phase 4: the bgp feed drops g1-g3.
  const json first_sync = change(rule_sync(
      "bgp", json::array({drop_port("g1", 2001), drop_port("g2", 2002), drop_port("g3", 2003)})));
  EXPECT_EQ(first_sync["source"], "bgp") << first_sync;
  EXPECT_EQ(first_sync["added"], json::array({"g1", "g2", "g3"}));
  EXPECT_EQ(first_sync["unchanged"], 0);
  traffic_->send(4, kPhaseFlows, kPerFlow);
  ASSERT_TRUE(wait_received());

  // Phase 5: the feed keeps g1, lets g2 pass, withdraws g3 and lets g3's flow pass by g4.
  const json second_sync = change(rule_sync(
      "bgp", json::array({drop_port("g1", 2001), rule("g2", {{"dst_port", 2002}}, "forward"),
                          rule("g4", {{"dst_port", 2003}}, "forward")})));
  EXPECT_EQ(second_sync["added"], json::array({"g4"})) << second_sync;
  EXPECT_EQ(second_sync["replaced"], json::array({"g2"}));
  EXPECT_EQ(second_sync["deleted"], json::array({"g3"}));
  EXPECT_EQ(second_sync["unchanged"], 1);
  const json bgp = rules("bgp");
  EXPECT_EQ(rule_ids(bgp), (std::vector<std::string>{"g1", "g2", "g4"}));
  for (const json& entry : bgp["rules"]) {
    EXPECT_EQ(entry["source"], "bgp") << entry;
    EXPECT_TRUE(entry["expires_in_s"].is_null()) << entry;
  }
  traffic_->send(5, kPhaseFlows, kPerFlow);

  const json final_stats = end_traffic();
  EXPECT_EQ(traffic_->wrong_fates([](const std::string& flow, int phase) {
    if (flow == "chargen") return false;
    if (flow == "t0") return phase != 1;
    if (flow == "t1") return phase == 0 || phase == 2;
    if (flow == "g1") return phase < 4;
    if (flow == "g2" || flow == "g3") return phase != 4;
    return true;
  }),
            "");
  const uint64_t n = kPerFlow;
  const std::map<std::string, uint64_t> expected = {{"f-chargen", 6 * n},
                                                    {"r-b", 4 * n},  // phases 1, 3, 4, 5
                                                    {"g1", 2 * n},
                                                    {"g2", 2 * n},
                                                    {"g4", n}};
  EXPECT_EQ(settled_counts(expected), expected);
  const json& dynamic = final_stats["dynamic"];
  EXPECT_EQ(dynamic["rules"], 4);
  EXPECT_EQ(dynamic["by_source"], json({{"api", 1}, {"bgp", 3}}));
  EXPECT_EQ(dynamic["pending"], 0);
  EXPECT_EQ(dynamic["adds"], 6);
  EXPECT_EQ(dynamic["replaces"], 2);
  EXPECT_EQ(dynamic["deletes"], 2);
  EXPECT_EQ(dynamic["syncs"], 2);
  EXPECT_EQ(dynamic["expiries"], 0);
  EXPECT_EQ(dynamic["refusals"], 0);
  EXPECT_EQ(dynamic["builds"], 5);
  EXPECT_EQ(dynamic["state_file"], state_);
  EXPECT_TRUE(dynamic["state_error"].is_null());
  EXPECT_EQ(final_stats["totals"]["drops"]["rule"], 6 * n + 4 * n + n + 2 * n + n + n);
  EXPECT_EQ(final_stats["totals"]["drops"]["default"], 0);

  const std::string log = stop_and_check(final_stats);
  // r-a counted t0 in phases 1 and 2 and t1 in phase 2, across its replacement.
  EXPECT_NE(log.find("runtime rule r-a deleted: final count " + std::to_string(3 * n) +
                     " packets, " + std::to_string(3 * n * FlowTraffic::kFrameSize) + " bytes"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("runtime rule g3 deleted: final count " + std::to_string(n) + " packets"),
            std::string::npos)
      << log;
}

// --- expiry ------------------------------------------------------------------------------------

TEST_F(RuntimeRules, RuleWithTtlExpiresAndStopsMatching) {
  dir_.write("rules.yaml", "rules: []\n");
  configure(Ports::fifo);
  start("ttl");
  const std::vector<Flow> flows = {{"ttl", {10, 0, 0, 1}, 3000}, {"other", {10, 0, 0, 1}, 3001}};
  const auto asked = std::chrono::steady_clock::now();
  const json added =
      change(rule_add(json::array({rule("short", {{"dst_port", 3000}}, "drop")}), {{"ttl_s", 2}}));
  ASSERT_EQ(added["added"], json::array({"short"})) << added;
  ASSERT_TRUE(added["expires_at"].is_string());
  EXPECT_TRUE(std::regex_match(added["expires_at"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
      << added;
  const json listed = entry_of(rules(), "short");
  EXPECT_GT(listed["expires_in_s"].get<double>(), 0.0) << listed;
  EXPECT_LE(listed["expires_in_s"].get<double>(), 2.0) << listed;

  // Within the two seconds, its flow's 32 packets are dropped by it.
  traffic_->send(1, flows, 32);
  ASSERT_TRUE(wait_received());
  ASSERT_TRUE(wait_until([&] { return entry_of(rules(), "short").is_null(); }));
  const auto gone_after = std::chrono::steady_clock::now() - asked;
  EXPECT_LT(gone_after, std::chrono::milliseconds(3500))
      << "the rule outlived its 2 s by more than the 1.5 s slack";
  EXPECT_EQ(stats()["dynamic"]["expiries"], 1);
  // Its counts are final once the worker left the table that had it.
  traffic_->pad();
  const std::string expected_line = "runtime rule short expired: final count 32 packets, " +
                                    std::to_string(32 * FlowTraffic::kFrameSize) + " bytes";
  EXPECT_TRUE(wait_until([&] { return daemon_->log().find(expected_line) != std::string::npos; }))
      << daemon_->log();

  // After it, the same flow passes.
  traffic_->send(2, flows, 32);
  const json final_stats = end_traffic();
  EXPECT_EQ(traffic_->wrong_fates(
                [](const std::string& flow, int phase) { return flow == "other" || phase == 2; }),
            "");
  EXPECT_EQ(final_stats["dynamic"]["rules"], 0);
  EXPECT_EQ(final_stats["dynamic"]["expiries"], 1);
  EXPECT_EQ(final_stats["dynamic"]["deletes"], 0);
  EXPECT_EQ(final_stats["totals"]["drops"]["rule"], 32);
  stop_and_check(final_stats);
}

// Current rates (sampled by the control thread about once a second): stats carries them for the
// totals, every drop reason and every port, rules for every rule, file and runtime; they add up
// as the counters do (rx = forwarded + dropped, dropped = the sum of the reasons), and a rule
// that saw traffic in the last ten seconds shows it.
TEST_F(RuntimeRules, RatesAreReportedForTotalsReasonsPortsAndRulesAndAddUp) {
  dir_.write("rules.yaml", "rules:\n  - {id: dns, match: {dst_port: 53}, action: drop}\n");
  configure(Ports::fifo);
  start("rates");
  const json added = change(rule_add(json::array({rule("ntp", {{"dst_port", 123}}, "drop")})));
  ASSERT_EQ(added["added"].size(), 1U) << added;
  const std::vector<Flow> flows = {
      {"dns", {10, 1, 0, 1}, 53}, {"ntp", {10, 1, 0, 2}, 123}, {"web", {10, 1, 0, 3}, 80}};
  // With FIFO input the worker publishes its counters only between bursts, so the traffic is
  // spread over three seconds (a round every 100 ms) for the samplings to see it move.
  for (int round = 0; round < 30; ++round) {
    traffic_->send(round, flows, 32);  // 96 frames, 3 bursts
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(wait_received());
  const auto rate_of = [&](const std::string& id) {
    return entry_of(rules(), id).value("rate_pps_10s", 0.0);
  };
  EXPECT_TRUE(wait_until([&] { return rate_of("dns") > 0 && rate_of("ntp") > 0; }))
      << rules().dump();

  const json reply = stats();
  const json& rates = reply["rates"];
  for (const char* total : {"rx", "forwarded", "dropped"}) {
    ASSERT_TRUE(rates.contains(total)) << rates;
    EXPECT_TRUE(rates[total].contains("rate_pps")) << total;
    EXPECT_TRUE(rates[total].contains("rate_pps_10s")) << total;
  }
  EXPECT_TRUE(rates["rx"].contains("rate_bps"));
  EXPECT_FALSE(rates["dropped"].contains("rate_bps")) << "drops are counted without bytes";
  const auto near = [](double a, double b) { return std::abs(a - b) <= 1e-6 * (1 + std::abs(a)); };
  for (const char* window : {"rate_pps", "rate_pps_10s"}) {
    const double rx = rates["rx"][window].get<double>();
    const double forwarded = rates["forwarded"][window].get<double>();
    const double dropped = rates["dropped"][window].get<double>();
    EXPECT_TRUE(near(rx, forwarded + dropped)) << window << ": " << rates;
    double reasons = 0;
    for (const auto& [reason, rate] : rates["drops"].items())
      reasons += rate[window].get<double>();
    EXPECT_EQ(rates["drops"].size(), 6U) << rates["drops"];
    EXPECT_TRUE(near(dropped, reasons)) << window << ": " << rates;
  }
  EXPECT_GT(rates["rx"]["rate_pps_10s"].get<double>(), 0) << rates;
  EXPECT_GT(rates["drops"]["rule"]["rate_pps_10s"].get<double>(), 0) << rates;
  for (const json& port : reply["ports"]) {
    for (const char* side : {"rx", "tx"}) {
      EXPECT_TRUE(port["rates"][side].contains("rate_pps")) << port;
      EXPECT_TRUE(port["rates"][side].contains("rate_bps")) << port;
      EXPECT_TRUE(port["rates"][side].contains("rate_pps_10s")) << port;
    }
  }
  EXPECT_GT(reply["ports"][0]["rates"]["rx"]["rate_pps_10s"].get<double>(), 0) << reply["ports"];
  // The busiest rules of stats carry them too, and udpsievectl shows them.
  for (const json& entry : reply["rules"])
    EXPECT_TRUE(entry.contains("rate_pps") && entry.contains("rate_bps")) << entry;
  const std::string table = run_program({ctl_binary(), "--socket", socket_, "rules"}).output;
  EXPECT_NE(table.find("pps 10s"), std::string::npos) << table;
  const json final_stats = end_traffic();
  stop_and_check(final_stats);
}

// Per-source rate limits: each source (or each source prefix) gets its own bucket, where one
// shared limit would let a flood starve everyone. Frames arrive as fast as the fifo carries
// them, so within the test's second or two each bucket passes its burst (plus at most a token
// a second).
TEST_F(RuntimeRules, PerSourceLimitsGiveEachSourceItsOwnBucket) {
  dir_.write("rules.yaml", "rules: []\n");
  configure(Ports::fifo);
  start("per_source");
  const json per32 = {{"rate_limit", {{"pps", 1}, {"burst", 10}, {"per_source", 32}}}};
  const json per24 = {{"rate_limit", {{"pps", 1}, {"burst", 10}, {"per_source", 24}}}};
  const json added = change(rule_add(json::array(
      {rule("each", {{"dst_port", 53}}, per32), rule("prefix", {{"dst_port", 54}}, per24)})));
  ASSERT_EQ(added["added"].size(), 2U) << added;
  EXPECT_EQ(entry_of(rules(), "each")["action"], "rate_limit:1pps/10 per source /32 /64");
  // Eight sources on port 53 (each its own bucket), four of one /24 and four of another on 54.
  std::vector<Flow> flows;
  for (uint8_t s = 1; s <= 8; ++s)
    flows.push_back({"each" + std::to_string(s), {10, 1, 0, s}, 53});
  for (uint8_t s = 1; s <= 4; ++s) {
    flows.push_back({"prefix-a", {10, 2, 1, s}, 54});
    flows.push_back({"prefix-b", {10, 2, 2, s}, 54});
  }
  const auto started = std::chrono::steady_clock::now();
  traffic_->send(1, flows, 40);  // 16 flows x 40 = 640 frames, 20 bursts
  const json final_stats = end_traffic();
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
          .count();
  const auto within = [&](uint64_t passed, const std::string& what) {
    EXPECT_GE(passed, 10U) << what;
    EXPECT_LE(passed, 10U + static_cast<uint64_t>(seconds) + 1) << what;
  };
  for (uint8_t s = 1; s <= 8; ++s) {
    within(traffic_->forwarded("each" + std::to_string(s)), "source 10.1.0." + std::to_string(s));
  }
  within(traffic_->forwarded("prefix-a"), "10.2.1.0/24");
  within(traffic_->forwarded("prefix-b"), "10.2.2.0/24");
  // Every frame counted once: passed + limited = matched; the drops have their reason.
  EXPECT_EQ(settled_counts({{"each", 320}, {"prefix", 320}}).size(), 2U);
  const json each = entry_of(rules(), "each");
  const json prefix = entry_of(rules(), "prefix");
  EXPECT_EQ(each["packets"], 320);
  EXPECT_EQ(prefix["packets"], 320);
  EXPECT_EQ(each["passed"].get<uint64_t>(),
            traffic_->forwarded("each1") + traffic_->forwarded("each2") +
                traffic_->forwarded("each3") + traffic_->forwarded("each4") +
                traffic_->forwarded("each5") + traffic_->forwarded("each6") +
                traffic_->forwarded("each7") + traffic_->forwarded("each8"));
  EXPECT_EQ(final_stats["totals"]["drops"]["rate_limit"].get<uint64_t>(),
            each["limited"].get<uint64_t>() + prefix["limited"].get<uint64_t>());
  // Ten buckets in the worker's table, none evicted.
  EXPECT_EQ(final_stats["workers"][0]["per_source_sources"], 10) << final_stats["workers"];
  EXPECT_EQ(final_stats["workers"][0]["per_source_evictions"], 0);
  stop_and_check(final_stats);
}

// A source's bucket outlives rebuilds of the rules while its rule keeps its id and limit, and
// starts afresh (full) when the limit changes: a bucket's debt is measured at the rate it was
// charged at, so carrying it into another limit would hold the source to the old one.
TEST_F(RuntimeRules, PerSourceBucketsLastWhileTheLimitStaysAndStartAfreshWhenItChanges) {
  dir_.write("rules.yaml", "rules: []\n");
  configure(Ports::fifo);
  start("per_source_change");
  const auto limit = [](int burst) {
    return json{{"rate_limit", {{"pps", 1}, {"burst", burst}, {"per_source", 32}}}};
  };
  const auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(
      change(rule_add(json::array({rule("each", {{"dst_port", 53}}, limit(10))})))["added"].size(),
      1U);
  const std::vector<Flow> flows = {{"source", {10, 1, 0, 1}, 53}};
  traffic_->send(0, flows, 32);  // a full bucket: 10 pass
  ASSERT_TRUE(wait_received());
  // Another rule: the runtime part is rebuilt, "each" is the same rule, its bucket stays empty.
  ASSERT_EQ(
      change(rule_add(json::array({rule("other", {{"dst_port", 54}}, "drop")})))["added"].size(),
      1U);
  traffic_->send(1, flows, 32);  // only what refilled since: a token a second
  ASSERT_TRUE(wait_received());
  // The same id with a burst of 20: a new, full bucket (the old one's debt would leave 10).
  ASSERT_EQ(change(rule_add(json::array({rule("each", {{"dst_port", 53}}, limit(20))}),
                            {{"replace", true}}))["replaced"]
                .size(),
            1U);
  traffic_->send(2, flows, 32);
  const json final_stats = end_traffic();
  const auto seconds = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
          .count());
  EXPECT_GE(traffic_->forwarded("source", 0), 10U);
  EXPECT_LE(traffic_->forwarded("source", 0), 10U + seconds + 1);
  EXPECT_LE(traffic_->forwarded("source", 1), seconds + 1) << "the bucket was kept";
  EXPECT_GE(traffic_->forwarded("source", 2), 20U) << "a changed limit starts full";
  EXPECT_LE(traffic_->forwarded("source", 2), 20U + seconds + 1);
  EXPECT_EQ(final_stats["workers"][0]["per_source_sources"], 2) << "one bucket per limit";
  stop_and_check(final_stats);
}

// Ten times more sources than the table holds: sources evict each other (counted), nothing
// breaks, and every frame is still counted once.
TEST_F(RuntimeRules, PerSourceTableFullOfSourcesEvictsAndCountsExactly) {
  dir_.write("rules.yaml",
             "rules:\n  - {id: each, match: {dst_port: 53}, action: {rate_limit: {pps: 1, burst: "
             "1, per_source: 32}}}\n");
  configure(Ports::fifo, "[rules.yaml]", "forward", "  per_source_entries: 64\n");
  start("per_source_full");
  std::vector<Flow> flows;
  for (uint32_t s = 0; s < 640; ++s) {
    flows.push_back({"s" + std::to_string(s),
                     {10, 3, static_cast<uint8_t>(s / 256), static_cast<uint8_t>(s % 256)},
                     53});
  }
  traffic_->send(1, flows, 2);  // 1,280 frames, 40 bursts
  const json final_stats = end_traffic();
  EXPECT_EQ(settled_counts({{"each", 1280}}).size(), 1U);
  const json each = entry_of(rules(), "each");
  EXPECT_EQ(each["passed"].get<uint64_t>() + each["limited"].get<uint64_t>(), 1280U);
  EXPECT_EQ(each["passed"].get<uint64_t>(), traffic_->forwarded());
  EXPECT_EQ(final_stats["totals"]["drops"]["rate_limit"], each["limited"]);
  const json& worker = final_stats["workers"][0];
  EXPECT_EQ(worker["per_source_sources"], 64) << worker;
  EXPECT_GE(worker["per_source_evictions"].get<uint64_t>(), 640U - 64U) << worker;
  stop_and_check(final_stats);
}

// --- the state file ----------------------------------------------------------------------------

/// What a restart must keep of a runtime rule.
json kept_fields(const json& entry) {
  return {{"id", entry["id"]},         {"match", entry["match"]},       {"action", entry["action"]},
          {"source", entry["source"]}, {"added_at", entry["added_at"]}, {"index", entry["index"]}};
}

std::vector<json> kept_fields(const json& reply, const std::string& source) {
  std::vector<json> out;
  for (const json& entry : reply["rules"]) {
    if (entry["source"] == source) out.push_back(kept_fields(entry));
  }
  return out;
}

TEST_F(RuntimeRules, ApiRulesSurviveSigtermAndSigkillFeedRulesDoNot) {
  dir_.write("rules.yaml", "rules:\n  - id: f1\n    match: {dst_port: 9}\n    action: drop\n");
  configure(Ports::idle);
  start("persist1");
  const json timed = ask(rule_add(
      json::array({rule("p-ttl", {{"src", {"198.51.100.0/24"}}, {"dst_port", 123}}, "drop")}),
      {{"ttl_s", 3600}}));
  ASSERT_EQ(timed["added"], json::array({"p-ttl"})) << timed;
  const json permanent = ask(rule_add(json::array(
      {rule("p-lan", {{"dst_port", "7000-7010"}, {"in_port", "wan"}}, {{"forward", "lan"}}),
       rule("p-rate", {{"src", "2001:db8::/32"}},
            {{"rate_limit", {{"pps", 1000}, {"burst", 100}}}})})));
  ASSERT_EQ(permanent["added"], json::array({"p-lan", "p-rate"})) << permanent;
  ASSERT_EQ(ask(rule_sync("bgp", json::array({rule("g1", {{"dst_port", 179}}, "drop")})))["added"],
            json::array({"g1"}));

  // The state file holds the api rules, in order, with their expiry.
  const json state = json::parse(read_text(state_));
  EXPECT_EQ(state["format"], "udpsieve-dynamic-state");
  EXPECT_EQ(state["version"], 1);
  ASSERT_EQ(state["rules"].size(), 3U) << state;
  EXPECT_EQ(state["rules"][0]["rule"]["id"], "p-ttl");
  EXPECT_EQ(state["rules"][0]["expires_at"], timed["expires_at_unix"]);
  EXPECT_EQ(state["rules"][1]["rule"]["id"], "p-lan");
  EXPECT_EQ(state["rules"][1]["rule"]["action"], json({{"forward", "lan"}}));
  EXPECT_TRUE(state["rules"][1]["expires_at"].is_null());
  EXPECT_EQ(state["rules"][2]["rule"]["id"], "p-rate");

  const json before = rules();
  const double ttl_before = entry_of(before, "p-ttl")["expires_in_s"].get<double>();
  ASSERT_EQ(daemon_->stop(), 0) << daemon_->log();

  // SIGTERM and start: the api rules are back as they were, the feed's rule is not.
  start("persist2");
  const json after = rules();
  EXPECT_EQ(kept_fields(after, "api"), kept_fields(before, "api"));
  EXPECT_EQ(rule_ids(rules("bgp")), std::vector<std::string>{});
  const double ttl_after = entry_of(after, "p-ttl")["expires_in_s"].get<double>();
  EXPECT_LE(ttl_after, ttl_before) << "the expiry restarted instead of being kept";
  EXPECT_GT(ttl_after, ttl_before - 60);
  EXPECT_TRUE(entry_of(after, "p-lan")["expires_in_s"].is_null());
  const json dynamic = stats()["dynamic"];
  EXPECT_EQ(dynamic["by_source"], json({{"api", 3}}));
  EXPECT_TRUE(dynamic["state_error"].is_null());
  EXPECT_NE(daemon_->log().find("runtime rules: restored 3 rule(s) from " + state_ +
                                " (0 expired while stopped, 0 left out)"),
            std::string::npos)
      << daemon_->log();

  // SIGKILL right after a reply: the rule was saved before the reply.
  ASSERT_EQ(ask(rule_add(json::array({rule("p-kill", {{"dst_port", 6000}}, "drop")})))["added"],
            json::array({"p-kill"}));
  EXPECT_EQ(daemon_->stop(SIGKILL), -1);
  start("persist3");
  EXPECT_EQ(rule_ids(rules("api")),
            (std::vector<std::string>{"p-ttl", "p-lan", "p-rate", "p-kill"}));

  // A rule whose expiry passed while the daemon was stopped is not restored.
  ASSERT_EQ(daemon_->stop(), 0) << daemon_->log();
  json saved = json::parse(read_text(state_));
  ASSERT_EQ(saved["rules"].size(), 4U) << saved;
  ASSERT_EQ(saved["rules"][0]["rule"]["id"], "p-ttl");
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  saved["rules"][0]["expires_at"] = now - 10;
  dir_.write("state.json", saved.dump(2));
  start("persist4");
  EXPECT_EQ(rule_ids(rules("api")), (std::vector<std::string>{"p-lan", "p-rate", "p-kill"}));
  EXPECT_NE(daemon_->log().find("runtime rules: restored 3 rule(s) from " + state_ +
                                " (1 expired while stopped, 0 left out)"),
            std::string::npos)
      << daemon_->log();
  EXPECT_TRUE(stats()["dynamic"]["state_error"].is_null());
}

/// A state file that does not parse is moved aside whole and the daemon starts with its file
/// rules; the next change writes a fresh file.
class RuntimeRulesCorruptState : public RuntimeRules {
 protected:
  void run(const std::string& bytes, const std::string& expected_error) {
    dir_.write("rules.yaml", "rules:\n  - id: f1\n    match: {dst_port: 9}\n    action: drop\n");
    configure(Ports::idle);
    dir_.write("state.json", bytes);
    start("corrupt");
    EXPECT_EQ(rule_ids(rules()), std::vector<std::string>{"f1"});
    const json dynamic = stats()["dynamic"];
    EXPECT_EQ(dynamic["state_error"], expected_error) << dynamic;
    ASSERT_TRUE(dynamic["state_moved_to"].is_string()) << dynamic;
    const std::string moved = dynamic["state_moved_to"].get<std::string>();
    EXPECT_EQ(moved.rfind(state_ + ".corrupt-", 0), 0U) << moved;
    EXPECT_EQ(read_text(moved), bytes) << "the corrupt file was not kept byte for byte";
    EXPECT_FALSE(std::filesystem::exists(state_));
    EXPECT_NE(
        daemon_->log().find(state_ + " does not parse (" + expected_error + "); moved it to " +
                            moved + " and started with the file rules only"),
        std::string::npos)
        << daemon_->log();

    ASSERT_EQ(ask(rule_add(json::array({rule("fresh", {{"dst_port", 53}}, "drop")})))["added"],
              json::array({"fresh"}));
    const json state = json::parse(read_text(state_), nullptr, false);
    ASSERT_TRUE(state.is_object()) << read_text(state_);
    ASSERT_EQ(state["rules"].size(), 1U);
    EXPECT_EQ(state["rules"][0]["rule"]["id"], "fresh");
    EXPECT_EQ(read_text(moved), bytes);
  }
};

TEST_F(RuntimeRulesCorruptState, GarbageIsMovedAside) {
  run(std::string("garbage{\x01\xff", 10),
      "not JSON: parse error at line 1, column 1: syntax error while parsing value - invalid "
      "literal; last read: 'g'");
}

TEST_F(RuntimeRulesCorruptState, TruncatedJsonIsMovedAside) {
  const std::string whole =
      "{\n  \"format\": \"udpsieve-dynamic-state\",\n  \"version\": 1,\n  \"written_at\": "
      "1700000000,\n  \"rules\": [\n    {\"rule\": {\"action\":\"drop\",\"id\":\"old\","
      "\"match\":{\"dst_port\":[\"53\"]}}, \"expires_at\": null, \"added_at\": 1700000000}\n  "
      "]\n}\n";
  run(whole.substr(0, whole.size() / 2),
      "not JSON: parse error at line 6, column 13: syntax error while parsing value - unexpected "
      "end of input; expected '[', '{', or a literal");
}

TEST_F(RuntimeRules, UnwritableStateFileRefusesApiChangesOnly) {
  dir_.write("rules.yaml", "rules: []\n");
  dir_.mkdir("state");
  state_ = dir_.file("state/dynamic.json");
  configure(Ports::idle);
  start("unwritable");
  // The state directory turns into a file: api rules cannot be saved any more.
  std::filesystem::remove(dir_.file("state"));
  dir_.write("state", "");
  const json refused = ask(rule_add(json::array({rule("r1", {{"dst_port", 53}}, "drop")})));
  EXPECT_EQ(error_text(refused.dump()), "rule-add refused, nothing changed: cannot write " +
                                            state_ + ": create directory " + dir_.file("state") +
                                            ": Not a directory");
  EXPECT_EQ(rule_ids(rules()), std::vector<std::string>{});
  // A feed's rules are not saved, so they still apply.
  const json feed = ask(rule_sync("bgp", json::array({rule("g1", {{"dst_port", 179}}, "drop")})));
  EXPECT_EQ(feed["added"], json::array({"g1"})) << feed;
  EXPECT_EQ(rule_ids(rules()), std::vector<std::string>{"g1"});
  EXPECT_EQ(stats()["dynamic"]["refusals"], 1);
}

// Changes sent together coalesce into one build. When that build cannot be applied (here: the
// api rules cannot be saved), the batch is rebuilt one change at a time, so each change is
// answered for itself: every api change is refused, the feed's change still applies, and a
// deletion that depended on a refused add is refused too — nothing is half-applied.
TEST_F(RuntimeRules, FailedBatchIsAnsweredChangeByChange) {
  dir_.write("rules.yaml", "rules: []\n");
  dir_.mkdir("state");
  state_ = dir_.file("state/dynamic.json");
  configure(Ports::idle);
  start("batch");
  // A bgp rule in effect before the state directory breaks.
  ASSERT_EQ(ask(rule_sync("bgp", json::array({rule("g0", {{"dst_port", 100}}, "drop")})))["added"],
            json::array({"g0"}));
  std::filesystem::remove_all(dir_.file("state"));
  dir_.write("state", "");

  std::vector<json> requests;
  for (int i = 0; i < 12; ++i) {
    requests.push_back(
        rule_add(json::array({rule("a" + std::to_string(i), {{"dst_port", 1000 + i}}, "drop")})));
  }
  requests.push_back(rule_sync("bgp", json::array({rule("g1", {{"dst_port", 179}}, "drop")})));
  requests.push_back(rule_del({"a0"}));  // relies on a0, which cannot be saved
  // All sent before any reply is read: they arrive within one or two control-loop passes.
  std::vector<std::unique_ptr<RawClient>> clients;
  for (const json& request : requests) {
    clients.push_back(std::make_unique<RawClient>(socket_, kReplyLimit));
    clients.back()->send_all(request.dump() + "\n");
  }
  std::vector<json> replies;
  for (auto& client : clients) {
    const std::vector<std::string> lines = client->read_lines(1);
    ASSERT_EQ(lines.size(), 1U);
    replies.push_back(json::parse(lines.front()));
  }
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(error_text(replies[static_cast<std::size_t>(i)].dump()),
              "rule-add refused, nothing changed: cannot write " + state_ + ": create directory " +
                  dir_.file("state") + ": Not a directory")
        << i;
  }
  EXPECT_EQ(replies[12]["added"], json::array({"g1"})) << replies[12];
  EXPECT_EQ(replies[12]["deleted"], json::array({"g0"})) << replies[12];
  EXPECT_NE(error_text(replies[13].dump()).find("rule-del refused, nothing changed: ids[0]: "),
            std::string::npos)
      << replies[13];
  EXPECT_EQ(rule_ids(rules()), std::vector<std::string>{"g1"});
  const json dynamic = stats()["dynamic"];
  EXPECT_EQ(dynamic["refusals"], 13);
  EXPECT_EQ(dynamic["pending"], 0);
  EXPECT_NE(dynamic["state_error"], nullptr);
  // Whether some of them shared a build depends on timing; say which path was taken.
  const bool coalesced = daemon_->log().find("applying them one by one") != std::string::npos;
  std::printf("[ runtime  ] %s\n", coalesced ? "a coalesced build failed and was split"
                                             : "every change was built on its own");
}

// A state file that exists but cannot be read stops the start (rather than starting without the
// saved rules); the message must name the key that holds the path, pipeline.dynamic_state. It
// names pipeline.rules and says the rules "cannot be compiled".
TEST_F(RuntimeRules, UnreadableStateFileStopsStartNamingDynamicState) {
  dir_.write("rules.yaml", "rules: []\n");
  dir_.mkdir("state.json");  // a directory where the file should be
  configure(Ports::idle);
  const auto result = run_program(
      {udpsieve::test::daemon_binary(), "--config", dir_.file("config.yaml"), "--file-prefix",
       udpsieve::test::unique_prefix("unreadable"), "--socket", socket_});
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(
      result.output.find("pipeline.dynamic_state: cannot read " + state_ + ": Is a directory"),
      std::string::npos)
      << result.output;
  EXPECT_EQ(result.output.find("pipeline.rules: the rules cannot be compiled"), std::string::npos)
      << result.output;
}

// --- reloads beside runtime rules --------------------------------------------------------------

TEST_F(RuntimeRules, ReloadKeepsRuntimeRulesAndRefusesTheirIds) {
  const std::string rules_path = dir_.write(
      "rules.yaml", "rules:\n  - id: f-ntp\n    match: {dst_port: 123}\n    action: drop\n");
  configure(Ports::fifo);
  start("reload");
  const std::vector<Flow> flows = {{"rt", {10, 0, 0, 1}, 4000},
                                   {"ntp", {10, 0, 0, 1}, 123},
                                   {"extra", {10, 0, 0, 1}, 4444},
                                   {"other", {10, 0, 0, 1}, 7777}};
  ASSERT_EQ(change(rule_add(json::array({rule("rt", {{"dst_port", 4000}}, "drop")})))["added"],
            json::array({"rt"}));
  const auto reload = [&] { return run_program({ctl_binary(), "--socket", socket_, "reload"}); };

  // Phase 1, then a reload that adds f-extra: rt stays, with its counters.
  traffic_->send(1, flows, 32);
  ASSERT_TRUE(wait_received());
  dir_.write("rules.yaml",
             "rules:\n  - id: f-ntp\n    match: {dst_port: 123}\n    action: drop\n"
             "  - id: f-extra\n    match: {dst_port: 4444}\n    action: drop\n");
  const auto applied = reload();
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  traffic_->pad();  // the reply does not wait for the worker: let it pass to the new table
  const json after_reload = rules();
  EXPECT_EQ(rule_ids(after_reload), (std::vector<std::string>{"rt", "f-ntp", "f-extra"}));
  EXPECT_EQ(entry_of(after_reload, "rt")["source"], "api");

  // Phase 2, then a reload whose file takes rt's id: refused, nothing changes.
  traffic_->send(2, flows, 32);
  ASSERT_TRUE(wait_received());
  dir_.write("rules.yaml",
             "rules:\n  - id: f-ntp\n    match: {dst_port: 123}\n    action: drop\n"
             "  - id: rt\n    match: {dst_port: 4000}\n    action: forward\n");
  const uint64_t generation_before = generation();
  const auto refused = reload();
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_EQ(refused.output, "udpsievectl: reload refused: the file rule \"rt\" at " + rules_path +
                                ":5:5 has the id of a runtime rule (source api); delete the "
                                "runtime rule (udpsievectl rule del rt) or rename the file rule\n");
  EXPECT_EQ(generation(), generation_before);
  const json kept = rules();
  EXPECT_EQ(rule_ids(kept), (std::vector<std::string>{"rt", "f-ntp", "f-extra"}));
  EXPECT_EQ(kept["reload"]["refused"], 1);

  // Once the runtime rule is gone, the same reload applies and rt is a file rule.
  ASSERT_EQ(change(rule_del({"rt"}))["deleted"], json::array({"rt"}));
  const auto second = reload();
  ASSERT_EQ(second.exit_code, 0) << second.output;
  traffic_->pad();
  const json file_rt = rules();
  EXPECT_EQ(rule_ids(file_rt), (std::vector<std::string>{"f-ntp", "rt"}));
  EXPECT_EQ(entry_of(file_rt, "rt")["source"], "file");
  EXPECT_EQ(entry_of(file_rt, "rt")["location"], rules_path + ":5:5");

  // Phase 3: the file's rt forwards.
  traffic_->send(3, flows, 32);
  const json final_stats = end_traffic();
  EXPECT_EQ(traffic_->wrong_fates([](const std::string& flow, int phase) {
    if (flow == "rt") return phase == 3;
    if (flow == "extra") return phase != 2;
    return flow == "other";
  }),
            "");
  const std::map<std::string, uint64_t> expected = {{"f-ntp", 96}, {"rt", 32}};
  EXPECT_EQ(settled_counts(expected), expected);
  const std::string log = stop_and_check(final_stats);
  EXPECT_NE(log.find("runtime rule rt deleted: final count 64 packets"), std::string::npos) << log;
}

// --- refusals ----------------------------------------------------------------------------------

struct Refusal {
  const char* description;
  json request;
  std::string error;  ///< the reply's "error", exactly
};

TEST_F(RuntimeRules, RefusalsNameTheFieldAndChangeNothing) {
  const std::string rules_path =
      dir_.write("rules.yaml", "rules:\n  - id: f1\n    match: {dst_port: 9}\n    action: drop\n");
  configure(Ports::idle, "[rules.yaml]", "forward", "  dynamic_max_rules: 3\n");
  start("refusals");
  ASSERT_EQ(ask(rule_add(json::array({rule("keep", {{"dst_port", 53}}, "drop")})))["added"],
            json::array({"keep"}));
  ASSERT_EQ(
      ask(rule_sync("bgp", json::array({rule("feed1", {{"dst_port", 179}}, "drop")})))["added"],
      json::array({"feed1"}));
  const json baseline = rules();
  const json good = rule("x1", {{"dst_port", 53}}, "drop");
  const auto with_match = [](const json& match) {
    return json::array({rule("x1", match, "drop")});
  };
  const auto rule_with = [&](const std::string& key, const json& value) {
    json changed = good;
    changed[key] = value;
    return changed;
  };
  const auto rule_without = [&](const std::string& key) {
    json changed = good;
    changed.erase(key);
    return changed;
  };
  const std::string add = "rule-add refused, nothing changed: ";
  const std::string del = "rule-del refused, nothing changed: ";
  const std::string file_place = "\"f1\" is a file rule at " + rules_path + ":2:5";

  const std::vector<Refusal> cases = {
      {"prefix too long", rule_add(with_match({{"src", {"10.0.0.0/33"}}})),
       add + "rules[0].match.src[0]: prefix length 33 is out of range 0-32 for IPv4"},
      {"host bits", rule_add(with_match({{"src", "10.0.0.1/8"}})),
       add + "rules[0].match.src: 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)"},
      {"not an address", rule_add(with_match({{"src", 5}})),
       add + "rules[0].match.src: '5' is not an IPv4 address"},
      {"port out of range", rule_add(with_match({{"dst_port", 70000}})),
       add + "rules[0].match.dst_port: 70000 is out of range 0-65535"},
      {"port of the wrong type", rule_add(with_match({{"dst_port", true}})),
       add + "rules[0].match.dst_port: 'true' is not a port or a port range like 1024-65535"},
      {"fractional port", rule_add(with_match({{"dst_port", 53.5}})),
       add + "rules[0].match.dst_port: '53.5' is not a port or a port range like 1024-65535"},
      {"unknown action", rule_add(json::array({rule("x1", {{"dst_port", 53}}, "reject")})),
       add + "rules[0].action: 'reject' is not an action; expected drop, forward, {forward: PORT} "
             "or {rate_limit: ...}"},
      {"action of the wrong type", rule_add(json::array({rule("x1", {{"dst_port", 53}}, 5)})),
       add + "rules[0].action: '5' is not an action; expected drop, forward, {forward: PORT} or "
             "{rate_limit: ...}"},
      {"rate limit without burst",
       rule_add(json::array({rule("x1", {{"dst_port", 53}}, {{"rate_limit", {{"pps", 10}}}})})),
       add + "rules[0].action.rate_limit: a pps limit needs burst (packets), e.g. {pps: 1000, "
             "burst: 100}"},
      {"unknown forward port",
       rule_add(json::array({rule("x1", {{"dst_port", 53}}, {{"forward", "nope"}})})),
       add + "rules[0].action.forward: unknown port \"nope\" (ports are: wan, lan)"},
      {"unknown in_port", rule_add(with_match({{"in_port", "nope"}})),
       add + "rules[0].match.in_port: unknown port \"nope\" (ports are: wan, lan)"},
      {"unknown match key", rule_add(with_match({{"dst_port", 53}, {"foo", 1}})),
       add + "rules[0].match.foo: unknown key (expected one of: src, dst, src_set, dst_set, "
             "src_port, dst_port, in_port, length, ttl, dscp, vlan, fragment, payload)"},
      {"unknown rule key",
       rule_add(json::array({json::object({{"id", "x1"}, {"action", "drop"}, {"extra", 1}})})),
       add + "rules[0].extra: unknown key (expected one of: id, match, action, note)"},
      {"match is a list", rule_add(json::array({rule("x1", json::array({53}), "drop")})),
       add + "rules[0].match: expected a mapping, got a list"},
      {"rule is not a mapping", rule_add(json::array({"x"})),
       add + "rules[0]: expected a mapping, got 'x'"},
      {"id is a list", rule_add(json::array({rule_with("id", json::array({"a"}))})),
       add + "rules[0].id: expected a single value, got a list"},
      {"no id", rule_add(json::array({rule_without("id")})),
       add + "rules[0].id: required key is missing"},
      {"empty id", rule_add(json::array({rule("", {{"dst_port", 53}}, "drop")})),
       add + "rules[0].id: must not be empty"},
      {"id with a space", rule_add(json::array({rule("x 1", {{"dst_port", 53}}, "drop")})),
       add + "rules[0].id: rule id \"x 1\" contains ' '; use only letters, digits and _ . : -"},
      {"no action", rule_add(json::array({rule_without("action")})),
       add + "rules[0].action: required key is missing"},
      {"duplicate id in the batch", rule_add(json::array({good, good})),
       add + "rules[1].id: duplicate rule id \"x1\" (also given at rules[0].id)"},
      {"one bad rule in a batch",
       rule_add(json::array({good, rule("x2", {{"dst_port", 70000}}, "drop")})),
       add + "rules[1].match.dst_port: 70000 is out of range 0-65535"},
      {"existing id without replace",
       rule_add(json::array({rule("keep", {{"dst_port", 54}}, "drop")})),
       add + "rules[0].id: runtime rule \"keep\" exists (source api); send \"replace\": true to "
             "replace it"},
      {"another source's id",
       rule_add(json::array({rule("feed1", {{"dst_port", 54}}, "drop")}), {{"replace", true}}),
       add + "rules[0].id: runtime rule \"feed1\" belongs to source bgp; only that source may "
             "replace it"},
      {"a file rule's id", rule_add(json::array({rule("f1", {{"dst_port", 54}}, "drop")})),
       add + "rules[0].id: " + file_place + "; runtime rules need ids of their own"},
      {"ttl 0", rule_add(json::array({good}), {{"ttl_s", 0}}),
       add + "ttl_s: expected whole seconds from 1 to 31536000 (a year), got 0"},
      {"ttl over a year", rule_add(json::array({good}), {{"ttl_s", 31536001}}),
       add + "ttl_s: expected whole seconds from 1 to 31536000 (a year), got 31536001"},
      {"negative ttl", rule_add(json::array({good}), {{"ttl_s", -5}}),
       add + "ttl_s: expected whole seconds from 1 to 31536000 (a year), got -5"},
      {"fractional ttl", rule_add(json::array({good}), {{"ttl_s", 1.5}}),
       add + "ttl_s: expected whole seconds from 1 to 31536000 (a year), got 1.5"},
      {"ttl as text", rule_add(json::array({good}), {{"ttl_s", "10"}}),
       add + "ttl_s: expected whole seconds from 1 to 31536000 (a year), got \"10\""},
      {"replace as text", rule_add(json::array({good}), {{"replace", "yes"}}),
       add + "replace: expected true or false, got \"yes\""},
      {"source file", rule_add(json::array({good}), {{"source", "file"}}),
       add + "source: expected a label of 1-32 lower-case letters, digits, _ or - starting with a "
             "letter (not \"file\"), got \"file\""},
      {"source in capitals", rule_add(json::array({good}), {{"source", "BGP"}}),
       add + "source: expected a label of 1-32 lower-case letters, digits, _ or - starting with a "
             "letter (not \"file\"), got \"BGP\""},
      {"empty rules", rule_add(json::array()),
       add + "rules: the list is empty; give at least one rule"},
      {"rules not a list", rule_add("x"),
       add + "rules: expected a list of rules like [{\"id\": \"x\", \"match\": {...}, \"action\": "
             "\"drop\"}], got \"x\""},
      {"no rules", {{"cmd", "rule-add"}}, "rule-add: the field 'rules' is required (list of RULE)"},
      {"unknown field", rule_add(json::array({good}), {{"bogus", 1}}),
       "rule-add: unknown field 'bogus' (fields: rules, ttl_s, replace, source)"},
      {"more than dynamic_max_rules in all",
       rule_add(json::array({good, rule("x2", {{"dst_port", 54}}, "drop")})),
       add + "rules: this change would bring the runtime rules to 4, more than "
             "pipeline.dynamic_max_rules (3); delete some first"},
      {"more than dynamic_max_rules in one request",
       rule_add(json::array({good, rule("x2", {{"dst_port", 54}}, "drop"),
                             rule("x3", {{"dst_port", 55}}, "drop"),
                             rule("x4", {{"dst_port", 56}}, "drop")})),
       add + "rules: 4 rules in one request, more than pipeline.dynamic_max_rules (3)"},
      {"sync without source",
       {{"cmd", "rule-sync"}, {"rules", json::array()}},
       "rule-sync: the field 'source' is required (string)"},
      {"sync over the limit",
       rule_sync("bgp", json::array({good, rule("x2", {{"dst_port", 54}}, "drop"),
                                     rule("x3", {{"dst_port", 55}}, "drop")})),
       "rule-sync refused, nothing changed: rules: this change would bring the runtime rules to "
       "4, more than pipeline.dynamic_max_rules (3); delete some first"},
      {"delete a missing id", rule_del({"nope"}),
       del + "ids[0]: no runtime rule \"nope\" (send \"missing_ok\": true to ignore ids that are "
             "gone)"},
      {"delete one present and one missing", rule_del({"keep", "nope"}),
       del + "ids[1]: no runtime rule \"nope\" (send \"missing_ok\": true to ignore ids that are "
             "gone)"},
      {"delete a file rule", rule_del({"f1"}, true),
       del + "ids[0]: " + file_place + "; edit that file and reload to remove it"},
      {"delete an id twice", rule_del({"keep", "keep"}),
       del + "ids[1]: \"keep\" is listed twice (also at ids[0])"},
      {"delete no ids", rule_del({}), del + "ids: expected a non-empty list of rule ids, got []"},
      {"ids not a list",
       {{"cmd", "rule-del"}, {"ids", "keep"}},
       del + "ids: expected a non-empty list of rule ids, got \"keep\""},
      {"id of the wrong type",
       {{"cmd", "rule-del"}, {"ids", {5}}},
       del + "ids[0]: expected a rule id, got 5"},
      {"missing_ok as a number",
       {{"cmd", "rule-del"}, {"ids", {"keep"}}, {"missing_ok", 1}},
       del + "missing_ok: expected true or false, got 1"},
  };
  uint64_t counted = 0;  // refusals the dynamic counters count: those past the request's shape
  for (const Refusal& refusal : cases) {
    SCOPED_TRACE(refusal.description);
    const json reply = ask(refusal.request);
    EXPECT_EQ(error_text(reply.dump()), refusal.error);
    if (refusal.error.find("refused, nothing changed") != std::string::npos) ++counted;
    ASSERT_FALSE(daemon_->exited().has_value()) << daemon_->log();
    const json now = rules();
    EXPECT_EQ(now["generation"], baseline["generation"]);
    EXPECT_EQ(now["rules"], baseline["rules"]);
  }
  EXPECT_EQ(stats()["dynamic"]["refusals"], counted);
  EXPECT_EQ(stats()["dynamic"]["builds"], 2);  // keep and feed1 only
}

// A JSON null where a match value belongs is read as if the key were absent: the rule then
// matches every packet on that field. A client that writes unset fields as null ("dst_port":
// null) would drop all traffic with a rule meant for one port. It must be refused.
TEST_F(RuntimeRules, NullMatchValueIsRefusedNotReadAsMatchAll) {
  dir_.write("rules.yaml", "rules: []\n");
  configure(Ports::idle);
  start("null_match");
  const json reply = ask(rule_add(json::array({rule("x1", {{"dst_port", nullptr}}, "drop")})));
  EXPECT_EQ(error_text(reply.dump())
                .rfind("rule-add refused, nothing changed: rules[0].match.dst_port: ", 0),
            0U)
      << "accepted: " << reply.dump() << "\nnow listed as " << entry_of(rules(), "x1").dump();
}

// The reply's "generation" should name the table generation `rules` then reports, so a client
// can tell which table holds its change. It comes from another counter (the rule parts', which
// reloads move too), one ahead of the table generation after the first change.
TEST_F(RuntimeRules, ReplyGenerationIsTheGenerationRulesReports) {
  dir_.write("rules.yaml", "rules: []\n");
  configure(Ports::idle);
  start("generation");
  for (int i = 0; i < 3; ++i) {
    const json reply = ask(
        rule_add(json::array({rule("g" + std::to_string(i), {{"dst_port", 100 + i}}, "drop")})));
    ASSERT_TRUE(reply.contains("generation")) << reply;
    EXPECT_EQ(reply["generation"], generation()) << "after change " << i;
  }
}

TEST_F(RuntimeRules, ASyncThatChangesNothingIsAnsweredWithoutABuild) {
  dir_.write("rules.yaml", "rules: []\n");
  configure(Ports::idle);
  start("noop_sync");
  const json rules =
      json::array({rule("f1", {{"dst_port", 53}}, "drop"), rule("f2", {{"dst_port", 54}}, "drop")});
  json request = rule_sync("feed", rules);
  request["ttl_s"] = 60;
  const json first = ask(request);
  ASSERT_EQ(first["added"].size(), 2U) << first;
  const auto builds = [&] { return ask({{"cmd", "stats"}})["dynamic"]["builds"]; };
  const json builds_before = builds();
  // A feeder renewing the time to live: the same rules, in the same order.
  request["ttl_s"] = 600;
  const json renewed = ask(request);
  EXPECT_EQ(renewed["unchanged"], 2) << renewed;
  EXPECT_EQ(renewed["generation"], first["generation"]) << renewed;
  EXPECT_EQ(builds(), builds_before);
  EXPECT_GT(renewed["expires_at_unix"].get<int64_t>(), first["expires_at_unix"].get<int64_t>());
  const json listed = ask({{"cmd", "rules"}, {"source", "feed"}});
  for (const json& row : listed["rules"])
    EXPECT_GT(row["expires_in_s"].get<double>(), 500.0) << row;
  // The same rules in another order are a change: built, in effect in that order.
  json swapped = rule_sync("feed", json::array({rules[1], rules[0]}));
  swapped["ttl_s"] = 600;
  const json reordered = ask(swapped);
  EXPECT_GT(reordered["generation"].get<uint64_t>(), first["generation"].get<uint64_t>());
  EXPECT_EQ(ask({{"cmd", "rules"}, {"source", "feed"}})["rules"][0]["id"], "f2");
}

// --- udpsievectl -------------------------------------------------------------------------------

/// udpsievectl with these arguments against the test's daemon.
udpsieve::test::RunResult ctl(const std::string& socket, std::vector<std::string> args) {
  args.insert(args.begin(), {ctl_binary(), "--socket", socket});
  return run_program(args);
}

TEST_F(RuntimeRules, CtlRuleCommands) {
  dir_.write("rules.yaml", "rules:\n  - id: f1\n    match: {dst_port: 9}\n    action: drop\n");
  configure(Ports::idle);
  start("ctl");
  const std::regex applied_tail(R"( \(generation \d+, applied in \d+\.\d ms\)\n)");
  const auto ends_applied = [&](const std::string& output, const std::string& head) {
    return output.rfind(head, 0) == 0 && std::regex_match(output.substr(head.size()), applied_tail);
  };

  // rule add FILE (YAML).
  const std::string file = dir_.write("add.yaml",
                                      "rules:\n  - id: c1\n    match: {dst_port: 1000}\n"
                                      "    action: drop\n  - id: c2\n"
                                      "    match: {src: [192.0.2.0/24]}\n    action: forward\n");
  const auto from_file = ctl(socket_, {"rule", "add", file});
  EXPECT_EQ(from_file.exit_code, 0) << from_file.output;
  EXPECT_TRUE(ends_applied(from_file.output, "added 2 rule(s): c1, c2; permanent"))
      << from_file.output;

  // rule add - (stdin) with a ttl.
  const std::string piped = dir_.write("piped.yaml",
                                       "rules:\n  - id: c3\n    match: {dst_port: 1001}\n"
                                       "    action: drop\n");
  const auto from_stdin = run_program(
      {"/bin/sh", "-c",
       "'" + ctl_binary() + "' --socket '" + socket_ + "' rule add --ttl 10m - < '" + piped + "'"});
  EXPECT_EQ(from_stdin.exit_code, 0) << from_stdin.output;
  std::smatch when;
  EXPECT_TRUE(
      std::regex_search(from_stdin.output, when,
                        std::regex(R"(^added 1 rule\(s\): c3; expires (\S+Z) \(generation)")))
      << from_stdin.output;
  const json c3 = entry_of(rules(), "c3");
  EXPECT_GT(c3["expires_in_s"].get<double>(), 300.0) << c3;
  EXPECT_LE(c3["expires_in_s"].get<double>(), 600.0) << c3;

  // --replace; without it an existing id is refused.
  const std::string again = dir_.write("again.yaml",
                                       "rules:\n  - id: c1\n    match: {dst_port: 1002}\n"
                                       "    action: drop\n");
  const auto refused = ctl(socket_, {"rule", "add", again});
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("runtime rule \"c1\" exists (source api)"), std::string::npos)
      << refused.output;
  const auto replaced = ctl(socket_, {"rule", "add", "--replace", again});
  EXPECT_EQ(replaced.exit_code, 0) << replaced.output;
  EXPECT_TRUE(ends_applied(replaced.output, "replaced 1 rule(s): c1; permanent"))
      << replaced.output;
  EXPECT_EQ(entry_of(rules(), "c1")["match"], json({{"dst_port", {"1002"}}}));

  // rule del, and --missing-ok.
  const auto del = ctl(socket_, {"rule", "del", "c2"});
  EXPECT_EQ(del.exit_code, 0) << del.output;
  EXPECT_TRUE(ends_applied(del.output, "deleted 1 rule(s): c2")) << del.output;
  const auto missing = ctl(socket_, {"rule", "del", "c2"});
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_EQ(missing.output,
            "udpsievectl: rule-del refused, nothing changed: ids[0]: no runtime rule \"c2\" (use "
            "--missing-ok to ignore ids that are gone)\n");
  const auto missing_ok = ctl(socket_, {"rule", "del", "--missing-ok", "c2", "zz"});
  EXPECT_EQ(missing_ok.exit_code, 0) << missing_ok.output;
  EXPECT_TRUE(ends_applied(missing_ok.output, "deleted 0 rule(s); missing: c2, zz"))
      << missing_ok.output;

  // rule list --source api: the runtime rules only.
  const auto listed = ctl(socket_, {"rule", "list", "--source", "api"});
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find(" c1 "), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find(" c3 "), std::string::npos) << listed.output;
  EXPECT_EQ(listed.output.find(" f1 "), std::string::npos) << listed.output;
  const auto as_json = ctl(socket_, {"rules", "--source", "api", "--json"});
  EXPECT_EQ(as_json.exit_code, 0) << as_json.output;
  EXPECT_EQ(rule_ids(json::parse(as_json.output)), (std::vector<std::string>{"c1", "c3"}));

  // block: one drop rule with a generated id.
  const auto blocked = ctl(socket_, {"block", "203.0.113.0/24", "--dst-port", "53", "--ttl", "1h"});
  EXPECT_EQ(blocked.exit_code, 0) << blocked.output;
  std::smatch block;
  ASSERT_TRUE(std::regex_match(
      blocked.output, block,
      std::regex(R"(blocked (block-\d{8}T\d{6}Z-[0-9a-f]{4}): 203\.0\.113\.0/24 dst_port 53 )"
                 R"(\(expires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)\n)")))
      << blocked.output;
  const json block_rule = entry_of(rules(), block[1].str());
  ASSERT_FALSE(block_rule.is_null()) << rules();
  EXPECT_EQ(block_rule["source"], "api");
  EXPECT_EQ(block_rule["action"], "drop");
  EXPECT_EQ(block_rule["match"], json({{"src", {"203.0.113.0/24"}}, {"dst_port", {"53"}}}));
  EXPECT_GT(block_rule["expires_in_s"].get<double>(), 3000.0) << block_rule;
  EXPECT_LE(block_rule["expires_in_s"].get<double>(), 3600.0) << block_rule;

  // A bad rule in a file is reported at its place in the file, and nothing is added.
  const std::string bad = dir_.write("bad.yaml",
                                     "rules:\n  - id: y1\n"
                                     "    match: {dst_port: 77, src: [10.0.0.0/33]}\n"
                                     "    action: drop\n");
  const std::vector<std::string> before = rule_ids(rules());
  const auto located = ctl(socket_, {"rule", "add", bad});
  EXPECT_EQ(located.exit_code, 1) << located.output;
  EXPECT_NE(located.output.find(bad + ":3:33: "), std::string::npos)
      << "no FILE:LINE:COL in: " << located.output;
  EXPECT_NE(located.output.find("rules[0].match.src[0]: prefix length 33 is out of range 0-32 "
                                "for IPv4"),
            std::string::npos)
      << located.output;
  EXPECT_EQ(rule_ids(rules()), before);
}

// --- many rules under traffic ------------------------------------------------------------------

std::string dotted(int a, int b, int c, int d) {
  return std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(c) + "." +
         std::to_string(d);
}

TEST_F(RuntimeRules, TenThousandRulesInOneRequestAndHundredRequestsUnderTraffic) {
  dir_.write("rules.yaml",
             "rules:\n  - id: f-chargen\n    match: {dst_port: 19}\n    action: drop\n");
  configure(Ports::fifo);
  start("many");
  // Four flows cycling: one no rule matches, the file rule's, and one for the last rule of each
  // set (m-9999 matches 172.16.39.15, n-99-99 172.17.99.99).
  const std::vector<Flow> flows = {{"other", {10, 0, 0, 1}, 5000},
                                   {"chargen", {10, 0, 0, 1}, 19},
                                   {"m", {172, 16, 39, 15}, 5000},
                                   {"n", {172, 17, 99, 99}, 5000}};
  std::atomic<bool> running{true};
  std::thread sender([&] {
    // Bursts of 8 per flow (one net_pcap burst) with a pause: steady traffic that leaves the two
    // CPUs to the builds.
    while (running.load()) {
      traffic_->send(0, flows, 8);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  struct StopSender {
    std::atomic<bool>& running;
    std::thread& sender;
    ~StopSender() {
      running.store(false);
      if (sender.joinable()) sender.join();
    }
  } stop_sender{running, sender};

  // 10,000 rules in one request.
  json big = json::array();
  std::vector<std::string> big_ids;
  for (int i = 0; i < 10000; ++i) {
    big_ids.push_back("m-" + std::to_string(i));
    big.push_back(
        rule(big_ids.back(), {{"src", dotted(172, 16, i / 256, i % 256) + "/32"}}, "drop"));
  }
  const json big_reply = ask(rule_add(big));
  ASSERT_EQ(big_reply.value("added", json::array()).size(), 10000U)
      << big_reply.dump().substr(0, 300);

  // 100 requests of 100, at once from 100 clients.
  const auto in_parallel = [&](const std::function<json(int)>& request_of) {
    std::vector<json> replies(100);
    std::vector<std::thread> clients;
    for (int k = 0; k < 100; ++k) {
      clients.emplace_back([&, k] {
        try {
          replies[static_cast<std::size_t>(k)] = ask(request_of(k));
        } catch (const std::exception& e) {
          replies[static_cast<std::size_t>(k)] = {{"error", e.what()}};
        }
      });
    }
    for (std::thread& client : clients)
      client.join();
    return replies;
  };
  const auto small_ids = [](int k) {
    std::vector<std::string> ids;
    for (int i = 0; i < 100; ++i)
      ids.push_back("n-" + std::to_string(k) + "-" + std::to_string(i));
    return ids;
  };
  const std::vector<json> added = in_parallel([&](int k) {
    json batch = json::array();
    for (int i = 0; i < 100; ++i) {
      batch.push_back(rule("n-" + std::to_string(k) + "-" + std::to_string(i),
                           {{"src", dotted(172, 17, k, i) + "/32"}}, "drop"));
    }
    return rule_add(batch);
  });
  for (int k = 0; k < 100; ++k) {
    EXPECT_EQ(added[static_cast<std::size_t>(k)].value("added", json::array()), json(small_ids(k)))
        << added[static_cast<std::size_t>(k)].dump().substr(0, 300);
  }
  const json all = rules("api");
  ASSERT_EQ(all["rules"].size(), 20000U);
  std::set<std::string> expected_ids(big_ids.begin(), big_ids.end());
  for (int k = 0; k < 100; ++k) {
    for (const std::string& id : small_ids(k))
      expected_ids.insert(id);
  }
  const std::vector<std::string> listed = rule_ids(all);
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), expected_ids);
  EXPECT_EQ(std::vector<std::string>(listed.begin(), listed.begin() + 10000), big_ids)
      << "the big batch keeps its order, first";
  const json dynamic = stats()["dynamic"];
  EXPECT_EQ(dynamic["rules"], 20000);
  EXPECT_EQ(dynamic["adds"], 20000);
  EXPECT_LE(dynamic["builds"].get<uint64_t>(), 101U) << "changes that wait are built together";
  // Both sets match their flows while the traffic runs.
  EXPECT_TRUE(wait_until([&] {
    const auto packets = rule_packets(rules("api"));
    return packets.at("m-9999") > 0 && packets.at("n-99-99") > 0;
  }));

  // Delete them the same way.
  const json big_del = ask(rule_del(big_ids));
  EXPECT_EQ(big_del.value("deleted", json::array()).size(), 10000U)
      << big_del.dump().substr(0, 300);
  const std::vector<json> deleted = in_parallel([&](int k) { return rule_del(small_ids(k)); });
  for (int k = 0; k < 100; ++k) {
    EXPECT_EQ(deleted[static_cast<std::size_t>(k)].value("deleted", json::array()),
              json(small_ids(k)))
        << deleted[static_cast<std::size_t>(k)].dump().substr(0, 300);
  }
  EXPECT_EQ(rules("api")["rules"].size(), 0U);

  running.store(false);
  sender.join();
  const json final_stats = end_traffic();
  EXPECT_EQ(final_stats["dynamic"]["rules"], 0);
  EXPECT_EQ(final_stats["dynamic"]["deletes"], 20000);
  // Exact: every packet of "other" passed and every chargen one was dropped by the file rule;
  // what m-9999 and n-99-99 reported when they left equals what their flows lost.
  EXPECT_EQ(traffic_->dropped("other"), 0U);
  EXPECT_EQ(traffic_->forwarded("chargen"), 0U);
  const std::map<std::string, uint64_t> chargen = {{"f-chargen", traffic_->sent("chargen")}};
  EXPECT_EQ(settled_counts(chargen), chargen);
  EXPECT_EQ(final_stats["totals"]["drops"]["rule"].get<uint64_t>(),
            traffic_->dropped("chargen") + traffic_->dropped("m") + traffic_->dropped("n"));
  const std::string log = stop_and_check(final_stats);
  EXPECT_GT(traffic_->dropped("m"), 0U);
  // The final counts logged as the rules left (one line per rule for the first ones of each
  // second, then one summed line) add up to what the two flows lost.
  uint64_t logged = 0;
  std::size_t lines = 0;
  for (std::size_t at = log.find("final count "); at != std::string::npos;
       at = log.find("final count ", at + 1)) {
    logged += std::stoull(log.substr(at + std::string("final count ").size()));
    ++lines;
  }
  EXPECT_EQ(logged, traffic_->dropped("m") + traffic_->dropped("n"));
  EXPECT_LT(lines, 2000U) << "20,000 deletions flooded the log";
  std::printf("[ runtime  ] %llu packets while 20,000 rules came and went\n",
              static_cast<unsigned long long>(traffic_->total()));
}

}  // namespace
