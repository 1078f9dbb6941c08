// udpsieved --preflight against real devices: each check's verdict and the exit status; and
// the same checks stopping a normal start before any port is started.
#include <gtest/gtest.h>

#include <thread>

#include <chrono>

#include "support/daemon_process.hpp"
#include "support/fifo_traffic.hpp"
#include "support/packet_builder.hpp"

namespace {

using udpsieve::test::daemon_binary;
using udpsieve::test::run_program;
using udpsieve::test::TempDir;

/// Runs `udpsieved --preflight` on a config with `lcores` and `ports` (YAML list entries).
udpsieve::test::RunResult preflight(const TempDir& dir, const std::string& lcores,
                                    const std::string& ports, const std::string& name) {
  const std::string config =
      dir.write("config.yaml",
                "eal:\n  lcores: " + lcores + "\n  hugepages: auto\n  memory_mb: 256\n" +
                    "  file_prefix: " + udpsieve::test::unique_prefix(name) + "\nports:\n" + ports);
  return run_program({daemon_binary(), "--config", config, "--preflight"});
}

TEST(Preflight, ReadyMachineWithVirtualDevices) {
  REQUIRE_DPDK();
  TempDir dir;
  const auto result = preflight(dir, "[0, 1]",
                                "  - {name: wan, device: net_null0, forward_to: lan}\n"
                                "  - {name: lan, device: net_null1, forward_to: wan}\n",
                                "pf-ok");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  for (const char* line :
       {"udpsieved preflight for ", "  ok    lcores: control thread on CPU 0; 1 worker(s)",
        "memlock: ", "  ok    NUMA: ",
        "  ok    port wan: driver net_null offers 1024 RX / 1024 TX queue(s); 1 needed",
        "  note  port wan: RSS not needed with one worker",
        "  note  port lan: rte_flow: not available from driver net_null",
        "result: ready to start (0 failure(s)"}) {
    EXPECT_NE(result.output.find(line), std::string::npos) << line << "\n" << result.output;
  }
  // Nothing of the private EAL is left behind.
  EXPECT_EQ(result.output.find("FAIL"), std::string::npos) << result.output;
}

TEST(Preflight, TapDeviceOffersRssAndSaysWhetherRteFlowWorks) {
  REQUIRE_DPDK();
  TempDir dir;
  const std::string tap = "pf" + std::to_string(getpid() % 100000);
  const auto result = preflight(
      dir, "[0, 1, \"2@1\"]",
      "  - {name: wan, device: \"net_tap0,iface=" + tap + "\", forward_to: wan}\n", "pf-tap");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  for (const char* line :
       {"  WARN  lcores: 2 workers share CPU 1", "  ok    port wan: RSS over ipv4",
        "result: ready to start (0 failure(s), 1 warning(s))"}) {
    EXPECT_NE(result.output.find(line), std::string::npos) << line << "\n" << result.output;
  }
  // net_tap implements rte_flow with the kernel's tc flower and multiq qdisc; where the kernel
  // lacks them the driver says so as it starts ("Disabling rte flow support") yet still
  // validates rules: preflight must not be fooled by that.
  const bool kernel_lacks_tc =
      result.output.find("Disabling rte flow support") != std::string::npos;
  EXPECT_NE(
      result.output.find(kernel_lacks_tc ? "  note  port wan: rte_flow: not available from driver "
                                           "net_tap (it validates the rule but cannot create it"
                                         : "  ok    port wan: rte_flow: the driver accepts an "
                                           "eth/ipv4/udp drop rule"),
      std::string::npos)
      << result.output;
}

TEST(Preflight, JumboMtuNeedsScatterAndIsApplied) {
  REQUIRE_DPDK();
  TempDir dir;
  // net_ring takes 9000 (several mbufs per frame), net_null cannot receive into several mbufs,
  // and net_tap's frames stop at 1522 bytes.
  const std::string tap = "pj" + std::to_string(getpid() % 100000);
  const std::string ports =
      "  - {name: wan, device: net_ring0, forward_to: lan, mtu: 9000}\n"
      "  - {name: lan, device: net_null0, forward_to: wan, mtu: 9000}\n"
      "  - {name: dmz, device: \"net_tap0,iface=" +
      tap + "\", forward_to: wan, mtu: 9000}\n";
  const auto refused = preflight(dir, "[0, 1]", ports, "pf-mtu");
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  for (const char* line :
       {"  ok    port wan: MTU 9000 (driver maximum 65535); frames over 2 KiB are received and "
        "sent as several mbufs",
        "  FAIL  port lan: port 'lan' (net_null0): an MTU of 9000 means frames of up to 9026 "
        "bytes, larger than one 2048-byte mbuf, and driver net_null cannot receive a frame in "
        "several mbufs; use an MTU of at most 2022",
        "  FAIL  port dmz: port 'dmz' (net_tap0,iface=",
        "): driver net_tap accepts an MTU of at "
        "most 1504, not 9000"}) {
    EXPECT_NE(refused.output.find(line), std::string::npos) << line << "\n" << refused.output;
  }
  // The same checks at start: exit 1 before any port starts.
  const auto start =
      run_program({daemon_binary(), "--config", dir.file("config.yaml"), "--file-prefix",
                   udpsieve::test::unique_prefix("pf-mtu2"), "--socket", dir.file("ctl.sock")});
  EXPECT_EQ(start.exit_code, 1) << start.output;
  EXPECT_NE(start.output.find("driver net_null cannot receive a frame in several mbufs"),
            std::string::npos)
      << start.output;

  // A port that can, runs at that MTU.
  const std::string config =
      dir.write("config.yaml",
                "eal:\n  lcores: [0, 1]\n  hugepages: off\n  memory_mb: 256\nports:\n"
                "  - {name: wan, device: net_ring0, forward_to: wan, mtu: 9000}\n");
  const std::string socket = dir.file("ctl.sock");
  udpsieve::test::DaemonProcess daemon(
      {"--config", config, "--file-prefix", udpsieve::test::unique_prefix("pf-mtu3"), "--socket",
       socket},
      dir.file("d.log"));
  ASSERT_TRUE(daemon.wait_ready(socket)) << daemon.log();
  const auto reply = daemon.request(socket, "ports");
  EXPECT_EQ(reply["ports"][0]["mtu"], 9000) << reply.dump();
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}

// A replay of many distinct frames (net_pcap infinite_rx keeps the whole capture in mbufs)
// does not fit the computed pool; eal.mbufs makes room, and the daemon then runs on it.
TEST(Preflight, ReplayOfManyDistinctFramesNeedsEalMbufs) {
  REQUIRE_DPDK();
  TempDir dir;
  std::string pcap = udpsieve::test::pcap_header();
  for (uint32_t i = 0; i < 20'000; ++i) {
    const udpsieve::test::Bytes frame =
        udpsieve::test::PacketBuilder()
            .ipv4({.src = {100, 64, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)},
                   .dst = {10, 9, 9, 9}})
            .udp({.src_port = 40000, .dst_port = 53, .checksum = 0})
            .payload(udpsieve::test::Bytes(18, 0x5a))
            .build();
    udpsieve::test::append_record(pcap, frame.data(), frame.size());
  }
  const std::string capture = dir.write("flows.pcap", pcap);
  const auto config = [&](const std::string& mbufs) {
    return dir.write("config.yaml",
                     "eal:\n  lcores: [0, 1]\n  hugepages: auto\n  memory_mb: 512\n" + mbufs +
                         "ports:\n  - {name: wan, device: \"net_pcap0,rx_pcap=" + capture +
                         ",infinite_rx=1\", forward_to: lan}\n"
                         "  - {name: lan, device: \"net_null0,no-rx=1\", forward_to: wan}\n");
  };
  // The computed pool (16,383 mbufs here) cannot hold the capture: start-up stops, saying so.
  const auto refused =
      run_program({daemon_binary(), "--config", config(""), "--file-prefix",
                   udpsieve::test::unique_prefix("pf-mbufs1"), "--socket", dir.file("a.sock")});
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("holds 16383 mbufs; if the driver's message above asks for more, "
                                "set eal.mbufs"),
            std::string::npos)
      << refused.output;
  // With eal.mbufs it starts and replays all of it.
  const std::string socket = dir.file("ctl.sock");
  udpsieve::test::DaemonProcess daemon(
      {"--config", config("  mbufs: 65535\n"), "--file-prefix",
       udpsieve::test::unique_prefix("pf-mbufs2"), "--socket", socket},
      dir.file("d.log"));
  ASSERT_TRUE(daemon.wait_ready(socket)) << daemon.log();
  EXPECT_NE(daemon.log().find("mbuf pool mbufs_s0: 65535 mbufs"), std::string::npos)
      << daemon.log();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  uint64_t rx = 0;
  while (rx < 40'000 && std::chrono::steady_clock::now() < deadline) {
    rx = daemon.request(socket, "stats")["totals"]["rx_packets"].get<uint64_t>();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(rx, 40'000U) << "the capture replayed at least twice";
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}

TEST(Preflight, EachProblemSaysWhatToChange) {
  REQUIRE_DPDK();
  {
    TempDir dir;
    const auto result = preflight(
        dir, "[0, 1, 127]", "  - {name: wan, device: net_null0, forward_to: wan}\n", "pf-cpu");
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_NE(result.output.find("  FAIL  lcores: eal.lcores: '127' needs CPU 127"),
              std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("result: udpsieved cannot start like this (1 failure(s)"),
              std::string::npos)
        << result.output;
  }
  {
    TempDir dir;
    udpsieve::test::write_pcap(dir.file("in.pcap"), {});
    const auto result =
        preflight(dir, "[0, 1, \"2@1\"]",
                  "  - {name: wan, device: \"net_pcap0,rx_pcap=" + dir.file("in.pcap") +
                      "\", forward_to: wan}\n",
                  "pf-queues");
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_NE(result.output.find("  FAIL  port wan: port 'wan' (net_pcap0,rx_pcap="),
              std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("offers 1 RX / 1 TX queue(s) but the 2 worker(s) need one of "
                                 "each; list fewer workers in eal.lcores"),
              std::string::npos)
        << result.output;
  }
  {
    TempDir dir;
    const auto result = preflight(
        dir, "[0, 1]", "  - {name: wan, device: \"0000:7f:1f.7\", forward_to: wan}\n", "pf-pci");
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_NE(result.output.find("  FAIL  ports: ports[0] port 'wan' (0000:7f:1f.7): no DPDK "
                                 "port at this PCI address; bind the NIC to vfio-pci"),
              std::string::npos)
        << result.output;
  }
}

}  // namespace

// ports[].rss and rss_symmetric reach the driver: preflight reports them, and a started port
// shows the hash functions and the symmetric key in use.
TEST(Preflight, TapDeviceTakesTheRssFieldsAndTheSymmetricKey) {
  REQUIRE_DPDK();
  TempDir dir;
  const std::string tap = "pr" + std::to_string(getpid() % 100000);
  const std::string port = "  - {name: wan, device: \"net_tap0,iface=" + tap +
                           "\", forward_to: wan, rss: ip, rss_symmetric: true}\n";
  const auto result = preflight(dir, "[0, 1, \"2@1\"]", port, "pf-rss");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  // `ip` hashes addresses only: no UDP among the hash functions.
  EXPECT_NE(result.output.find("  ok    port wan: RSS over ipv4"), std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find(" with a symmetric key"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("udp with a symmetric key"), std::string::npos) << result.output;

  const std::string socket = dir.file("ctl.sock");
  const std::string config = dir.file("config.yaml");
  udpsieve::test::DaemonProcess daemon({"--config", config, "--socket", socket, "--file-prefix",
                                        udpsieve::test::unique_prefix("rss")},
                                       dir.file("daemon.log"));
  ASSERT_TRUE(daemon.wait_ready(socket)) << daemon.log();
  const nlohmann::json ports = daemon.request(socket, "ports")["ports"];
  ASSERT_EQ(ports.size(), 1U);
  EXPECT_EQ(ports[0]["rx_queues"], 2);
  EXPECT_EQ(ports[0]["rss"], true);
  EXPECT_EQ(ports[0]["rss_symmetric"], true);
  const std::string hash = ports[0]["rss_hash"];
  EXPECT_NE(hash.find("ipv4"), std::string::npos) << hash;
  EXPECT_EQ(hash.find("udp"), std::string::npos) << hash;
  EXPECT_NE(daemon.log().find("(symmetric key)"), std::string::npos) << daemon.log();
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}
