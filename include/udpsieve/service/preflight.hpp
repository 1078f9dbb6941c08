#pragma once
/// Preflight: what the machine offers against what the configuration asks for, explained in
/// plain words, each problem with what to change. `udpsieved --preflight` prints the report and
/// exits; every start runs the same checks, logs them, and stops on a failure before any port
/// is started.
///
/// The host checks (hugepages, lcores, memory lock, NUMA) are pure functions of what was
/// measured, so they are unit-tested; the port checks need DPDK (preflight_ports.cpp).

#include <sys/resource.h>

#include <cstdint>
#include <string>
#include <vector>

#include "udpsieve/config/config.hpp"
#include "udpsieve/config/eal_args.hpp"

namespace udpsieve::service {

enum class CheckStatus : uint8_t {
  ok,    ///< as it should be
  note,  ///< worth knowing, nothing to change
  warn,  ///< works, but slower or less safe than it could be
  fail,  ///< udpsieved cannot run like this
};

struct CheckResult {
  CheckStatus status = CheckStatus::ok;
  std::string subject;  ///< "hugepages", "lcores", "port wan", ...
  std::string text;     ///< what was found, and for warn/fail what to change
};

class PreflightReport {
 public:
  void add(CheckStatus status, std::string subject, std::string text);
  [[nodiscard]] const std::vector<CheckResult>& results() const noexcept { return results_; }
  [[nodiscard]] std::size_t count(CheckStatus status) const noexcept;
  [[nodiscard]] bool failed() const noexcept { return count(CheckStatus::fail) > 0; }
  /// One line per check ("  ok    hugepages: ...") and a closing verdict line.
  [[nodiscard]] std::string text() const;
  /// The failures, one per line, for an error message.
  [[nodiscard]] std::string failures() const;

 private:
  std::vector<CheckResult> results_;
};

/// What the host offers, measured by the caller.
struct HostFacts {
  config::HugepageStatus hugepages;
  std::vector<unsigned> allowed_cpus;  ///< the process's affinity mask
  std::vector<int> worker_nodes;       ///< NUMA node of each worker's CPU, in eal.lcores order
  int numa_nodes = 1;                  ///< nodes on the machine (1 without NUMA)
  rlimit memlock{};                    ///< RLIMIT_MEMLOCK
  bool can_lock_memory = false;        ///< CAP_IPC_LOCK (root has it), which ignores the limit
};

/// Hugepages (via config::plan_eal, so the verdict is the one start-up reaches), lcores against
/// the allowed CPUs, the memory-lock limit, and the workers' NUMA nodes.
void check_host(const config::DaemonConfig& config, const HostFacts& facts,
                PreflightReport& report);

/// The host checks that need neither privileges nor devices, which `--check` runs: the lcores
/// against the CPUs this process may use (facts.allowed_cpus).
void check_host_without_devices(const config::DaemonConfig& config, const HostFacts& facts,
                                PreflightReport& report);

}  // namespace udpsieve::service
