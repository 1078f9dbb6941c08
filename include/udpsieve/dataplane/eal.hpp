#pragma once
/// Bringing DPDK's EAL up and down, with its log routed into spdlog.

#include <cstddef>
#include <string>
#include <vector>

namespace udpsieve::dataplane {

/// Owns the EAL: initialised by the constructor, cleaned up by the destructor. A clean end
/// leaves nothing behind: EAL's runtime directory (/var/run/dpdk/PREFIX, which secondary
/// processes such as dpdk-proc-info read while the process runs) and the hugepage files
/// (HUGETLBFS/PREFIXmap_N) are removed. After a crash they stay; the next start with the same
/// prefix reuses them.
class Eal {
 public:
  /// Calls rte_eal_init with `args` (args[0] is the program name). Throws std::runtime_error
  /// with DPDK's reason when it fails.
  explicit Eal(const std::vector<std::string>& args);
  ~Eal();
  Eal(const Eal&) = delete;
  Eal& operator=(const Eal&) = delete;

 private:
  std::string runtime_dir_;
  std::string file_prefix_;
};

/// Removes the hugepage files of `file_prefix` (PREFIXmap_N) from every hugetlbfs mount listed
/// in `mounts_file`; returns how many were removed.
std::size_t remove_hugepage_files(const std::string& file_prefix,
                                  const std::string& mounts_file = "/proc/mounts");

/// The last warning or error line DPDK logged on this thread since the previous call (empty
/// when none): the reason behind a failed DPDK call, for one-line error messages.
[[nodiscard]] std::string take_dpdk_problem();

/// Sends DPDK's log lines to the spdlog logger "dpdk" (call before Eal).
void route_dpdk_log_to_spdlog();

/// The NUMA node of a CPU, from libnuma (0 when the machine has no NUMA support).
[[nodiscard]] int numa_node_of_cpu(unsigned cpu);
/// NUMA nodes on the machine (1 without NUMA support).
[[nodiscard]] int numa_node_count();

/// CPUs this process may run on (its affinity mask), ascending.
[[nodiscard]] std::vector<unsigned> allowed_cpus();

}  // namespace udpsieve::dataplane
