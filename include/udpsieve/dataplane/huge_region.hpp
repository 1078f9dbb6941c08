#pragma once
/// Zeroed anonymous memory in transparent huge pages where the kernel allows (2 MiB pages:
/// tables a worker reaches at random per packet would miss the TLB on 4 KiB pages, and in a
/// virtual machine each miss is a two-level page walk). Pages are zero until first touched,
/// so they land on the NUMA node of the worker that touches them. Freed with the object.

#include <cstddef>

namespace udpsieve::dataplane {

/// Lookup tables from this size up go in huge pages of their own (smaller ones on the heap).
inline constexpr std::size_t kHugeTableBytes = std::size_t{512} << 10;

class HugeRegion {
 public:
  static constexpr std::size_t kHugePage = std::size_t{2} << 20;
  /// At least `bytes`, rounded up to whole huge pages; throws std::bad_alloc when the mapping
  /// fails.
  explicit HugeRegion(std::size_t bytes);
  ~HugeRegion();
  HugeRegion(const HugeRegion&) = delete;
  HugeRegion& operator=(const HugeRegion&) = delete;

  [[nodiscard]] void* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

 private:
  std::size_t size_;
  void* data_;
};

}  // namespace udpsieve::dataplane
