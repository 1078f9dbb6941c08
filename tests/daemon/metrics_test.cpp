// The Prometheus exposition against a live daemon: `udpsievectl metrics` and GET /metrics on
// control.metrics_listen agree with `stats`; the HTTP endpoint's errors; a slow or half-open
// HTTP client does not stop the control socket; a port in use stops start-up in one line.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "support/daemon_process.hpp"
#include "support/packet_builder.hpp"
#include "support/sockets.hpp"

namespace {

using udpsieve::test::ctl_binary;
using udpsieve::test::daemon_binary;
using udpsieve::test::DaemonProcess;
using udpsieve::test::HttpReply;
using udpsieve::test::PacketBuilder;
using udpsieve::test::run_program;
using udpsieve::test::TempDir;

/// A loopback TCP socket, connected to `port`.
class TcpClient {
 public:
  explicit TcpClient(uint16_t port) : fd_(udpsieve::test::connect_loopback(port)) {
    udpsieve::test::set_receive_timeout(fd_, std::chrono::seconds(15));
  }
  ~TcpClient() { close(fd_); }
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  void send_all(const std::string& bytes) const {
    (void)::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }
  void finish_writing() const { shutdown(fd_, SHUT_WR); }
  /// Everything until the server closes (or the receive timeout).
  [[nodiscard]] std::string read_all() const {
    std::string out;
    char chunk[65536];
    ssize_t n;
    while ((n = recv(fd_, chunk, sizeof chunk, 0)) > 0)
      out.append(chunk, static_cast<std::size_t>(n));
    return out;
  }

 private:
  int fd_ = -1;
};

/// A loopback port nobody listens on right now.
uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  (void)bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  (void)getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

HttpReply http(uint16_t port, const std::string& request) {
  TcpClient client(port);
  client.send_all(request);
  return udpsieve::test::split_http_reply(client.read_all());
}

/// Sample lines of an exposition: series (name and labels) → value.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line.front() == '#') continue;
    const std::size_t space = line.rfind(' ');
    out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

uint64_t value(const std::map<std::string, std::string>& series, const std::string& name) {
  const auto it = series.find(name);
  if (it == series.end()) {
    ADD_FAILURE() << "no series " << name;
    return ~uint64_t{0};
  }
  return std::stoull(it->second);
}

class Metrics : public testing::Test {
 protected:
  static constexpr uint64_t kPackets = 5;  // 2 to port 123 (dropped by rule), 3 to port 53

  void SetUp() override {
    REQUIRE_DPDK();
    std::vector<std::vector<uint8_t>> frames;
    for (uint64_t i = 0; i < kPackets; ++i) {
      udpsieve::test::UdpSpec udp;
      udp.dst_port = i < 2 ? 123 : 53;
      frames.push_back(PacketBuilder().ipv4().udp(udp).payload_size(8).build());
    }
    udpsieve::test::write_pcap(dir_.file("in.pcap"), frames);
    dir_.write("rules.yaml",
               "rules:\n"
               "  - {id: drop-ntp, match: {dst_port: 123}, action: drop}\n"
               "  - {id: limit-dns, match: {dst_port: 53}, "
               "action: {rate_limit: {pps: 1000, burst: 1000}}}\n");
    port_ = free_port();
    config_ = dir_.write("config.yaml",
                         "eal:\n  lcores: [0, 1]\n  memory_mb: 256\nports:\n"
                         "  - {name: wan, device: \"net_pcap0,rx_pcap=in.pcap\", forward_to: wan}\n"
                         "pipeline: {rules: [rules.yaml]}\n"
                         "control: {metrics_listen: \"127.0.0.1:" +
                             std::to_string(port_) + "\"}\n");
    socket_ = dir_.file("ctl.sock");
  }
  void start() {
    daemon_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"--config", config_, "--file-prefix",
                                 udpsieve::test::unique_prefix("metrics"), "--socket", socket_},
        dir_.file("d.log"));
    ASSERT_TRUE(daemon_->wait_ready(socket_)) << daemon_->log();
    ASSERT_TRUE(daemon_->wait_rx(socket_, kPackets).has_value()) << daemon_->log();
  }
  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    }
  }
  [[nodiscard]] std::string ctl_metrics() const {
    const auto result = run_program({ctl_binary(), "--socket", socket_, "metrics"});
    EXPECT_EQ(result.exit_code, 0) << result.output;
    return result.output;
  }

  TempDir dir_;
  uint16_t port_ = 0;
  std::string config_;
  std::string socket_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(Metrics, CliAndHttpServeTheSameTextAndAgreeWithStats) {
  start();
  // Port counters are read live; wait until the NIC's count caught up with the workers'.
  nlohmann::json stats;
  for (int i = 0; i < 500; ++i) {
    stats = daemon_->request(socket_, "stats");
    if (stats["ports"][0]["rx_packets"] == kPackets) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::string cli = ctl_metrics();
  const HttpReply reply = http(port_, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
  ASSERT_EQ(reply.status, "HTTP/1.1 200 OK") << daemon_->log();
  EXPECT_NE(reply.headers.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos)
      << reply.headers;
  EXPECT_NE(reply.headers.find("Content-Length: " + std::to_string(reply.body.size()) + "\r\n"),
            std::string::npos)
      << reply.headers;

  // The same families, in the same order, with the same series; values that move while the
  // daemon idles (uptime, idle polls, mempool caches) aside, the same values.
  const auto comments = [](const std::string& text) {
    std::string out;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line))
      if (line.rfind('#', 0) == 0) out += line + "\n";
    return out;
  };
  EXPECT_EQ(comments(cli), comments(reply.body));
  const auto from_cli = samples(cli);
  const auto from_http = samples(reply.body);
  ASSERT_EQ(from_cli.size(), from_http.size());
  const std::regex moving("udpsieve_(uptime_seconds|worker_polls_idle_total|mempool_).*");
  for (const auto& [series, number] : from_cli) {
    ASSERT_TRUE(from_http.contains(series)) << series;
    if (!std::regex_match(series, moving)) {
      EXPECT_EQ(from_http.at(series), number) << series;
    }
  }

  const auto& m = from_http;
  EXPECT_EQ(value(m, R"(udpsieve_port_rx_packets_total{port="wan"})"),
            stats["ports"][0]["rx_packets"].get<uint64_t>());
  EXPECT_EQ(value(m, R"(udpsieve_port_rx_packets_total{port="wan"})"), kPackets);
  const std::string lcore = std::to_string(stats["workers"][0]["lcore"].get<int>());
  EXPECT_EQ(value(m, "udpsieve_worker_rx_packets_total{lcore=\"" + lcore + "\"}"),
            stats["workers"][0]["rx_packets"].get<uint64_t>());
  EXPECT_EQ(value(m, "udpsieve_worker_dropped_packets_total{lcore=\"" + lcore + "\"}"), 2U);
  EXPECT_EQ(value(m, "udpsieve_worker_forwarded_packets_total{lcore=\"" + lcore + "\"}"), 3U);
  for (const auto& [reason, count] : stats["totals"]["drops"].items()) {
    EXPECT_EQ(value(m, "udpsieve_dropped_packets_total{reason=\"" + reason + "\"}"),
              count.get<uint64_t>())
        << reason;
  }
  EXPECT_EQ(value(m, R"(udpsieve_dropped_packets_total{reason="rule"})"), 2U);
  EXPECT_EQ(value(m, R"(udpsieve_rule_packets_total{rule="drop-ntp",source="file"})"), 2U);
  EXPECT_EQ(value(m, R"(udpsieve_rule_packets_total{rule="limit-dns",source="file"})"), 3U);
  EXPECT_EQ(value(m, R"(udpsieve_rule_passed_packets_total{rule="limit-dns",source="file"})"), 3U);
  EXPECT_EQ(value(m, R"(udpsieve_rule_limited_packets_total{rule="limit-dns",source="file"})"), 0U);
  EXPECT_FALSE(m.contains(R"(udpsieve_rule_limited_packets_total{rule="drop-ntp",source="file"})"));
  EXPECT_EQ(value(m, "udpsieve_rules_generation"), 1U);
  EXPECT_EQ(value(m, "udpsieve_reloads_applied_total"), 0U);
  const std::string version = daemon_->request(socket_, "version")["version"];
  EXPECT_TRUE(std::any_of(m.begin(), m.end(), [&](const auto& entry) {
    return entry.first.rfind("udpsieve_build_info{version=\"" + version + "\"", 0) == 0 &&
           entry.second == "1";
  })) << reply.body;
  EXPECT_TRUE(std::any_of(m.begin(), m.end(), [](const auto& entry) {
    return entry.first.rfind("udpsieve_mempool_in_use_mbufs{socket=", 0) == 0;
  })) << reply.body;

  // `--json` is the reply as the daemon sent it.
  const auto json_out = run_program({ctl_binary(), "--socket", socket_, "metrics", "--json"});
  ASSERT_EQ(json_out.exit_code, 0) << json_out.output;
  const auto parsed = nlohmann::json::parse(json_out.output);
  EXPECT_NE(parsed["metrics"].get<std::string>().find("# TYPE udpsieve_port_rx_packets_total "
                                                      "counter\n"),
            std::string::npos);

  // A reload shows in the metrics.
  const auto reload = run_program({ctl_binary(), "--socket", socket_, "reload"});
  ASSERT_EQ(reload.exit_code, 0) << reload.output;
  const auto after = samples(ctl_metrics());
  EXPECT_EQ(value(after, "udpsieve_reloads_applied_total"), 1U);
  EXPECT_EQ(value(after, "udpsieve_rules_generation"), 2U);
  EXPECT_EQ(value(after, R"(udpsieve_rule_packets_total{rule="drop-ntp",source="file"})"), 2U);
}

TEST_F(Metrics, HttpErrorsAndHead) {
  start();
  const HttpReply head = http(port_, "HEAD /metrics HTTP/1.0\r\n\r\n");
  EXPECT_EQ(head.status, "HTTP/1.1 200 OK");
  EXPECT_TRUE(head.body.empty());
  EXPECT_NE(head.headers.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(http(port_, "GET / HTTP/1.1\r\n\r\n").status, "HTTP/1.1 404 Not Found");
  EXPECT_EQ(http(port_, "GET /metrics/x HTTP/1.1\r\n\r\n").status, "HTTP/1.1 404 Not Found");
  const HttpReply post = http(port_, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(post.status, "HTTP/1.1 405 Method Not Allowed");
  EXPECT_NE(post.headers.find("Allow: GET, HEAD\r\n"), std::string::npos) << post.headers;
  EXPECT_EQ(http(port_, "GET /metrics HTTP/x\r\n\r\n").status, "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(http(port_, "nonsense\r\n\r\n").status, "(no reply: )");  // not even a request line
  EXPECT_EQ(http(port_, std::string(20000, 'G')).status, "HTTP/1.1 414 URI Too Long");
  EXPECT_EQ(
      http(port_, "GET /metrics HTTP/1.1\r\nX: " + std::string(20000, 'G') + "\r\n\r\n").status,
      "HTTP/1.1 431 Request Header Fields Too Large");
}

TEST_F(Metrics, SlowAndHalfOpenHttpClientsDoNotStopTheControlSocket) {
  start();
  // One sends half a request and waits; one connects and says nothing; one sends half and
  // closes its writing side.
  TcpClient slow(port_);
  slow.send_all("GET /metr");
  TcpClient silent(port_);
  TcpClient half_closed(port_);
  half_closed.send_all("GET /metrics HTTP/1.1\r\n");
  half_closed.finish_writing();
  for (int i = 0; i < 3; ++i) {
    const auto stats =
        run_program({ctl_binary(), "--socket", socket_, "stats", "--field", "totals.rx_packets"},
                    std::chrono::seconds(10));
    EXPECT_EQ(stats.exit_code, 0) << stats.output;
    EXPECT_EQ(stats.output, std::to_string(kPackets) + "\n");
    EXPECT_EQ(http(port_, "GET /metrics HTTP/1.1\r\n\r\n").status, "HTTP/1.1 200 OK");
  }
  // The half-written request whose writer finished without the blank line is closed without a
  // reply, or answered 408 at the deadline when libmicrohttpd read the end together with the
  // request (its edge-triggered epoll then reports nothing more); the slow and silent clients
  // are cut off at the 5 s request deadline.
  const std::string half = half_closed.read_all();
  EXPECT_TRUE(half.empty() || half.rfind("HTTP/1.1 408", 0) == 0) << half;
  EXPECT_EQ(slow.read_all().substr(0, 12), "HTTP/1.1 408");
  EXPECT_EQ(silent.read_all().substr(0, 12), "HTTP/1.1 408");
}

TEST_F(Metrics, PortInUseStopsStartUpInOneLine) {
  // Hold the port.
  const int holder = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port_);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(listen(holder, 1), 0);
  const auto result =
      run_program({daemon_binary(), "--config", config_, "--file-prefix",
                   udpsieve::test::unique_prefix("metrics-busy"), "--socket", socket_},
                  std::chrono::seconds(60));
  close(holder);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("control.metrics_listen: cannot listen on 127.0.0.1:" +
                               std::to_string(port_) + ": Address already in use"),
            std::string::npos)
      << result.output;
  // Before EAL: DPDK never started.
  EXPECT_EQ(result.output.find("EAL"), std::string::npos) << result.output;
}

TEST(MetricsConfig, NonLoopbackAddressIsRefusedAtLoad) {
  TempDir dir;
  const std::string config =
      dir.write("config.yaml",
                "eal:\n  lcores: [0, 1]\nports:\n  - {name: wan, device: net_null0, forward_to: "
                "wan}\ncontrol:\n  metrics_listen: 192.0.2.1:9917\n");
  const auto result = run_program({daemon_binary(), "--config", config, "--check"});
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(
      result.output.find(config + ":6:19: control.metrics_listen: 192.0.2.1 is not a loopback "
                                  "address; only 127.0.0.0/8 and ::1 are accepted"),
      std::string::npos)
      << result.output;
}

}  // namespace
