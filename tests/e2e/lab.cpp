#include "e2e/lab.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace udpsieve::test::e2e {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

/// Big enough for everything one test sends to one socket, so the receiving kernel never
/// drops (SO_RCVBUFFORCE: root may exceed net.core.rmem_max).
constexpr int kReceiveBuffer = 32 << 20;

void force_receive_buffer(int fd) {
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kReceiveBuffer, sizeof kReceiveBuffer) != 0) {
    fail("SO_RCVBUFFORCE");
  }
}

bool wait_readable(int fd, std::chrono::milliseconds timeout) {
  pollfd entry{fd, POLLIN, 0};
  const int ready = poll(&entry, 1, static_cast<int>(timeout.count()));
  return ready > 0 && (entry.revents & POLLIN) != 0;
}

}  // namespace

void Fd::reset() noexcept {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void in_netns(const std::string& netns, const std::function<void()>& fn) {
  std::exception_ptr error;
  std::thread worker([&] {
    try {
      const std::string path = "/run/netns/" + netns;
      const Fd ns(open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (ns.get() < 0) fail("open " + path);
      if (setns(ns.get(), CLONE_NEWNET) != 0) fail("setns " + path);
      fn();
    } catch (...) {
      error = std::current_exception();
    }
  });
  worker.join();
  if (error) std::rethrow_exception(error);
}

std::string find_program(const std::string& name) {
  std::string search = "/usr/sbin:/sbin";
  if (const char* path = std::getenv("PATH"); path != nullptr)
    search = std::string(path) + ":" + search;
  std::size_t start = 0;
  while (start <= search.size()) {
    const std::size_t end = std::min(search.find(':', start), search.size());
    std::string candidate = search.substr(start, end - start) + "/" + name;
    if (end > start && access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

Lab::Lab(const std::string& tag) : name_(tag + "_" + std::to_string(getpid())) {
  const std::string script = source_dir() + "/scripts/netns-lab.sh";
  const RunResult up = run_program({find_program("bash"), script, "up", name_});
  if (up.exit_code != 0) {
    (void)run_program({find_program("bash"), script, "down", name_});
    throw std::runtime_error("netns-lab.sh up " + name_ + " failed:\n" + up.output);
  }
}

Lab::~Lab() {
  if (std::getenv("UDPSIEVE_KEEP_LAB") != nullptr) return;
  (void)run_program({find_program("bash"), source_dir() + "/scripts/netns-lab.sh", "down", name_});
}

Endpoint endpoint(const std::string& ip, uint16_t port) {
  Endpoint out;
  if (ip.find(':') == std::string::npos) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out.address);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) != 1) throw std::invalid_argument(ip);
    out.length = sizeof(sockaddr_in);
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.address);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) != 1) throw std::invalid_argument(ip);
    out.length = sizeof(sockaddr_in6);
  }
  return out;
}

Fd udp_socket(const std::string& netns, const std::string& ip, uint16_t port) {
  Fd out;
  in_netns(netns, [&] {
    const Endpoint local = endpoint(ip, port);
    Fd fd(socket(local.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) fail("socket");
    force_receive_buffer(fd.get());
    if (local.family() == AF_INET6) {
      const int on = 1;
      (void)setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    }
    if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&local.address), local.length) != 0) {
      fail("bind " + ip + " port " + std::to_string(port) + " in " + netns);
    }
    out = std::move(fd);
  });
  return out;
}

void send_datagram(const Fd& socket, const Endpoint& to, const std::vector<uint8_t>& payload) {
  const ssize_t sent = sendto(socket.get(), payload.data(), payload.size(), 0,
                              reinterpret_cast<const sockaddr*>(&to.address), to.length);
  if (sent != static_cast<ssize_t>(payload.size())) fail("sendto");
}

std::optional<std::vector<uint8_t>> receive_datagram(const Fd& socket,
                                                     std::chrono::milliseconds timeout,
                                                     Endpoint* from) {
  if (!wait_readable(socket.get(), timeout)) return std::nullopt;
  std::vector<uint8_t> buffer(65536);
  Endpoint peer;
  peer.length = sizeof peer.address;
  const ssize_t n = recvfrom(socket.get(), buffer.data(), buffer.size(), MSG_DONTWAIT,
                             reinterpret_cast<sockaddr*>(&peer.address), &peer.length);
  if (n < 0) return std::nullopt;
  buffer.resize(static_cast<std::size_t>(n));
  if (from != nullptr) *from = peer;
  return buffer;
}

Fd capture_socket(const std::string& netns, const std::string& interface) {
  Fd out;
  in_netns(netns, [&] {
    // Protocol 0 until bound, so no frame of another interface is ever queued.
    Fd fd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) fail("socket(AF_PACKET)");
    force_receive_buffer(fd.get());
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = static_cast<int>(if_nametoindex(interface.c_str()));
    if (address.sll_ifindex == 0) fail("if_nametoindex " + interface);
    if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      fail("bind packet socket to " + interface);
    }
    out = std::move(fd);
  });
  return out;
}

std::optional<std::vector<uint8_t>> receive_frame(const Fd& capture,
                                                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!wait_readable(capture.get(), std::max(left, std::chrono::milliseconds(0)))) {
      return std::nullopt;
    }
    std::vector<uint8_t> buffer(65536);
    sockaddr_ll from{};
    socklen_t length = sizeof from;
    const ssize_t n = recvfrom(capture.get(), buffer.data(), buffer.size(), MSG_DONTWAIT,
                               reinterpret_cast<sockaddr*>(&from), &length);
    if (n < 0) continue;
    if (from.sll_pkttype == PACKET_OUTGOING) continue;  // the namespace's own frames
    buffer.resize(static_cast<std::size_t>(n));
    return buffer;
  }
}

const char* pmd_driver(Pmd pmd) {
  return pmd == Pmd::kAfPacket ? "net_af_packet" : "net_af_xdp";
}

void PrintTo(Pmd pmd, std::ostream* out) {
  *out << pmd_driver(pmd);
}

std::optional<std::string> kernel_lacks_af_xdp() {
#ifndef AF_XDP
  constexpr int AF_XDP = 44;
#endif
  const Fd probe(socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (probe.get() < 0) {
    return std::string("this kernel has no AF_XDP sockets (socket(AF_XDP): ") +
           std::strerror(errno) + "; CONFIG_XDP_SOCKETS is off)";
  }
  return std::nullopt;
}

LabDaemon::LabDaemon(const Lab& lab, Pmd pmd, const TempDir& dir, const std::string& rules_path)
    : socket_(dir.file("ctl.sock")),
      log_path_(dir.file("udpsieved.log")),
      prefix_(unique_prefix("e2e_" + lab.name())) {
  const auto device = [&](int index, const std::string& interface) {
    // busy_budget=0: veth has no busy-poll support worth asking for.
    return pmd == Pmd::kAfPacket
               ? "net_af_packet" + std::to_string(index) + ",iface=" + interface
               : "net_af_xdp" + std::to_string(index) + ",iface=" + interface + ",busy_budget=0";
  };
  config_ = dir.write("config.yaml",
                      "eal:\n  lcores: [0, 1]\n  memory_mb: 256\n"
                      "ports:\n"
                      "  - name: client\n    device: \"" +
                          device(0, lab.host_client_if()) +
                          "\"\n    forward_to: server\n"
                          "  - name: server\n    device: \"" +
                          device(1, lab.host_server_if()) +
                          "\"\n    forward_to: client\n"
                          "pipeline:\n  default_action: drop\n  non_udp: drop\n"
                          "  rules: [\"" +
                          rules_path +
                          "\"]\n"
                          "control:\n  stats_interval_ms: 10\n");
}

bool LabDaemon::start(std::string& why) {
  process_ = std::make_unique<DaemonProcess>(
      std::vector<std::string>{"--config", config_, "--file-prefix", prefix_, "--socket", socket_},
      log_path_);
  if (process_->wait_ready(socket_)) return true;
  (void)process_->stop(9);
  why = process_->log();
  return false;
}

nlohmann::json LabDaemon::request(const std::string& command) const {
  return process_->request(socket_, command);
}

std::optional<nlohmann::json> LabDaemon::wait_stats(
    const std::function<bool(const nlohmann::json&)>& done, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (process_->exited()) return std::nullopt;
    nlohmann::json stats = request("stats");
    if (done(stats)) return stats;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int LabDaemon::stop() {
  return process_ ? process_->stop() : -1;
}

std::string LabDaemon::drivers() const {
  std::string out;
  const nlohmann::json reply = request("ports");
  for (const auto& port : reply["ports"]) {
    if (!out.empty()) out += ' ';
    out += port["name"].get<std::string>() + "=" + port["driver"].get<std::string>();
  }
  return out;
}

uint64_t udp_classified(const nlohmann::json& stats) {
  uint64_t total = stats["totals"]["drops"]["default"].get<uint64_t>();
  for (const auto& rule : stats["rules"])
    total += rule["packets"].get<uint64_t>();
  return total;
}

void PrintTo(const RuleCount& count, std::ostream* out) {
  *out << "{packets " << count.packets << ", bytes " << count.bytes << "}";
}

std::vector<std::pair<std::string, RuleCount>> rule_counts(const nlohmann::json& stats) {
  std::vector<std::pair<std::string, RuleCount>> out;
  for (const auto& rule : stats["rules"]) {
    out.emplace_back(rule["id"].get<std::string>(),
                     RuleCount{rule["packets"].get<uint64_t>(), rule["bytes"].get<uint64_t>()});
  }
  return out;
}

}  // namespace udpsieve::test::e2e
