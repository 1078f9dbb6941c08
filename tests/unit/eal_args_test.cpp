// The EAL command line built from the eal: section, and hugepage detection from sysfs.
#include "udpsieve/config/eal_args.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>

#include "support/temp_dir.hpp"

namespace {

using udpsieve::config::DaemonConfig;
using udpsieve::config::HugepageMode;
using udpsieve::config::HugepageStatus;
using udpsieve::config::plan_eal;
using udpsieve::test::TempDir;

DaemonConfig config_with(std::vector<std::string> devices) {
  DaemonConfig config = udpsieve::config::parse_daemon_config(
      "eal:\n  lcores: [0, 1, \"2@1\"]\n  file_prefix: pfx\n  memory_mb: 256\n"
      "ports:\n  - {name: a, device: x, forward_to: a}\n",
      "t.yaml", "/tmp");
  config.ports[0].device = devices[0];
  for (std::size_t i = 1; i < devices.size(); ++i) {
    config.ports.push_back(config.ports[0]);
    config.ports.back().device = devices[i];
  }
  return config;
}

bool has(const std::vector<std::string>& args, const std::string& a, const std::string& b = "") {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == a && (b.empty() || (i + 1 < args.size() && args[i + 1] == b))) return true;
  }
  return false;
}

constexpr HugepageStatus kPlenty{uint64_t{512} << 21, true};
constexpr HugepageStatus kNone{0, true};
constexpr HugepageStatus kUnmounted{uint64_t{512} << 21, false};

TEST(EalPlan, LcoresMainLcorePrefixAndLogLevel) {
  const auto plan = plan_eal(config_with({"net_null0"}), kPlenty);
  EXPECT_EQ(plan.args.front(), "udpsieved");
  EXPECT_TRUE(has(plan.args, "--lcores", "0,1,2@1"));
  EXPECT_TRUE(has(plan.args, "--main-lcore", "0"));
  EXPECT_TRUE(has(plan.args, "--file-prefix", "pfx"));
  EXPECT_TRUE(has(plan.args, "--log-level", "notice"));
}

TEST(EalPlan, HugepageModes) {
  DaemonConfig config = config_with({"net_null0"});
  auto plan = plan_eal(config, kPlenty);
  EXPECT_TRUE(plan.hugepages);
  EXPECT_FALSE(has(plan.args, "--no-huge"));

  for (const HugepageStatus& lacking : {kNone, kUnmounted}) {
    plan = plan_eal(config, lacking);  // auto falls back
    EXPECT_FALSE(plan.hugepages);
    EXPECT_TRUE(has(plan.args, "--no-huge"));
    EXPECT_TRUE(has(plan.args, "-m", "256"));
    EXPECT_NE(plan.note.find("falling back to --no-huge with 256 MB"), std::string::npos)
        << plan.note;
  }

  config.eal.hugepages = HugepageMode::off;
  plan = plan_eal(config, kPlenty);
  EXPECT_TRUE(has(plan.args, "--no-huge"));

  config.eal.hugepages = HugepageMode::required;
  EXPECT_TRUE(plan_eal(config, kPlenty).hugepages);
  try {
    (void)plan_eal(config, kNone);
    FAIL() << "required without pages must throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("nr_hugepages"), std::string::npos) << e.what();
  }
}

TEST(EalPlan, PciDevicesAreAllowListedAndVdevsKeepPciOff) {
  auto plan = plan_eal(config_with({"net_pcap0,rx_pcap=a.pcap", "net_null0"}), kPlenty);
  EXPECT_TRUE(has(plan.args, "--no-pci"));
  EXPECT_FALSE(has(plan.args, "-a"));

  plan = plan_eal(config_with({"0000:3b:00.0", "3b:00.1,rxq_cqe_comp_en=0", "net_null0"}), kPlenty);
  EXPECT_FALSE(has(plan.args, "--no-pci"));
  EXPECT_TRUE(has(plan.args, "-a", "0000:3b:00.0"));
  EXPECT_TRUE(has(plan.args, "-a", "3b:00.1,rxq_cqe_comp_en=0"));
  EXPECT_FALSE(has(plan.args, "-a", "net_null0"));
}

TEST(EalPlan, ExtraArgsComeLast) {
  DaemonConfig config = config_with({"net_null0"});
  config.eal.extra_args = {"--huge-unlink", "--iova-mode=va"};
  const auto plan = plan_eal(config, kPlenty);
  ASSERT_GE(plan.args.size(), 2U);
  EXPECT_EQ(plan.args[plan.args.size() - 2], "--huge-unlink");
  EXPECT_EQ(plan.args.back(), "--iova-mode=va");
}

TEST(EalPlan, PciAddressRecognition) {
  using udpsieve::config::is_pci_address;
  for (const char* yes : {"0000:3b:00.0", "3b:00.0", "0000:AF:1f.7", "3b:00.0,devarg=1"}) {
    EXPECT_TRUE(is_pci_address(yes)) << yes;
  }
  for (const char* no : {"net_pcap0", "net_null0,size=64", "3b:00", "3b:00.", "0000:3b:00.0x",
                         "zz:00.0", "00000:3b:00.0", ""}) {
    EXPECT_FALSE(is_pci_address(no)) << no;
  }
}

TEST(HugepageProbe, SumsFreePagesOfEverySizeAndFindsTheMount) {
  TempDir dir;
  dir.write("sys/hugepages-2048kB/free_hugepages", "100\n");
  dir.write("sys/hugepages-1048576kB/free_hugepages", "2\n");
  dir.write("sys/not-a-size/free_hugepages", "999\n");
  dir.write("mounts", "proc /proc proc rw 0 0\nnodev /dev/hugepages hugetlbfs rw,relatime 0 0\n");
  const HugepageStatus status =
      udpsieve::config::probe_hugepages(dir.file("sys"), dir.file("mounts"));
  EXPECT_EQ(status.free_bytes, (uint64_t{100} << 21) + (uint64_t{2} << 30));
  EXPECT_TRUE(status.hugetlbfs_mounted);

  dir.write("mounts2", "proc /proc proc rw 0 0\n");
  const HugepageStatus none =
      udpsieve::config::probe_hugepages(dir.file("missing"), dir.file("mounts2"));
  EXPECT_EQ(none.free_bytes, 0U);
  EXPECT_FALSE(none.hugetlbfs_mounted);
}

}  // namespace
