// Current rates from cumulative counters sampled about once a second, on a synthetic clock:
// the last second and the ten-second average, uneven intervals, counters that restart, rules
// that come and go, ports and drop reasons kept apart.
#include "udpsieve/control/rates.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace udpsieve::control {
namespace {

using Clock = RateBook::Clock;
using std::chrono::milliseconds;

/// A rule set of rules with these ids.
std::shared_ptr<const rules::RuleSet> set_of(const std::vector<std::string>& ids) {
  std::vector<rules::Rule> list(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i)
    list[i].id = ids[i];
  return std::make_shared<const rules::RuleSet>(std::move(list), rules::Verdict::forward,
                                                rules::Verdict::forward);
}

/// The file part's list: rule "a" alone (generation 1); the runtime part: "b" when present
/// (generation 2), else no list at all.
const std::shared_ptr<const rules::RuleSet> kFile = set_of({"a"});
const std::shared_ptr<const rules::RuleSet> kRuntime = set_of({"b"});

/// One sampling of everything at `at` with the given cumulative counts.
void sample(RateBook& book, Clock::time_point at, uint64_t rx, uint64_t rule_a, bool with_b,
            uint64_t rule_b = 0) {
  ASSERT_TRUE(book.due(at));
  book.begin(at);
  book.total(RateBook::Total::rx, rx, rx * 64);
  book.total(RateBook::Total::forwarded, rx / 2, rx * 32);
  book.total(RateBook::Total::dropped, rx - rx / 2, 0);
  book.drop(DropReason::rule, rx - rx / 2);
  book.port(1, rx, rx * 64, rx / 2, rx * 32);
  book.rules(false, 1, kFile);
  book.rule(false, 0, rule_a, rule_a * 100);
  if (with_b) {
    book.rules(true, 2, kRuntime);
    book.rule(true, 0, rule_b, rule_b * 100);
  }
  book.end();
}

Rate rule_a(const RateBook& book) {
  return book.rule(false, 1, 0, "a");
}
Rate rule_b(const RateBook& book) {
  return book.rule(true, 2, 0, "b");
}

TEST(RateBook, NoRateBeforeTwoSamples) {
  RateBook book;
  const Clock::time_point t0{};
  EXPECT_TRUE(book.due(t0));
  sample(book, t0 + milliseconds(1), 1000, 10, false);
  EXPECT_FALSE(book.due(t0 + milliseconds(999)));
  EXPECT_EQ(book.total(RateBook::Total::rx).pps, 0);
  EXPECT_EQ(rule_a(book).pps_10s, 0);
  EXPECT_EQ(book.port_rx(7).pps, 0) << "a port never sampled";
}

TEST(RateBook, SteadyTrafficGivesItsRateOverBothWindows) {
  RateBook book;
  const Clock::time_point t0{};
  for (uint64_t s = 0; s <= 20; ++s)
    sample(book, t0 + std::chrono::seconds(s), 1000 * s, 10 * s, false);
  const Rate rx = book.total(RateBook::Total::rx);
  EXPECT_DOUBLE_EQ(rx.pps, 1000);
  EXPECT_DOUBLE_EQ(rx.bps, 1000 * 64 * 8);
  EXPECT_DOUBLE_EQ(rx.pps_10s, 1000);
  EXPECT_DOUBLE_EQ(book.total(RateBook::Total::forwarded).pps, 500);
  EXPECT_DOUBLE_EQ(book.total(RateBook::Total::dropped).pps, 500);
  EXPECT_DOUBLE_EQ(book.drop(DropReason::rule).pps, 500);
  EXPECT_EQ(book.drop(DropReason::tx_full).pps, 0);
  EXPECT_DOUBLE_EQ(book.port_rx(1).pps, 1000);
  EXPECT_DOUBLE_EQ(book.port_tx(1).bps, 1000 * 32 * 8);
  EXPECT_EQ(book.port_rx(0).pps, 0) << "port 0 was never sampled";
  EXPECT_DOUBLE_EQ(rule_a(book).pps, 10);
  EXPECT_DOUBLE_EQ(rule_a(book).bps, 10 * 100 * 8);
}

// Five seconds at 1,000 pps, then silence: the last second says 0 at once, the ten-second
// average halves, then drains to 0 once the busy seconds leave the window.
TEST(RateBook, TheTenSecondAverageLagsTheLastSecond) {
  RateBook book;
  const Clock::time_point t0{};
  uint64_t rx = 0;
  for (uint64_t s = 0; s <= 10; ++s) {
    if (s > 0 && s <= 5) rx += 1000;
    sample(book, t0 + std::chrono::seconds(s), rx, 0, false);
  }
  EXPECT_EQ(book.total(RateBook::Total::rx).pps, 0);
  EXPECT_DOUBLE_EQ(book.total(RateBook::Total::rx).pps_10s, 500);
  for (uint64_t s = 11; s <= 15; ++s)
    sample(book, t0 + std::chrono::seconds(s), rx, 0, false);
  EXPECT_EQ(book.total(RateBook::Total::rx).pps_10s, 0);
}

// Samplings come when the control loop gets round to them: rates divide by the real interval.
TEST(RateBook, UnevenIntervalsDivideByTheirLength) {
  RateBook book;
  const Clock::time_point t0{};
  sample(book, t0, 0, 0, false);
  sample(book, t0 + milliseconds(1500), 3000, 0, false);
  EXPECT_DOUBLE_EQ(book.total(RateBook::Total::rx).pps, 2000);
  sample(book, t0 + milliseconds(2500), 4000, 0, false);
  EXPECT_DOUBLE_EQ(book.total(RateBook::Total::rx).pps, 1000);
  EXPECT_DOUBLE_EQ(book.total(RateBook::Total::rx).pps_10s, 1600);
}

// A part whose list is gone is forgotten; when it comes back, or a count goes backwards (a
// rule re-added after its counts were dropped), the series starts afresh instead of giving a
// negative or a huge rate.
TEST(RateBook, RulesThatLeaveOrRestartStartAfresh) {
  RateBook book;
  const Clock::time_point t0{};
  sample(book, t0, 0, 0, true, 0);
  sample(book, t0 + std::chrono::seconds(1), 0, 100, true, 50);
  EXPECT_DOUBLE_EQ(rule_b(book).pps, 50);
  EXPECT_EQ(book.rule(false, 1, 5, "b").pps, 0) << "file and runtime rules are apart";
  EXPECT_EQ(book.rules(), 2U);
  sample(book, t0 + std::chrono::seconds(2), 0, 200, false);
  EXPECT_EQ(book.rules(), 1U) << "b left";
  EXPECT_EQ(rule_b(book).pps, 0);
  sample(book, t0 + std::chrono::seconds(3), 0, 300, true, 1000);
  EXPECT_EQ(rule_b(book).pps, 0) << "back: one sample, no rate yet";
  sample(book, t0 + std::chrono::seconds(4), 0, 5, true, 1010);
  EXPECT_EQ(rule_a(book).pps, 0) << "a went backwards: one sample, no rate yet";
  EXPECT_DOUBLE_EQ(rule_b(book).pps, 10);
  sample(book, t0 + std::chrono::seconds(5), 0, 25, true, 1010);
  EXPECT_DOUBLE_EQ(rule_a(book).pps, 20);
  EXPECT_DOUBLE_EQ(rule_a(book).pps_10s, 20);
}

// A new list (a reload, a runtime change) moves each series with its id to the rule's new
// position, and until the next sampling a rule is found by id in the list the book has.
TEST(RateBook, SeriesFollowTheirIdsWhenTheListChanges) {
  RateBook book;
  const Clock::time_point t0{};
  const auto before = set_of({"x", "y", "z"});
  const auto after = set_of({"new", "z", "x"});  // y left, new came, z moved up
  for (uint64_t s = 0; s < 3; ++s) {
    book.begin(t0 + std::chrono::seconds(s));
    book.rules(false, 7, before);
    for (std::size_t i = 0; i < before->rules().size(); ++i)
      book.rule(false, i, s * (i + 1) * 100, 0);  // x 100/s, y 200/s, z 300/s
    book.end();
  }
  EXPECT_DOUBLE_EQ(book.rule(false, 7, 2, "z").pps, 300);
  // Before the next sampling, a reply built on the new list (generation 8) finds z by id.
  EXPECT_DOUBLE_EQ(book.rule(false, 8, 1, "z").pps, 300);
  EXPECT_EQ(book.rule(false, 8, 0, "new").pps, 0);
  book.begin(t0 + std::chrono::seconds(3));
  book.rules(false, 8, after);
  book.rule(false, 0, 0, 0);
  book.rule(false, 1, 3 * 300 + 30, 0);
  book.rule(false, 2, 3 * 100 + 10, 0);
  book.end();
  EXPECT_DOUBLE_EQ(book.rule(false, 8, 1, "z").pps, 330);
  EXPECT_DOUBLE_EQ(book.rule(false, 8, 2, "x").pps, 110);
  EXPECT_DOUBLE_EQ(book.rule(false, 8, 2, "x").pps_10s, 310.0 / 3);
  EXPECT_EQ(book.rule(false, 8, 0, "new").pps, 0) << "one sample so far";
  EXPECT_EQ(book.rule(false, 8, 9, "y").pps, 0) << "y left";
  EXPECT_EQ(book.rules(), 3U);
}

}  // namespace
}  // namespace udpsieve::control
