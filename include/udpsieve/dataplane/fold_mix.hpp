#pragma once
/// The multiply-fold mix of the workers' keyed hashes (talkers, hashed rule lookups): the high
/// and low 64 bits of a 64 x 64 multiplication, XORed (wyhash's mix).

#include <cstdint>

namespace udpsieve::dataplane {

constexpr uint64_t fold(uint64_t a, uint64_t b) noexcept {
  __extension__ using Wide = unsigned __int128;
  const Wide product = static_cast<Wide>(a) * b;
  return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
}

}  // namespace udpsieve::dataplane
