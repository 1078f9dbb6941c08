// Per-source rate limit accuracy on a live daemon (vdevs, traffic through FIFOs,
// tests/support/fifo_traffic.hpp): 1,000 sources sending 10x a per-source limit and 1,000 sending
// half of it, all through one rule. Every under-limit source passes in full; every over-limit
// source passes its burst plus its rate over the run, within 10%; every counter adds up exactly.
//
// The sender is paced by the wall clock (a tick every 10 ms for 8 s), so the rates are rates in
// the daemon's clock too, give or take how far the daemon lags behind the sender. That lag is
// what the test tolerates, and it is small: the pipe holds about 130 ms of traffic, and the
// sender waits for the daemon whenever it is full. Heavy sources stay at 10x their limit
// whatever the pacing, so they are always over it and pass burst + pps x (their time on the
// daemon's clock); that time differs from the sender's only by the lag at the start and at the
// end, a fraction of the 10% allowed. Light sources send at half the refill rate, so their
// buckets stay full and each frame only needs a token it already has. This is an accuracy
// check, not a speed check: 105,000 frames a second is far below what even a sanitizer build
// of the daemon reads.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/daemon_process.hpp"
#include "support/fifo_traffic.hpp"
#include "support/packet_builder.hpp"

namespace {

using nlohmann::json;
using udpsieve::test::append_record;
using udpsieve::test::Bytes;
using udpsieve::test::DaemonProcess;
using udpsieve::test::entry_of;
using udpsieve::test::FifoPcapReader;
using udpsieve::test::FifoPcapWriter;
using udpsieve::test::final_total;
using udpsieve::test::PacketBuilder;
using udpsieve::test::TempDir;
using udpsieve::test::wait_until;

using Clock = std::chrono::steady_clock;

constexpr uint64_t kPps = 10;  ///< the rule's per-source rate
constexpr uint64_t kBurst = 10;
constexpr std::size_t kSources = 1000;  ///< of each kind
constexpr std::size_t kFrameSize = 60;
constexpr std::size_t kRecordSize = 16 + kFrameSize;  ///< pcap record header + frame
constexpr auto kTick = std::chrono::milliseconds(10);
constexpr uint64_t kTicks = 800;             ///< 8 s
constexpr uint64_t kLightEvery = 20;         ///< ticks between a light source's frames: 5 pps
constexpr uint64_t kCatchUpTicks = 10;       ///< at most this many late ticks per chunk (~800 KB)
constexpr std::size_t kSrcOffset = 14 + 12;  ///< IPv4 source address in an untagged frame

/// Heavy source i is 10.1.x.y, light source i is 10.2.x.y (i = x * 256 + y).
udpsieve::test::Ipv4Address source_address(bool heavy, std::size_t i) {
  return {10, static_cast<uint8_t>(heavy ? 1 : 2), static_cast<uint8_t>(i / 256),
          static_cast<uint8_t>(i % 256)};
}

std::string address_text(bool heavy, std::size_t i) {
  const auto a = source_address(heavy, i);
  return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
         std::to_string(a[3]);
}

/// The paced sender: a FifoPcapWriter producer. Per source only a counter is kept, never the
/// frames (840,000 of them): each source's pcap record is built once and copied per send.
class PacedSources {
 public:
  PacedSources() {
    for (const bool heavy : {true, false}) {
      for (std::size_t i = 0; i < kSources; ++i) {
        const Bytes frame = PacketBuilder()
                                .ipv4({.src = source_address(heavy, i), .dst = {10, 9, 9, 9}})
                                .udp({.src_port = 40000, .dst_port = 53, .checksum = 0})
                                .payload(Bytes(kFrameSize - 14 - 20 - 8, 0x5a))
                                .build();
        append_record(records_, frame.data(), frame.size());
      }
    }
  }

  /// Lets the producer start its clock (until then it sends nothing).
  void go() { go_.store(true); }

  /// Appends every tick that is due, waiting for the next one if none is. A producer that fell
  /// behind (the pipe was full, or the thread was not scheduled) sends the ticks it missed at
  /// once. The buckets tolerate that: tokens accrue in the daemon's clock while the sender
  /// stalls, a heavy source stays over its limit anyway, and a light source, whose bucket is
  /// full (burst 10) when the stall starts, has a token for each of its late frames unless the
  /// stall lasts more than 2 s (10 frames at 5 pps).
  bool produce(std::string& chunk) {
    if (!go_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return true;
    }
    Clock::time_point now = Clock::now();
    if (next_tick_ == 0) start_ = now;
    const Clock::time_point due = start_ + next_tick_ * kTick;
    if (now < due) {
      std::this_thread::sleep_until(due);
      now = Clock::now();
    }
    for (uint64_t n = 0; n < kCatchUpTicks && next_tick_ < kTicks; ++n, ++next_tick_) {
      const Clock::time_point tick_at = start_ + next_tick_ * kTick;
      if (tick_at > now) break;
      max_late_ = std::max(max_late_, now - tick_at);
      send_tick(chunk);
      if (next_tick_ == 0) first_frame_ = now;
      last_frame_ = now;
    }
    return next_tick_ < kTicks;
  }

  /// Seconds between the first frame and the last (read once the FIFO is closed).
  [[nodiscard]] double duration_s() const {
    return std::chrono::duration<double>(last_frame_ - first_frame_).count();
  }
  [[nodiscard]] double max_late_ms() const {
    return std::chrono::duration<double, std::milli>(max_late_).count();
  }
  [[nodiscard]] uint64_t sent(bool heavy, std::size_t i) const {
    return sent_[(heavy ? 0 : kSources) + i];
  }
  [[nodiscard]] uint64_t total() const { return total_; }

 private:
  /// Every heavy source once; the light sources whose turn it is, 1/20 of them per tick.
  void send_tick(std::string& chunk) {
    for (std::size_t i = 0; i < kSources; ++i)
      send(chunk, i);
    for (std::size_t i = 0; i < kSources; ++i) {
      if ((next_tick_ + i) % kLightEvery == 0) send(chunk, kSources + i);
    }
  }
  void send(std::string& chunk, std::size_t slot) {
    chunk.append(records_, slot * kRecordSize, kRecordSize);
    ++sent_[slot];
    ++total_;
  }

  std::string records_;  ///< heavy sources' records, then light sources'
  std::atomic<bool> go_{false};
  uint64_t next_tick_ = 0;
  Clock::time_point start_{};
  Clock::time_point first_frame_{};
  Clock::time_point last_frame_{};
  Clock::duration max_late_{};
  std::array<uint64_t, 2 * kSources> sent_{};
  uint64_t total_ = 0;
};

/// Forwarded frames per source, read from out.fifo.
struct Received {
  std::array<uint64_t, 2 * kSources> forwarded{};
  uint64_t total = 0;
  uint64_t bad = 0;  ///< frames that are not from a known source

  void on_frame(const uint8_t* frame, std::size_t size) {
    if (size != kFrameSize) {
      ++bad;
      return;
    }
    const uint8_t* src = frame + kSrcOffset;
    const std::size_t i = std::size_t{src[2]} * 256 + src[3];
    if (src[0] != 10 || (src[1] != 1 && src[1] != 2) || i >= kSources) {
      ++bad;
      return;
    }
    ++forwarded[(src[1] == 1 ? 0 : kSources) + i];
    ++total;
  }
  [[nodiscard]] uint64_t of(bool heavy, std::size_t i) const {
    return forwarded[(heavy ? 0 : kSources) + i];
  }
};

TEST(PerSource, ThousandHeavyAndThousandLightSourcesThroughOneRule) {
  REQUIRE_DPDK();
  TempDir dir;
  dir.write("rules.yaml",
            "rules:\n  - {id: per-source, match: {dst_port: 53}, action: {rate_limit: "
            "{pps: " +
                std::to_string(kPps) + ", burst: " + std::to_string(kBurst) +
                ", per_source: 32}}}\n");
  dir.write("config.yaml",
            "eal:\n  lcores: [0, 1]\n  hugepages: off\n  memory_mb: 256\nports:\n"
            "  - {name: wan, device: \"net_pcap0,rx_pcap=in.fifo\", forward_to: out}\n"
            "  - {name: out, device: \"net_pcap1,tx_pcap=out.fifo\", forward_to: wan}\n"
            "pipeline:\n  default_action: forward\n  non_udp: drop\n  rules: [rules.yaml]\n"
            "control:\n  stats_interval_ms: 10\n");
  const std::string socket = dir.file("ctl.sock");

  PacedSources sources;
  Received received;
  FifoPcapReader output(dir.file("out.fifo"));
  FifoPcapWriter input(dir.file("in.fifo"));
  input.start([&](std::string& chunk, const std::atomic<bool>&) { return sources.produce(chunk); });
  DaemonProcess daemon({"--config", dir.file("config.yaml"), "--file-prefix",
                        udpsieve::test::unique_prefix("per_source_accuracy"), "--socket", socket},
                       dir.file("daemon.log"));
  ASSERT_TRUE(daemon.wait_ready(socket)) << daemon.log();
  output.start([&](const uint8_t* frame, std::size_t size) { received.on_frame(frame, size); });
  sources.go();

  // The sender closes in.fifo after its last tick; then wait for the daemon to count it all.
  ASSERT_TRUE(input.wait_closed()) << input.error();
  ASSERT_EQ(input.error(), "");
  const uint64_t total = sources.total();
  ASSERT_EQ(total, kTicks * kSources + kTicks / kLightEvery * kSources);
  ASSERT_TRUE(daemon.wait_rx(socket, total).has_value()) << daemon.log();
  json rules;
  EXPECT_TRUE(wait_until([&] {
    rules = daemon.request(socket, "rules");
    const json entry = entry_of(rules, "per-source");
    return !entry.is_null() && entry["packets"].get<uint64_t>() == total;
  })) << rules;
  const json stats = daemon.request(socket, "stats");
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();
  const std::string log = daemon.log();
  ASSERT_TRUE(output.wait_eof());
  EXPECT_TRUE(output.stream_ok());

  // Under the limit: every frame passes.
  std::string light_losses;
  std::size_t light_losers = 0;
  for (std::size_t i = 0; i < kSources; ++i) {
    if (received.of(false, i) == sources.sent(false, i)) continue;
    if (++light_losers <= 10) {
      light_losses += address_text(false, i) + ": " + std::to_string(received.of(false, i)) +
                      " of " + std::to_string(sources.sent(false, i)) + "\n";
    }
  }
  EXPECT_EQ(light_losers, 0U) << "light sources that lost frames (at most 10 shown):\n"
                              << light_losses;

  // Over the limit: the burst, then the rate over the sender's run, within 10% of the latter.
  const double seconds = sources.duration_s();
  const double expected = static_cast<double>(kBurst) + static_cast<double>(kPps) * seconds;
  const double tolerance = 0.10 * static_cast<double>(kPps) * seconds;
  std::vector<std::pair<double, std::size_t>> deviations;  // (forwarded - expected, source)
  uint64_t least = UINT64_MAX;
  uint64_t most = 0;
  for (std::size_t i = 0; i < kSources; ++i) {
    const uint64_t passed = received.of(true, i);
    least = std::min(least, passed);
    most = std::max(most, passed);
    deviations.emplace_back(static_cast<double>(passed) - expected, i);
  }
  std::sort(deviations.begin(), deviations.end(),
            [](const auto& a, const auto& b) { return std::abs(a.first) > std::abs(b.first); });
  const double worst_percent =
      100.0 * std::abs(deviations.front().first) / (static_cast<double>(kPps) * seconds);
  std::string heavy_offenders;
  std::size_t offenders = 0;
  for (const auto& [deviation, i] : deviations) {
    if (std::abs(deviation) <= tolerance) break;
    if (++offenders <= 10) {
      heavy_offenders +=
          address_text(true, i) + ": " + std::to_string(received.of(true, i)) + " forwarded\n";
    }
  }
  std::printf(
      "heavy sources over %.3f s: expected %.1f, forwarded %llu to %llu, worst %.1f%% of "
      "the rate's share; sender at most %.1f ms late\n",
      seconds, expected, static_cast<unsigned long long>(least),
      static_cast<unsigned long long>(most), worst_percent, sources.max_late_ms());
  EXPECT_EQ(offenders, 0U) << offenders << " heavy sources outside " << expected << " +- "
                           << tolerance << " over " << seconds << " s (forwarded " << least
                           << " to " << most << "; sender at most " << sources.max_late_ms()
                           << " ms late); the first 10:\n"
                           << heavy_offenders;

  // Every frame counted once, everywhere.
  EXPECT_EQ(received.bad, 0U);
  const json entry = entry_of(rules, "per-source");
  ASSERT_FALSE(entry.is_null()) << rules;
  const json& totals = stats["totals"];
  const uint64_t forwarded = totals["forwarded_packets"].get<uint64_t>();
  EXPECT_EQ(stats["ports"][0]["rx_packets"].get<uint64_t>(), total);
  EXPECT_EQ(totals["rx_packets"].get<uint64_t>(), total);
  EXPECT_EQ(entry["packets"].get<uint64_t>(), total);
  EXPECT_EQ(entry["passed"].get<uint64_t>(), received.total);
  EXPECT_EQ(forwarded, received.total);
  EXPECT_EQ(entry["limited"].get<uint64_t>(), totals["drops"]["rate_limit"].get<uint64_t>());
  EXPECT_EQ(forwarded + totals["dropped_packets"].get<uint64_t>(), total);
  EXPECT_EQ(totals["dropped_packets"].get<uint64_t>(),
            totals["drops"]["rate_limit"].get<uint64_t>());
  EXPECT_EQ(stats["workers"][0]["per_source_sources"], 2 * kSources) << stats["workers"];
  EXPECT_EQ(stats["workers"][0]["per_source_evictions"], 0) << stats["workers"];
  EXPECT_EQ(final_total(log, "rx_packets"), total) << log;
  EXPECT_EQ(final_total(log, "port_rx_packets"), total);
  EXPECT_EQ(final_total(log, "forwarded_packets"), received.total);
  EXPECT_EQ(final_total(log, "dropped_packets"), total - received.total);
  EXPECT_EQ(final_total(log, "drop_rate_limit"), totals["drops"]["rate_limit"].get<uint64_t>());
}

}  // namespace
