#pragma once
/// The optional HTTP endpoint for Prometheus (control.metrics_listen): GET /metrics on a
/// loopback address, served by libmicrohttpd (MHD).
///
/// MHD runs in external polling mode with no thread of its own: the control loop's tick calls
/// poll(), which accepts, reads, answers and writes what it can without blocking and returns.
/// One request per connection, answered and closed (Connection: close). The listening socket is
/// ours: poll() accepts and hands each connection to MHD, or answers 503 itself beyond the
/// client limit. Each client is bounded in memory (MHD's per-connection pool, which holds the
/// request head), in time (the head must reach the handler within request_timeout, else 408;
/// MHD closes a connection idle for write_timeout, rounded up to whole seconds) and in number.
/// DPDK-free.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "udpsieve/config/config.hpp"

struct MHD_Daemon;
struct MHD_Connection;

namespace udpsieve::control {

/// The bounds on each client.
struct HttpLimits {
  /// MHD's memory pool per connection (MHD_OPTION_CONNECTION_MEMORY_LIMIT). The request head
  /// must fit in it beside MHD's bookkeeping: a longer request line is answered 414, longer
  /// header lines 431.
  std::size_t max_request_bytes = 8 * 1024;
  /// From accept to a complete request head; then 408 and the connection is closed. Checked on
  /// every poll(), so kept to within one control loop pass.
  std::chrono::milliseconds request_timeout{5000};
  /// MHD closes a connection that made no progress for this long (MHD_OPTION_CONNECTION_TIMEOUT,
  /// whole seconds: rounded up), e.g. a client that does not read its reply. No reply is sent.
  std::chrono::milliseconds write_timeout{10000};
  std::size_t max_clients = 16;  ///< connections at once; one more is answered 503 and closed
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
  /// Connections MHD holds (accepted and not yet closed); MHD first releases the closed ones.
  [[nodiscard]] std::size_t client_count() const;

 private:
  using Clock = std::chrono::steady_clock;
  /// A connection whose request head has not reached the handler yet.
  struct Pending {
    MHD_Connection* connection = nullptr;
    int fd = -1;
    Clock::time_point deadline{};
    bool timed_out = false;  ///< answered 408 (or left to MHD's own error reply)
  };
  struct Callbacks;  // MHD's C callbacks, in the .cpp

  void accept_clients();
  void expire_requests(Clock::time_point now);

  config::ListenAddress address_;
  HttpLimits limits_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  MHD_Daemon* daemon_ = nullptr;
  std::vector<Pending> pending_;
  const Body* body_ = nullptr;  ///< set while poll() runs MHD
};

}  // namespace udpsieve::control
