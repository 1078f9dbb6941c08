#include "udpsieve/common/human_rate.hpp"

#include <cstdio>

namespace udpsieve {

std::string human_rate(double value) {
  char buffer[32];
  if (value >= 1e9) {
    std::snprintf(buffer, sizeof buffer, "%.2f G", value / 1e9);
  } else if (value >= 1e6) {
    std::snprintf(buffer, sizeof buffer, "%.2f M", value / 1e6);
  } else if (value >= 1e3) {
    std::snprintf(buffer, sizeof buffer, "%.1f k", value / 1e3);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.0f ", value);
  }
  return buffer;
}

}  // namespace udpsieve
