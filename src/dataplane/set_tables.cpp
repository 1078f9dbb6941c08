#include "udpsieve/dataplane/set_tables.hpp"

#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

namespace udpsieve::dataplane {
namespace {

using rules::SetRoute;

constexpr std::size_t kLookupChunk = 64;
/// A next hop no route keeps (set bits fit 16 bits; four-byte entries hold 31).
constexpr uint64_t kGuardNextHop = uint64_t{1} << 30;

/// Whether `prefix` reaches the last address of its family (all its network bits are ones).
/// DPDK 22.11's rte_fib and rte_fib6 compute a range's end by adding its size, which wraps to
/// zero there: changing such a route while more specific routes sit at its end can overwrite
/// the whole table. Changes to such routes rebuild the copy instead (address order, each route
/// before the ones under it, never hits that path).
bool ends_at_top(const rules::Prefix& prefix) noexcept {
  for (unsigned bit = 0; bit < prefix.length; ++bit) {
    if ((prefix.addr[bit / 8] & (0x80U >> (bit % 8))) == 0) return false;
  }
  return true;
}

uint32_t host_v4(const rules::Prefix& prefix) noexcept {
  return static_cast<uint32_t>(prefix.addr[0]) << 24 | static_cast<uint32_t>(prefix.addr[1]) << 16 |
         static_cast<uint32_t>(prefix.addr[2]) << 8 | prefix.addr[3];
}

/// tbl8 groups the routes need: IPv4 one per /24 holding a longer route; IPv6 one per
/// distinct byte-aligned node below the first 24 bits on the way to each longer route.
std::size_t tbl8_needed(rules::Family family, const std::vector<SetRoute>& routes) {
  // Each node as its first bytes with the depth in the last byte (depths are 24-120, so the
  // byte after the node's prefix is free).
  std::vector<std::array<uint8_t, 16>> nodes;
  for (const SetRoute& route : routes) {
    const unsigned length = route.prefix.length;
    for (unsigned depth = 24; depth < length; depth += 8) {
      std::array<uint8_t, 16> key{};
      std::copy_n(route.prefix.addr.begin(), depth / 8, key.begin());
      key[15] = static_cast<uint8_t>(depth);
      nodes.push_back(key);
      if (family == rules::Family::ipv4) break;  // one level of groups below the first
    }
  }
  std::sort(nodes.begin(), nodes.end());
  return static_cast<std::size_t>(std::unique(nodes.begin(), nodes.end()) - nodes.begin());
}

uint64_t heap_bytes(int socket) {
  rte_malloc_socket_stats stats{};
  if (rte_malloc_get_socket_stats(socket < 0 ? 0 : socket, &stats) != 0) return 0;
  return stats.heap_allocsz_bytes;
}

}  // namespace

SetTables::SetTables(const rules::SetModel& model, int socket, uint64_t generation)
    : socket_(socket), generation_(generation) {
  families_[0].family = rules::Family::ipv4;
  families_[1].family = rules::Family::ipv6;
  try {
    for (Family& family : families_) {
      const std::vector<SetRoute> routes = model.routes(family.family);
      if (routes.empty()) continue;
      create(family, routes);
      // The two copies are independent DPDK objects: fill them on two threads.
      bool second = false;
      std::thread helper([&] { second = write(family, family.copies[1], routes); });
      const bool first = write(family, family.copies[0], routes);
      helper.join();
      if (!first || !second) {
        throw std::runtime_error("the prefix set tables are too small for their routes");
      }
      check_first_levels(family, routes);
    }
  } catch (...) {
    for (Family& family : families_)
      free_family(family);
    throw;
  }
}

SetTables::~SetTables() {
  for (Family& family : families_)
    free_family(family);
}

void SetTables::free_copy(rules::Family family, void* copy) noexcept {
  if (copy == nullptr) return;
  if (family == rules::Family::ipv4) {
    rte_fib_free(static_cast<rte_fib*>(copy));
  } else {
    rte_fib6_free(static_cast<rte_fib6*>(copy));
  }
}

void SetTables::free_family(Family& family) noexcept {
  for (void*& copy : family.copies) {
    free_copy(family.family, copy);
    copy = nullptr;
  }
  family.active.store(nullptr, std::memory_order_release);
}

void SetTables::create(Family& family, const std::vector<SetRoute>& routes) {
  const std::size_t needed = tbl8_needed(family.family, routes);
  family.tbl8 = needed + std::max<std::size_t>(4096, needed / 4);
  family.max_routes = routes.size() + std::max<std::size_t>(65536, routes.size() / 4);
  const uint64_t before = heap_bytes(socket_);
  for (unsigned c = 0; c < 2; ++c)
    family.copies[c] = make_copy(family);
  memory_bytes_ += heap_bytes(socket_) - std::min(before, heap_bytes(socket_));
  family.active_index = 0;
  family.active.store(family.copies[0], std::memory_order_release);
}

void* SetTables::make_copy(const Family& family) {
  const std::string name = std::string("udpsieve_s") +
                           (family.family == rules::Family::ipv4 ? "4_" : "6_") +
                           std::to_string(generation_) + "_" + std::to_string(copies_made_++);
  void* copy = nullptr;
  if (family.family == rules::Family::ipv4) {
    rte_fib_conf conf{};
    conf.type = RTE_FIB_DIR24_8;
    conf.default_nh = 0;
    conf.max_routes = static_cast<int>(family.max_routes);
    conf.dir24_8.nh_sz = RTE_FIB_DIR24_8_4B;
    conf.dir24_8.num_tbl8 = static_cast<uint32_t>(family.tbl8);
    copy = rte_fib_create(name.c_str(), socket_, &conf);
  } else {
    rte_fib6_conf conf{};
    conf.type = RTE_FIB6_TRIE;
    conf.default_nh = 0;
    conf.max_routes = static_cast<int>(family.max_routes);
    conf.trie.nh_sz = RTE_FIB6_TRIE_4B;
    conf.trie.num_tbl8 = static_cast<uint32_t>(family.tbl8);
    copy = rte_fib6_create(name.c_str(), socket_, &conf);
  }
  if (copy == nullptr) {
    throw std::runtime_error(
        "cannot create prefix set table " + name + " (" + std::to_string(family.max_routes) +
        " routes, " + std::to_string(family.tbl8) + " tbl8 groups): " + rte_strerror(rte_errno));
  }
  return copy;
}

void SetTables::check_first_levels(const Family& family, const std::vector<SetRoute>& routes) {
  const std::size_t f = family.family == rules::Family::ipv4 ? 0 : 1;
  for (unsigned c = 0; c < 2; ++c)
    level_[f][c] = checked_first_level(family.family, family.copies[c], routes);
  active_level_[f].store(level_[f][family.active_index], std::memory_order_relaxed);
}

bool SetTables::rebuild_copy(Family& family, unsigned index, const rules::SetModel& model) {
  const std::vector<SetRoute> routes = model.routes(family.family);
  void* fresh = nullptr;
  try {
    fresh = make_copy(family);
  } catch (const std::exception&) {
    return false;
  }
  if (!write(family, fresh, routes)) {
    free_copy(family.family, fresh);
    return false;
  }
  free_copy(family.family, family.copies[index]);
  family.copies[index] = fresh;
  level_[family.family == rules::Family::ipv4 ? 0 : 1][index] =
      checked_first_level(family.family, fresh, routes);
  return true;
}

const uint8_t* SetTables::checked_first_level(rules::Family family, void* copy,
                                              const std::vector<SetRoute>& routes) {
  // DPDK 22.11's struct dir24_8_tbl and rte_trie_tbl: a header of under 64 bytes, then the
  // cache-aligned first level, indexed by the first 24 address bits, each entry
  // (next hop << 1) | "extended to a tbl8 group".
  const bool v4 = family == rules::Family::ipv4;
  const void* dp = v4 ? rte_fib_get_dp(static_cast<rte_fib*>(copy))
                      : rte_fib6_get_dp(static_cast<rte_fib6*>(copy));
  const auto* level = static_cast<const uint8_t*>(dp) + 64;
  std::vector<std::array<uint8_t, 16>> addresses = {{}, {}, {0x0a, 0, 0, 1}, {0x20, 0x01, 0x0d}};
  addresses[1].fill(0xff);
  for (std::size_t i = 0; i < routes.size() && addresses.size() < 256; i += 1 + routes.size() / 200)
    addresses.push_back(routes[i].prefix.addr);
  std::vector<uint64_t> hops(addresses.size());
  if (v4) {
    std::vector<uint32_t> ips;
    for (const auto& address : addresses)
      ips.push_back(host_v4(rules::Prefix{family, 32, address}));
    (void)rte_fib_lookup_bulk(static_cast<rte_fib*>(copy), ips.data(), hops.data(),
                              static_cast<int>(ips.size()));
  } else {
    std::vector<std::array<uint8_t, 16>> ips = addresses;
    (void)rte_fib6_lookup_bulk(static_cast<rte_fib6*>(copy),
                               reinterpret_cast<uint8_t(*)[16]>(ips.data()), hops.data(),
                               static_cast<int>(ips.size()));
  }
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    const auto& a = addresses[i];
    const uint32_t top24 = uint32_t{a[0]} << 16 | uint32_t{a[1]} << 8 | a[2];
    uint32_t entry = 0;
    std::memcpy(&entry, level + std::size_t{top24} * 4, sizeof entry);
    if ((entry & 1U) == 0 && (entry >> 1) != hops[i]) return nullptr;
  }
  return level;
}

bool SetTables::write(const Family& family, void* copy, const std::vector<SetRoute>& routes) {
  for (const SetRoute& route : routes) {
    const uint8_t depth = route.prefix.length;
    int rc = 0;
    if (family.family == rules::Family::ipv4) {
      auto* fib = static_cast<rte_fib*>(copy);
      const uint32_t ip = host_v4(route.prefix);
      if (route.bits == 0) {
        rc = rte_fib_delete(fib, ip, depth);
      } else {
        // DPDK 22.11's DIR-24-8 reserves a tbl8 group for a route longer than /24 only when
        // its next hop differs from the covering route's, but releases one whenever such a
        // route is deleted: adding with the same next hop, then deleting, leaks the count
        // until every later long route fails with ENOSPC. A new long route therefore first
        // goes in with a next hop no covering route has, then gets its own (a plain update).
        if (depth > 24) rc = rte_fib_add(fib, ip, depth, kGuardNextHop);
        if (rc == 0) rc = rte_fib_add(fib, ip, depth, route.bits);
      }
    } else {
      auto* fib = static_cast<rte_fib6*>(copy);
      rc = route.bits == 0 ? rte_fib6_delete(fib, route.prefix.addr.data(), depth)
                           : rte_fib6_add(fib, route.prefix.addr.data(), depth, route.bits);
    }
    if (rc != 0 && !(route.bits == 0 && rc == -ENOENT)) return false;
  }
  return true;
}

bool SetTables::catch_up(Family& family, const rules::SetModel& model) {
  const unsigned standby = 1 - family.active_index;
  const bool ok = family.pending_rebuild ? rebuild_copy(family, standby, model)
                                         : write(family, family.copies[standby], family.pending);
  family.pending.clear();
  family.pending_rebuild = false;
  return ok;
}

bool SetTables::apply(const std::vector<SetRoute>& changes, const rules::SetModel& model,
                      rte_rcu_qsbr* qsbr) {
  if (broken_) return false;
  std::array<std::vector<SetRoute>, 2> mine;
  std::array<bool, 2> rebuild{};
  for (const SetRoute& route : changes) {
    const std::size_t f = route.prefix.family == rules::Family::ipv4 ? 0 : 1;
    mine[f].push_back(route);
    rebuild[f] = rebuild[f] || ends_at_top(route.prefix);
  }
  // First every family's standby copy (or both copies before publication); only when all of
  // them took the change do the workers see it.
  for (std::size_t f = 0; f < families_.size(); ++f) {
    Family& family = families_[f];
    if (mine[f].empty()) continue;
    if (family.copies[0] == nullptr) {
      create(family, {});
      check_first_levels(family, {});
    }
    const auto change = [&](unsigned index) {
      return rebuild[f] ? rebuild_copy(family, index, model)
                        : write(family, family.copies[index], mine[f]);
    };
    bool ok = true;
    if (qsbr == nullptr) {
      ok = change(0) && change(1);
    } else {
      if (family.pending_rebuild || !family.pending.empty()) {
        (void)rte_rcu_qsbr_check(qsbr, family.token, true);
        ok = catch_up(family, model);
      }
      ok = ok && change(1 - family.active_index);
    }
    if (!ok) {
      broken_ = true;
      return false;
    }
  }
  if (qsbr == nullptr) {
    for (Family& family : families_)
      refresh_active(family);  // a rebuilt copy may have replaced the active one
    return true;
  }
  for (std::size_t f = 0; f < families_.size(); ++f) {
    Family& family = families_[f];
    if (mine[f].empty()) continue;
    const unsigned standby = 1 - family.active_index;
    family.active.store(family.copies[standby], std::memory_order_release);
    family.active_index = standby;
    active_level_[f].store(level_[f][standby], std::memory_order_relaxed);
    family.token = rte_rcu_qsbr_start(qsbr);
    family.pending_rebuild = rebuild[f];
    if (!rebuild[f]) family.pending = std::move(mine[f]);
  }
  return true;
}

void SetTables::refresh_active(Family& family) noexcept {
  if (family.copies[0] == nullptr) return;
  family.active.store(family.copies[family.active_index], std::memory_order_release);
  const std::size_t f = family.family == rules::Family::ipv4 ? 0 : 1;
  active_level_[f].store(level_[f][family.active_index], std::memory_order_relaxed);
}

bool SetTables::ready(rte_rcu_qsbr* qsbr, const rules::SetModel& model) {
  bool ready = true;
  for (Family& family : families_) {
    if ((family.pending.empty() && !family.pending_rebuild) || broken_) continue;
    if (rte_rcu_qsbr_check(qsbr, family.token, false) != 1) {
      ready = false;
      continue;
    }
    if (!catch_up(family, model)) broken_ = true;
  }
  return ready;
}

SetTablesInfo SetTables::info() const {
  SetTablesInfo out;
  out.memory_bytes = memory_bytes_;
  return out;
}

namespace {

/// Looks `n` addresses up in chunks with `lookup(fib, addresses, hops, count)`, keeping each
/// next hop's set bits; bits 0 for all when the family has no table.
template <class Fib, class Address, class Lookup>
void lookup_bits(Fib* fib, Address* ips, uint16_t* bits, unsigned n, Lookup lookup) noexcept {
  if (fib == nullptr) {
    std::fill_n(bits, n, uint16_t{0});
    return;
  }
  uint64_t hops[kLookupChunk];
  for (unsigned done = 0; done < n; done += kLookupChunk) {
    const unsigned count = std::min<unsigned>(kLookupChunk, n - done);
    (void)lookup(fib, ips + done, hops, static_cast<int>(count));
    for (unsigned i = 0; i < count; ++i)
      bits[done + i] = static_cast<uint16_t>(hops[i]);
  }
}

}  // namespace

void SetTables::lookup_v4(uint32_t* ips, uint16_t* bits, unsigned n) const noexcept {
  lookup_bits(static_cast<rte_fib*>(families_[0].active.load(std::memory_order_acquire)), ips, bits,
              n, rte_fib_lookup_bulk);
}

void SetTables::lookup_v6(uint8_t (*ips)[16], uint16_t* bits, unsigned n) const noexcept {
  lookup_bits(static_cast<rte_fib6*>(families_[1].active.load(std::memory_order_acquire)), ips,
              bits, n, rte_fib6_lookup_bulk);
}

}  // namespace udpsieve::dataplane
