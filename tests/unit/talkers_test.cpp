// Top talkers: the Space-Saving summary against exact counts (every listed key's count brackets
// its true count, every unlisted key stays under the floor, heavy keys are always listed), the
// sampler's rate, the worker's period hand-over, and the control side's merge of periods and
// workers into rates with error bounds, the request fields and the reply.
#include "udpsieve/control/talkers.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <unordered_map>

#include "udpsieve/dataplane/talkers.hpp"

namespace udpsieve {
namespace {

using control::TalkerBook;
using control::TalkerQuery;
using dataplane::TalkerCount;
using dataplane::TalkerKey;
using dataplane::TalkerKind;
using dataplane::TalkerList;
using dataplane::TalkerReport;
using dataplane::Talkers;
using dataplane::TalkerTable;
using nlohmann::json;

constexpr std::array<uint64_t, 2> kSeed = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};

TalkerKey v4(uint32_t address) {
  return TalkerKey{0, address, 4};
}

rules::PacketKey packet_from(uint32_t source, uint16_t port) {
  rules::PacketKey packet;
  packet.family = rules::Family::ipv4;
  const uint32_t big = __builtin_bswap32(source);
  std::memcpy(packet.src.data(), &big, 4);
  packet.dst_port = port;
  packet.has_ports = true;
  return packet;
}

struct KeyLess {
  bool operator()(const TalkerKey& a, const TalkerKey& b) const {
    return std::tie(a.family, a.high, a.low) < std::tie(b.family, b.high, b.low);
  }
};

/// Feeds `stream` to a table and checks the summary against the exact counts.
void check_against_exact(const std::vector<TalkerKey>& stream, std::size_t entries,
                         const std::vector<TalkerKey>& heavy) {
  const Talkers hasher({1}, 8, kSeed);
  TalkerTable table(entries);
  std::map<TalkerKey, uint32_t, KeyLess> exact;
  for (const TalkerKey& key : stream) {
    table.add(key, hasher.hash(key));
    ++exact[key];
  }
  TalkerList list;
  table.top(list);
  ASSERT_GT(list.size, 0U);
  std::map<TalkerKey, const TalkerCount*, KeyLess> listed;
  for (uint32_t i = 0; i < list.size; ++i) {
    const TalkerCount& entry = list.top[i];
    if (i > 0) {
      EXPECT_GE(list.top[i - 1].count, entry.count) << "heaviest first";
    }
    listed[entry.key] = &entry;
    const uint32_t truth = exact[entry.key];
    EXPECT_LE(truth, entry.count) << "a count never underestimates";
    EXPECT_GE(truth, entry.count - entry.error) << "count - error is a lower bound";
  }
  for (const auto& [key, truth] : exact) {
    if (!listed.contains(key)) {
      EXPECT_LE(truth, list.floor) << "an unlisted key stays under the floor";
    }
  }
  for (const TalkerKey& key : heavy)
    EXPECT_TRUE(listed.contains(key)) << key.low;
}

TEST(TalkerTable, CountsExactlyWhileEveryKeyHasRoom) {
  std::vector<TalkerKey> stream;
  for (uint32_t k = 1; k <= 40; ++k) {
    for (uint32_t n = 0; n < k * 3; ++n)
      stream.push_back(v4(0x0a000000 + k));
  }
  std::shuffle(stream.begin(), stream.end(), std::mt19937(7));
  const Talkers hasher({1}, 8, kSeed);
  TalkerTable table(1024);
  for (const TalkerKey& key : stream)
    table.add(key, hasher.hash(key));
  TalkerList list;
  table.top(list);
  ASSERT_EQ(list.size, 40U);
  EXPECT_EQ(list.floor, 0U) << "nothing was left out";
  for (uint32_t i = 0; i < 40; ++i) {
    EXPECT_EQ(list.top[i].key, v4(0x0a000000 + 40 - i));
    EXPECT_EQ(list.top[i].count, (40 - i) * 3);
    EXPECT_EQ(list.top[i].error, 0U);
  }
}

TEST(TalkerTable, BracketsTrueCountsWhenKeysOutnumberItsRoom) {
  // Ten heavy sources (2% each) among 100,000 sources seen a few times each, in a table of
  // 1,024: as a worker's summary sees them in a flood.
  std::mt19937_64 random(11);
  std::vector<TalkerKey> stream;
  std::vector<TalkerKey> heavy;
  for (uint32_t h = 0; h < 10; ++h)
    heavy.push_back(v4(0xc6336400 + h));
  for (uint32_t s = 0; s < 100'000; ++s) {
    const TalkerKey key = v4(static_cast<uint32_t>(random()));
    for (int n = 0; n < 4; ++n)
      stream.push_back(key);
  }
  for (const TalkerKey& key : heavy) {
    for (int n = 0; n < 10'000; ++n)
      stream.push_back(key);
  }
  std::shuffle(stream.begin(), stream.end(), random);
  check_against_exact(stream, 1024, heavy);
}

TEST(TalkerTable, BracketsTrueCountsOfASkewedStream) {
  // Zipf-like: key k is seen about 50,000 / k times, over 20,000 keys, in a table of 256.
  std::mt19937_64 random(5);
  std::vector<TalkerKey> stream;
  for (uint32_t k = 1; k <= 20'000; ++k) {
    for (uint32_t n = 0; n < std::max<uint32_t>(1, 50'000 / k); ++n)
      stream.push_back(v4(k));
  }
  std::shuffle(stream.begin(), stream.end(), random);
  check_against_exact(stream, 256, {v4(1), v4(2), v4(3), v4(4), v4(5)});
}

TEST(TalkerTable, ClearEmptiesIt) {
  const Talkers hasher({1}, 8, kSeed);
  TalkerTable table(64);
  table.add(v4(1), hasher.hash(v4(1)));
  table.clear();
  TalkerList list;
  table.top(list);
  EXPECT_EQ(list.size, 0U);
  EXPECT_EQ(list.floor, 0U);
}

TEST(Talkers, SamplesOneInNAtRandomGapsAcrossBursts) {
  for (const uint32_t sampling : {1U, 16U, 100U}) {
    Talkers talkers({sampling}, 64, kSeed);
    uint64_t sampled = 0;
    uint64_t offered = 0;
    std::map<uint32_t, uint64_t> by_phase;  // a fixed period would always hit the same phase
    std::mt19937 random(3);
    while (offered < 1'600'000) {
      const uint32_t burst = 1 + random() % 32;
      int64_t last = -1;
      talkers.offer(burst, [&](uint32_t i) {
        EXPECT_LT(i, burst);
        EXPECT_GT(static_cast<int64_t>(i), last) << "in order, each once";
        last = i;
        ++sampled;
        ++by_phase[static_cast<uint32_t>((offered + i) % 64)];
      });
      offered += burst;
    }
    const double expected = static_cast<double>(offered) / sampling;
    EXPECT_NEAR(static_cast<double>(sampled), expected, expected * 0.02) << sampling;
    if (sampling > 1) {
      EXPECT_EQ(by_phase.size(), 64U) << "every phase of a 64-frame loop is seen";
    }
    ASSERT_TRUE(talkers.end_period(1));
    while (!talkers.prepare_step()) {
    }
    TalkerReport report;
    talkers.take_report(report);
    EXPECT_EQ(report.seen, offered);
    EXPECT_EQ(report.picked, sampled);
  }
}

TEST(Talkers, AFloodIsSampledWithinTheBoundAndTheSamplingComesBack) {
  // A TSC of 1 MHz; 1 in 16 at least, 1,000 samples a second at most.
  constexpr double kTscHz = 1e6;
  Talkers talkers({16, 1000, kTscHz}, 64, kSeed);
  Talkers unbounded({16, 0, kTscHz}, 64, kSeed);
  talkers.start(0);
  unbounded.start(0);
  uint64_t now = 0;
  // One period: `packets` offered in bursts of 32 over `seconds`; its report, and the sampling
  // it was sampled at.
  struct Period {
    TalkerReport report;
    uint32_t sampling = 0;
  };
  const auto period = [&](Talkers& sampler, uint64_t packets, double seconds) {
    Period out;
    out.sampling = sampler.sampling();
    uint64_t picked = 0;
    for (uint64_t sent = 0; sent < packets; sent += 32)
      sampler.offer(32, [&](uint32_t) { ++picked; });
    EXPECT_TRUE(sampler.end_period(now + static_cast<uint64_t>(seconds * kTscHz)));
    while (!sampler.prepare_step()) {
    }
    sampler.take_report(out.report);
    EXPECT_EQ(out.report.picked, picked);
    return out;
  };
  // A flood of 2 Mpps for a second: sampled at 1 in 16 (the bound applies from the next
  // period on), which then samples 1 in 2,000.
  Period done = period(talkers, 2'000'000, 1.0);
  EXPECT_EQ(done.sampling, 16U);
  EXPECT_NEAR(static_cast<double>(done.report.picked), 2e6 / 16, 2e6 / 16 * 0.03);
  EXPECT_EQ(talkers.sampling(), 2000U);
  now += 1'000'000;
  done = period(talkers, 2'000'000, 1.0);
  EXPECT_EQ(done.sampling, 2000U);
  EXPECT_NEAR(static_cast<double>(done.report.picked), 1000, 1000 * 0.15) << "about the bound";
  // Half the rate over two seconds: 1 in 500.
  now += 1'000'000;
  done = period(talkers, 1'000'000, 2.0);
  EXPECT_EQ(talkers.sampling(), 500U);
  // The flood ends: 10 kpps is below 16 x 1,000, so the sampling is 1 in 16 again.
  now += 2'000'000;
  done = period(talkers, 10'000, 1.0);
  EXPECT_EQ(done.sampling, 500U);
  EXPECT_EQ(talkers.sampling(), 16U);
  now += 1'000'000;
  done = period(talkers, 16'000, 1.0);
  EXPECT_EQ(done.sampling, 16U);
  EXPECT_NEAR(static_cast<double>(done.report.picked), 1000, 1000 * 0.15);

  // Without a bound the sampling never moves.
  now = 0;
  period(unbounded, 2'000'000, 1.0);
  EXPECT_EQ(unbounded.sampling(), 16U);
  // At most one in Talkers::kMaxOneIn, however fast: a million packets in one tick of a
  // 1 THz TSC.
  Talkers fastest({1, 1000, 1e12}, 64, kSeed);
  fastest.start(0);
  for (int burst = 0; burst < 31250; ++burst)
    fastest.offer(32, [](uint32_t) {});
  ASSERT_TRUE(fastest.end_period(1));
  EXPECT_EQ(fastest.sampling(), Talkers::kMaxOneIn);
}

TEST(Talkers, APeriodIsReportedATableAtATimeWhileTheNextCounts) {
  Talkers talkers({1}, 256, kSeed);
  talkers.start(1000);
  const auto send = [&](uint32_t source, uint16_t port, bool dropped, uint32_t packets) {
    uint32_t picked = 0;
    talkers.offer(packets, [&](uint32_t) {
      ++picked;
      talkers.record(packet_from(source, port), dropped, 0xabcdef, TalkerKey::kFilePart);
    });
    ASSERT_EQ(picked, packets) << "sampling 1 picks every packet";
  };
  send(0x0a000001, 53, true, 30);
  send(0x0a000102, 123, false, 20);
  ASSERT_TRUE(talkers.end_period(2000));
  EXPECT_FALSE(talkers.end_period(2500)) << "the last report is not out yet";
  send(0x0a000001, 53, true, 7);  // the next period's, not in the report
  int steps = 0;
  while (!talkers.prepare_step())
    ++steps;
  EXPECT_EQ(steps, 7) << "eight tables, one per step";
  TalkerReport report;
  talkers.take_report(report);
  EXPECT_TRUE(report.valid);
  EXPECT_EQ(report.start_tsc, 1000U);
  EXPECT_EQ(report.end_tsc, 2000U);
  EXPECT_EQ(report.seen, 50U);
  EXPECT_EQ(report.picked, 50U);
  EXPECT_EQ(report.sampled[1], 30U);
  EXPECT_EQ(report.sampled[0], 20U);
  const auto& dropped = report.lists[1];
  const auto& forwarded = report.lists[0];
  ASSERT_EQ(dropped[0].size, 1U);
  EXPECT_EQ(dropped[0].top[0].key, v4(0x0a000001));
  EXPECT_EQ(dropped[0].top[0].count, 30U);
  ASSERT_EQ(forwarded[1].size, 1U);
  EXPECT_EQ(forwarded[1].top[0].key, v4(0x0a000100)) << "the /24";
  ASSERT_EQ(forwarded[2].size, 1U);
  EXPECT_EQ(forwarded[2].top[0].key, (TalkerKey{0, 123, 0}));
  ASSERT_EQ(dropped[3].size, 1U);
  EXPECT_EQ(dropped[3].top[0].key, (TalkerKey{0xabcdef, 0, TalkerKey::kFilePart}));

  // The second period holds only what came after the first ended.
  EXPECT_FALSE(talkers.reporting());
  ASSERT_TRUE(talkers.end_period(3000));
  while (!talkers.prepare_step()) {
  }
  talkers.take_report(report);
  EXPECT_EQ(report.seen, 7U);
  ASSERT_EQ(report.lists[1][0].size, 1U);
  EXPECT_EQ(report.lists[1][0].top[0].count, 7U);
  EXPECT_EQ(report.lists[0][0].size, 0U);
}

TEST(Talkers, Ipv6SourcesAndTheirPrefixes) {
  Talkers talkers({1}, 64, kSeed);
  talkers.start(0);
  rules::PacketKey packet;
  packet.family = rules::Family::ipv6;
  const uint8_t address[16] = {0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78,
                               0,    0,    0,    0,    0,    0,    0,    0x09};
  std::memcpy(packet.src.data(), address, 16);
  talkers.offer(1, [&](uint32_t) { talkers.record(packet, false, 0, TalkerKey::kNoRule); });
  ASSERT_TRUE(talkers.end_period(1));
  while (!talkers.prepare_step()) {
  }
  TalkerReport report;
  talkers.take_report(report);
  ASSERT_EQ(report.lists[0][0].size, 1U);
  EXPECT_EQ(control::talker_key_text(TalkerKind::src, report.lists[0][0].top[0].key),
            "2001:db8:1234:5678::9");
  EXPECT_EQ(control::talker_key_text(TalkerKind::src_prefix, report.lists[0][1].top[0].key),
            "2001:db8:1234::/48");
  EXPECT_EQ(report.lists[0][2].size, 0U) << "no UDP header, no port";
  EXPECT_EQ(report.lists[0][3].top[0].key.family, TalkerKey::kNoRule);
}

// --- the control side -------------------------------------------------------------------------

constexpr double kHz = 1000;  // TSC ticks per second in these tests

/// A one-second period [start, start + 1000) in which every key of `counts` was counted as
/// given (dropped), `seen` packets offered and `sampled` sampled.
TalkerReport period(uint64_t start, uint64_t seen, uint64_t sampled,
                    const std::vector<std::pair<TalkerKey, uint32_t>>& counts, uint32_t floor = 0,
                    bool dropped = true) {
  TalkerReport report;
  report.valid = true;
  report.start_tsc = start;
  report.end_tsc = start + 1000;
  report.seen = seen;
  report.picked = sampled;
  report.sampled[dropped ? 1 : 0] = sampled;
  TalkerList& list = report.lists[dropped ? 1 : 0][0];
  for (const auto& [key, count] : counts)
    list.top[list.size++] = TalkerCount{key, count, count / 10};
  list.floor = floor;
  return report;
}

TEST(TalkerBook, RatesAddOverPeriodsAndWorkersWithTheirErrorBounds) {
  TalkerBook book(2, kHz, 10);
  // Worker 0: two seconds, 1 in 10 sampled; key A 100 then 50 samples, B only in the second.
  book.absorb(0, period(0, 2000, 200, {{v4(1), 100}}, 4));
  book.absorb(0, period(1000, 2000, 200, {{v4(1), 50}, {v4(2), 30}}, 6));
  // Worker 1: one second, everything sampled; A 40.
  book.absorb(1, period(1000, 400, 400, {{v4(1), 40}}, 0));
  const control::TalkerAnswer answer =
      book.top({TalkerKind::src, TalkerQuery::Verdict::all, 10}, 2000);
  ASSERT_EQ(answer.rows.size(), 2U);
  EXPECT_DOUBLE_EQ(answer.window_s, 2.0);
  // A: worker 0 (100 + 50) * 10 / 2 s = 750; worker 1 40 / 1 s = 40.
  EXPECT_EQ(answer.rows[0].key, v4(1));
  EXPECT_DOUBLE_EQ(answer.rows[0].pps, 790);
  // Errors: listed everywhere: (10 + 5) * 10 / 2 + 4 / 1 = 79.
  EXPECT_DOUBLE_EQ(answer.rows[0].error_pps, 79);
  // B: 30 * 10 / 2 = 150; error 3 * 10 / 2 = 15 where listed, plus the first period's floor 4
  // * 10 / 2 = 20 and worker 1's floor 0.
  EXPECT_EQ(answer.rows[1].key, v4(2));
  EXPECT_DOUBLE_EQ(answer.rows[1].pps, 150);
  EXPECT_DOUBLE_EQ(answer.rows[1].error_pps, 35);
  EXPECT_DOUBLE_EQ(answer.pps, 400 * 10 / 2.0 + 400);
  EXPECT_EQ(answer.sampled, 800U);
  EXPECT_EQ(answer.seen, 4400U);
  EXPECT_EQ(answer.picked, 800U);

  const control::TalkerAnswer one = book.top({TalkerKind::src, TalkerQuery::Verdict::all, 1}, 2000);
  ASSERT_EQ(one.rows.size(), 1U);
  EXPECT_EQ(one.rows[0].key, v4(1));
}

TEST(TalkerBook, VerdictsAreKeptApartAndOldPeriodsLeaveTheWindow) {
  TalkerBook book(1, kHz, 10);
  book.absorb(0, period(0, 100, 100, {{v4(1), 60}}, 0, true));
  book.absorb(0, period(1000, 100, 100, {{v4(2), 70}}, 0, false));
  const auto drop = book.top({TalkerKind::src, TalkerQuery::Verdict::drop, 10}, 2000);
  ASSERT_EQ(drop.rows.size(), 1U);
  EXPECT_EQ(drop.rows[0].key, v4(1));
  EXPECT_DOUBLE_EQ(drop.rows[0].pps, 30);  // 60 over the two seconds the window covers
  const auto forward = book.top({TalkerKind::src, TalkerQuery::Verdict::forward, 10}, 2000);
  ASSERT_EQ(forward.rows.size(), 1U);
  EXPECT_EQ(forward.rows[0].key, v4(2));
  EXPECT_TRUE(book.top({TalkerKind::dst_port, TalkerQuery::Verdict::all, 10}, 2000).rows.empty());

  // 10.5 s later the first period (started at 0) is out of the window, the second is in.
  const auto later = book.top({TalkerKind::src, TalkerQuery::Verdict::all, 10}, 10'500);
  ASSERT_EQ(later.rows.size(), 1U);
  EXPECT_EQ(later.rows[0].key, v4(2));
  EXPECT_DOUBLE_EQ(later.window_s, 1.0);
  EXPECT_TRUE(book.top({TalkerKind::src, TalkerQuery::Verdict::all, 10}, 20'000).rows.empty());
  // Periods a window older than the newest are let go of as new ones come.
  book.absorb(0, period(30'000, 100, 100, {{v4(3), 5}}));
  const auto newest = book.top({TalkerKind::src, TalkerQuery::Verdict::all, 10}, 31'000);
  ASSERT_EQ(newest.rows.size(), 1U);
  EXPECT_EQ(newest.rows[0].key, v4(3));
}

TEST(TalkerQuery, ReadsAndRefusesFields) {
  TalkerQuery query;
  EXPECT_EQ(control::read_talker_query(json::parse(R"({"by": "dst_port", "verdict": "drop",
                                                       "top": 64})"),
                                       query),
            std::nullopt);
  EXPECT_EQ(query.kind, TalkerKind::dst_port);
  EXPECT_EQ(query.verdict, TalkerQuery::Verdict::drop);
  EXPECT_EQ(query.top, 64U);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"by": "dst"})", "talkers: by must be one of src, src_prefix, dst_port, rule"},
      {R"({"by": 1})", "talkers: by must be one of src, src_prefix, dst_port, rule"},
      {R"({"verdict": "pass"})", "talkers: verdict must be one of drop, forward, all"},
      {R"({"top": 0})", "talkers: top must be an integer from 1 to 64"},
      {R"({"top": 65})", "talkers: top must be an integer from 1 to 64"},
      {R"({"top": "5"})", "talkers: top must be an integer from 1 to 64"},
  };
  for (const auto& [body, error] : bad) {
    TalkerQuery ignored;
    EXPECT_EQ(control::read_talker_query(json::parse(body), ignored), error) << body;
  }
}

TEST(TalkerReply, NamesKeysAndShares) {
  EXPECT_EQ(control::talker_key_text(TalkerKind::src, v4(0xc6336407)), "198.51.100.7");
  EXPECT_EQ(control::talker_key_text(TalkerKind::src_prefix, v4(0xc6336400)), "198.51.100.0/24");
  EXPECT_EQ(control::talker_key_text(TalkerKind::dst_port, TalkerKey{0, 53, 0}), "53");

  control::TalkerAnswer answer;
  answer.window_s = 9.5;
  answer.pps = 1000;
  answer.sampled = 77;
  answer.seen = 4000;
  answer.picked = 80;
  answer.rows = {{TalkerKey{11, 0, TalkerKey::kFilePart}, 600, 6},
                 {TalkerKey{0, 0, TalkerKey::kNoRule}, 300, 3},
                 {TalkerKey{99, 0, TalkerKey::kRuntimePart}, 100, 1}};
  const control::RuleNamer namer =
      [](const TalkerKey& key) -> std::optional<std::pair<std::string, std::string>> {
    if (key.high == 11) return std::pair<std::string, std::string>{"drop-ntp", "file"};
    return std::nullopt;
  };
  const json reply = control::talkers_json({TalkerKind::rule, TalkerQuery::Verdict::drop, 3},
                                           answer, {16, 1000}, namer);
  EXPECT_EQ(reply, json::parse(R"j({"by": "rule", "verdict": "drop", "window_s": 9.5,
      "sampling": 16, "max_sample_rate": 1000, "effective_sampling": 50.0, "sampled": 77, "pps": 1000.0, "talkers": [
        {"key": "drop-ntp", "source": "file", "pps": 600.0, "error_pps": 6.0, "share": 0.6},
        {"key": "(no rule)", "source": "default", "pps": 300.0, "error_pps": 3.0, "share": 0.3},
        {"key": "(removed rule)", "source": "runtime", "pps": 100.0, "error_pps": 1.0,
         "share": 0.1}]})j"));
}

}  // namespace
}  // namespace udpsieve
