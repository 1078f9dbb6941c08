#pragma once
/// The control socket: a Unix stream socket speaking one JSON object per line each way.
///
/// Single-threaded and non-blocking: the control thread calls poll_once() in its loop, so a
/// slow or hostile client can delay a reply but never a worker.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
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

  /// Identifies a connection, for replies given later.
  using ClientId = uint64_t;
  /// Maps one request line to one reply line (without the newline), or to nullopt when the
  /// reply comes later through complete(); until then the client's further requests wait.
  using Handler = std::function<std::optional<std::string>(std::string_view request, ClientId)>;

  /// Waits up to `timeout_ms` for the socket, its clients or `extra_fd` (-1 for none), serves
  /// every complete request with `handler`, and returns true when `extra_fd` is readable.
  bool poll_once(int timeout_ms, int extra_fd, const Handler& handler);
  /// Sends the reply a handler deferred (ignored when the client has gone).
  void complete(ClientId client, const std::string& reply);

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] std::size_t client_count() const noexcept { return clients_.size(); }

 private:
  struct Client {
    int fd = -1;
    ClientId id = 0;
    std::string in;
    std::string out;
    bool closing = false;  // close once `out` is written
    bool waiting = false;  // a deferred reply is outstanding
    bool eof = false;      // the peer finished sending
  };
  void accept_clients();
  void read_from(Client& client);
  /// Answers the complete requests buffered for `client`, stopping at a deferred one.
  static void serve(Client& client, const Handler& handler);
  static void write_to(Client& client);

  std::string path_;
  int listen_fd_ = -1;
  std::vector<Client> clients_;
  ClientId next_id_ = 1;
};

}  // namespace udpsieve::control
