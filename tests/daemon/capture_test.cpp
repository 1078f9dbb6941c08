// udpsievectl capture against a live daemon: packets selected by rule or by verdict land in a
// pcapng file that libpcap and tcpdump read, each annotated with its rule and verdict; bad
// requests are refused clearly; traffic and counters carry on throughout.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <thread>

#include "support/daemon_process.hpp"
#include "support/packet_builder.hpp"
#include "udpsieve/cli/client.hpp"
#include "udpsieve/common/pcapng.hpp"

namespace {

using udpsieve::test::DaemonProcess;
using udpsieve::test::PacketBuilder;
using udpsieve::test::run_program;
using udpsieve::test::TempDir;

class Capture : public testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_DPDK();
    // NTP (dropped by rule), DNS (forwarded by rule), other UDP (default: forward).
    std::vector<std::vector<uint8_t>> frames;
    for (const uint16_t port : {uint16_t{123}, uint16_t{53}, uint16_t{9999}}) {
      frames.push_back(PacketBuilder()
                           .ipv4({.src = {192, 0, 2, 1}, .dst = {198, 51, 100, 1}})
                           .udp({.src_port = 40000, .dst_port = port})
                           .payload_size(100)
                           .build());
    }
    udpsieve::test::write_pcap(dir_.file("in.pcap"), frames);
    dir_.write("rules.yaml",
               "rules:\n"
               "  - {id: drop-ntp, match: {dst_port: 123}, action: drop}\n"
               "  - {id: dns, match: {dst_port: 53}, action: forward}\n");
    const std::string config = dir_.write(
        "config.yaml",
        "eal:\n  lcores: [0, 1]\n  hugepages: off\n  memory_mb: 256\nports:\n"
        "  - {name: wan, device: \"net_pcap0,rx_pcap=in.pcap,infinite_rx=1\", forward_to: lan}\n"
        "  - {name: lan, device: \"net_null0,no-rx=1\", forward_to: wan}\n"
        "pipeline:\n  rules: [rules.yaml]\ncontrol:\n  stats_interval_ms: 20\n");
    socket_ = dir_.file("ctl.sock");
    daemon_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"--config", config, "--file-prefix",
                                 udpsieve::test::unique_prefix("capture"), "--socket", socket_},
        dir_.file("d.log"));
    ASSERT_TRUE(daemon_->wait_ready(socket_)) << daemon_->log();
  }
  void TearDown() override {
    if (!daemon_) return;
    EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    const auto rx = udpsieve::test::final_total(daemon_->log(), "rx_packets");
    const auto forwarded = udpsieve::test::final_total(daemon_->log(), "forwarded_packets");
    const auto dropped = udpsieve::test::final_total(daemon_->log(), "dropped_packets");
    ASSERT_TRUE(rx && forwarded && dropped) << daemon_->log();
    EXPECT_EQ(*rx, *forwarded + *dropped);
  }

  udpsieve::test::RunResult ctl(std::vector<std::string> args) const {
    args.insert(args.begin(), {udpsieve::test::ctl_binary(), "--socket", socket_});
    return run_program(args);
  }

  /// The packets and comments of a pcapng file udpsievectl wrote.
  static std::vector<udpsieve::pcapng::Packet> read_file(const std::string& path,
                                                         std::vector<std::string>& interfaces) {
    std::ifstream in(path, std::ios::binary);
    const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
    std::vector<udpsieve::pcapng::Packet> packets;
    udpsieve::pcapng::read(bytes, interfaces, packets);
    return packets;
  }

  static uint16_t dst_port(const std::vector<uint8_t>& frame) {
    return static_cast<uint16_t>(frame.at(14 + 20 + 2) << 8 | frame.at(14 + 20 + 3));
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(Capture, ByRuleWritesOnlyThatRulesPacketsWithComments) {
  const std::string out = dir_.file("ntp.pcapng");
  const auto result = ctl({"capture", "--rule", "drop-ntp", "--count", "25", "--out", out});
  ASSERT_EQ(result.exit_code, 0) << result.output << daemon_->log();
  EXPECT_NE(result.output.find("captured 25 packet(s) (rule drop-ntp)"), std::string::npos)
      << result.output;

  std::vector<std::string> interfaces;
  const auto packets = read_file(out, interfaces);
  EXPECT_EQ(interfaces, (std::vector<std::string>{"wan", "lan"}));
  ASSERT_EQ(packets.size(), 25U);
  for (const auto& packet : packets) {
    EXPECT_EQ(packet.interface, 0U);  // arrived on wan
    EXPECT_EQ(dst_port(packet.data), 123);
    EXPECT_EQ(packet.data.size(), packet.original_length);
    EXPECT_EQ(packet.comment, "udpsieve: rule=drop-ntp verdict=drop reason=rule lcore=1");
  }
  // The same file through libpcap and tcpdump.
  EXPECT_EQ(udpsieve::test::read_pcap(out).size(), 25U);
  const auto dump = run_program({"/usr/bin/tcpdump", "-nr", out});
  EXPECT_EQ(dump.exit_code, 0) << dump.output;
  EXPECT_NE(dump.output.find("198.51.100.1.123: NTP"), std::string::npos) << dump.output;

  // Straight after, a capture of something else holds nothing of the first one (copies a
  // worker made under the old filter are not handed to the new capture).
  const std::string next = dir_.file("dns.pcapng");
  ASSERT_EQ(ctl({"capture", "--rule", "dns", "--count", "200", "--out", next}).exit_code, 0);
  std::vector<std::string> next_interfaces;
  for (const auto& packet : read_file(next, next_interfaces)) {
    EXPECT_EQ(packet.comment, "udpsieve: rule=dns verdict=forward lcore=1");
  }
}

TEST_F(Capture, ByVerdictAndSnapLength) {
  const std::string out = dir_.file("forwarded.pcapng");
  const auto result =
      ctl({"capture", "--verdict", "forward", "--count", "40", "--snaplen", "64", "--out", out});
  ASSERT_EQ(result.exit_code, 0) << result.output << daemon_->log();
  std::vector<std::string> interfaces;
  const auto packets = read_file(out, interfaces);
  ASSERT_EQ(packets.size(), 40U);
  std::size_t by_rule = 0;
  for (const auto& packet : packets) {
    EXPECT_EQ(packet.data.size(), 64U);  // cut at the snap length
    EXPECT_EQ(packet.original_length, 14U + 20 + 8 + 100);
    const uint16_t port = dst_port(packet.data);
    ASSERT_TRUE(port == 53 || port == 9999) << port;
    EXPECT_EQ(packet.comment, port == 53 ? "udpsieve: rule=dns verdict=forward lcore=1"
                                         : "udpsieve: rule=- verdict=forward lcore=1");
    by_rule += port == 53 ? 1 : 0;
  }
  EXPECT_GT(by_rule, 0U);
  EXPECT_LT(by_rule, packets.size());
}

TEST_F(Capture, ARuleCaptureFollowsItsRuleAcrossReloads) {
  const auto wait_log = [&](const std::string& text) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (daemon_->log().find(text) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return daemon_->log().find(text) != std::string::npos;
  };
  // "watch" matches nothing when the capture starts. The reload moves it to another index
  // (a rule is inserted before it) and makes it match DNS: every packet captured was decided
  // by the new table, so packets arrive only if the capture followed the rule.
  dir_.write("rules.yaml",
             "rules:\n"
             "  - {id: drop-ntp, match: {dst_port: 123}, action: drop}\n"
             "  - {id: watch, match: {dst_port: 1}, action: forward}\n");
  ASSERT_EQ(ctl({"reload"}).exit_code, 0);
  udpsieve::test::RunResult followed;
  std::thread first([&] {
    followed = ctl({"capture", "--rule", "watch", "--count", "20", "--timeout", "60", "--out",
                    dir_.file("watch.pcapng")});
  });
  ASSERT_TRUE(wait_log("capture started: rule watch")) << daemon_->log();
  dir_.write("rules.yaml",
             "rules:\n"
             "  - {id: first, match: {dst_port: 7}, action: drop}\n"
             "  - {id: drop-ntp, match: {dst_port: 123}, action: drop}\n"
             "  - {id: watch, match: {dst_port: 53}, action: forward}\n");
  EXPECT_EQ(ctl({"reload"}).exit_code, 0);
  first.join();
  ASSERT_EQ(followed.exit_code, 0) << followed.output << daemon_->log();
  EXPECT_NE(followed.output.find("captured 20 packet(s) (rule watch)"), std::string::npos)
      << followed.output;
  std::vector<std::string> interfaces;
  const auto packets = read_file(dir_.file("watch.pcapng"), interfaces);
  ASSERT_EQ(packets.size(), 20U);
  for (const auto& packet : packets) {
    EXPECT_EQ(dst_port(packet.data), 53);
    EXPECT_EQ(packet.comment, "udpsieve: rule=watch verdict=forward lcore=1");
  }

  // A reload that removes the rule ends its capture, saying so.
  udpsieve::test::RunResult removed;
  std::thread second([&] {
    removed =
        ctl({"capture", "--rule", "first", "--timeout", "60", "--out", dir_.file("first.pcapng")});
  });
  ASSERT_TRUE(wait_log("capture started: rule first")) << daemon_->log();
  dir_.write("rules.yaml", "rules:\n  - {id: drop-ntp, match: {dst_port: 123}, action: drop}\n");
  EXPECT_EQ(ctl({"reload"}).exit_code, 0);
  second.join();
  EXPECT_EQ(removed.exit_code, 0) << removed.output;
  EXPECT_NE(removed.output.find("captured 0 packet(s) (rule first)"), std::string::npos)
      << removed.output;
  EXPECT_NE(removed.output.find("rule 'first' was removed by a reload"), std::string::npos)
      << removed.output;
}

TEST_F(Capture, BadRequestsAreRefusedClearly) {
  const std::string out = dir_.file("x.pcapng");
  const auto unknown = ctl({"capture", "--rule", "nope", "--out", out});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.output.find("capture: no rule 'nope' is loaded"), std::string::npos)
      << unknown.output;
  EXPECT_EQ(ctl({"capture", "--out", out}).exit_code, 2);
  EXPECT_EQ(ctl({"capture", "--rule", "dns", "--verdict", "drop", "--out", out}).exit_code, 2);
  EXPECT_EQ(ctl({"capture", "--verdict", "maybe", "--out", out}).exit_code, 2);
  EXPECT_EQ(ctl({"capture", "--rule", "dns"}).exit_code, 2);
  for (const char* bad : {R"({"cmd": "capture", "rule": "dns", "count": 0})",
                          R"({"cmd": "capture", "rule": "dns", "count": 10001})",
                          R"({"cmd": "capture", "verdict": "drop", "snaplen": 10})",
                          R"({"cmd": "capture", "rule": 5})"}) {
    const auto reply = nlohmann::json::parse(udpsieve::cli::request(socket_, bad));
    EXPECT_TRUE(reply.contains("error")) << bad << " -> " << reply.dump();
  }
  // One capture at a time: hold one open on a rule nothing matches, then ask for another.
  dir_.write("rules.yaml",
             "rules:\n"
             "  - {id: drop-ntp, match: {dst_port: 123}, action: drop}\n"
             "  - {id: dns, match: {dst_port: 53}, action: forward}\n"
             "  - {id: never, match: {dst_port: 1}, action: drop}\n");
  ASSERT_EQ(ctl({"reload"}).exit_code, 0);
  udpsieve::test::RunResult first;
  std::thread holder([&] {
    first = ctl({"capture", "--rule", "never", "--timeout", "3", "--out", dir_.file("n.pcapng")});
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (daemon_->log().find("capture started: rule never") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto second = nlohmann::json::parse(
      udpsieve::cli::request(socket_, R"({"cmd": "capture", "verdict": "drop", "count": 1})"));
  const bool refused = second.contains("error") &&
                       second["error"].get<std::string>().find(
                           "a capture is already running (rule never)") != std::string::npos;
  holder.join();
  EXPECT_TRUE(refused) << second.dump();
  EXPECT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("captured 0 packet(s) (rule never)"), std::string::npos)
      << first.output;
  EXPECT_NE(first.output.find("timed out before 100 matching packet(s) arrived"), std::string::npos)
      << first.output;
}

}  // namespace
