#include "udpsieve/config/eal_args.hpp"

#include <bit>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "udpsieve/common/stats_schema.hpp"

namespace udpsieve::config {
namespace {

uint64_t read_number(const std::filesystem::path& file) {
  std::ifstream in(file);
  uint64_t value = 0;
  in >> value;
  return in ? value : 0;
}

/// "hugepages-2048kB" → 2048 * 1024.
uint64_t page_size_of(const std::string& dir_name) {
  const std::string prefix = "hugepages-";
  if (dir_name.rfind(prefix, 0) != 0) return 0;
  std::size_t pos = prefix.size();
  uint64_t kib = 0;
  while (pos < dir_name.size() && std::isdigit(static_cast<unsigned char>(dir_name[pos])) != 0) {
    kib = kib * 10 + static_cast<uint64_t>(dir_name[pos] - '0');
    ++pos;
  }
  return dir_name.substr(pos) == "kB" ? kib * 1024 : 0;
}

/// DPDK's own log level for the daemon's logging.level (DPDK's debug level is very chatty).
const char* dpdk_log_level(const std::string& level) {
  if (level == "trace" || level == "debug") return "info";
  if (level == "info") return "notice";
  if (level == "warn") return "warning";
  if (level == "error") return "error";
  if (level == "critical") return "critical";
  return "emerg";
}

}  // namespace

HugepageStatus probe_hugepages(const std::string& sysfs_root, const std::string& mounts_file) {
  HugepageStatus status;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(sysfs_root, ec)) {
    const uint64_t page = page_size_of(entry.path().filename().string());
    if (page == 0) continue;
    status.free_bytes += read_number(entry.path() / "free_hugepages") * page;
  }
  std::ifstream mounts(mounts_file);
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string device;
    std::string mount_point;
    std::string type;
    fields >> device >> mount_point >> type;
    if (type == "hugetlbfs") status.hugetlbfs_mounted = true;
  }
  return status;
}

bool is_pci_address(const std::string& device_args) {
  // [DDDD:]BB:DD.F with hex digits, optionally followed by ",key=value" device arguments.
  const std::string device = device_args.substr(0, device_args.find(','));
  std::size_t pos = 0;
  auto hex_run = [&](std::size_t count) {
    for (std::size_t i = 0; i < count; ++i, ++pos) {
      if (pos >= device.size() || std::isxdigit(static_cast<unsigned char>(device[pos])) == 0) {
        return false;
      }
    }
    return true;
  };
  auto expect = [&](char c) { return pos < device.size() && device[pos++] == c; };
  const bool has_domain = device.size() > 4 && device[4] == ':';
  if (has_domain && !(hex_run(4) && expect(':'))) return false;
  return hex_run(2) && expect(':') && hex_run(2) && expect('.') && hex_run(1) &&
         pos == device.size();
}

unsigned computed_pool_mbufs(const DaemonConfig& config, unsigned workers_on_socket) {
  constexpr unsigned kSlack = 8192;
  unsigned per_worker = 0;
  for (const PortConfig& port : config.ports)
    per_worker += port.rx_descriptors + port.tx_descriptors;
  per_worker +=
      static_cast<unsigned>(kBurstSize) * (static_cast<unsigned>(config.ports.size()) + 2);
  const unsigned total =
      workers_on_socket * per_worker + (workers_on_socket + 1) * kPoolCacheSize + kSlack;
  return std::bit_ceil(total + 1) - 1;
}

unsigned pool_mbufs(const DaemonConfig& config, unsigned workers_on_socket) {
  return config.eal.mbufs != 0 ? config.eal.mbufs : computed_pool_mbufs(config, workers_on_socket);
}

EalPlan plan_eal(const DaemonConfig& config, const HugepageStatus& hugepages) {
  EalPlan plan;
  auto& args = plan.args;
  args.emplace_back("udpsieved");

  std::string lcores;
  for (const LcoreSpec& spec : config.eal.lcores) {
    if (!lcores.empty()) lcores += ',';
    lcores += spec.to_string();
  }
  args.emplace_back("--lcores");
  args.push_back(lcores);
  args.emplace_back("--main-lcore");
  args.push_back(std::to_string(config.eal.lcores.front().lcore));
  args.emplace_back("--file-prefix");
  args.push_back(config.eal.file_prefix);
  args.emplace_back("--log-level");
  args.emplace_back(dpdk_log_level(config.logging.level));
  // Telemetry warns at every start that its legacy socket is off; that is not a problem.
  args.emplace_back("--log-level");
  args.emplace_back("lib.telemetry:error");

  const bool available = hugepages.hugetlbfs_mounted && hugepages.free_bytes >= kMinHugepageBytes;
  const std::string memory = std::to_string(config.eal.memory_mb);
  switch (config.eal.hugepages) {
    case HugepageMode::off:
      plan.hugepages = false;
      plan.note = "hugepages: off: running with --no-huge and " + memory + " MB of ordinary memory";
      break;
    case HugepageMode::required:
      if (!available) {
        throw std::runtime_error(
            "eal.hugepages is 'required' but " +
            std::string(hugepages.hugetlbfs_mounted ? "fewer than 64 MB of hugepages are free"
                                                    : "no hugetlbfs is mounted") +
            ": reserve and mount them (echo 512 > "
            "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages; mount -t hugetlbfs "
            "nodev /dev/hugepages), or set eal.hugepages: auto");
      }
      plan.hugepages = true;
      plan.note = "hugepages: required: " + std::to_string(hugepages.free_bytes >> 20) + " MB free";
      break;
    case HugepageMode::automatic:
      plan.hugepages = available;
      plan.note = available ? "hugepages: auto: using hugepages (" +
                                  std::to_string(hugepages.free_bytes >> 20) + " MB free)"
                            : std::string("hugepages: auto: ") +
                                  (hugepages.hugetlbfs_mounted ? "fewer than 64 MB free"
                                                               : "no hugetlbfs mounted") +
                                  ", falling back to --no-huge with " + memory + " MB";
      break;
  }
  if (!plan.hugepages) {
    args.emplace_back("--no-huge");
    args.emplace_back("-m");
    args.push_back(memory);
  }

  bool any_pci = false;
  for (const PortConfig& port : config.ports) {
    if (!is_pci_address(port.device)) continue;
    any_pci = true;
    args.emplace_back("-a");
    args.push_back(port.device);
  }
  // Without PCI ports, keep EAL away from every NIC on the box (vdevs are probed later).
  if (!any_pci) args.emplace_back("--no-pci");

  for (const std::string& extra : config.eal.extra_args)
    args.push_back(extra);
  return plan;
}

}  // namespace udpsieve::config
