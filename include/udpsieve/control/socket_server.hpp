#pragma once
/// The control socket: a Unix stream socket speaking one JSON object per line each way.
///
/// Single-threaded and non-blocking: the control thread calls poll_once() in its loop, so a
/// slow or hostile client can delay a reply but never a worker, and never makes the control
/// thread wait. Who may connect is decided twice: by the socket file's mode and group, and at
/// accept by the peer's credentials (SO_PEERCRED). Every client is bounded in time (a request
/// must complete within 5 s of its first byte; 60 s without traffic closes the connection)
/// and in memory (64 KiB of request, 16 MiB of replies it has not read).

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace udpsieve::control {

/// Who may use the socket: the file's permission bits and group, and the peers admitted at
/// accept (root, the daemon's own user, and members of `group`). Of those, root, the daemon's
/// own user and members of `admin_group` (when set) may also change things (admin rights).
struct SocketAccess {
  mode_t mode = 0660;
  gid_t group = 0;
  std::string group_name = "root";
  std::optional<gid_t> admin_group;
  std::string admin_group_name;  ///< empty when admin_group is unset
};

/// Bounds on each client.
struct SocketLimits {
  /// A request line must be complete this long after its first byte arrived.
  std::chrono::milliseconds request_timeout{5000};
  /// A connection that moved no byte for this long (and awaits no deferred reply) is closed.
  std::chrono::milliseconds idle_timeout{60000};
  /// Replies a client has not read, beyond which it is closed instead of served further.
  std::size_t max_unsent_bytes = std::size_t{16} << 20;

  /// The defaults, with the two timeouts taken from UDPSIEVE_TEST_SOCKET_TIMEOUTS_MS
  /// ("REQUEST_MS,IDLE_MS") when that test-only variable is set. Throws std::invalid_argument
  /// when it is set but malformed.
  [[nodiscard]] static SocketLimits from_environment();
};

class SocketServer {
 public:
  /// Longest request line accepted from a client with read rights; longer ones get an error
  /// and the connection is closed.
  static constexpr std::size_t kMaxRequestBytes = 64 * 1024;
  /// Longest request line accepted from a client with admin rights (a rule-sync of 100,000
  /// runtime rules is about 10 MiB).
  static constexpr std::size_t kMaxAdminRequestBytes = std::size_t{16} << 20;
  /// Most clients connected at once; further connections get an error line and are closed.
  static constexpr std::size_t kMaxClients = 256;
  /// Most requests answered per client per poll_once(), so one client's pipelined flood
  /// cannot hold up the others (the rest wait for the next pass).
  static constexpr std::size_t kMaxRequestsPerPass = 64;

  /// Creates the socket's directory if needed, replaces a stale socket file, listens, and
  /// gives the file `access.mode` and `access.group`. Throws std::runtime_error when the path
  /// is in use by a live daemon or cannot be bound, or the mode or group cannot be applied.
  explicit SocketServer(std::string path, SocketAccess access = {}, SocketLimits limits = {});
  /// Closes every connection and removes the socket file.
  ~SocketServer();
  SocketServer(const SocketServer&) = delete;
  SocketServer& operator=(const SocketServer&) = delete;

  /// Applies a new mode and group to the socket file and to later connections (a reload);
  /// connections already accepted stay. Logs, rather than throws, when the file cannot be
  /// changed.
  void update_access(const SocketAccess& access);

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

  /// Whether the peer of `client` has admin rights (decided when it connected).
  [[nodiscard]] bool is_admin(ClientId client) const noexcept;
  /// Who has admin rights ("root or a member of group G (control.admin_group)"), for a
  /// "permission denied" message.
  [[nodiscard]] std::string admin_hint() const;

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] std::size_t client_count() const noexcept { return clients_.size(); }

 private:
  using Clock = std::chrono::steady_clock;
  struct Client {
    int fd = -1;
    ClientId id = 0;
    std::string in;
    std::string out;
    bool closing = false;  // close once `out` is written; read nothing more
    bool waiting = false;  // a deferred reply is outstanding
    bool eof = false;      // the peer finished sending
    bool admin = false;    // may send commands that change things
    bool partial = false;  // `in` ends with an unfinished line, begun at `partial_since`
    Clock::time_point partial_since{};
    Clock::time_point last_progress{};  // last byte read or written, or reply queued
  };
  /// What the rate-limited warning log counts.
  enum class Event : uint8_t { refused, too_many, timed_out, unread, count };

  void accept_clients();
  [[nodiscard]] static std::size_t max_request(const Client& client) noexcept {
    return client.admin ? kMaxAdminRequestBytes : kMaxRequestBytes;
  }
  void read_from(Client& client);
  /// Answers the complete requests buffered for `client`, stopping at a deferred one.
  void serve(Client& client, const Handler& handler);
  static void write_to(Client& client);
  /// Closes clients past their request or idle deadline.
  void enforce_deadlines(Clock::time_point now);
  /// Logs at warn: the first event of each second in full, the others as one count.
  void warn_limited(Event event, const std::string& message);
  void flush_warnings(Clock::time_point now);
  void apply_access(const SocketAccess& access) const;

  std::string path_;
  SocketAccess access_;
  SocketLimits limits_;
  uid_t own_uid_;
  int listen_fd_ = -1;
  std::vector<Client> clients_;
  ClientId next_id_ = 1;
  Clock::time_point warn_window_end_{};
  std::array<uint64_t, static_cast<std::size_t>(Event::count)> suppressed_{};
};

}  // namespace udpsieve::control
