// The prefix sets' lookup tables (both copies of each family) against SetModel::lookup, the plain
// definition: tables built from random models of nested prefixes, runtime changes applied before
// and after publication (with a real rte_rcu_qsbr), a family's first routes arriving at run
// time, every combination of the 16 set bits, routes at the top of the address space, refused
// change lists, scattered host lists, and the memory report. Seeded and reproducible: a failure
// names its seed.

#include <gtest/gtest.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "support/random_rules.hpp"
#include "udpsieve/dataplane/set_tables.hpp"
#include "udpsieve/rules/prefix_set.hpp"

namespace udpsieve::dataplane {
namespace {

using rules::Family;
using rules::Prefix;
using rules::SetModel;
using rules::SetRoute;
using test::rulegen::address_text;
using test::rulegen::masked;
using test::rulegen::Rng;
using Address = std::array<uint8_t, 16>;
__extension__ typedef unsigned __int128 U128;

constexpr unsigned kSlots = 16;

unsigned width_of(Family family) {
  return family == Family::ipv4 ? 32 : 128;
}

U128 value_of(Family family, const Address& address) {
  U128 value = 0;
  for (unsigned i = 0; i < width_of(family) / 8; ++i)
    value = value << 8 | address[i];
  return value;
}

Address bytes_of(Family family, U128 value) {
  Address out{};
  const unsigned count = width_of(family) / 8;
  for (unsigned i = 0; i < count; ++i)
    out[count - 1 - i] = static_cast<uint8_t>(value >> (8 * i));
  return out;
}

/// The host bits of a `length`-bit prefix.
U128 host_bits(Family family, unsigned length) {
  const unsigned width = width_of(family);
  if (length == 0) return width == 128 ? ~U128{0} : (U128{1} << width) - 1;
  return length == width ? 0 : (U128{1} << (width - length)) - 1;
}

U128 family_max(Family family) {
  return host_bits(family, 0);
}

/// "10.0.0.0/8", "ff00::/8"...
Prefix prefix_of(const char* text) {
  std::string error;
  const std::optional<Prefix> parsed = Prefix::parse(text, error);
  if (!parsed) throw std::invalid_argument(std::string(text) + ": " + error);
  return *parsed;
}

std::string text(Family family, const Address& address) {
  return address_text(family, address);
}

/// RCU state with one reader thread, this one, registered and online: the test reports its
/// quiescent states itself, so apply() never waits for anyone else.
class Rcu {
 public:
  Rcu() {
    const std::size_t size = rte_rcu_qsbr_get_memsize(1);
    qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("set_test_qsbr", size, RTE_CACHE_LINE_SIZE));
    if (qsbr_ == nullptr || rte_rcu_qsbr_init(qsbr_, 1) != 0 ||
        rte_rcu_qsbr_thread_register(qsbr_, 0) != 0) {
      rte_free(qsbr_);
      throw std::runtime_error("cannot set up the RCU state");
    }
    rte_rcu_qsbr_thread_online(qsbr_, 0);
  }
  ~Rcu() {
    rte_rcu_qsbr_thread_offline(qsbr_, 0);
    (void)rte_rcu_qsbr_thread_unregister(qsbr_, 0);
    rte_free(qsbr_);
  }
  Rcu(const Rcu&) = delete;
  Rcu& operator=(const Rcu&) = delete;

  [[nodiscard]] rte_rcu_qsbr* get() const noexcept { return qsbr_; }
  void quiescent() const noexcept { rte_rcu_qsbr_quiescent(qsbr_, 0); }

 private:
  rte_rcu_qsbr* qsbr_ = nullptr;
};

// --- random prefixes and addresses -----------------------------------------------------------

/// Networks the prefixes are drawn around, so that they nest and overlap.
struct Space {
  std::vector<Address> v4_bases;
  std::vector<Address> v6_bases;
};

Space make_space(Rng& rng, std::size_t bases) {
  Space space;
  for (std::size_t i = 0; i < bases; ++i) {
    Address v4{};
    Address v6{};
    for (std::size_t b = 0; b < 4; ++b)
      v4[b] = rng.byte();
    for (std::size_t b = 0; b < 16; ++b)
      v6[b] = rng.byte();
    space.v4_bases.push_back(v4);
    space.v6_bases.push_back(v6);
  }
  return space;
}

/// Any length 1..width, often one that needs groups (> /24), sometimes a short one.
unsigned random_length(Rng& rng, Family family) {
  const unsigned width = width_of(family);
  const uint64_t mode = rng.below(10);
  if (mode < 3) return static_cast<unsigned>(rng.between(1, width));
  if (mode < 6) return static_cast<unsigned>(rng.between(8, family == Family::ipv4 ? 24U : 48U));
  return static_cast<unsigned>(rng.between(family == Family::ipv4 ? 25U : 49U, width));
}

/// A prefix around one of the space's bases, or (half of the time) inside one of `existing`.
Prefix random_set_prefix(Rng& rng, const Space& space, Family family,
                         const std::vector<Prefix>& existing) {
  const unsigned width = width_of(family);
  Prefix prefix;
  prefix.family = family;
  if (!existing.empty() && rng.percent(50)) {
    const Prefix& outer = rng.pick(existing);
    const unsigned length = static_cast<unsigned>(rng.between(outer.length, width));
    Address addr = outer.addr;
    for (unsigned bit = outer.length; bit < width; ++bit) {
      if (rng.percent(50))
        addr[bit / 8] = static_cast<uint8_t>(addr[bit / 8] ^ (0x80u >> (bit % 8)));
    }
    prefix.length = static_cast<uint8_t>(length);
    prefix.addr = masked(addr, prefix.length);
    return prefix;
  }
  const unsigned length = random_length(rng, family);
  Address addr = rng.pick(family == Family::ipv4 ? space.v4_bases : space.v6_bases);
  const auto keep = static_cast<unsigned>(rng.between(0, width));
  for (unsigned bit = keep; bit < width; ++bit) {
    if (rng.percent(50)) addr[bit / 8] = static_cast<uint8_t>(addr[bit / 8] ^ (0x80u >> (bit % 8)));
  }
  prefix.length = static_cast<uint8_t>(length);
  prefix.addr = masked(addr, prefix.length);
  return prefix;
}

/// An address inside one of `prefixes` (edges often), just outside one, one bit off, or anywhere.
Address address_near(Rng& rng, const std::vector<Prefix>& prefixes, Family family) {
  const unsigned width = width_of(family);
  if (prefixes.empty() || rng.percent(20)) {
    Address addr{};
    for (unsigned b = 0; b < width / 8; ++b)
      addr[b] = rng.byte();
    return addr;
  }
  const Prefix& p = rng.pick(prefixes);
  const U128 first = value_of(family, p.addr);
  const U128 last = first | host_bits(family, p.length);
  switch (rng.below(8)) {
    case 0:
      return bytes_of(family, first);
    case 1:
      return bytes_of(family, last);
    case 2:
      return bytes_of(family, first == 0 ? family_max(family) : first - 1);
    case 3:
      return bytes_of(family, last == family_max(family) ? 0 : last + 1);
    case 4: {  // one bit flipped somewhere
      Address addr = test::rulegen::address_in(rng, p);
      const auto bit = static_cast<unsigned>(rng.below(width));
      addr[bit / 8] = static_cast<uint8_t>(addr[bit / 8] ^ (0x80u >> (bit % 8)));
      return addr;
    }
    default:
      return test::rulegen::address_in(rng, p);
  }
}

/// The first, last, and just-outside addresses of every route in `routes`, and one inside.
std::vector<Address> route_edges(Rng& rng, const std::vector<SetRoute>& routes, Family family) {
  std::vector<Address> out;
  for (const SetRoute& route : routes) {
    if (route.prefix.family != family) continue;
    const U128 first = value_of(family, route.prefix.addr);
    const U128 last = first | host_bits(family, route.prefix.length);
    out.push_back(bytes_of(family, first));
    out.push_back(bytes_of(family, last));
    out.push_back(bytes_of(family, first == 0 ? family_max(family) : first - 1));
    out.push_back(bytes_of(family, last == family_max(family) ? 0 : last + 1));
    out.push_back(test::rulegen::address_in(rng, route.prefix));
  }
  return out;
}

// --- comparing the tables with the model ------------------------------------------------------

/// Looks up `addresses` in batches of random size (below and above the tables' 64-address
/// chunk) and compares each answer with the model; reports the first few differences.
std::size_t compare(const SetTables& tables, const SetModel& model, Family family,
                    const std::vector<Address>& addresses, Rng& rng, const std::string& where) {
  std::size_t mismatches = 0;
  std::size_t next = 0;
  std::vector<uint16_t> bits;
  while (next < addresses.size()) {
    const std::size_t n = std::min<std::size_t>(rng.between(1, 200), addresses.size() - next);
    bits.assign(n, 0xdead);
    if (family == Family::ipv4) {
      std::vector<uint32_t> ips(n);
      for (std::size_t i = 0; i < n; ++i)
        ips[i] = static_cast<uint32_t>(value_of(family, addresses[next + i]));
      tables.lookup_v4(ips.data(), bits.data(), static_cast<unsigned>(n));
    } else {
      std::vector<uint8_t> ips(16 * n);
      for (std::size_t i = 0; i < n; ++i)
        std::memcpy(ips.data() + 16 * i, addresses[next + i].data(), 16);
      tables.lookup_v6(reinterpret_cast<uint8_t(*)[16]>(ips.data()), bits.data(),
                       static_cast<unsigned>(n));
    }
    for (std::size_t i = 0; i < n; ++i) {
      const Address& address = addresses[next + i];
      const uint16_t expected = model.lookup(family, address);
      if (bits[i] == expected) continue;
      if (++mismatches <= 5) {
        ADD_FAILURE() << where << ": " << text(family, address) << " has set bits 0x" << std::hex
                      << bits[i] << " in the tables, 0x" << expected << " in the model" << std::dec;
      }
    }
    next += n;
  }
  return mismatches;
}

/// Every route's edges and `random` addresses near the model's prefixes, both families.
std::size_t compare_all(const SetTables& tables, const SetModel& model, Rng& rng,
                        std::size_t random, const std::string& where) {
  std::size_t mismatches = 0;
  for (const Family family : {Family::ipv4, Family::ipv6}) {
    const std::vector<SetRoute> routes = model.routes(family);
    std::vector<Prefix> prefixes;
    for (const SetRoute& route : routes)
      prefixes.push_back(route.prefix);
    std::vector<Address> addresses = route_edges(rng, routes, family);
    for (std::size_t i = 0; i < random; ++i)
      addresses.push_back(address_near(rng, prefixes, family));
    mismatches += compare(tables, model, family, addresses, rng, where);
  }
  return mismatches;
}

/// Distinct non-zero bit combinations of the model's routes.
std::size_t combinations_of(const SetModel& model) {
  std::set<uint16_t> seen;
  for (const Family family : {Family::ipv4, Family::ipv6}) {
    for (const SetRoute& route : model.routes(family))
      seen.insert(route.bits);
  }
  return seen.size();
}

// --- random models ----------------------------------------------------------------------------

/// Which set holds which prefix, as the test added them (for picking removals).
struct Membership {
  std::vector<std::pair<Prefix, unsigned>> members;
  std::vector<Prefix> v4;  ///< every prefix ever added (for nesting new ones inside)
  std::vector<Prefix> v6;

  std::vector<Prefix>& of(Family family) { return family == Family::ipv4 ? v4 : v6; }
};

/// A model of `per_family` prefix memberships per family spread unevenly over the 16 slots,
/// prefixes shared between sets and nested in each other; half the slots loaded with add_all.
SetModel random_model(Rng& rng, const Space& space, std::size_t v4_count, std::size_t v6_count,
                      Membership& membership) {
  SetModel model;
  std::array<uint64_t, kSlots> weights{};
  uint64_t total = 0;
  for (uint64_t& w : weights) {
    w = rng.percent(20) ? 1 : rng.between(1, 20);
    total += w;
  }
  std::array<std::vector<Prefix>, kSlots> lists;
  for (const auto& [family, count] :
       {std::pair{Family::ipv4, v4_count}, std::pair{Family::ipv6, v6_count}}) {
    std::vector<Prefix>& pool = membership.of(family);
    for (std::size_t i = 0; i < count; ++i) {
      uint64_t pick = rng.below(total);
      unsigned slot = 0;
      while (pick >= weights[slot]) {
        pick -= weights[slot];
        ++slot;
      }
      // A prefix another set holds already (so routes carry several bits), or a new one.
      const Prefix prefix = !pool.empty() && rng.percent(15)
                                ? rng.pick(pool)
                                : random_set_prefix(rng, space, family, pool);
      pool.push_back(prefix);
      lists[slot].push_back(prefix);
    }
  }
  for (unsigned slot = 0; slot < kSlots; ++slot) {
    std::vector<Prefix>& list = lists[slot];
    if (slot % 2 == 0) {
      model.add_all(list, slot);
    } else {
      std::vector<SetRoute> ignored;
      for (const Prefix& prefix : list)
        (void)model.add(prefix, slot, ignored);
    }
    std::sort(list.begin(), list.end(), [](const Prefix& a, const Prefix& b) {
      return std::tie(a.family, a.addr, a.length) < std::tie(b.family, b.addr, b.length);
    });
    list.erase(std::unique(list.begin(), list.end()), list.end());
    for (const Prefix& prefix : list)
      membership.members.emplace_back(prefix, slot);
  }
  return model;
}

/// One random model change: mostly an add or a remove, now and then a flush; appends the
/// routes that change. Returns a word for messages.
const char* random_change(Rng& rng, const Space& space, SetModel& model, Membership& membership,
                          std::vector<SetRoute>& changes) {
  const uint64_t kind = rng.below(1000);
  if (kind < 8) {
    const auto slot = static_cast<unsigned>(rng.below(kSlots));
    (void)model.flush(slot, changes);
    std::erase_if(membership.members, [&](const auto& m) { return m.second == slot; });
    return "flush";
  }
  if (kind < 450 && !membership.members.empty()) {
    const std::size_t at = rng.below(membership.members.size());
    const auto [prefix, slot] = membership.members[at];
    membership.members[at] = membership.members.back();
    membership.members.pop_back();
    EXPECT_TRUE(model.remove(prefix, slot, changes)) << prefix.to_string() << " slot " << slot;
    return "remove";
  }
  const Family family = rng.percent(50) ? Family::ipv4 : Family::ipv6;
  std::vector<Prefix>& pool = membership.of(family);
  const auto slot = static_cast<unsigned>(rng.below(kSlots));
  const Prefix prefix = !pool.empty() && rng.percent(25)
                            ? rng.pick(pool)
                            : random_set_prefix(rng, space, family, pool);
  if (model.add(prefix, slot, changes)) {
    membership.members.emplace_back(prefix, slot);
    pool.push_back(prefix);
  }
  return "add";
}

std::string seed_text(uint64_t seed) {
  return "seed " + std::to_string(seed);
}

// --- (a) built tables ------------------------------------------------------------------------

// Tables built from random models of a few thousand nested prefixes per family answer like the
// model for every route's edges and ~100k addresses in and near the prefixes.
TEST(SetTables, BuiltTablesAgreeWithTheModel) {
  struct Case {
    uint64_t seed;
    std::size_t v4;
    std::size_t v6;
    std::size_t bases;
  };
  for (const Case& c : {Case{1001, 3000, 3000, 8}, Case{1002, 6000, 1500, 4},
                        Case{1003, 1500, 4000, 16}, Case{1004, 500, 500, 1}}) {
    SCOPED_TRACE(seed_text(c.seed));
    Rng rng(c.seed);
    const Space space = make_space(rng, c.bases);
    Membership membership;
    const SetModel model = random_model(rng, space, c.v4, c.v6, membership);
    std::size_t deep_v4 = 0;
    std::size_t deep_v6 = 0;
    for (const SetRoute& route : model.routes(Family::ipv4))
      deep_v4 += route.prefix.length > 24 ? 1 : 0;
    for (const SetRoute& route : model.routes(Family::ipv6))
      deep_v6 += route.prefix.length > 48 ? 1 : 0;
    ASSERT_GT(deep_v4, 100U) << "too few IPv4 routes beyond /24 to exercise groups";
    ASSERT_GT(deep_v6, 100U) << "too few IPv6 routes beyond /48";

    const SetTables tables(model, 0);
    EXPECT_EQ(compare_all(tables, model, rng, 50'000, seed_text(c.seed)), 0U);
  }
}

// --- (b) runtime changes ---------------------------------------------------------------------

/// Checks the routes a change touched and some addresses near the model's prefixes.
std::size_t check_change(const SetTables& tables, const SetModel& model, Rng& rng,
                         const Membership& membership, const std::vector<SetRoute>& changes,
                         const std::string& where) {
  std::size_t mismatches = 0;
  for (const Family family : {Family::ipv4, Family::ipv6}) {
    std::vector<Address> addresses = route_edges(rng, changes, family);
    const std::vector<Prefix>& pool = family == Family::ipv4 ? membership.v4 : membership.v6;
    for (int i = 0; i < 16; ++i)
      addresses.push_back(address_near(rng, pool, family));
    mismatches += compare(tables, model, family, addresses, rng, where);
  }
  if (mismatches != 0) {
    std::string list;
    for (std::size_t i = 0; i < changes.size() && i < 20; ++i) {
      char bits[16];
      std::snprintf(bits, sizeof bits, "%#x", changes[i].bits);
      list += "\n  " + changes[i].prefix.to_string() + " bits " + bits;
    }
    ADD_FAILURE() << where << ": the change list (" << changes.size()
                  << " routes, bits 0 = removed) began:" << list;
  }
  return mismatches;
}

// Many random adds, removes and flushes, each applied as the model's change list: first before
// publication (qsbr null: both copies at once), then published, with a real RCU state whose one
// reader reports a quiescent state before each apply (so apply never waits forever) and ready()
// called with and without one. After every change the tables answer like the model; at the end
// both copies of each family are checked in full.
TEST(SetTables, RuntimeChangesFollowTheModel) {
  for (const uint64_t seed : {uint64_t{2001}, uint64_t{2003}}) {
    SCOPED_TRACE(seed_text(seed));
    Rng rng(seed);
    const Space space = make_space(rng, seed == 2003 ? 2 : 6);
    Membership membership;
    SetModel model = random_model(rng, space, 1500, 1500, membership);
    SetTables tables(model, 0);
    const Rcu rcu;
    std::size_t mismatches = 0;
    std::size_t routes_changed = 0;

    // Before publication.
    for (int step = 0; step < 300 && mismatches == 0; ++step) {
      std::vector<SetRoute> changes;
      const char* what = random_change(rng, space, model, membership, changes);
      routes_changed += changes.size();
      ASSERT_TRUE(tables.apply(changes, model, nullptr))
          << "unpublished step " << step << " (" << what << ", " << changes.size() << " routes)";
      mismatches += check_change(
          tables, model, rng, membership, changes,
          seed_text(seed) + " unpublished step " + std::to_string(step) + " (" + what + ")");
    }
    ASSERT_EQ(compare_all(tables, model, rng, 5000, seed_text(seed) + " before publication"), 0U);

    // Published: every apply switches copies and leaves the other one pending.
    for (int step = 0; step < 3000 && mismatches == 0; ++step) {
      std::vector<SetRoute> changes;
      std::string what = random_change(rng, space, model, membership, changes);
      if (rng.percent(20)) {  // several model changes in one change list
        for (uint64_t more = rng.between(1, 5); more > 0; --more)
          what += std::string("+") + random_change(rng, space, model, membership, changes);
      }
      routes_changed += changes.size();
      if (step % 3 == 0) {
        // The daemon's way: apply once ready() says the standby copies may be written.
        if (!tables.ready(rcu.get(), model)) {
          rcu.quiescent();
          ASSERT_TRUE(tables.ready(rcu.get(), model))
              << "step " << step << ": quiescent, yet not ready";
        }
      } else {
        rcu.quiescent();  // apply() itself waits for this
      }
      ASSERT_TRUE(tables.apply(changes, model, rcu.get()))
          << "published step " << step << " (" << what << ", " << changes.size() << " routes)";
      const std::string where =
          seed_text(seed) + " published step " + std::to_string(step) + " (" + what + ")";
      mismatches += check_change(tables, model, rng, membership, changes, where);
      if (!changes.empty()) {
        // No quiescent state since the switch: the old copy may still be read.
        EXPECT_FALSE(tables.ready(rcu.get(), model)) << where;
        mismatches += check_change(tables, model, rng, membership, changes, where + ", not ready");
      }
      if (step % 5 == 2) {
        rcu.quiescent();
        EXPECT_TRUE(tables.ready(rcu.get(), model))
            << where;  // brings the standby copies up to date
        mismatches += check_change(tables, model, rng, membership, changes, where + ", ready");
      }
      if (step % 500 == 499) {
        mismatches += compare_all(tables, model, rng, 5000, where + ", full check");
      }
    }
    ASSERT_EQ(mismatches, 0U);
    EXPECT_GT(routes_changed, 3000U);

    // Both copies of each family: two more switches, each checked in full.
    for (int round = 0; round < 2; ++round) {
      std::vector<SetRoute> changes;
      for (const Family family : {Family::ipv4, Family::ipv6}) {
        Prefix prefix = random_set_prefix(rng, space, family, {});
        (void)model.add(prefix, 15, changes);
        membership.members.emplace_back(prefix, 15);
      }
      rcu.quiescent();
      ASSERT_TRUE(tables.apply(changes, model, rcu.get()));
      EXPECT_EQ(compare_all(tables, model, rng, 20'000,
                            seed_text(seed) + " final round " + std::to_string(round)),
                0U);
    }
  }
}

// A change list that holds a route twice (a prefix added and removed again within one list, as
// batched model changes produce) ends with the last entry, in both copies.
TEST(SetTables, LastEntryOfARouteInOneChangeListWins) {
  Rng rng(2100);
  SetModel model;
  std::vector<SetRoute> build;
  (void)model.add(Prefix{Family::ipv4, 8, {10}}, 0, build);
  SetTables tables(model, 0);
  const Rcu rcu;
  const Prefix inner{Family::ipv4, 28, {10, 1, 2, 16}};
  const Prefix inner6{Family::ipv6, 64, {0x20, 0x01, 0x0d, 0xb8, 0, 1}};
  for (int round = 0; round < 6; ++round) {
    std::vector<SetRoute> changes;
    (void)model.add(inner, 3, changes);
    (void)model.add(inner6, 4, changes);
    (void)model.remove(inner, 3, changes);
    (void)model.add(inner, 5, changes);
    if (round % 2 == 1) {
      (void)model.remove(inner, 5, changes);
      (void)model.remove(inner6, 4, changes);
    }
    rcu.quiescent();
    ASSERT_TRUE(tables.apply(changes, model, round < 2 ? nullptr : rcu.get())) << round;
    EXPECT_EQ(compare_all(tables, model, rng, 200, "round " + std::to_string(round)), 0U);
  }
}

// A route whose bits equal its parent's (10.0.0.5/32 and 10.0.0.0/16 both only in one set) is
// a route that needs no group of its own (DPDK 22.11's rte_fib, which these tables once were,
// leaked a group reservation for each). Removing and re-adding such routes must not use up the
// room for routes longer than /24 (/48) that need groups.
TEST(SetTables, RoutesRepeatingTheirParentsBitsLeaveRoomForNewRoutes) {
  Rng rng(2200);
  SetModel model;
  std::vector<SetRoute> ignored;
  const Prefix parent4{Family::ipv4, 16, {10, 0}};
  const Prefix parent6{Family::ipv6, 32, {0x20, 0x01, 0x0d, 0xb8}};
  (void)model.add(parent4, 0, ignored);
  (void)model.add(parent6, 0, ignored);
  const Prefix child4{Family::ipv4, 32, {10, 0, 0, 5}};
  const Prefix child6{
      Family::ipv6, 128, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5}};
  (void)model.add(child4, 0, ignored);  // built as a route with its parent's next hop
  (void)model.add(child6, 0, ignored);
  SetTables tables(model, 0);
  const Rcu rcu;
  const auto apply = [&](const std::vector<SetRoute>& changes) {
    rcu.quiescent();
    return tables.apply(changes, model, rcu.get());
  };
  for (int cycle = 0; cycle < 20; ++cycle) {
    std::vector<SetRoute> changes;
    ASSERT_TRUE(model.remove(child4, 0, changes));
    ASSERT_TRUE(model.remove(child6, 0, changes));
    ASSERT_TRUE(apply(changes)) << "removing " << child4.to_string() << " and "
                                << child6.to_string() << ", cycle " << cycle;
    changes.clear();
    ASSERT_TRUE(model.add(child4, 0, changes));
    ASSERT_TRUE(model.add(child6, 0, changes));
    ASSERT_TRUE(apply(changes)) << "adding " << child4.to_string() << " and " << child6.to_string()
                                << " again, cycle " << cycle;
  }
  // Now routes that need groups of their own, in /24s (/48s) nothing else uses.
  for (int i = 0; i < 64; ++i) {
    std::vector<SetRoute> changes;
    const Prefix host4{Family::ipv4, 32, {10, 0, static_cast<uint8_t>(1 + i), 7}};
    Prefix host6 = child6;
    host6.addr[5] = static_cast<uint8_t>(1 + i);
    ASSERT_TRUE(model.add(host4, 1, changes));
    ASSERT_TRUE(model.add(host6, 1, changes));
    ASSERT_TRUE(apply(changes)) << "adding " << host4.to_string() << " and " << host6.to_string();
  }
  EXPECT_EQ(compare_all(tables, model, rng, 2000, "after the cycles"), 0U);
}

// Routes at the top of the address space (ending at 255.255.255.255 or ffff:...:ffff) added, or
// given new bits, while more specific routes already fill their upper end: every other address
// keeps its answer. (Found by RuntimeChangesFollowTheModel; these are its smallest cases.)
TEST(SetTables, RoutesAtTheTopOfTheAddressSpaceChangeOnlyTheirOwnAddresses) {
  struct Case {
    const char* description;
    std::vector<std::pair<const char*, unsigned>> built;  // prefix, slot
    std::vector<std::pair<const char*, unsigned>> added;
  };
  const std::vector<Case> cases = {
      {"255.0.0.0/8 added over its two /9 halves",
       {{"10.0.0.0/8", 1}, {"255.0.0.0/9", 0}, {"255.128.0.0/9", 0}},
       {{"255.0.0.0/8", 2}}},
      {"128.0.0.0/1 added over the bogons 224.0.0.0/4 and 240.0.0.0/4",
       {{"10.0.0.0/8", 1}, {"224.0.0.0/4", 0}, {"240.0.0.0/4", 0}},
       {{"128.0.0.0/1", 2}}},
      {"240.0.0.0/4 (holding 240.0.0.0/5 and 248.0.0.0/5) joins a second set",
       {{"10.0.0.0/8", 1}, {"240.0.0.0/4", 0}, {"240.0.0.0/5", 3}, {"248.0.0.0/5", 3}},
       {{"240.0.0.0/4", 2}}},
      {"ff00::/8 added over its two /9 halves",
       {{"2001:db8::/32", 1}, {"ff00::/9", 0}, {"ff80::/9", 0}},
       {{"ff00::/8", 2}}},
      {"the last /64 added over its two /65 halves",
       {{"2001:db8::/32", 1},
        {"ffff:ffff:ffff:ffff::/65", 0},
        {"ffff:ffff:ffff:ffff:8000::/65", 0}},
       {{"ffff:ffff:ffff:ffff::/64", 2}}},
  };
  Rng rng(2300);
  for (const Case& c : cases) {
    for (const bool published : {false, true}) {
      SCOPED_TRACE(std::string(c.description) + (published ? ", published" : ", unpublished"));
      SetModel model;
      std::vector<SetRoute> changes;
      for (const auto& [text, slot] : c.built)
        (void)model.add(prefix_of(text), slot, changes);
      SetTables tables(model, 0);
      ASSERT_EQ(compare_all(tables, model, rng, 1000, "as built"), 0U);
      changes.clear();
      for (const auto& [text, slot] : c.added)
        ASSERT_TRUE(model.add(prefix_of(text), slot, changes));
      const Rcu rcu;
      rcu.quiescent();
      ASSERT_TRUE(tables.apply(changes, model, published ? rcu.get() : nullptr));
      EXPECT_EQ(compare_all(tables, model, rng, 1000, c.description), 0U);
    }
  }
}

// apply() refusing a change list changes nothing the workers see, also when only the second
// family's table is full (here IPv6, whose first routes arrive with a few hundred /128s in
// distinct /24s, each needing 13 groups of a table created with room for 4096).
TEST(SetTables, ARefusedChangeListChangesNothingTheWorkersSee) {
  Rng rng(2400);
  SetModel model;
  std::vector<SetRoute> changes;
  (void)model.add(prefix_of("192.0.2.0/24"), 0, changes);
  SetTables tables(model, 0);
  const SetModel before = model;
  changes.clear();
  ASSERT_TRUE(model.add(prefix_of("10.0.0.0/16"), 1, changes));
  for (unsigned i = 0; i < 1000; ++i) {
    Prefix host{Family::ipv6, 128, {}};
    host.addr[0] = 0x20;
    host.addr[1] = static_cast<uint8_t>(i >> 8);
    host.addr[2] = static_cast<uint8_t>(i);
    host.addr[15] = 1;
    ASSERT_TRUE(model.add(host, 2, changes));
  }
  const Rcu rcu;
  rcu.quiescent();
  ASSERT_FALSE(tables.apply(changes, model, rcu.get())) << "1000 scattered /128s fit: make more";
  std::vector<Address> probes;
  for (int i = 0; i < 100; ++i)
    probes.push_back(test::rulegen::address_in(rng, prefix_of("10.0.0.0/16")));
  EXPECT_EQ(compare(tables, before, Family::ipv4, probes, rng, "IPv4 after the refused list"), 0U);
}

// Groups that routes no longer need go back to the table: a table created with room for 4,096
// groups takes 6,000 single addresses, each in a /24 (/48) of its own, added and removed one
// after the other; then a change list longer than the repaint-by-prefix limit (the flush of a
// 20,000-prefix set) repaints the copies whole.
TEST(SetTables, GroupsOfRemovedRoutesAreReusedAndLongChangeListsRepaintWhole) {
  Rng rng(2450);
  SetModel model;
  std::vector<SetRoute> changes;
  (void)model.add(prefix_of("10.0.0.0/8"), 0, changes);
  (void)model.add(prefix_of("2001:db8::/32"), 0, changes);
  SetTables tables(model, 0);
  const Rcu rcu;
  const auto apply = [&](const std::vector<SetRoute>& list) {
    rcu.quiescent();
    return tables.apply(list, model, rcu.get());
  };
  for (uint32_t i = 0; i < 6000; ++i) {
    const Prefix host4{
        Family::ipv4, 32, {10, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i), 9}};
    Prefix host6 = prefix_of("2001:db8::9/128");
    host6.addr[4] = static_cast<uint8_t>(i >> 8);
    host6.addr[5] = static_cast<uint8_t>(i);
    changes.clear();
    ASSERT_TRUE(model.add(host4, 1, changes));
    ASSERT_TRUE(model.add(host6, 1, changes));
    ASSERT_TRUE(apply(changes)) << "adding " << host4.to_string() << ", step " << i;
    changes.clear();
    ASSERT_TRUE(model.remove(host4, 1, changes));
    ASSERT_TRUE(model.remove(host6, 1, changes));
    ASSERT_TRUE(apply(changes)) << "removing " << host4.to_string() << ", step " << i;
  }
  EXPECT_EQ(compare_all(tables, model, rng, 2000, "after 6,000 additions and removals"), 0U);

  std::vector<Prefix> feed;
  for (uint32_t i = 0; i < 20'000; ++i) {
    feed.push_back(Prefix{Family::ipv4,
                          static_cast<uint8_t>(i % 3 == 0 ? 24 : 32),
                          {10, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i), 0}});
    if (feed.back().length == 32) feed.back().addr[3] = rng.byte();
  }
  model.add_all(feed, 2);
  SetTables loaded(model, 0);
  EXPECT_EQ(compare_all(loaded, model, rng, 2000, "20,000 prefixes loaded"), 0U);
  changes.clear();
  ASSERT_EQ(model.flush(2, changes), feed.size());
  ASSERT_GT(changes.size(), SetTables::repaint_whole_above(model.route_count(Family::ipv4)))
      << "the flush must exceed the repaint-by-prefix limit";
  rcu.quiescent();
  ASSERT_TRUE(loaded.apply(changes, model, rcu.get()));
  EXPECT_EQ(compare_all(loaded, model, rng, 2000, "flushed, active copy"), 0U);
  rcu.quiescent();
  ASSERT_TRUE(loaded.ready(rcu.get(), model));
  changes.clear();
  ASSERT_TRUE(model.add(prefix_of("10.1.2.3/32"), 3, changes));
  rcu.quiescent();
  ASSERT_TRUE(loaded.apply(changes, model, rcu.get()));
  EXPECT_EQ(compare_all(loaded, model, rng, 2000, "flushed, the other copy"), 0U);
}

// Block lists of single addresses spread over the whole address space (each IPv4 host in a /24
// of its own, each IPv6 host in a /24 of its own: one group per IPv4 route, thirteen per IPv6
// route).
TEST(SetTables, ScatteredHostBlockListsBuild) {
  Rng rng(2500);
  for (const auto& [v4, v6] :
       {std::pair<std::size_t, std::size_t>{20'000, 0}, {0, 1500}, {20'000, 1500}}) {
    SCOPED_TRACE(std::to_string(v4) + " IPv4 and " + std::to_string(v6) + " IPv6 hosts");
    SetModel model;
    std::vector<Prefix> hosts;
    for (std::size_t i = 0; i < v4 + v6; ++i) {
      Prefix host;
      host.family = i < v4 ? Family::ipv4 : Family::ipv6;
      host.length = i < v4 ? 32 : 128;
      for (unsigned b = 0; b < width_of(host.family) / 8; ++b)
        host.addr[b] = rng.byte();
      const auto spread = static_cast<uint32_t>(i < v4 ? i : i - v4);  // a /24 of its own
      host.addr[0] = static_cast<uint8_t>(spread >> 16 | (i < v4 ? 0 : 0x20));
      host.addr[1] = static_cast<uint8_t>(spread >> 8);
      host.addr[2] = static_cast<uint8_t>(spread);
      hosts.push_back(host);
    }
    model.add_all(hosts, 4);
    std::unique_ptr<SetTables> tables;
    ASSERT_NO_THROW(tables = std::make_unique<SetTables>(model, 0));
    EXPECT_EQ(compare_all(*tables, model, rng, 2000, "scattered hosts"), 0U);
  }
}

// --- (c) a family's first routes at run time ------------------------------------------------

// A family without routes when the tables are built has no tables (its lookups give 0) and gets
// them with its first change, published or not.
TEST(SetTables, FamilyWithoutRoutesGetsTablesOnItsFirstApply) {
  Rng rng(3001);
  const Space space = make_space(rng, 4);
  // Only IPv4 at build; IPv6 arrives unpublished.
  {
    Membership membership;
    SetModel model = random_model(rng, space, 800, 0, membership);
    SetTables tables(model, 0);
    const uint64_t v4_only = tables.info().memory_bytes;
    // (e) two copies of a 2^24-entry first level of four-byte entries.
    EXPECT_GE(v4_only, uint64_t{2} * (uint64_t{1} << 24) * 4);
    std::vector<Address> v6;
    for (int i = 0; i < 2000; ++i)
      v6.push_back(address_near(rng, {}, Family::ipv6));
    EXPECT_EQ(compare(tables, model, Family::ipv6, v6, rng, "IPv6 before its first route"), 0U);
    std::vector<SetRoute> changes;
    for (int i = 0; i < 300; ++i) {
      const Prefix prefix = random_set_prefix(rng, space, Family::ipv6, membership.v6);
      membership.v6.push_back(prefix);
      (void)model.add(prefix, static_cast<unsigned>(rng.below(kSlots)), changes);
    }
    // The worker prefetches first-level entries: a family without tables has no first level.
    EXPECT_NE(tables.first_level(Family::ipv4), nullptr);
    EXPECT_EQ(tables.first_level(Family::ipv6), nullptr);
    ASSERT_TRUE(tables.apply(changes, model, nullptr));
    EXPECT_EQ(compare_all(tables, model, rng, 10'000, "IPv6 added unpublished"), 0U);
    EXPECT_GT(tables.info().memory_bytes, v4_only) << "the IPv6 copies cost memory";
    EXPECT_NE(tables.first_level(Family::ipv6), nullptr);
  }
  // No route at all at build; both families arrive after publication.
  {
    SetModel model;
    SetTables tables(model, 0);
    EXPECT_EQ(tables.info().memory_bytes, 0U) << "no family has tables yet";
    std::vector<Address> v4;
    std::vector<Address> v6;
    for (int i = 0; i < 1000; ++i) {
      v4.push_back(address_near(rng, {}, Family::ipv4));
      v6.push_back(address_near(rng, {}, Family::ipv6));
    }
    EXPECT_EQ(compare(tables, model, Family::ipv4, v4, rng, "empty, IPv4"), 0U);
    EXPECT_EQ(compare(tables, model, Family::ipv6, v6, rng, "empty, IPv6"), 0U);
    const Rcu rcu;
    Membership membership;
    for (int step = 0; step < 200; ++step) {
      std::vector<SetRoute> changes;
      const char* what = random_change(rng, space, model, membership, changes);
      rcu.quiescent();
      ASSERT_TRUE(tables.apply(changes, model, rcu.get())) << step << " " << what;
      ASSERT_EQ(check_change(tables, model, rng, membership, changes,
                             "empty at build, step " + std::to_string(step)),
                0U);
    }
    EXPECT_EQ(compare_all(tables, model, rng, 10'000, "empty at build, after 200 changes"), 0U);
    // (e) once both families have tables: two copies each.
    EXPECT_GE(tables.info().memory_bytes, uint64_t{4} * (uint64_t{1} << 24) * 4);
  }
}

// The worker prefetches an address's first-level entry from first_level() (four bytes per
// entry, indexed by the first 24 bits) before looking it up: that must be the active copy's
// entry, which holds the answer of a route of /24 or shorter, also after a change switched
// copies.
TEST(SetTables, TheFirstLevelPrefetchedIsTheActiveCopys) {
  SetModel model;
  std::vector<SetRoute> changes;
  (void)model.add(prefix_of("192.0.2.0/24"), 3, changes);
  (void)model.add(prefix_of("2001:db00::/24"), 5, changes);
  SetTables tables(model, 0);
  const auto entry = [&](Family family, const Address& address) {
    const uint32_t top24 = uint32_t{address[0]} << 16 | uint32_t{address[1]} << 8 | address[2];
    uint32_t value = 0;
    std::memcpy(&value, tables.first_level(family) + std::size_t{top24} * 4, sizeof value);
    return value;
  };
  const Address v4 = prefix_of("192.0.2.0/24").addr;
  const Address v6 = prefix_of("2001:db00::/24").addr;
  EXPECT_EQ(entry(Family::ipv4, v4), (1U << 3) << 1);
  EXPECT_EQ(entry(Family::ipv6, v6), (1U << 5) << 1);
  const uint8_t* before = tables.first_level(Family::ipv4);
  changes.clear();
  ASSERT_TRUE(model.add(prefix_of("192.0.2.0/24"), 4, changes));
  const Rcu rcu;
  rcu.quiescent();
  ASSERT_TRUE(tables.apply(changes, model, rcu.get()));
  EXPECT_NE(tables.first_level(Family::ipv4), before) << "the change switched copies";
  EXPECT_EQ(entry(Family::ipv4, v4), ((1U << 3) | (1U << 4)) << 1);
  EXPECT_EQ(entry(Family::ipv6, v6), (1U << 5) << 1);
}

// --- (d) every combination of the sixteen sets ----------------------------------------------

/// A /24 of its own for combination `bits` (0.0.1.0/24 for 1 ...).
Prefix combination_prefix(uint32_t bits) {
  const uint32_t value = bits << 8;
  return Prefix{Family::ipv4,
                24,
                {static_cast<uint8_t>(value >> 24), static_cast<uint8_t>(value >> 16),
                 static_cast<uint8_t>(value >> 8), 0}};
}

// Next hops are the set bits themselves, so routes may carry all 65,535 combinations of the 16
// sets (an earlier design indexed at most 32,767 of them); each /24 answers its own, built and
// changed at run time.
TEST(SetTables, EveryCombinationOfTheSixteenSetsIsAnAnswer) {
  Rng rng(4001);
  SetModel model;
  for (unsigned slot = 0; slot < kSlots; ++slot) {
    std::vector<Prefix> list;
    for (uint32_t bits = 1; bits <= 0xffff; ++bits) {
      if ((bits & (1U << slot)) != 0) list.push_back(combination_prefix(bits));
    }
    model.add_all(list, slot);
  }
  ASSERT_EQ(combinations_of(model), 65535U);
  SetTables tables(model, 0);
  std::vector<Address> addresses;
  for (uint32_t bits = 1; bits <= 0xffff; ++bits)
    addresses.push_back(test::rulegen::address_in(rng, combination_prefix(bits)));
  ASSERT_EQ(compare(tables, model, Family::ipv4, addresses, rng, "65535 combinations"), 0U);

  // Every set leaves one /24 and joins another, published.
  const Rcu rcu;
  for (unsigned slot = 0; slot < kSlots; ++slot) {
    std::vector<SetRoute> changes;
    ASSERT_TRUE(model.remove(combination_prefix(0xffff), slot, changes));
    ASSERT_TRUE(model.add(combination_prefix(0x10000 + slot), slot, changes));
    const Prefix v6{Family::ipv6, 16, {0x20, static_cast<uint8_t>(slot)}};
    ASSERT_TRUE(model.add(v6, slot, changes));  // the first IPv6 routes
    rcu.quiescent();
    ASSERT_TRUE(tables.apply(changes, model, rcu.get())) << "slot " << slot;
  }
  EXPECT_EQ(compare(tables, model, Family::ipv4, addresses, rng, "after the changes"), 0U);
  EXPECT_EQ(compare_all(tables, model, rng, 5000, "after the changes"), 0U);
}

}  // namespace
}  // namespace udpsieve::dataplane
