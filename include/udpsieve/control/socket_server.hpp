#pragma once
/// The control socket: a Unix stream socket speaking one JSON object per line each way.
///
/// Single-threaded and non-blocking: the control thread calls poll_once() in its loop, so a
/// slow or hostile client can delay a reply but never a worker.

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace udpsieve::control {

class SocketServer {
 public:
  /// Longest request line accepted; longer ones get an error and the connection is closed.
  static constexpr std::size_t kMaxRequestBytes = 64 * 1024;
  /// Most clients connected at once; further connections are closed at accept.
  static constexpr std::size_t kMaxClients = 256;

  /// Creates the socket's directory if needed, replaces a stale socket file, and listens.
  /// Throws std::runtime_error when the path is in use by a live daemon or cannot be bound.
  explicit SocketServer(std::string path, mode_t mode = 0660);
  /// Closes every connection and removes the socket file.
  ~SocketServer();
  SocketServer(const SocketServer&) = delete;
  SocketServer& operator=(const SocketServer&) = delete;

  /// Maps one request line to one reply line (without the newline).
  using Handler = std::function<std::string(std::string_view request)>;

  /// Waits up to `timeout_ms` for the socket, its clients or `extra_fd` (-1 for none), serves
  /// every complete request with `handler`, and returns true when `extra_fd` is readable.
  bool poll_once(int timeout_ms, int extra_fd, const Handler& handler);

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] std::size_t client_count() const noexcept { return clients_.size(); }

 private:
  struct Client {
    int fd = -1;
    std::string in;
    std::string out;
    bool closing = false;  // close once `out` is written
  };
  void accept_clients();
  void read_from(Client& client, const Handler& handler);
  static void write_to(Client& client);

  std::string path_;
  int listen_fd_ = -1;
  std::vector<Client> clients_;
};

}  // namespace udpsieve::control
