// Which malloc serves the process, and the two things the daemon asks of it (heap.hpp).
#include "udpsieve/common/heap.hpp"

#include <dlfcn.h>
#include <malloc.h>

namespace udpsieve {
namespace {

/// jemalloc's control interface, when jemalloc is the process's malloc.
using Mallctl = int (*)(const char*, void*, std::size_t*, void*, std::size_t);

Mallctl mallctl() {
  static const auto found = reinterpret_cast<Mallctl>(dlsym(RTLD_DEFAULT, "mallctl"));
  return found;
}

}  // namespace

std::string heap_allocator() {
  const Mallctl control = mallctl();
  if (control == nullptr) return "glibc";
  const char* version = nullptr;
  std::size_t size = sizeof version;
  if (control("version", static_cast<void*>(&version), &size, nullptr, 0) != 0 ||
      version == nullptr)
    return "jemalloc";
  return std::string("jemalloc ") + version;
}

void keep_build_memory() {
  if (mallctl() != nullptr) return;
  (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum on 64-bit
  (void)mallopt(M_TRIM_THRESHOLD, 512 << 20);
}

void give_back_free_memory(std::size_t pad) {
  if (const Mallctl control = mallctl()) {
    // MALLCTL_ARENAS_ALL (4096): every arena.
    (void)control("arena.4096.purge", nullptr, nullptr, nullptr, 0);
    return;
  }
  (void)malloc_trim(pad);
}

}  // namespace udpsieve
