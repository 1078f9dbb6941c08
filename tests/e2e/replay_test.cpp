// tcpreplay of tests/e2e/mixed.pcap from the client namespace through udpsieved: every rule of
// mixed-rules.yaml counts exactly the frames mixed.expect assigns to it (an oracle written by
// make_mixed.py from how each frame was built, not from parsing it), the totals add up, and the
// server namespace receives exactly the forwarded frames, byte for byte and in order.
//
// The capture is replayed in chunks, each waiting until the daemon has classified it, so no
// ring on the way ever holds more than a chunk and no frame can be lost to scheduling.
#include <gtest/gtest.h>

#include <map>
#include <regex>

#include "e2e/fixture.hpp"
#include "support/mixed_oracle.hpp"

namespace {

using udpsieve::test::e2e::Pmd;
using udpsieve::test::e2e::RuleCount;
namespace e2e = udpsieve::test::e2e;
using Bytes = std::vector<uint8_t>;

constexpr std::size_t kChunkFrames = 64;

std::string e2e_dir() {
  return udpsieve::test::source_dir() + "/tests/e2e";
}

/// An untagged IPv4 frame with more-fragments set or a fragment offset.
bool is_ipv4_fragment(const Bytes& frame) {
  if (frame.size() < 14 + 20 || frame[12] != 0x08 || frame[13] != 0x00) return false;
  return ((frame[14 + 6] << 8 | frame[14 + 7]) & 0x3fff) != 0;
}

class Replay : public e2e::LabTest {
 protected:
  void SetUp() override {
    tcpreplay_ = e2e::find_program("tcpreplay");
    if (tcpreplay_.empty()) {
      if (udpsieve::test::in_ci()) FAIL() << "tcpreplay not found (scripts/setup.sh installs it)";
      GTEST_SKIP() << "tcpreplay not found (scripts/setup.sh installs it)";
    }
    start(GetParam() == Pmd::kAfPacket ? "rpp" : "rpx", e2e_dir() + "/mixed-rules.yaml");
  }

  std::string tcpreplay_;
};

TEST_P(Replay, MixedCaptureMatchesTheOracle) {
  const std::vector<Bytes> all_frames = udpsieve::test::read_pcap(e2e_dir() + "/mixed.pcap");
  const std::vector<std::string> all_labels =
      udpsieve::test::read_mixed_expect(e2e_dir() + "/mixed.expect");
  const std::map<std::string, bool> forwards =
      udpsieve::test::read_mixed_actions(e2e_dir() + "/mixed-rules.yaml");
  ASSERT_EQ(all_frames.size(), all_labels.size()) << "mixed.pcap and mixed.expect disagree: "
                                                     "rerun tests/e2e/make_mixed.py";
  // net_af_packet never sees IPv4 fragments as sent: DPDK 22.11's af_packet PMD joins a
  // PACKET_FANOUT group with PACKET_FANOUT_FLAG_DEFRAG, so the kernel reassembles them first
  // (and a datagram longer than the ring's frames arrives truncated). That variant replays
  // the capture without its IPv4 fragments; net_af_xdp replays all of it.
  std::vector<Bytes> frames;
  std::vector<std::string> labels;
  std::size_t left_out = 0;
  for (std::size_t i = 0; i < all_frames.size(); ++i) {
    if (GetParam() == Pmd::kAfPacket && is_ipv4_fragment(all_frames[i])) {
      ++left_out;
      continue;
    }
    frames.push_back(all_frames[i]);
    labels.push_back(all_labels[i]);
  }
  if (left_out != 0) {
    std::cout << "[ NOTE     ] net_af_packet: " << left_out
              << " IPv4 fragments of mixed.pcap left out (the PMD's fanout defragments them)"
              << std::endl;
  }

  std::map<std::string, RuleCount> want;
  uint64_t default_drops = 0;
  std::vector<Bytes> forwarded;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (labels[i] == "-") {
      ++default_drops;
      continue;
    }
    ASSERT_EQ(forwards.count(labels[i]), 1U) << "mixed.expect names unknown rule " << labels[i];
    want[labels[i]].packets += 1;
    want[labels[i]].bytes += frames[i].size();
    if (forwards.at(labels[i])) forwarded.push_back(frames[i]);
  }

  const e2e::Fd capture = e2e::capture_socket(lab_->server_ns(), lab_->server_if());
  const std::string ip = e2e::find_program("ip");
  for (std::size_t start = 0; start < frames.size(); start += kChunkFrames) {
    const std::size_t end = std::min(frames.size(), start + kChunkFrames);
    const std::string chunk = dir_.file("chunk.pcap");
    udpsieve::test::write_pcap(chunk, std::vector<Bytes>(frames.begin() + static_cast<long>(start),
                                                         frames.begin() + static_cast<long>(end)));
    const auto sent =
        udpsieve::test::run_program({ip, "netns", "exec", lab_->client_ns(), tcpreplay_,
                                     "--topspeed", "-i", lab_->client_if(), chunk});
    ASSERT_EQ(sent.exit_code, 0) << sent.output;
    std::smatch failed;
    ASSERT_TRUE(std::regex_search(sent.output, failed, std::regex(R"(Failed packets:\s+(\d+))")))
        << sent.output;
    ASSERT_EQ(failed[1].str(), "0") << sent.output;
    const auto stats =
        daemon_->wait_stats([&](const nlohmann::json& s) { return e2e::udp_classified(s) >= end; });
    ASSERT_TRUE(stats.has_value())
        << "the daemon never classified frames " << start << "-" << end - 1 << "; last stats:\n"
        << daemon_->request("stats").dump(2);
  }

  // What reached the server: exactly the forwarded frames, in order.
  std::vector<Bytes> received;
  while (received.size() < forwarded.size()) {
    auto frame = e2e::receive_frame(capture, std::chrono::seconds(10));
    if (!frame) break;
    received.push_back(std::move(*frame));
  }
  EXPECT_FALSE(e2e::receive_frame(capture, std::chrono::milliseconds(0)).has_value())
      << "a frame beyond the forwarded ones reached the server";
  ASSERT_EQ(received.size(), forwarded.size());
  for (std::size_t i = 0; i < forwarded.size(); ++i)
    EXPECT_EQ(received[i], forwarded[i]) << "forwarded frame " << i << " differs";

  // Counters: per rule exactly the oracle; totals add up. Non-UDP (the namespaces' own MLD
  // reports, the server's ICMP port unreachables) is dropped by non_udp: drop and counted apart.
  const nlohmann::json stats = daemon_->request("stats");
  std::vector<std::pair<std::string, RuleCount>> want_rules;
  for (const auto& [id, count] : e2e::rule_counts(stats)) {
    (void)count;
    want_rules.emplace_back(id, want[id]);
  }
  EXPECT_EQ(e2e::rule_counts(stats), want_rules) << stats["rules"].dump(2);
  const auto& totals = stats["totals"];
  const auto& drops = totals["drops"];
  EXPECT_EQ(drops["default"].get<uint64_t>(), default_drops);
  EXPECT_EQ(totals["forwarded_packets"].get<uint64_t>(), forwarded.size());
  EXPECT_EQ(drops["rule"].get<uint64_t>(), frames.size() - forwarded.size() - default_drops);
  EXPECT_EQ(totals["rx_packets"].get<uint64_t>() - drops["non_udp"].get<uint64_t>(), frames.size());
  EXPECT_EQ(totals["rx_packets"].get<uint64_t>(), totals["forwarded_packets"].get<uint64_t>() +
                                                      totals["dropped_packets"].get<uint64_t>());
  EXPECT_EQ(drops["malformed"].get<uint64_t>(), 0U);
  EXPECT_EQ(drops["tx_full"].get<uint64_t>(), 0U);
  for (const auto& port : stats["ports"])
    EXPECT_EQ(port["rx_missed"].get<uint64_t>(), 0U) << port.dump();
  std::cout << "[ COUNTS   ] " << frames.size() << " frames replayed, " << forwarded.size()
            << " forwarded and received, " << drops["non_udp"].get<uint64_t>() << " non-UDP dropped"
            << std::endl;
}

INSTANTIATE_TEST_SUITE_P(Pmds, Replay, testing::Values(Pmd::kAfPacket, Pmd::kAfXdp), e2e::pmd_name);

}  // namespace
