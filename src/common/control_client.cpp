#include "udpsieve/common/control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace udpsieve {
namespace {

/// Closes the descriptor on every path out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

/// Waits for `events` on `fd` until `deadline`; false on timeout.
bool wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int rc = poll(&p, 1, static_cast<int>(left.count()));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return false;
  }
}

}  // namespace

std::string request(const std::string& socket_path, const std::string& line,
                    std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof address.sun_path) {
    throw ClientError("socket path too long: " + socket_path);
  }
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);

  Fd sock{socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0) throw ClientError(std::string("socket(): ") + std::strerror(errno));
  if (connect(sock.fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    std::string hint;
    if (error == ENOENT || error == ECONNREFUSED) hint = " (is udpsieved running?)";
    if (error == EACCES)
      hint =
          " (permission denied: run as root or as a member of the "
          "socket's group)";
    throw ClientError("cannot connect to " + socket_path + ": " + std::strerror(error) + hint);
  }

  const std::string payload = line + "\n";
  std::size_t sent = 0;
  // A daemon that refuses the connection (too many clients, a request too large) answers with
  // its reason and closes: the send then fails, but the reason is waiting to be read.
  int send_error = 0;
  while (sent < payload.size()) {
    if (!wait_for(sock.fd, POLLOUT, deadline)) throw ClientError("timed out sending the request");
    const ssize_t n = send(sock.fd, payload.data() + sent, payload.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      send_error = errno;
      if (send_error != EPIPE && send_error != ECONNRESET) {
        throw ClientError(std::string("send: ") + std::strerror(send_error));
      }
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
  const auto failed = [send_error](const std::string& what) {
    // Without a reason from the daemon, the send's error is the better message.
    if (send_error != 0) return ClientError(std::string("send: ") + std::strerror(send_error));
    return ClientError(what);
  };

  std::string reply;
  char buffer[65536];
  for (;;) {
    if (!wait_for(sock.fd, POLLIN, deadline)) {
      throw ClientError("no reply from the daemon within " + std::to_string(timeout.count()) +
                        " ms");
    }
    const ssize_t n = recv(sock.fd, buffer, sizeof buffer, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (reply.empty()) throw failed(std::string("recv: ") + std::strerror(errno));
      break;
    }
    if (n == 0) break;
    reply.append(buffer, static_cast<std::size_t>(n));
    if (const auto newline = reply.find('\n'); newline != std::string::npos) {
      reply.resize(newline);
      return reply;
    }
  }
  if (reply.empty()) throw failed("the daemon closed the connection without replying");
  return reply;
}

}  // namespace udpsieve
