#pragma once
/// The optional HTTP endpoint for Prometheus (control.metrics_listen): GET /metrics on a
/// loopback address.
///
/// A deliberately small HTTP/1.x server: one request per connection, answered and closed
/// (Connection: close). Non-blocking and driven from the control loop's tick, so it never
/// makes the control thread wait: every poll() accepts, reads, answers and writes what it can
/// without blocking and returns. Each client is bounded in memory (an 8 KiB request head) and
/// time (the head must arrive within 5 s; a reply the client does not read is dropped after
/// 10 s without progress); at most 16 clients at once. DPDK-free.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "udpsieve/config/config.hpp"

namespace udpsieve::control {

/// What to answer to one request head.
struct HttpVerdict {
  int status = 400;        ///< 200, 400, 404 or 405
  bool head_only = false;  ///< HEAD: headers without the body
};

/// Classifies a complete request head (request line and header lines, without the blank line):
/// a malformed head is 400; a path other than /metrics (a query string is ignored) is 404; a
/// method other than GET and HEAD is 405.
[[nodiscard]] HttpVerdict classify_http_request(std::string_view head);

/// The bounds on each client.
struct HttpLimits {
  std::size_t max_request_bytes = 8 * 1024;
  std::chrono::milliseconds request_timeout{5000};  ///< from accept to a complete head
  std::chrono::milliseconds write_timeout{10000};   ///< without a byte of the reply accepted
  std::size_t max_clients = 16;
};

class MetricsHttpServer {
 public:
  /// Binds and listens on `address`. Throws std::runtime_error with a one-line reason (e.g. the
  /// port is in use).
  explicit MetricsHttpServer(const config::ListenAddress& address, HttpLimits limits = {});
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  /// Produces the exposition; called only when a GET or HEAD /metrics is being answered.
  using Body = std::function<std::string()>;
  /// Does what can be done without blocking: accepts, reads, answers, writes, closes.
  void poll(const Body& body);

  /// "127.0.0.1:9917", with the port actually bound.
  [[nodiscard]] std::string address() const;
  [[nodiscard]] uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::size_t client_count() const noexcept { return clients_.size(); }

 private:
  using Clock = std::chrono::steady_clock;
  enum class Phase : uint8_t { reading, writing, draining };
  struct Client {
    int fd = -1;
    Phase phase = Phase::reading;
    std::string in;
    std::string out;
    std::size_t sent = 0;
    Clock::time_point deadline{};
  };

  void accept_clients(Clock::time_point now);
  void read_request(Client& client, const Body& body, Clock::time_point now);
  void respond(Client& client, int status, bool head_only, const std::string& payload,
               Clock::time_point now);
  void write_reply(Client& client, Clock::time_point now);
  static void drain(Client& client);

  config::ListenAddress address_;
  HttpLimits limits_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::vector<Client> clients_;
};

}  // namespace udpsieve::control
