#include "udpsieve/dataplane/eal.hpp"

#include <numa.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <algorithm>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace udpsieve::dataplane {
namespace {

spdlog::level::level_enum spdlog_level_of(uint32_t dpdk_level) {
  switch (dpdk_level) {
    case RTE_LOG_EMERG:
    case RTE_LOG_ALERT:
    case RTE_LOG_CRIT:
      return spdlog::level::critical;
    case RTE_LOG_ERR:
      return spdlog::level::err;
    case RTE_LOG_WARNING:
      return spdlog::level::warn;
    case RTE_LOG_NOTICE:
    case RTE_LOG_INFO:
      return spdlog::level::info;
    default:
      return spdlog::level::debug;
  }
}

/// fopencookie write hook: DPDK writes whole or partial lines; emit each complete line.
ssize_t write_dpdk_log(void* /*cookie*/, const char* data, size_t size) {
  thread_local std::string pending;
  pending.append(data, size);
  std::size_t newline = 0;
  while ((newline = pending.find('\n')) != std::string::npos) {
    std::string line = pending.substr(0, newline);
    pending.erase(0, newline + 1);
    if (line.empty()) continue;
    spdlog::log(spdlog_level_of(static_cast<uint32_t>(rte_log_cur_msg_loglevel())), "dpdk: {}",
                line);
  }
  return static_cast<ssize_t>(size);
}

}  // namespace

void route_dpdk_log_to_spdlog() {
  cookie_io_functions_t hooks{};
  hooks.write = write_dpdk_log;
  FILE* stream = fopencookie(nullptr, "w", hooks);
  if (stream == nullptr) return;
  setvbuf(stream, nullptr, _IOLBF, 0);
  rte_openlog_stream(stream);
}

Eal::Eal(const std::vector<std::string>& args, RuntimeDir runtime_dir) {
  // rte_eal_init may permute argv, so give it copies it can keep.
  static std::vector<std::string> storage;
  static std::vector<char*> argv;
  storage = args;
  argv.clear();
  for (std::string& arg : storage)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  if (rte_eal_init(static_cast<int>(storage.size()), argv.data()) < 0) {
    const int error = rte_errno;
    std::string hint;
    if (error == EALREADY) hint = " (EAL already initialised)";
    if (error == EACCES) hint = " (permission denied: run as root or with the needed capabilities)";
    if (error == EBUSY) {
      hint = " (another DPDK process uses this file prefix: set eal.file_prefix)";
    }
    throw std::runtime_error(std::string("DPDK EAL initialisation failed: ") + rte_strerror(error) +
                             hint);
  }
  if (runtime_dir == RuntimeDir::remove) remove_on_exit_ = rte_eal_get_runtime_dir();
}

Eal::~Eal() {
  (void)rte_eal_cleanup();
  if (!remove_on_exit_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(remove_on_exit_, ignored);
  }
}

int numa_node_of_cpu(unsigned cpu) {
  if (numa_available() < 0) return 0;
  const int node = ::numa_node_of_cpu(static_cast<int>(cpu));
  return node < 0 ? 0 : node;
}

int numa_node_count() {
  if (numa_available() < 0) return 1;
  return std::max(1, numa_max_node() + 1);
}

std::vector<unsigned> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<unsigned> cpus;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (unsigned cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

}  // namespace udpsieve::dataplane
