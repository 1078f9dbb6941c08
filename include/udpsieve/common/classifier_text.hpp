#pragma once
/// The classifier's summary as the daemon logs it and `udpsievectl rules` prints it.

#include <cstdint>
#include <string>

namespace udpsieve::common {

/// " (2 hashed, 1 by prefix)": how many of a family's lookups are hashed (exact_lookup.hpp)
/// and how many search prefix lengths (prefix_lookup.hpp); "" when none is either.
inline std::string lookup_kinds(uint64_t hashed, uint64_t by_prefix) {
  std::string out;
  if (hashed != 0) out = std::to_string(hashed) + " hashed";
  if (by_prefix != 0) out += (out.empty() ? "" : ", ") + std::to_string(by_prefix) + " by prefix";
  return out.empty() ? out : " (" + out + ")";
}

}  // namespace udpsieve::common
