#include "udpsieve/dataplane/snapshot_channel.hpp"

#include <rte_errno.h>
#include <rte_ring.h>

#include <stdexcept>

namespace udpsieve::dataplane {
namespace {

rte_ring* make_ring(const std::string& name, unsigned count, int socket) {
  // Exact size: the ring holds every buffer, so publish/release can never fail.
  rte_ring* ring =
      rte_ring_create(name.c_str(), count, socket, RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
  if (ring == nullptr) {
    throw std::runtime_error("cannot create ring " + name + ": " + rte_strerror(rte_errno));
  }
  return ring;
}

}  // namespace

SnapshotChannel::SnapshotChannel(unsigned worker_index, int socket, unsigned buffers,
                                 std::size_t rule_capacity) {
  const std::string suffix = std::to_string(worker_index);
  full_ = make_ring("snap_full_" + suffix, buffers, socket);
  try {
    free_ = make_ring("snap_free_" + suffix, buffers, socket);
  } catch (...) {
    rte_ring_free(full_);
    throw;
  }
  storage_.reserve(buffers);
  for (unsigned i = 0; i < buffers; ++i) {
    auto snapshot = std::make_unique<WorkerSnapshot>();
    snapshot->rules.resize(rule_capacity);
    release(snapshot.get());
    storage_.push_back(std::move(snapshot));
  }
}

SnapshotChannel::~SnapshotChannel() {
  rte_ring_free(full_);
  rte_ring_free(free_);
}

WorkerSnapshot* SnapshotChannel::acquire() noexcept {
  void* item = nullptr;
  if (rte_ring_sc_dequeue(free_, &item) != 0) return nullptr;
  return static_cast<WorkerSnapshot*>(item);
}

void SnapshotChannel::publish(WorkerSnapshot* snapshot) noexcept {
  (void)rte_ring_sp_enqueue(full_, snapshot);
}

WorkerSnapshot* SnapshotChannel::receive() noexcept {
  void* item = nullptr;
  if (rte_ring_sc_dequeue(full_, &item) != 0) return nullptr;
  return static_cast<WorkerSnapshot*>(item);
}

void SnapshotChannel::release(WorkerSnapshot* snapshot) noexcept {
  (void)rte_ring_sp_enqueue(free_, snapshot);
}

}  // namespace udpsieve::dataplane
