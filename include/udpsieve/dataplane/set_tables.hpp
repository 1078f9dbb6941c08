#pragma once
/// The prefix sets' lookup tables: what the workers ask "which sets hold this address?".
///
/// Per address family one longest-prefix-match table holds SetModel's routes, each with its set
/// bits, so one address costs one table walk whatever the number of sets. The layout is
/// DIR-24-8's, extended by a level per further byte for IPv6 (as DPDK's rte_fib and rte_fib6
/// trie lay theirs out): a first level of 2^24 four-byte entries indexed by the address's first
/// 24 bits, and groups of 256 entries for each further byte where a longer route needs them. An
/// entry is (bits << 1) for an answer or (group << 1) | 1 for "look at the next byte in that
/// group". IPv4 takes one or two reads, IPv6 one to fourteen. The first level is 64 MiB per
/// copy, a group 1 KiB (a scattered list of single addresses costs a group each).
///
/// The tables are udpsieve's own rather than rte_fib's: DPDK 22.11's DIR-24-8 finds a free tbl8
/// group by scanning its bitmap from the start (quadratic in the groups a load takes), and each
/// rte_fib keeps its routes a second time in an rte_rib; here the routes live in SetModel
/// alone, a load paints them in address order into one copy and duplicates it with memcpy, and
/// groups come from a free list.
///
/// Runtime changes must not disturb workers reading the tables, so each family keeps two
/// copies: a change goes into the copy no worker reads, that copy becomes the active one with
/// one atomic store, and the old copy receives the same change once every worker has passed a
/// quiescent state (rte_rcu_qsbr) since the switch. A change repaints each changed prefix's
/// range from the model (the prefix's bits, then every route under it), and a group whose
/// entries all became one answer is folded back into its parent entry. A family's tables are
/// created only when it has routes.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "udpsieve/rules/prefix_set.hpp"

struct rte_rcu_qsbr;

namespace udpsieve::dataplane {

/// What set_tables reports for `stats`.
struct SetTablesInfo {
  uint64_t memory_bytes = 0;  ///< DPDK heap bytes of both families' copies
};

class SetTables {
 public:
  /// Builds tables holding `model`'s routes on NUMA `socket`. Throws std::runtime_error when
  /// DPDK's heap cannot hold them.
  SetTables(const rules::SetModel& model, int socket);
  ~SetTables();
  SetTables(const SetTables&) = delete;
  SetTables& operator=(const SetTables&) = delete;

  // --- worker side ---------------------------------------------------------------------------
  /// A family's first level (its 2^24 entries for the first 24 address bits) in the active
  /// copy, for prefetching an address's entry while the burst is still being parsed; null when
  /// the family has no tables.
  [[nodiscard]] const uint8_t* first_level(rules::Family family) const noexcept {
    const Copy* copy =
        families_[family == rules::Family::ipv4 ? 0 : 1].active.load(std::memory_order_relaxed);
    return copy != nullptr ? reinterpret_cast<const uint8_t*>(copy->level) : nullptr;
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
  /// the caller then builds new tables from the model. With a `qsbr`, call it when ready()
  /// (else it waits for the workers' quiescence itself). `model` is the model after the
  /// change: the changed prefixes' ranges are repainted from it.
  [[nodiscard]] bool apply(const std::vector<rules::SetRoute>& changes,
                           const rules::SetModel& model, rte_rcu_qsbr* qsbr);
  /// Non-blocking: whether the standby copies may be written, bringing them up to date with
  /// the last change (from `model`, unchanged since) once every worker has passed a quiescent
  /// state since its switch.
  [[nodiscard]] bool ready(rte_rcu_qsbr* qsbr, const rules::SetModel& model);
  /// A change list of more routes than this (for a family of `routes` routes in the model)
  /// repaints a copy whole from the model, one pass over its routes in address order after
  /// clearing the first level, instead of prefix by prefix. A prefix repainted by itself costs
  /// about what 32 routes of the whole pass cost, and the clearing about what 4,096 prefixes
  /// cost (a million IPv4 routes: 1.9 us a changed prefix, 62 ms the whole pass, 7 ms of it the
  /// clearing; docs/performance.md).
  [[nodiscard]] static constexpr std::size_t repaint_whole_above(std::size_t routes) noexcept {
    return 4096 + routes / 32;
  }
  [[nodiscard]] SetTablesInfo info() const;
  [[nodiscard]] int socket() const noexcept { return socket_; }

 private:
  /// One copy of a family's table (see the top of the file).
  struct Copy {
    uint32_t* level = nullptr;   ///< 2^24 first-level entries
    uint32_t* groups = nullptr;  ///< group_count groups of 256 entries
    uint32_t fresh = 0;          ///< groups from here on were never used
    std::vector<uint32_t> free;  ///< groups released by changes
  };
  struct Family {
    rules::Family family = rules::Family::ipv4;
    std::array<Copy, 2> copies{};
    std::atomic<const Copy*> active{nullptr};
    unsigned active_index = 0;
    std::vector<rules::Prefix> pending;  // repainted in the active copy, not in the other yet
    uint64_t token = 0;                  // RCU token of the switch that made it pending
    uint32_t group_count = 0;            // the copies' size
    uint64_t memory_bytes = 0;           // both copies' (families are built on two threads)
  };

  /// Creates both copies of `family` sized for `routes` with room to grow, fills the first
  /// from them and the second from the first.
  void create(Family& family, const std::vector<rules::SetRoute>& routes);
  /// Paints `routes` (address order, SetModel::routes) into an empty copy; false when it
  /// runs out of groups.
  [[nodiscard]] static bool fill(const Family& family, Copy& copy,
                                 const std::vector<rules::SetRoute>& routes, uint16_t covering);
  /// Repaints the ranges of `prefixes` from `model`; false when the copy runs out of groups.
  [[nodiscard]] static bool repaint(const Family& family, Copy& copy,
                                    const std::vector<rules::Prefix>& prefixes,
                                    const rules::SetModel& model);
  /// Brings the standby copy up to date (the workers have left it).
  [[nodiscard]] bool catch_up(Family& family, const rules::SetModel& model);
  void free_family(Family& family) noexcept;

  int socket_;
  std::array<Family, 2> families_;
  bool broken_ = false;  // a change ran out of groups half-way: only a rebuild helps
};

}  // namespace udpsieve::dataplane
