// The Prometheus exposition: generated from the stats schema, every metric declared once with
// HELP and TYPE, exact text for a small sample, label escaping, docs/metrics.md in step; the
// HTTP endpoint's request handling; control.metrics_listen on reload.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "support/generated_docs.hpp"
#include "support/sockets.hpp"
#include "udpsieve/common/stats_schema.hpp"
#include "udpsieve/config/config.hpp"
#include "udpsieve/control/metrics_http.hpp"
#include "udpsieve/control/prometheus.hpp"

namespace {

using nlohmann::json;
using udpsieve::StatDesc;
using udpsieve::StatKind;
using udpsieve::control::escape_label_value;
using udpsieve::control::metric_catalog;
using udpsieve::control::MetricsHttpServer;
using udpsieve::control::render_prometheus;
using udpsieve::test::HttpReply;

/// Every schema table that declares metrics, and the single declarations.
std::vector<const StatDesc*> schema_metrics() {
  std::vector<const StatDesc*> out;
  const auto add = [&](const auto& table) {
    for (const StatDesc& desc : table)
      out.push_back(&desc);
  };
  add(udpsieve::kWorkerStats);
  add(udpsieve::kPortStats);
  add(udpsieve::kRuleStats);
  add(udpsieve::kMempoolStats);
  add(udpsieve::kReloadStats);
  add(udpsieve::kRuleTableStats);
  add(udpsieve::kClassifierStats);
  add(udpsieve::kProcessStats);
  add(udpsieve::kRuntimeStats);
  add(udpsieve::kOffloadStats);
  add(udpsieve::kSetStats);
  add(udpsieve::kSetTableStats);
  out.push_back(&udpsieve::kBuildInfo);
  out.push_back(&udpsieve::kWorkerDropped);
  out.push_back(&udpsieve::kDroppedByReason);
  return out;
}

const json kStats = json::parse(R"({
  "uptime_s": 12.5,
  "totals": {"rx_packets": 10, "dropped_packets": 3, "offload_dropped_packets": 40,
             "drops": {"rule": 1, "default": 0, "non_udp": 1, "malformed": 1, "tx_full": 0,
                       "rate_limit": 0}},
  "rates": {"rx_pps": 1.0},
  "ports": [{"name": "wan", "rx_packets": 10, "tx_packets": 7, "rx_bytes": 600, "tx_bytes": 420,
             "rx_missed": 0, "rx_errors": 0, "tx_errors": 0, "rx_nombuf": 0}],
  "workers": [{"lcore": 1, "rx_packets": 10, "rx_bytes": 600, "forwarded_packets": 7,
               "forwarded_bytes": 420, "polls_busy": 4, "polls_idle": 90,
               "per_source_sources": 5, "per_source_evictions": 0, "dropped_packets": 3}],
  "rules": [{"id": "drop-ntp", "source": "file", "packets": 41, "bytes": 60, "offloaded": true,
             "hw_packets": 40},
            {"id": "limit-dns", "source": "bgp",
             "note": "flow destination-ipv4 192.0.2.0/24 destination-port =53", "packets": 5,
             "bytes": 300, "passed": 4, "limited": 1, "offloaded": false, "hw_packets": null}],
  "mempools": [{"socket": 0, "size": 8191, "in_use": 1536, "available": 6655}],
  "sets": [{"name": "blocked", "file": "/etc/udpsieve/sets/blocked.txt", "prefixes_v4": 1000,
            "prefixes_v6": 20, "runtime_entries": 3, "hits": 77}],
  "set_tables": {"routes_v4": 1000, "routes_v6": 20, "memory_bytes": 272629760, "changes": 4},
  "dynamic": {"rules": 4, "by_source": {"api": 3, "bgp": 1}, "pending": 0, "max_rules": 100000,
              "adds": 6, "replaces": 1, "deletes": 1, "expiries": 1, "syncs": 2, "refusals": 3,
              "builds": 7, "last_apply_ms": 2.5, "last_build_ms": 1.25,
              "state_file": "/var/lib/udpsieve/dynamic.json", "state_error": null}
})");
const json kRules = json::parse(R"({
  "generation": 3, "rule_count": 2, "rules_without_series": 0, "default_action": "forward",
  "classifier": {"algorithm": "scalar", "entries_v4": 2, "entries_v6": 0, "memory_bytes": 65536,
                 "build_ms": 0.4},
  "reload": {"applied": 2, "refused": 1, "last_result": "applied", "compile_ms": 1.5,
             "swap_us": 20, "total_ms": 12.25}
})");
const json kVersion = json::parse(R"({"name": "udpsieved", "version": "0.1.0",
                                      "dpdk": "DPDK 22.11.4"})");

const char* const kExpected = R"(# HELP udpsieve_build_info Versions of udpsieved and DPDK; always 1
# TYPE udpsieve_build_info gauge
udpsieve_build_info{version="0.1.0",dpdk="DPDK 22.11.4"} 1
# HELP udpsieve_uptime_seconds Seconds since the daemon started
# TYPE udpsieve_uptime_seconds gauge
udpsieve_uptime_seconds 12.5
# HELP udpsieve_port_rx_packets_total Packets the port received (ipackets)
# TYPE udpsieve_port_rx_packets_total counter
udpsieve_port_rx_packets_total{port="wan"} 10
# HELP udpsieve_port_tx_packets_total Packets the port sent (opackets)
# TYPE udpsieve_port_tx_packets_total counter
udpsieve_port_tx_packets_total{port="wan"} 7
# HELP udpsieve_port_rx_bytes_total Bytes the port received (ibytes)
# TYPE udpsieve_port_rx_bytes_total counter
udpsieve_port_rx_bytes_total{port="wan"} 600
# HELP udpsieve_port_tx_bytes_total Bytes the port sent (obytes)
# TYPE udpsieve_port_tx_bytes_total counter
udpsieve_port_tx_bytes_total{port="wan"} 420
# HELP udpsieve_port_rx_missed_packets_total Packets the NIC dropped for lack of RX descriptors (imissed)
# TYPE udpsieve_port_rx_missed_packets_total counter
udpsieve_port_rx_missed_packets_total{port="wan"} 0
# HELP udpsieve_port_rx_error_packets_total Erroneous received packets (ierrors)
# TYPE udpsieve_port_rx_error_packets_total counter
udpsieve_port_rx_error_packets_total{port="wan"} 0
# HELP udpsieve_port_tx_error_packets_total Failed transmissions (oerrors)
# TYPE udpsieve_port_tx_error_packets_total counter
udpsieve_port_tx_error_packets_total{port="wan"} 0
# HELP udpsieve_port_rx_nombuf_total RX mbuf allocation failures (rx_nombuf)
# TYPE udpsieve_port_rx_nombuf_total counter
udpsieve_port_rx_nombuf_total{port="wan"} 0
# HELP udpsieve_worker_rx_packets_total Packets received from the worker's RX queues
# TYPE udpsieve_worker_rx_packets_total counter
udpsieve_worker_rx_packets_total{lcore="1"} 10
# HELP udpsieve_worker_rx_bytes_total Bytes received (whole frames)
# TYPE udpsieve_worker_rx_bytes_total counter
udpsieve_worker_rx_bytes_total{lcore="1"} 600
# HELP udpsieve_worker_forwarded_packets_total Packets accepted by an output TX queue
# TYPE udpsieve_worker_forwarded_packets_total counter
udpsieve_worker_forwarded_packets_total{lcore="1"} 7
# HELP udpsieve_worker_forwarded_bytes_total Bytes accepted by an output TX queue
# TYPE udpsieve_worker_forwarded_bytes_total counter
udpsieve_worker_forwarded_bytes_total{lcore="1"} 420
# HELP udpsieve_worker_polls_busy_total RX polls that returned at least one packet
# TYPE udpsieve_worker_polls_busy_total counter
udpsieve_worker_polls_busy_total{lcore="1"} 4
# HELP udpsieve_worker_polls_idle_total RX polls that returned nothing
# TYPE udpsieve_worker_polls_idle_total counter
udpsieve_worker_polls_idle_total{lcore="1"} 90
# HELP udpsieve_worker_per_source_entries Entries of the worker's per-source rate-limit table holding a source
# TYPE udpsieve_worker_per_source_entries gauge
udpsieve_worker_per_source_entries{lcore="1"} 5
# HELP udpsieve_worker_per_source_evictions_total Sources of per-source rate limits that found their set full and took the entry whose bucket was fullest
# TYPE udpsieve_worker_per_source_evictions_total counter
udpsieve_worker_per_source_evictions_total{lcore="1"} 0
# HELP udpsieve_worker_dropped_packets_total Packets the worker dropped, all reasons
# TYPE udpsieve_worker_dropped_packets_total counter
udpsieve_worker_dropped_packets_total{lcore="1"} 3
# HELP udpsieve_dropped_packets_total Packets dropped, by reason (every drop has one)
# TYPE udpsieve_dropped_packets_total counter
udpsieve_dropped_packets_total{reason="rule"} 1
udpsieve_dropped_packets_total{reason="default"} 0
udpsieve_dropped_packets_total{reason="non_udp"} 1
udpsieve_dropped_packets_total{reason="malformed"} 1
udpsieve_dropped_packets_total{reason="tx_full"} 0
udpsieve_dropped_packets_total{reason="rate_limit"} 0
# HELP udpsieve_nic_dropped_packets_total Packets NICs dropped by offloaded rules before any worker saw them (not in rx_packets)
# TYPE udpsieve_nic_dropped_packets_total counter
udpsieve_nic_dropped_packets_total 40
# HELP udpsieve_rule_packets_total Packets that matched the rule (in software, plus what NICs dropped for it)
# TYPE udpsieve_rule_packets_total counter
udpsieve_rule_packets_total{rule="drop-ntp",source="file"} 41
udpsieve_rule_packets_total{rule="limit-dns",source="bgp",note="flow destination-ipv4 192.0.2.0/24 destination-port =53"} 5
# HELP udpsieve_rule_bytes_total Bytes of the packets that matched the rule
# TYPE udpsieve_rule_bytes_total counter
udpsieve_rule_bytes_total{rule="drop-ntp",source="file"} 60
udpsieve_rule_bytes_total{rule="limit-dns",source="bgp",note="flow destination-ipv4 192.0.2.0/24 destination-port =53"} 300
# HELP udpsieve_rule_passed_packets_total Packets a rate_limit rule let through within its rate
# TYPE udpsieve_rule_passed_packets_total counter
udpsieve_rule_passed_packets_total{rule="limit-dns",source="bgp",note="flow destination-ipv4 192.0.2.0/24 destination-port =53"} 4
# HELP udpsieve_rule_limited_packets_total Packets a rate_limit rule dropped beyond its rate
# TYPE udpsieve_rule_limited_packets_total counter
udpsieve_rule_limited_packets_total{rule="limit-dns",source="bgp",note="flow destination-ipv4 192.0.2.0/24 destination-port =53"} 1
# HELP udpsieve_rule_offloaded 1 while a drop rule is in at least one port's NIC (rte_flow)
# TYPE udpsieve_rule_offloaded gauge
udpsieve_rule_offloaded{rule="drop-ntp",source="file"} 1
udpsieve_rule_offloaded{rule="limit-dns",source="bgp",note="flow destination-ipv4 192.0.2.0/24 destination-port =53"} 0
# HELP udpsieve_rule_nic_dropped_packets_total Packets the NICs dropped for the rule (where every NIC holding it counts)
# TYPE udpsieve_rule_nic_dropped_packets_total counter
udpsieve_rule_nic_dropped_packets_total{rule="drop-ntp",source="file"} 40
# HELP udpsieve_runtime_rules Runtime rules in effect (all sources)
# TYPE udpsieve_runtime_rules gauge
udpsieve_runtime_rules 4
# HELP udpsieve_runtime_pending_changes Runtime changes accepted and not yet in effect
# TYPE udpsieve_runtime_pending_changes gauge
udpsieve_runtime_pending_changes 0
# HELP udpsieve_runtime_rules_added_total Runtime rules added since start
# TYPE udpsieve_runtime_rules_added_total counter
udpsieve_runtime_rules_added_total 6
# HELP udpsieve_runtime_rules_replaced_total Runtime rules replaced since start
# TYPE udpsieve_runtime_rules_replaced_total counter
udpsieve_runtime_rules_replaced_total 1
# HELP udpsieve_runtime_rules_deleted_total Runtime rules deleted since start (not counting expiries)
# TYPE udpsieve_runtime_rules_deleted_total counter
udpsieve_runtime_rules_deleted_total 1
# HELP udpsieve_runtime_rules_expired_total Runtime rules removed by their time to live
# TYPE udpsieve_runtime_rules_expired_total counter
udpsieve_runtime_rules_expired_total 1
# HELP udpsieve_runtime_syncs_total rule-sync requests applied since start
# TYPE udpsieve_runtime_syncs_total counter
udpsieve_runtime_syncs_total 2
# HELP udpsieve_runtime_refusals_total Runtime change requests refused (nothing applied)
# TYPE udpsieve_runtime_refusals_total counter
udpsieve_runtime_refusals_total 3
# HELP udpsieve_runtime_builds_total Builds of the runtime rules' classifier since start
# TYPE udpsieve_runtime_builds_total counter
udpsieve_runtime_builds_total 7
# HELP udpsieve_runtime_last_apply_seconds Last runtime change, request received to reply sent (rules in effect)
# TYPE udpsieve_runtime_last_apply_seconds gauge
udpsieve_runtime_last_apply_seconds 0.0025
# HELP udpsieve_runtime_last_build_seconds Last build of the runtime rules' classifier
# TYPE udpsieve_runtime_last_build_seconds gauge
udpsieve_runtime_last_build_seconds 0.00125
# HELP udpsieve_mempool_mbufs Mbufs in the pool
# TYPE udpsieve_mempool_mbufs gauge
udpsieve_mempool_mbufs{socket="0"} 8191
# HELP udpsieve_mempool_in_use_mbufs Mbufs in use (in queues, workers or caches)
# TYPE udpsieve_mempool_in_use_mbufs gauge
udpsieve_mempool_in_use_mbufs{socket="0"} 1536
# HELP udpsieve_mempool_available_mbufs Mbufs free in the pool
# TYPE udpsieve_mempool_available_mbufs gauge
udpsieve_mempool_available_mbufs{socket="0"} 6655
# HELP udpsieve_set_prefixes_v4 IPv4 prefixes the set holds
# TYPE udpsieve_set_prefixes_v4 gauge
udpsieve_set_prefixes_v4{set="blocked"} 1000
# HELP udpsieve_set_prefixes_v6 IPv6 prefixes the set holds
# TYPE udpsieve_set_prefixes_v6 gauge
udpsieve_set_prefixes_v6{set="blocked"} 20
# HELP udpsieve_set_runtime_entries Prefixes added to the set at runtime (set add)
# TYPE udpsieve_set_runtime_entries gauge
udpsieve_set_runtime_entries{set="blocked"} 3
# HELP udpsieve_set_hits_total Source and destination address lookups that found the address in the set
# TYPE udpsieve_set_hits_total counter
udpsieve_set_hits_total{set="blocked"} 77
# HELP udpsieve_set_table_routes_v4 Distinct IPv4 prefixes in the set lookup table
# TYPE udpsieve_set_table_routes_v4 gauge
udpsieve_set_table_routes_v4 1000
# HELP udpsieve_set_table_routes_v6 Distinct IPv6 prefixes in the set lookup table
# TYPE udpsieve_set_table_routes_v6 gauge
udpsieve_set_table_routes_v6 20
# HELP udpsieve_set_table_memory_bytes DPDK memory of the set lookup tables (both copies)
# TYPE udpsieve_set_table_memory_bytes gauge
udpsieve_set_table_memory_bytes 272629760
# HELP udpsieve_set_changes_total Runtime set changes since start (adds, deletes, flushes, expiries)
# TYPE udpsieve_set_changes_total counter
udpsieve_set_changes_total 4
# HELP udpsieve_rules_generation Generation of the rule table in effect (1 at start)
# TYPE udpsieve_rules_generation gauge
udpsieve_rules_generation 3
# HELP udpsieve_rules Rules in effect, file and runtime
# TYPE udpsieve_rules gauge
udpsieve_rules 2
# HELP udpsieve_rules_without_series Rules beyond the first 1000 in first-match order, which get no per-rule series (see udpsievectl rules)
# TYPE udpsieve_rules_without_series gauge
udpsieve_rules_without_series 0
# HELP udpsieve_classifier_entries_ipv4 IPv4 classifier entries
# TYPE udpsieve_classifier_entries_ipv4 gauge
udpsieve_classifier_entries_ipv4 2
# HELP udpsieve_classifier_entries_ipv6 IPv6 classifier entries
# TYPE udpsieve_classifier_entries_ipv6 gauge
udpsieve_classifier_entries_ipv6 0
# HELP udpsieve_classifier_memory_bytes Memory the classifier's lookup tables take
# TYPE udpsieve_classifier_memory_bytes gauge
udpsieve_classifier_memory_bytes 65536
# HELP udpsieve_reloads_applied_total Reloads applied since start
# TYPE udpsieve_reloads_applied_total counter
udpsieve_reloads_applied_total 2
# HELP udpsieve_reloads_refused_total Reloads refused since start (the running rules stayed)
# TYPE udpsieve_reloads_refused_total counter
udpsieve_reloads_refused_total 1
# HELP udpsieve_reload_last_compile_seconds Rule compile time of the last reload attempt
# TYPE udpsieve_reload_last_compile_seconds gauge
udpsieve_reload_last_compile_seconds 0.0015
# HELP udpsieve_reload_last_duration_seconds Duration of the last reload attempt, request to swap
# TYPE udpsieve_reload_last_duration_seconds gauge
udpsieve_reload_last_duration_seconds 0.01225
)";

TEST(Metrics, EverySchemaMetricIsInTheCatalogOnce) {
  const std::vector<udpsieve::control::MetricInfo> catalog = metric_catalog();
  const std::vector<const StatDesc*> declared = schema_metrics();
  EXPECT_EQ(catalog.size(), declared.size());
  for (const StatDesc* desc : declared) {
    EXPECT_EQ(std::count_if(catalog.begin(), catalog.end(),
                            [&](const auto& info) { return info.desc == desc; }),
              1)
        << desc->metric;
  }
  // Drop reasons are label values of one metric, not metrics of their own.
  for (const StatDesc& reason : udpsieve::kDropReasons)
    EXPECT_TRUE(reason.metric.empty()) << reason.name;
}

TEST(Metrics, NamesFollowPrometheusConventions) {
  const std::regex valid("udpsieve_[a-z0-9_]*[a-z0-9]");
  std::set<std::string_view> seen;
  for (const StatDesc* desc : schema_metrics()) {
    const std::string name(desc->metric);
    EXPECT_TRUE(std::regex_match(name, valid)) << name;
    EXPECT_TRUE(seen.insert(desc->metric).second) << name << " declared twice";
    const bool total = name.size() > 6 && name.substr(name.size() - 6) == "_total";
    EXPECT_EQ(total, desc->kind == StatKind::counter) << name << ": _total is for counters";
    EXPECT_FALSE(desc->help.empty()) << name;
    // Base units only.
    for (const char* unit : {"_ms", "_us", "_kb", "_mb", "_millis"})
      EXPECT_EQ(name.find(std::string(unit) + "_"), std::string::npos) << name;
  }
}

TEST(Metrics, EveryMetricHasHelpAndTypeOnceEvenWithoutSamples) {
  for (const auto& [what, text] : std::vector<std::pair<std::string, std::string>>{
           {"empty replies", render_prometheus(json::object(), json::object(), json::object())},
           {"sample", render_prometheus(kStats, kRules, kVersion)},
           {"odd shapes", render_prometheus(json::array(), json(5), json("x"))}}) {
    for (const auto& info : metric_catalog()) {
      const std::string name(info.desc->metric);
      const std::string help = "# HELP " + name + " ";
      const std::string type = "# TYPE " + name + " ";
      std::size_t helps = 0;
      std::size_t types = 0;
      for (std::size_t at = text.find(help); at != std::string::npos; at = text.find(help, at + 1))
        ++helps;
      for (std::size_t at = text.find(type); at != std::string::npos; at = text.find(type, at + 1))
        ++types;
      EXPECT_EQ(helps, 1U) << what << ": " << name;
      EXPECT_EQ(types, 1U) << what << ": " << name;
      const std::string kind = info.desc->kind == StatKind::counter ? "counter" : "gauge";
      EXPECT_NE(text.find(type + kind + "\n"), std::string::npos) << what << ": " << name;
      EXPECT_NE(text.find(help + std::string(info.desc->help) + "\n" + type), std::string::npos)
          << what << ": HELP then TYPE for " << name;
    }
  }
}

TEST(Metrics, SampleRendersExactly) {
  EXPECT_EQ(render_prometheus(kStats, kRules, kVersion), kExpected);
}

TEST(Metrics, EverySampleLineIsWellFormedAndGroupedUnderItsFamily) {
  const std::string text = render_prometheus(kStats, kRules, kVersion);
  const std::regex sample(
      R"re(([a-z0-9_]+)(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf))re");
  std::istringstream lines(text);
  std::string line;
  std::string family;
  std::set<std::string> finished;
  while (std::getline(lines, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(finished.insert(name).second) << name << " appears in two groups";
      family = name;
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) continue;
    std::smatch match;
    ASSERT_TRUE(std::regex_match(line, match, sample)) << line;
    EXPECT_EQ(match[1].str(), family) << line;
  }
  EXPECT_EQ(text.back(), '\n');
}

TEST(Metrics, LabelValuesAreEscaped) {
  const struct {
    const char* raw;
    const char* escaped;
  } cases[] = {{"wan", "wan"},      {R"(a"b)", R"(a\"b)"},   {R"(a\b)", R"(a\\b)"},
               {"a\nb", R"(a\nb)"}, {"\\\"\n", R"(\\\"\n)"}, {"", ""},
               {"ünï", "ünï"}};
  for (const auto& c : cases)
    EXPECT_EQ(escape_label_value(c.raw), c.escaped) << c.raw;
  json stats = json::object();
  stats["ports"] = json::array({{{"name", "a\"b\\c\nd"}, {"rx_packets", 1}}});
  const std::string text = render_prometheus(stats, json::object(), json::object());
  EXPECT_NE(text.find("udpsieve_port_rx_packets_total{port=\"a\\\"b\\\\c\\nd\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(udpsieve::control::escape_help("a\\b\nc\"d"), "a\\\\b\\nc\"d");
}

TEST(Metrics, MillisecondsAndMicrosecondsBecomeSeconds) {
  const std::string text = render_prometheus(
      json::object(), json{{"reload", {{"total_ms", 1500}, {"compile_ms", 0.25}}}}, json::object());
  EXPECT_NE(text.find("udpsieve_reload_last_duration_seconds 1.5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("udpsieve_reload_last_compile_seconds 0.00025\n"), std::string::npos) << text;
}

TEST(Metrics, DocsListExactlyTheDeclaredMetrics) {
  const auto block = udpsieve::test::generated_block("docs/metrics.md", "metrics_markdown()");
  ASSERT_TRUE(block) << "docs/metrics.md lacks its generated block";
  EXPECT_EQ(*block, udpsieve::control::metrics_markdown())
      << "docs/metrics.md is out of date; put this between the markers:\n"
      << udpsieve::control::metrics_markdown();
}

// --- the HTTP endpoint -------------------------------------------------------------------------

/// A TCP socket connected to [::1]:`port`, or -1.
int connect_ipv6_loopback(uint16_t port) {
  const int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_port = htons(port);
  address.sin6_addr = in6addr_loopback;
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/// A client of a server polled on this thread: sends, then polls the server until the reply
/// is complete (the server closes).
class HttpClient {
 public:
  /// Connected to 127.0.0.1:`port`, or to [::1]:`port`.
  explicit HttpClient(uint16_t port, bool ipv6 = false)
      : fd_(ipv6 ? connect_ipv6_loopback(port) : udpsieve::test::connect_loopback(port)) {
    (void)fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~HttpClient() { close(fd_); }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  void send_all(const std::string& bytes) const {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  /// Polls `server` and reads until EOF; empty optional on timeout.
  std::optional<std::string> reply(MetricsHttpServer& server,
                                   const MetricsHttpServer::Body& body) const {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      server.poll(body);
      char chunk[4096];
      const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n == 0) return out;
      if (n > 0) {
        out.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) return out;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return std::nullopt;
  }

 private:
  int fd_ = -1;
};

udpsieve::config::ListenAddress any_port() {
  udpsieve::config::ListenAddress address;
  address.host = "127.0.0.1";
  address.port = 0;
  return address;
}

/// The reply `client` gets from `server`, split.
HttpReply reply_of(const HttpClient& client, MetricsHttpServer& server,
                   const MetricsHttpServer::Body& body) {
  return udpsieve::test::split_http_reply(client.reply(server, body).value_or("(timeout)"));
}

TEST(MetricsHttp, ServesGetHeadAndErrors) {
  MetricsHttpServer server(any_port());
  ASSERT_NE(server.port(), 0);
  int renders = 0;
  const MetricsHttpServer::Body body = [&renders] {
    ++renders;
    return std::string("udpsieve_uptime_seconds 1\n");
  };
  const auto ask = [&](const std::string& request) {
    HttpClient client(server.port());
    client.send_all(request);
    return reply_of(client, server, body);
  };
  const std::string type = "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n";
  for (const std::string request :
       {"GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n",
        "GET /metrics HTTP/1.0\r\n\r\n", "GET /metrics?name[]=x HTTP/1.1\r\n\r\n"}) {
    const HttpReply reply = ask(request);
    EXPECT_EQ(reply.status, "HTTP/1.1 200 OK") << request;
    EXPECT_NE(reply.headers.find(type), std::string::npos) << reply.headers;
    EXPECT_NE(reply.headers.find("Content-Length: 26\r\n"), std::string::npos) << reply.headers;
    EXPECT_NE(reply.headers.find("Connection: close\r\n"), std::string::npos) << reply.headers;
    EXPECT_EQ(reply.body, "udpsieve_uptime_seconds 1\n");
  }
  const HttpReply head = ask("HEAD /metrics HTTP/1.0\r\n\r\n");
  EXPECT_EQ(head.status, "HTTP/1.1 200 OK");
  EXPECT_NE(head.headers.find(type), std::string::npos) << head.headers;
  EXPECT_NE(head.headers.find("Content-Length: 26\r\n"), std::string::npos) << head.headers;
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(renders, 4);

  const struct {
    std::string request;
    std::string status;
  } errors[] = {
      {"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"},
      {"GET /metrics/ HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"},
      {"GET /metricsx HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"},
      {"POST /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"},
      {"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nx=1&y",
       "HTTP/1.1 405 Method Not Allowed"},
      {"DELETE /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"},
      {"get /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"},
      {"GET /metrics http/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"},
      {"hello\r\n\r\n", "(no reply: )"},  // MHD cannot even split the request line
      {"GET /metrics HTTP/2.0\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"},
      {"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", "HTTP/1.1 400 Bad Request"},
      // The head does not fit in the connection's 8 KiB: a request line, a header line.
      {"GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n", "HTTP/1.1 414 URI Too Long"},
      {"GET /metrics HTTP/1.1\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n",
       "HTTP/1.1 431 Request Header Fields Too Large"},
  };
  for (const auto& e : errors) {
    const HttpReply reply = ask(e.request);
    EXPECT_EQ(reply.status, e.status) << e.request.substr(0, 60);
    if (e.status.find(" 405 ") != std::string::npos) {
      EXPECT_NE(reply.headers.find("Allow: GET, HEAD\r\n"), std::string::npos) << reply.headers;
    }
  }
  EXPECT_EQ(renders, 4);
  server.poll(body);  // every client has closed its end: nothing is left over
  EXPECT_EQ(server.client_count(), 0U);
}

TEST(MetricsHttp, SlowClientsAreTimedOutAndDoNotHoldUpOthers) {
  udpsieve::control::HttpLimits limits;
  limits.request_timeout = std::chrono::milliseconds(1000);
  MetricsHttpServer server(any_port(), limits);
  const MetricsHttpServer::Body body = [] { return std::string("x 1\n"); };
  HttpClient slow(server.port());
  slow.send_all("GET /metrics HTTP/1.1\r\n");  // and never the blank line
  HttpClient silent(server.port());
  {
    HttpClient fast(server.port());
    fast.send_all("GET /metrics HTTP/1.1\r\n\r\n");
    const auto reply = fast.reply(server, body);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->substr(0, 15), "HTTP/1.1 200 OK");
  }
  server.poll(body);
  EXPECT_EQ(server.client_count(), 2U);  // the slow and the silent one, still in time
  EXPECT_EQ(reply_of(slow, server, body).status, "HTTP/1.1 408 Request Timeout");
  EXPECT_EQ(reply_of(silent, server, body).status, "HTTP/1.1 408 Request Timeout");
  server.poll(body);
  EXPECT_EQ(server.client_count(), 0U);
}

TEST(MetricsHttp, IdleConnectionsAreClosedAfterTheWriteTimeoutInWholeSeconds) {
  udpsieve::control::HttpLimits limits;
  limits.request_timeout = std::chrono::minutes(1);
  limits.write_timeout = std::chrono::milliseconds(1);  // MHD's idle timeout: 1 s
  MetricsHttpServer server(any_port(), limits);
  const MetricsHttpServer::Body body = [] { return std::string("x 1\n"); };
  const auto start = std::chrono::steady_clock::now();
  HttpClient silent(server.port());
  EXPECT_EQ(silent.reply(server, body), "");  // closed without a reply
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(MetricsHttp, RefusesClientsBeyondTheLimit) {
  udpsieve::control::HttpLimits limits;
  limits.max_clients = 2;
  MetricsHttpServer server(any_port(), limits);
  const MetricsHttpServer::Body body = [] { return std::string("x 1\n"); };
  HttpClient a(server.port());
  HttpClient b(server.port());
  server.poll(body);
  HttpClient c(server.port());
  const HttpReply refused = reply_of(c, server, body);
  EXPECT_EQ(refused.status, "HTTP/1.1 503 Service Unavailable");
  EXPECT_EQ(refused.body, "too many connections\n");
  EXPECT_EQ(server.client_count(), 2U);
  // A place frees up once one of them is served.
  a.send_all("GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(reply_of(a, server, body).status, "HTTP/1.1 200 OK");
  HttpClient d(server.port());
  d.send_all("GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(reply_of(d, server, body).status, "HTTP/1.1 200 OK");
}

TEST(MetricsHttp, PortInUseIsAOneLineError) {
  MetricsHttpServer first(any_port());
  udpsieve::config::ListenAddress same = any_port();
  same.port = first.port();
  try {
    MetricsHttpServer second(same);
    FAIL() << "bound twice";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "control.metrics_listen: cannot listen on " + same.to_string() +
                  ": Address already in use (another program holds the port; stop it or choose "
                  "another port)");
  }
}

TEST(MetricsHttp, ListensOnIpv6Loopback) {
  udpsieve::config::ListenAddress address = udpsieve::config::parse_loopback_address("[::1]:1");
  address.port = 0;
  std::optional<MetricsHttpServer> server;
  try {
    server.emplace(address);
  } catch (const std::runtime_error& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  EXPECT_EQ(server->address(), "[::1]:" + std::to_string(server->port()));
  HttpClient client(server->port(), true);
  client.send_all("GET /metrics HTTP/1.1\r\nHost: [::1]\r\n\r\n");
  const HttpReply reply = reply_of(client, *server, [] { return std::string("x 1\n"); });
  EXPECT_EQ(reply.status, "HTTP/1.1 200 OK");
  EXPECT_EQ(reply.body, "x 1\n");
}

TEST(Metrics, ChangingMetricsListenNeedsARestart) {
  const std::string base =
      "eal: {lcores: [0, 1]}\nports:\n  - {name: wan, device: net_null0, forward_to: wan}\n";
  const auto parse = [](const std::string& yaml) {
    return udpsieve::config::parse_daemon_config(yaml, "c.yaml", "/etc/udpsieve");
  };
  const auto on = parse(base + "control: {metrics_listen: \"127.0.0.1:9917\"}\n");
  const auto other = parse(base + "control: {metrics_listen: \"127.0.0.1:9918\"}\n");
  const auto off = parse(base);
  EXPECT_TRUE(udpsieve::config::restart_required_changes(on, on).empty());
  EXPECT_EQ(udpsieve::config::restart_required_changes(on, other),
            std::vector<std::string>{"control.metrics_listen"});
  EXPECT_EQ(udpsieve::config::restart_required_changes(off, on),
            std::vector<std::string>{"control.metrics_listen"});
}

}  // namespace
