// The control socket's line protocol against a live daemon: every bad request gets an error
// reply (or, past the size bound, a closed connection) and the daemon carries on.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "support/daemon_process.hpp"
#include "support/packet_builder.hpp"
#include "support/sockets.hpp"

namespace {

using udpsieve::test::DaemonProcess;
using udpsieve::test::error_text;
using udpsieve::test::RawClient;
using udpsieve::test::TempDir;

constexpr std::chrono::seconds kReadTimeout{10};

class ControlSocket : public testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_DPDK();
    udpsieve::test::write_pcap(
        dir_.file("in.pcap"),
        {udpsieve::test::PacketBuilder().ipv4().udp().payload_size(8).build()});
    const std::string config =
        dir_.write("config.yaml",
                   "eal:\n  lcores: [0, 1]\n  memory_mb: 256\nports:\n"
                   "  - {name: wan, device: \"net_pcap0,rx_pcap=in.pcap\", forward_to: wan}\n");
    socket_ = dir_.file("ctl.sock");
    daemon_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"--config", config, "--file-prefix",
                                 udpsieve::test::unique_prefix("ctlsock"), "--socket", socket_},
        dir_.file("d.log"));
    ASSERT_TRUE(daemon_->wait_ready(socket_)) << daemon_->log();
  }
  void TearDown() override {
    if (daemon_) {
      // Whatever happened on the socket, the daemon still answers and stops cleanly.
      EXPECT_TRUE(daemon_->wait_rx(socket_, 1).has_value()) << daemon_->log();
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    }
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(ControlSocket, BadRequestsGetErrorsAndTheConnectionStaysUsable) {
  RawClient client(socket_, kReadTimeout);
  client.send_all("not json\n");
  client.send_all("[1,2]\n");
  client.send_all("{\"cmd\": 5}\n");
  client.send_all("{\"command\": \"stats\"}\n");
  client.send_all("{\"cmd\": \"reboot\"}\n");
  client.send_all("{\"cmd\": \"version\"}\r\n");
  client.send_all("\xff\xfe{\n");
  const auto lines = client.read_lines(7);
  ASSERT_EQ(lines.size(), 7U);
  EXPECT_NE(error_text(lines[0]).find("request is not valid JSON"), std::string::npos);
  EXPECT_EQ(error_text(lines[1]), R"(a request is a JSON object like {"cmd": "stats"})");
  EXPECT_EQ(error_text(lines[2]), R"(a request is a JSON object like {"cmd": "stats"})");
  EXPECT_EQ(error_text(lines[3]), R"(a request is a JSON object like {"cmd": "stats"})");
  EXPECT_EQ(error_text(lines[4]),
            "unknown command 'reboot' (commands: stats, ports, workers, rules, talkers, version, "
            "steering, metrics, reload, check, capture, rule-add, rule-del, rule-sync, set-add, "
            "set-del, set-list, set-flush)");
  EXPECT_EQ(nlohmann::json::parse(lines[5])["name"], "udpsieved");
  EXPECT_NE(error_text(lines[6]).find("request is not valid JSON"), std::string::npos);
}

TEST_F(ControlSocket, SeveralRequestsInOneWriteEachGetAReply) {
  RawClient client(socket_, kReadTimeout);
  client.send_all("{\"cmd\":\"version\"}\n{\"cmd\":\"stats\"}\n{\"cmd\":\"ports\"}\n");
  const auto lines = client.read_lines(3);
  ASSERT_EQ(lines.size(), 3U);
  EXPECT_TRUE(nlohmann::json::parse(lines[0]).contains("version"));
  EXPECT_TRUE(nlohmann::json::parse(lines[1]).contains("totals"));
  EXPECT_TRUE(nlohmann::json::parse(lines[2]).contains("ports"));
}

TEST_F(ControlSocket, RequestWithoutNewlineIsAnsweredAtEndOfInput) {
  RawClient client(socket_, kReadTimeout);
  client.send_all("{\"cmd\":\"version\"}");
  client.finish_writing();
  const auto lines = client.read_lines(1);
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["name"], "udpsieved");
  EXPECT_TRUE(client.closed_by_peer());
}

TEST_F(ControlSocket, OversizedRequestGetsAnErrorAndIsClosed) {
  // This test runs as root, whose requests (admin rights) may be 16 MiB long.
  RawClient client(socket_, kReadTimeout);
  client.send_all(std::string((16U << 20) + 200, 'x'));
  const auto lines = client.read_lines(1);
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(error_text(lines[0]), "request longer than 16777216 bytes");
  EXPECT_TRUE(client.closed_by_peer());
}

TEST_F(ControlSocket, HalfWrittenRequestFromAVanishedClientIsHarmless) {
  {
    RawClient client(socket_, kReadTimeout);
    client.send_all("{\"cmd\":\"sta");
  }  // closed mid-request
  RawClient again(socket_, kReadTimeout);
  again.send_all("{\"cmd\":\"version\"}\n");
  EXPECT_EQ(again.read_lines(1).size(), 1U);
}

}  // namespace
