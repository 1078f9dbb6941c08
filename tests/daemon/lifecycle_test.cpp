// udpsieved as a process: start-up errors, --check, signals, several workers, tx_full, and
// udpsievectl against a live daemon.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "support/daemon_process.hpp"
#include "support/mixed_oracle.hpp"
#include "support/packet_builder.hpp"

namespace fs = std::filesystem;
using udpsieve::test::ctl_binary;
using udpsieve::test::daemon_binary;
using udpsieve::test::DaemonProcess;
using udpsieve::test::run_program;
using udpsieve::test::TempDir;

namespace {

/// A few UDP and non-UDP frames written to `path`; returns how many.
std::size_t write_traffic(const std::string& path, std::size_t udp_count) {
  std::vector<std::vector<uint8_t>> frames;
  for (std::size_t i = 0; i < udp_count; ++i) {
    frames.push_back(udpsieve::test::PacketBuilder()
                         .ipv4({.src = {10, 0, 0, 1}, .dst = {10, 0, 0, 2}})
                         .udp({.src_port = static_cast<uint16_t>(1000 + i),
                               .dst_port = static_cast<uint16_t>(i % 2 == 0 ? 53 : 123)})
                         .payload_size(32)
                         .build());
  }
  frames.push_back(udpsieve::test::PacketBuilder().ipv4().tcp().build());
  udpsieve::test::write_pcap(path, frames);
  return frames.size();
}

const char* const kRules = R"(rules:
  - id: drop-ntp
    match: {dst_port: 123}
    action: drop
)";

/// A one-worker config reading in.pcap and writing out.pcap in `dir`.
std::string pcap_config(const TempDir& dir, const std::string& extra_ports = "",
                        const std::string& lcores = "[0, 1]") {
  dir.write("rules.yaml", kRules);
  return dir.write("config.yaml", "eal:\n  lcores: " + lcores +
                                      "\n  memory_mb: 256\nports:\n"
                                      "  - name: wan\n"
                                      "    device: \"net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap\"\n"
                                      "    forward_to: wan\n" +
                                      extra_ports +
                                      "pipeline:\n  rules: [rules.yaml]\n"
                                      "control:\n  stats_interval_ms: 20\n");
}

std::vector<std::string> daemon_args(const TempDir& dir, const std::string& config,
                                     const std::string& name) {
  return {"--config",      config,
          "--file-prefix", udpsieve::test::unique_prefix(name),
          "--socket",      (dir.path() / "ctl.sock").string()};
}

/// What a run with file prefix `prefix` left behind: EAL's runtime directory and hugepage files.
std::vector<std::string> leftovers(const std::string& prefix) {
  std::vector<std::string> found;
  const fs::path runtime = fs::path("/var/run/dpdk") / prefix;
  if (fs::exists(runtime)) found.push_back(runtime.string());
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/dev/hugepages", error)) {
    if (entry.path().filename().string().rfind(prefix + "map_", 0) == 0) {
      found.push_back(entry.path().string());
    }
  }
  return found;
}

/// Waits until process `pid` blocks SIGTERM (read from /proc/PID/status SigBlk).
bool wait_until_blocks_sigterm(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("SigBlk:", 0) != 0) continue;
      const uint64_t mask = std::stoull(line.substr(7), nullptr, 16);
      if ((mask & (uint64_t{1} << (SIGTERM - 1))) != 0) return true;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return false;
}

std::vector<std::string> with_binary(std::vector<std::string> args) {
  args.insert(args.begin(), daemon_binary());
  return args;
}

// --- start-up errors ---------------------------------------------------------------------------

TEST(DaemonStart, BadConfigExitsTwoWithOneLocatedLineBeforeTouchingAnything) {
  TempDir dir;
  const std::string config =
      dir.write("config.yaml",
                "eal:\n  lcores: [0, 1]\n  bogus: 1\n"
                "ports:\n  - {name: wan, device: net_null0, forward_to: wan}\n");
  const auto result = run_program({daemon_binary(), "--config", config});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.output, config +
                               ":3:3: eal.bogus: unknown key (expected one of: lcores, "
                               "hugepages, memory_mb, mbufs, file_prefix, extra_args)\n");
}

TEST(DaemonStart, BadRuleFileExitsTwo) {
  TempDir dir;
  dir.write("rules.yaml", "rules:\n  - id: x\n    match: {src: 10.0.0.300/8}\n    action: drop\n");
  const std::string config =
      dir.write("config.yaml",
                "eal:\n  lcores: [0, 1]\nports:\n  - {name: wan, device: net_null0, forward_to: "
                "wan}\npipeline:\n  rules: [rules.yaml]\n");
  const auto result = run_program({daemon_binary(), "--config", config});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find((dir.path() / "rules.yaml").string() + ":3:18: rules[0].match.src"),
            std::string::npos)
      << result.output;
  EXPECT_EQ(result.output.find("EAL"), std::string::npos) << "EAL must not start";
}

TEST(DaemonStart, MissingConfigFileExitsTwo) {
  const auto result = run_program({daemon_binary(), "--config", "/nonexistent/udpsieved.yaml"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.output,
            "/nonexistent/udpsieved.yaml: cannot open file: No such file or directory\n");
}

TEST(DaemonStart, UsageErrorsExitTwo) {
  EXPECT_EQ(run_program({daemon_binary()}).exit_code, 2);
  EXPECT_EQ(run_program({daemon_binary(), "--config"}).exit_code, 2);
  EXPECT_EQ(run_program({daemon_binary(), "--frobnicate"}).exit_code, 2);
  const auto bad_level = run_program({daemon_binary(), "--config", "x", "--log-level", "loud"});
  EXPECT_EQ(bad_level.exit_code, 2);
  EXPECT_EQ(run_program({daemon_binary(), "--help"}).exit_code, 0);
  EXPECT_NE(run_program({daemon_binary(), "--version"}).output.find("udpsieved "),
            std::string::npos);
}

TEST(DaemonStart, CheckValidatesWithoutStarting) {
  REQUIRE_DPDK();  // --check compiles the rules with a private EAL
  TempDir dir;
  const std::string config = pcap_config(dir);
  const auto result = run_program({daemon_binary(), "--config", config, "--check"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  // The rules were compiled (with a private EAL) the way the daemon would.
  EXPECT_EQ(
      result.output.rfind(config + ": OK: 1 port(s), 1 rule(s) from 1 file(s); classifier ", 0), 0U)
      << result.output;
  EXPECT_NE(result.output.find(" 1 IPv4 entries in 1 lookup(s) (1 hashed), 1 IPv6 entries in 1 "
                               "lookup(s) (1 hashed)"),
            std::string::npos)
      << result.output;
  EXPECT_EQ(result.output.find("not compiled"), std::string::npos) << result.output;
}

TEST(DaemonStart, MissingVdevInputFileIsOneClearLine) {
  REQUIRE_DPDK();
  TempDir dir;
  const std::string config = pcap_config(dir);  // in.pcap never written
  const auto result = run_program(with_binary(daemon_args(dir, config, "missing_vdev")));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("ports[0] port 'wan' (net_pcap0,rx_pcap=" +
                               (dir.path() / "in.pcap").string()),
            std::string::npos)
      << result.output;
  // The driver's reason, not rte_dev_probe's generic code ("Bad address").
  EXPECT_NE(result.output.find("critical ports[0] port 'wan' (net_pcap0,rx_pcap=" +
                               (dir.path() / "in.pcap").string()),
            std::string::npos)
      << result.output;
  EXPECT_NE(
      result.output.find("): cannot create the device: open_single_rx_pcap(): Couldn't open " +
                         (dir.path() / "in.pcap").string()),
      std::string::npos)
      << result.output;
  EXPECT_EQ(result.output.find("Bad address"), std::string::npos) << result.output;
  EXPECT_FALSE(fs::exists(dir.path() / "ctl.sock")) << "socket must be removed";
}

/// How many times `needle` occurs in `text`.
std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

TEST(DaemonStart, SecondDaemonWithTheSameFilePrefixSaysWhatToChange) {
  REQUIRE_DPDK();
  TempDir dir;
  write_traffic((dir.path() / "in.pcap").string(), 4);
  const std::string config = pcap_config(dir);
  const std::string prefix = udpsieve::test::unique_prefix("same_prefix");
  DaemonProcess first(
      {"--config", config, "--file-prefix", prefix, "--socket", (dir.path() / "one.sock").string()},
      (dir.path() / "one.log").string());
  ASSERT_TRUE(first.wait_ready((dir.path() / "one.sock").string())) << first.log();
  const auto second = run_program(with_binary({"--config", config, "--file-prefix", prefix,
                                               "--socket", (dir.path() / "two.sock").string()}));
  EXPECT_EQ(second.exit_code, 1) << second.output;
  EXPECT_NE(second.output.find("critical DPDK EAL initialisation failed: another DPDK process (a "
                               "second udpsieved?) runs with the file prefix \"" +
                               prefix + "\"; stop it, or give this daemon its own eal.file_prefix"),
            std::string::npos)
      << second.output;
  EXPECT_EQ(second.output.find("Success"), std::string::npos) << second.output;
  EXPECT_EQ(first.stop(), 0) << first.log();
}

TEST(DaemonStart, UnboundPciDeviceSaysHowToBindIt) {
  REQUIRE_DPDK();
  TempDir dir;
  const std::string config =
      dir.write("config.yaml",
                "eal:\n  lcores: [0, 1]\n  memory_mb: 256\nports:\n"
                "  - {name: wan, device: \"0000:ff:1f.7\", forward_to: wan}\n");
  const auto result = run_program(with_binary(daemon_args(dir, config, "pci")));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("no DPDK port at this PCI address; bind the NIC to vfio-pci "
                               "(dpdk-devbind.py -b vfio-pci 0000:ff:1f.7)"),
            std::string::npos)
      << result.output;
}

TEST(DaemonStart, TooFewQueuesForWorkersIsOneClearLine) {
  REQUIRE_DPDK();
  TempDir dir;
  write_traffic((dir.path() / "in.pcap").string(), 4);
  const std::string config = pcap_config(dir, "", "[0, 1, \"2@1\"]");
  const auto result = run_program(with_binary(daemon_args(dir, config, "queues")));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("driver net_pcap offers 1 RX / 1 TX queue(s) but the 2 worker(s) "
                               "need one of each; list fewer workers in eal.lcores (net_pcap: "
                               "give rx_pcap= and tx_pcap= once per worker)"),
            std::string::npos)
      << result.output;
}

TEST(DaemonStart, UnavailableCpuIsOneClearLine) {
  REQUIRE_DPDK();
  TempDir dir;
  write_traffic((dir.path() / "in.pcap").string(), 4);
  const std::string config = pcap_config(dir, "", "[0, 127]");
  const auto result = run_program(with_binary(daemon_args(dir, config, "cpu")));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  // Once, as the line start-up stops with.
  EXPECT_EQ(
      occurrences(result.output, "eal.lcores: '127' needs CPU 127, which this process may not use"),
      1U)
      << result.output;
  EXPECT_NE(result.output.find("critical lcores: eal.lcores: '127' needs CPU 127"),
            std::string::npos)
      << result.output;
}

// --check runs the host checks that need no device, so it refuses what start would.
TEST(DaemonStart, CheckRefusesLcoresThisMachineCannotRun) {
  TempDir dir;
  const std::string config = pcap_config(dir, "", "[0, 127]");
  const auto result = run_program(with_binary({"--config", config, "--check"}));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_EQ(result.output.rfind("lcores: eal.lcores: '127' needs CPU 127, which this process may "
                                "not use",
                                0),
            0U)
      << result.output;
  const auto fine = run_program(with_binary({"--config", pcap_config(dir), "--check"}));
  EXPECT_NE(fine.output.find("lcores fit this machine's CPUs (hugepages, memory locking, NUMA and "
                             "the ports: udpsieved --preflight)"),
            std::string::npos)
      << fine.output;
}

TEST(DaemonStart, SecondDaemonOnTheSameSocketIsRefused) {
  REQUIRE_DPDK();
  TempDir dir;
  write_traffic((dir.path() / "in.pcap").string(), 4);
  const std::string config = pcap_config(dir);
  const std::string socket = (dir.path() / "ctl.sock").string();
  DaemonProcess first(daemon_args(dir, config, "first"), (dir.path() / "first.log").string());
  ASSERT_TRUE(first.wait_ready(socket)) << first.log();
  const auto second = run_program(with_binary(daemon_args(dir, config, "second")));
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.output.find("is in use by a running daemon"), std::string::npos)
      << second.output;
  EXPECT_EQ(first.stop(), 0);
}

TEST(DaemonStart, StaleSocketFileIsReplaced) {
  REQUIRE_DPDK();
  TempDir dir;
  write_traffic((dir.path() / "in.pcap").string(), 4);
  const std::string config = pcap_config(dir);
  const std::string socket = (dir.path() / "ctl.sock").string();
  {
    DaemonProcess crashed(daemon_args(dir, config, "stale1"), (dir.path() / "a.log").string());
    ASSERT_TRUE(crashed.wait_ready(socket)) << crashed.log();
    EXPECT_EQ(crashed.stop(SIGKILL), -1);
  }
  ASSERT_TRUE(fs::exists(socket)) << "SIGKILL leaves the socket file behind";
  DaemonProcess next(daemon_args(dir, config, "stale2"), (dir.path() / "b.log").string());
  ASSERT_TRUE(next.wait_ready(socket)) << next.log();
  EXPECT_EQ(next.stop(), 0) << next.log();
  EXPECT_FALSE(fs::exists(socket));
}

// --- signals -----------------------------------------------------------------------------------

TEST(DaemonSignals, SigintStopsCleanlyWithFinalTotals) {
  REQUIRE_DPDK();
  TempDir dir;
  const std::size_t frames = write_traffic((dir.path() / "in.pcap").string(), 10);
  const std::string config = pcap_config(dir);
  const std::string socket = (dir.path() / "ctl.sock").string();
  const std::vector<std::string> args = daemon_args(dir, config, "sigint");
  const std::string prefix = args[3];
  DaemonProcess daemon(args, (dir.path() / "d.log").string());
  ASSERT_TRUE(daemon.wait_ready(socket)) << daemon.log();
  ASSERT_TRUE(daemon.wait_rx(socket, frames).has_value()) << daemon.log();
  if (geteuid() == 0) {  // root's runtime directory is under /var/run/dpdk
    EXPECT_FALSE(leftovers(prefix).empty()) << "the test looks in the wrong places";
  }
  EXPECT_EQ(daemon.stop(SIGINT), 0) << daemon.log();
  // A clean stop leaves neither EAL's runtime directory nor a hugepage file behind.
  EXPECT_EQ(leftovers(prefix), std::vector<std::string>{}) << daemon.log();
  const std::string log = daemon.log();
  EXPECT_EQ(udpsieve::test::final_total(log, "rx_packets"), frames) << log;
  EXPECT_EQ(udpsieve::test::final_total(log, "forwarded_packets"), 6U) << log;  // 5 DNS + TCP
  EXPECT_EQ(udpsieve::test::final_total(log, "drop_rule"), 5U) << log;
  EXPECT_FALSE(fs::exists(socket));
  // The TX pcap was flushed and closed on the way out.
  EXPECT_EQ(udpsieve::test::read_pcap((dir.path() / "out.pcap").string()).size(), 6U);
}

TEST(DaemonSignals, SighupDoesNotStopTheDaemon) {
  REQUIRE_DPDK();
  TempDir dir;
  write_traffic((dir.path() / "in.pcap").string(), 4);
  const std::string config = pcap_config(dir);
  const std::string socket = (dir.path() / "ctl.sock").string();
  DaemonProcess daemon(daemon_args(dir, config, "sighup"), (dir.path() / "d.log").string());
  ASSERT_TRUE(daemon.wait_ready(socket)) << daemon.log();
  kill(daemon.pid(), SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(daemon.exited().has_value());
  EXPECT_NO_THROW((void)daemon.request(socket, "stats"));
  EXPECT_EQ(daemon.stop(), 0);
}

TEST(DaemonSignals, SigtermDuringStartupStillExitsCleanly) {
  REQUIRE_DPDK();
  // Deliver SIGTERM at several moments of start-up (config loading, EAL, ports, running);
  // each run must end with status 0 and, once the workers ran, a final totals line that adds
  // up. Nothing can catch a signal before main() runs, so each run first waits until the
  // daemon has blocked SIGTERM.
  for (int delay_ms : {0, 5, 20, 60, 150, 400}) {
    TempDir dir;
    write_traffic((dir.path() / "in.pcap").string(), 4);
    const std::string config = pcap_config(dir);
    DaemonProcess daemon(daemon_args(dir, config, "early" + std::to_string(delay_ms)),
                         (dir.path() / "d.log").string());
    ASSERT_TRUE(wait_until_blocks_sigterm(daemon.pid())) << daemon.log();
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    const int status = daemon.stop(SIGTERM);
    const std::string log = daemon.log();
    EXPECT_EQ(status, 0) << "delay " << delay_ms << " ms\n" << log;
    if (auto rx = udpsieve::test::final_total(log, "rx_packets")) {
      EXPECT_EQ(*rx, *udpsieve::test::final_total(log, "forwarded_packets") +
                         *udpsieve::test::final_total(log, "dropped_packets"))
          << log;
    }
    EXPECT_FALSE(fs::exists(dir.path() / "ctl.sock")) << "delay " << delay_ms;
  }
}

// A stop during a reload's compile does not wait for the compile: one paused between stages
// is cancelled there and the daemon cleans up as usual; one stuck inside a stage that cannot
// be interrupted (as an rte_acl build of a 250,000-rule set is, for many seconds) is left
// behind and the daemon exits without tearing down what it uses. Each stage here takes a
// minute (a test hook), the stop about a second.
TEST(DaemonSignals, SigtermDuringACompileDoesNotWaitForIt) {
  REQUIRE_DPDK();
  for (const std::string mode : {"pause", "stuck"}) {
    SCOPED_TRACE(mode);
    TempDir dir;
    write_traffic((dir.path() / "in.pcap").string(), 4);
    const std::string config = pcap_config(dir);
    const udpsieve::test::ScopedEnv hooks("UDPSIEVE_TEST_HOOKS", "1");
    const udpsieve::test::ScopedEnv stage("UDPSIEVE_TEST_COMPILE_STAGE", mode + ":60000");
    DaemonProcess daemon(daemon_args(dir, config, "compile_" + mode),
                         (dir.path() / "d.log").string());
    const std::string socket = (dir.path() / "ctl.sock").string();
    ASSERT_TRUE(daemon.wait_ready(socket)) << daemon.log();
    // A file whose bytes changed: a reload of unchanged files would build nothing.
    dir.write("rules.yaml", std::string(kRules) + "# changed\n");
    kill(daemon.pid(), SIGHUP);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (daemon.log().find("reload (SIGHUP): reading") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // into the slowed stage
    const auto stop_sent = std::chrono::steady_clock::now();
    EXPECT_EQ(daemon.stop(SIGTERM, std::chrono::seconds(50)), 0) << daemon.log();
    const auto took = std::chrono::steady_clock::now() - stop_sent;
    // A generous bound far below the stage's minute: it tells waiting from not waiting.
    EXPECT_LT(took, std::chrono::seconds(15)) << daemon.log();
    const std::string log = daemon.log();
    EXPECT_TRUE(udpsieve::test::final_total(log, "rx_packets").has_value()) << log;
    EXPECT_EQ(log.find("reload applied"), std::string::npos) << log;
    const bool left_behind =
        log.find("a rule compile is still inside a classifier build") != std::string::npos;
    EXPECT_EQ(left_behind, mode == "stuck") << log;
    EXPECT_FALSE(fs::exists(socket));
  }
}

// --- workers and drops -------------------------------------------------------------------------

TEST(DaemonWorkers, TwoWorkersEachPollTheirQueueAndTotalsAddUp) {
  REQUIRE_DPDK();
  TempDir dir;
  const std::size_t a = write_traffic((dir.path() / "in0.pcap").string(), 20);
  const std::size_t b = write_traffic((dir.path() / "in1.pcap").string(), 30);
  dir.write("rules.yaml", kRules);
  const std::string config =
      dir.write("config.yaml",
                "eal:\n  lcores: [0, 1, \"2@1\"]\n  memory_mb: 256\nports:\n"
                "  - name: wan\n"
                "    device: \"net_pcap0,rx_pcap=in0.pcap,rx_pcap=in1.pcap,tx_pcap=out0.pcap,"
                "tx_pcap=out1.pcap\"\n"
                "    forward_to: wan\n"
                "pipeline:\n  rules: [rules.yaml]\ncontrol:\n  stats_interval_ms: 20\n");
  const std::string socket = (dir.path() / "ctl.sock").string();
  DaemonProcess daemon(daemon_args(dir, config, "two_workers"), (dir.path() / "d.log").string());
  ASSERT_TRUE(daemon.wait_ready(socket)) << daemon.log();
  const auto stats = daemon.wait_rx(socket, a + b);
  ASSERT_TRUE(stats.has_value()) << daemon.log();
  const auto workers = daemon.request(socket, "workers")["workers"];
  ASSERT_EQ(workers.size(), 2U);
  EXPECT_EQ(workers[0]["lcore"], 1);
  EXPECT_EQ(workers[1]["lcore"], 2);
  EXPECT_EQ(workers[1]["cpu"], 1);
  EXPECT_EQ(workers[0]["rx_packets"].get<uint64_t>(), a);  // queue 0 reads in0.pcap
  EXPECT_EQ(workers[1]["rx_packets"].get<uint64_t>(), b);
  for (const auto& w : workers) {
    EXPECT_EQ(w["rx_packets"].get<uint64_t>(),
              w["forwarded_packets"].get<uint64_t>() + w["dropped_packets"].get<uint64_t>());
  }
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();
  EXPECT_EQ(udpsieve::test::final_total(daemon.log(), "rx_packets"), a + b);
  EXPECT_EQ(udpsieve::test::read_pcap((dir.path() / "out0.pcap").string()).size(), 11U);
  EXPECT_EQ(udpsieve::test::read_pcap((dir.path() / "out1.pcap").string()).size(), 16U);
}

// Three workers on one CPU (lcores 1, 2@1 and 3@1), each reading the whole oracle-labelled
// capture tests/e2e/mixed.pcap (every rule kind of mixed-rules.yaml: prefixes, ports, lengths,
// payload matches, IPv4 and IPv6, fragments) from its own RX queue: each decides every frame as
// the oracle says and sends exactly the forwarded frames, byte for byte and in order, on its own
// TX queue; each worker's counters, the rules' and the totals are exact.
TEST(DaemonWorkers, ThreeWorkersOnOneCpuDecideEveryFrameAsTheOracleSays) {
  REQUIRE_DPDK();
  TempDir dir;
  const std::string e2e = udpsieve::test::source_dir() + "/tests/e2e";
  const std::vector<std::vector<uint8_t>> frames = udpsieve::test::read_pcap(e2e + "/mixed.pcap");
  const std::vector<std::string> labels = udpsieve::test::read_mixed_expect(e2e + "/mixed.expect");
  const std::map<std::string, bool> forwards =
      udpsieve::test::read_mixed_actions(e2e + "/mixed-rules.yaml");
  ASSERT_EQ(frames.size(), labels.size());
  std::map<std::string, uint64_t> want_rule;
  std::vector<std::vector<uint8_t>> forwarded;
  uint64_t default_drops = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (labels[i] == "-") {
      ++default_drops;
      continue;
    }
    ++want_rule[labels[i]];
    if (forwards.at(labels[i])) forwarded.push_back(frames[i]);
  }
  constexpr std::size_t kWorkers = 3;
  std::string device = "net_pcap0";
  for (std::size_t w = 0; w < kWorkers; ++w)
    device += ",rx_pcap=" + e2e + "/mixed.pcap";
  for (std::size_t w = 0; w < kWorkers; ++w)
    device += ",tx_pcap=out" + std::to_string(w) + ".pcap";
  const std::string config = dir.write(
      "config.yaml",
      "eal:\n  lcores: [0, 1, \"2@1\", \"3@1\"]\n  hugepages: off\n  memory_mb: 256\nports:\n"
      "  - {name: wan, device: \"" +
          device +
          "\", forward_to: wan}\n"
          "pipeline:\n  default_action: drop\n  non_udp: drop\n  rules: [" +
          e2e + "/mixed-rules.yaml]\ncontrol:\n  stats_interval_ms: 20\n");
  const std::string socket = (dir.path() / "ctl.sock").string();
  DaemonProcess daemon(daemon_args(dir, config, "three_workers"), (dir.path() / "d.log").string());
  ASSERT_TRUE(daemon.wait_ready(socket)) << daemon.log();
  const uint64_t total = kWorkers * frames.size();
  ASSERT_TRUE(daemon.wait_rx(socket, total).has_value()) << daemon.log();
  const nlohmann::json workers = daemon.request(socket, "workers")["workers"];
  ASSERT_EQ(workers.size(), kWorkers);
  for (const auto& worker : workers) {
    EXPECT_EQ(worker["rx_packets"].get<uint64_t>(), frames.size()) << worker;
    EXPECT_EQ(worker["forwarded_packets"].get<uint64_t>(), forwarded.size()) << worker;
    EXPECT_EQ(worker["dropped_packets"].get<uint64_t>(), frames.size() - forwarded.size())
        << worker;
  }
  const nlohmann::json stats = daemon.request(socket, "stats");
  const nlohmann::json rules = daemon.request(socket, "rules");
  for (const auto& rule : rules["rules"]) {
    const std::string id = rule["id"].get<std::string>();
    EXPECT_EQ(rule["packets"].get<uint64_t>(), kWorkers * want_rule[id]) << id;
  }
  const auto& totals = stats["totals"];
  EXPECT_EQ(totals["rx_packets"].get<uint64_t>(), total);
  EXPECT_EQ(totals["forwarded_packets"].get<uint64_t>(), kWorkers * forwarded.size());
  EXPECT_EQ(totals["drops"]["default"].get<uint64_t>(), kWorkers * default_drops);
  EXPECT_EQ(totals["rx_packets"].get<uint64_t>(), totals["forwarded_packets"].get<uint64_t>() +
                                                      totals["dropped_packets"].get<uint64_t>());
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();
  EXPECT_EQ(udpsieve::test::final_total(daemon.log(), "rx_packets"), total);
  for (std::size_t w = 0; w < kWorkers; ++w) {
    const auto out =
        udpsieve::test::read_pcap((dir.path() / ("out" + std::to_string(w) + ".pcap")).string());
    ASSERT_EQ(out.size(), forwarded.size()) << "TX queue " << w;
    for (std::size_t i = 0; i < out.size(); ++i)
      ASSERT_EQ(out[i], forwarded[i]) << "TX queue " << w << ", forwarded frame " << i;
  }
}

TEST(DaemonWorkers, RefusedTransmitsAreCountedAsTxFull) {
  REQUIRE_DPDK();
  TempDir dir;
  const std::size_t frames = write_traffic((dir.path() / "in.pcap").string(), 10);
  // A memif server with no peer has its link down and refuses every packet.
  dir.write("rules.yaml", kRules);
  const std::string config =
      dir.write("config.yaml",
                "eal:\n  lcores: [0, 1]\n  memory_mb: 256\nports:\n"
                "  - {name: wan, device: \"net_pcap0,rx_pcap=in.pcap\", forward_to: sink}\n"
                "  - name: sink\n    device: \"net_memif0,role=server,socket=" +
                    (dir.path() / "memif.sock").string() +
                    "\"\n    forward_to: wan\npipeline:\n  rules: [rules.yaml]\n"
                    "control:\n  stats_interval_ms: 20\n");
  const std::string socket = (dir.path() / "ctl.sock").string();
  DaemonProcess daemon(daemon_args(dir, config, "txfull"), (dir.path() / "d.log").string());
  ASSERT_TRUE(daemon.wait_ready(socket)) << daemon.log();
  const auto stats = daemon.wait_rx(socket, frames);
  ASSERT_TRUE(stats.has_value()) << daemon.log();
  EXPECT_EQ(daemon.stop(), 0);
  const std::string log = daemon.log();
  EXPECT_EQ(udpsieve::test::final_total(log, "drop_tx_full"), 6U) << log;
  EXPECT_EQ(udpsieve::test::final_total(log, "drop_rule"), 5U) << log;
  EXPECT_EQ(udpsieve::test::final_total(log, "forwarded_packets"), 0U) << log;
  EXPECT_EQ(udpsieve::test::final_total(log, "dropped_packets"), frames) << log;
}

TEST(DaemonWorkers, CountersAddUpInEveryReplyUnderFullSpeedTraffic) {
  REQUIRE_DPDK();
  TempDir dir;
  write_traffic(dir.file("in.pcap"), 64);
  dir.write("rules.yaml", kRules);
  const std::string config = dir.write(
      "config.yaml",
      "eal:\n  lcores: [0, 1]\n  memory_mb: 256\nports:\n"
      "  - {name: wan, device: \"net_pcap0,rx_pcap=in.pcap,infinite_rx=1\", forward_to: sink}\n"
      "  - {name: sink, device: \"net_null0,no-rx=1\", forward_to: wan}\n"
      "pipeline:\n  rules: [rules.yaml]\ncontrol:\n  stats_interval_ms: 10\n");
  const std::string socket = dir.file("ctl.sock");
  DaemonProcess daemon(daemon_args(dir, config, "fullspeed"), dir.file("d.log"));
  ASSERT_TRUE(daemon.wait_ready(socket)) << daemon.log();
  ASSERT_TRUE(daemon.wait_rx(socket, 100000).has_value()) << daemon.log();
  uint64_t previous = 0;
  for (int i = 0; i < 50; ++i) {
    const auto totals = daemon.request(socket, "stats")["totals"];
    const uint64_t rx = totals["rx_packets"].get<uint64_t>();
    uint64_t drops = 0;
    for (const auto& [reason, count] : totals["drops"].items())
      drops += count.get<uint64_t>();
    EXPECT_EQ(rx, totals["forwarded_packets"].get<uint64_t>() +
                      totals["dropped_packets"].get<uint64_t>());
    EXPECT_EQ(drops, totals["dropped_packets"].get<uint64_t>());
    EXPECT_GE(rx, previous) << "counters never go backwards";
    previous = rx;
    std::this_thread::sleep_for(std::chrono::milliseconds(7));
  }
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();
  const std::string log = daemon.log();
  const auto rx = udpsieve::test::final_total(log, "rx_packets");
  ASSERT_TRUE(rx.has_value()) << log;
  EXPECT_EQ(*rx, *udpsieve::test::final_total(log, "forwarded_packets") +
                     *udpsieve::test::final_total(log, "dropped_packets"));
  // Every packet the port delivered was counted by the worker.
  EXPECT_EQ(*rx, *udpsieve::test::final_total(log, "port_rx_packets"));
}

// --- udpsievectl -------------------------------------------------------------------------------

TEST(Udpsievectl, UnreachableDaemonIsExitOneWithAClearMessage) {
  TempDir dir;
  const auto result =
      run_program({ctl_binary(), "--socket", (dir.path() / "none.sock").string(), "stats"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.output, "udpsievectl: cannot connect to " + (dir.path() / "none.sock").string() +
                               ": No such file or directory (is udpsieved running?)\n");
}

TEST(Udpsievectl, UsageErrorsExitTwo) {
  EXPECT_EQ(run_program({ctl_binary()}).exit_code, 2);
  EXPECT_EQ(run_program({ctl_binary(), "frobnicate"}).exit_code, 2);
  EXPECT_EQ(run_program({ctl_binary(), "stats", "--bogus"}).exit_code, 2);
  EXPECT_EQ(run_program({ctl_binary(), "--help"}).exit_code, 0);
}

TEST(Udpsievectl, EveryCommandAgainstALiveDaemon) {
  REQUIRE_DPDK();
  TempDir dir;
  const std::size_t frames = write_traffic((dir.path() / "in.pcap").string(), 10);
  const std::string config = pcap_config(dir);
  const std::string socket = (dir.path() / "ctl.sock").string();
  DaemonProcess daemon(daemon_args(dir, config, "ctl"), (dir.path() / "d.log").string());
  ASSERT_TRUE(daemon.wait_ready(socket)) << daemon.log();
  ASSERT_TRUE(daemon.wait_rx(socket, frames).has_value());

  const auto stats = run_program({ctl_binary(), "--socket", socket, "stats"});
  EXPECT_EQ(stats.exit_code, 0);
  EXPECT_NE(stats.output.find("drop-ntp"), std::string::npos) << stats.output;
  EXPECT_NE(stats.output.find("tx_full"), std::string::npos) << stats.output;

  const auto json = run_program({ctl_binary(), "--socket", socket, "stats", "--json"});
  EXPECT_EQ(json.exit_code, 0);
  const auto parsed = nlohmann::json::parse(json.output);
  EXPECT_EQ(parsed["totals"]["rx_packets"].get<uint64_t>(), frames);
  EXPECT_EQ(parsed["totals"]["drops"]["rule"].get<uint64_t>(), 5U);
  EXPECT_EQ(parsed["rules"][0]["id"], "drop-ntp");
  EXPECT_EQ(parsed["rules"][0]["packets"].get<uint64_t>(), 5U);
  EXPECT_EQ(parsed["ports"][0]["name"], "wan");
  EXPECT_EQ(parsed["ports"][0]["rx_packets"].get<uint64_t>(), frames);
  EXPECT_TRUE(parsed["ports"][0].contains("rx_missed"));
  EXPECT_TRUE(parsed["ports"][0].contains("rx_errors"));
  EXPECT_EQ(parsed["workers"][0]["lcore"], 1);
  EXPECT_TRUE(parsed.contains("uptime_s"));

  for (const char* command : {"ports", "workers", "rules", "version"}) {
    const auto table = run_program({ctl_binary(), "--socket", socket, command});
    EXPECT_EQ(table.exit_code, 0) << command << ": " << table.output;
    const auto raw = run_program({ctl_binary(), "--socket", socket, command, "--json"});
    EXPECT_EQ(raw.exit_code, 0) << command;
    const auto reply = nlohmann::json::parse(raw.output, nullptr, false);
    EXPECT_TRUE(reply.is_object() && !reply.contains("error")) << command << ": " << raw.output;
  }
  EXPECT_NE(run_program({ctl_binary(), "--socket", socket, "rules"}).output.find("dst_port"),
            std::string::npos);
  const std::string ports = run_program({ctl_binary(), "--socket", socket, "ports"}).output;
  EXPECT_NE(ports.find(" mtu "), std::string::npos) << ports;
  EXPECT_NE(ports.find(" 1500 "), std::string::npos) << ports;

  // --field picks one value out of the reply, for scripts.
  const auto field =
      run_program({ctl_binary(), "--socket", socket, "stats", "--field", "totals.drops.rule"});
  EXPECT_EQ(field.exit_code, 0);
  EXPECT_EQ(field.output, "5\n");
  EXPECT_EQ(
      run_program({ctl_binary(), "--socket", socket, "stats", "--field", "ports.0.name"}).output,
      "wan\n");
  EXPECT_EQ(
      run_program({ctl_binary(), "--socket", socket, "stats", "--field", "ports.wan.rx_packets"})
          .output,
      std::to_string(frames) + "\n");
  EXPECT_EQ(
      run_program({ctl_binary(), "--socket", socket, "rules", "--field", "rules.drop-ntp.packets"})
          .output,
      "5\n");
  const auto missing =
      run_program({ctl_binary(), "--socket", socket, "stats", "--field", "totals.nothing"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.output, "udpsievectl: the stats reply has no field 'totals.nothing'\n");
  EXPECT_EQ(daemon.stop(), 0);
}

}  // namespace
