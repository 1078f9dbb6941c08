#pragma once
/// A worker's private path to the control thread: two single-producer/single-consumer
/// rte_rings over a fixed set of preallocated snapshot buffers.
///
///   worker  --(full ring)-->  control      filled snapshots
///   worker  <--(free ring)--  control      buffers handed back for reuse
///
/// Each ring has exactly one producer and one consumer thread; no buffer is ever allocated
/// after construction, so the worker side never allocates, locks or blocks.

#include <memory>
#include <string>
#include <vector>

#include "udpsieve/dataplane/counters.hpp"

struct rte_ring;

namespace udpsieve::dataplane {

class SnapshotChannel {
 public:
  /// Creates the rings on `socket` with `buffers` snapshot buffers, each able to carry
  /// `rule_capacity` rule counters. Throws std::runtime_error when a ring cannot be created.
  SnapshotChannel(unsigned worker_index, int socket, unsigned buffers, std::size_t rule_capacity);
  ~SnapshotChannel();
  SnapshotChannel(const SnapshotChannel&) = delete;
  SnapshotChannel& operator=(const SnapshotChannel&) = delete;

  // Worker side.
  /// A free buffer, or nullptr when the control thread still holds them all.
  [[nodiscard]] WorkerSnapshot* acquire() noexcept;
  /// Hands a filled buffer to the control thread (never fails: the ring holds every buffer).
  void publish(WorkerSnapshot* snapshot) noexcept;

  // Control side.
  /// The oldest filled buffer, or nullptr.
  [[nodiscard]] WorkerSnapshot* receive() noexcept;
  /// Returns a buffer for reuse.
  void release(WorkerSnapshot* snapshot) noexcept;

 private:
  rte_ring* full_ = nullptr;
  rte_ring* free_ = nullptr;
  std::vector<std::unique_ptr<WorkerSnapshot>> storage_;
};

}  // namespace udpsieve::dataplane
