#include "udpsieve/control/socket_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace udpsieve::control {
namespace {

std::string errno_text(int error) {
  return std::strerror(error);
}

sockaddr_un address_of(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    throw std::runtime_error("control.socket: path is longer than " +
                             std::to_string(sizeof address.sun_path - 1) +
                             " bytes, the limit for Unix sockets: " + path);
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

/// True when something accepts connections at `path`.
bool someone_listens(const sockaddr_un& address) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool live = connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return live;
}

}  // namespace

SocketServer::SocketServer(std::string path, mode_t mode) : path_(std::move(path)) {
  const sockaddr_un address = address_of(path_);
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    throw std::runtime_error("control.socket: cannot create directory " + parent.string() + ": " +
                             ec.message());
  }
  struct stat st {};
  if (lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw std::runtime_error("control.socket: " + path_ + " exists and is not a socket");
    }
    if (someone_listens(address)) {
      throw std::runtime_error("control.socket: " + path_ +
                               " is in use by a running daemon; stop it or choose another "
                               "control.socket");
    }
    unlink(path_.c_str());  // stale, left by a daemon that did not exit cleanly
  }

  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("control.socket: socket(): " + errno_text(errno));
  if (bind(listen_fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      chmod(path_.c_str(), mode) != 0 || listen(listen_fd_, 64) != 0) {
    const int error = errno;
    close(listen_fd_);
    listen_fd_ = -1;
    throw std::runtime_error("control.socket: cannot listen at " + path_ + ": " +
                             errno_text(error));
  }
}

SocketServer::~SocketServer() {
  for (Client& client : clients_)
    close(client.fd);
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(path_.c_str());
  }
}

void SocketServer::accept_clients() {
  for (;;) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a client that went away
    if (clients_.size() >= kMaxClients) {
      close(fd);
      continue;
    }
    Client client;
    client.fd = fd;
    client.id = next_id_++;
    clients_.push_back(std::move(client));
  }
}

void SocketServer::read_from(Client& client) {
  char buffer[16384];
  for (;;) {
    const ssize_t n = recv(client.fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      client.in.append(buffer, static_cast<std::size_t>(n));
      if (client.in.size() > kMaxRequestBytes + sizeof buffer) break;  // judged in serve()
      continue;
    }
    if (n == 0) client.eof = true;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) client.eof = true;
    break;
  }
}

void SocketServer::serve(Client& client, const Handler& handler) {
  static constexpr std::string_view kTooLong = R"({"error":"request longer than 65536 bytes"})";
  std::size_t start = 0;
  while (!client.waiting && !client.closing) {
    const std::size_t newline = client.in.find('\n', start);
    if (newline == std::string::npos) break;
    std::string_view line(client.in.data() + start, newline - start);
    start = newline + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxRequestBytes) {
      client.out.append(kTooLong).append("\n");
      client.closing = true;
      break;
    }
    if (line.empty()) continue;
    if (std::optional<std::string> reply = handler(line, client.id)) {
      client.out.append(*reply).append("\n");
    } else {
      client.waiting = true;
    }
  }
  client.in.erase(0, start);
  if (client.closing) {
    client.in.clear();
    return;
  }
  if (client.in.size() > kMaxRequestBytes && client.in.find('\n') == std::string::npos) {
    client.out.append(kTooLong).append("\n");
    client.closing = true;
    client.in.clear();
    return;
  }
  if (client.eof && !client.waiting) {
    // A last request without its newline still gets an answer.
    if (!client.in.empty()) {
      if (std::optional<std::string> reply = handler(client.in, client.id)) {
        client.out.append(*reply).append("\n");
      } else {
        client.waiting = true;
      }
      client.in.clear();
    }
    if (!client.waiting) client.closing = true;
  }
}

void SocketServer::write_to(Client& client) {
  while (!client.out.empty()) {
    const ssize_t n = send(client.fd, client.out.data(), client.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      client.out.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    client.out.clear();  // the peer is gone
    client.closing = true;
    client.waiting = false;
    return;
  }
}

void SocketServer::complete(ClientId id, const std::string& reply) {
  for (Client& client : clients_) {
    if (client.id != id || !client.waiting) continue;
    client.waiting = false;
    client.out.append(reply).append("\n");
    write_to(client);
    return;
  }
}

bool SocketServer::poll_once(int timeout_ms, int extra_fd, const Handler& handler) {
  // Requests that queued behind a deferred reply, now answered, go first.
  bool pending_output = false;
  for (Client& client : clients_) {
    if (!client.waiting && !client.closing && (!client.in.empty() || client.eof)) {
      serve(client, handler);
    }
    pending_output = pending_output || !client.out.empty();
  }

  std::vector<pollfd> fds;
  fds.reserve(clients_.size() + 2);
  fds.push_back({listen_fd_, POLLIN, 0});
  fds.push_back({extra_fd, POLLIN, 0});
  for (const Client& client : clients_) {
    short events = client.eof ? 0 : POLLIN;
    if (!client.out.empty()) events = static_cast<short>(events | POLLOUT);
    // A finished client waiting for a deferred reply has nothing to poll for (and a hung-up
    // socket would wake poll() at once, again and again): leave it out until the reply.
    fds.push_back({events == 0 ? -1 : client.fd, events, 0});
  }
  const int ready = poll(fds.data(), fds.size(), pending_output ? 0 : timeout_ms);
  if (ready < 0) return false;

  for (std::size_t i = 0; i < clients_.size(); ++i) {
    Client& client = clients_[i];
    const short revents = fds[i + 2].revents;
    if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !client.eof) {
      read_from(client);
      if (!client.waiting && !client.closing) serve(client, handler);
    }
    if (!client.out.empty()) write_to(client);
  }
  std::erase_if(clients_, [](const Client& client) {
    if (!client.closing || !client.out.empty()) return false;
    close(client.fd);
    return true;
  });
  if ((fds[0].revents & POLLIN) != 0) accept_clients();
  return extra_fd >= 0 && (fds[1].revents & POLLIN) != 0;
}

}  // namespace udpsieve::control
