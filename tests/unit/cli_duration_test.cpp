// udpsievectl's DURATION: `--ttl 10m` in, `9m58s` out.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "udpsieve/cli/args.hpp"
#include "udpsieve/cli/duration.hpp"

namespace {

using udpsieve::cli::format_duration;
using udpsieve::cli::kMaxDurationS;
using udpsieve::cli::parse_duration;
using udpsieve::cli::UsageError;

/// The usage error parse_duration raises for `text`, or "(no error)".
std::string error_of(const std::string& text) {
  try {
    (void)parse_duration(text, "--ttl");
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CliDuration, WholeNumbersWithOptionalUnits) {
  const struct {
    const char* text;
    uint64_t seconds;
  } cases[] = {
      {"90", 90},
      {"90s", 90},
      {"1", 1},
      {"10m", 600},
      {"2h", 7200},
      {"7d", 604800},
      {"365d", 31536000},
      {"8760h", 31536000},
      {"31536000", 31536000},
      {"525600m", 31536000},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(parse_duration(c.text, "--ttl"), c.seconds) << c.text;
  }
  EXPECT_EQ(kMaxDurationS, 31536000U);
}

TEST(CliDuration, BadDurationsAreUsageErrorsNamingTheOption) {
  EXPECT_EQ(error_of("0"), "--ttl: '0' is zero; a duration is at least 1s");
  EXPECT_EQ(error_of("0h"), "--ttl: '0h' is zero; a duration is at least 1s");
  EXPECT_EQ(error_of("-5"),
            "--ttl: '-5' is negative; a duration is a whole number with an optional unit s, m, "
            "h or d, like 90s, 10m, 2h or 7d");
  EXPECT_EQ(error_of("10x"),
            "--ttl: '10x' is not a duration; give a whole number with an optional unit s, m, h "
            "or d, like 90s, 10m, 2h or 7d");
  EXPECT_EQ(error_of(""),
            "--ttl: a duration is required: a whole number with an optional unit s, m, h or d, "
            "like 90s, 10m, 2h or 7d");
  EXPECT_EQ(error_of("366d"), "--ttl: '366d' is longer than 365 days");
  EXPECT_EQ(error_of("8761h"), "--ttl: '8761h' is longer than 365 days");
  EXPECT_EQ(error_of("31536001"), "--ttl: '31536001' is longer than 365 days");
  EXPECT_EQ(error_of("99999999999999999999999d"),
            "--ttl: '99999999999999999999999d' is longer than 365 days");
  for (const char* garbage :
       {"s", "m", "1.5h", "10M", "10 m", " 10m", "10ms", "1h30m", "+5", "0x10", "ten", "10mm"}) {
    EXPECT_NE(error_of(garbage).find("is not a duration"), std::string::npos) << garbage;
  }
}

TEST(CliDuration, FormatShowsTheTwoLargestUnits) {
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(45), "45s");
  EXPECT_EQ(format_duration(60), "1m");
  EXPECT_EQ(format_duration(598), "9m58s");
  EXPECT_EQ(format_duration(7200), "2h");
  EXPECT_EQ(format_duration(7205), "2h");  // 2h0m5s: the seconds are below the second unit
  EXPECT_EQ(format_duration(7500), "2h5m");
  EXPECT_EQ(format_duration(604800), "7d");
  EXPECT_EQ(format_duration(3 * 86400 + 4 * 3600 + 59), "3d4h");
  EXPECT_EQ(format_duration(kMaxDurationS), "365d");
}

}  // namespace
