#pragma once
/// One mbuf pool per NUMA socket that has workers, created on that socket.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

struct rte_mempool;

namespace udpsieve::dataplane {

/// Per-pool figures for `stats` (in_use returning to its baseline shows no mbuf leaked).
struct MempoolStats {
  int socket = 0;
  unsigned size = 0;
  unsigned in_use = 0;
  unsigned available = 0;
};

class MempoolSet {
 public:
  MempoolSet() = default;
  ~MempoolSet();
  MempoolSet(const MempoolSet&) = delete;
  MempoolSet& operator=(const MempoolSet&) = delete;

  /// Creates a pool of `mbufs` buffers on `socket` (once per socket). Throws on failure.
  void create(int socket, unsigned mbufs);
  /// The pool on `socket`; throws std::out_of_range when there is none.
  [[nodiscard]] rte_mempool* on_socket(int socket) const;
  [[nodiscard]] std::vector<MempoolStats> stats() const;

 private:
  std::map<int, rte_mempool*> pools_;
};

/// Mbufs a socket's pool needs: every descriptor of its workers' queues, TX buffers, per-lcore
/// caches, plus slack for PMDs that keep buffers of their own (net_pcap infinite_rx).
[[nodiscard]] unsigned mbufs_needed(unsigned workers_on_socket, unsigned rx_descriptors_per_worker,
                                    unsigned tx_descriptors_per_worker, unsigned ports,
                                    unsigned lcores_using_pool);

}  // namespace udpsieve::dataplane
