#include "udpsieve/control/metrics_http.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "udpsieve/control/prometheus.hpp"

namespace udpsieve::control {
namespace {

/// How long a finished connection is kept to read what the client still sends, so closing it
/// does not reset the connection before the client has read the reply.
constexpr auto kDrainTime = std::chrono::milliseconds(1000);
/// Most connections accepted per poll().
constexpr int kMaxAcceptsPerPass = 64;
/// Most bytes a draining client is read per poll().
constexpr std::size_t kMaxDrainPerPass = 64 * 1024;

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

std::string_view error_body(int status) {
  switch (status) {
    case 404:
      return "not found: this server answers GET /metrics only\n";
    case 405:
      return "method not allowed: use GET or HEAD\n";
    case 408:
      return "request timeout: the request head did not arrive in time\n";
    case 431:
      return "request head too large\n";
    case 503:
      return "too many connections\n";
    case 500:
      return "internal error: see the daemon's log\n";
    default:
      return "bad request\n";
  }
}

std::string response(int status, bool head_only, std::string_view content_type,
                     std::string_view payload) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                    std::string(reason_phrase(status)) +
                    "\r\nContent-Type: " + std::string(content_type) +
                    "\r\nContent-Length: " + std::to_string(payload.size()) + "\r\n";
  if (status == 405) out += "Allow: GET, HEAD\r\n";
  out += "Connection: close\r\n\r\n";
  if (!head_only) out += payload;
  return out;
}

/// RFC 9110 token characters (a method).
bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

/// Where the request head ends (the blank line), or npos.
std::size_t head_end(const std::string& in, std::size_t& terminator) {
  const std::size_t crlf = in.find("\r\n\r\n");
  const std::size_t lf = in.find("\n\n");
  if (crlf != std::string::npos && (lf == std::string::npos || crlf < lf)) {
    terminator = 4;
    return crlf;
  }
  terminator = 2;
  return lf;
}

}  // namespace

HttpVerdict classify_http_request(std::string_view head) {
  const HttpVerdict bad{400, false};
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    const std::size_t newline = head.find('\n');
    std::string_view line = head.substr(0, newline);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    head = newline == std::string_view::npos ? std::string_view() : head.substr(newline + 1);
  }
  if (lines.empty()) return bad;
  // The request line: METHOD SP TARGET SP HTTP/1.x
  const std::string_view request_line = lines.front();
  const std::size_t first = request_line.find(' ');
  const std::size_t last = request_line.rfind(' ');
  if (first == std::string_view::npos || first == last) return bad;
  const std::string_view method = request_line.substr(0, first);
  const std::string_view target = request_line.substr(first + 1, last - first - 1);
  const std::string_view version = request_line.substr(last + 1);
  if (!is_token(method) || target.empty() || target.find(' ') != std::string_view::npos ||
      (version != "HTTP/1.1" && version != "HTTP/1.0")) {
    return bad;
  }
  if (target.front() != '/' && target != "*") return bad;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || !is_token(line.substr(0, colon))) {
      return bad;
    }
  }
  const std::string_view path = target.substr(0, target.find('?'));
  if (path != "/metrics") return {404, false};
  if (method != "GET" && method != "HEAD") return {405, false};
  return {200, method == "HEAD"};
}

MetricsHttpServer::MetricsHttpServer(const config::ListenAddress& address, HttpLimits limits)
    : address_(address), limits_(limits) {
  const std::string what = "control.metrics_listen: cannot listen on " + address.to_string();
  listen_fd_ =
      socket(address.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error(what + ": " + std::strerror(errno));
  const int one = 1;
  // A restart must not wait for the previous run's connections in TIME_WAIT; a port another
  // socket listens on still fails to bind.
  (void)setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage storage{};
  socklen_t length = 0;
  bool parsed = false;
  if (address.ipv6) {
    (void)setsockopt(listen_fd_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
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
    close(listen_fd_);
    throw std::runtime_error(what + ": not an IP address");
  }
  if (bind(listen_fd_, reinterpret_cast<const sockaddr*>(&storage), length) != 0 ||
      listen(listen_fd_, 64) != 0) {
    const int error = errno;
    close(listen_fd_);
    throw std::runtime_error(what + ": " + std::strerror(error) +
                             (error == EADDRINUSE ? " (another program holds the port; stop it "
                                                    "or choose another port)"
                                                  : ""));
  }
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  if (getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &bound_length) == 0) {
    if (bound.ss_family == AF_INET6) {
      sockaddr_in6 in6{};
      std::memcpy(&in6, &bound, sizeof in6);
      port_ = ntohs(in6.sin6_port);
    } else {
      sockaddr_in in4{};
      std::memcpy(&in4, &bound, sizeof in4);
      port_ = ntohs(in4.sin_port);
    }
  }
}

MetricsHttpServer::~MetricsHttpServer() {
  for (Client& client : clients_)
    close(client.fd);
  if (listen_fd_ >= 0) close(listen_fd_);
}

std::string MetricsHttpServer::address() const {
  config::ListenAddress bound = address_;
  bound.port = port_;
  return bound.to_string();
}

void MetricsHttpServer::poll(const Body& body) {
  const Clock::time_point now = Clock::now();
  accept_clients(now);
  for (Client& client : clients_) {
    if (client.phase == Phase::reading) read_request(client, body, now);
    if (client.fd >= 0 && client.phase == Phase::writing) write_reply(client, now);
    if (client.fd >= 0 && client.phase == Phase::draining) drain(client);
    if (client.fd >= 0 && now >= client.deadline) {
      if (client.phase == Phase::reading) {
        respond(client, 408, false, {}, now);
        write_reply(client, now);
      } else {
        close(client.fd);
        client.fd = -1;
      }
    }
  }
  std::erase_if(clients_, [](const Client& client) { return client.fd < 0; });
}

void MetricsHttpServer::accept_clients(Clock::time_point now) {
  for (int i = 0; i < kMaxAcceptsPerPass; ++i) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
        spdlog::warn("metrics endpoint: accept failed: {}", std::strerror(errno));
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    Client client;
    client.fd = fd;
    client.deadline = now + limits_.request_timeout;
    if (clients_.size() >= limits_.max_clients) {
      // Told why in one try; a client that cannot take it at once gets a plain close.
      const std::string reply = response(503, false, "text/plain; charset=utf-8", error_body(503));
      (void)send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      close(fd);
      continue;
    }
    clients_.push_back(std::move(client));
  }
}

void MetricsHttpServer::read_request(Client& client, const Body& body, Clock::time_point now) {
  // Room for the largest head plus its blank line; a head that does not end by then is too big.
  const std::size_t capacity = limits_.max_request_bytes + 4;
  std::array<char, 4096> chunk{};
  bool eof = false;
  while (client.in.size() < capacity) {
    const std::size_t want = std::min(chunk.size(), capacity - client.in.size());
    const ssize_t n = recv(client.fd, chunk.data(), want, 0);
    if (n > 0) {
      client.in.append(chunk.data(), static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      eof = true;
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      close(client.fd);
      client.fd = -1;
      return;
    }
    break;
  }
  std::size_t terminator = 0;
  const std::size_t end = head_end(client.in, terminator);
  if (end != std::string::npos && end <= limits_.max_request_bytes) {
    const HttpVerdict verdict = classify_http_request(std::string_view(client.in).substr(0, end));
    if (verdict.status != 200) {
      respond(client, verdict.status, false, {}, now);
      return;
    }
    try {
      respond(client, 200, verdict.head_only, body(), now);
    } catch (const std::exception& e) {
      spdlog::warn("metrics endpoint: cannot render the metrics: {}", e.what());
      respond(client, 500, false, {}, now);
    }
    return;
  }
  if (client.in.size() >= capacity) {
    respond(client, 431, false, {}, now);
  } else if (eof) {
    if (client.in.empty()) {
      close(client.fd);  // connected and left without a word
      client.fd = -1;
    } else {
      respond(client, 400, false, {}, now);  // the head ended without its blank line
    }
  }
}

void MetricsHttpServer::respond(Client& client, int status, bool head_only,
                                const std::string& payload, Clock::time_point now) {
  client.out = status == 200
                   ? response(status, head_only, kPrometheusContentType, payload)
                   : response(status, head_only, "text/plain; charset=utf-8", error_body(status));
  client.in.clear();
  client.in.shrink_to_fit();
  client.sent = 0;
  client.phase = Phase::writing;
  client.deadline = now + limits_.write_timeout;
}

void MetricsHttpServer::write_reply(Client& client, Clock::time_point now) {
  while (client.sent < client.out.size()) {
    const ssize_t n = send(client.fd, client.out.data() + client.sent,
                           client.out.size() - client.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      client.sent += static_cast<std::size_t>(n);
      client.deadline = now + limits_.write_timeout;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // the next poll goes on
    close(client.fd);                                                // the client went away
    client.fd = -1;
    return;
  }
  client.out.clear();
  client.out.shrink_to_fit();
  (void)shutdown(client.fd, SHUT_WR);
  client.phase = Phase::draining;
  client.deadline = now + kDrainTime;
}

void MetricsHttpServer::drain(Client& client) {
  std::array<char, 4096> chunk{};
  std::size_t drained = 0;
  while (drained < kMaxDrainPerPass) {
    const ssize_t n = recv(client.fd, chunk.data(), chunk.size(), 0);
    if (n > 0) {
      drained += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    break;  // EOF or an error: the client is done
  }
  if (drained < kMaxDrainPerPass) {
    close(client.fd);
    client.fd = -1;
  }
}

}  // namespace udpsieve::control
