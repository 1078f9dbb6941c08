// A large rule set on the control socket: `rules` is paged and filtered, `stats` lists the
// busiest rules only, the Prometheus exposition caps its per-rule series, udpsievectl lists
// every rule a page at a time, and replacing the set gives the heap's memory back.
//
// 25,000 rules, each matching one source address; a capture sends known numbers of packets to
// three of them, so every count is exact. (Timing targets at 250,000 rules are measured by
// scripts/bench-control.sh, not here.)
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/daemon_process.hpp"
#include "support/packet_builder.hpp"
#include "support/sockets.hpp"
#include "udpsieve/cli/client.hpp"

namespace {

using nlohmann::json;
using udpsieve::test::DaemonProcess;
using udpsieve::test::error_text;
using udpsieve::test::PacketBuilder;
using udpsieve::test::run_program;
using udpsieve::test::TempDir;

constexpr int kRules = 25000;

// Under AddressSanitizer (CI's sanitizer stage) the allocator is ASan's: freed memory sits in
// its quarantine and malloc_trim gives nothing back, so only the trim itself can be checked.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

/// Rule `n`'s source address: 10.N>>16.N>>8.N.
std::string address_of(int n) {
  return "10." + std::to_string((n >> 16) & 255) + "." + std::to_string((n >> 8) & 255) + "." +
         std::to_string(n & 255);
}

std::string many_rules() {
  std::string text = "rules:\n";
  for (int n = 0; n < kRules; ++n) {
    text += "  - {id: r" + std::to_string(n) + ", match: {src: " + address_of(n) +
            ", dst_port: 53}, action: drop}\n";
  }
  return text;
}

/// `count` DNS queries from rule `n`'s source.
void add_packets(std::vector<std::vector<uint8_t>>& frames, int n, int count) {
  udpsieve::test::Ipv4Spec ip;
  ip.src = {10, static_cast<uint8_t>((n >> 16) & 255), static_cast<uint8_t>((n >> 8) & 255),
            static_cast<uint8_t>(n & 255)};
  for (int i = 0; i < count; ++i)
    frames.push_back(PacketBuilder().ipv4(ip).udp().payload_size(16).build());
}

class LargeRuleSet : public testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_DPDK();
    std::vector<std::vector<uint8_t>> frames;
    add_packets(frames, 7, 5);
    add_packets(frames, 20000, 3);
    add_packets(frames, kRules - 1, 1);
    udpsieve::test::write_pcap(dir_.file("in.pcap"), frames);
    dir_.write("rules.yaml", many_rules());
    const std::string config =
        dir_.write("config.yaml",
                   "eal:\n  lcores: [0, 1]\n  memory_mb: 512\nports:\n"
                   "  - {name: wan, device: \"net_pcap0,rx_pcap=in.pcap\", forward_to: wan}\n"
                   "pipeline: {rules: [rules.yaml]}\ncontrol: {stats_interval_ms: 20}\n");
    socket_ = dir_.file("ctl.sock");
    daemon_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"--config", config, "--file-prefix",
                                 udpsieve::test::unique_prefix("large"), "--socket", socket_},
        dir_.file("d.log"));
    ASSERT_TRUE(daemon_->wait_ready(socket_)) << daemon_->log();
    ASSERT_TRUE(daemon_->wait_rx(socket_, 9).has_value()) << daemon_->log();
  }
  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    }
  }
  json ask(const json& request) const {
    return json::parse(udpsieve::cli::request(socket_, request.dump(), std::chrono::seconds(30)));
  }
  std::vector<std::string> ids(const json& reply) const {
    std::vector<std::string> out;
    for (const json& rule : reply.at("rules"))
      out.push_back(rule.at("id").get<std::string>());
    return out;
  }
  udpsieve::test::RunResult ctl(std::vector<std::string> args) const {
    args.insert(args.begin(), {udpsieve::test::ctl_binary(), "--socket", socket_});
    return run_program(args);
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(LargeRuleSet, RulesArePagedAndFiltered) {
  const json first = ask({{"cmd", "rules"}});
  EXPECT_EQ(first["rules"].size(), 1000U);
  EXPECT_EQ(first["total"], kRules);
  EXPECT_EQ(first["offset"], 0);
  EXPECT_EQ(first["next_offset"], 1000);
  EXPECT_EQ(first["rules"][0]["id"], "r0");
  EXPECT_EQ(first["rules"][0]["index"], 0);

  const json last = ask({{"cmd", "rules"}, {"offset", kRules - 500}, {"limit", 1000}});
  EXPECT_EQ(last["rules"].size(), 500U);
  EXPECT_TRUE(last["next_offset"].is_null());
  EXPECT_EQ(last["rules"][0]["id"], "r24500");
  EXPECT_EQ(last["rules"][499]["id"], "r24999");
  EXPECT_EQ(last["rules"][499]["packets"], 1);

  const json past = ask({{"cmd", "rules"}, {"offset", kRules + 10}});
  EXPECT_TRUE(past["rules"].empty());
  EXPECT_EQ(past["total"], kRules);

  const json top = ask({{"cmd", "rules"}, {"top", 4}});
  EXPECT_EQ(ids(top), (std::vector<std::string>{"r7", "r20000", "r24999", "r0"}));
  EXPECT_EQ(top["rules"][0]["packets"], 5);
  EXPECT_EQ(top["rules"][1]["packets"], 3);
  EXPECT_EQ(top["total"], 4);

  const json one = ask({{"cmd", "rules"}, {"id", "r20000"}});
  EXPECT_EQ(ids(one), std::vector<std::string>{"r20000"});
  EXPECT_EQ(one["rules"][0]["index"], 20000);
  EXPECT_EQ(one["rules"][0]["packets"], 3);
  EXPECT_TRUE(ask({{"cmd", "rules"}, {"id", "nope"}})["rules"].empty());
  EXPECT_EQ(ask({{"cmd", "rules"}, {"source", "api"}})["total"], 0);

  const std::vector<std::pair<json, std::string>> refused = {
      {{{"cmd", "rules"}, {"limit", 0}}, "rules: limit is an integer from 1 to 10000"},
      {{{"cmd", "rules"}, {"limit", 10001}}, "rules: limit is an integer from 1 to 10000"},
      {{{"cmd", "rules"}, {"limit", "5"}}, "rules: limit is an integer from 1 to 10000"},
      {{{"cmd", "rules"}, {"top", 0}}, "rules: top is an integer from 1 to 10000"},
      {{{"cmd", "rules"}, {"offset", -1}}, "rules: offset is an integer from 0"},
      {{{"cmd", "rules"}, {"id", ""}}, "rules: id is a non-empty string"},
      {{{"cmd", "rules"}, {"source", 3}}, "rules: source is a non-empty string"},
  };
  for (const auto& [request, text] : refused) {
    EXPECT_EQ(error_text(udpsieve::cli::request(socket_, request.dump())), text) << request;
  }
}

TEST_F(LargeRuleSet, StatsListsTheBusiestRulesOnly) {
  const json stats = ask({{"cmd", "stats"}});
  EXPECT_EQ(stats["rules_total"], kRules);
  ASSERT_EQ(stats["rules"].size(), 20U);
  EXPECT_EQ(stats["rules"][0]["id"], "r7");
  EXPECT_EQ(stats["rules"][1]["id"], "r20000");
  EXPECT_EQ(stats["rules"][2]["id"], "r24999");
  const auto text = ctl({"stats"});
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("... and 24980 more rule(s)"), std::string::npos) << text.output;
}

TEST_F(LargeRuleSet, UdpsievectlListsEveryRuleAPageAtATime) {
  const auto listed = ctl({"rules", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  const json all = json::parse(listed.output);
  ASSERT_EQ(all["rules"].size(), static_cast<std::size_t>(kRules));
  for (std::size_t n = 0; n < kRules; n += 4999)
    EXPECT_EQ(all["rules"][n]["id"], "r" + std::to_string(n));
  EXPECT_TRUE(all["next_offset"].is_null());
  const auto page = ctl({"rules", "--limit", "3", "--offset", "10", "--json"});
  ASSERT_EQ(page.exit_code, 0) << page.output;
  EXPECT_EQ(ids(json::parse(page.output)), (std::vector<std::string>{"r10", "r11", "r12"}));
  const auto top = ctl({"rules", "--top", "2"});
  EXPECT_EQ(top.exit_code, 0) << top.output;
  EXPECT_NE(top.output.find(" r7 "), std::string::npos) << top.output;
  EXPECT_EQ(top.output.find(" r0 "), std::string::npos) << top.output;
  const auto bad = ctl({"rules", "--limit", "0"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--limit: a number from 1 to 10000, got '0'"), std::string::npos)
      << bad.output;
}

TEST_F(LargeRuleSet, MetricsCapThePerRuleSeries) {
  const std::string text = ask({{"cmd", "metrics"}})["metrics"].get<std::string>();
  EXPECT_NE(text.find("\nudpsieve_rules 25000\n"), std::string::npos);
  EXPECT_NE(text.find("\nudpsieve_rules_without_series 24000\n"), std::string::npos);
  std::istringstream lines(text);
  std::string line;
  int series = 0;
  while (std::getline(lines, line))
    series += line.rfind("udpsieve_rule_packets_total{", 0) == 0 ? 1 : 0;
  EXPECT_EQ(series, 1000);
}

TEST_F(LargeRuleSet, ReplacingTheSetGivesMemoryBack) {
  dir_.write("rules.yaml", "rules:\n  - {id: only, match: {dst_port: 53}, action: drop}\n");
  const auto reload = ctl({"reload"});
  ASSERT_EQ(reload.exit_code, 0) << reload.output;
  const std::regex trimmed(
      "rule parts of ([0-9]+) rule\\(s\\) freed; heap trimmed: resident memory ([0-9]+) MiB -> "
      "([0-9]+) MiB");
  std::smatch match;
  std::string log;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!std::regex_search(log = daemon_->log(), match, trimmed) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(match.empty()) << log;
  EXPECT_EQ(std::stoul(match[1].str()), static_cast<unsigned long>(kRules));
  if (!kAsan) {
    EXPECT_LT(std::stoul(match[3].str()), std::stoul(match[2].str())) << match[0];
  }
  // The allocator that gave it back: jemalloc where the build links it (common/heap.hpp).
  EXPECT_NE(log.find(UDPSIEVE_EXPECT_JEMALLOC ? "info memory allocator: jemalloc 5."
                                              : "info memory allocator: glibc"),
            std::string::npos)
      << log;
}

}  // namespace
