#include "udpsieve/dataplane/mempools.hpp"

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <spdlog/spdlog.h>

#include <stdexcept>

#include "udpsieve/config/eal_args.hpp"

namespace udpsieve::dataplane {

MempoolSet::~MempoolSet() {
  for (auto& [socket, pool] : pools_)
    rte_mempool_free(pool);
}

void MempoolSet::create(int socket, unsigned mbufs) {
  if (pools_.count(socket) != 0) return;
  const std::string name = "mbufs_s" + std::to_string(socket);
  rte_mempool* pool = rte_pktmbuf_pool_create(name.c_str(), mbufs, config::kPoolCacheSize, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  if (pool == nullptr) {
    throw std::runtime_error(
        "cannot create the mbuf pool on NUMA socket " + std::to_string(socket) + " (" +
        std::to_string(mbufs) + " mbufs): " + rte_strerror(rte_errno) +
        "; reserve more hugepages (or raise eal.memory_mb without them), or lower eal.mbufs");
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
