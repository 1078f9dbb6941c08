#include "udpsieve/dataplane/capture_tap.hpp"

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>
#include <string>

namespace udpsieve::dataplane {
namespace {

unsigned next_instance() {
  static std::atomic<unsigned> instances{0};
  return instances.fetch_add(1);
}

}  // namespace

CaptureTap::CaptureTap(uint32_t workers, int socket, unsigned pool_size, unsigned ring_size)
    : workers_(workers) {
  const std::string suffix = std::to_string(next_instance());
  // Room for a whole jumbo frame is not needed: copies are cut at the snap length (≤ 2048).
  pool_ = rte_pktmbuf_pool_create(("capture" + suffix).c_str(), pool_size, 0,
                                  static_cast<uint16_t>(RTE_ALIGN(sizeof(CaptureMeta), 8)),
                                  RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  if (pool_ == nullptr) {
    throw std::runtime_error("capture pool: " + std::string(rte_strerror(rte_errno)));
  }
  for (uint32_t w = 0; w < workers; ++w) {
    const std::string name = "capture" + suffix + "_" + std::to_string(w);
    workers_[w].ring =
        rte_ring_create(name.c_str(), ring_size, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (workers_[w].ring == nullptr) {
      for (PerWorker& created : workers_)
        rte_ring_free(created.ring);
      rte_mempool_free(pool_);
      throw std::runtime_error("capture ring: " + std::string(rte_strerror(rte_errno)));
    }
  }
}

CaptureTap::~CaptureTap() {
  end();
  for (PerWorker& worker : workers_)
    rte_ring_free(worker.ring);
  rte_mempool_free(pool_);
}

void CaptureTap::begin(uint64_t word, uint32_t snaplen) {
  discard();
  words_.assign(1, word);
  missed_at_arm_ = 0;
  for (const PerWorker& worker : workers_)
    missed_at_arm_ += worker.missed.load(std::memory_order_relaxed);
  snaplen_.store(std::min<uint32_t>(snaplen, RTE_MBUF_DEFAULT_DATAROOM), std::memory_order_relaxed);
  word_.store(word, std::memory_order_release);  // publishes the snap length with it
}

void CaptureTap::retarget(uint64_t word) {
  words_.push_back(word);
  word_.store(word, std::memory_order_release);
}

void CaptureTap::end() {
  word_.store(0, std::memory_order_release);
  words_.clear();
  discard();
}

uint64_t CaptureTap::missed() const noexcept {
  uint64_t total = 0;
  for (const PerWorker& worker : workers_)
    total += worker.missed.load(std::memory_order_relaxed);
  return total - missed_at_arm_;
}

void CaptureTap::offer(uint32_t worker, const rte_mbuf* m, const CaptureMeta& meta) noexcept {
  PerWorker& mine = workers_[worker];
  rte_mbuf* copy = nullptr;
  if (rte_ring_full(mine.ring) == 0) {
    const uint32_t snaplen = snaplen_.load(std::memory_order_relaxed);
    copy = rte_pktmbuf_copy(m, pool_, 0, std::min(snaplen, rte_pktmbuf_pkt_len(m)));
  }
  if (copy == nullptr) {
    mine.missed.store(mine.missed.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return;
  }
  *static_cast<CaptureMeta*>(rte_mbuf_to_priv(copy)) = meta;
  if (rte_ring_sp_enqueue(mine.ring, copy) != 0) {  // cannot happen: only we enqueue
    rte_pktmbuf_free(copy);
    mine.missed.store(mine.missed.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
}

void CaptureTap::drain(std::size_t max, std::vector<CapturedPacket>& out) {
  std::array<void*, 32> batch{};
  for (PerWorker& worker : workers_) {
    while (max > 0) {
      const unsigned n = rte_ring_sc_dequeue_burst(
          worker.ring, batch.data(), static_cast<unsigned>(std::min(max, batch.size())), nullptr);
      if (n == 0) break;
      for (unsigned i = 0; i < n; ++i) {
        auto* m = static_cast<rte_mbuf*>(batch[i]);
        CapturedPacket packet;
        packet.meta = *static_cast<const CaptureMeta*>(rte_mbuf_to_priv(m));
        if (std::find(words_.begin(), words_.end(), packet.meta.word) == words_.end()) {
          rte_pktmbuf_free(m);  // taken for an earlier capture
          continue;
        }
        packet.data.resize(rte_pktmbuf_pkt_len(m));
        const void* bytes = rte_pktmbuf_read(m, 0, rte_pktmbuf_pkt_len(m), packet.data.data());
        if (bytes != nullptr && bytes != packet.data.data()) {
          std::memcpy(packet.data.data(), bytes, packet.data.size());
        }
        rte_pktmbuf_free(m);
        out.push_back(std::move(packet));
      }
      max -= std::min<std::size_t>(max, n);
    }
  }
}

void CaptureTap::discard() {
  std::array<void*, 32> batch{};
  for (PerWorker& worker : workers_) {
    unsigned n = 0;
    while ((n = rte_ring_sc_dequeue_burst(worker.ring, batch.data(), batch.size(), nullptr)) > 0) {
      for (unsigned i = 0; i < n; ++i)
        rte_pktmbuf_free(static_cast<rte_mbuf*>(batch[i]));
    }
  }
}

}  // namespace udpsieve::dataplane
