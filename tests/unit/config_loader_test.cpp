// The daemon config: the documented sample, defaults, path resolution, rule-file expansion, and
// every error line with its exact file:line:col and key path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"
#include "udpsieve/common/config_error.hpp"
#include "udpsieve/config/config.hpp"

namespace udpsieve::config {
namespace {

using udpsieve::test::TempDir;

constexpr const char* kName = "udpsieve.yaml";
constexpr const char* kBase = "/etc/udpsieve";

DaemonConfig parse(const std::string& yaml) {
  return parse_daemon_config(yaml, kName, kBase);
}

std::string error_of(const std::string& yaml) {
  return udpsieve::test::config_error_of([&] { (void)parse(yaml); });
}

// Lines 1-2: a valid eal section; '[' of lcores is at 2:11.
const std::string kEal = "eal:\n  lcores: [0, 1]\n";
// Lines 3-9 when it follows kEal: two valid ports.
const std::string kPorts =
    "ports:\n"
    "  - name: wan\n"
    "    device: \"0000:3b:00.0\"\n"
    "    forward_to: lan\n"
    "  - name: lan\n"
    "    device: \"0000:3b:00.1\"\n"
    "    forward_to: wan\n";
const std::string kValid = kEal + kPorts;  // sections added after it start at line 10

TEST(ConfigLoaderTest, ParsesTheDocumentedSample) {
  const DaemonConfig config = parse(R"(eal:
  lcores: [0, 1]            # required, >= 2 entries
  hugepages: auto           # auto | required | off (default auto)
  memory_mb: 512            # used when running without hugepages
  file_prefix: udpsieve     # DPDK --file-prefix
  extra_args: []            # optional list of strings passed to EAL verbatim
ports:                      # required, 1..kMaxPorts entries
  - name: wan               # required, unique
    device: "0000:3b:00.0"  # required, unique
    forward_to: lan         # required; name of a port (may be itself)
    rx_descriptors: 1024    # optional, power of two 64-16384, default 1024
    tx_descriptors: 1024    # same
  - name: lan
    device: "0000:3b:00.1"
    forward_to: wan
pipeline:                   # optional section
  default_action: forward   # forward | drop  (default forward)
  non_udp: forward          # forward | drop  (default forward)
  rules: [rules.d/*.yaml]   # a string or list of strings
control:                    # optional
  socket: /run/udpsieve/control.sock   # default
  stats_interval_ms: 100    # default 100, range 10-60000
logging:                    # optional
  level: info               # trace | debug | info | warn | error | critical | off
)");
  EXPECT_EQ(config.path, "udpsieve.yaml");
  EXPECT_EQ(config.base_dir, "/etc/udpsieve");
  ASSERT_EQ(config.eal.lcores.size(), 2u);
  EXPECT_EQ(config.eal.lcores[0].lcore, 0u);
  EXPECT_EQ(config.eal.lcores[0].cpu, 0u);
  EXPECT_EQ(config.eal.lcores[1].lcore, 1u);
  EXPECT_EQ(config.eal.lcores[1].cpu, 1u);
  EXPECT_EQ(config.eal.hugepages, HugepageMode::automatic);
  EXPECT_EQ(config.eal.memory_mb, 512u);
  EXPECT_EQ(config.eal.file_prefix, "udpsieve");
  EXPECT_TRUE(config.eal.extra_args.empty());

  ASSERT_EQ(config.ports.size(), 2u);
  EXPECT_EQ(config.ports[0].name, "wan");
  EXPECT_EQ(config.ports[0].device, "0000:3b:00.0");
  EXPECT_EQ(config.ports[0].forward_to, "lan");
  EXPECT_EQ(config.ports[0].forward_to_index, 1u);
  EXPECT_EQ(config.ports[0].rx_descriptors, 1024u);
  EXPECT_EQ(config.ports[0].tx_descriptors, 1024u);
  EXPECT_EQ(config.ports[0].where.to_string(), "udpsieve.yaml:8:5");
  EXPECT_EQ(config.ports[1].name, "lan");
  EXPECT_EQ(config.ports[1].forward_to_index, 0u);
  EXPECT_EQ(config.ports[1].where.to_string(), "udpsieve.yaml:13:5");
  EXPECT_EQ(config.port_names(), (std::vector<std::string>{"wan", "lan"}));

  EXPECT_EQ(config.pipeline.default_action, rules::Verdict::forward);
  EXPECT_EQ(config.pipeline.non_udp, rules::Verdict::forward);
  ASSERT_EQ(config.pipeline.rules.size(), 1u);
  EXPECT_EQ(config.pipeline.rules[0].pattern, "/etc/udpsieve/rules.d/*.yaml");
  EXPECT_EQ(config.pipeline.rules[0].where.to_string(), "udpsieve.yaml:19:11");
  EXPECT_EQ(config.pipeline.rules[0].key_path, "pipeline.rules[0]");
  EXPECT_EQ(config.control.socket, "/run/udpsieve/control.sock");
  EXPECT_EQ(config.control.stats_interval_ms, 100u);
  EXPECT_EQ(config.logging.level, "info");
}

TEST(ConfigLoaderTest, DefaultsForEverythingOptional) {
  const DaemonConfig config = parse(kValid);
  EXPECT_EQ(config.eal.hugepages, HugepageMode::automatic);
  EXPECT_EQ(config.eal.memory_mb, 512u);
  EXPECT_EQ(config.eal.file_prefix, "udpsieve");
  EXPECT_TRUE(config.eal.extra_args.empty());
  EXPECT_EQ(config.ports[0].rx_descriptors, 1024u);
  EXPECT_EQ(config.ports[0].tx_descriptors, 1024u);
  EXPECT_EQ(config.ports[0].mtu, 0u);  // the driver's default
  EXPECT_EQ(config.ports[0].rss, RssFields::ip_udp);
  EXPECT_FALSE(config.ports[0].rss_symmetric);
  EXPECT_EQ(config.pipeline.dynamic_max_rules, 100000u);
  EXPECT_EQ(config.pipeline.dynamic_state, "/var/lib/udpsieve/dynamic.json");
  EXPECT_EQ(config.pipeline.talker_sampling, 16u);
  EXPECT_EQ(config.pipeline.talker_max_sample_rate, 100000u);
  EXPECT_TRUE(config.control.admin_group.empty());
  EXPECT_EQ(config.pipeline.default_action, rules::Verdict::forward);
  EXPECT_EQ(config.pipeline.non_udp, rules::Verdict::forward);
  EXPECT_TRUE(config.pipeline.rules.empty());
  EXPECT_EQ(config.control.socket, "/run/udpsieve/control.sock");
  EXPECT_EQ(config.control.stats_interval_ms, 100u);
  EXPECT_EQ(config.control.socket_mode, 0660u);
  EXPECT_EQ(config.control.socket_group, "root");
  EXPECT_EQ(config.control.socket_gid, 0u);
  EXPECT_EQ(config.logging.level, "info");

  // Empty sections mean the same as absent ones.
  const DaemonConfig empty_sections = parse(kValid + "pipeline:\ncontrol: {}\nlogging:\n");
  EXPECT_TRUE(empty_sections.pipeline.rules.empty());
  EXPECT_EQ(empty_sections.control.socket, "/run/udpsieve/control.sock");
}

TEST(ConfigLoaderTest, ParsesEveryNonDefault) {
  const DaemonConfig config = parse(R"(eal:
  lcores: [3, "4@1", 5@2, 6@6]
  hugepages: off
  memory_mb: 65536
  file_prefix: test_Run-1
  extra_args: ["--log-level=lib.eal:debug", --no-telemetry]
ports:
  - name: wan
    device: "net_pcap0,rx_pcap=in.pcap,tx_pcap=/var/out.pcap"
    forward_to: lan
    rx_descriptors: 64
    tx_descriptors: 16384
  - name: lan
    device: net_ring0
    forward_to: lan
pipeline:
  default_action: drop
  non_udp: drop
  rules: 10-base.yaml
control:
  socket: run/ctl.sock
  stats_interval_ms: 60000
logging:
  level: critical
)");
  ASSERT_EQ(config.eal.lcores.size(), 4u);
  const unsigned want[4][2] = {{3, 3}, {4, 1}, {5, 2}, {6, 6}};
  const char* const want_text[4] = {"3", "4@1", "5@2", "6"};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(config.eal.lcores[i].lcore, want[i][0]) << i;
    EXPECT_EQ(config.eal.lcores[i].cpu, want[i][1]) << i;
    EXPECT_EQ(config.eal.lcores[i].to_string(), want_text[i]) << i;
  }
  EXPECT_EQ(config.eal.hugepages, HugepageMode::off);
  EXPECT_EQ(config.eal.memory_mb, 65536u);
  EXPECT_EQ(config.eal.file_prefix, "test_Run-1");
  EXPECT_EQ(config.eal.extra_args,
            (std::vector<std::string>{"--log-level=lib.eal:debug", "--no-telemetry"}));
  EXPECT_EQ(config.ports[0].device,
            "net_pcap0,rx_pcap=/etc/udpsieve/in.pcap,tx_pcap=/var/out.pcap");
  EXPECT_EQ(config.ports[0].rx_descriptors, 64u);
  EXPECT_EQ(config.ports[0].tx_descriptors, 16384u);
  EXPECT_EQ(config.ports[1].device, "net_ring0");
  EXPECT_EQ(config.ports[1].forward_to_index, 1u);  // a port may forward to itself
  EXPECT_EQ(config.pipeline.default_action, rules::Verdict::drop);
  EXPECT_EQ(config.pipeline.non_udp, rules::Verdict::drop);
  ASSERT_EQ(config.pipeline.rules.size(), 1u);  // a single string is a one-entry list
  EXPECT_EQ(config.pipeline.rules[0].pattern, "/etc/udpsieve/10-base.yaml");
  EXPECT_EQ(config.pipeline.rules[0].key_path, "pipeline.rules");
  EXPECT_EQ(config.control.socket, "/etc/udpsieve/run/ctl.sock");
  EXPECT_EQ(config.control.stats_interval_ms, 60000u);
  EXPECT_EQ(config.logging.level, "critical");
}

TEST(ConfigLoaderTest, SocketModeAndGroup) {
  // Octal with or without the leading zero; quoted or not. The group is looked up by name
  // (every Linux system has a "root" group with gid 0 and a "daemon" group).
  const std::pair<const char*, unsigned> modes[] = {
      {"\"0600\"", 0600}, {"660", 0660}, {"0666", 0666}, {"\"000\"", 0}};
  for (const auto& [text, mode] : modes) {
    const DaemonConfig config = parse(kValid + "control:\n  socket_mode: " + text + "\n");
    EXPECT_EQ(config.control.socket_mode, mode) << text;
  }
  const DaemonConfig config = parse(kValid + "control:\n  socket_group: daemon\n");
  EXPECT_EQ(config.control.socket_group, "daemon");
  EXPECT_EQ(config.control.socket_gid, 1u);  // Debian's base-passwd fixes daemon at gid 1
}

TEST(ConfigLoaderTest, HugepageModesAndLogLevels) {
  const std::pair<const char*, HugepageMode> modes[] = {{"auto", HugepageMode::automatic},
                                                        {"required", HugepageMode::required},
                                                        {"off", HugepageMode::off}};
  for (const auto& [word, mode] : modes) {
    const std::string yaml =
        "eal:\n  lcores: [0, 1]\n  hugepages: " + std::string(word) + "\n" + kPorts;
    EXPECT_EQ(parse(yaml).eal.hugepages, mode) << word;
  }
  for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    EXPECT_EQ(parse(kValid + "logging:\n  level: " + level + "\n").logging.level, level);
  }
}

struct PathCase {
  const char* written;
  const char* resolved;
};

TEST(ConfigLoaderTest, RelativePathsResolveAgainstBaseDir) {
  const PathCase sockets[] = {
      {"ctl.sock", "/etc/udpsieve/ctl.sock"},
      {"./run/ctl.sock", "/etc/udpsieve/run/ctl.sock"},
      {"../run/ctl.sock", "/etc/run/ctl.sock"},
      {"/run/x.sock", "/run/x.sock"},
  };
  for (const PathCase& c : sockets) {
    EXPECT_EQ(parse(kValid + "control:\n  socket: " + c.written + "\n").control.socket, c.resolved);
  }
  const PathCase devices[] = {
      {"net_pcap0,rx_pcap=in.pcap", "net_pcap0,rx_pcap=/etc/udpsieve/in.pcap"},
      {"net_pcap0,rx_pcap=caps/in.pcap,tx_pcap=../out.pcap",
       "net_pcap0,rx_pcap=/etc/udpsieve/caps/in.pcap,tx_pcap=/etc/out.pcap"},
      {"net_pcap0,rx_pcap=/abs/in.pcap,tx_pcap=/abs/out.pcap",
       "net_pcap0,rx_pcap=/abs/in.pcap,tx_pcap=/abs/out.pcap"},
      {"net_pcap0,iface=eth0", "net_pcap0,iface=eth0"},
      {"net_pcap0,rx_iface=eth0,tx_pcap=out.pcap",
       "net_pcap0,rx_iface=eth0,tx_pcap=/etc/udpsieve/out.pcap"},
      {"net_null0", "net_null0"},
      {"0000:3b:00.0", "0000:3b:00.0"},
      {"0000:3b:00.0,rxq_cqe_comp_en=0", "0000:3b:00.0,rxq_cqe_comp_en=0"},
  };
  for (const PathCase& c : devices) {
    const std::string yaml = kEal +
                             "ports:\n"
                             "  - name: p\n"
                             "    device: \"" +
                             c.written +
                             "\"\n"
                             "    forward_to: p\n";
    EXPECT_EQ(parse(yaml).ports[0].device, c.resolved) << c.written;
  }
  const DaemonConfig rules =
      parse(kValid + "pipeline:\n  rules: [a.yaml, /abs/b.yaml, d/../c/*.yaml]\n");
  ASSERT_EQ(rules.pipeline.rules.size(), 3u);
  EXPECT_EQ(rules.pipeline.rules[0].pattern, "/etc/udpsieve/a.yaml");
  EXPECT_EQ(rules.pipeline.rules[1].pattern, "/abs/b.yaml");
  EXPECT_EQ(rules.pipeline.rules[2].pattern, "/etc/udpsieve/c/*.yaml");
  EXPECT_EQ(rules.pipeline.rules[2].key_path, "pipeline.rules[2]");
  EXPECT_EQ(rules.pipeline.rules[2].where.to_string(), "udpsieve.yaml:11:32");
}

TEST(ConfigLoaderTest, MaxPortsAccepted) {
  std::string yaml = kEal + "ports:\n";
  for (std::size_t i = 0; i < kMaxPorts; ++i) {
    const std::string n = std::to_string(i);
    yaml += "  - {name: p" + n + ", device: net_null" + n + ", forward_to: p0}\n";
  }
  EXPECT_EQ(parse(yaml).ports.size(), kMaxPorts);
}

struct ErrorCase {
  const char* description;
  std::string yaml;
  std::string error;
};

const std::string kUnknownTop =
    "unknown key (expected one of: eal, ports, sets, pipeline, control, logging)";
const std::string kLcoreSyntax = "; write N, or \"L@C\" for lcore L on CPU C";

std::string many_ports(std::size_t count) {
  std::string yaml = kEal + "ports:\n";
  for (std::size_t i = 0; i < count; ++i) {
    const std::string n = std::to_string(i);
    yaml += "  - {name: p" + n + ", device: net_null" + n + ", forward_to: p0}\n";
  }
  return yaml;
}

const ErrorCase kErrorCases[] = {
    // --- the document ---
    {"empty file", "", "udpsieve.yaml: the configuration is empty; eal and ports are required"},
    {"only comments", "# todo\n",
     "udpsieve.yaml: the configuration is empty; eal and ports are required"},
    {"top level is a list", "- eal\n", "udpsieve.yaml:1:1: expected a mapping, got a list"},
    {"top level is a scalar", "udpsieve\n",
     "udpsieve.yaml:1:1: expected a mapping, got 'udpsieve'"},
    {"unknown top-level key", kValid + "pipelines:\n  non_udp: drop\n",
     "udpsieve.yaml:10:1: pipelines: " + kUnknownTop},
    {"top-level key twice", kValid + "eal:\n  lcores: [0, 1]\n",
     "udpsieve.yaml:10:1: eal: key given twice"},
    {"YAML syntax error", "eal:\n  lcores: [0, 1\nports: []\n",
     "udpsieve.yaml:3:6: YAML syntax error: did not find expected ',' or ']' (while parsing a "
     "flow sequence starting at 2:11)"},
    {"eal missing", kPorts, "udpsieve.yaml:1:1: eal: required key is missing"},
    {"ports missing", kEal, "udpsieve.yaml:1:1: ports: required key is missing"},
    {"ports empty key", kEal + "ports:\n", "udpsieve.yaml:1:1: ports: required key is missing"},

    // --- eal ---
    {"eal is a list", "eal: [0, 1]\n" + kPorts,
     "udpsieve.yaml:1:6: eal: expected a mapping, got a list"},
    {"unknown eal key", "eal:\n  lcore: [0, 1]\n" + kPorts,
     "udpsieve.yaml:2:3: eal.lcore: unknown key (expected one of: lcores, hugepages, memory_mb, "
     "mbufs, file_prefix, extra_args)"},
    {"mbufs too few", "eal:\n  lcores: [0, 1]\n  mbufs: 512\n" + kPorts,
     "udpsieve.yaml:3:10: eal.mbufs: 512 is out of range 1023-16777215"},
    {"lcores missing", "eal:\n  hugepages: auto\n" + kPorts,
     "udpsieve.yaml:2:3: eal.lcores: required key is missing"},
    {"one lcore", "eal:\n  lcores: [0]\n" + kPorts,
     "udpsieve.yaml:2:11: eal.lcores: needs at least two lcores: the first runs the control "
     "thread, each further one a worker"},
    {"no lcores", "eal:\n  lcores: []\n" + kPorts,
     "udpsieve.yaml:2:11: eal.lcores: needs at least two lcores: the first runs the control "
     "thread, each further one a worker"},
    {"lcores a scalar", "eal:\n  lcores: 3\n" + kPorts,
     "udpsieve.yaml:2:11: eal.lcores: needs at least two lcores: the first runs the control "
     "thread, each further one a worker"},
    {"lcore out of range", "eal:\n  lcores: [0, 128]\n" + kPorts,
     "udpsieve.yaml:2:15: eal.lcores[1]: lcore 128 is out of range 0-127"},
    {"lcore out of range with a CPU", "eal:\n  lcores: [0, \"200@1\"]\n" + kPorts,
     "udpsieve.yaml:2:15: eal.lcores[1]: lcore 200 is out of range 0-127"},
    {"CPU out of range", "eal:\n  lcores: [0, \"2@5000\"]\n" + kPorts,
     "udpsieve.yaml:2:15: eal.lcores[1]: CPU 5000 is out of range 0-1023"},
    {"lcore not a number", "eal:\n  lcores: [0, two]\n" + kPorts,
     "udpsieve.yaml:2:15: eal.lcores[1]: 'two' is not an lcore" + kLcoreSyntax},
    {"lcore with a bad CPU", "eal:\n  lcores: [0, \"2@x\"]\n" + kPorts,
     "udpsieve.yaml:2:15: eal.lcores[1]: '2@x' is not an lcore" + kLcoreSyntax},
    {"lcore with no CPU", "eal:\n  lcores: [0, \"2@\"]\n" + kPorts,
     "udpsieve.yaml:2:15: eal.lcores[1]: '2@' is not an lcore" + kLcoreSyntax},
    {"negative lcore", "eal:\n  lcores: [0, -1]\n" + kPorts,
     "udpsieve.yaml:2:15: eal.lcores[1]: '-1' is not an lcore" + kLcoreSyntax},
    {"DPDK range syntax", "eal:\n  lcores: [0, 1-3]\n" + kPorts,
     "udpsieve.yaml:2:15: eal.lcores[1]: '1-3' is not an lcore" + kLcoreSyntax},
    {"lcore is a list", "eal:\n  lcores: [0, [1]]\n" + kPorts,
     "udpsieve.yaml:2:15: eal.lcores[1]: expected a single value, got a list"},
    {"duplicate lcore", "eal:\n  lcores: [0, 1, \"1@3\"]\n" + kPorts,
     "udpsieve.yaml:2:18: eal.lcores[2]: lcore 1 is listed twice (first at udpsieve.yaml:2:15)"},
    {"bad hugepages", "eal:\n  lcores: [0, 1]\n  hugepages: yes\n" + kPorts,
     "udpsieve.yaml:3:14: eal.hugepages: 'yes' is not one of: auto | required | off"},
    {"memory too small", "eal:\n  lcores: [0, 1]\n  memory_mb: 32\n" + kPorts,
     "udpsieve.yaml:3:14: eal.memory_mb: 32 is out of range 64-65536"},
    {"memory too big", "eal:\n  lcores: [0, 1]\n  memory_mb: 65537\n" + kPorts,
     "udpsieve.yaml:3:14: eal.memory_mb: 65537 is out of range 64-65536"},
    {"memory not a number", "eal:\n  lcores: [0, 1]\n  memory_mb: 1G\n" + kPorts,
     "udpsieve.yaml:3:14: eal.memory_mb: expected a whole number, got '1G'"},
    {"file prefix with a slash", "eal:\n  lcores: [0, 1]\n  file_prefix: a/b\n" + kPorts,
     "udpsieve.yaml:3:16: eal.file_prefix: file prefix \"a/b\" contains '/'; use only letters, "
     "digits, _ and -"},
    {"file prefix too long",
     "eal:\n  lcores: [0, 1]\n  file_prefix: " + std::string(65, 'f') + "\n" + kPorts,
     "udpsieve.yaml:3:16: eal.file_prefix: file prefix is 65 characters long; at most 64 are "
     "allowed"},
    {"file prefix empty", "eal:\n  lcores: [0, 1]\n  file_prefix: ''\n" + kPorts,
     "udpsieve.yaml:3:16: eal.file_prefix: must not be empty"},
    {"extra_args a string", "eal:\n  lcores: [0, 1]\n  extra_args: --no-pci\n" + kPorts,
     "udpsieve.yaml:3:15: eal.extra_args: expected a list, got '--no-pci'"},
    {"extra_args entry a mapping", "eal:\n  lcores: [0, 1]\n  extra_args: [{a: b}]\n" + kPorts,
     "udpsieve.yaml:3:16: eal.extra_args[0]: expected a single value, got a mapping"},
    {"extra_args entry empty", "eal:\n  lcores: [0, 1]\n  extra_args: [\"\"]\n" + kPorts,
     "udpsieve.yaml:3:16: eal.extra_args[0]: must not be empty"},

    // --- ports ---
    {"ports a number", kEal + "ports: 5\n", "udpsieve.yaml:3:8: ports: expected a list, got '5'"},
    {"ports a mapping", kEal + "ports:\n  wan: {}\n",
     "udpsieve.yaml:4:3: ports: expected a list, got a mapping"},
    {"no ports", kEal + "ports: []\n", "udpsieve.yaml:3:8: ports: at least one port is required"},
    {"too many ports", many_ports(kMaxPorts + 1),
     "udpsieve.yaml:4:3: ports: 33 ports given; at most 32 are supported"},
    {"port a scalar", kEal + "ports:\n  - wan\n",
     "udpsieve.yaml:4:5: ports[0]: expected a mapping, got 'wan'"},
    {"unknown port key",
     kEal + "ports:\n"
            "  - name: wan\n"
            "    device: net_null0\n"
            "    forward_to: wan\n"
            "    speed: 10G\n",
     "udpsieve.yaml:7:5: ports[0].speed: unknown key (expected one of: name, device, forward_to, "
     "rx_descriptors, tx_descriptors, mtu, rss, rss_symmetric, offload, isolate)"},
    {"rss not a choice",
     kEal + "ports:\n"
            "  - name: wan\n"
            "    device: net_null0\n"
            "    forward_to: wan\n"
            "    rss: l4\n",
     "udpsieve.yaml:7:10: ports[0].rss: 'l4' is not one of: ip | ip_udp"},
    {"rss_symmetric not a boolean",
     kEal + "ports:\n"
            "  - name: wan\n"
            "    device: net_null0\n"
            "    forward_to: wan\n"
            "    rss_symmetric: maybe\n",
     "udpsieve.yaml:7:20: ports[0].rss_symmetric: expected true or false, got 'maybe'"},
    {"name missing",
     kEal + "ports:\n"
            "  - device: net_null0\n"
            "    forward_to: wan\n",
     "udpsieve.yaml:4:5: ports[0].name: required key is missing"},
    {"device missing",
     kEal + "ports:\n"
            "  - name: wan\n"
            "    forward_to: wan\n",
     "udpsieve.yaml:4:5: ports[0].device: required key is missing"},
    {"forward_to missing",
     kEal + "ports:\n"
            "  - name: wan\n"
            "    device: net_null0\n",
     "udpsieve.yaml:4:5: ports[0].forward_to: required key is missing"},
    {"name with a dot",
     kEal + "ports:\n"
            "  - name: w.an\n"
            "    device: net_null0\n"
            "    forward_to: wan\n",
     "udpsieve.yaml:4:11: ports[0].name: port name \"w.an\" contains '.'; use only letters, "
     "digits, _ and -"},
    {"name too long",
     kEal +
         "ports:\n"
         "  - name: " +
         std::string(33, 'n') +
         "\n"
         "    device: net_null0\n"
         "    forward_to: wan\n",
     "udpsieve.yaml:4:11: ports[0].name: port name is 33 characters long; at most 32 are allowed"},
    {"device empty",
     kEal + "ports:\n"
            "  - name: wan\n"
            "    device: \"\"\n"
            "    forward_to: wan\n",
     "udpsieve.yaml:5:13: ports[0].device: must not be empty"},
    {"duplicate port name",
     kEal + "ports:\n"
            "  - name: wan\n"
            "    device: net_null0\n"
            "    forward_to: wan\n"
            "  - name: wan\n"
            "    device: net_null1\n"
            "    forward_to: wan\n",
     "udpsieve.yaml:7:11: ports[1].name: duplicate port name \"wan\" (first defined at "
     "udpsieve.yaml:4:11)"},
    {"duplicate device",
     kEal + "ports:\n"
            "  - name: wan\n"
            "    device: \"0000:3b:00.0\"\n"
            "    forward_to: lan\n"
            "  - name: lan\n"
            "    device: \"0000:3b:00.0\"\n"
            "    forward_to: wan\n",
     "udpsieve.yaml:8:13: ports[1].device: device \"0000:3b:00.0\" is already used by port \"wan\" "
     "(at udpsieve.yaml:5:13)"},
    {"duplicate vdev name with other arguments",
     kEal + "ports:\n"
            "  - name: wan\n"
            "    device: net_pcap0,rx_pcap=a.pcap\n"
            "    forward_to: lan\n"
            "  - name: lan\n"
            "    device: net_pcap0,rx_pcap=b.pcap\n"
            "    forward_to: wan\n",
     "udpsieve.yaml:8:13: ports[1].device: device \"net_pcap0\" is already used by port \"wan\" "
     "(at udpsieve.yaml:5:13)"},
    {"forward_to an unknown port",
     kEal + "ports:\n"
            "  - name: wan\n"
            "    device: net_null0\n"
            "    forward_to: lan\n"
            "  - name: lan\n"
            "    device: net_null1\n"
            "    forward_to: dmz\n",
     "udpsieve.yaml:9:17: ports[1].forward_to: unknown port \"dmz\" (ports are: wan, lan)"},
    {"forward_to a list",
     kEal + "ports:\n"
            "  - name: wan\n"
            "    device: net_null0\n"
            "    forward_to: [wan]\n",
     "udpsieve.yaml:6:17: ports[0].forward_to: expected a single value, got a list"},
    {"rx_descriptors not a power of two",
     kEal + "ports:\n"
            "  - name: wan\n"
            "    device: net_null0\n"
            "    forward_to: wan\n"
            "    rx_descriptors: 1000\n",
     "udpsieve.yaml:7:21: ports[0].rx_descriptors: 1000 is not a power of two"},
    {"rx_descriptors too small",
     kEal + "ports:\n"
            "  - name: wan\n"
            "    device: net_null0\n"
            "    forward_to: wan\n"
            "    rx_descriptors: 32\n",
     "udpsieve.yaml:7:21: ports[0].rx_descriptors: 32 is out of range 64-16384"},
    {"mtu too small",
     kEal + "ports:\n"
            "  - name: wan\n"
            "    device: net_null0\n"
            "    forward_to: wan\n"
            "    mtu: 67\n",
     "udpsieve.yaml:7:10: ports[0].mtu: 67 is out of range 68-9600"},
    {"mtu too big",
     kEal + "ports:\n"
            "  - name: wan\n"
            "    device: net_null0\n"
            "    forward_to: wan\n"
            "    mtu: 9601\n",
     "udpsieve.yaml:7:10: ports[0].mtu: 9601 is out of range 68-9600"},
    {"tx_descriptors too big",
     kEal + "ports:\n"
            "  - name: wan\n"
            "    device: net_null0\n"
            "    forward_to: wan\n"
            "    tx_descriptors: 32768\n",
     "udpsieve.yaml:7:21: ports[0].tx_descriptors: 32768 is out of range 64-16384"},

    // --- pipeline ---
    {"pipeline a list", kValid + "pipeline: [drop]\n",
     "udpsieve.yaml:10:11: pipeline: expected a mapping, got a list"},
    {"unknown pipeline key", kValid + "pipeline:\n  default: drop\n",
     "udpsieve.yaml:11:3: pipeline.default: unknown key (expected one of: default_action, "
     "non_udp, rules, dynamic_max_rules, dynamic_state, per_source_entries, talker_sampling, "
     "talker_max_sample_rate)"},
    {"talker_sampling too large", kValid + "pipeline:\n  talker_sampling: 1048577\n",
     "udpsieve.yaml:11:20: pipeline.talker_sampling: 1048577 is out of range 0-1048576"},
    {"talker_sampling negative", kValid + "pipeline:\n  talker_sampling: -1\n",
     "udpsieve.yaml:11:20: pipeline.talker_sampling: expected a whole number, got '-1'"},
    {"talker_max_sample_rate too low", kValid + "pipeline:\n  talker_max_sample_rate: 999\n",
     "udpsieve.yaml:11:27: pipeline.talker_max_sample_rate: 999 is too low: 0 (no bound) or 1000 "
     "to 100000000 samples a second"},
    {"talker_max_sample_rate too high", kValid + "pipeline:\n  talker_max_sample_rate: 100000001\n",
     "udpsieve.yaml:11:27: pipeline.talker_max_sample_rate: 100000001 is out of range "
     "0-100000000"},
    {"dynamic twice", kValid + "pipeline:\n  rules: [dynamic, a.yaml, dynamic]\n",
     "udpsieve.yaml:11:28: pipeline.rules[2]: dynamic is listed twice (first at "
     "pipeline.rules[0]); runtime rules have one place in first-match order"},
    {"dynamic_max_rules zero", kValid + "pipeline:\n  dynamic_max_rules: 0\n",
     "udpsieve.yaml:11:22: pipeline.dynamic_max_rules: 0 is out of range 1-1000000"},
    {"dynamic_state empty", kValid + "pipeline:\n  dynamic_state: \"\"\n",
     "udpsieve.yaml:11:18: pipeline.dynamic_state: must not be empty"},
    {"bad default_action", kValid + "pipeline:\n  default_action: reject\n",
     "udpsieve.yaml:11:19: pipeline.default_action: 'reject' is not one of: forward | drop"},
    {"bad non_udp", kValid + "pipeline:\n  non_udp: pass\n",
     "udpsieve.yaml:11:12: pipeline.non_udp: 'pass' is not one of: forward | drop"},
    {"rules entry empty", kValid + "pipeline:\n  rules: [a.yaml, \"\"]\n",
     "udpsieve.yaml:11:19: pipeline.rules[1]: must not be empty"},
    {"rules entry a mapping", kValid + "pipeline:\n  rules: [{file: a.yaml}]\n",
     "udpsieve.yaml:11:11: pipeline.rules[0]: expected a single value, got a mapping"},
    {"rules a mapping", kValid + "pipeline:\n  rules: {file: a.yaml}\n",
     "udpsieve.yaml:11:10: pipeline.rules: expected a single value, got a mapping"},

    // --- control and logging ---
    {"control a scalar", kValid + "control: /run/x.sock\n",
     "udpsieve.yaml:10:10: control: expected a mapping, got '/run/x.sock'"},
    {"unknown control key", kValid + "control:\n  path: /run/x.sock\n",
     "udpsieve.yaml:11:3: control.path: unknown key (expected one of: socket, "
     "stats_interval_ms, socket_mode, socket_group, metrics_listen, admin_group)"},
    {"unknown admin group", kValid + "control:\n  admin_group: no-such-group-here\n",
     "udpsieve.yaml:11:16: control.admin_group: no group named 'no-such-group-here' on this "
     "system; create it (groupadd no-such-group-here) or name another"},
    {"socket mode not octal", kValid + "control:\n  socket_mode: \"0680\"\n",
     "udpsieve.yaml:11:16: control.socket_mode: '0680' is not a file mode; write three octal "
     "digits, e.g. \"0660\""},
    {"socket mode too long", kValid + "control:\n  socket_mode: 10660\n",
     "udpsieve.yaml:11:16: control.socket_mode: '10660' is not a file mode; write three octal "
     "digits, e.g. \"0660\""},
    {"socket group unknown", kValid + "control:\n  socket_group: no-such-group-here\n",
     "udpsieve.yaml:11:17: control.socket_group: no group named 'no-such-group-here' on this "
     "system; create it (groupadd no-such-group-here) or name another"},
    {"socket empty", kValid + "control:\n  socket: ''\n",
     "udpsieve.yaml:11:11: control.socket: must not be empty"},
    {"stats interval too short", kValid + "control:\n  stats_interval_ms: 5\n",
     "udpsieve.yaml:11:22: control.stats_interval_ms: 5 is out of range 10-60000"},
    {"stats interval too long", kValid + "control:\n  stats_interval_ms: 60001\n",
     "udpsieve.yaml:11:22: control.stats_interval_ms: 60001 is out of range 10-60000"},
    {"stats interval negative", kValid + "control:\n  stats_interval_ms: -100\n",
     "udpsieve.yaml:11:22: control.stats_interval_ms: expected a whole number, got '-100'"},
    {"metrics_listen not loopback", kValid + "control:\n  metrics_listen: 0.0.0.0:9917\n",
     "udpsieve.yaml:11:19: control.metrics_listen: 0.0.0.0 is not a loopback address; only "
     "127.0.0.0/8 and ::1 are accepted (the endpoint has no authentication: publish it further "
     "through a reverse proxy)"},
    {"metrics_listen IPv6 not loopback", kValid + "control:\n  metrics_listen: \"[fe80::1]:80\"\n",
     "udpsieve.yaml:11:19: control.metrics_listen: fe80::1 is not a loopback address; only "
     "127.0.0.0/8 and ::1 are accepted (the endpoint has no authentication: publish it further "
     "through a reverse proxy)"},
    {"metrics_listen host name", kValid + "control:\n  metrics_listen: localhost:9917\n",
     "udpsieve.yaml:11:19: control.metrics_listen: 'localhost' is not an IPv4 address; write the "
     "address, e.g. 127.0.0.1"},
    {"metrics_listen without port", kValid + "control:\n  metrics_listen: 127.0.0.1\n",
     "udpsieve.yaml:11:19: control.metrics_listen: '127.0.0.1' is not ADDRESS:PORT; write e.g. "
     "\"127.0.0.1:9917\" or \"[::1]:9917\""},
    {"metrics_listen port 0", kValid + "control:\n  metrics_listen: 127.0.0.1:0\n",
     "udpsieve.yaml:11:19: control.metrics_listen: port '0' is not a number in 1-65535"},
    {"metrics_listen port too big", kValid + "control:\n  metrics_listen: 127.0.0.1:65536\n",
     "udpsieve.yaml:11:19: control.metrics_listen: port '65536' is not a number in 1-65535"},
    {"metrics_listen IPv6 without brackets", kValid + "control:\n  metrics_listen: \"::1:9917\"\n",
     "udpsieve.yaml:11:19: control.metrics_listen: '::1:9917': an IPv6 address goes in brackets, "
     "e.g. \"[::1]:9917\""},
    {"metrics_listen empty", kValid + "control:\n  metrics_listen: ''\n",
     "udpsieve.yaml:11:19: control.metrics_listen: must not be empty"},
    {"unknown logging key", kValid + "logging:\n  file: /var/log/x\n",
     "udpsieve.yaml:11:3: logging.file: unknown key (expected one of: level)"},
    {"bad log level", kValid + "logging:\n  level: verbose\n",
     "udpsieve.yaml:11:10: logging.level: 'verbose' is not one of: trace | debug | info | warn | "
     "error | critical | off"},
};

TEST(ConfigLoaderTest, ErrorMessages) {
  for (const ErrorCase& c : kErrorCases) {
    EXPECT_EQ(error_of(c.yaml), c.error) << c.description << "\n" << c.yaml;
  }
}

TEST(ConfigLoaderTest, MetricsListenTakesLoopbackAddresses) {
  EXPECT_FALSE(parse(kValid).control.metrics_listen.has_value());
  const struct {
    const char* text;
    const char* host;
    uint16_t port;
    bool ipv6;
  } cases[] = {{"127.0.0.1:9917", "127.0.0.1", 9917, false},
               {"127.1.2.3:1", "127.1.2.3", 1, false},
               {"\"[::1]:65535\"", "::1", 65535, true},
               {"\"[0:0:0:0:0:0:0:1]:9917\"", "0:0:0:0:0:0:0:1", 9917, true}};
  for (const auto& c : cases) {
    const DaemonConfig config = parse(kValid + "control:\n  metrics_listen: " + c.text + "\n");
    ASSERT_TRUE(config.control.metrics_listen.has_value()) << c.text;
    EXPECT_EQ(config.control.metrics_listen->host, c.host);
    EXPECT_EQ(config.control.metrics_listen->port, c.port);
    EXPECT_EQ(config.control.metrics_listen->ipv6, c.ipv6);
  }
  EXPECT_EQ(udpsieve::config::parse_loopback_address("[::1]:80").to_string(), "[::1]:80");
  EXPECT_EQ(udpsieve::config::parse_loopback_address("127.0.0.1:80").to_string(), "127.0.0.1:80");
}

TEST(ConfigLoaderTest, LoadFileSetsPathAndBaseDir) {
  const TempDir dir;
  const std::string path =
      dir.write("etc/udpsieve.yaml", kValid + "control:\n  socket: ctl.sock\n");
  const DaemonConfig config = load_daemon_config(path);
  EXPECT_EQ(config.path, path);
  EXPECT_EQ(config.base_dir, dir.file("etc"));
  EXPECT_EQ(config.control.socket, dir.file("etc/ctl.sock"));
  EXPECT_EQ(config.ports[0].where.to_string(), path + ":4:5");
}

TEST(ConfigLoaderTest, LoadFileErrors) {
  const TempDir dir;
  const std::string missing = dir.file("missing.yaml");
  try {
    (void)load_daemon_config(missing);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), missing + ": cannot open file: No such file or directory");
  }
  const std::string broken = dir.write("broken.yaml", "eal:\n  lcores: [0, 1\n");
  try {
    (void)load_daemon_config(broken);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              broken +
                  ":3:1: YAML syntax error: did not find expected ',' or ']' (while parsing a "
                  "flow sequence starting at 2:11)");
  }
  const std::string bad = dir.write("bad.yaml", kEal + "ports: 5\n");
  try {
    (void)load_daemon_config(bad);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), bad + ":3:8: ports: expected a list, got '5'");
  }
}

/// A config in `dir` whose pipeline.rules is `rules_yaml` (pipeline.rules starts at line 11).
std::string write_config(const TempDir& dir, const std::string& rules_yaml) {
  return dir.write("udpsieve.yaml", kValid + "pipeline:\n  rules: " + rules_yaml + "\n");
}

const std::string kRule = "rules:\n  - id: R\n    action: drop\n";

std::string rule_file(const std::string& id) {
  return "rules:\n  - id: " + id + "\n    action: drop\n";
}

TEST(ConfigLoaderTest, ResolveRuleFilesSortsGlobsAndDedupes) {
  const TempDir dir;
  for (const char* name : {"b.yaml", "a.yaml", "C.yaml", "10.yaml"}) {
    (void)dir.write(std::string("rules.d/") + name, rule_file(name));
  }
  (void)dir.write("rules.d/notes.txt", "not yaml");
  dir.mkdir("rules.d/sub.yaml");  // a directory matching the glob is skipped
  dir.mkdir("empty.d");
  const std::string path = write_config(
      dir,
      "[rules.d/b.yaml, \"rules.d/*.yaml\", ./rules.d/a.yaml, empty.d/*.yaml, rules.d/b.yaml]");
  const RuleFiles files = resolve_rule_files(load_daemon_config(path));
  EXPECT_EQ(files.files,
            (std::vector<std::string>{dir.file("rules.d/b.yaml"), dir.file("rules.d/10.yaml"),
                                      dir.file("rules.d/C.yaml"), dir.file("rules.d/a.yaml")}));
  EXPECT_EQ(files.warnings, (std::vector<std::string>{path +
                                                      ":11:63: pipeline.rules[3]: no files "
                                                      "match " +
                                                      dir.file("empty.d/*.yaml")}));
}

TEST(ConfigLoaderTest, ResolveRuleFilesDedupesThroughSymlinks) {
  const TempDir dir;
  (void)dir.write("rules/a.yaml", rule_file("a"));
  std::filesystem::create_directory_symlink(dir.file("rules"), dir.file("link"));
  const std::string path = write_config(dir, "[link/a.yaml, rules/*.yaml]");
  EXPECT_EQ(resolve_rule_files(load_daemon_config(path)).files,
            std::vector<std::string>{dir.file("link/a.yaml")});
}

TEST(ConfigLoaderTest, ResolveRuleFilesWithNothingToLoad) {
  const TempDir dir;
  const RuleFiles none = resolve_rule_files(load_daemon_config(dir.write("u.yaml", kValid)));
  EXPECT_TRUE(none.files.empty());
  EXPECT_TRUE(none.warnings.empty());

  const std::string path = write_config(dir, "rules.d/*.yaml");  // no rules.d at all
  const RuleFiles missing_dir = resolve_rule_files(load_daemon_config(path));
  EXPECT_TRUE(missing_dir.files.empty());
  EXPECT_EQ(missing_dir.warnings,
            (std::vector<std::string>{path + ":11:10: pipeline.rules: no files match " +
                                      dir.file("rules.d/*.yaml")}));
}

TEST(ConfigLoaderTest, ResolveRuleFilesErrors) {
  const TempDir dir;
  (void)dir.write("a.yaml", kRule);
  dir.mkdir("rules.d");
  struct Case {
    const char* rules;
    std::string error;
  };
  const std::string path = dir.file("udpsieve.yaml");
  const Case cases[] = {
      {"[a.yaml, missing.yaml]",
       path + ":11:19: pipeline.rules[1]: no such file: " + dir.file("missing.yaml")},
      {"/nonexistent/udpsieve/r.yaml",
       path + ":11:10: pipeline.rules: no such file: /nonexistent/udpsieve/r.yaml"},
      {"[rules.d]", path + ":11:11: pipeline.rules[0]: not a regular file: " + dir.file("rules.d")},
  };
  for (const Case& c : cases) {
    (void)write_config(dir, c.rules);
    const DaemonConfig config = load_daemon_config(path);
    try {
      (void)resolve_rule_files(config);
      ADD_FAILURE() << "expected ConfigError for " << c.rules;
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()), c.error);
    }
  }
}

TEST(ConfigLoaderTest, LoadConfigAndRules) {
  const TempDir dir;
  (void)dir.write("rules.d/20-dns.yaml",
                  "rules:\n"
                  "  - id: dns-to-lan\n"
                  "    match: {dst_port: 53}\n"
                  "    action: {forward: lan}\n");
  (void)dir.write("rules.d/10-ntp.yaml",
                  "rules:\n"
                  "  - id: drop-ntp\n"
                  "    match: {src_port: 123}\n"
                  "    action: drop\n");
  (void)dir.write("base.yaml", "rules:\n  - id: base\n    action: forward\n");
  const std::string path = write_config(dir, "[base.yaml, rules.d/*.yaml, extra.d/*.yaml]");
  const LoadedConfig loaded = load_config_and_rules(path);
  EXPECT_EQ(loaded.config.path, path);
  EXPECT_EQ(loaded.rule_files,
            (std::vector<std::string>{dir.file("base.yaml"), dir.file("rules.d/10-ntp.yaml"),
                                      dir.file("rules.d/20-dns.yaml")}));
  ASSERT_EQ(loaded.rules.size(), 3u);
  EXPECT_EQ(loaded.rules[0].id, "base");
  EXPECT_EQ(loaded.rules[1].id, "drop-ntp");
  EXPECT_EQ(loaded.rules[1].where.to_string(), dir.file("rules.d/10-ntp.yaml:2:5"));
  EXPECT_EQ(loaded.rules[2].id, "dns-to-lan");
  EXPECT_EQ(loaded.rules[2].action.port, 1);
  EXPECT_EQ(loaded.rules[2].action.port_name, "lan");
  ASSERT_EQ(loaded.warnings.size(), 1u);
  EXPECT_EQ(loaded.warnings[0],
            path + ":11:38: pipeline.rules[2]: no files match " + dir.file("extra.d/*.yaml"));
}

// `dynamic` in pipeline.rules: how many file rules come before the runtime rules.
TEST(ConfigLoaderTest, DynamicMarksWhereRuntimeRulesSit) {
  const TempDir dir;
  (void)dir.write("allow.yaml",
                  "rules:\n  - {id: a1, action: forward}\n  - {id: a2, action: forward}\n");
  (void)dir.write("rules.d/10.yaml", "rules:\n  - {id: b1, action: drop}\n");
  (void)dir.write("rules.d/20.yaml", "rules:\n  - {id: c1, action: drop}\n");
  (void)dir.write("dynamic", "rules:\n  - {id: d1, action: drop}\n");
  const struct {
    const char* list;
    std::size_t at;
  } cases[] = {
      {"[allow.yaml, dynamic, rules.d/*.yaml]", 2},
      {"[dynamic, allow.yaml, rules.d/*.yaml]", 0},
      {"[allow.yaml, rules.d/*.yaml, dynamic]", 4},
      {"[allow.yaml, rules.d/*.yaml]", 0},  // not listed: runtime rules come first
      {"[allow.yaml, rules.d/*.yaml, empty.d/*.yaml, dynamic]", 4},
      {"[dynamic]", 0},
      {"[allow.yaml, ./dynamic]", 0},  // a file called dynamic is a file
  };
  for (const auto& c : cases) {
    const LoadedConfig loaded = load_config_and_rules(write_config(dir, c.list));
    EXPECT_EQ(loaded.dynamic_at, c.at) << c.list;
  }
  EXPECT_EQ(load_config_and_rules(write_config(dir, "[allow.yaml, ./dynamic]")).rules.size(), 3U);
}

// A steering rule names its worker by lcore; the configuration turns it into the worker's
// queue, and refuses an lcore that runs no worker.
TEST(ConfigLoaderTest, SteeringWorkersAreWorkerLcores) {
  const TempDir dir;
  (void)dir.write("steer.yaml", "steering:\n  - {id: s1, worker: 2}\n  - {id: s2, worker: 1}\n");
  std::string config = "eal:\n  lcores: [0, 1, \"2@1\"]\n" + kValid.substr(kEal.size()) +
                       "pipeline:\n  rules: [steer.yaml]\n";
  const LoadedConfig loaded = load_config_and_rules(dir.write("udpsieve.yaml", config));
  ASSERT_EQ(loaded.steering.size(), 2U);
  EXPECT_EQ(loaded.steering_queues, (std::vector<uint16_t>{1, 0}));

  const std::string path = write_config(dir, "[steer.yaml]");  // workers: lcore 1 only
  EXPECT_EQ(udpsieve::test::config_error_of([&] { (void)load_config_and_rules(path); }),
            dir.file("steer.yaml") +
                ":2:22: steering[0].worker: lcore 2 runs no worker (workers run on lcores 1, "
                "eal.lcores after the first)");
}

TEST(ConfigLoaderTest, OffloadAndIsolateKeys) {
  const DaemonConfig defaults = parse(kValid);
  EXPECT_EQ(defaults.ports[0].offload, OffloadMode::automatic);
  EXPECT_FALSE(defaults.ports[0].isolate);
  const DaemonConfig set = parse(kEal +
                                 "ports:\n  - {name: wan, device: net_null0, forward_to: wan, "
                                 "offload: required, isolate: true}\n");
  EXPECT_EQ(set.ports[0].offload, OffloadMode::required);
  EXPECT_TRUE(set.ports[0].isolate);
  EXPECT_EQ(udpsieve::test::config_error_of([&] {
              (void)parse(kEal +
                          "ports:\n  - {name: wan, device: net_null0, forward_to: wan, "
                          "offload: yes}\n");
            }),
            "udpsieve.yaml:4:62: ports[0].offload: 'yes' is not one of: auto | off | required");
}

TEST(ConfigLoaderTest, LoadConfigAndRulesErrors) {
  const TempDir dir;
  (void)dir.write("rules.d/10-a.yaml", rule_file("same"));
  (void)dir.write("rules.d/20-b.yaml", "rules:\n  - id: other\n    action: drop\n" +
                                           std::string("  - id: same\n    action: drop\n"));
  std::string path = write_config(dir, "rules.d/*.yaml");
  try {
    (void)load_config_and_rules(path);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), dir.file("rules.d/20-b.yaml") +
                                         ":4:9: rules[1].id: duplicate rule id \"same\" (first "
                                         "defined at " +
                                         dir.file("rules.d/10-a.yaml") + ":2:9)");
  }

  (void)dir.write("bad.yaml", "rules:\n  - id: x\n    action: {forward: dmz}\n");
  path = write_config(dir, "bad.yaml");
  try {
    (void)load_config_and_rules(path);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), dir.file("bad.yaml") +
                                         ":3:23: rules[0].action.forward: unknown port "
                                         "\"dmz\" (ports are: wan, lan)");
  }

  try {
    (void)load_config_and_rules(dir.file("nope.yaml"));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              dir.file("nope.yaml: cannot open file: No such file or directory"));
  }
}

TEST(ConfigLoaderTest, LcoreSpecToString) {
  EXPECT_EQ((LcoreSpec{3, 3}).to_string(), "3");
  EXPECT_EQ((LcoreSpec{2, 1}).to_string(), "2@1");
  EXPECT_EQ((LcoreSpec{0, 0}).to_string(), "0");
}

}  // namespace
}  // namespace udpsieve::config
