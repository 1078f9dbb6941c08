// Control socket hardening against a live daemon: the socket file's mode and group, the peer
// credential check at accept, per-client bounds in size, time and unread replies, the client
// limit, and garbage of every kind. Throughout, a worker forwards full-speed traffic (net_pcap
// infinite_rx into net_null); every test ends by checking it kept going, that its counters
// add up exactly, and that the daemon stops with status 0.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <thread>

#include "support/daemon_process.hpp"
#include "support/packet_builder.hpp"
#include "support/sockets.hpp"
#include "udpsieve/cli/client.hpp"

namespace {

using udpsieve::test::DaemonProcess;
using udpsieve::test::error_text;
using udpsieve::test::RawClient;
using udpsieve::test::TempDir;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

bool is_stats_reply(const std::string& line) {
  const auto reply = nlohmann::json::parse(line, nullptr, false);
  if (!reply.is_object() || !reply.contains("totals")) return false;
  const auto& totals = reply["totals"];
  return totals["rx_packets"].get<uint64_t>() ==
         totals["forwarded_packets"].get<uint64_t>() + totals["dropped_packets"].get<uint64_t>();
}

/// What a client running as another user saw.
struct ChildResult {
  int exit_code = -1;  ///< 0 the daemon closed the connection, 2 connect failed, 3 no close
  std::string output;  ///< the reply bytes, or "connect: <errno text>"
};

/// Forks a child that drops to uid/gid `nobody` with the supplementary `groups` (and primary
/// group `gid`) BEFORE connecting, since the kernel records the peer's credentials at
/// connect(); it sends `request` (`{"cmd":"stats"}` by default), half-closes, and reads until
/// the daemon closes.
ChildResult connect_as_nobody(const std::string& path, gid_t gid, const std::vector<gid_t>& groups,
                              const std::string& request = "{\"cmd\":\"stats\"}\n") {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    close(pipe_fds[0]);
    if (setgroups(groups.size(), groups.data()) != 0 || setgid(gid) != 0 || setuid(kNobody) != 0) {
      _exit(10);
    }
    const int fd = udpsieve::test::connect_unix(path);
    if (fd < 0) {
      const std::string text = std::string("connect: ") + std::strerror(-fd);
      (void)!write(pipe_fds[1], text.data(), text.size());
      _exit(2);
    }
    timeval timeout{20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    for (std::size_t sent = 0; sent < request.size();) {
      const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;  // the daemon may close early on an oversized request
      sent += static_cast<std::size_t>(n);
    }
    shutdown(fd, SHUT_WR);
    char chunk[4096];
    for (;;) {
      const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) _exit(0);
      if (n < 0) _exit(3);
      (void)!write(pipe_fds[1], chunk, static_cast<std::size_t>(n));
    }
  }
  close(pipe_fds[1]);
  ChildResult result;
  char chunk[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], chunk, sizeof chunk)) > 0)
    result.output.append(chunk, static_cast<std::size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

gid_t group_id(const char* name) {
  const group* entry = getgrnam(name);
  if (entry == nullptr) throw std::runtime_error(std::string("no group ") + name);
  return entry->gr_gid;
}

class SocketHardening : public testing::Test {
 protected:
  /// Starts the daemon with `control` (YAML lines under `control:`) and, when not empty, the
  /// timeouts test hook.
  void start(const std::string& control, const std::string& timeouts = "") {
    std::vector<uint8_t> frame =
        udpsieve::test::PacketBuilder().ipv4().udp().payload_size(8).build();
    udpsieve::test::write_pcap(dir_.file("in.pcap"), {frame, frame, frame, frame});
    const std::string config = dir_.write(
        "config.yaml",
        "eal:\n  lcores: [0, 1]\n  memory_mb: 256\nports:\n"
        "  - {name: wan, device: \"net_pcap0,rx_pcap=in.pcap,infinite_rx=1\", forward_to: sink}\n"
        "  - {name: sink, device: \"net_null0,no-rx=1\", forward_to: wan}\n"
        "control:\n  stats_interval_ms: 20\n" +
            control);
    // Other users must reach the socket inside the (mode 0700) temp dir to test the daemon's
    // own check rather than the directory's.
    chmod(dir_.path().c_str(), 0711);
    socket_ = dir_.file("ctl.sock");
    if (!timeouts.empty()) setenv("UDPSIEVE_TEST_SOCKET_TIMEOUTS_MS", timeouts.c_str(), 1);
    daemon_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"--config", config, "--file-prefix",
                                 udpsieve::test::unique_prefix("sockhard"), "--socket", socket_},
        dir_.file("d.log"));
    unsetenv("UDPSIEVE_TEST_SOCKET_TIMEOUTS_MS");
    ASSERT_TRUE(daemon_->wait_ready(socket_)) << daemon_->log();
    rx_at_start_ = rx_packets();
  }

  /// Waits (up to 30 s) until the daemon's log contains `text`.
  bool log_shows(const std::string& text) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (daemon_->log().find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }

  uint64_t rx_packets() const {
    return daemon_->request(socket_, "stats")["totals"]["rx_packets"].get<uint64_t>();
  }

  void SetUp() override { REQUIRE_DPDK(); }

  void TearDown() override {
    if (!daemon_) return;
    // Whatever happened on the socket, the worker kept forwarding, the daemon answers, and it
    // stops cleanly with counters that add up.
    ASSERT_FALSE(daemon_->exited().has_value()) << daemon_->log();
    const auto grew = daemon_->wait_rx(socket_, rx_at_start_ + 1000);
    EXPECT_TRUE(grew.has_value()) << "the worker stopped forwarding\n" << daemon_->log();
    ASSERT_EQ(daemon_->stop(), 0) << daemon_->log();
    const std::string log = daemon_->log();
    const auto rx = udpsieve::test::final_total(log, "rx_packets");
    ASSERT_TRUE(rx.has_value()) << log;
    EXPECT_GT(*rx, rx_at_start_);
    EXPECT_EQ(*rx, *udpsieve::test::final_total(log, "forwarded_packets") +
                       *udpsieve::test::final_total(log, "dropped_packets"))
        << log;
    EXPECT_EQ(*rx, *udpsieve::test::final_total(log, "port_rx_packets")) << log;
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<DaemonProcess> daemon_;
  uint64_t rx_at_start_ = 0;
};

// --- who may connect ---------------------------------------------------------------------------

TEST_F(SocketHardening, DefaultSocketFileIs0660GroupRoot) {
  start("");
  struct stat st {};
  ASSERT_EQ(stat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660U);
  EXPECT_EQ(st.st_uid, 0U);
  EXPECT_EQ(st.st_gid, 0U);
}

TEST_F(SocketHardening, ModeAndGroupComeFromTheConfig) {
  start("  socket_mode: \"0640\"\n  socket_group: daemon\n");
  struct stat st {};
  ASSERT_EQ(stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640U);
  EXPECT_EQ(st.st_gid, group_id("daemon"));
}

TEST_F(SocketHardening, FileModeKeepsOtherUsersOut) {
  start("  socket_group: daemon\n");
  const ChildResult outsider = connect_as_nobody(socket_, kNogroup, {});
  EXPECT_EQ(outsider.exit_code, 2) << outsider.output;
  EXPECT_EQ(outsider.output, "connect: Permission denied");
}

TEST_F(SocketHardening, PeerCredentialsRefuseAUserOutsideTheGroup) {
  // A world-writable file lets anyone connect, so the daemon's SO_PEERCRED check decides.
  start("  socket_mode: \"0666\"\n  socket_group: daemon\n");
  const ChildResult outsider = connect_as_nobody(socket_, kNogroup, {});
  ASSERT_EQ(outsider.exit_code, 0)
      << "the daemon did not close the connection: " << outsider.output;
  EXPECT_EQ(outsider.output,
            "{\"error\":\"permission denied: uid 65534 (nobody) is neither root nor in group "
            "daemon\"}\n");
  // The daemon logs the refusal just after replying, so the log may lag the reply.
  EXPECT_TRUE(log_shows("refused a control connection from uid 65534 (nobody)")) << daemon_->log();
}

TEST_F(SocketHardening, PeerCredentialsAdmitGroupMembers) {
  start("  socket_mode: \"0666\"\n  socket_group: daemon\n");
  const gid_t daemon_group = group_id("daemon");
  // A supplementary member, and a user whose primary group it is.
  for (const auto& [gid, groups] : std::vector<std::pair<gid_t, std::vector<gid_t>>>{
           {kNogroup, {daemon_group}}, {daemon_group, {}}}) {
    const ChildResult member = connect_as_nobody(socket_, gid, groups);
    EXPECT_EQ(member.exit_code, 0) << member.output;
    ASSERT_FALSE(member.output.empty());
    EXPECT_EQ(member.output.back(), '\n');
    EXPECT_TRUE(is_stats_reply(member.output.substr(0, member.output.size() - 1))) << member.output;
  }
}

TEST_F(SocketHardening, GroupMemberPassesTheFileModeToo) {
  start("  socket_group: daemon\n");  // 0660: the file admits the group, the daemon agrees
  const ChildResult member = connect_as_nobody(socket_, kNogroup, {group_id("daemon")});
  EXPECT_EQ(member.exit_code, 0) << member.output;
  EXPECT_TRUE(is_stats_reply(member.output.substr(0, member.output.find('\n')))) << member.output;
}

// --- size and time bounds ----------------------------------------------------------------------

/// The lines of a reply stream.
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(text.substr(start, end - start));
  }
  return lines;
}

TEST_F(SocketHardening, OversizedRequestsGetAnErrorAndAClose) {
  start("  socket_group: daemon\n");
  // A client with read rights only (a member of the socket's group): 64 KiB per request.
  const gid_t member_group = group_id("daemon");
  for (const std::string& request :
       {std::string(64 * 1024 + 1, 'x') + "\n", "{\"cmd\":\"" + std::string(100000, 'a') + "\"}\n",
        std::string(1 << 20, '['), std::string(300000, '\0')}) {
    const ChildResult member = connect_as_nobody(socket_, kNogroup, {member_group}, request);
    ASSERT_EQ(member.exit_code, 0) << "not closed after " << request.size() << " bytes";
    const std::vector<std::string> lines = split_lines(member.output);
    ASSERT_EQ(lines.size(), 1U) << member.output;
    EXPECT_EQ(error_text(lines.front()), "request longer than 65536 bytes");
  }
  // A request of exactly the limit is still served.
  std::string request = "{\"cmd\":\"version\",\"pad\":\"";
  request += std::string(64 * 1024 - request.size() - 2, 'p') + "\"}";
  ASSERT_EQ(request.size(), 64U * 1024);
  const ChildResult exact = connect_as_nobody(socket_, kNogroup, {member_group}, request + "\n");
  ASSERT_EQ(split_lines(exact.output).size(), 1U) << exact.output;
  EXPECT_EQ(error_text(split_lines(exact.output).front()),
            "version: unknown field 'pad' (fields: none besides cmd)");

  // A client with admin rights (root) may send the 16 MiB a rule-sync of a large rule set
  // needs, and no more.
  RawClient admin(socket_);
  admin.send_all(std::string((16U << 20) + 1, 'x'));
  const auto lines = admin.read_until_closed();
  ASSERT_TRUE(lines.has_value()) << "not closed after 16 MiB + 1 bytes";
  ASSERT_EQ(lines->size(), 1U);
  EXPECT_EQ(error_text(lines->front()), "request longer than 16777216 bytes");
}

TEST_F(SocketHardening, HalfWrittenRequestTimesOut) {
  start("", "300,60000");
  RawClient client(socket_);
  client.send_all("{\"cmd\":\"version\"}\n{\"cmd\": \"sta");
  const auto lines = client.read_until_closed();
  ASSERT_TRUE(lines.has_value()) << daemon_->log();
  ASSERT_EQ(lines->size(), 2U);
  EXPECT_EQ(nlohmann::json::parse(lines->at(0))["name"], "udpsieved");
  EXPECT_EQ(error_text(lines->at(1)), "request not completed within 300 ms");
  // A request trickled in slower than the timeout is refused the same way.
  RawClient slow(socket_);
  slow.send_all("{");
  const auto slow_lines = slow.read_until_closed();
  ASSERT_TRUE(slow_lines.has_value());
  ASSERT_EQ(slow_lines->size(), 1U);
  EXPECT_EQ(error_text(slow_lines->front()), "request not completed within 300 ms");
}

TEST_F(SocketHardening, IdleClientsAreClosed) {
  start("", "60000,300");
  RawClient silent(socket_);
  RawClient served(socket_);
  served.send_all("{\"cmd\":\"stats\"}\n");
  const auto silent_lines = silent.read_until_closed();
  ASSERT_TRUE(silent_lines.has_value()) << "an idle client was never closed";
  EXPECT_TRUE(silent_lines->empty());
  const auto served_lines = served.read_until_closed();
  ASSERT_TRUE(served_lines.has_value()) << "a client idle after its reply was never closed";
  ASSERT_EQ(served_lines->size(), 1U);
  EXPECT_TRUE(is_stats_reply(served_lines->front()));
}

// --- rights: read for the socket's group, changes for root and control.admin_group ------------

const std::string kRuleAdd =
    "{\"cmd\":\"rule-add\",\"rules\":[{\"id\":\"r1\",\"match\":{\"dst_port\":53},"
    "\"action\":\"drop\"}]}\n";

/// control lines for start(), plus the runtime rules' state file in the temp dir (an accepted
/// rule-add writes it; the default is under /var/lib).
std::string with_state_file(const TempDir& dir, const std::string& control) {
  return control + "pipeline:\n  dynamic_state: " + dir.file("state.json") + "\n";
}

TEST_F(SocketHardening, SocketGroupReadsButMayNotChangeRules) {
  start(with_state_file(dir_, "  socket_group: daemon\n"));
  const ChildResult member = connect_as_nobody(socket_, kNogroup, {group_id("daemon")},
                                               "{\"cmd\":\"stats\"}\n" + kRuleAdd);
  ASSERT_EQ(member.exit_code, 0) << member.output;
  const std::vector<std::string> lines = split_lines(member.output);
  ASSERT_EQ(lines.size(), 2U) << member.output;
  EXPECT_TRUE(is_stats_reply(lines[0])) << lines[0];
  EXPECT_EQ(error_text(lines[1]),
            "permission denied: rule-add needs admin rights: root (set control.admin_group to "
            "admit a group's members)");
  EXPECT_TRUE(daemon_->request(socket_, "rules")["rules"].empty());
}

TEST_F(SocketHardening, AdminGroupMembersMayChangeRules) {
  start(with_state_file(dir_, "  socket_group: daemon\n  admin_group: adm\n"));
  const gid_t socket_group = group_id("daemon");
  const ChildResult reader = connect_as_nobody(socket_, kNogroup, {socket_group}, kRuleAdd);
  ASSERT_EQ(reader.exit_code, 0) << reader.output;
  ASSERT_EQ(split_lines(reader.output).size(), 1U) << reader.output;
  EXPECT_EQ(error_text(split_lines(reader.output).front()),
            "permission denied: rule-add needs admin rights: root or a member of group adm "
            "(control.admin_group)");

  const ChildResult admin =
      connect_as_nobody(socket_, kNogroup, {socket_group, group_id("adm")}, kRuleAdd);
  ASSERT_EQ(admin.exit_code, 0) << admin.output;
  const auto reply = nlohmann::json::parse(admin.output, nullptr, false);
  ASSERT_TRUE(reply.is_object()) << admin.output;
  EXPECT_EQ(reply["added"], nlohmann::json::array({"r1"})) << admin.output;
  const nlohmann::json rules = daemon_->request(socket_, "rules")["rules"];
  ASSERT_EQ(rules.size(), 1U) << rules;
  EXPECT_EQ(rules[0]["id"], "r1");
  EXPECT_EQ(rules[0]["source"], "api");
}

// --- many clients ------------------------------------------------------------------------------

TEST_F(SocketHardening, HundredConcurrentClientsAreAllServed) {
  start("");
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 100; ++i)
    clients.push_back(std::make_unique<RawClient>(socket_));
  for (auto& client : clients)
    client->send_all("{\"cmd\":\"stats\"}\n");
  for (auto& client : clients) {
    const auto lines = client->read_lines(1);
    ASSERT_EQ(lines.size(), 1U);
    EXPECT_TRUE(is_stats_reply(lines[0])) << lines[0];
  }
  // And from 100 threads at once through the CLI's client.
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int i = 0; i < 100; ++i) {
    threads.emplace_back([&] {
      try {
        const std::string reply = udpsieve::cli::request(
            socket_, udpsieve::cli::command_request("stats"), std::chrono::seconds(30));
        if (is_stats_reply(reply)) ++good;
      } catch (const std::exception&) {
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(good.load(), 100);
}

TEST_F(SocketHardening, The257thClientIsRefusedAndASlotFreesUp) {
  start("");
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 256; ++i) {
    clients.push_back(std::make_unique<RawClient>(socket_));
    clients.back()->send_all("{\"cmd\":\"version\"}\n");
  }
  // Every one of them was accepted: each got its reply.
  for (auto& client : clients) {
    const auto lines = client->read_lines(1);
    ASSERT_EQ(lines.size(), 1U);
    ASSERT_EQ(nlohmann::json::parse(lines[0])["name"], "udpsieved");
  }
  {
    RawClient extra(socket_);
    const auto lines = extra.read_until_closed();
    ASSERT_TRUE(lines.has_value());
    ASSERT_EQ(lines->size(), 1U);
    EXPECT_EQ(error_text(lines->front()),
              "too many control clients (256 connected); try again later");
  }
  {
    // udpsievectl's client shows the daemon's reason, even when the refusal closes the
    // connection while it is still sending (a request larger than the socket's buffer).
    const std::string big = "{\"cmd\":\"version\",\"pad\":\"" + std::string(4 << 20, 'x') + "\"}";
    const std::string reply = udpsieve::cli::request(socket_, big, std::chrono::seconds(30));
    EXPECT_EQ(error_text(reply), "too many control clients (256 connected); try again later");
  }
  // Once one leaves, a newcomer gets in (the daemon notices the close before the next accept).
  clients.pop_back();
  bool admitted = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!admitted && std::chrono::steady_clock::now() < deadline) {
    RawClient newcomer(socket_);
    newcomer.send_all("{\"cmd\":\"version\"}\n");
    const auto lines = newcomer.read_lines(1);
    admitted = lines.size() == 1 && nlohmann::json::parse(lines[0]).contains("version");
    if (!admitted) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(admitted);
}

// --- garbage -----------------------------------------------------------------------------------

TEST_F(SocketHardening, GarbageGetsErrorRepliesOnAConnectionThatStaysUsable) {
  start("");
  std::string deep_array(30000, '[');
  deep_array += std::string(30000, ']');
  std::string deep_object;
  for (int i = 0; i < 6000; ++i)
    deep_object += "{\"a\":";
  deep_object += "1" + std::string(6000, '}');
  const std::vector<std::string> garbage = {
      std::string("\x00\x01\x02\x03", 4),
      "\xc3\x28\xa0\xa1\xf0\x28\x8c\xbc",        // invalid UTF-8
      "{\"cmd\":\"st\xff\xfe\"}",                // invalid UTF-8 inside a string
      std::string("{\"cmd\":\"stats\0\"}", 16),  // a NUL inside
      "\"stats\"",
      "123",
      "null",
      "[]",
      "[{\"cmd\":\"stats\"}]",
      "{\"cmd\":null}",
      "{\"cmd\":123456789012345678901234567890}",
      "{\"cmd\":1e999999}",
      "{\"cmd\":-1e-999999}",
      "{\"cmd\":\"stats\",\"x\":1e400}",
      "{\"cmd\":\"stats\",\"x\":-99999999999999999999999999999999999999}",
      deep_array,
      deep_object,
      "{\"cmd\":\"" + std::string(5000, '\\') + "\"}",
      "{\"cmd\":\"\\ud800\"}",  // a lone surrogate
      "{\"cmd\":\"check\",\"files\":7}",
      "{\"cmd\":\"check\",\"files\":[1,{},null]}",
      "{\"cmd\":\"check\",\"files\":[\"/nonexistent/\\u0000\"]}",
  };
  RawClient client(socket_);
  for (const std::string& line : garbage) {
    client.send_all(line + "\n");
    const auto lines = client.read_lines(1);
    ASSERT_EQ(lines.size(), 1U) << "no reply to: " << line.substr(0, 60) << "\n" << daemon_->log();
    const auto reply = nlohmann::json::parse(lines[0], nullptr, false);
    ASSERT_TRUE(reply.is_object()) << lines[0];
    // A few are well-formed stats requests with an extra member: those get stats.
    EXPECT_TRUE(reply.contains("error") || reply.contains("totals")) << lines[0];
  }
  client.send_all("{\"cmd\":\"stats\"}\n");
  const auto lines = client.read_lines(1);
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_TRUE(is_stats_reply(lines[0]));
}

TEST_F(SocketHardening, RandomBinaryNeverCrashesTheDaemon) {
  start("");
  std::mt19937 random(12345);  // fixed seed: the same bytes every run
  for (int round = 0; round < 40; ++round) {
    std::string bytes(1 + random() % 5000, '\0');
    for (char& c : bytes)
      c = static_cast<char>(random());
    RawClient client(socket_);
    client.send_all(bytes);
    client.finish_writing();
    const auto lines = client.read_until_closed();
    ASSERT_TRUE(lines.has_value()) << "round " << round;
    for (const std::string& line : *lines) {
      const auto reply = nlohmann::json::parse(line, nullptr, false);
      EXPECT_TRUE(reply.is_object() && reply.contains("error")) << line;
    }
    ASSERT_FALSE(daemon_->exited().has_value()) << daemon_->log();
  }
  EXPECT_EQ(daemon_->request(socket_, "version")["name"], "udpsieved");
}

TEST_F(SocketHardening, VanishingClientsMidRequestAreHarmless) {
  start("");
  for (int i = 0; i < 50; ++i) {
    RawClient client(socket_);
    client.send_all(i % 2 == 0 ? "{\"cmd\":\"sta" : "{\"cmd\":\"stats\"}\n{\"cmd\":\"stats\"}\n");
  }  // closed without reading
  EXPECT_EQ(daemon_->request(socket_, "version")["name"], "udpsieved");
}

// --- clients that do not read ------------------------------------------------------------------

TEST_F(SocketHardening, AClientThatNeverReadsIsClosedWithoutStallingOthers) {
  start("");
  RawClient flooder(socket_);
  const int fd = flooder.fd();
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string batch;
  for (int i = 0; i < 256; ++i)
    batch += "{\"cmd\":\"stats\"}\n";
  bool closed = false;
  int served_meanwhile = 0;
  std::size_t offset = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!closed && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLOUT, 0};
    (void)poll(&p, 1, 100);
    const ssize_t n = send(fd, batch.data() + offset, batch.size() - offset, MSG_NOSIGNAL);
    if (n > 0) {
      offset = (offset + static_cast<std::size_t>(n)) % batch.size();
    } else if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
      closed = true;
    } else if ((p.revents & (POLLHUP | POLLERR)) != 0) {
      closed = true;
    }
    // Everyone else is still served meanwhile.
    const std::string reply = udpsieve::cli::request(
        socket_, udpsieve::cli::command_request("stats"), std::chrono::seconds(30));
    if (is_stats_reply(reply)) ++served_meanwhile;
  }
  EXPECT_TRUE(closed) << "a client leaving replies unread was never closed\n" << daemon_->log();
  EXPECT_GT(served_meanwhile, 0);
  EXPECT_TRUE(log_shows("MiB of replies unread")) << daemon_->log();
}

}  // namespace

namespace {

TEST(SocketHardeningHook, MalformedTimeoutsHookStopsStartupWithOneLine) {
  TempDir dir;
  const std::string config =
      dir.write("config.yaml",
                "eal:\n  lcores: [0, 1]\nports:\n  - {name: wan, device: net_null0, forward_to: "
                "wan}\ncontrol:\n  socket: ctl.sock\n");
  setenv("UDPSIEVE_TEST_SOCKET_TIMEOUTS_MS", "300", 1);
  const auto result =
      udpsieve::test::run_program({udpsieve::test::daemon_binary(), "--config", config,
                                   "--file-prefix", udpsieve::test::unique_prefix("sockhook")});
  unsetenv("UDPSIEVE_TEST_SOCKET_TIMEOUTS_MS");
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("UDPSIEVE_TEST_SOCKET_TIMEOUTS_MS: expected REQUEST_MS,IDLE_MS "
                               "(a test hook), got '300'"),
            std::string::npos)
      << result.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("ctl.sock")));
}

}  // namespace
