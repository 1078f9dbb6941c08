#pragma once
/// Signals as file descriptor events, so the control loop handles them at a safe point.

namespace udpsieve::service {

/// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and so in every thread created
/// after it, DPDK's included), ignores SIGPIPE, and opens a non-blocking signalfd for them.
/// Create it before rte_eal_init: a signal that arrives at any later moment stays pending until
/// the control loop reads it.
class SignalFd {
 public:
  SignalFd();
  ~SignalFd();
  SignalFd(const SignalFd&) = delete;
  SignalFd& operator=(const SignalFd&) = delete;

  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace udpsieve::service
