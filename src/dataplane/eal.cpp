#include "udpsieve/dataplane/eal.hpp"

#include <numa.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <array>
#include <string_view>
#include <vector>

#include <cstdio>
#include <filesystem>
#include <fstream>
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

/// The warnings and errors DPDK logged on this thread since take_dpdk_problem() (the first few).
thread_local std::vector<std::string> problems;
constexpr std::size_t kProblemsKept = 16;

/// fopencookie write hook: DPDK writes whole or partial lines; emit each complete line.
ssize_t write_dpdk_log(void* /*cookie*/, const char* data, size_t size) {
  thread_local std::string pending;
  pending.append(data, size);
  std::size_t newline = 0;
  while ((newline = pending.find('\n')) != std::string::npos) {
    std::string line = pending.substr(0, newline);
    pending.erase(0, newline + 1);
    if (line.empty()) continue;
    const auto level = static_cast<uint32_t>(rte_log_cur_msg_loglevel());
    if (level <= RTE_LOG_WARNING && problems.size() < kProblemsKept) problems.push_back(line);
    spdlog::log(spdlog_level_of(level), "dpdk: {}", line);
  }
  return static_cast<ssize_t>(size);
}

/// The value of `--file-prefix` in EAL arguments, or EAL's default.
std::string file_prefix_of(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--file-prefix") return args[i + 1];
  }
  return "rte";
}

}  // namespace

std::string take_dpdk_problem() {
  std::vector<std::string> lines = std::move(problems);
  problems.clear();
  // The driver's own line comes first; EAL then adds lines that only say that it failed.
  constexpr std::array<std::string_view, 3> kGeneric = {
      "Failed to attach device on primary process", "Driver cannot attach the device",
      "Requested device cannot be used"};
  const auto specific = std::find_if(lines.begin(), lines.end(), [&](const std::string& line) {
    return std::none_of(kGeneric.begin(), kGeneric.end(), [&](std::string_view generic) {
      return line.find(generic) != std::string::npos;
    });
  });
  std::string line = specific != lines.end() ? *specific : lines.empty() ? "" : lines.front();
  // DPDK's lines start with their component ("EAL: ", "open_single_rx_pcap(): "); keep it, it
  // says where the reason comes from, but not the trailing whitespace.
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
    line.pop_back();
  return line;
}

void route_dpdk_log_to_spdlog() {
  cookie_io_functions_t hooks{};
  hooks.write = write_dpdk_log;
  FILE* stream = fopencookie(nullptr, "w", hooks);
  if (stream == nullptr) return;
  setvbuf(stream, nullptr, _IOLBF, 0);
  rte_openlog_stream(stream);
}

Eal::Eal(const std::vector<std::string>& args) {
  // rte_eal_init may permute argv, so give it copies it can keep.
  static std::vector<std::string> storage;
  static std::vector<char*> argv;
  storage = args;
  argv.clear();
  for (std::string& arg : storage)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  file_prefix_ = file_prefix_of(args);
  (void)take_dpdk_problem();
  if (rte_eal_init(static_cast<int>(storage.size()), argv.data()) < 0) {
    const int error = rte_errno;
    const std::string problem = take_dpdk_problem();
    // rte_errno is not always set (a second primary process ends with "Success"): DPDK's own
    // last complaint says more.
    std::string reason = problem.empty() ? rte_strerror(error) : problem;
    std::string fix;
    if (error == EALREADY) fix = "EAL is already initialised in this process";
    if (error == EACCES) fix = "run as root or with the needed capabilities";
    if (error == EBUSY || problem.find("another primary process") != std::string::npos ||
        problem.find("Cannot create lock") != std::string::npos) {
      reason = "another DPDK process (a second udpsieved?) runs with the file prefix \"" +
               file_prefix_ + "\"";
      fix = "stop it, or give this daemon its own eal.file_prefix (or --file-prefix)";
    }
    throw std::runtime_error("DPDK EAL initialisation failed: " + reason +
                             (fix.empty() ? "" : "; " + fix));
  }
  runtime_dir_ = rte_eal_get_runtime_dir();
}

Eal::~Eal() {
  (void)rte_eal_cleanup();
  std::error_code ignored;
  std::filesystem::remove_all(runtime_dir_, ignored);
  (void)remove_hugepage_files(file_prefix_);
}

std::size_t remove_hugepage_files(const std::string& file_prefix, const std::string& mounts_file) {
  std::size_t removed = 0;
  std::ifstream mounts(mounts_file);
  std::string device;
  std::string dir;
  std::string type;
  std::string rest;
  const std::string stem = file_prefix + "map_";
  while (mounts >> device >> dir >> type && std::getline(mounts, rest)) {
    if (type != "hugetlbfs") continue;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind(stem, 0) != 0) continue;
      // The rest is the segment number: do not touch another prefix that merely starts alike.
      const std::string number = name.substr(stem.size());
      if (number.empty() ||
          !std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        continue;
      }
      if (std::filesystem::remove(entry.path(), error)) ++removed;
    }
  }
  return removed;
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
