// Preflight report and the host checks (DPDK-free; the port checks are in preflight_ports.cpp).
#include "udpsieve/service/preflight.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

namespace udpsieve::service {
namespace {

const char* label(CheckStatus status) {
  switch (status) {
    case CheckStatus::ok:
      return "ok  ";
    case CheckStatus::note:
      return "note";
    case CheckStatus::warn:
      return "WARN";
    case CheckStatus::fail:
      return "FAIL";
  }
  return "?";
}

std::string cpu_list(const std::vector<unsigned>& cpus) {
  std::string list;
  for (unsigned cpu : cpus)
    list += (list.empty() ? "" : ",") + std::to_string(cpu);
  return list.empty() ? "none" : list;
}

void check_hugepages(const config::DaemonConfig& config, const HostFacts& facts,
                     PreflightReport& report) {
  // The same decision start-up takes, so the two can never disagree.
  try {
    config::EalPlan plan = config::plan_eal(config, facts.hugepages);
    if (plan.note.rfind("hugepages: ", 0) == 0) plan.note.erase(0, 11);  // the subject says it
    if (plan.hugepages || config.eal.hugepages == config::HugepageMode::off) {
      report.add(CheckStatus::ok, "hugepages", plan.note);
    } else {
      report.add(CheckStatus::warn, "hugepages",
                 plan.note +
                     "; ordinary 4 KiB pages cost TLB misses at high rates: reserve hugepages "
                     "(echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages; "
                     "mount -t hugetlbfs nodev /dev/hugepages) and keep them across reboots "
                     "with the installed sysctl.d file");
    }
  } catch (const std::runtime_error& e) {
    report.add(CheckStatus::fail, "hugepages", e.what());
  }
}

/// The mbuf pools (one per NUMA node with workers) against the memory EAL will have.
void check_mbufs(const config::DaemonConfig& config, const HostFacts& facts,
                 PreflightReport& report) {
  config::EalPlan plan;
  try {
    plan = config::plan_eal(config, facts.hugepages);
  } catch (const std::runtime_error&) {
    return;  // the hugepages check says why
  }
  uint64_t mbufs = 0;
  const std::set<int> nodes(facts.worker_nodes.begin(), facts.worker_nodes.end());
  for (int node : nodes) {
    const auto workers = static_cast<unsigned>(
        std::count(facts.worker_nodes.begin(), facts.worker_nodes.end(), node));
    mbufs += config::pool_mbufs(config, workers);
  }
  if (nodes.empty()) mbufs = config::pool_mbufs(config, 1);
  const uint64_t need_mb = (mbufs * config::kMbufFootprint + (1U << 20) - 1) >> 20;
  const uint64_t have_mb =
      plan.hugepages ? facts.hugepages.free_bytes >> 20 : uint64_t{config.eal.memory_mb};
  // Besides the pools EAL needs room for the classifiers, rings and queues.
  constexpr uint64_t kOtherMb = 64;
  const std::string what = std::to_string(mbufs) + " mbufs (" +
                           (config.eal.mbufs != 0 ? "eal.mbufs" : "computed") + ") need about " +
                           std::to_string(need_mb) + " MB";
  const std::string memory =
      plan.hugepages ? std::to_string(have_mb) + " MB of hugepages are free"
                     : "eal.memory_mb is " + std::to_string(have_mb) + " (no hugepages)";
  if (need_mb + kOtherMb > have_mb) {
    report.add(CheckStatus::fail, "mbufs",
               what + " and the rest of udpsieved about " + std::to_string(kOtherMb) + " MB, but " +
                   memory + ": " +
                   (plan.hugepages ? "reserve more hugepages" : "raise eal.memory_mb") +
                   (config.eal.mbufs != 0 ? " or lower eal.mbufs" : ""));
    return;
  }
  report.add(CheckStatus::ok, "mbufs", what + "; " + memory);
}

void check_lcores(const config::DaemonConfig& config, const HostFacts& facts,
                  PreflightReport& report) {
  const std::vector<config::LcoreSpec>& lcores = config.eal.lcores;
  bool all_allowed = true;
  for (const config::LcoreSpec& spec : lcores) {
    if (std::find(facts.allowed_cpus.begin(), facts.allowed_cpus.end(), spec.cpu) ==
        facts.allowed_cpus.end()) {
      all_allowed = false;
      report.add(
          CheckStatus::fail, "lcores",
          "eal.lcores: '" + spec.to_string() + "' needs CPU " + std::to_string(spec.cpu) +
              ", which this process may not use (allowed CPUs: " + cpu_list(facts.allowed_cpus) +
              "); change eal.lcores, e.g. map several workers onto one CPU with \"2@1\"");
    }
  }
  if (!all_allowed) return;
  std::string workers;
  std::map<unsigned, std::vector<unsigned>> by_cpu;  // CPU → worker lcores on it
  for (std::size_t i = 1; i < lcores.size(); ++i) {
    workers += (i > 1 ? ", " : "") + std::string("lcore ") + std::to_string(lcores[i].lcore) +
               " on CPU " + std::to_string(lcores[i].cpu);
    by_cpu[lcores[i].cpu].push_back(lcores[i].lcore);
  }
  report.add(CheckStatus::ok, "lcores",
             "control thread on CPU " + std::to_string(lcores[0].cpu) + "; " +
                 std::to_string(lcores.size() - 1) + " worker(s): " + workers +
                 " (allowed CPUs: " + cpu_list(facts.allowed_cpus) + ")");
  for (const auto& [cpu, sharing] : by_cpu) {
    if (sharing.size() > 1) {
      report.add(CheckStatus::warn, "lcores",
                 std::to_string(sharing.size()) + " workers share CPU " + std::to_string(cpu) +
                     ": each polls only part of the time; give each worker a CPU of its own "
                     "for full speed");
    }
  }
  if (by_cpu.count(lcores[0].cpu) != 0) {
    report.add(CheckStatus::warn, "lcores",
               "the control thread shares CPU " + std::to_string(lcores[0].cpu) +
                   " with a worker; stats, reloads and the socket slow that worker down");
  }
}

void check_memlock(const HostFacts& facts, PreflightReport& report) {
  const rlim_t limit = facts.memlock.rlim_cur;
  if (limit == RLIM_INFINITY) {
    report.add(CheckStatus::ok, "memlock", "unlimited");
  } else if (facts.can_lock_memory) {
    report.add(
        CheckStatus::ok, "memlock",
        "limit " + std::to_string(limit >> 10) + " KiB, not binding: the process has CAP_IPC_LOCK");
  } else {
    report.add(CheckStatus::warn, "memlock",
               "limit " + std::to_string(limit >> 10) +
                   " KiB and no CAP_IPC_LOCK: VFIO cannot pin more DMA memory than that; set "
                   "LimitMEMLOCK=infinity in the unit (as the shipped one does) or ulimit -l "
                   "unlimited");
  }
}

void check_numa(const HostFacts& facts, PreflightReport& report) {
  const std::set<int> nodes(facts.worker_nodes.begin(), facts.worker_nodes.end());
  std::string list;
  for (int node : nodes)
    list += (list.empty() ? "" : ",") + std::to_string(node);
  if (facts.numa_nodes <= 1) {
    report.add(CheckStatus::ok, "NUMA", "one node: every worker and port shares its memory");
    return;
  }
  report.add(CheckStatus::ok, "NUMA",
             std::to_string(facts.numa_nodes) + " nodes; workers on node(s) " + list +
                 ", each node's workers get a mempool of their own there");
}

}  // namespace

void PreflightReport::add(CheckStatus status, std::string subject, std::string text) {
  results_.push_back({status, std::move(subject), std::move(text)});
}

std::size_t PreflightReport::count(CheckStatus status) const noexcept {
  return static_cast<std::size_t>(std::count_if(
      results_.begin(), results_.end(), [&](const CheckResult& r) { return r.status == status; }));
}

std::string PreflightReport::text() const {
  std::string out;
  for (const CheckResult& result : results_) {
    out += "  " + std::string(label(result.status)) + "  " + result.subject + ": " + result.text +
           "\n";
  }
  const std::size_t failures = count(CheckStatus::fail);
  const std::size_t warnings = count(CheckStatus::warn);
  out += failures > 0 ? "result: udpsieved cannot start like this" : "result: ready to start";
  out += " (" + std::to_string(failures) + " failure(s), " + std::to_string(warnings) +
         " warning(s))\n";
  return out;
}

std::string PreflightReport::failures() const {
  std::string out;
  for (const CheckResult& result : results_) {
    if (result.status != CheckStatus::fail) continue;
    out += (out.empty() ? "" : "\n") + result.subject + ": " + result.text;
  }
  return out;
}

void check_host_without_devices(const config::DaemonConfig& config, const HostFacts& facts,
                                PreflightReport& report) {
  check_lcores(config, facts, report);
}

void check_host(const config::DaemonConfig& config, const HostFacts& facts,
                PreflightReport& report) {
  check_hugepages(config, facts, report);
  check_mbufs(config, facts, report);
  check_lcores(config, facts, report);
  check_memlock(facts, report);
  check_numa(facts, report);
}

}  // namespace udpsieve::service
