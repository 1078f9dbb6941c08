// main() of dataplane_tests: the tests need DPDK (rte_acl, rte_malloc, rte_meter, rte_rcu), so
// one private EAL is started for the whole process. Listing the tests (what
// gtest_discover_tests does at build time) starts no EAL.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "dataplane/private_eal.hpp"

namespace {

/// Skips every test: installed when EAL cannot start on a developer's machine.
class SkipAll : public testing::Environment {
 public:
  explicit SkipAll(std::string reason) : reason_(std::move(reason)) {}
  void SetUp() override { GTEST_SKIP() << reason_; }

 private:
  std::string reason_;
};

bool listing_only(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--gtest_list_tests") == 0) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const bool list = listing_only(argc, argv);
  testing::InitGoogleTest(&argc, argv);
  if (list) return RUN_ALL_TESTS();

  const std::string error = udpsieve::test::start_private_eal(argv[0], "udpsieve-dptest", 1024);
  if (!error.empty()) {
    const char* ci = std::getenv("UDPSIEVE_CI");
    const bool in_ci = ci != nullptr && *ci != '\0';
    // In CI, and for root (who can always run DPDK), a failing EAL is a failure of the tests.
    if (in_ci || geteuid() == 0) {
      std::fprintf(stderr, "dataplane_tests: %s\n", error.c_str());
      return 1;
    }
    std::fprintf(stderr,
                 "dataplane_tests: %s; skipping every test (run as root or set UDPSIEVE_CI=1 "
                 "to make this an error)\n",
                 error.c_str());
    testing::AddGlobalTestEnvironment(new SkipAll("DPDK EAL unavailable: " + error));
    return RUN_ALL_TESTS();
  }
  const int rc = RUN_ALL_TESTS();
  udpsieve::test::stop_private_eal();
  return rc;
}
