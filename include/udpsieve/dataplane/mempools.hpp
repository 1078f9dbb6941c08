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

}  // namespace udpsieve::dataplane
