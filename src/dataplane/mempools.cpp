#include "udpsieve/dataplane/mempools.hpp"

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <spdlog/spdlog.h>

#include <bit>
#include <stdexcept>

#include "udpsieve/common/stats_schema.hpp"

namespace udpsieve::dataplane {
namespace {
constexpr unsigned kCacheSize = 256;
/// Buffers PMDs may hold beyond the descriptor rings (net_pcap infinite_rx keeps a copy of
/// the whole capture in mbufs).
constexpr unsigned kSlack = 8192;
}  // namespace

unsigned mbufs_needed(unsigned workers_on_socket, unsigned rx_descriptors_per_worker,
                      unsigned tx_descriptors_per_worker, unsigned ports,
                      unsigned lcores_using_pool) {
  const unsigned per_worker = rx_descriptors_per_worker + tx_descriptors_per_worker +
                              static_cast<unsigned>(kBurstSize) * (ports + 2);
  const unsigned total = workers_on_socket * per_worker + lcores_using_pool * kCacheSize + kSlack;
  // Pools are most memory-efficient at 2^n - 1 entries.
  return std::bit_ceil(total + 1) - 1;
}

MempoolSet::~MempoolSet() {
  for (auto& [socket, pool] : pools_)
    rte_mempool_free(pool);
}

void MempoolSet::create(int socket, unsigned mbufs) {
  if (pools_.count(socket) != 0) return;
  const std::string name = "mbufs_s" + std::to_string(socket);
  rte_mempool* pool = rte_pktmbuf_pool_create(name.c_str(), mbufs, kCacheSize, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  if (pool == nullptr) {
    throw std::runtime_error("cannot create the mbuf pool on NUMA socket " +
                             std::to_string(socket) + " (" + std::to_string(mbufs) +
                             " mbufs): " + rte_strerror(rte_errno) +
                             "; reserve more hugepages or raise eal.memory_mb");
  }
  spdlog::info("mbuf pool {}: {} mbufs of {} bytes on socket {}", name, mbufs,
               RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  pools_.emplace(socket, pool);
}

rte_mempool* MempoolSet::on_socket(int socket) const {
  return pools_.at(socket);
}

std::vector<MempoolStats> MempoolSet::stats() const {
  std::vector<MempoolStats> out;
  for (const auto& [socket, pool] : pools_) {
    MempoolStats s;
    s.socket = socket;
    s.size = pool->size;
    s.in_use = rte_mempool_in_use_count(pool);
    s.available = rte_mempool_avail_count(pool);
    out.push_back(s);
  }
  return out;
}

}  // namespace udpsieve::dataplane
