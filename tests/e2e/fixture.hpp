#pragma once
// The fixture every end-to-end test uses: a lab of its own, udpsieved on it with the PMD of the
// test's parameter, and the skip policy.
//
// net_af_packet must always run (as root). net_af_xdp is skipped only when the kernel has no
// AF_XDP sockets at all; when the kernel has them but the PMD does not start, the test fails
// in CI and is skipped, with the daemon's reason, elsewhere.

#include <gtest/gtest.h>

#include <iostream>
#include <memory>
#include <string>

#include "e2e/lab.hpp"

namespace udpsieve::test::e2e {

class LabTest : public testing::TestWithParam<Pmd> {
 protected:
  /// Builds the lab `tag` and starts udpsieved on it with `rules_path`; skips or fails as
  /// above. Call from SetUp.
  void start(const std::string& tag, const std::string& rules_path) {
    REQUIRE_DPDK();
    for (const char* tool : {"ip", "ethtool", "bash"}) {
      if (find_program(tool).empty()) {
        if (in_ci()) FAIL() << tool << " not found (scripts/setup.sh installs it)";
        GTEST_SKIP() << tool << " not found (scripts/setup.sh installs it)";
      }
    }
    if (GetParam() == Pmd::kAfXdp) {
      if (const auto reason = kernel_lacks_af_xdp()) GTEST_SKIP() << "net_af_xdp: " << *reason;
    }
    lab_ = std::make_unique<Lab>(tag);
    daemon_ = std::make_unique<LabDaemon>(*lab_, GetParam(), dir_, rules_path);
    std::string why;
    if (!daemon_->start(why)) {
      if (GetParam() == Pmd::kAfXdp && !in_ci()) {
        GTEST_SKIP() << "net_af_xdp did not start on this machine (CI would fail here):\n" << why;
      }
      FAIL() << pmd_driver(GetParam()) << ": udpsieved did not start:\n" << why;
    }
    const std::string drivers = daemon_->drivers();
    // Say which PMD really ran, in the test output and in the XML report.
    std::cout << "[ PMD      ] lab " << lab_->name() << ": " << drivers << std::endl;
    RecordProperty("pmd", drivers);
    ASSERT_EQ(drivers, std::string("client=") + pmd_driver(GetParam()) +
                           " server=" + pmd_driver(GetParam()));
  }

  void TearDown() override {
    if (daemon_ && !HasFailure()) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    } else if (daemon_) {
      (void)daemon_->stop();
      std::cout << "udpsieved log:\n" << daemon_->log() << std::endl;
    }
    daemon_.reset();
    lab_.reset();  // removes the namespaces and veths, whatever happened
  }

  TempDir dir_;
  std::unique_ptr<Lab> lab_;
  std::unique_ptr<LabDaemon> daemon_;
};

inline std::string pmd_name(const testing::TestParamInfo<Pmd>& info) {
  return info.param == Pmd::kAfPacket ? "af_packet" : "af_xdp";
}

}  // namespace udpsieve::test::e2e
