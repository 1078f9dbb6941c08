#pragma once
// Test and benchmark support: a private DPDK EAL for one process (ordinary memory instead of
// hugepages, no shared config, no PCI scan, no telemetry, a file prefix of its own) and its
// removal, runtime directory included.

#include <rte_eal.h>
#include <rte_errno.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "udpsieve/dataplane/eal.hpp"

namespace udpsieve::test {

namespace detail {

/// The file prefix of the EAL this process started (empty before).
inline std::string& eal_file_prefix() {
  static std::string prefix;
  return prefix;
}

/// Removes EAL's runtime directory, but only when it is the one named after our prefix.
inline void remove_runtime_dir() {
  const char* dir = rte_eal_get_runtime_dir();
  if (dir == nullptr || *dir == '\0' || eal_file_prefix().empty()) return;
  const std::filesystem::path path(dir);
  if (path.filename() != eal_file_prefix()) return;
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

}  // namespace detail

/// Starts EAL with `memory_mb` MB on the first CPU of this process's affinity mask, with the
/// file prefix `stem-PID`. Returns an empty string on success, otherwise why it failed.
inline std::string start_private_eal(const std::string& program, const std::string& stem,
                                     unsigned memory_mb) {
  const std::vector<unsigned> cpus = dataplane::allowed_cpus();
  if (cpus.empty()) return "this process may run on no CPU (empty affinity mask)";
  detail::eal_file_prefix() = stem + "-" + std::to_string(getpid());
  // rte_eal_init keeps pointers into argv, so the strings live as long as the process.
  static std::vector<std::string> storage;
  static std::vector<char*> argv;
  storage = {program,
             "--no-huge",
             "-m",
             std::to_string(memory_mb),
             "--no-shconf",
             "--no-pci",
             "--no-telemetry",
             "--log-level=error",
             "--file-prefix",
             detail::eal_file_prefix(),
             "-l",
             std::to_string(cpus.front())};
  argv.clear();
  for (std::string& arg : storage)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  if (rte_eal_init(static_cast<int>(storage.size()), argv.data()) < 0) {
    const int error = rte_errno;
    detail::remove_runtime_dir();
    return std::string("rte_eal_init failed: ") + rte_strerror(error);
  }
  return {};
}

/// Cleans up the EAL start_private_eal() started and removes its runtime directory.
inline void stop_private_eal() {
  (void)rte_eal_cleanup();
  detail::remove_runtime_dir();
}

}  // namespace udpsieve::test
