#include "udpsieve/common/decimal.hpp"

#include <gtest/gtest.h>

namespace {

using udpsieve::DecimalResult;
using udpsieve::parse_decimal;

struct DecimalCase {
  const char* text;
  uint64_t max;
  DecimalResult result;
  uint64_t value;
};

TEST(Decimal, Table) {
  const DecimalCase cases[] = {
      {"0", 10, DecimalResult::ok, 0},
      {"10", 10, DecimalResult::ok, 10},
      {"11", 10, DecimalResult::too_big, 0},
      {"65535", 65535, DecimalResult::ok, 65535},
      {"65536", 65535, DecimalResult::too_big, 0},
      {"007", 10, DecimalResult::ok, 7},
      {"18446744073709551615", UINT64_MAX, DecimalResult::ok, UINT64_MAX},
      {"18446744073709551616", UINT64_MAX, DecimalResult::too_big, 0},
      {"99999999999999999999999", 100, DecimalResult::too_big, 0},
      {"99999999999999999999x", 100, DecimalResult::malformed, 0},
      {"", 10, DecimalResult::malformed, 0},
      {"-1", 10, DecimalResult::malformed, 0},
      {"+1", 10, DecimalResult::malformed, 0},
      {" 1", 10, DecimalResult::malformed, 0},
      {"1 ", 10, DecimalResult::malformed, 0},
      {"0x10", 100, DecimalResult::malformed, 0},
      {"1.5", 10, DecimalResult::malformed, 0},
  };
  for (const DecimalCase& c : cases) {
    uint64_t value = 12345;
    EXPECT_EQ(parse_decimal(c.text, c.max, value), c.result) << '"' << c.text << '"';
    EXPECT_EQ(value, c.result == DecimalResult::ok ? c.value : 12345U) << '"' << c.text << '"';
  }
}

}  // namespace
