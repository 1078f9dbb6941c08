// Datapath scenarios: for each folder under tests/scenarios/, run udpsieved on net_pcap
// (rx_pcap=in.pcap, tx_pcap=out.pcap), wait until every input packet was counted, stop it,
// and compare each out*.pcap with its expected*.pcap byte for byte, and the counters with
// expect.yaml.
//
// Folder layout: config.yaml, rules.yaml, in.pcap, expected.pcap, expect.yaml; scenarios with
// several ports add expected-<name>.pcap files compared against out-<name>.pcap (and may read
// more in*.pcap files). expect.yaml lists totals, drop reasons, each rule's packets and, under
// `limits`, the passed/limited packets of rate-limited rules.
//
// Every scenario runs twice, with `offload: auto` and `offload: off` on every port: verdicts and
// counters are the same expected ones either way (net_pcap has no rte_flow, so `auto` plans
// the NIC's share and falls back to software).
//
// Every scenario also checks that no mbuf leaked: the mempools' in_use count after the run
// must come back to its baseline, the count of the same configuration with empty captures
// (what the PMDs hold while idle: RX descriptors on a real NIC, nothing for rx_pcap).
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "support/daemon_process.hpp"

namespace fs = std::filesystem;
using udpsieve::test::DaemonProcess;
using udpsieve::test::TempDir;

namespace {

std::vector<std::string> scenario_names() {
  std::vector<std::string> names;
  const fs::path root = fs::path(udpsieve::test::source_dir()) / "tests" / "scenarios";
  for (const auto& entry : fs::directory_iterator(root)) {
    if (entry.is_directory() && fs::exists(entry.path() / "config.yaml")) {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string hex(const std::vector<uint8_t>& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

/// Sum of the packets in every in*.pcap of `dir`.
uint64_t input_packets(const fs::path& dir) {
  uint64_t total = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("in", 0) == 0 && entry.path().extension() == ".pcap") {
      total += udpsieve::test::read_pcap(entry.path().string()).size();
    }
  }
  return total;
}

/// Mbufs taken from every mempool, per the `stats` reply.
uint64_t mbufs_in_use(const nlohmann::json& stats) {
  uint64_t in_use = 0;
  for (const auto& pool : stats["mempools"])
    in_use += pool["in_use"].get<uint64_t>();
  return in_use;
}

/// The mempools' in_use count of the scenario's configuration before any packet: the daemon
/// is run on a copy of the folder whose captures are empty. (The real run starts replaying
/// at once, so its own count before the first packet cannot be read.)
std::optional<uint64_t> idle_mbufs_in_use(const fs::path& source, const std::string& name,
                                          std::string& log) {
  TempDir dir;
  fs::copy(source, dir.path(), fs::copy_options::recursive);
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("in", 0) == 0 && entry.path().extension() == ".pcap") {
      udpsieve::test::write_pcap(entry.path().string(), {});
    }
  }
  const std::string socket = (dir.path() / "ctl.sock").string();
  DaemonProcess daemon({"--config", (dir.path() / "config.yaml").string(), "--file-prefix",
                        udpsieve::test::unique_prefix(name + "_idle"), "--socket", socket},
                       (dir.path() / "daemon.log").string());
  std::optional<uint64_t> in_use;
  if (daemon.wait_ready(socket)) in_use = mbufs_in_use(daemon.request(socket, "stats"));
  if (daemon.stop() != 0) in_use.reset();
  log = daemon.log();
  return in_use;
}

/// Polls `stats` until the mempools' in_use count is `baseline` (mbufs freed by TX completions
/// may come back a little after the counters); returns the last count seen.
uint64_t wait_mbufs_back(const DaemonProcess& daemon, const std::string& socket,
                         uint64_t baseline) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  uint64_t in_use = mbufs_in_use(daemon.request(socket, "stats"));
  while (in_use != baseline && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    in_use = mbufs_in_use(daemon.request(socket, "stats"));
  }
  return in_use;
}

/// Sets `offload: MODE` on every port of DIR/config.yaml.
void set_offload(const fs::path& dir, const std::string& mode) {
  const std::string path = (dir / "config.yaml").string();
  YAML::Node config = YAML::LoadFile(path);
  for (YAML::Node port : config["ports"])
    port["offload"] = mode;
  std::ofstream(path) << YAML::Dump(config) << "\n";
}

using ScenarioParam = std::tuple<std::string, std::string>;  // folder, offload mode
class Scenario : public testing::TestWithParam<ScenarioParam> {};

TEST_P(Scenario, OutputAndCountersMatch) {
  REQUIRE_DPDK();
  const auto& [name, offload] = GetParam();
  const fs::path source = fs::path(udpsieve::test::source_dir()) / "tests" / "scenarios" / name;
  TempDir dir;
  fs::copy(source, dir.path(), fs::copy_options::recursive);
  set_offload(dir.path(), offload);
  const uint64_t packets = input_packets(dir.path());
  ASSERT_GT(packets, 0U) << "scenario has no input packets";
  std::string idle_log;
  const std::optional<uint64_t> baseline = idle_mbufs_in_use(dir.path(), name, idle_log);
  ASSERT_TRUE(baseline.has_value()) << "the idle run failed\n" << idle_log;

  const std::string socket = (dir.path() / "ctl.sock").string();
  DaemonProcess daemon({"--config", (dir.path() / "config.yaml").string(), "--file-prefix",
                        udpsieve::test::unique_prefix(name), "--socket", socket},
                       (dir.path() / "daemon.log").string());
  ASSERT_TRUE(daemon.wait_ready(socket)) << daemon.log();
  const auto waited = daemon.wait_rx(socket, packets);
  ASSERT_TRUE(waited.has_value()) << "daemon never counted " << packets << " packets\n"
                                  << daemon.log();
  // Two more stats intervals: nothing beyond the capture may arrive.
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  const nlohmann::json stats = daemon.request(socket, "stats");
  const nlohmann::json& totals = stats["totals"];
  EXPECT_EQ(totals["rx_packets"].get<uint64_t>(), packets);
  EXPECT_EQ(totals["rx_packets"].get<uint64_t>(), totals["forwarded_packets"].get<uint64_t>() +
                                                      totals["dropped_packets"].get<uint64_t>());
  // Every mbuf the run took went back to its pool.
  EXPECT_EQ(wait_mbufs_back(daemon, socket, *baseline), *baseline)
      << "mbufs leaked (in_use before any packet: " << *baseline << ")";

  ASSERT_EQ(daemon.stop(), 0) << daemon.log();
  const std::string log = daemon.log();
  EXPECT_EQ(udpsieve::test::final_total(log, "rx_packets"), packets) << log;
  EXPECT_EQ(udpsieve::test::final_total(log, "port_rx_packets"), packets) << log;
  EXPECT_EQ(udpsieve::test::final_total(log, "forwarded_packets"),
            totals["forwarded_packets"].get<uint64_t>());
  EXPECT_EQ(udpsieve::test::final_total(log, "dropped_packets"),
            totals["dropped_packets"].get<uint64_t>());

  // Counters named in expect.yaml.
  const YAML::Node expect = YAML::LoadFile((dir.path() / "expect.yaml").string());
  for (const auto& item : expect["totals"]) {
    const std::string key = item.first.as<std::string>();
    EXPECT_EQ(totals[key].get<uint64_t>(), item.second.as<uint64_t>()) << "totals." << key;
  }
  for (const auto& item : expect["drops"]) {
    const std::string key = item.first.as<std::string>();
    EXPECT_EQ(totals["drops"][key].get<uint64_t>(), item.second.as<uint64_t>()) << "drops." << key;
    EXPECT_EQ(udpsieve::test::final_total(log, "drop_" + key), item.second.as<uint64_t>());
  }
  std::map<std::string, nlohmann::json> rule_stats;
  for (const auto& rule : stats["rules"]) {
    rule_stats[rule["id"].get<std::string>()] = rule;
    EXPECT_EQ(rule["offloaded"], false) << rule;  // net_pcap has no rte_flow
    EXPECT_TRUE(rule["hw_packets"].is_null()) << rule;
  }
  for (const auto& item : expect["rules"]) {
    const std::string id = item.first.as<std::string>();
    ASSERT_TRUE(rule_stats.count(id) != 0) << "no rule " << id << " in stats";
    EXPECT_EQ(rule_stats[id]["packets"].get<uint64_t>(), item.second.as<uint64_t>())
        << "rule " << id;
  }
  // Rate-limited rules: packets within the rate (forwarded) and beyond it (dropped).
  for (const auto& item : expect["limits"]) {
    const std::string id = item.first.as<std::string>();
    ASSERT_TRUE(rule_stats.count(id) != 0) << "no rule " << id << " in stats";
    const nlohmann::json& rule = rule_stats[id];
    for (const char* key : {"passed", "limited"}) {
      ASSERT_TRUE(rule.contains(key)) << "rule " << id << " has no " << key << ": " << rule;
      EXPECT_EQ(rule[key].get<uint64_t>(), item.second[key].as<uint64_t>())
          << "rule " << id << " " << key;
    }
  }

  // Frames out, byte for byte.
  int compared = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("expected", 0) != 0 || entry.path().extension() != ".pcap") continue;
    const std::string out_name = "out" + file.substr(std::string("expected").size());
    const auto expected = udpsieve::test::read_pcap(entry.path().string());
    const auto actual = udpsieve::test::read_pcap((dir.path() / out_name).string());
    ASSERT_EQ(actual.size(), expected.size()) << out_name << " frame count";
    for (std::size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(hex(actual[i]), hex(expected[i])) << out_name << " frame " << i;
    }
    ++compared;
  }
  EXPECT_GT(compared, 0) << "scenario has no expected*.pcap";
}

INSTANTIATE_TEST_SUITE_P(Scenarios, Scenario,
                         testing::Combine(testing::ValuesIn(scenario_names()),
                                          testing::Values("auto", "off")),
                         [](const testing::TestParamInfo<ScenarioParam>& param) {
                           std::string id =
                               std::get<0>(param.param) + "_offload_" + std::get<1>(param.param);
                           std::replace(id.begin(), id.end(), '-', '_');
                           return id;
                         });

}  // namespace
