#pragma once
// End-to-end support: the network-namespace lab of scripts/netns-lab.sh, sockets inside its
// namespaces, and udpsieved attached to its host ends with net_af_packet or net_af_xdp.
//
// Sockets are created on a short-lived thread that has entered the namespace (setns() on a
// network namespace changes only the calling thread); a socket keeps its namespace for life,
// so the test's own thread then uses it directly.

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "support/daemon_process.hpp"

namespace udpsieve::test::e2e {

// The lab's fixed addresses (scripts/netns-lab.sh and tests/e2e/make_mixed.py use the same).
inline constexpr const char* kClientIp4 = "10.77.0.1";
inline constexpr const char* kServerIp4 = "10.77.0.2";
inline constexpr const char* kClientIp6 = "fd00:77::1";
inline constexpr const char* kServerIp6 = "fd00:77::2";
/// The client's second addresses, for rules on source prefixes.
inline constexpr const char* kClientAltIp4 = "10.77.0.129";
inline constexpr const char* kClientAltIp6 = "fd00:77::8001";
/// The veth MTU of every lab interface.
inline constexpr std::size_t kMtu = 1500;

/// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.release();
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const noexcept { return fd_; }
  int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset() noexcept;

 private:
  int fd_ = -1;
};

/// Runs `fn` on a thread that has entered the network namespace /run/netns/`netns`; rethrows
/// what `fn` throws.
void in_netns(const std::string& netns, const std::function<void()>& fn);

/// The full path of a program found in $PATH, /usr/sbin or /sbin; empty when none.
[[nodiscard]] std::string find_program(const std::string& name);

/// One lab built with `scripts/netns-lab.sh up NAME` and removed with `down NAME` on
/// destruction (also when the test fails).
class Lab {
 public:
  /// `tag`: 1-4 of [a-z0-9]; the lab's name is tag + '_' + this process's id (at most 12
  /// characters, as the script wants), so labs of tests running side by side never clash.
  /// Throws when the lab cannot be built.
  explicit Lab(const std::string& tag);
  ~Lab();
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] std::string client_ns() const { return name_ + "-client"; }
  [[nodiscard]] std::string server_ns() const { return name_ + "-server"; }
  [[nodiscard]] std::string client_if() const { return name_ + "-c"; }
  [[nodiscard]] std::string server_if() const { return name_ + "-s"; }
  /// The host ends udpsieved attaches to.
  [[nodiscard]] std::string host_client_if() const { return name_ + "-hc"; }
  [[nodiscard]] std::string host_server_if() const { return name_ + "-hs"; }

 private:
  std::string name_;
};

/// A socket address for `ip` (IPv4 or IPv6 text) and `port`.
struct Endpoint {
  sockaddr_storage address{};
  socklen_t length = 0;
  [[nodiscard]] int family() const noexcept { return address.ss_family; }
};
[[nodiscard]] Endpoint endpoint(const std::string& ip, uint16_t port);

/// A UDP socket in `netns` bound to ip:port, with a receive buffer large enough that nothing a
/// test sends is ever dropped by the receiving kernel.
[[nodiscard]] Fd udp_socket(const std::string& netns, const std::string& ip, uint16_t port);
/// Sends `payload` from `socket` to `to`; throws on failure.
void send_datagram(const Fd& socket, const Endpoint& to, const std::vector<uint8_t>& payload);
/// Receives one datagram, waiting at most `timeout`; nullopt when none came.
[[nodiscard]] std::optional<std::vector<uint8_t>> receive_datagram(
    const Fd& socket, std::chrono::milliseconds timeout, Endpoint* from = nullptr);

/// A packet socket in `netns` on `interface` that captures every frame the interface receives
/// (not the ones it sends), with a large buffer.
[[nodiscard]] Fd capture_socket(const std::string& netns, const std::string& interface);
/// Receives one captured frame that arrived on the interface (skipping outgoing ones), waiting
/// at most `timeout`; nullopt when none came.
[[nodiscard]] std::optional<std::vector<uint8_t>> receive_frame(const Fd& capture,
                                                                std::chrono::milliseconds timeout);

/// The DPDK poll-mode driver udpsieved attaches to the lab with.
enum class Pmd { kAfPacket, kAfXdp };
[[nodiscard]] const char* pmd_driver(Pmd pmd);  ///< "net_af_packet" / "net_af_xdp"
/// For GoogleTest's test names and messages.
void PrintTo(Pmd pmd, std::ostream* out);

/// Whether this kernel can run net_af_xdp at all (AF_XDP sockets exist); the reason if not.
[[nodiscard]] std::optional<std::string> kernel_lacks_af_xdp();

/// udpsieved with one worker, port `client` on the lab's host client end and `server` on its
/// host server end (each forwarding to the other), `pipeline.default_action: drop` and
/// `pipeline.non_udp: drop` (so the namespaces' own ICMPv6/MLD frames never cross and are
/// counted apart from UDP), and the rule file `rules_path`.
class LabDaemon {
 public:
  LabDaemon(const Lab& lab, Pmd pmd, const TempDir& dir, const std::string& rules_path);

  /// Waits for the control socket; false (with the log in `why`) when the daemon did not start.
  [[nodiscard]] bool start(std::string& why);
  [[nodiscard]] nlohmann::json request(const std::string& command) const;
  /// Polls `stats` until `done(stats)` holds; the last reply, or nullopt on timeout or exit.
  [[nodiscard]] std::optional<nlohmann::json> wait_stats(
      const std::function<bool(const nlohmann::json&)>& done,
      std::chrono::seconds timeout = std::chrono::seconds(30));
  /// Stops with SIGTERM; the exit status.
  int stop();
  [[nodiscard]] std::string log() const { return process_ ? process_->log() : std::string(); }
  /// "client=net_af_packet server=net_af_packet", from the `ports` reply.
  [[nodiscard]] std::string drivers() const;

 private:
  std::string config_;
  std::string socket_;
  std::string log_path_;
  std::string prefix_;
  std::unique_ptr<DaemonProcess> process_;
};

/// UDP the daemon has classified: every rule's packets plus the default-action drops (with
/// default_action: drop, each UDP frame lands in exactly one of them).
[[nodiscard]] uint64_t udp_classified(const nlohmann::json& stats);

/// Per rule id: packets and bytes from a `stats` reply.
struct RuleCount {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  bool operator==(const RuleCount&) const = default;
};
/// For GoogleTest's messages: {packets N, bytes M}.
void PrintTo(const RuleCount& count, std::ostream* out);
[[nodiscard]] std::vector<std::pair<std::string, RuleCount>> rule_counts(
    const nlohmann::json& stats);

}  // namespace udpsieve::test::e2e
