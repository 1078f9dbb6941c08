#pragma once
/// Turning the `eal:` section into rte_eal_init arguments (pure, so it can be unit tested).

#include <cstdint>
#include <string>
#include <vector>

#include "udpsieve/config/config.hpp"

namespace udpsieve::config {

/// What the machine offers in 2 MB / 1 GB hugepages (read from sysfs and /proc/mounts).
struct HugepageStatus {
  uint64_t free_bytes = 0;  ///< free hugepage memory summed over all page sizes
  bool hugetlbfs_mounted = false;
};

/// Bounds of eal.mbufs.
inline constexpr uint64_t kMinPoolMbufs = 1023;
inline constexpr uint64_t kMaxPoolMbufs = 16'777'215;
/// Mbufs each lcore keeps in its cache of a pool.
inline constexpr unsigned kPoolCacheSize = 256;
/// Memory one mbuf takes in a pool: 2,176 bytes of data room (RTE_MBUF_DEFAULT_BUF_SIZE), the
/// 128-byte rte_mbuf and the mempool's object header, rounded up.
inline constexpr uint64_t kMbufFootprint = 2432;

/// Mbufs of one NUMA socket's pool when eal.mbufs does not say: every RX and TX descriptor of
/// its workers' queues, their TX buffers, the per-lcore caches, and slack for PMDs that keep
/// buffers of their own (net_pcap infinite_rx), as 2^n - 1.
[[nodiscard]] unsigned computed_pool_mbufs(const DaemonConfig& config, unsigned workers_on_socket);
/// The pool size to use: eal.mbufs, or computed_pool_mbufs.
[[nodiscard]] unsigned pool_mbufs(const DaemonConfig& config, unsigned workers_on_socket);

/// Least free hugepage memory `hugepages: auto` wants before it uses hugepages.
inline constexpr uint64_t kMinHugepageBytes = uint64_t{64} << 20;

/// Reads hugepage availability from `sysfs_root` (normally /sys/kernel/mm/hugepages) and
/// `mounts_file` (normally /proc/mounts).
[[nodiscard]] HugepageStatus probe_hugepages(
    const std::string& sysfs_root = "/sys/kernel/mm/hugepages",
    const std::string& mounts_file = "/proc/mounts");

/// The EAL command line, and whether hugepages are used.
struct EalPlan {
  std::vector<std::string> args;  ///< argv for rte_eal_init, args[0] is the program name
  bool hugepages = false;
  std::string note;  ///< one line explaining the hugepage decision, for the log
};

/// Builds the EAL arguments. `hugepages: required` without free pages throws std::runtime_error
/// with a line saying how to reserve them.
[[nodiscard]] EalPlan plan_eal(const DaemonConfig& config, const HugepageStatus& hugepages);

/// True for devices given by PCI address ("0000:3b:00.0", "3b:00.0", optionally followed by
/// ",devargs"), false for vdevs.
[[nodiscard]] bool is_pci_address(const std::string& device_args);

}  // namespace udpsieve::config
