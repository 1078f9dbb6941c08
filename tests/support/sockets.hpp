#pragma once
/// Test clients for the daemon's sockets (header-only, so unit and daemon tests share it):
/// connecting to a Unix or loopback TCP socket, a raw line client for the control socket
/// that sends bytes exactly as given, and HTTP replies split into their parts.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace udpsieve::test {

/// A stream socket connected to the Unix socket at `path`, or -errno.
inline int connect_unix(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    close(fd);
    return -error;
  }
  return fd;
}

/// A TCP socket connected to 127.0.0.1:`port`; throws std::runtime_error when it cannot be.
inline int connect_loopback(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket failed: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    close(fd);
    throw std::runtime_error(std::string("connect failed: ") + std::strerror(error));
  }
  return fd;
}

/// Blocking reads on `fd` give up after `timeout`.
inline void set_receive_timeout(int fd, std::chrono::seconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count()), 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/// A raw control-socket client: sends bytes as given, reads lines; each blocking read gives up
/// after the timeout.
class RawClient {
 public:
  explicit RawClient(const std::string& path,
                     std::chrono::seconds timeout = std::chrono::seconds(20))
      : fd_(connect_unix(path)) {
    if (fd_ < 0) throw std::runtime_error("connect failed: " + std::string(std::strerror(-fd_)));
    set_receive_timeout(fd_, timeout);
  }
  ~RawClient() { close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void send_all(const std::string& bytes) const {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;  // the daemon may have closed the connection
      sent += static_cast<std::size_t>(n);
    }
  }
  void finish_writing() const { shutdown(fd_, SHUT_WR); }
  /// Reads until `lines` complete lines arrived, the peer closed, or a read timed out.
  std::vector<std::string> read_lines(std::size_t lines) {
    std::vector<std::string> out;
    char chunk[65536];
    while (out.size() < lines) {
      std::size_t newline;
      if ((newline = buffer_.find('\n')) != std::string::npos) {
        out.push_back(buffer_.substr(0, newline));
        buffer_.erase(0, newline + 1);
        continue;
      }
      const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
    return out;
  }
  /// True when the peer has closed the connection (EOF, or a reset when it closed with our
  /// unread bytes still queued).
  [[nodiscard]] bool closed_by_peer() const {
    char byte;
    const ssize_t n = recv(fd_, &byte, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }
  /// Reads every line until the peer closes; nullopt when it did not before a read timed out.
  std::optional<std::vector<std::string>> read_until_closed() {
    std::vector<std::string> lines = read_lines(SIZE_MAX);
    if (closed_by_peer()) return lines;
    return std::nullopt;
  }
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
  std::string buffer_;
};

/// An HTTP reply split at its blank line.
struct HttpReply {
  std::string status;   ///< "HTTP/1.1 200 OK", or "(no reply: RAW)" when RAW has no head
  std::string headers;  ///< the header lines, each ending in CRLF
  std::string body;
};

inline HttpReply split_http_reply(const std::string& raw) {
  const std::size_t status_end = raw.find("\r\n");
  const std::size_t head_end = raw.find("\r\n\r\n");
  if (status_end == std::string::npos || head_end == std::string::npos) {
    return {"(no reply: " + raw + ")", {}, {}};
  }
  return {raw.substr(0, status_end), raw.substr(status_end + 2, head_end - status_end),
          raw.substr(head_end + 4)};
}

/// The "error" text of a reply line, or a marker saying there was none.
inline std::string error_text(const std::string& line) {
  const auto reply = nlohmann::json::parse(line, nullptr, false);
  if (!reply.is_object() || !reply.contains("error") || !reply["error"].is_string()) {
    return "(no error in: " + line + ")";
  }
  return reply["error"].get<std::string>();
}

}  // namespace udpsieve::test
