#include "udpsieve/cli/duration.hpp"

#include <array>

#include "udpsieve/cli/args.hpp"
#include "udpsieve/common/decimal.hpp"

namespace udpsieve::cli {
namespace {

struct Unit {
  char suffix;
  uint64_t seconds;
};

/// Largest first, as format_duration writes them.
constexpr std::array<Unit, 4> kUnits = {{{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}};

constexpr std::string_view kForms =
    "a whole number with an optional unit s, m, h or d, like 90s, "
    "10m, 2h or 7d";

}  // namespace

uint64_t parse_duration(std::string_view text, std::string_view option) {
  const std::string quoted = "'" + std::string(text) + "'";
  const auto fail = [&](const std::string& problem) -> uint64_t {
    throw UsageError(std::string(option) + ": " + problem);
  };
  if (text.empty()) return fail("a duration is required: " + std::string(kForms));
  if (text.front() == '-')
    return fail(quoted + " is negative; a duration is " + std::string(kForms));
  uint64_t unit = 1;
  std::string_view digits = text;
  for (const Unit& u : kUnits) {
    if (text.back() == u.suffix) {
      unit = u.seconds;
      digits.remove_suffix(1);
    }
  }
  uint64_t count = 0;
  switch (parse_decimal(digits, kMaxDurationS, count)) {
    case DecimalResult::ok:
      break;
    case DecimalResult::too_big:
      return fail(quoted + " is longer than 365 days");
    case DecimalResult::malformed:
      return fail(quoted + " is not a duration; give " + std::string(kForms));
  }
  if (count == 0) return fail(quoted + " is zero; a duration is at least 1s");
  if (count > kMaxDurationS / unit) return fail(quoted + " is longer than 365 days");
  return count * unit;
}

std::string format_duration(uint64_t seconds) {
  std::string out;
  int units = 0;
  for (const Unit& u : kUnits) {
    if (units == 1 && seconds < u.seconds) break;  // "2h" and "2h0m5s" both read as "2h"
    if (seconds < u.seconds) continue;
    out += std::to_string(seconds / u.seconds) + u.suffix;
    seconds %= u.seconds;
    if (++units == 2) break;
  }
  return out.empty() ? "0s" : out;
}

}  // namespace udpsieve::cli
