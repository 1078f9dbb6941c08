#pragma once
/// Bringing DPDK's EAL up and down, with its log routed into spdlog.

#include <string>
#include <vector>

namespace udpsieve::dataplane {

/// Owns the EAL: initialised by the constructor, cleaned up by the destructor.
class Eal {
 public:
  /// What happens to EAL's runtime directory (/var/run/dpdk/PREFIX) at the end.
  enum class RuntimeDir : bool {
    keep,    ///< the daemon's: secondary processes and tools (dpdk-proc-info) read it
    remove,  ///< a private, short-lived EAL's (--check, --preflight): nobody reads it again
  };
  /// Calls rte_eal_init with `args` (args[0] is the program name). Throws std::runtime_error
  /// with DPDK's reason when it fails.
  explicit Eal(const std::vector<std::string>& args, RuntimeDir runtime_dir = RuntimeDir::keep);
  ~Eal();
  Eal(const Eal&) = delete;
  Eal& operator=(const Eal&) = delete;

 private:
  std::string remove_on_exit_;  ///< the runtime directory, when RuntimeDir::remove
};

/// Sends DPDK's log lines to the spdlog logger "dpdk" (call before Eal).
void route_dpdk_log_to_spdlog();

/// The NUMA node of a CPU, from libnuma (0 when the machine has no NUMA support).
[[nodiscard]] int numa_node_of_cpu(unsigned cpu);
/// NUMA nodes on the machine (1 without NUMA support).
[[nodiscard]] int numa_node_count();

/// CPUs this process may run on (its affinity mask), ascending.
[[nodiscard]] std::vector<unsigned> allowed_cpus();

}  // namespace udpsieve::dataplane
