#include "udpsieve/dataplane/set_tables.hpp"

#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>

namespace udpsieve::dataplane {
namespace {

using rules::Prefix;
using rules::SetRoute;
using Address = std::array<uint8_t, 16>;

constexpr std::size_t kLevelEntries = std::size_t{1} << 24;
constexpr std::size_t kGroupEntries = 256;
constexpr std::size_t kLevelBytes = kLevelEntries * sizeof(uint32_t);
constexpr std::size_t kGroupBytes = kGroupEntries * sizeof(uint32_t);

constexpr uint32_t answer(uint16_t bits) noexcept {
  return uint32_t{bits} << 1;
}
constexpr bool extended(uint32_t entry) noexcept {
  return (entry & 1U) != 0;
}

uint32_t top24(const Address& address) noexcept {
  return uint32_t{address[0]} << 16 | uint32_t{address[1]} << 8 | address[2];
}

/// The last address of `prefix` (its host bits all ones).
Address last_address(const Prefix& prefix) noexcept {
  Address last = prefix.addr;
  const unsigned width = prefix.family == rules::Family::ipv4 ? 32 : 128;
  for (unsigned bit = prefix.length; bit < width; ++bit)
    last[bit / 8] = static_cast<uint8_t>(last[bit / 8] | (0x80U >> (bit % 8)));
  return last;
}

/// Groups `routes` (address order) need at most: one per distinct 24-, 32-, ... bit node on
/// the way to each route longer than it (IPv4: one per /24 holding a longer route). The routes
/// under one node are neighbours in address order (a shorter route starting at the node's first
/// address comes before them all), so counting changes from route to route counts the nodes.
std::size_t groups_needed(const std::vector<SetRoute>& routes) {
  std::array<Address, 13> last{};  // per depth 24, 32, ... 120: the node seen last
  std::array<bool, 13> seen{};
  std::size_t count = 0;
  for (const SetRoute& route : routes) {
    for (unsigned depth = 24, k = 0; depth < route.prefix.length; depth += 8, ++k) {
      if (seen[k] &&
          std::equal(last[k].begin(), last[k].begin() + depth / 8, route.prefix.addr.begin())) {
        continue;
      }
      std::copy_n(route.prefix.addr.begin(), depth / 8, last[k].begin());
      seen[k] = true;
      ++count;
    }
  }
  return count;
}

/// Writes one copy (the control thread's, never one a worker reads).
class Painter {
 public:
  Painter(uint32_t* level, uint32_t* groups, uint32_t group_count, uint32_t& fresh,
          std::vector<uint32_t>& free)
      : level_(level), groups_(groups), group_count_(group_count), fresh_(fresh), free_(free) {}

  /// Gives every address of `prefix` the answer `bits`, releasing the groups under it; false
  /// when a group is needed and none is left.
  bool paint(const Prefix& prefix, uint16_t bits) {
    const Address& a = prefix.addr;
    uint32_t* table = level_;
    uint32_t index = top24(a);
    unsigned depth = 24;  // address bits the entries of `table` resolve
    unsigned byte = 3;
    while (prefix.length > depth) {
      uint32_t& entry = table[index];
      if (!extended(entry)) {
        uint32_t group = 0;
        if (!take(group)) return false;
        std::fill_n(groups_ + std::size_t{group} * kGroupEntries, kGroupEntries, entry);
        entry = group << 1 | 1U;
      }
      table = group_of(entry);
      index = a[byte++];
      depth += 8;
    }
    const uint32_t count = uint32_t{1} << (depth - prefix.length);
    const uint32_t first = index & ~(count - 1);
    for (uint32_t i = first; i < first + count; ++i) {
      if (extended(table[i])) release(table[i]);
      table[i] = answer(bits);
    }
    return true;
  }

  /// Paints `routes` (address order: a route before the ones under it) over addresses whose
  /// answer is `covering`, skipping routes that repeat the answer of the route around them.
  bool paint_all(const std::vector<SetRoute>& routes, uint16_t covering) {
    std::vector<std::pair<Address, uint16_t>> around;  // enclosing routes: last address, bits
    for (const SetRoute& route : routes) {
      while (!around.empty() && around.back().first < route.prefix.addr)
        around.pop_back();
      const uint16_t outer = around.empty() ? covering : around.back().second;
      if (route.bits != outer && !paint(route.prefix, route.bits)) return false;
      around.emplace_back(last_address(route.prefix), route.bits);
    }
    return true;
  }

  /// Folds the groups on the way to `prefix` whose entries all became one answer back into
  /// their parent entries, deepest first.
  void fold(const Prefix& prefix) {
    std::array<uint32_t*, 16> path{};
    std::size_t n = 0;
    uint32_t* table = level_;
    uint32_t index = top24(prefix.addr);
    unsigned depth = 24;
    unsigned byte = 3;
    while (prefix.length > depth && extended(table[index])) {
      path[n++] = &table[index];
      table = group_of(table[index]);
      index = prefix.addr[byte++];
      depth += 8;
    }
    while (n > 0) {
      uint32_t* parent = path[--n];
      const uint32_t* group = group_of(*parent);
      const uint32_t first = group[0];
      if (extended(first) ||
          !std::all_of(group, group + kGroupEntries, [&](uint32_t e) { return e == first; })) {
        return;
      }
      free_.push_back(*parent >> 1);
      *parent = first;
    }
  }

 private:
  uint32_t* group_of(uint32_t entry) const noexcept {
    return groups_ + std::size_t{entry >> 1} * kGroupEntries;
  }
  bool take(uint32_t& group) {
    if (!free_.empty()) {
      group = free_.back();
      free_.pop_back();
      return true;
    }
    if (fresh_ == group_count_) return false;
    group = fresh_++;
    return true;
  }
  void release(uint32_t entry) {
    uint32_t* group = group_of(entry);
    for (std::size_t i = 0; i < kGroupEntries; ++i) {
      if (extended(group[i])) release(group[i]);
    }
    free_.push_back(entry >> 1);
  }

  uint32_t* level_;
  uint32_t* groups_;
  uint32_t group_count_;
  uint32_t& fresh_;
  std::vector<uint32_t>& free_;
};

}  // namespace

SetTables::SetTables(const rules::SetModel& model, int socket) : socket_(socket) {
  families_[0].family = rules::Family::ipv4;
  families_[1].family = rules::Family::ipv6;
  try {
    // The families are independent: IPv6 on a second thread while IPv4 builds here.
    std::exception_ptr v6_error;
    std::thread v6([&] {
      try {
        const std::vector<SetRoute> routes = model.routes(rules::Family::ipv6);
        if (!routes.empty()) create(families_[1], routes);
      } catch (...) {
        v6_error = std::current_exception();
      }
    });
    std::exception_ptr v4_error;
    try {
      const std::vector<SetRoute> routes = model.routes(rules::Family::ipv4);
      if (!routes.empty()) create(families_[0], routes);
    } catch (...) {
      v4_error = std::current_exception();
    }
    v6.join();
    if (v4_error) std::rethrow_exception(v4_error);
    if (v6_error) std::rethrow_exception(v6_error);
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

void SetTables::free_family(Family& family) noexcept {
  family.active.store(nullptr, std::memory_order_release);
  family.memory_bytes = 0;
  for (Copy& copy : family.copies) {
    rte_free(copy.level);
    rte_free(copy.groups);
    copy = Copy{};
  }
}

void SetTables::create(Family& family, const std::vector<SetRoute>& routes) {
  const std::size_t needed = groups_needed(routes);
  const std::size_t count = needed + std::max<std::size_t>(4096, needed / 4);
  if (count >= (std::size_t{1} << 31)) {
    throw std::runtime_error("prefix sets: " + std::to_string(routes.size()) +
                             " routes need more lookup table groups than entries can address");
  }
  family.group_count = static_cast<uint32_t>(count);
  const std::size_t group_bytes = count * kGroupBytes;
  for (unsigned c = 0; c < 2; ++c) {
    Copy& copy = family.copies[c];
    // The first copy starts from zeros (no set holds any address); the second is copied.
    copy.level = static_cast<uint32_t*>(
        c == 0 ? rte_zmalloc_socket("udpsieve_sets", kLevelBytes, RTE_CACHE_LINE_SIZE, socket_)
               : rte_malloc_socket("udpsieve_sets", kLevelBytes, RTE_CACHE_LINE_SIZE, socket_));
    copy.groups = static_cast<uint32_t*>(
        rte_malloc_socket("udpsieve_sets", group_bytes, RTE_CACHE_LINE_SIZE, socket_));
    if (copy.level == nullptr || copy.groups == nullptr) {
      free_family(family);
      throw std::runtime_error(std::string("cannot allocate the ") +
                               (family.family == rules::Family::ipv4 ? "IPv4" : "IPv6") +
                               " prefix set tables (" +
                               std::to_string((2 * (kLevelBytes + group_bytes)) >> 20) +
                               " MiB for " + std::to_string(routes.size()) +
                               " routes) in DPDK's memory: give it more (hugepages, or "
                               "eal.memory_mb without them)");
    }
  }
  Copy& first = family.copies[0];
  Painter painter(first.level, first.groups, family.group_count, first.fresh, first.free);
  if (!painter.paint_all(routes, 0)) {
    free_family(family);
    throw std::runtime_error("prefix sets: the lookup tables ran out of groups while loading");
  }
  Copy& second = family.copies[1];
  std::memcpy(second.level, first.level, kLevelBytes);
  std::memcpy(second.groups, first.groups, std::size_t{first.fresh} * kGroupBytes);
  second.fresh = first.fresh;
  second.free = first.free;
  family.memory_bytes = 2 * (kLevelBytes + group_bytes);
  family.active_index = 0;
  family.active.store(&family.copies[0], std::memory_order_release);
}

bool SetTables::repaint(const Family& family, Copy& copy, const std::vector<Prefix>& prefixes,
                        const rules::SetModel& model) {
  Painter painter(copy.level, copy.groups, family.group_count, copy.fresh, copy.free);
  if (prefixes.size() > repaint_whole_above(model.route_count(family.family))) {
    std::memset(copy.level, 0, kLevelBytes);
    copy.fresh = 0;
    copy.free.clear();
    return painter.paint_all(model.routes(family.family), 0);
  }
  std::vector<Prefix> sorted = prefixes;
  std::sort(sorted.begin(), sorted.end(), [](const Prefix& a, const Prefix& b) {
    return std::tie(a.addr, a.length) < std::tie(b.addr, b.length);
  });
  bool done_any = false;
  Address done_last{};  // last address of the range repainted last
  for (const Prefix& prefix : sorted) {
    // A prefix inside one repainted already (address order puts it right after) is done.
    if (done_any && !(done_last < prefix.addr)) continue;
    uint16_t covering = 0;
    const std::vector<SetRoute> routes = model.routes_under(prefix, covering);
    if (!painter.paint(prefix, covering) || !painter.paint_all(routes, covering)) return false;
    painter.fold(prefix);
    done_any = true;
    done_last = last_address(prefix);
  }
  return true;
}

bool SetTables::catch_up(Family& family, const rules::SetModel& model) {
  const bool ok = repaint(family, family.copies[1 - family.active_index], family.pending, model);
  family.pending.clear();
  return ok;
}

bool SetTables::apply(const std::vector<SetRoute>& changes, const rules::SetModel& model,
                      rte_rcu_qsbr* qsbr) {
  if (broken_) return false;
  std::array<std::vector<Prefix>, 2> mine;
  for (const SetRoute& route : changes)
    mine[route.prefix.family == rules::Family::ipv4 ? 0 : 1].push_back(route.prefix);
  // First every family's standby copy (or both copies before publication); only when all of
  // them took the change do the workers see it.
  for (std::size_t f = 0; f < families_.size(); ++f) {
    Family& family = families_[f];
    if (mine[f].empty()) continue;
    if (family.active.load(std::memory_order_relaxed) == nullptr) create(family, {});
    bool ok = true;
    if (qsbr == nullptr) {
      ok = repaint(family, family.copies[0], mine[f], model) &&
           repaint(family, family.copies[1], mine[f], model);
    } else {
      if (!family.pending.empty()) {
        (void)rte_rcu_qsbr_check(qsbr, family.token, true);
        ok = catch_up(family, model);
      }
      ok = ok && repaint(family, family.copies[1 - family.active_index], mine[f], model);
    }
    if (!ok) {
      broken_ = true;
      return false;
    }
  }
  if (qsbr == nullptr) return true;
  for (std::size_t f = 0; f < families_.size(); ++f) {
    Family& family = families_[f];
    if (mine[f].empty()) continue;
    const unsigned standby = 1 - family.active_index;
    family.active.store(&family.copies[standby], std::memory_order_release);
    family.active_index = standby;
    family.token = rte_rcu_qsbr_start(qsbr);
    family.pending = std::move(mine[f]);
  }
  return true;
}

bool SetTables::ready(rte_rcu_qsbr* qsbr, const rules::SetModel& model) {
  bool ready = true;
  for (Family& family : families_) {
    if (family.pending.empty() || broken_) continue;
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
  for (const Family& family : families_)
    out.memory_bytes += family.memory_bytes;
  return out;
}

namespace {

/// The answers of `n` addresses, each from `walk(level, groups, i)` (its final entry) in the
/// active copy; 0 for all when the family has no tables.
template <class Copy, class Walk>
void answer_all(const Copy* copy, uint16_t* bits, unsigned n, Walk walk) noexcept {
  if (copy == nullptr) {
    std::fill_n(bits, n, uint16_t{0});
    return;
  }
  for (unsigned i = 0; i < n; ++i)
    bits[i] = static_cast<uint16_t>(walk(copy->level, copy->groups, i) >> 1);
}

}  // namespace

void SetTables::lookup_v4(uint32_t* ips, uint16_t* bits, unsigned n) const noexcept {
  answer_all(families_[0].active.load(std::memory_order_acquire), bits, n,
             [ips](const uint32_t* level, const uint32_t* groups, unsigned i) {
               const uint32_t entry = level[ips[i] >> 8];
               return extended(entry)
                          ? groups[std::size_t{entry >> 1} * kGroupEntries + (ips[i] & 0xffU)]
                          : entry;
             });
}

void SetTables::lookup_v6(uint8_t (*ips)[16], uint16_t* bits, unsigned n) const noexcept {
  answer_all(families_[1].active.load(std::memory_order_acquire), bits, n,
             [ips](const uint32_t* level, const uint32_t* groups, unsigned i) {
               const uint8_t* a = ips[i];
               uint32_t entry = level[uint32_t{a[0]} << 16 | uint32_t{a[1]} << 8 | a[2]];
               // A group exists only on the way to a route, and routes end by the 16th byte.
               for (unsigned byte = 3; extended(entry); ++byte)
                 entry = groups[std::size_t{entry >> 1} * kGroupEntries + a[byte]];
               return entry;
             });
}

}  // namespace udpsieve::dataplane
