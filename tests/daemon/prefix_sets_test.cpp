// Prefix sets against a live daemon: set files loaded at start, rules matching on src_set and
// dst_set, runtime set-add / set-del / set-flush / set-list under traffic with exact accounting
// (traffic through FIFOs, tests/support/fifo_traffic.hpp), entries with a time to live, the
// set state file across a restart, reloads that re-read set files (and one refused for a broken
// file, the old contents staying), stats and metrics, udpsievectl's set commands, and every
// refusal's text.
//
// A set change switches the tables' copies at once; the next change must wait until every
// worker passed a quiescent point since. With FIFO input the worker waits inside read() while
// the test sends nothing, so change() sends one burst of padding (ARP, dropped as non_udp) when
// a reply does not come at once.
#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
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
using udpsieve::test::Flow;
using udpsieve::test::FlowTraffic;
using udpsieve::test::RawClient;
using udpsieve::test::rule_packets;
using udpsieve::test::run_program;
using udpsieve::test::TempDir;
using udpsieve::test::wait_until;

constexpr auto kReplyLimit = std::chrono::seconds(60);

const char* const kRules =
    "rules:\n"
    "  - id: allow-resolvers\n"
    "    match: {src_set: resolvers, dst_port: 53}\n"
    "    action: forward\n"
    "  - id: drop-blocked\n"
    "    match: {src_set: [blocked, feed]}\n"
    "    action: drop\n"
    "  - id: guard-servers\n"
    "    match: {dst_set: servers, dst_port: 7000}\n"
    "    action: drop\n";

/// Sources: r (resolver, also inside a blocked /16), b (blocked /16), h (a blocked host),
/// o (in no set); every flow goes to 10.9.9.9 (in `servers`).
const std::vector<Flow> kFlows = {{"r53", {10, 1, 2, 3}, 53},     {"b53", {10, 1, 3, 3}, 53},
                                  {"h80", {10, 7, 7, 7}, 80},     {"o53", {10, 2, 0, 1}, 53},
                                  {"o7000", {10, 2, 0, 1}, 7000}, {"o80", {10, 2, 0, 1}, 80},
                                  {"r80", {10, 1, 2, 3}, 80},     {"f80", {10, 3, 0, 9}, 80}};
constexpr std::size_t kPerFlow = 16;  // 8 flows x 16 = 4 bursts per phase

class PrefixSets : public testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_DPDK();
    socket_ = dir_.file("ctl.sock");
    dir_.write("resolvers.txt", "# our resolvers\n10.1.2.0/24\n2001:db8:53::/48 ; v6 too\n");
    dir_.write("blocked.txt", "10.1.0.0/16\n10.7.7.7\n");
    dir_.write("feed.txt", "");
    dir_.write("servers.txt", "10.9.9.9\n");
    dir_.write("rules.yaml", kRules);
  }

  void TearDown() override {
    if (traffic_) traffic_->end();
    if (daemon_ && !daemon_->exited().has_value()) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    }
  }

  /// config.yaml with `sets` (the four sets of SetUp when empty); FIFO traffic, or two idle
  /// net_null ports (whose worker never blocks, so it can restart).
  void configure(const std::string& sets = "", bool fifo = true) {
    fifo_ = fifo;
    dir_.write("config.yaml",
               "eal:\n  lcores: [0, 1]\n  hugepages: off\n  memory_mb: 1024\nports:\n" +
                   std::string(fifo ? "  - {name: wan, device: \"net_pcap0,rx_pcap=in.fifo\", "
                                      "forward_to: out}\n"
                                      "  - {name: out, device: \"net_pcap1,tx_pcap=out.fifo\", "
                                      "forward_to: wan}\n"
                                    : "  - {name: wan, device: \"net_null0,no-rx=1\", "
                                      "forward_to: lan}\n"
                                      "  - {name: lan, device: \"net_null1,no-rx=1\", "
                                      "forward_to: wan}\n") +
                   (sets.empty() ? std::string("sets:\n"
                                               "  resolvers: {file: resolvers.txt}\n"
                                               "  blocked: {file: blocked.txt}\n"
                                               "  feed: {file: feed.txt}\n"
                                               "  servers: {file: servers.txt}\n")
                                 : sets) +
                   "pipeline:\n  non_udp: drop\n  rules: [rules.yaml]\n  dynamic_state: " +
                   dir_.file("state.json") + "\ncontrol:\n  stats_interval_ms: 10\n");
  }

  void start(const std::string& name) {
    if (fifo_) traffic_ = std::make_unique<FlowTraffic>(dir_);
    daemon_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"--config", dir_.file("config.yaml"), "--file-prefix",
                                 udpsieve::test::unique_prefix(name), "--socket", socket_},
        dir_.file(name + ".log"));
    ASSERT_TRUE(daemon_->wait_ready(socket_)) << daemon_->log();
    if (traffic_) traffic_->watch_output();
  }

  /// A reload, then padding once it is applied: a worker waiting in read() with the table
  /// it had takes the new one after its next burst.
  json reload() {
    const json reply = change({{"cmd", "reload"}});
    traffic_->pad();
    EXPECT_TRUE(wait_received());
    return reply;
  }

  json ask(const json& request) const {
    return json::parse(udpsieve::cli::request(socket_, request.dump(), kReplyLimit));
  }
  json stats() const { return ask({{"cmd", "stats"}}); }

  /// Sends a set change; pads the traffic once when the reply does not come at once (the
  /// worker sits in read() and must pass a quiescent point; see the top of the file).
  json change(const json& request) {
    RawClient client(socket_, kReplyLimit);
    client.send_all(request.dump() + "\n");
    bool padded = traffic_ == nullptr;
    const auto started = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < started + kReplyLimit) {
      pollfd readable{client.fd(), POLLIN, 0};
      if (poll(&readable, 1, 5) > 0) {
        const std::vector<std::string> lines = client.read_lines(1);
        if (lines.empty()) break;
        return json::parse(lines.front());
      }
      if (!padded && std::chrono::steady_clock::now() > started + std::chrono::milliseconds(20)) {
        traffic_->pad();
        padded = true;
      }
    }
    ADD_FAILURE() << "no reply to " << request.dump() << "\n" << daemon_->log();
    return {{"error", "no reply"}};
  }

  static json set_cmd(const std::string& cmd, const std::string& set,
                      const std::vector<std::string>& prefixes = {}) {
    json request = {{"cmd", cmd}, {"set", set}};
    if (!prefixes.empty()) request["prefixes"] = prefixes;
    return request;
  }

  /// Sends phase `phase` of the flows and waits until the daemon received all of it.
  bool send_phase(int phase) {
    traffic_->send(phase, kFlows, kPerFlow);
    return wait_received();
  }

  bool wait_received() {
    return wait_until(
        [&] { return stats()["ports"][0]["rx_packets"].get<uint64_t>() == traffic_->total(); });
  }

  /// Ends the traffic; checks every packet is accounted for exactly; the final stats.
  json end_traffic() {
    traffic_->end();
    EXPECT_TRUE(traffic_->wait_input_closed()) << traffic_->input_error();
    EXPECT_TRUE(daemon_->wait_rx(socket_, traffic_->total()).has_value()) << daemon_->log();
    const json final_stats = stats();
    const json& totals = final_stats["totals"];
    EXPECT_EQ(totals["rx_packets"].get<uint64_t>(), traffic_->total());
    EXPECT_EQ(totals["rx_packets"].get<uint64_t>(), totals["forwarded_packets"].get<uint64_t>() +
                                                        totals["dropped_packets"].get<uint64_t>());
    EXPECT_EQ(totals["drops"]["non_udp"].get<uint64_t>(), traffic_->padding());
    EXPECT_TRUE(wait_until(
        [&] { return traffic_->forwarded() >= totals["forwarded_packets"].get<uint64_t>(); }));
    EXPECT_EQ(traffic_->bad_frames(), 0U);
    return final_stats;
  }

  /// The rule counters once they reach `expected` (they settle a stats interval later).
  std::map<std::string, uint64_t> settled(const std::map<std::string, uint64_t>& expected) {
    std::map<std::string, uint64_t> now;
    (void)wait_until([&] {
      now = rule_packets(ask({{"cmd", "rules"}}));
      for (const auto& [id, packets] : expected) {
        if (now.count(id) == 0 || now.at(id) != packets) return false;
      }
      return true;
    });
    return now;
  }

  static json set_of(const json& stats, const std::string& name) {
    for (const json& set : stats.value("sets", json::array())) {
      if (set["name"] == name) return set;
    }
    return nullptr;
  }

  TempDir dir_;
  std::string socket_;
  bool fifo_ = true;
  std::unique_ptr<FlowTraffic> traffic_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(PrefixSets, FileSetsAndRuntimeChangesDecideTrafficExactly) {
  configure();
  start("sets_traffic");

  // Phase 0: the files' sets. r53 is a resolver (forwarded before the blocked /16 drops it);
  // b53, h80, r80 are blocked; o7000 goes to a guarded server; the rest pass.
  ASSERT_TRUE(send_phase(0));

  // Phase 1: 10.2.0.0/16 joins `feed` (o53, o7000 and o80 now dropped by drop-blocked), the
  // host 10.7.7.7 leaves `blocked` (h80 passes), and 10.1.2.3 leaves the resolvers by a
  // delete of the /24 (r53 now dropped as blocked).
  json reply = change(set_cmd("set-add", "feed", {"10.2.0.0/16", "2001:db8::/32"}));
  EXPECT_EQ(reply, json({{"set", "feed"},
                         {"added", 2},
                         {"already_present", 0},
                         {"prefixes_v4", 1},
                         {"prefixes_v6", 1},
                         {"runtime_entries", 2}}))
      << reply;
  reply = change(set_cmd("set-del", "blocked", {"10.7.7.7"}));
  EXPECT_EQ(reply.value("removed", 0), 1) << reply;
  reply = change(set_cmd("set-del", "resolvers", {"10.1.2.0/24"}));
  EXPECT_EQ(reply.value("removed", 0), 1) << reply;
  ASSERT_TRUE(send_phase(1));

  // Phase 2: `feed` flushed, the resolvers back at runtime.
  reply = change(set_cmd("set-flush", "feed"));
  EXPECT_EQ(reply, json({{"set", "feed"}, {"removed", 2}})) << reply;
  reply = change(set_cmd("set-add", "resolvers", {"10.1.2.0/24"}));
  EXPECT_EQ(reply.value("added", 0), 1) << reply;
  traffic_->send(2, kFlows, kPerFlow);

  const json final_stats = end_traffic();
  EXPECT_EQ(traffic_->wrong_fates([](const std::string& flow, int phase) {
    if (phase == 0) return flow == "r53" || flow == "o53" || flow == "o80" || flow == "f80";
    if (phase == 1) return flow == "h80" || flow == "f80";
    return flow == "r53" || flow == "h80" || flow == "o53" || flow == "o80" || flow == "f80";
  }),
            "");
  const uint64_t n = kPerFlow;
  // allow-resolvers: r53 in phases 0 and 2. drop-blocked: phase 0 b53 h80 r80; phase 1 r53 b53
  // r80 o53 o7000 o80; phase 2 b53 r80. guard-servers: o7000 in phases 0 and 2.
  const std::map<std::string, uint64_t> expected = {
      {"allow-resolvers", 2 * n}, {"drop-blocked", 11 * n}, {"guard-servers", 2 * n}};
  EXPECT_EQ(settled(expected), expected);

  // Hits: every looked-up source in `blocked` (b53, r53, r80, and h80 in phase 0), and the
  // destination 10.9.9.9 in `servers` for every packet (dst_set is used, so every packet's
  // destination is looked up).
  const json blocked = set_of(final_stats, "blocked");
  EXPECT_EQ(blocked["prefixes_v4"], 1) << final_stats.dump();
  EXPECT_EQ(blocked["runtime_entries"], 0);
  EXPECT_EQ(blocked["hits"], 3 * 3 * n + n) << final_stats.dump();
  EXPECT_EQ(set_of(final_stats, "servers")["hits"], 3 * 8 * n);
  EXPECT_EQ(set_of(final_stats, "resolvers")["runtime_entries"], 1);
  EXPECT_EQ(final_stats["set_tables"]["routes_v6"], 1);
  EXPECT_GT(final_stats["set_tables"]["memory_bytes"].get<uint64_t>(), 0U);
  EXPECT_EQ(final_stats["set_tables"]["changes"], 5);

  const std::string metrics = ask({{"cmd", "metrics"}})["metrics"].get<std::string>();
  EXPECT_NE(metrics.find("udpsieve_set_prefixes_v4{set=\"blocked\"} 1\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("udpsieve_set_hits_total{set=\"servers\"} " + std::to_string(3 * 8 * n)),
            std::string::npos);
  EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
}

TEST_F(PrefixSets, RuntimeEntriesPersistExpireAndSurviveReloads) {
  configure("", false);
  start("sets_persist");
  EXPECT_EQ(change(set_cmd("set-add", "feed", {"192.0.2.0/24", "198.51.100.7"}))["added"], 2);
  json with_ttl = set_cmd("set-add", "feed", {"203.0.113.0/24"});
  with_ttl["ttl_s"] = 1;
  EXPECT_EQ(change(with_ttl)["added"], 1);
  // A prefix of the file deleted at runtime comes back at the next reload (the file says so).
  EXPECT_EQ(change(set_cmd("set-del", "blocked", {"10.7.7.7"}))["removed"], 1);

  json listed = ask(set_cmd("set-list", "feed"));
  EXPECT_EQ(listed["prefixes"].size(), 3U) << listed;
  EXPECT_EQ(listed["prefixes"][0]["prefix"], "192.0.2.0/24");
  EXPECT_EQ(listed["prefixes"][0]["runtime"], true);
  EXPECT_EQ(listed["prefixes"][0]["file"], false);
  EXPECT_TRUE(listed["prefixes"][2]["expires_at"].is_string()) << listed;
  // The entry with a TTL expires by itself.
  EXPECT_TRUE(wait_until([&] { return ask(set_cmd("set-list", "feed"))["prefixes"].size() == 2; }))
      << ask(set_cmd("set-list", "feed"));

  // A broken set file refuses the reload; the sets stay as they were.
  dir_.write("blocked.txt", "10.1.0.0/16\n10.7.7.777\n");
  json refused = ask({{"cmd", "reload"}});
  EXPECT_EQ(refused.value("error", ""),
            dir_.file("blocked.txt") + ":2:1: sets.blocked: '10.7.7.777' is not an IPv4 address")
      << refused;
  EXPECT_EQ(ask(set_cmd("set-list", "blocked"))["prefixes_v4"], 1);
  // A good one applies: the file's contents, and the runtime entries on top.
  dir_.write("blocked.txt", "10.1.0.0/16\n10.7.7.7\n10.8.0.0/16\n");
  ASSERT_FALSE(ask({{"cmd", "reload"}}).contains("error"));
  EXPECT_EQ(ask(set_cmd("set-list", "blocked"))["prefixes_v4"], 3);
  listed = ask(set_cmd("set-list", "feed"));
  EXPECT_EQ(listed["prefixes_v4"], 2) << listed;

  // Restart: the runtime entries come back from the set state file.
  ASSERT_EQ(daemon_->stop(), 0) << daemon_->log();
  start("sets_persist2");
  listed = ask(set_cmd("set-list", "feed"));
  ASSERT_EQ(listed["prefixes"].size(), 2U) << listed;
  EXPECT_EQ(listed["prefixes"][1]["prefix"], "198.51.100.7/32");
  EXPECT_EQ(listed["runtime_entries"], 2);

  // Removing a set from the configuration drops its runtime entries at the reload.
  configure(
      "sets:\n  resolvers: {file: resolvers.txt}\n  blocked: {file: blocked.txt}\n"
      "  servers: {file: servers.txt}\n  extra: {file: feed.txt}\n",
      false);
  dir_.write("rules.yaml",
             "rules:\n  - id: drop-blocked\n    match: {src_set: [blocked, extra]}\n"
             "    action: drop\n");
  ASSERT_FALSE(ask({{"cmd", "reload"}}).contains("error")) << daemon_->log();
  const json after = stats();
  EXPECT_TRUE(set_of(after, "feed").is_null());
  EXPECT_EQ(set_of(after, "extra")["runtime_entries"], 0);
  EXPECT_EQ(set_of(after, "blocked")["prefixes_v4"], 3);
  // `extra` took the slot `feed` left (sets are listed in slot order).
  EXPECT_EQ(ask(set_cmd("set-list", "feed")).value("error", ""),
            "set: unknown set \"feed\" (sets are: resolvers, blocked, extra, servers)");
}

TEST_F(PrefixSets, AReloadKeepsTheRunningSetsWhileTheirFilesStayAsRead) {
  configure();
  // Files read at least 2 s after they last changed are vouched for by their stat() later.
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  start("sets_kept");
  ASSERT_TRUE(send_phase(0));

  // A runtime entry, then a reload for a rule file's change: the set files are not read, the
  // sets go on as they are (10.2.0.0/16 in `feed`: o53, o7000 and o80 dropped).
  EXPECT_EQ(change(set_cmd("set-add", "feed", {"10.2.0.0/16"}))["added"], 1);
  dir_.write("rules.yaml", std::string(kRules) +
                               "  - id: unused\n    match: {dst_port: 9999}\n    action: drop\n");
  json reload = this->reload();
  EXPECT_EQ(reload.value("sets_kept", false), true) << reload;
  EXPECT_EQ(reload.value("rules_rebuilt", false), true) << reload;
  EXPECT_EQ(ask(set_cmd("set-list", "feed"))["runtime_entries"], 1);
  ASSERT_TRUE(send_phase(1));

  // A prefix the file lists deleted at runtime (h80 passes) comes back at the next reload,
  // which reads the set files for it; the runtime entry stays.
  EXPECT_EQ(change(set_cmd("set-del", "blocked", {"10.7.7.7"}))["removed"], 1);
  ASSERT_TRUE(send_phase(2));
  reload = this->reload();
  EXPECT_EQ(reload.value("sets_kept", true), false) << reload;
  EXPECT_EQ(ask(set_cmd("set-list", "blocked"))["prefixes_v4"], 2);
  EXPECT_EQ(ask(set_cmd("set-list", "feed"))["runtime_entries"], 1);
  traffic_->send(3, kFlows, kPerFlow);
  // Read long after their last change, the files are vouched for again.
  reload = change({{"cmd", "reload"}});
  EXPECT_EQ(reload.value("sets_kept", false), true) << reload;

  const json final_stats = end_traffic();
  EXPECT_EQ(traffic_->wrong_fates([](const std::string& flow, int phase) {
    if (phase == 0) return flow == "r53" || flow == "o53" || flow == "o80" || flow == "f80";
    if (phase == 2) return flow == "r53" || flow == "h80" || flow == "f80";
    return flow == "r53" || flow == "f80";
  }),
            "");
  const uint64_t n = kPerFlow;
  // drop-blocked: phase 0 b53 h80 r80; phases 1 and 3 those and o53 o7000 o80; phase 2 all
  // but h80. guard-servers: o7000 in phase 0 (drop-blocked takes it first later).
  const std::map<std::string, uint64_t> expected = {
      {"allow-resolvers", 4 * n}, {"drop-blocked", 20 * n}, {"guard-servers", n}, {"unused", 0}};
  EXPECT_EQ(settled(expected), expected);
  EXPECT_NE(daemon_->log().find("set files unchanged: the running sets kept"), std::string::npos)
      << daemon_->log();
  EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
}

TEST_F(PrefixSets, AChangedSetFileIsAppliedToTheRunningSets) {
  configure();
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  start("sets_file_change");
  ASSERT_TRUE(send_phase(0));

  // A runtime entry for a prefix the file lists; then the file drops that prefix (h80 stays
  // dropped: the runtime entry holds it) and lists 10.3.0.0/16 (f80 dropped from now on).
  const json added = change(set_cmd("set-add", "blocked", {"10.7.7.7"}));
  EXPECT_EQ(added["already_present"], 1) << added;
  EXPECT_EQ(added["runtime_entries"], 1) << added;
  dir_.write("blocked.txt", "10.1.0.0/16\n10.3.0.0/16\n");
  json reload = this->reload();
  EXPECT_EQ(reload.value("sets_kept", false), true) << reload;
  EXPECT_EQ(reload["set_file_changes"], json({{"added", 1}, {"removed", 1}})) << reload;
  EXPECT_EQ(reload.value("rules_rebuilt", true), false) << reload;
  json listed = ask(set_cmd("set-list", "blocked"));
  EXPECT_EQ(listed["prefixes_v4"], 3) << listed;
  EXPECT_EQ(
      listed["prefixes"][2],
      json(
          {{"prefix", "10.7.7.7/32"}, {"file", false}, {"runtime", true}, {"expires_at", nullptr}}))
      << listed;
  ASSERT_TRUE(send_phase(1));

  // Deleting the runtime entry takes the prefix out (h80 passes); the file no longer lists
  // it, so the files still stand for the sets and the next reload keeps them.
  EXPECT_EQ(change(set_cmd("set-del", "blocked", {"10.7.7.7"}))["removed"], 1);
  ASSERT_TRUE(send_phase(2));
  reload = this->reload();
  EXPECT_EQ(reload.value("sets_kept", false), true) << reload;
  EXPECT_EQ(reload["set_file_changes"], json({{"added", 0}, {"removed", 0}})) << reload;

  const json final_stats = end_traffic();
  EXPECT_EQ(traffic_->wrong_fates([](const std::string& flow, int phase) {
    if (phase == 0) return flow == "r53" || flow == "o53" || flow == "o80" || flow == "f80";
    if (phase == 1) return flow == "r53" || flow == "o53" || flow == "o80";
    return flow == "r53" || flow == "o53" || flow == "o80" || flow == "h80";
  }),
            "");
  const uint64_t n = kPerFlow;
  // drop-blocked: phase 0 b53 h80 r80; phase 1 those and f80; phase 2 b53 r80 f80.
  // guard-servers: o7000 in every phase.
  const std::map<std::string, uint64_t> expected = {
      {"allow-resolvers", 3 * n}, {"drop-blocked", 10 * n}, {"guard-servers", 3 * n}};
  EXPECT_EQ(settled(expected), expected);
  EXPECT_NE(daemon_->log().find("set files changed: 1 prefix(es) added to and 1 taken out of the "
                                "running sets"),
            std::string::npos)
      << daemon_->log();

  // udpsievectl says what the files changed.
  dir_.write("blocked.txt", "10.1.0.0/16\n10.3.0.0/16\n10.4.0.0/16\n");
  const auto out = run_program({ctl_binary(), "--socket", socket_, "reload"});
  EXPECT_EQ(out.exit_code, 0) << out.output;
  EXPECT_NE(out.output.find("prefix sets kept with their files' changes (1 added, 0 taken out)"),
            std::string::npos)
      << out.output;
  EXPECT_EQ(ask(set_cmd("set-list", "blocked"))["prefixes_v4"], 3);
  EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
}

TEST_F(PrefixSets, ASetChangeDuringAReloadThatKeepsTheSetsMakesItReadThem) {
  configure("", false);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  // Each stage of a classifier build waits: the reload is still being built when the
  // set-del comes.
  const udpsieve::test::ScopedEnv hooks("UDPSIEVE_TEST_HOOKS", "1");
  const udpsieve::test::ScopedEnv stage("UDPSIEVE_TEST_COMPILE_STAGE", "pause:300");
  start("sets_kept_race");
  dir_.write("rules.yaml", std::string(kRules) +
                               "  - id: unused\n    match: {dst_port: 9999}\n    action: drop\n");
  RawClient reloader(socket_, kReplyLimit);
  reloader.send_all(json({{"cmd", "reload"}}).dump() + "\n");
  ASSERT_TRUE(wait_until([&] {
    return daemon_->log().find("reload (udpsievectl)") != std::string::npos;
  })) << daemon_->log();
  EXPECT_EQ(change(set_cmd("set-del", "blocked", {"10.7.7.7"}))["removed"], 1);
  EXPECT_EQ(ask(set_cmd("set-list", "blocked"))["prefixes_v4"], 1);
  const std::vector<std::string> lines = reloader.read_lines(1);
  ASSERT_EQ(lines.size(), 1U) << daemon_->log();
  const json reload = json::parse(lines.front());
  EXPECT_EQ(reload.value("sets_kept", true), false) << reload;
  EXPECT_EQ(ask(set_cmd("set-list", "blocked"))["prefixes_v4"], 2) << daemon_->log();
  EXPECT_NE(daemon_->log().find("a set change took out a prefix a set file lists meanwhile"),
            std::string::npos)
      << daemon_->log();
  EXPECT_EQ(ask({{"cmd", "rules"}})["reload"]["applied"], 1);

  // udpsievectl says when the sets were kept.
  const auto out = run_program({ctl_binary(), "--socket", socket_, "reload"});
  EXPECT_EQ(out.exit_code, 0) << out.output;
  EXPECT_NE(out.output.find("(1 unchanged, nothing rebuilt), prefix sets kept, generation"),
            std::string::npos)
      << out.output;
}

TEST_F(PrefixSets, RefusalsSayWhatIsWrong) {
  configure("", false);
  start("sets_errors");
  const auto error_of = [&](const json& request) { return ask(request).value("error", ""); };
  EXPECT_EQ(error_of(set_cmd("set-add", "nope", {"10.0.0.0/8"})),
            "set: unknown set \"nope\" (sets are: resolvers, blocked, feed, servers)");
  EXPECT_EQ(error_of(set_cmd("set-add", "feed", {"10.0.0.1/8"})),
            "prefixes[0]: 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)");
  EXPECT_EQ(error_of(set_cmd("set-add", "feed", {"10.0.0.0/8", "0.0.0.0/0"})),
            "prefixes[1]: 0.0.0.0/0 holds every address; a rule without src_set / dst_set "
            "already matches them all");
  EXPECT_EQ(error_of(set_cmd("set-add", "feed")),
            "set-add: the field 'prefixes' is required (list of string)");
  json empty = set_cmd("set-add", "feed");
  empty["prefixes"] = json::array();
  EXPECT_EQ(error_of(empty),
            "prefixes: expected a non-empty list of prefixes like [\"192.0.2.0/24\", "
            "\"2001:db8::1\"]");
  EXPECT_EQ(error_of(set_cmd("set-del", "feed", {"10.0.0.0/8"})),
            "prefixes[0]: 10.0.0.0/8 is not in the set feed (missing_ok: true to ignore)");
  json limit = set_cmd("set-list", "feed");
  limit["limit"] = 0;
  EXPECT_EQ(error_of(limit), "limit: expected a number from 1 to 100000");
  json ttl = set_cmd("set-add", "feed", {"10.0.0.0/8"});
  ttl["ttl_s"] = 0;
  EXPECT_EQ(error_of(ttl), "ttl_s: expected whole seconds from 1 to 31536000 (a year), got 0");
  // Nothing of a refused request took effect.
  EXPECT_EQ(ask(set_cmd("set-list", "feed"))["prefixes"].size(), 0U);
  // A rule naming an unknown set, at runtime.
  const json bad_rule = {
      {"cmd", "rule-add"},
      {"rules", {{{"id", "x"}, {"match", {{"src_set", "nope"}}}, {"action", "drop"}}}}};
  EXPECT_EQ(error_of(bad_rule),
            "rule-add refused, nothing changed: rules[0].match.src_set: unknown set \"nope\" (sets "
            "are: resolvers, blocked, feed, "
            "servers)");
  // A runtime rule on a set keeps that set from leaving the configuration.
  const json good_rule = {
      {"cmd", "rule-add"},
      {"rules", {{{"id", "r-feed"}, {"match", {{"src_set", "feed"}}}, {"action", "drop"}}}}};
  EXPECT_FALSE(ask(good_rule).contains("error"));
  configure(
      "sets:\n  resolvers: {file: resolvers.txt}\n  blocked: {file: blocked.txt}\n"
      "  servers: {file: servers.txt}\n",
      false);
  dir_.write("rules.yaml",
             "rules:\n  - id: drop-blocked\n    match: {src_set: blocked}\n    action: drop\n");
  EXPECT_EQ(error_of({{"cmd", "reload"}}),
            "reload refused: the set \"feed\" is gone from sets but the runtime rule \"r-feed\" "
            "(source api) matches on it; delete that rule first (udpsievectl rule del r-feed)");
}

TEST_F(PrefixSets, AChangeThatCannotBeSavedIsRefusedWhole) {
  configure("", false);
  start("sets_unwritable");
  EXPECT_EQ(change(set_cmd("set-add", "feed", {"192.0.2.0/24"}))["added"], 1);
  // The set state file's place is taken by a directory: saving fails.
  const std::string saved = dir_.file("state.sets.json");
  std::filesystem::remove(saved);
  std::filesystem::create_directory(saved);
  for (const json& request :
       {set_cmd("set-add", "feed", {"198.51.100.0/24"}),
        set_cmd("set-del", "feed", {"192.0.2.0/24"}), set_cmd("set-flush", "feed")}) {
    const json reply = change(request);
    EXPECT_NE(reply.value("error", "").find("cannot write " + saved), std::string::npos)
        << request.dump() << " -> " << reply;
  }
  const json listed = ask(set_cmd("set-list", "feed"));
  ASSERT_EQ(listed["prefixes"].size(), 1U) << listed;
  EXPECT_EQ(listed["prefixes"][0]["prefix"], "192.0.2.0/24");
  EXPECT_EQ(listed["runtime_entries"], 1);
}

TEST_F(PrefixSets, WithoutSetsTheCommandsSaySo) {
  dir_.write("config.yaml",
             "eal:\n  lcores: [0, 1]\n  hugepages: off\n  memory_mb: 256\nports:\n"
             "  - {name: wan, device: \"net_null0,no-rx=1\", forward_to: lan}\n"
             "  - {name: lan, device: \"net_null1,no-rx=1\", forward_to: wan}\n"
             "control:\n  stats_interval_ms: 10\n");
  daemon_ = std::make_unique<DaemonProcess>(
      std::vector<std::string>{"--config", dir_.file("config.yaml"), "--file-prefix",
                               udpsieve::test::unique_prefix("sets_none"), "--socket", socket_},
      dir_.file("none.log"));
  ASSERT_TRUE(daemon_->wait_ready(socket_)) << daemon_->log();
  EXPECT_EQ(ask(set_cmd("set-list", "x")).value("error", ""),
            "no prefix sets are configured (declare them under `sets` in the configuration)");
  EXPECT_FALSE(stats().contains("sets"));
}

TEST_F(PrefixSets, UdpsievectlSetCommands) {
  configure("", false);
  start("sets_cli");
  const auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--socket", socket_});
    args.insert(args.begin(), ctl_binary());
    return run_program(args);
  };
  auto out = ctl({"set", "add", "feed", "192.0.2.0/24", "2001:db8::/32", "--ttl", "1h"});
  EXPECT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(out.output,
            "set feed: 2 added, 0 already present; holds 1 IPv4 and 1 IPv6 prefix(es), 2 added "
            "at runtime\n");
  out = ctl({"set", "list", "blocked"});
  EXPECT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(out.output,
            "set blocked: 2 IPv4 and 0 IPv6 prefix(es), 0 added at runtime\n"
            "prefix       from  expires\n"
            "10.1.0.0/16  file        -\n"
            "10.7.7.7/32  file        -\n");
  out = ctl({"set", "del", "--missing-ok", "feed", "192.0.2.0/24", "10.0.0.0/8"});
  EXPECT_EQ(out.output,
            "set feed: 1 removed, 1 not present; holds 0 IPv4 and 1 IPv6 prefix(es), 1 added at "
            "runtime\n");
  out = ctl({"set", "flush", "feed"});
  EXPECT_EQ(out.output, "set feed: 1 prefix(es) removed\n");
  out = ctl({"set", "add", "feed"});
  EXPECT_NE(out.exit_code, 0);
  EXPECT_NE(out.output.find("at least one prefix is required"), std::string::npos) << out.output;
}

}  // namespace
