// Memory in transparent huge pages (see huge_region.hpp).
#include "udpsieve/dataplane/huge_region.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <new>

namespace udpsieve::dataplane {

HugeRegion::HugeRegion(std::size_t bytes)
    : size_(std::max<std::size_t>(1, (bytes + kHugePage - 1) / kHugePage) * kHugePage),
      data_(mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) {
  if (data_ == MAP_FAILED) throw std::bad_alloc();
  (void)madvise(data_, size_, MADV_HUGEPAGE);
}

HugeRegion::~HugeRegion() {
  munmap(data_, size_);
}

}  // namespace udpsieve::dataplane
