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
    clients_.push_back(Client{fd, {}, {}, false});
  }
}

void SocketServer::read_from(Client& client, const Handler& handler) {
  char buffer[16384];
  bool eof = false;
  for (;;) {
    const ssize_t n = recv(client.fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      client.in.append(buffer, static_cast<std::size_t>(n));
      if (client.in.size() > kMaxRequestBytes + sizeof buffer) break;  // judged below
      continue;
    }
    if (n == 0) eof = true;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) eof = true;
    break;
  }

  std::size_t start = 0;
  for (std::size_t newline; (newline = client.in.find('\n', start)) != std::string::npos;
       start = newline + 1) {
    std::string_view line(client.in.data() + start, newline - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxRequestBytes) {
      client.out += R"({"error":"request longer than 65536 bytes"})"
                    "\n";
      client.closing = true;
      client.in.clear();
      return;
    }
    if (!line.empty()) {
      client.out += handler(line);
      client.out += '\n';
    }
  }
  client.in.erase(0, start);
  if (client.in.size() > kMaxRequestBytes) {
    client.out += R"({"error":"request longer than 65536 bytes"})"
                  "\n";
    client.closing = true;
    client.in.clear();
    return;
  }
  if (eof) {
    // A last request without its newline still gets an answer.
    if (!client.in.empty()) {
      client.out += handler(client.in);
      client.out += '\n';
      client.in.clear();
    }
    client.closing = true;
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
    return;
  }
}

bool SocketServer::poll_once(int timeout_ms, int extra_fd, const Handler& handler) {
  std::vector<pollfd> fds;
  fds.reserve(clients_.size() + 2);
  fds.push_back({listen_fd_, POLLIN, 0});
  fds.push_back({extra_fd, POLLIN, 0});
  for (const Client& client : clients_) {
    const auto events = static_cast<short>(client.out.empty() ? POLLIN : (POLLIN | POLLOUT));
    fds.push_back({client.fd, events, 0});
  }
  const int ready = poll(fds.data(), fds.size(), timeout_ms);
  if (ready <= 0) return false;

  for (std::size_t i = 0; i < clients_.size(); ++i) {
    Client& client = clients_[i];
    const short revents = fds[i + 2].revents;
    if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !client.closing) {
      read_from(client, handler);
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
