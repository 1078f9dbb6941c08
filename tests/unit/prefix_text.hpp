#pragma once
// A prefix from its text, for tests that build rules by hand (a typo fails the test).

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "udpsieve/rules/rule.hpp"

namespace udpsieve::test_support {

inline rules::Prefix prefix(const std::string& text) {
  std::string error;
  const std::optional<rules::Prefix> p = rules::Prefix::parse(text, error);
  EXPECT_TRUE(p) << text << ": " << error;
  return p.value_or(rules::Prefix{});
}

}  // namespace udpsieve::test_support
