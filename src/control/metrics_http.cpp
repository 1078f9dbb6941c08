#include "udpsieve/control/metrics_http.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "udpsieve/control/prometheus.hpp"

namespace udpsieve::control {
namespace {

/// Most connections accepted per poll().
constexpr int kMaxAcceptsPerPass = 64;
constexpr std::string_view kPlainText = "text/plain; charset=utf-8";

/// A listening, non-blocking TCP socket on `address`; `port` gets the port actually bound.
int listen_on(const config::ListenAddress& address, uint16_t& port) {
  const std::string what = "control.metrics_listen: cannot listen on " + address.to_string();
  const int fd =
      socket(address.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(what + ": " + std::strerror(errno));
  const int one = 1;
  // A restart must not wait for the previous run's connections in TIME_WAIT; a port another
  // socket listens on still fails to bind.
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage storage{};
  socklen_t length = 0;
  bool parsed = false;
  if (address.ipv6) {
    (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(address.port);
    parsed = inet_pton(AF_INET6, address.host.c_str(), &in6.sin6_addr) == 1;
    std::memcpy(&storage, &in6, sizeof in6);
    length = sizeof in6;
  } else {
    sockaddr_in in4{};
    in4.sin_family = AF_INET;
    in4.sin_port = htons(address.port);
    parsed = inet_pton(AF_INET, address.host.c_str(), &in4.sin_addr) == 1;
    std::memcpy(&storage, &in4, sizeof in4);
    length = sizeof in4;
  }
  if (!parsed) {
    close(fd);
    throw std::runtime_error(what + ": not an IP address");
  }
  if (bind(fd, reinterpret_cast<const sockaddr*>(&storage), length) != 0 || listen(fd, 64) != 0) {
    const int error = errno;
    close(fd);
    throw std::runtime_error(what + ": " + std::strerror(error) +
                             (error == EADDRINUSE ? " (another program holds the port; stop it "
                                                    "or choose another port)"
                                                  : ""));
  }
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length) == 0) {
    if (bound.ss_family == AF_INET6) {
      sockaddr_in6 in6{};
      std::memcpy(&in6, &bound, sizeof in6);
      port = ntohs(in6.sin6_port);
    } else {
      sockaddr_in in4{};
      std::memcpy(&in4, &bound, sizeof in4);
      port = ntohs(in4.sin_port);
    }
  }
  return fd;
}

/// Writes a whole plain-text reply straight to a socket MHD is not answering on: one try, so a
/// client that cannot take it at once gets only the close.
void send_plain_reply(int fd, std::string_view status, std::string_view body) {
  const std::string reply = "HTTP/1.1 " + std::string(status) +
                            "\r\nContent-Type: " + std::string(kPlainText) +
                            "\r\nContent-Length: " + std::to_string(body.size()) +
                            "\r\nConnection: close\r\n\r\n" + std::string(body);
  (void)send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/// Queues the one reply of a connection; MHD closes it once sent (and leaves out the body for
/// HEAD, keeping its Content-Length).
MHD_Result queue_reply(MHD_Connection* connection, unsigned int status,
                       std::string_view content_type, std::string_view body) {
  MHD_Response* response = MHD_create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  (void)MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                std::string(content_type).c_str());
  (void)MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
    (void)MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  }
  const MHD_Result queued = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return queued;
}

/// MHD's own messages (a malformed request, a connection it could not take), for debugging.
[[gnu::format(printf, 2, 0)]] void log_mhd(void* /*cls*/, const char* format, va_list args) {
  std::array<char, 512> line{};
  (void)std::vsnprintf(line.data(), line.size(), format, args);
  std::string_view text(line.data());
  while (!text.empty() && text.back() == '\n')
    text.remove_suffix(1);
  spdlog::debug("metrics endpoint: {}", text);
}

}  // namespace

struct MetricsHttpServer::Callbacks {
  /// A connection was added (its request deadline starts) or closed.
  static void on_connection(void* cls, MHD_Connection* connection, void** /*socket_context*/,
                            MHD_ConnectionNotificationCode code) {
    auto& server = *static_cast<MetricsHttpServer*>(cls);
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
      std::erase_if(server.pending_,
                    [connection](const Pending& p) { return p.connection == connection; });
      return;
    }
    const MHD_ConnectionInfo* info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    server.pending_.push_back({connection, info == nullptr ? -1 : info->connect_fd,
                               Clock::now() + server.limits_.request_timeout, false});
  }

  /// A complete request head: the one reply of the connection.
  static MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url,
                               const char* method, const char* /*version*/,
                               const char* /*upload_data*/, size_t* /*upload_data_size*/,
                               void** /*request_context*/) {
    auto& server = *static_cast<MetricsHttpServer*>(cls);
    const auto pending =
        std::find_if(server.pending_.begin(), server.pending_.end(),
                     [connection](const Pending& p) { return p.connection == connection; });
    if (pending != server.pending_.end()) {
      if (pending->timed_out) return MHD_NO;  // answered 408 already: close
      server.pending_.erase(pending);
    }
    if (std::string_view(url) != "/metrics") {  // MHD has split off the query string
      return queue_reply(connection, MHD_HTTP_NOT_FOUND, kPlainText,
                         "not found: this server answers GET /metrics only\n");
    }
    const std::string_view verb(method);
    if (verb != MHD_HTTP_METHOD_GET && verb != MHD_HTTP_METHOD_HEAD) {
      return queue_reply(connection, MHD_HTTP_METHOD_NOT_ALLOWED, kPlainText,
                         "method not allowed: use GET or HEAD\n");
    }
    std::string text;
    try {
      text = (*server.body_)();  // also for HEAD, whose Content-Length is the body's
    } catch (const std::exception& e) {
      spdlog::warn("metrics endpoint: cannot render the metrics: {}", e.what());
      return queue_reply(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, kPlainText,
                         "internal error: see the daemon's log\n");
    }
    return queue_reply(connection, MHD_HTTP_OK, kPrometheusContentType, text);
  }
};

MetricsHttpServer::MetricsHttpServer(const config::ListenAddress& address, HttpLimits limits)
    : address_(address), limits_(limits) {
  listen_fd_ = listen_on(address, port_);
  // MHD's timeout is whole seconds, and 0 would mean none.
  const auto idle = std::max<std::chrono::seconds::rep>(
      1, std::chrono::ceil<std::chrono::seconds>(limits_.write_timeout).count());
  // External polling (MHD_run from poll()), epoll so descriptors past FD_SETSIZE work, no
  // listening socket of MHD's: connections come from accept_clients(). One option a line.
  // clang-format off
  daemon_ = MHD_start_daemon(
      MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG, 0, nullptr, nullptr,
      &Callbacks::on_request, this,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, limits_.max_request_bytes,
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned int>(limits_.max_clients),
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned int>(idle),
      MHD_OPTION_NOTIFY_CONNECTION, &Callbacks::on_connection, this,
      MHD_OPTION_EXTERNAL_LOGGER, &log_mhd, nullptr,
      MHD_OPTION_END);
  // clang-format on
  if (daemon_ == nullptr) {
    close(listen_fd_);
    throw std::runtime_error("control.metrics_listen: cannot start the HTTP server on " +
                             address.to_string());
  }
}

MetricsHttpServer::~MetricsHttpServer() {
  MHD_stop_daemon(daemon_);  // closes every connection
  close(listen_fd_);
}

std::string MetricsHttpServer::address() const {
  config::ListenAddress bound = address_;
  bound.port = port_;
  return bound.to_string();
}

std::size_t MetricsHttpServer::client_count() const {
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
  return info == nullptr ? 0 : info->num_connections;
}

void MetricsHttpServer::poll(const Body& body) {
  accept_clients();
  expire_requests(Clock::now());
  body_ = &body;
  (void)MHD_run(daemon_);  // without waiting: external polling, no thread
  body_ = nullptr;
}

void MetricsHttpServer::accept_clients() {
  for (int i = 0; i < kMaxAcceptsPerPass; ++i) {
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof peer;
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &peer_length,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
        spdlog::warn("metrics endpoint: accept failed: {}", std::strerror(errno));
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    if (client_count() >= limits_.max_clients) {
      send_plain_reply(fd, "503 Service Unavailable", "too many connections\n");
      close(fd);
      continue;
    }
    // MHD owns the socket from here on, also when it refuses it (it closes it then).
    if (MHD_add_connection(daemon_, fd, reinterpret_cast<const sockaddr*>(&peer), peer_length) !=
        MHD_YES) {
      spdlog::warn("metrics endpoint: cannot take a connection: {}", std::strerror(errno));
    }
  }
}

void MetricsHttpServer::expire_requests(Clock::time_point now) {
  for (Pending& pending : pending_) {
    if (pending.timed_out || now < pending.deadline) continue;
    pending.timed_out = true;
    // A connection MHD queued a reply on is getting MHD's error reply (a malformed or too large
    // head) and is closed after it. Otherwise MHD has sent nothing and is waiting for the rest
    // of the head: answer 408 on its socket and shut the socket, so that MHD reads the end and
    // closes the connection on this pass.
    if (MHD_get_connection_info(pending.connection, MHD_CONNECTION_INFO_HTTP_STATUS) != nullptr) {
      continue;
    }
    send_plain_reply(pending.fd, "408 Request Timeout",
                     "request timeout: the request head did not arrive in time\n");
    (void)shutdown(pending.fd, SHUT_RDWR);
  }
}

}  // namespace udpsieve::control
