#pragma once
/// The prefix sets' lookup tables: what the workers ask "which sets hold this address?".
///
/// Per address family one longest-prefix-match table (DPDK rte_fib DIR-24-8 for IPv4, rte_fib6
/// trie for IPv6) holds SetModel's routes; a route's next hop is its set bits, so one address
/// costs one table walk. Four-byte entries: with two, rte_fib could hold at most 32,767 tbl8
/// groups (one per /24 holding a longer prefix), far too few for a feed of single addresses.
/// Each copy's first level is 64 MB; a tbl8 group is 1 KB.
///
/// Runtime changes must not disturb workers reading the tables, and DPDK 22.11's rte_fib frees
/// and reuses its tbl8 groups at once (RCU support came later), so each family keeps two copies:
/// a change goes into the copy no worker reads, that copy becomes the active one with one
/// atomic store, and the old copy receives the same change once every worker has passed a
/// quiescent state (rte_rcu_qsbr) since the switch. A family's tables are created only when it
/// has routes.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "udpsieve/rules/prefix_set.hpp"

struct rte_fib;
struct rte_fib6;
struct rte_rcu_qsbr;

namespace udpsieve::dataplane {

/// What set_tables reports for `stats`.
struct SetTablesInfo {
  uint64_t memory_bytes = 0;  ///< DPDK heap bytes of both families' copies
};

class SetTables {
 public:
  /// Builds tables holding `model`'s routes on NUMA `socket`; `generation` makes the DPDK
  /// object names unique. Throws std::runtime_error when DPDK fails (out of memory).
  SetTables(const rules::SetModel& model, int socket, uint64_t generation);
  ~SetTables();
  SetTables(const SetTables&) = delete;
  SetTables& operator=(const SetTables&) = delete;

  // --- worker side ---------------------------------------------------------------------------
  /// A family's first level (its 2^24 entries for the first 24 address bits) in the active
  /// copy, for prefetching an address's entry while the burst is still being parsed; null when
  /// unknown. DPDK 22.11 keeps DIR-24-8's and the trie's first level at a fixed place after
  /// their header, which each copy is checked against when built (lookups through it must agree
  /// with rte_fib's own), so a DPDK that lays it out otherwise only loses the prefetch.
  [[nodiscard]] const uint8_t* first_level(rules::Family family) const noexcept {
    return active_level_[family == rules::Family::ipv4 ? 0 : 1].load(std::memory_order_relaxed);
  }
  /// Prefetches the first-level entry of the address whose first 24 bits are `top24`.
  static void prefetch(const uint8_t* first_level, uint32_t top24) noexcept {
    if (first_level != nullptr) __builtin_prefetch(first_level + std::size_t{top24} * 4);
  }
  /// Set bits of `n` IPv4 addresses (host byte order).
  void lookup_v4(uint32_t* ips, uint16_t* bits, unsigned n) const noexcept;
  /// Set bits of `n` IPv6 addresses.
  void lookup_v6(uint8_t (*ips)[16], uint16_t* bits, unsigned n) const noexcept;

  // --- control side --------------------------------------------------------------------------
  /// Applies `changes` (SetModel's change list) to the standby copies and makes them active.
  /// `qsbr` is the workers' RCU state, null before the tables are published (both copies then
  /// change at once). Returns false, changing nothing the workers see, when a table is full:
  /// the caller then builds new tables from the model. With a
  /// `qsbr`, call it when ready() (else it waits for the workers' quiescence itself).
  /// `model` is the model after the change (a change to a route at the very end of the
  /// address space rebuilds the copy from it; see ends_at_top in the .cpp).
  [[nodiscard]] bool apply(const std::vector<rules::SetRoute>& changes,
                           const rules::SetModel& model, rte_rcu_qsbr* qsbr);
  /// Non-blocking: whether the standby copies may be written, bringing them up to date with
  /// the last change (from `model`, unchanged since) once every worker has passed a quiescent
  /// state since its switch.
  [[nodiscard]] bool ready(rte_rcu_qsbr* qsbr, const rules::SetModel& model);
  [[nodiscard]] SetTablesInfo info() const;
  [[nodiscard]] int socket() const noexcept { return socket_; }

 private:
  struct Family {
    rules::Family family = rules::Family::ipv4;
    std::array<void*, 2> copies{};  // rte_fib* or rte_fib6*
    std::atomic<void*> active{nullptr};
    unsigned active_index = 0;
    std::vector<rules::SetRoute> pending;  // applied to the active copy, not to the other yet
    bool pending_rebuild = false;          // the other copy must be rebuilt from the model
    uint64_t token = 0;                    // RCU token of the switch that made it pending
    std::size_t tbl8 = 0;                  // the copies' size
    std::size_t max_routes = 0;
  };

  /// Creates both copies of `family` sized for `routes` with room to grow.
  void create(Family& family, const std::vector<rules::SetRoute>& routes);
  /// One empty copy of the family's size (a unique DPDK name each time).
  [[nodiscard]] void* make_copy(const Family& family);
  static void free_copy(rules::Family family, void* copy) noexcept;
  /// Replaces copy `index` by one filled from `model`; false (the copy unchanged) on failure.
  [[nodiscard]] bool rebuild_copy(Family& family, unsigned index, const rules::SetModel& model);
  /// Brings the standby copy up to date (the workers have left it).
  [[nodiscard]] bool catch_up(Family& family, const rules::SetModel& model);
  /// Looks the copies' first levels up (checked_first_level).
  void check_first_levels(const Family& family, const std::vector<rules::SetRoute>& routes);
  /// Before publication: points the active pointers at the active copy (rebuilt copies replace
  /// their DPDK objects).
  void refresh_active(Family& family) noexcept;
  /// Adds or removes routes in one copy; false when the copy is full.
  [[nodiscard]] bool write(const Family& family, void* copy,
                           const std::vector<rules::SetRoute>& routes);
  void free_family(Family& family) noexcept;

  /// The first level of a copy, checked against rte_fib's lookups of `routes`; null when they
  /// disagree.
  static const uint8_t* checked_first_level(rules::Family family, void* copy,
                                            const std::vector<rules::SetRoute>& routes);

  int socket_;
  uint64_t generation_;
  std::array<Family, 2> families_;
  std::array<std::array<const uint8_t*, 2>, 2> level_{};  // per family, per copy
  std::array<std::atomic<const uint8_t*>, 2> active_level_{};
  uint64_t copies_made_ = 0;  // names each DPDK table uniquely
  uint64_t memory_bytes_ = 0;
  bool broken_ = false;  // a write failed half-way: only a rebuild helps
};

}  // namespace udpsieve::dataplane
