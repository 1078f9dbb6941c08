#pragma once
/// Rates for people: "12.35 M", "980.0 k", "17 " (the unit follows, e.g. "pps").

#include <string>

namespace udpsieve {

[[nodiscard]] std::string human_rate(double value);

}  // namespace udpsieve
