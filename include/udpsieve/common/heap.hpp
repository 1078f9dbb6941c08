#pragma once
/// The process's malloc, whichever serves it: glibc's, or jemalloc where udpsieved is linked
/// with it (CMake option UDPSIEVE_JEMALLOC, the default; not under the sanitizers).
///
/// Reloads of large rule sets allocate and free millions of small blocks. glibc's heap
/// fragments under that: measured with 100,000 rules, each live reload took longer than the
/// one before (compile 146 -> 312 ms over six) as malloc walked its bins, where jemalloc's
/// size classes keep the tenth reload as fast as the first (docs/performance.md).

#include <cstddef>
#include <string>

namespace udpsieve {

/// "jemalloc 5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c" or "glibc".
[[nodiscard]] std::string heap_allocator();

/// Tunes the allocator for rule compiles. glibc: rte_acl builds in 8 MiB blocks, which glibc
/// would mmap and unmap afresh on every reload; keep blocks up to 32 MiB in the heap and up to
/// 512 MiB of free memory in the process, so a reload reuses the previous one's pages.
/// jemalloc needs nothing.
void keep_build_memory();

/// Gives the heap's free pages back to the kernel, keeping about `pad` bytes (glibc's
/// malloc_trim; jemalloc purges every arena's unused pages).
void give_back_free_memory(std::size_t pad);

}  // namespace udpsieve
