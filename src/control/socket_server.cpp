#include "udpsieve/control/socket_server.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "udpsieve/common/decimal.hpp"
#include "udpsieve/control/request.hpp"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59  // Linux 4.13; older libc headers lack the name
#endif

namespace udpsieve::control {
namespace {

/// The test hook that shortens the request and idle timeouts (see docs/testing.md).
constexpr const char* kTimeoutsVariable = "UDPSIEVE_TEST_SOCKET_TIMEOUTS_MS";

std::string errno_text(int error) {
  return std::strerror(error);
}

std::string octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode));
  return text;
}

std::string whole_seconds(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) return std::to_string(duration.count() / 1000) + " s";
  return std::to_string(duration.count()) + " ms";
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

/// The user name of `uid`, or "" when it has none.
std::string user_name(uid_t uid) {
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  while (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == ERANGE &&
         buffer.size() < (std::size_t{1} << 20)) {
    buffer.resize(buffer.size() * 4);
  }
  return found != nullptr ? std::string(found->pw_name) : std::string();
}

/// The supplementary groups of the process that connected (SO_PEERGROUPS): the same
/// credentials the kernel checked against the socket file's mode.
std::vector<gid_t> peer_groups(int fd) {
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) == 0) {
      groups.resize(length / sizeof(gid_t));
      return groups;
    }
    if (errno != ERANGE) break;
    groups.resize(length / sizeof(gid_t) + 1);
  }
  return {};
}

/// True when the group database lists `user` (primary group `primary`) in `group`: a member
/// added since the peer logged in counts, as it would after a new login.
bool listed_in_group(const std::string& user, gid_t primary, gid_t group) {
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 3; ++attempt) {
    int count = static_cast<int>(groups.size());
    if (getgrouplist(user.c_str(), primary, groups.data(), &count) >= 0) {
      groups.resize(static_cast<std::size_t>(count));
      return std::find(groups.begin(), groups.end(), group) != groups.end();
    }
    groups.resize(static_cast<std::size_t>(std::max(count, 1)) + 64);
  }
  return false;
}

/// A refused peer: the reply line it gets and the log line.
struct Refusal {
  std::string reply;
  std::string log;
};

/// What the credentials of the peer on `fd` allow.
struct PeerRights {
  std::optional<Refusal> refused;  ///< set when it may not use the socket at all
  bool admin = false;
};

/// Root, the daemon's own user, and members of the socket's group (primary, supplementary, or
/// per the group database) may use the socket; root, the daemon's user and members of the
/// admin group may also change things.
PeerRights check_peer(int fd, const SocketAccess& access, uid_t own_uid) {
  ucred peer{};
  socklen_t length = sizeof peer;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) {
    const std::string why = "cannot read the peer's credentials: " + errno_text(errno);
    return {
        Refusal{error_line("permission denied: " + why), "refused a control connection: " + why},
        false};
  }
  if (peer.uid == 0 || peer.uid == own_uid) return {std::nullopt, true};
  std::optional<std::vector<gid_t>> groups;
  std::optional<std::string> name;
  // Membership as the kernel saw it at connect, or as the group database says now.
  const auto member_of = [&](gid_t group) {
    if (peer.gid == group) return true;
    if (!groups) groups = peer_groups(fd);
    if (std::find(groups->begin(), groups->end(), group) != groups->end()) return true;
    if (!name) name = user_name(peer.uid);
    return !name->empty() && listed_in_group(*name, peer.gid, group);
  };
  if (member_of(access.group)) {
    return {std::nullopt, access.admin_group.has_value() && member_of(*access.admin_group)};
  }
  if (!name) name = user_name(peer.uid);
  const std::string who =
      "uid " + std::to_string(peer.uid) + " (" + (name->empty() ? "no user name" : *name) + ")";
  return {Refusal{error_line("permission denied: " + who + " is neither root nor in group " +
                             access.group_name),
                  "refused a control connection from " + who + ", pid " + std::to_string(peer.pid) +
                      ": neither root nor in group " + access.group_name},
          false};
}

/// Writes one line to a socket just accepted (whose send buffer is empty, so a short line
/// goes at once) and closes it.
void reply_and_close(int fd, const std::string& line) {
  const std::string payload = line + "\n";
  (void)send(fd, payload.data(), payload.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  close(fd);
}

}  // namespace

SocketLimits SocketLimits::from_environment() {
  SocketLimits limits;
  const char* value = std::getenv(kTimeoutsVariable);
  if (value == nullptr || *value == '\0') return limits;
  const std::string_view text(value);
  const std::size_t comma = text.find(',');
  uint64_t request = 0;
  uint64_t idle = 0;
  constexpr uint64_t kMaxMs = 3'600'000;
  if (comma == std::string_view::npos ||
      parse_decimal(text.substr(0, comma), kMaxMs, request) != DecimalResult::ok ||
      parse_decimal(text.substr(comma + 1), kMaxMs, idle) != DecimalResult::ok || request == 0 ||
      idle == 0) {
    throw std::invalid_argument(std::string(kTimeoutsVariable) +
                                ": expected REQUEST_MS,IDLE_MS (a test hook), got '" +
                                std::string(text) + "'");
  }
  limits.request_timeout = std::chrono::milliseconds(request);
  limits.idle_timeout = std::chrono::milliseconds(idle);
  spdlog::warn(
      "{} is set (a test hook): control requests time out after {} ms, idle clients "
      "after {} ms",
      kTimeoutsVariable, request, idle);
  return limits;
}

SocketServer::SocketServer(std::string path, SocketAccess access, SocketLimits limits)
    : path_(std::move(path)), access_(std::move(access)), limits_(limits), own_uid_(geteuid()) {
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
  // Owner-only until the mode and group are applied, so nobody else connects in between.
  // (This runs before EAL starts any thread, so the process-wide umask is ours to change.)
  const mode_t previous_umask = umask(0177);
  const int bound = bind(listen_fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const int bind_error = errno;
  umask(previous_umask);
  if (bound != 0 || listen(listen_fd_, 64) != 0) {
    const int error = bound != 0 ? bind_error : errno;
    close(listen_fd_);
    listen_fd_ = -1;
    if (bound == 0) unlink(path_.c_str());
    throw std::runtime_error("control.socket: cannot listen at " + path_ + ": " +
                             errno_text(error));
  }
  try {
    apply_access(access_);
  } catch (...) {
    close(listen_fd_);
    listen_fd_ = -1;
    unlink(path_.c_str());
    throw;
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

void SocketServer::apply_access(const SocketAccess& access) const {
  // The owner stays the daemon's user (root); the group is what admits operators.
  if (chown(path_.c_str(), static_cast<uid_t>(-1), access.group) != 0) {
    throw std::runtime_error("control.socket_group: cannot give " + path_ + " to group " +
                             access.group_name + ": " + errno_text(errno));
  }
  if (chmod(path_.c_str(), access.mode) != 0) {
    throw std::runtime_error("control.socket_mode: cannot set mode " + octal(access.mode) + " on " +
                             path_ + ": " + errno_text(errno));
  }
}

void SocketServer::update_access(const SocketAccess& access) {
  const bool file_changes = access.mode != access_.mode || access.group != access_.group;
  access_ = access;  // later connections are judged by the new groups even if the file resists
  if (!file_changes) return;
  try {
    apply_access(access_);
    spdlog::info("control socket {}: mode {}, group {}", path_, octal(access_.mode),
                 access_.group_name);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
  }
}

void SocketServer::accept_clients() {
  for (;;) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a client that went away
    const PeerRights rights = check_peer(fd, access_, own_uid_);
    if (rights.refused) {
      reply_and_close(fd, rights.refused->reply);
      warn_limited(Event::refused, rights.refused->log);
      continue;
    }
    if (clients_.size() >= kMaxClients) {
      reply_and_close(fd, error_line("too many control clients (" + std::to_string(kMaxClients) +
                                     " connected); try again later"));
      warn_limited(Event::too_many, "refused a control connection: " + std::to_string(kMaxClients) +
                                        " clients are connected");
      continue;
    }
    Client client;
    client.fd = fd;
    client.id = next_id_++;
    client.admin = rights.admin;
    client.last_progress = Clock::now();
    clients_.push_back(std::move(client));
  }
}

void SocketServer::read_from(Client& client) {
  char buffer[16384];
  for (;;) {
    const ssize_t n = recv(client.fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      const std::string_view chunk(buffer, static_cast<std::size_t>(n));
      client.in.append(chunk);
      client.last_progress = Clock::now();
      // The unfinished line at the end, if any, and when its first byte came.
      const std::size_t newline = chunk.rfind('\n');
      if (newline != std::string_view::npos) {
        client.partial = newline + 1 < chunk.size();
        if (client.partial) client.partial_since = client.last_progress;
      } else if (!client.partial) {
        client.partial = true;
        client.partial_since = client.last_progress;
      }
      if (client.in.size() > max_request(client)) break;  // judged in serve(); read no more
      continue;
    }
    if (n == 0) client.eof = true;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) client.eof = true;
    break;
  }
}

void SocketServer::serve(Client& client, const Handler& handler) {
  const std::size_t limit = max_request(client);
  const std::string too_long =
      error_line("request longer than " + std::to_string(limit) + " bytes");
  std::size_t start = 0;
  std::size_t served = 0;
  while (!client.waiting && !client.closing && served < kMaxRequestsPerPass) {
    const std::size_t newline = client.in.find('\n', start);
    if (newline == std::string::npos) break;
    std::string_view line(client.in.data() + start, newline - start);
    start = newline + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > limit) {
      client.out.append(too_long).append("\n");
      client.closing = true;
      break;
    }
    if (line.empty()) continue;
    if (client.out.size() > limits_.max_unsent_bytes) {
      // It asks and does not read: stop holding replies for it.
      warn_limited(Event::unread, "closed a control client that left more than " +
                                      std::to_string(limits_.max_unsent_bytes >> 20) +
                                      " MiB of replies unread");
      client.out.clear();
      client.closing = true;
      break;
    }
    ++served;
    if (std::optional<std::string> reply = handler(line, client.id)) {
      client.out.append(*reply).append("\n");
    } else {
      client.waiting = true;
    }
  }
  client.in.erase(0, start);
  if (client.closing) {
    client.in.clear();
    client.partial = false;
    return;
  }
  if (client.in.size() > limit && client.in.find('\n') == std::string::npos) {
    client.out.append(too_long).append("\n");
    client.closing = true;
    client.in.clear();
    client.partial = false;
    return;
  }
  if (client.eof && !client.waiting && client.in.find('\n') == std::string::npos) {
    // A last request without its newline still gets an answer.
    if (!client.in.empty()) {
      if (std::optional<std::string> reply = handler(client.in, client.id)) {
        client.out.append(*reply).append("\n");
      } else {
        client.waiting = true;
      }
      client.in.clear();
      client.partial = false;
    }
    if (!client.waiting) client.closing = true;
  }
}

void SocketServer::write_to(Client& client) {
  while (!client.out.empty()) {
    const ssize_t n = send(client.fd, client.out.data(), client.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      client.out.erase(0, static_cast<std::size_t>(n));
      client.last_progress = Clock::now();
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    client.out.clear();  // the peer is gone
    client.closing = true;
    client.waiting = false;
    return;
  }
}

bool SocketServer::is_admin(ClientId id) const noexcept {
  for (const Client& client : clients_) {
    if (client.id == id) return client.admin;
  }
  return false;
}

std::string SocketServer::admin_hint() const {
  const std::string own = user_name(own_uid_);
  std::string who = "root";
  if (own_uid_ != 0) who += ", user " + (own.empty() ? std::to_string(own_uid_) : own);
  if (access_.admin_group) {
    return who + " or a member of group " + access_.admin_group_name + " (control.admin_group)";
  }
  return who + " (set control.admin_group to admit a group's members)";
}

void SocketServer::complete(ClientId id, const std::string& reply) {
  for (Client& client : clients_) {
    if (client.id != id || !client.waiting) continue;
    client.waiting = false;
    client.last_progress = Clock::now();
    client.out.append(reply).append("\n");
    write_to(client);
    return;
  }
}

void SocketServer::enforce_deadlines(Clock::time_point now) {
  for (Client& client : clients_) {
    if (client.closing) {
      // Its last line is queued; a peer that will not take it is dropped like an idle one.
      if (now - client.last_progress >= limits_.idle_timeout) client.out.clear();
      continue;
    }
    if (client.partial) {
      if (client.eof || client.in.size() > max_request(client)) {
        client.partial_since = now;  // not reading from it: any wait is ours, not the client's
      } else if (now - client.partial_since >= limits_.request_timeout) {
        const std::string message =
            "request not completed within " + whole_seconds(limits_.request_timeout);
        client.out.append(error_line(message)).append("\n");
        client.in.clear();
        client.partial = false;
        client.waiting = false;  // a deferred reply still due is dropped with the connection
        client.closing = true;
        warn_limited(Event::timed_out, "closed a control client: " + message);
        continue;
      }
    }
    // Idle: nothing moved for the whole period and no deferred reply is due (a client that
    // does not take its pending replies counts as idle too).
    if (!client.waiting && now - client.last_progress >= limits_.idle_timeout) {
      client.out.clear();
      client.in.clear();
      client.closing = true;
    }
  }
}

void SocketServer::warn_limited(Event event, const std::string& message) {
  const Clock::time_point now = Clock::now();
  flush_warnings(now);
  if (now >= warn_window_end_) {
    spdlog::warn("{}", message);
    warn_window_end_ = now + std::chrono::seconds(1);
  } else {
    ++suppressed_[static_cast<std::size_t>(event)];
  }
}

void SocketServer::flush_warnings(Clock::time_point now) {
  if (now < warn_window_end_) return;
  static constexpr std::array<const char*, static_cast<std::size_t>(Event::count)> kWhat = {
      "refused connection(s) (permissions)", "refused connection(s) (too many clients)",
      "request timeout(s)", "client(s) closed for unread replies"};
  std::string summary;
  for (std::size_t i = 0; i < suppressed_.size(); ++i) {
    if (suppressed_[i] == 0) continue;
    summary += (summary.empty() ? "" : ", ") + std::to_string(suppressed_[i]) + " " + kWhat[i];
    suppressed_[i] = 0;
  }
  if (summary.empty()) return;
  spdlog::warn("control socket, in the last second also: {}", summary);
  warn_window_end_ = now + std::chrono::seconds(1);
}

bool SocketServer::poll_once(int timeout_ms, int extra_fd, const Handler& handler) {
  // Requests that queued behind a deferred reply, now answered, or beyond the last pass's
  // share, go first.
  bool backlog = false;
  for (Client& client : clients_) {
    if (!client.waiting && !client.closing && (!client.in.empty() || client.eof)) {
      serve(client, handler);
      if (!client.out.empty()) write_to(client);
    }
    backlog = backlog ||
              (!client.waiting && !client.closing && client.in.find('\n') != std::string::npos);
  }

  std::vector<pollfd> fds;
  fds.reserve(clients_.size() + 2);
  fds.push_back({listen_fd_, POLLIN, 0});
  fds.push_back({extra_fd, POLLIN, 0});
  for (const Client& client : clients_) {
    // Read only while there is room: a full buffer is served (or refused) first, and a closing
    // client's further bytes are not wanted. The kernel's buffer then holds the sender back.
    const bool room = !client.eof && !client.closing && client.in.size() <= max_request(client);
    short events = room ? POLLIN : 0;
    if (!client.out.empty()) events = static_cast<short>(events | POLLOUT);
    // A client with nothing to poll for (say, finished and waiting for a deferred reply) is
    // left out: a hung-up socket would wake poll() at once, again and again.
    fds.push_back({events == 0 ? -1 : client.fd, events, 0});
  }
  const int ready_count = poll(fds.data(), fds.size(), backlog ? 0 : timeout_ms);
  if (ready_count < 0) return false;

  for (std::size_t i = 0; i < clients_.size(); ++i) {
    Client& client = clients_[i];
    const short revents = fds[i + 2].revents;
    if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0 && (fds[i + 2].events & POLLIN) != 0) {
      read_from(client);
      if (!client.waiting && !client.closing) serve(client, handler);
    }
    if (!client.out.empty()) write_to(client);
  }
  const Clock::time_point now = Clock::now();
  enforce_deadlines(now);
  std::erase_if(clients_, [](const Client& client) {
    if (!client.closing || !client.out.empty()) return false;
    close(client.fd);
    return true;
  });
  if ((fds[0].revents & POLLIN) != 0) accept_clients();
  flush_warnings(now);
  return extra_fd >= 0 && (fds[1].revents & POLLIN) != 0;
}

}  // namespace udpsieve::control
