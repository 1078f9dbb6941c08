#pragma once
/// FNV-1a, 64 bits: a hash of text that is the same across boxes, runs and compilers (FlowSpec
/// rule ids, per-source bucket keys).

#include <cstdint>
#include <string_view>

namespace udpsieve {

[[nodiscard]] constexpr uint64_t fnv1a64(std::string_view text) noexcept {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

}  // namespace udpsieve
