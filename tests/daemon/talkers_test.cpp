// Top talkers on a live daemon: ten planted heavy sources, each 2% of the traffic, among
// 100,000 random sources, replayed at full speed (net_pcap infinite_rx) through a rule that
// drops five of them (port 53) and one that forwards the other five (port 123). Every heavy
// source must be in the top 20, each at its share of the window's packets within +-20%, in the
// view of its verdict and not in the other; their /24 and /48 prefixes, their ports and the
// rules must come out at their shares too. The shares compare a talker's estimated rate with
// the exactly counted rate of all packets over the same window, so the check does not depend
// on how fast this machine replays.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "support/daemon_process.hpp"
#include "support/packet_builder.hpp"

namespace {

using nlohmann::json;
using udpsieve::test::DaemonProcess;
using udpsieve::test::PacketBuilder;
using udpsieve::test::TempDir;

constexpr int kRandomSources = 100'000;
constexpr int kHeavyFrames = 2'500;  // each heavy source: 2% of 125,000 frames

/// The planted heavy sources: 0-4 send to port 53 (dropped), 5-9 to port 123 (forwarded); the
/// last is IPv6.
struct Heavy {
  std::string address;
  uint16_t port;
};
const std::vector<Heavy> kHeavy = {
    {"198.51.100.1", 53}, {"198.51.100.2", 53},  {"198.51.100.3", 53}, {"198.51.100.4", 53},
    {"198.51.100.5", 53}, {"203.0.113.6", 123},  {"203.0.113.7", 123}, {"203.0.113.8", 123},
    {"203.0.113.9", 123}, {"2001:db8:9::9", 123}};

constexpr const char* kRules = R"(rules:
  - id: drop-dns
    match: {dst_port: 53}
    action: drop
  - id: allow-ntp
    match: {dst_port: 123}
    action: forward
)";

void write_traffic(const std::string& path) {
  std::mt19937_64 random(2026);
  std::vector<std::vector<uint8_t>> frames;
  frames.reserve(kRandomSources + kHeavy.size() * kHeavyFrames);
  const auto dst = udpsieve::test::ipv4_address("192.0.2.10");
  std::set<uint32_t> used;
  while (used.size() < kRandomSources) {
    // Random unicast sources outside the heavy sources' /24s.
    const auto address = static_cast<uint32_t>(16U << 24 | (random() % (207U << 24)));
    const uint32_t slash24 = address >> 8;
    if (slash24 == 0xc63364 || slash24 == 0xcb0071 || !used.insert(address).second) continue;
    const udpsieve::test::Ipv4Address src = {
        static_cast<uint8_t>(address >> 24), static_cast<uint8_t>(address >> 16),
        static_cast<uint8_t>(address >> 8), static_cast<uint8_t>(address)};
    frames.push_back(PacketBuilder{}
                         .ipv4({.src = src, .dst = dst})
                         .udp({.src_port = static_cast<uint16_t>(1024 + random() % 60000),
                               .dst_port = static_cast<uint16_t>(1024 + random() % 60000)})
                         .payload_size(18)
                         .build());
  }
  for (const Heavy& heavy : kHeavy) {
    const bool v6 = heavy.address.find(':') != std::string::npos;
    for (int i = 0; i < kHeavyFrames; ++i) {
      const udpsieve::test::UdpSpec udp{.src_port = static_cast<uint16_t>(20000 + i % 1000),
                                        .dst_port = heavy.port};
      PacketBuilder builder;
      if (v6) {
        builder.ipv6({.src = udpsieve::test::ipv6_address(heavy.address),
                      .dst = udpsieve::test::ipv6_address("2001:db8:100::10")});
      } else {
        builder.ipv4({.src = udpsieve::test::ipv4_address(heavy.address), .dst = dst});
      }
      frames.push_back(builder.udp(udp).payload_size(18).build());
    }
  }
  std::shuffle(frames.begin(), frames.end(), random);
  udpsieve::test::write_pcap(path, frames);
}

class Talkers : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_DPDK();
    write_traffic(dir_.file("in.pcap"));
    dir_.write("rules.yaml", kRules);
    const std::string config = dir_.write(
        "config.yaml",
        "eal:\n  lcores: [0, 1]\n  memory_mb: 1024\n  mbufs: 262143\nports:\n"
        "  - {name: wan, device: \"net_pcap0,rx_pcap=in.pcap,infinite_rx=1\", forward_to: sink}\n"
        "  - {name: sink, device: \"net_null0,no-rx=1\", forward_to: wan}\n"
        "pipeline:\n  rules: [rules.yaml]\ncontrol:\n  stats_interval_ms: 50\n");
    daemon_.emplace(
        std::vector<std::string>{"--config", config, "--file-prefix",
                                 udpsieve::test::unique_prefix("talkers"), "--socket", socket_},
        dir_.file("d.log"));
    ASSERT_TRUE(daemon_->wait_ready(socket_)) << daemon_->log();
  }
  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    }
  }

  json talkers(const std::string& by, const std::string& verdict, int top = 20) {
    const auto result = udpsieve::test::run_program(
        {udpsieve::test::ctl_binary(), "--socket", socket_, "--json", "talkers", "--by", by,
         "--verdict", verdict, "--top", std::to_string(top)});
    EXPECT_EQ(result.exit_code, 0) << result.output;
    return json::parse(result.output);
  }

  /// Each key's share of the reply's packets.
  static std::map<std::string, double> shares(const json& reply) {
    std::map<std::string, double> out;
    for (const json& talker : reply["talkers"])
      out[talker["key"].get<std::string>()] = talker["share"].get<double>();
    return out;
  }

  /// Checks that `key` is listed with `expected` share, within +-20%.
  static void expect_share(const json& reply, const std::string& key, double expected) {
    const auto found = shares(reply);
    const auto it = found.find(key);
    ASSERT_NE(it, found.end()) << key << " missing from " << reply.dump(1);
    EXPECT_NEAR(it->second, expected, expected * 0.2) << key << " in " << reply.dump(1);
  }

  TempDir dir_;
  std::string socket_ = dir_.file("ctl.sock");
  std::optional<DaemonProcess> daemon_;
};

TEST_F(Talkers, PlantedHeavySourcesAreFoundAtTheirRates) {
  // Wait for a window of five seconds of full-speed replay holding kMinSamples samples: each
  // planted source then has about 1,000, a relative error near 3%, far inside +-20%. (The
  // default sampling, 1 in 16 but at most 100,000 samples a second, samples a full-speed
  // replay at about 1 in 100-250 after its first second: the estimates mix periods sampled at
  // different rates, each scaled by its own.)
  constexpr uint64_t kMinSamples = 50'000;
  json all;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    all = talkers("src", "all");
    ASSERT_TRUE(all.contains("window_s")) << all.dump();
  } while ((all["window_s"].get<double>() < 5 || all["sampled"].get<uint64_t>() < kMinSamples) &&
           std::chrono::steady_clock::now() < deadline);
  ASSERT_GE(all["window_s"].get<double>(), 5) << daemon_->log();
  // What was measured, for the log: the window, the packets in it, each heavy source's share.
  std::printf("window %.2f s, %.2f Mpps, %llu samples (1 in %.1f); shares %%:",
              all["window_s"].get<double>(), all["pps"].get<double>() / 1e6,
              static_cast<unsigned long long>(all["sampled"].get<uint64_t>()),
              all["effective_sampling"].get<double>());
  for (std::size_t i = 0; i < kHeavy.size() && i < all["talkers"].size(); ++i)
    std::printf(" %.3f", 100 * all["talkers"][i]["share"].get<double>());
  std::printf("\n");
  EXPECT_EQ(all["sampling"], 16);
  EXPECT_EQ(all["max_sample_rate"], 100000);
  EXPECT_GE(all["effective_sampling"].get<double>(), 15.0) << "never more than 1 in 16, bar luck";
  EXPECT_GE(all["sampled"].get<uint64_t>(), kMinSamples) << "enough samples for the shares";

  // All packets: every heavy source at 2%, listed heaviest first, the error bound small.
  ASSERT_GE(all["talkers"].size(), kHeavy.size());
  for (std::size_t i = 0; i < kHeavy.size(); ++i) {
    expect_share(all, kHeavy[i].address, 0.02);
    // The ten heaviest are the planted ones (a random source is 0.0008%).
    const std::string key = all["talkers"][i]["key"].get<std::string>();
    EXPECT_TRUE(std::any_of(kHeavy.begin(), kHeavy.end(), [&](const Heavy& heavy) {
      return heavy.address == key;
    })) << key;
    EXPECT_LT(all["talkers"][i]["error_pps"].get<double>(),
              0.2 * all["talkers"][i]["pps"].get<double>());
  }

  // Per verdict: the dropped five are 20% each of what was dropped, and absent from the
  // forwarded view; the forwarded five 2/90 each of what was forwarded.
  const json dropped = talkers("src", "drop");
  const json forwarded = talkers("src", "forward");
  for (std::size_t i = 0; i < kHeavy.size(); ++i) {
    const bool drop = kHeavy[i].port == 53;
    expect_share(drop ? dropped : forwarded, kHeavy[i].address, drop ? 0.2 : 0.02 / 0.9);
    EXPECT_FALSE(shares(drop ? forwarded : dropped).contains(kHeavy[i].address))
        << kHeavy[i].address;
  }
  EXPECT_EQ(dropped["talkers"].size(), 5U) << "only the port-53 senders were dropped";

  // Prefixes, ports and rules.
  const json prefixes = talkers("src_prefix", "all", 5);
  expect_share(prefixes, "198.51.100.0/24", 0.10);
  expect_share(prefixes, "203.0.113.0/24", 0.08);
  expect_share(prefixes, "2001:db8:9::/48", 0.02);
  const json ports = talkers("dst_port", "all", 5);
  expect_share(ports, "53", 0.10);
  expect_share(ports, "123", 0.10);
  const json rules = talkers("rule", "all", 5);
  expect_share(rules, "(no rule)", 0.80);
  expect_share(rules, "drop-dns", 0.10);
  expect_share(rules, "allow-ntp", 0.10);
  for (const json& rule : rules["talkers"]) {
    EXPECT_EQ(rule["source"], rule["key"] == "(no rule)" ? "default" : "file") << rule.dump();
  }
  const json drop_rules = talkers("rule", "drop", 5);
  ASSERT_EQ(drop_rules["talkers"].size(), 1U) << drop_rules.dump(1);
  EXPECT_EQ(drop_rules["talkers"][0]["key"], "drop-dns");
  EXPECT_DOUBLE_EQ(drop_rules["talkers"][0]["share"].get<double>(), 1.0);

  // The table udpsievectl prints names them too.
  const auto table = udpsieve::test::run_program(
      {udpsieve::test::ctl_binary(), "--socket", socket_, "talkers", "--verdict", "drop"});
  EXPECT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find("talkers by src, dropped packets, last"), std::string::npos)
      << table.output;
  for (std::size_t i = 0; i < 5; ++i)
    EXPECT_NE(table.output.find(kHeavy[i].address), std::string::npos) << table.output;
}

TEST(TalkersOff, TheCommandSaysSo) {
  REQUIRE_DPDK();
  TempDir dir;
  dir.write("rules.yaml", kRules);
  const std::string config = dir.write("config.yaml",
                                       "eal:\n  lcores: [0, 1]\n  memory_mb: 256\nports:\n"
                                       "  - {name: wan, device: \"net_null0\", forward_to: wan}\n"
                                       "pipeline:\n  rules: [rules.yaml]\n  talker_sampling: 0\n");
  const std::string socket = dir.file("ctl.sock");
  DaemonProcess daemon({"--config", config, "--file-prefix",
                        udpsieve::test::unique_prefix("talkers_off"), "--socket", socket},
                       dir.file("d.log"));
  ASSERT_TRUE(daemon.wait_ready(socket)) << daemon.log();
  const auto result =
      udpsieve::test::run_program({udpsieve::test::ctl_binary(), "--socket", socket, "talkers"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.output, "udpsievectl: talkers are off (pipeline.talker_sampling is 0)\n");
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}

}  // namespace
