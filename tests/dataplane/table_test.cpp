// The published table: verdicts, per-worker counter rows and rate-limit meters, the limits
// that surface as ConfigError, and the rule counter book that carries counts across tables.
#include <gtest/gtest.h>
#include <rte_cycles.h>
#include <rte_meter.h>

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/acl_support.hpp"
#include "udpsieve/common/config_error.hpp"
#include "udpsieve/control/rule_counters.hpp"
#include "udpsieve/control/stats_aggregator.hpp"
#include "udpsieve/dataplane/table.hpp"

namespace udpsieve::dataplane {
namespace {

using rules::ActionKind;
using rules::RateLimit;
using rules::Rule;

/// Table names derive from the generation, so every table of this file gets its own.
uint64_t next_generation() {
  static uint64_t next = 1000;
  return next++;
}

std::shared_ptr<const rules::RuleSet> rule_set(std::vector<Rule> rules) {
  return std::make_shared<const rules::RuleSet>(std::move(rules), rules::Verdict::forward,
                                                rules::Verdict::forward);
}

PartParams params(uint32_t workers, uint64_t generation = next_generation(),
                  PartKind kind = PartKind::file) {
  PartParams p;
  p.kind = kind;
  p.workers = workers;
  p.generation = generation;
  p.socket = 0;
  return p;
}

Rule rule(const std::string& id, rules::Action action = {}) {
  Rule r;
  r.id = id;
  r.action = std::move(action);
  r.where = SourceLocation{"rules.yaml", 3, 5};
  return r;
}

rules::Action drop() {
  rules::Action a;
  a.kind = ActionKind::drop;
  return a;
}

rules::Action forward_to(int port) {
  rules::Action a;
  a.kind = ActionKind::forward;
  a.port = port;
  a.port_name = "p" + std::to_string(port);
  return a;
}

rules::Action pps(uint64_t rate, uint64_t burst) {
  rules::Action a;
  a.kind = ActionKind::rate_limit;
  a.rate_limit.unit = RateLimit::Unit::packets;
  a.rate_limit.rate = rate;
  a.rate_limit.burst = burst;
  return a;
}

rules::Action bps(uint64_t bits_per_second, uint64_t burst_bytes) {
  rules::Action a;
  a.kind = ActionKind::rate_limit;
  a.rate_limit.unit = RateLimit::Unit::bytes;
  a.rate_limit.bps = bits_per_second;
  a.rate_limit.rate = bits_per_second / 8;
  a.rate_limit.burst = burst_bytes;
  return a;
}

/// The ConfigError line building a table of `rules` for `workers` throws, or "(no error)".
std::string table_error(std::vector<Rule> rules, uint32_t workers) {
  try {
    const RulePart table(rule_set(std::move(rules)), params(workers));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

/// Packets (of `length` bytes) one meter passes at one instant, starting full.
uint64_t greens_at_one_instant(MeterSlot& slot, uint32_t length, uint64_t limit = 1'000'000) {
  const uint64_t now = slot.meter.time;  // no time passes: no refill
  uint64_t passed = 0;
  while (passed < limit && rte_meter_srtcm_color_blind_check(&slot.meter, &slot.profile, now,
                                                             length) == RTE_COLOR_GREEN) {
    ++passed;
  }
  return passed;
}

// --- share_of --------------------------------------------------------------------------------

static_assert(share_of(10, 3, 0) == 4 && share_of(10, 3, 1) == 3 && share_of(10, 3, 2) == 3);
static_assert(share_of(2, 4, 1) == 1 && share_of(2, 4, 2) == 0);

TEST(ShareOf, PartsSumToTheTotalAndDifferByAtMostOne) {
  std::vector<uint64_t> totals;
  for (uint64_t t = 0; t <= 300; ++t)
    totals.push_back(t);
  for (uint64_t t :
       {uint64_t{1'000'000'007}, uint64_t{999'999'999'999},
        std::numeric_limits<uint64_t>::max() / 3, std::numeric_limits<uint64_t>::max() - 1,
        std::numeric_limits<uint64_t>::max()}) {
    totals.push_back(t);
  }
  std::vector<uint32_t> part_counts;
  for (uint32_t p = 1; p <= 40; ++p)
    part_counts.push_back(p);
  part_counts.insert(part_counts.end(), {64, 127, 1000});
  for (const uint64_t total : totals) {
    for (const uint32_t parts : part_counts) {
      uint64_t sum = 0;
      const uint64_t low = total / parts;
      for (uint32_t part = 0; part < parts; ++part) {
        const uint64_t share = share_of(total, parts, part);
        ASSERT_TRUE(share == low || share == low + 1)
            << total << " / " << parts << " part " << part;
        if (part > 0) {
          ASSERT_LE(share, share_of(total, parts, part - 1));  // remainder first
        }
        sum += share;
      }
      ASSERT_EQ(sum, total) << total << " over " << parts;
    }
  }
}

// --- the table's layout ----------------------------------------------------------------------

TEST(Table, BuildsOneVerdictPerRule) {
  const auto rules = rule_set({rule("dropper", drop()), rule("plain"), rule("to-p2", forward_to(2)),
                               rule("pps", pps(1000, 10)), rule("bytes", bps(8'000'000, 30'000)),
                               rule("to-p0", forward_to(0)), rule("pps2", pps(5, 5))});
  const uint64_t generation = next_generation();
  const RulePart table(rules, params(3, generation));
  EXPECT_EQ(table.generation(), generation);
  EXPECT_EQ(&table.rules(), rules.get());
  EXPECT_EQ(table.rule_count(), 7U);
  EXPECT_EQ(table.workers(), 3U);
  EXPECT_EQ(table.classifier().info().entries_v4, 7U);

  struct Expected {
    ActionKind kind;
    uint16_t out_port;
    uint16_t meter;
    bool count_bytes;
  };
  constexpr uint16_t kInput = RuleVerdict::kInputsForwardTo;
  constexpr uint16_t kNone = RuleVerdict::kNoMeter;
  const Expected expected[] = {
      {ActionKind::drop, kInput, kNone, false},   {ActionKind::forward, kInput, kNone, false},
      {ActionKind::forward, 2, kNone, false},     {ActionKind::rate_limit, kInput, 0, false},
      {ActionKind::rate_limit, kInput, 1, true},  {ActionKind::forward, 0, kNone, false},
      {ActionKind::rate_limit, kInput, 2, false},
  };
  for (std::size_t i = 0; i < table.rule_count(); ++i) {
    SCOPED_TRACE("rule " + std::to_string(i));
    const RuleVerdict& v = table.verdicts()[i];
    EXPECT_EQ(v.kind, expected[i].kind);
    EXPECT_EQ(v.out_port, expected[i].out_port);
    EXPECT_EQ(v.meter, expected[i].meter);
    EXPECT_EQ(v.count_bytes, expected[i].count_bytes);
  }
  EXPECT_EQ(table.worker_rate(0, 0), 0U);  // not rate-limited
  EXPECT_EQ(table.worker_rate(3, 0), 334U);
  EXPECT_EQ(table.worker_rate(4, 2), 333'333U);
}

TEST(Table, PerWorkerRowsAreZeroedAlignedAndDistinct) {
  constexpr uint32_t kWorkers = 4;
  std::vector<Rule> rules;
  for (int i = 0; i < 5; ++i)
    rules.push_back(rule("r" + std::to_string(i), pps(100, 50)));
  const RulePart table(rule_set(rules), params(kWorkers));
  for (uint32_t w = 0; w < kWorkers; ++w) {
    SCOPED_TRACE("worker " + std::to_string(w));
    RuleCounter* row = table.rule_counters(w);
    ASSERT_NE(row, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(row) % kCacheLine, 0U);
    for (std::size_t i = 0; i < table.rule_count(); ++i) {
      EXPECT_EQ(row[i].packets, 0U);
      EXPECT_EQ(row[i].bytes, 0U);
      EXPECT_EQ(row[i].limited, 0U);
    }
    MeterSlot* meters = table.meters(w);
    ASSERT_NE(meters, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(meters) % kCacheLine, 0U);
    for (uint32_t other = 0; other < w; ++other) {
      // No two workers share a cache line of counters or meters.
      const auto a = reinterpret_cast<uintptr_t>(row);
      const auto b = reinterpret_cast<uintptr_t>(table.rule_counters(other));
      const std::size_t bytes = table.rule_count() * sizeof(RuleCounter);
      EXPECT_TRUE(a >= b + bytes || b >= a + bytes) << "rows of workers " << other << " and " << w;
      const auto ma = reinterpret_cast<uintptr_t>(meters);
      const auto mb = reinterpret_cast<uintptr_t>(table.meters(other));
      EXPECT_TRUE(ma >= mb + 5 * sizeof(MeterSlot) || mb >= ma + 5 * sizeof(MeterSlot));
    }
  }
  // Writing one worker's row leaves the others alone.
  table.rule_counters(1)[4].packets = 99;
  table.rule_counters(1)[0].bytes = 7;
  for (uint32_t w : {0U, 2U, 3U}) {
    EXPECT_EQ(table.rule_counters(w)[4].packets, 0U);
    EXPECT_EQ(table.rule_counters(w)[0].bytes, 0U);
  }

  const RulePart unmetered(rule_set({rule("a"), rule("b", drop())}), params(2));
  EXPECT_EQ(unmetered.meters(0), nullptr);
  EXPECT_EQ(unmetered.meters(1), nullptr);
  EXPECT_NE(unmetered.rule_counters(0), unmetered.rule_counters(1));

  const RulePart empty(rule_set({}), params(2));
  EXPECT_EQ(empty.rule_count(), 0U);
  EXPECT_EQ(empty.workers(), 2U);
  EXPECT_EQ(empty.classifier().info().entries_v4, 0U);
}

TEST(Table, ZeroWorkersMeansOne) {
  const RulePart table(rule_set({rule("a", pps(10, 10))}), params(0));
  EXPECT_EQ(table.workers(), 1U);
  EXPECT_NE(table.meters(0), nullptr);
}

// --- limits surface as ConfigError -----------------------------------------------------------

TEST(TableLimits, ExpansionTooLarge) {
  Rule big = rule("big");
  big.where = SourceLocation{"rules.yaml", 7, 5};
  for (uint32_t i = 0; i < 300; ++i) {
    big.match.src.push_back(
        test::prefix("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256)));
    big.match.dst_port.push_back(test::one(static_cast<uint16_t>(i)));
  }
  EXPECT_EQ(table_error({rule("ok"), big}, 1),
            "rules.yaml:7:5: rule big: its lists combine into more than 65536 classifier entries "
            "(the product of their lengths); split it into several rules");
}

TEST(TableLimits, FifthPayloadOffset) {
  std::vector<Rule> rules;
  for (uint16_t offset : std::array<uint16_t, 6>{0, 8, 0, 16, 24, 32}) {
    Rule r = rule("p" + std::to_string(rules.size()));
    r.where = SourceLocation{"rules.yaml", 10 + static_cast<int>(rules.size()), 5};
    r.match.payload = rules::PayloadMatch{offset, {0x01}, {0xff}};
    rules.push_back(r);
  }
  const std::vector<Rule> four_offsets(rules.begin(), rules.end() - 1);
  EXPECT_EQ(table_error(four_offsets, 1), "(no error)");
  EXPECT_EQ(table_error(rules, 1),
            "rules.yaml:15:5: rule p5: payload offset 32 is one more distinct payload offset than "
            "the 4 a rule set may use; align payload matches on shared offsets");
}

TEST(TableLimits, ByteBurstTooSmallForTheWorkers) {
  const std::vector<Rule> rules = {rule("bytes", bps(8'000'000, 3000))};
  EXPECT_EQ(table_error(rules, 1), "(no error)");
  EXPECT_EQ(table_error(rules, 2),
            "rules.yaml:3:5: rule bytes: rate_limit.burst_bytes 3000 is split over 2 worker(s), "
            "leaving 1500 bytes each, less than one full-size frame (1518 bytes); raise "
            "burst_bytes to at least 3036");
  EXPECT_EQ(table_error({rule("bytes", bps(8'000'000, 3036))}, 2), "(no error)");
}

// --- rate limiting ---------------------------------------------------------------------------

TEST(RateLimit, PpsBurstPassesExactlyAtOneInstant) {
  for (const uint32_t workers : {1U, 2U, 3U, 4U}) {
    for (const uint64_t burst : {uint64_t{4}, uint64_t{10}, uint64_t{101}}) {
      SCOPED_TRACE(std::to_string(workers) + " workers, burst " + std::to_string(burst));
      const RulePart table(rule_set({rule("other", drop()), rule("limit", pps(1000, burst))}),
                           params(workers));
      ASSERT_EQ(table.verdicts()[1].meter, 0);
      uint64_t total = 0;
      for (uint32_t w = 0; w < workers; ++w) {
        const uint64_t passed = greens_at_one_instant(table.meters(w)[0], 1);
        EXPECT_EQ(passed, share_of(burst, workers, w)) << "worker " << w;
        total += passed;
      }
      EXPECT_EQ(total, burst);
    }
  }
}

TEST(RateLimit, ByteMeterCountsBytes) {
  // 8 Mbit/s = 1,000,000 bytes/s; 10,000 bytes of burst over two workers: 5,000 each.
  const RulePart table(rule_set({rule("bytes", bps(8'000'000, 10'000))}), params(2));
  ASSERT_TRUE(table.verdicts()[0].count_bytes);
  for (uint32_t w = 0; w < 2; ++w) {
    MeterSlot& slot = table.meters(w)[0];
    EXPECT_EQ(greens_at_one_instant(slot, 1500), 3U);  // 4,500 of 5,000 bytes
    EXPECT_EQ(greens_at_one_instant(slot, 500), 1U);   // the last 500
    EXPECT_EQ(greens_at_one_instant(slot, 1), 0U);
  }
}

// A per-source rule's buckets are keyed by its id and its limit: a rebuilt part with the same
// rule finds them, a changed limit or another id starts afresh.
TEST(RateLimit, PerSourceBucketsFollowTheIdAndTheLimit) {
  // A byte limit (its burst above a full-size frame), so the unit alone can change too.
  rules::Action limit = bps(8'000'000, 3000);
  limit.rate_limit.per_source = 24;
  limit.rate_limit.per_source_v6 = 56;
  // The key of rule `id` with `limit` changed by `change`.
  const auto key_of =
      [&](
          const std::string& id,
          const std::function<void(rules::RateLimit&)>& change = [](rules::RateLimit&) {}) {
        rules::Action action = limit;
        change(action.rate_limit);
        const RulePart part(rule_set({rule(id, action)}), params(1));
        return part.source_limits(0)[part.verdicts()[0].meter].rule;
      };
  const uint64_t same = key_of("each");
  EXPECT_EQ(key_of("each"), same);
  EXPECT_NE(key_of("other"), same);
  EXPECT_NE(key_of("each", [](rules::RateLimit& l) { l.rate *= 2; }), same);
  EXPECT_NE(key_of("each", [](rules::RateLimit& l) { l.burst += 1; }), same);
  EXPECT_NE(key_of("each", [](rules::RateLimit& l) { l.per_source = 16; }), same);
  EXPECT_NE(key_of("each", [](rules::RateLimit& l) { l.per_source_v6 = 48; }), same);
  EXPECT_NE(key_of("each", [](rules::RateLimit& l) { l.unit = rules::RateLimit::Unit::packets; }),
            same);
}

// Per-source limits: each worker's share of the rate and burst, or the whole limit in every
// worker when all of a source's packets reach one worker (rss: ip on every port).
TEST(RateLimit, PerSourceLimitsAreSharedOrWholeByRss) {
  rules::Action limit = pps(1000, 301);
  limit.rate_limit.per_source = 24;
  limit.rate_limit.per_source_v6 = 56;
  const double hz = static_cast<double>(rte_get_tsc_hz());
  const RulePart split(rule_set({rule("shared", pps(10, 10)), rule("each", limit)}), params(3));
  ASSERT_TRUE(split.verdicts()[1].per_source);
  EXPECT_TRUE(split.per_source());
  EXPECT_FALSE(split.verdicts()[0].per_source);
  double rate = 0;
  double burst = 0;
  for (uint32_t w = 0; w < 3; ++w) {
    const SourceLimit& source = split.source_limits(w)[split.verdicts()[1].meter];
    rate += hz / source.ticks_per_token;
    burst += source.burst;
    EXPECT_EQ(source.v4_length, 24);
    EXPECT_EQ(source.v6_length, 56);
    EXPECT_EQ(source.rule, split.source_limits(0)[split.verdicts()[1].meter].rule);
  }
  EXPECT_NEAR(rate, 1000.0, 1e-6);
  EXPECT_EQ(burst, 301.0);
  PartParams whole_params = params(3);
  whole_params.per_source_whole = true;
  const RulePart whole(rule_set({rule("each", limit)}), whole_params);
  EXPECT_FALSE(RulePart(rule_set({rule("shared", pps(10, 10))}), params(3)).per_source());
  for (uint32_t w = 0; w < 3; ++w) {
    EXPECT_NEAR(hz / whole.source_limits(w)[0].ticks_per_token, 1000.0, 1e-6);
    EXPECT_EQ(whole.source_limits(w)[0].burst, 301.0);
  }
}

TEST(RateLimit, WorkerSharesSumToTheRate) {
  for (const uint32_t workers : {1U, 2U, 3U, 7U}) {
    for (const uint64_t rate : {uint64_t{7}, uint64_t{1000}, uint64_t{999'983}}) {
      SCOPED_TRACE(std::to_string(workers) + " workers, " + std::to_string(rate) + " pps");
      // The burst equals the rate, so one second of refill is not capped below the rate.
      const RulePart table(rule_set({rule("limit", pps(rate, rate))}), params(workers));
      uint64_t shares = 0;
      uint64_t refilled = 0;
      const uint64_t hz = rte_get_tsc_hz();
      for (uint32_t w = 0; w < workers; ++w) {
        shares += table.worker_rate(0, w);
        EXPECT_EQ(table.worker_rate(0, w), share_of(rate, workers, w));
        MeterSlot& slot = table.meters(w)[0];
        const uint64_t start = slot.meter.time;
        (void)greens_at_one_instant(slot, 1);  // drain the bucket
        // One second later the bucket holds one second's worth of this worker's share.
        const uint64_t later = start + hz;
        uint64_t passed = 0;
        while (passed <= rate && rte_meter_srtcm_color_blind_check(&slot.meter, &slot.profile,
                                                                   later, 1) == RTE_COLOR_GREEN) {
          ++passed;
        }
        EXPECT_NEAR(static_cast<double>(passed), static_cast<double>(table.worker_rate(0, w)),
                    1.0 + static_cast<double>(table.worker_rate(0, w)) * 1e-4)
            << "worker " << w;
        refilled += passed;
      }
      EXPECT_EQ(shares, rate);
      EXPECT_NEAR(static_cast<double>(refilled), static_cast<double>(rate),
                  static_cast<double>(workers) + static_cast<double>(rate) * 1e-4);
    }
  }
}

// Reproduces a rate limiter bug (see the report): a limit "holds for the whole daemon" (rule.hpp),
// but a worker whose share of the rate or burst is 0 still gets a meter of 1 (table.cpp clamps
// cir and cbs to at least 1), so with more workers than packets of burst or of rate the daemon
// passes more than configured, and worker_rate() (0) disagrees with the meter.
// A rate or burst smaller than the worker count cannot be split into whole packets per
// worker without exceeding it daemon-wide, so it is refused; at exactly one per worker the
// shares add up to the configured burst.
TEST(RateLimit, BurstSmallerThanWorkerCountIsRefusedAndTheBoundaryHoldsDaemonWide) {
  const uint32_t workers = 2;
  try {
    const RulePart table(rule_set({rule("tiny", pps(1, 1))}), params(workers));
    ADD_FAILURE() << "pps 1 over 2 workers must be refused";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("rule tiny: rate_limit.pps 1 is split over 2 worker(s), "
                                         "leaving less than one packet each; raise it to at "
                                         "least 2"),
              std::string::npos)
        << e.what();
  }
  const RulePart table(rule_set({rule("edge", pps(2, 2))}), params(workers));
  uint64_t total = 0;
  for (uint32_t w = 0; w < workers; ++w) {
    const uint64_t passed = greens_at_one_instant(table.meters(w)[0], 1);
    EXPECT_EQ(passed, share_of(2, workers, w)) << "worker " << w;
    EXPECT_EQ(table.worker_rate(0, w), 1U) << "worker " << w;
    total += passed;
  }
  EXPECT_EQ(total, 2U) << "a burst of 2 packets lets " << total << " through at once";
}

// --- a table joins the file part and the runtime part -------------------------------------------

/// A part of `kind` holding `rules`.
std::shared_ptr<const RulePart> part_of(std::vector<Rule> rules, PartKind kind,
                                        uint32_t workers = 2) {
  return std::make_shared<const RulePart>(rule_set(std::move(rules)),
                                          params(workers, next_generation(), kind));
}

Table table_with(std::shared_ptr<const RulePart> file, std::shared_ptr<const RulePart> runtime,
                 std::size_t runtime_at) {
  TableParams p;
  p.forward_to = {1, 0};
  p.runtime_at = runtime_at;
  p.generation = next_generation();
  return Table(std::move(file), std::move(runtime), std::move(p));
}

Rule payload_rule(const std::string& id, uint16_t offset) {
  Rule r = rule(id, drop());
  r.match.payload = rules::PayloadMatch{offset, {0x01}, {0xff}};
  return r;
}

TEST(Table, FirstMatchAcrossPartsFollowsTheDynamicPosition) {
  // File rules f0 f1 f2; runtime rules after f0 (pipeline.rules: [a.yaml, dynamic, b.yaml]).
  const Table table = table_with(part_of({rule("f0"), rule("f1"), rule("f2")}, PartKind::file),
                                 part_of({rule("r0"), rule("r1")}, PartKind::runtime), 1);
  EXPECT_EQ(table.runtime_at(), 1U);
  EXPECT_EQ(table.rule_count(), 5U);
  // Hits are index + 1 per part; a runtime hit carries kRuntimeHit.
  EXPECT_EQ(table.pick(0, 0), 0U);
  EXPECT_EQ(table.pick(1, 0), 1U);                // f0 only
  EXPECT_EQ(table.pick(1, 1), 1U);                // f0 comes before the runtime rules
  EXPECT_EQ(table.pick(2, 1), 1U | kRuntimeHit);  // r0 comes before f1
  EXPECT_EQ(table.pick(3, 2), 2U | kRuntimeHit);  // r1 before f2
  EXPECT_EQ(table.pick(0, 2), 2U | kRuntimeHit);  // r1 alone
  EXPECT_EQ(table.pick(3, 0), 3U);                // f2 alone
  // Positions in first-match order: f0, r0, r1, f1, f2.
  EXPECT_EQ(table.position(PartKind::file, 0), 0U);
  EXPECT_EQ(table.position(PartKind::runtime, 0), 1U);
  EXPECT_EQ(table.position(PartKind::runtime, 1), 2U);
  EXPECT_EQ(table.position(PartKind::file, 1), 3U);
  EXPECT_EQ(table.position(PartKind::file, 2), 4U);

  // Without `dynamic` the runtime rules come first; listed last, they come after every file
  // rule (a position past the end is clamped).
  const Table first = table_with(part_of({rule("f0")}, PartKind::file),
                                 part_of({rule("r0")}, PartKind::runtime), 0);
  EXPECT_EQ(first.pick(1, 1), 1U | kRuntimeHit);
  const Table last = table_with(part_of({rule("f0")}, PartKind::file),
                                part_of({rule("r0")}, PartKind::runtime), 9);
  EXPECT_EQ(last.runtime_at(), 1U);
  EXPECT_EQ(last.pick(1, 1), 1U);
  EXPECT_EQ(last.pick(0, 1), 1U | kRuntimeHit);
}

TEST(Table, PartsShareTheKeyWindowsFromOppositeEnds) {
  // File rules read offsets 8 and 0 (slots 0, 1); runtime rules 3 and 8 (slots 3, 2).
  const auto file = part_of({payload_rule("a", 8), payload_rule("b", 0)}, PartKind::file);
  const auto runtime = part_of({payload_rule("c", 3), payload_rule("d", 8)}, PartKind::runtime);
  EXPECT_EQ(file->classifier().window_offsets(), (std::vector<uint16_t>{8, 0}));
  EXPECT_EQ(runtime->classifier().window_offsets(),
            (std::vector<uint16_t>{kNoWindow, kNoWindow, 8, 3}));
  const Table table = table_with(file, runtime, 0);
  EXPECT_EQ(table.windows(), (std::vector<uint16_t>{8, 0, 8, 3}));

  // No payload rules: no windows to fill.
  const Table plain =
      table_with(part_of({rule("x")}, PartKind::file), part_of({}, PartKind::runtime), 0);
  EXPECT_TRUE(plain.windows().empty());

  // Five offsets together do not fit: the table is refused, naming both counts.
  const auto three =
      part_of({payload_rule("a", 1), payload_rule("b", 2), payload_rule("c", 3)}, PartKind::file);
  const auto two = part_of({payload_rule("d", 4), payload_rule("e", 5)}, PartKind::runtime);
  try {
    (void)table_with(three, two, 0);
    ADD_FAILURE() << "3 + 2 payload offsets must be refused";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "the file rules read the payload at 3 offset(s) and the runtime rules at 2; "
                 "together at most 4 are possible");
  }
}

TEST(Table, RebuiltPartContinuesTheTokenBucketsOfUnchangedLimits) {
  constexpr uint32_t kWorkers = 2;
  const auto before = part_of(
      {rule("same", pps(100, 100)), rule("changed", pps(100, 100)), rule("gone", pps(100, 100))},
      PartKind::runtime, kWorkers);
  // Drain "same" and "changed" on both workers at one instant.
  for (uint32_t w = 0; w < kWorkers; ++w) {
    (void)greens_at_one_instant(before->meters(w)[0], 1);
    (void)greens_at_one_instant(before->meters(w)[1], 1);
  }
  const auto after = part_of(
      {rule("new", pps(100, 100)), rule("same", pps(100, 100)), rule("changed", pps(200, 200))},
      PartKind::runtime, kWorkers);
  after->carry_meters(*before);
  for (uint32_t w = 0; w < kWorkers; ++w) {
    SCOPED_TRACE("worker " + std::to_string(w));
    MeterSlot* meters = after->meters(w);
    // "same" keeps its empty bucket (read at the instant it was drained).
    const uint64_t at = before->meters(w)[0].meter.time;
    EXPECT_EQ(rte_meter_srtcm_color_blind_check(&meters[1].meter, &meters[1].profile, at, 1),
              RTE_COLOR_RED);
    // A new rule and a rule whose limit changed start full, as new rules do.
    EXPECT_EQ(greens_at_one_instant(meters[0], 1), 50U);
    EXPECT_EQ(greens_at_one_instant(meters[2], 1), 100U);
  }
}

// --- the rule counter book -------------------------------------------------------------------

using control::RuleCounterBook;
using control::StatsAggregator;

/// A table whose file part holds `ids` (part generation `generation`) and no runtime rules.
std::unique_ptr<Table> table_of(const std::vector<std::string>& ids, uint64_t generation,
                                uint32_t workers = 2) {
  std::vector<Rule> rules;
  for (const std::string& id : ids)
    rules.push_back(rule(id));
  auto file =
      std::make_shared<const RulePart>(rule_set(std::move(rules)), params(workers, generation));
  auto runtime = std::make_shared<const RulePart>(
      rule_set({}), params(workers, next_generation(), PartKind::runtime));
  TableParams table;
  table.forward_to = {1, 0};
  table.generation = next_generation();
  return std::make_unique<Table>(std::move(file), std::move(runtime), std::move(table));
}

/// A worker's snapshot whose file part (of `generation`) counted `rules`.
WorkerSnapshot snapshot(uint64_t sequence, uint64_t generation, std::vector<RuleCounter> rules) {
  WorkerSnapshot s;
  s.sequence = sequence;
  s.parts[0].generation = generation;
  s.parts[0].count = static_cast<uint32_t>(rules.size());
  s.rules = std::move(rules);
  return s;
}

/// The file parts of the retained tables, as the control loop passes them.
std::vector<const RulePart*> retained_files(const TablePublisher& publisher) {
  std::vector<const RulePart*> out;
  for (const Table* table : publisher.retained()) {
    if (&table->file() != &publisher.current()->file()) out.push_back(&table->file());
  }
  return out;
}

using Counts = std::vector<std::array<uint64_t, 3>>;

Counts flat(const std::vector<RuleCounter>& counters) {
  Counts out;
  for (const RuleCounter& c : counters)
    out.push_back({c.packets, c.bytes, c.limited});
  return out;
}

/// Publishes `table` and tells the book, as the control loop does; returns its file part.
const RulePart* publish(TablePublisher& publisher, RuleCounterBook& book,
                        std::unique_ptr<Table> table) {
  (void)publisher.publish(std::move(table));
  book.on_publish(publisher.current()->file());
  return &publisher.current()->file();
}

/// Folds a retired table's file part when its successor does not share it.
TablePublisher::RetireFn retire_into(RuleCounterBook& book) {
  return [&book](const Table& retired, const Table& successor) {
    if (&retired.file() != &successor.file()) book.on_retire(retired.file());
  };
}

/// A publisher of tables, the file rules' counter book and the workers' snapshots, kept as the
/// control loop keeps them. No worker registers with RCU: replaced tables retire at once.
struct Bookkeeping {
  explicit Bookkeeping(uint32_t workers) : publisher(workers), stats(workers) {}
  Bookkeeping(const Bookkeeping&) = delete;
  Bookkeeping& operator=(const Bookkeeping&) = delete;
  TablePublisher publisher;
  RuleCounterBook book{0};
  StatsAggregator stats;
  TablePublisher::RetireFn retire = retire_into(book);
  /// The counts of the current file part's rules.
  Counts totals() const {
    return flat(book.totals(publisher.current()->file(), retained_files(publisher), stats));
  }
};

TEST(RuleCounterBook, CarriesCountsByIdAcrossGenerations) {
  Bookkeeping keeping(2);
  auto& [publisher, book, stats, retire] = keeping;
  const auto totals = [&keeping] { return keeping.totals(); };
  const uint64_t g1 = next_generation();
  const uint64_t g2 = next_generation();
  const uint64_t g3 = next_generation();

  // Generation 1: a, b.
  const RulePart* t1 = publish(publisher, book, table_of({"a", "b"}, g1));
  t1->rule_counters(0)[0] = {5, 500, 0};
  t1->rule_counters(1)[0] = {3, 300, 1};
  t1->rule_counters(1)[1] = {1, 100, 0};
  stats.absorb(0, snapshot(1, g1, {{5, 500, 0}, {0, 0, 0}}));
  stats.absorb(1, snapshot(1, g1, {{3, 300, 1}, {1, 100, 0}}));
  EXPECT_EQ(totals(), (Counts{{8, 800, 1}, {1, 100, 0}}));

  // Worker 0 counts b once more before it moves on, but sends no snapshot of it.
  t1->rule_counters(0)[1] = {2, 200, 0};

  // Generation 2: b (now first), c. a is dropped, b carried, c new.
  const RulePart* t2 = publish(publisher, book, table_of({"b", "c"}, g2));
  // Both snapshots still describe generation 1, which is retained: mapped by id.
  EXPECT_EQ(totals(), (Counts{{1, 100, 0}, {0, 0, 0}}));
  t2->rule_counters(0)[0] = {4, 400, 0};
  t2->rule_counters(0)[1] = {6, 600, 2};
  stats.absorb(0, snapshot(2, g2, {{4, 400, 0}, {6, 600, 2}}));
  // Worker 0 has moved on, so its generation-1 row is final and counts as it stands (b: 2, the
  // unsent count included); worker 1 still contributes its generation-1 snapshot (b: 1).
  EXPECT_EQ(totals(), (Counts{{4 + 2 + 1, 700, 0}, {6, 600, 2}}));

  // Generation 1 retires: its final rows fold in (b: 2 + 1); worker 1's snapshot of it is now
  // ignored, its counts being in the folded rows.
  EXPECT_EQ(publisher.reclaim(retire), 0U);
  EXPECT_TRUE(publisher.retained().empty());
  EXPECT_EQ(totals(), (Counts{{3 + 4, 700, 0}, {6, 600, 2}}));
  t2->rule_counters(1)[0] = {1, 100, 0};
  stats.absorb(1, snapshot(2, g2, {{1, 100, 0}, {0, 0, 0}}));
  EXPECT_EQ(totals(), (Counts{{3 + 4 + 1, 800, 0}, {6, 600, 2}}));

  // Generation 3: c, a. a comes back and starts from zero; b is dropped.
  const RulePart* t3 = publish(publisher, book, table_of({"c", "a"}, g3));
  EXPECT_EQ(totals(), (Counts{{6, 600, 2}, {0, 0, 0}}));  // from generation 2's snapshots
  EXPECT_EQ(publisher.reclaim(retire), 0U);
  EXPECT_EQ(totals(), (Counts{{6, 600, 2}, {0, 0, 0}}));  // from generation 2's final rows
  t3->rule_counters(0)[0] = {1, 10, 0};
  t3->rule_counters(0)[1] = {2, 20, 0};
  stats.absorb(0, snapshot(3, g3, {{1, 10, 0}, {2, 20, 0}}));
  EXPECT_EQ(totals(), (Counts{{7, 610, 2}, {2, 20, 0}}));
}

TEST(RuleCounterBook, IdReAddedBeforeItsOldTableRetiresLosesItsCounts) {
  Bookkeeping keeping(1);
  auto& [publisher, book, stats, retire] = keeping;
  const auto totals = [&keeping] { return keeping.totals(); };
  const uint64_t g1 = next_generation();
  const uint64_t g2 = next_generation();
  const uint64_t g3 = next_generation();

  const RulePart* t1 = publish(publisher, book, table_of({"a", "keep"}, g1, 1));
  t1->rule_counters(0)[0] = {5, 50, 0};
  t1->rule_counters(0)[1] = {9, 90, 0};
  stats.absorb(0, snapshot(1, g1, {{5, 50, 0}, {9, 90, 0}}));
  (void)publish(publisher, book, table_of({"keep"}, g2, 1));       // a removed...
  (void)publish(publisher, book, table_of({"keep", "a"}, g3, 1));  // ...and added back
  ASSERT_EQ(publisher.retained().size(), 2U);
  // The worker's snapshot still describes generation 1: keep carries, a does not.
  EXPECT_EQ(totals(), (Counts{{9, 90, 0}, {0, 0, 0}}));
  EXPECT_EQ(publisher.reclaim(retire), 0U);
  EXPECT_EQ(totals(), (Counts{{9, 90, 0}, {0, 0, 0}}));
}

TEST(RuleCounterBook, ReportsTheFinalCountOfAnIdOnceItsLastPartRetires) {
  TablePublisher publisher(1);
  RuleCounterBook book(0);
  StatsAggregator stats(1);
  std::vector<std::pair<std::string, uint64_t>> gone;
  const auto retire = [&](const Table& retired, const Table& successor) {
    if (&retired.file() == &successor.file()) return;
    book.on_retire(retired.file(), [&](const std::string& id, const RuleCounter& total) {
      gone.emplace_back(id, total.packets);
    });
  };
  const uint64_t g1 = next_generation();
  const uint64_t g2 = next_generation();
  const uint64_t g3 = next_generation();
  const RulePart* p1 = publish(publisher, book, table_of({"expiring", "stays"}, g1, 1));
  p1->rule_counters(0)[0] = {4, 40, 0};
  const RulePart* p2 = publish(publisher, book, table_of({"expiring", "stays"}, g2, 1));
  p2->rule_counters(0)[0] = {3, 30, 0};
  (void)publish(publisher, book, table_of({"stays"}, g3, 1));  // "expiring" leaves
  EXPECT_EQ(publisher.reclaim(retire), 0U);
  // Counted in both parts it lived in, reported once.
  ASSERT_EQ(gone.size(), 1U);
  EXPECT_EQ(gone[0], (std::pair<std::string, uint64_t>{"expiring", 7}));
}

TEST(RuleCounterBook, RunsOfIdsThatStayTogetherCarryEachCount) {
  // Ids that stand one after another in both parts are carried as runs: every id of a run
  // keeps its own count, wherever the run starts and ends.
  Bookkeeping keeping(1);
  auto& [publisher, book, stats, retire] = keeping;
  const auto totals = [&keeping] { return keeping.totals(); };
  const uint64_t g1 = next_generation();
  const RulePart* p1 = publish(publisher, book, table_of({"a", "b", "c", "d", "e"}, g1, 1));
  for (uint64_t i = 0; i < 5; ++i)
    p1->rule_counters(0)[i] = {i + 1, 10 * (i + 1), i};
  // Publishes a part of `ids` and retires the one before, whose counts go into the book.
  const auto replace_with = [&](const std::vector<std::string>& ids) {
    (void)publish(publisher, book, table_of(ids, next_generation(), 1));
    EXPECT_EQ(publisher.reclaim(retire), 0U);
    return totals();
  };
  EXPECT_EQ(
      replace_with({"x", "a", "b", "c", "y", "d", "e"}),
      (Counts{{0, 0, 0}, {1, 10, 0}, {2, 20, 1}, {3, 30, 2}, {0, 0, 0}, {4, 40, 3}, {5, 50, 4}}));
  // With the counts in the book now: runs of three and two, and x from the front to the end.
  EXPECT_EQ(
      replace_with({"z", "a", "b", "c", "d", "e", "x"}),
      (Counts{{0, 0, 0}, {1, 10, 0}, {2, 20, 1}, {3, 30, 2}, {4, 40, 3}, {5, 50, 4}, {0, 0, 0}}));
}

TEST(RuleCounterBook, TotalsBeforeAnySnapshot) {
  Bookkeeping keeping(2);
  (void)publish(keeping.publisher, keeping.book, table_of({"x", "y", "z"}, next_generation()));
  EXPECT_EQ(keeping.totals(), (Counts{{0, 0, 0}, {0, 0, 0}, {0, 0, 0}}));
}

}  // namespace
}  // namespace udpsieve::dataplane
