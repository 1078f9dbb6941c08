// Preflight host checks: each situation gives the expected verdict and says what to change.
#include "udpsieve/service/preflight.hpp"

#include <gtest/gtest.h>

#include <tuple>

#include <string>
#include <vector>

namespace {

using udpsieve::config::DaemonConfig;
using udpsieve::config::HugepageMode;
using udpsieve::service::CheckStatus;
using udpsieve::service::HostFacts;
using udpsieve::service::PreflightReport;

struct Case {
  const char* what;
  HugepageMode mode;
  std::vector<std::pair<unsigned, unsigned>> lcores;  ///< (lcore, cpu)
  uint64_t free_hugepage_mb;
  bool mounted;
  rlim_t memlock;
  bool can_lock;
  int numa_nodes;
  const char* subject;  ///< the check under test
  CheckStatus status;   ///< its worst verdict
  const char* text;     ///< a phrase its text must contain
};

const rlim_t kUnlimited = RLIM_INFINITY;

const Case kCases[] = {
    {"hugepages free and mounted",
     HugepageMode::automatic,
     {{0, 0}, {1, 1}},
     1024,
     true,
     kUnlimited,
     true,
     1,
     "hugepages",
     CheckStatus::ok,
     "auto: using hugepages (1024 MB free)"},
    {"auto without hugepages falls back, with a warning",
     HugepageMode::automatic,
     {{0, 0}, {1, 1}},
     0,
     true,
     kUnlimited,
     true,
     1,
     "hugepages",
     CheckStatus::warn,
     "reserve hugepages (echo 512 > /sys/kernel/mm/hugepages"},
    {"required without a mount fails",
     HugepageMode::required,
     {{0, 0}, {1, 1}},
     1024,
     false,
     kUnlimited,
     true,
     1,
     "hugepages",
     CheckStatus::fail,
     "no hugetlbfs is mounted"},
    {"off is fine",
     HugepageMode::off,
     {{0, 0}, {1, 1}},
     0,
     false,
     kUnlimited,
     true,
     1,
     "hugepages",
     CheckStatus::ok,
     "running with --no-huge"},
    {"a CPU outside the affinity mask fails",
     HugepageMode::off,
     {{0, 0}, {1, 5}},
     0,
     false,
     kUnlimited,
     true,
     1,
     "lcores",
     CheckStatus::fail,
     "eal.lcores: '1@5' needs CPU 5, which this process may not use (allowed CPUs: 0,1)"},
    {"workers sharing a CPU warn",
     HugepageMode::off,
     {{0, 0}, {1, 1}, {2, 1}},
     0,
     false,
     kUnlimited,
     true,
     1,
     "lcores",
     CheckStatus::warn,
     "2 workers share CPU 1"},
    {"a worker on the control CPU warns",
     HugepageMode::off,
     {{0, 0}, {1, 0}},
     0,
     false,
     kUnlimited,
     true,
     1,
     "lcores",
     CheckStatus::warn,
     "the control thread shares CPU 0"},
    {"memlock limited without CAP_IPC_LOCK warns",
     HugepageMode::off,
     {{0, 0}, {1, 1}},
     0,
     false,
     8 << 20,
     false,
     1,
     "memlock",
     CheckStatus::warn,
     "LimitMEMLOCK=infinity"},
    {"memlock limited with CAP_IPC_LOCK is fine",
     HugepageMode::off,
     {{0, 0}, {1, 1}},
     0,
     false,
     8 << 20,
     true,
     1,
     "memlock",
     CheckStatus::ok,
     "not binding"},
    {"two NUMA nodes are reported",
     HugepageMode::off,
     {{0, 0}, {1, 1}},
     0,
     false,
     kUnlimited,
     true,
     2,
     "NUMA",
     CheckStatus::ok,
     "2 nodes; workers on node(s) 0"},
};

TEST(Preflight, HostChecks) {
  for (const Case& c : kCases) {
    DaemonConfig config;
    config.eal.hugepages = c.mode;
    config.eal.memory_mb = 256;
    for (const auto& [lcore, cpu] : c.lcores)
      config.eal.lcores.push_back({lcore, cpu});
    HostFacts facts;
    facts.hugepages = {c.free_hugepage_mb << 20, c.mounted};
    facts.allowed_cpus = {0, 1};
    facts.worker_nodes.assign(c.lcores.size() - 1, 0);
    facts.numa_nodes = c.numa_nodes;
    facts.memlock = {c.memlock, c.memlock};
    facts.can_lock_memory = c.can_lock;

    PreflightReport report;
    udpsieve::service::check_host(config, facts, report);
    CheckStatus worst = CheckStatus::ok;
    std::string texts;
    for (const auto& result : report.results()) {
      if (result.subject != c.subject) continue;
      worst = std::max(worst, result.status);
      texts += result.text + "\n";
    }
    EXPECT_EQ(worst, c.status) << c.what << "\n" << report.text();
    EXPECT_NE(texts.find(c.text), std::string::npos) << c.what << "\n" << report.text();
    EXPECT_EQ(report.failed(), c.status == CheckStatus::fail) << c.what;
    // The verdict line matches the failures.
    EXPECT_NE(report.text().find(report.failed() ? "result: udpsieved cannot start like this"
                                                 : "result: ready to start"),
              std::string::npos)
        << c.what;
  }
}

// The mbuf pools (eal.mbufs, or computed) must fit the memory EAL will have.
TEST(Preflight, MbufPoolsMustFitTheMemory) {
  const auto check = [](unsigned mbufs, HugepageMode mode, uint64_t free_mb) {
    DaemonConfig config;
    config.eal.hugepages = mode;
    config.eal.memory_mb = 256;
    config.eal.mbufs = mbufs;
    config.eal.lcores = {{0, 0}, {1, 1}};
    HostFacts facts;
    facts.hugepages = {free_mb << 20, true};
    facts.allowed_cpus = {0, 1};
    facts.worker_nodes = {0};
    facts.numa_nodes = 1;
    PreflightReport report;
    udpsieve::service::check_host(config, facts, report);
    for (const auto& result : report.results()) {
      if (result.subject == "mbufs") return std::make_pair(result.status, result.text);
    }
    return std::make_pair(CheckStatus::fail, std::string("no mbufs check"));
  };
  // Computed for one worker and no ports: 16,383 mbufs, about 38 MB.
  auto [status, text] = check(0, HugepageMode::off, 0);
  EXPECT_EQ(status, CheckStatus::ok) << text;
  EXPECT_EQ(text, "16383 mbufs (computed) need about 38 MB; eal.memory_mb is 256 (no hugepages)");
  std::tie(status, text) = check(1'000'000, HugepageMode::automatic, 1024);
  EXPECT_EQ(status, CheckStatus::fail) << text;
  EXPECT_EQ(text,
            "1000000 mbufs (eal.mbufs) need about 2320 MB and the rest of udpsieved about 64 MB, "
            "but 1024 MB of hugepages are free: reserve more hugepages or lower eal.mbufs");
  std::tie(status, text) = check(200'000, HugepageMode::off, 0);
  EXPECT_EQ(status, CheckStatus::fail) << text;
  EXPECT_NE(text.find("eal.memory_mb is 256 (no hugepages): raise eal.memory_mb or lower "
                      "eal.mbufs"),
            std::string::npos)
      << text;
  std::tie(status, text) = check(65'535, HugepageMode::automatic, 1024);
  EXPECT_EQ(status, CheckStatus::ok) << text;
}

TEST(Preflight, FailuresListsOnlyFailures) {
  PreflightReport report;
  report.add(CheckStatus::ok, "a", "fine");
  report.add(CheckStatus::fail, "b", "broken; change x");
  report.add(CheckStatus::warn, "c", "slow");
  report.add(CheckStatus::fail, "d", "also broken");
  EXPECT_EQ(report.failures(), "b: broken; change x\nd: also broken");
  EXPECT_EQ(report.count(CheckStatus::warn), 1U);
  EXPECT_NE(report.text().find("(2 failure(s), 1 warning(s))"), std::string::npos);
}

}  // namespace
