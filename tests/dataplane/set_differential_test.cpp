// Differential test of prefix-set matching end to end: random rule sets (every field kind, see
// tests/support/random_rules.hpp) with src_set / dst_set on top, random sets overlapping the
// rules' prefixes, and random packets. The reference is rules::reference_match on a packet key
// whose set bits come from SetModel::lookup; the classifier path is what the worker does: the
// parser's key without set bits, the bits from SetTables lookups written big-endian into the key
// (Worker::lookup_sets), then the table's classifiers. Then the sets change at run time and the
// same comparison runs again. Seeded: a failure names its seed, and UDPSIEVE_DIFF_SEED=N reruns
// only that seed (in each plan it is run with).

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/acl_support.hpp"
#include "support/random_rules.hpp"
#include "udpsieve/dataplane/acl_key.hpp"
#include "udpsieve/dataplane/rule_limits.hpp"
#include "udpsieve/dataplane/set_tables.hpp"
#include "udpsieve/dataplane/table.hpp"
#include "udpsieve/rules/matcher.hpp"
#include "udpsieve/rules/prefix_set.hpp"

namespace udpsieve::dataplane {
namespace {

using rules::Family;
using rules::Prefix;
using rules::Rule;
using rules::SetModel;
using rules::SetRoute;
using test::seeds;
using test::rulegen::address_in;
using test::rulegen::describe;
using test::rulegen::make_profile;
using test::rulegen::masked;
using test::rulegen::Packet;
using test::rulegen::Plan;
using test::rulegen::Profile;
using test::rulegen::random_packet;
using test::rulegen::random_prefix;
using test::rulegen::random_rules;
using test::rulegen::Rng;

constexpr unsigned kSlots = 16;
/// The worker's burst size: set lookups and classifications take at most this many packets.
constexpr uint64_t kBurst = 32;

uint64_t next_generation() {
  static uint64_t next = 8'000'000;
  return next++;
}

std::string set_name(unsigned slot) {
  return "set" + std::to_string(slot);
}

std::string set_list(const std::vector<std::string>& names) {
  std::string out = "[";
  for (const std::string& name : names)
    out += (out.size() > 1 ? ", " : "") + name;
  return out + "]";
}

/// describe() with the rule's sets.
std::string describe_rule(const Rule& rule) {
  std::string out = describe(rule);
  if (!rule.match.src_set.empty()) out += " src_set: " + set_list(rule.match.src_set);
  if (!rule.match.dst_set.empty()) out += " dst_set: " + set_list(rule.match.dst_set);
  return out;
}

std::string describe_result(const std::vector<Rule>& rules, int32_t index) {
  if (index < 0) return "no match";
  return "rule " + std::to_string(index) + " " +
         describe_rule(rules[static_cast<std::size_t>(index)]);
}

// --- random sets and set fields --------------------------------------------------------------

/// Names 1-3 of `slots` as a rule's set list; returns their bits.
uint16_t name_sets(Rng& rng, const std::vector<unsigned>& slots, std::vector<std::string>& names) {
  uint16_t bits = 0;
  const uint64_t count = rng.percent(70) ? 1 : rng.between(2, 3);
  for (uint64_t i = 0; i < count; ++i) {
    const unsigned slot = rng.pick(slots);
    if ((bits & (1U << slot)) != 0) continue;
    bits = static_cast<uint16_t>(bits | (1U << slot));
    names.push_back(set_name(slot));
  }
  return bits;
}

/// Gives `percent` of the rules' field combinations src_set, dst_set or both. The choice
/// follows a rule's signature without its address fields (the same in both families), so each
/// family keeps at most the signatures it had. With `drop_addresses`, some combinations lose
/// their address lists to the sets (set-only rules; this may add signatures, so the caller
/// checks the limits).
void add_set_fields(Rng& rng, std::vector<Rule>& rules, const std::vector<unsigned>& slots,
                    uint64_t percent, bool drop_addresses) {
  struct Choice {
    bool src = false;
    bool dst = false;
    bool drop = false;
  };
  std::map<std::pair<uint16_t, uint16_t>, Choice> choices;
  for (Rule& rule : rules) {
    std::optional<Signature> s = signature_of(rule, Family::ipv4);
    if (!s) s = signature_of(rule, Family::ipv6);
    if (!s) continue;
    const auto key = std::pair{static_cast<uint16_t>(s->fields & ~(kPinsSrc | kPinsDst)),
                               (s->fields & kPinsPayload) != 0 ? s->payload_offset : uint16_t{0}};
    auto [it, fresh] = choices.try_emplace(key);
    if (fresh && rng.percent(percent)) {
      const uint64_t sides = rng.below(3);
      it->second.src = sides != 1;
      it->second.dst = sides != 0;
      it->second.drop = drop_addresses && rng.percent(30);
    }
    const Choice& choice = it->second;
    rules::Match& m = rule.match;
    if (choice.src) m.src_sets = name_sets(rng, slots, m.src_set);
    if (choice.dst) m.dst_sets = name_sets(rng, slots, m.dst_set);
    if (choice.drop) {
      m.src.clear();
      m.dst.clear();
    }
  }
}

/// The prefixes of the rules' address lists.
std::vector<Prefix> rule_prefixes(const std::vector<Rule>& rules) {
  std::vector<Prefix> out;
  for (const Rule& rule : rules) {
    out.insert(out.end(), rule.match.src.begin(), rule.match.src.end());
    out.insert(out.end(), rule.match.dst.begin(), rule.match.dst.end());
  }
  return out;
}

/// A prefix of a set: around the profile's bases, like a rule's prefix (the same, one covering
/// it, or one inside it), or inside another set's prefix. Never /0 (set files refuse it).
Prefix random_set_prefix(Rng& rng, const Profile& p, const std::vector<Prefix>& from_rules,
                         const std::vector<Prefix>& from_sets) {
  Prefix prefix;
  const uint64_t mode = rng.below(10);
  if (mode < 3 && !from_rules.empty()) {
    prefix = rng.pick(from_rules);
    const unsigned width = prefix.family == Family::ipv4 ? 32 : 128;
    const uint64_t how = rng.below(3);
    if (how == 1) {
      prefix.length = static_cast<uint8_t>(rng.between(0, prefix.length));
    } else if (how == 2) {
      prefix.addr = address_in(rng, prefix);
      prefix.length = static_cast<uint8_t>(rng.between(prefix.length, width));
    }
  } else if (mode < 6 && !from_sets.empty()) {
    prefix = rng.pick(from_sets);
    const unsigned width = prefix.family == Family::ipv4 ? 32 : 128;
    prefix.addr = address_in(rng, prefix);
    prefix.length = static_cast<uint8_t>(rng.between(prefix.length, width));
  } else {
    const Family family = rng.percent(p.v4_percent) ? Family::ipv4 : Family::ipv6;
    prefix = random_prefix(rng, p, family);
  }
  if (prefix.length == 0) prefix.length = static_cast<uint8_t>(rng.between(1, 8));
  prefix.addr = masked(prefix.addr, prefix.length);
  return prefix;
}

/// The sets of one seed: the model and, per slot, the prefixes added to it (for packets).
struct Sets {
  SetModel model;
  std::array<std::vector<Prefix>, kSlots> prefixes;
  std::vector<Prefix> all;
};

Sets random_sets(Rng& rng, const Profile& p, const std::vector<Rule>& rules,
                 const std::vector<unsigned>& slots) {
  Sets sets;
  const std::vector<Prefix> from_rules = rule_prefixes(rules);
  for (const unsigned slot : slots) {
    if (rng.percent(8)) continue;  // a set named by rules but empty
    const uint64_t count = rng.percent(30) ? rng.between(1, 5) : rng.between(5, 300);
    std::vector<Prefix>& list = sets.prefixes[slot];
    for (uint64_t i = 0; i < count; ++i) {
      list.push_back(random_set_prefix(rng, p, from_rules, sets.all));
      sets.all.push_back(list.back());
    }
    if (rng.percent(50)) {
      sets.model.add_all(list, slot);
    } else {
      std::vector<SetRoute> ignored;
      for (const Prefix& prefix : list)
        (void)sets.model.add(prefix, slot, ignored);
    }
  }
  return sets;
}

/// Whether one of `a` and `b` holds the other.
bool overlap(const Prefix& a, const Prefix& b) {
  return a.family == b.family && (a.contains(b.addr) || b.contains(a.addr));
}

/// An address of `family` inside a prefix of one of the sets in `bits`, if they hold one; when
/// `within` is not empty, preferably one also inside a prefix of `within` (the rule's list).
std::optional<std::array<uint8_t, 16>> address_in_sets(Rng& rng, const Sets& sets, uint16_t bits,
                                                       Family family,
                                                       const std::vector<Prefix>& within) {
  std::vector<std::pair<const Prefix*, const Prefix*>> both;  // (set prefix, rule prefix)
  std::vector<const Prefix*> candidates;
  for (unsigned slot = 0; slot < kSlots; ++slot) {
    if ((bits & (1U << slot)) == 0) continue;
    for (const Prefix& prefix : sets.prefixes[slot]) {
      if (prefix.family != family) continue;
      candidates.push_back(&prefix);
      for (const Prefix& outer : within) {
        if (overlap(prefix, outer)) both.emplace_back(&prefix, &outer);
      }
    }
  }
  if (!both.empty() && rng.percent(80)) {
    const auto [set_prefix, rule_prefix] = rng.pick(both);
    return address_in(rng, set_prefix->length >= rule_prefix->length ? *set_prefix : *rule_prefix);
  }
  if (candidates.empty()) return std::nullopt;
  return address_in(rng, *rng.pick(candidates));
}

/// Packets near the rules (random_packet), whose addresses are often moved into the sets the
/// rule names (inside the rule's own prefixes when they overlap), and now and then into any set.
std::vector<Packet> set_packets(Rng& rng, const Profile& p, const std::vector<Rule>& rules,
                                const Sets& sets, std::size_t count) {
  std::vector<Packet> packets;
  packets.reserve(count);
  const std::vector<Prefix> none;
  for (std::size_t i = 0; i < count; ++i) {
    const Rule* near = !rules.empty() && rng.percent(60) ? &rng.pick(rules) : nullptr;
    Packet packet = random_packet(rng, p, near);
    rules::PacketKey& k = packet.key;
    for (const bool src : {true, false}) {
      std::array<uint8_t, 16>& address = src ? k.src : k.dst;
      uint16_t bits = 0;
      const std::vector<Prefix>* within = &none;
      if (near != nullptr) {
        bits = src ? near->match.src_sets : near->match.dst_sets;
        within = src ? &near->match.src : &near->match.dst;
      }
      const bool move = bits != 0 ? rng.percent(70) : rng.percent(15);
      if (!move) continue;
      if (bits == 0) bits = 0xffff;
      if (const auto inside = address_in_sets(rng, sets, bits, k.family, *within)) {
        address = *inside;
      }
    }
    packets.push_back(std::move(packet));
  }
  for (Packet& packet : packets) {  // the vectors no longer move
    packet.key.payload = packet.key.has_ports ? packet.payload.data() : nullptr;
  }
  return packets;
}

/// One random change of the sets: an add near the rules or the sets, a remove, or a flush.
void random_set_change(Rng& rng, const Profile& p, const std::vector<Rule>& rules,
                       const std::vector<unsigned>& slots, Sets& sets,
                       std::vector<SetRoute>& changes) {
  const unsigned slot = rng.pick(slots);
  std::vector<Prefix>& list = sets.prefixes[slot];
  const uint64_t kind = rng.below(100);
  if (kind < 2) {
    (void)sets.model.flush(slot, changes);
    list.clear();
  } else if (kind < 45 && !list.empty()) {
    const std::size_t at = rng.below(list.size());
    (void)sets.model.remove(list[at], slot, changes);
    list.erase(list.begin() + static_cast<std::ptrdiff_t>(at));
  } else {
    const Prefix prefix = random_set_prefix(rng, p, rule_prefixes(rules), sets.all);
    if (sets.model.add(prefix, slot, changes)) {
      list.push_back(prefix);
      sets.all.push_back(prefix);
    }
  }
}

// --- the two paths ---------------------------------------------------------------------------

/// The worker's Worker::lookup_sets for one burst of one family.
void lookup_sets(const Table& table, const std::vector<rules::PacketKey>& parsed,
                 std::vector<AclKey>& keys, const std::size_t* members, std::size_t n,
                 Family family) {
  const SetTables& sets = *table.sets();
  std::array<uint16_t, kBurst> bits{};
  for (const bool src : {true, false}) {
    if (!(src ? table.src_sets() : table.dst_sets())) continue;
    if (family == Family::ipv4) {
      std::array<uint32_t, kBurst> ips{};
      for (std::size_t k = 0; k < n; ++k) {
        uint32_t be = 0;
        const rules::PacketKey& packet = parsed[members[k]];
        std::memcpy(&be, src ? packet.src.data() : packet.dst.data(), 4);
        ips[k] = __builtin_bswap32(be);
      }
      sets.lookup_v4(ips.data(), bits.data(), static_cast<unsigned>(n));
    } else {
      alignas(16) uint8_t ips[kBurst][16];
      for (std::size_t k = 0; k < n; ++k)
        std::memcpy(ips[k], src ? parsed[members[k]].src.data() : parsed[members[k]].dst.data(),
                    16);
      sets.lookup_v6(ips, bits.data(), static_cast<unsigned>(n));
    }
    for (std::size_t k = 0; k < n; ++k)
      (src ? keys[members[k]].src_sets : keys[members[k]].dst_sets) = __builtin_bswap16(bits[k]);
  }
}

/// The position (in the one list) of the rule the table's classifiers pick for each packet, or
/// -1; packets classified in worker-sized bursts of one family.
std::vector<int32_t> classify_like_worker(const Table& table, const std::vector<Packet>& packets,
                                          Rng& rng) {
  std::vector<AclKey> keys(packets.size());
  std::vector<rules::PacketKey> parsed(packets.size());
  for (std::size_t i = 0; i < packets.size(); ++i) {
    parsed[i] = packets[i].key;  // the parser leaves the set bits 0
    parsed[i].src_sets = 0;
    parsed[i].dst_sets = 0;
    test::worker_key(table.reads_key_fields(parsed[i].family), table.windows(), parsed[i], keys[i]);
  }
  std::vector<int32_t> out(packets.size(), -2);
  for (const Family family : {Family::ipv4, Family::ipv6}) {
    std::vector<std::size_t> members;
    for (std::size_t i = 0; i < packets.size(); ++i) {
      if (packets[i].key.family == family) members.push_back(i);
    }
    for (std::size_t next = 0; next < members.size();) {
      const std::size_t n = std::min<std::size_t>(rng.between(1, kBurst), members.size() - next);
      if (table.sets() != nullptr) {
        lookup_sets(table, parsed, keys, members.data() + next, n, family);
      }
      std::array<const uint8_t*, kBurst> pointers{};
      std::array<const rules::PacketKey*, kBurst> packet_pointers{};
      for (std::size_t k = 0; k < n; ++k) {
        pointers[k] = reinterpret_cast<const uint8_t*>(&keys[members[next + k]]);
        packet_pointers[k] = &parsed[members[next + k]];
      }
      std::array<uint32_t, kBurst> file_hits{};
      std::array<uint32_t, kBurst> runtime_hits{};
      table.file().classifier().classify(family, packet_pointers.data(), pointers.data(),
                                         file_hits.data(), static_cast<uint32_t>(n));
      table.runtime().classifier().classify(family, packet_pointers.data(), pointers.data(),
                                            runtime_hits.data(), static_cast<uint32_t>(n));
      for (std::size_t k = 0; k < n; ++k) {
        const uint32_t hit = table.pick(file_hits[k], runtime_hits[k]);
        int32_t position = -1;
        if (hit != 0) {
          const std::size_t index = (hit & ~kRuntimeHit) - 1;
          position = static_cast<int32_t>((hit & kRuntimeHit) != 0
                                              ? table.position(PartKind::runtime, index)
                                              : table.position(PartKind::file, index));
        }
        out[members[next + k]] = position;
      }
      next += n;
    }
  }
  return out;
}

std::shared_ptr<const RulePart> make_part(std::vector<Rule> list, PartKind kind,
                                          uint64_t generation) {
  PartParams params;
  params.kind = kind;
  params.workers = 1;
  params.generation = generation;
  return std::make_shared<const RulePart>(
      std::make_shared<const rules::RuleSet>(std::move(list), rules::Verdict::forward,
                                             rules::Verdict::forward),
      params);
}

struct Outcome {
  std::size_t mismatches = 0;
  std::size_t matched = 0;      ///< packets some rule matched (reference)
  std::size_t set_matched = 0;  ///< ... a rule naming a set
};

/// Compares the reference with the worker's path on `packets`.
Outcome compare(uint64_t seed, const char* stage, const std::vector<Rule>& rules,
                const Table& table, const SetModel& model, const std::vector<Packet>& packets,
                Rng& rng) {
  const std::vector<int32_t> got = classify_like_worker(table, packets, rng);
  Outcome outcome;
  for (std::size_t i = 0; i < packets.size(); ++i) {
    rules::PacketKey key = packets[i].key;
    key.src_sets = model.lookup(key.family, key.src);
    key.dst_sets = model.lookup(key.family, key.dst);
    const int32_t expected = rules::reference_match(rules, key);
    if (expected >= 0) {
      ++outcome.matched;
      const rules::Match& m = rules[static_cast<std::size_t>(expected)].match;
      if (!m.src_set.empty() || !m.dst_set.empty()) ++outcome.set_matched;
    }
    if (got[i] == expected) continue;
    if (++outcome.mismatches <= 5) {
      char bits[64];
      std::snprintf(bits, sizeof bits, " src_sets=0x%04x dst_sets=0x%04x", key.src_sets,
                    key.dst_sets);
      ADD_FAILURE() << "seed " << seed << " (" << stage << ", " << rules.size()
                    << " rules), packet " << i << ": " << describe(packets[i].key) << bits
                    << "\n  reference: " << describe_result(rules, expected)
                    << "\n  classifier: " << describe_result(rules, got[i])
                    << "\n  reproduce: UDPSIEVE_DIFF_SEED=" << seed;
    }
  }
  EXPECT_EQ(outcome.mismatches, 0U) << "seed " << seed << " (" << stage << ")";
  return outcome;
}

/// Runs `plan.seeds` rule sets with sets on `set_percent` of their field combinations, each
/// declaring 1 to `max_sets` sets.
void run_plan(const Plan& plan, uint64_t set_percent, uint64_t max_sets) {
  std::size_t packets_total = 0;
  std::size_t matched_total = 0;
  std::size_t set_matched_total = 0;
  const uint64_t first = 900'000 + plan.rules * 1000;
  for (const uint64_t seed : seeds(first, plan.seeds)) {
    Rng rng(seed);
    const Profile profile = make_profile(rng, plan, seed - first);
    const std::vector<Rule> base = random_rules(rng, profile, plan.rules);
    // The sets this rule set declares: some of the 16 slots, not necessarily the first ones.
    std::vector<unsigned> slots;
    const uint64_t declared = rng.between(1, max_sets);
    while (slots.size() < declared) {
      const auto slot = static_cast<unsigned>(rng.below(kSlots));
      if (std::find(slots.begin(), slots.end(), slot) == slots.end()) slots.push_back(slot);
    }
    std::vector<Rule> rules = base;
    add_set_fields(rng, rules, slots, set_percent, true);
    try {
      check_rule_limits(rules, 2);
    } catch (const std::exception&) {  // set-only rules added a signature: keep the addresses
      rules = base;
      add_set_fields(rng, rules, slots, set_percent, false);
    }
    ASSERT_NO_THROW(check_rule_limits(rules, 2)) << "seed " << seed;
    Sets sets = random_sets(rng, profile, rules, slots);

    // Half of the seeds split the rules into a file part and a runtime part.
    std::size_t at = rules.size();
    std::size_t length = 0;
    if (seed % 2 == 1) {
      at = rng.between(0, rules.size());
      length = rng.between(0, rules.size() - at);
    }
    std::vector<Rule> file_rules(rules.begin(), rules.begin() + static_cast<std::ptrdiff_t>(at));
    file_rules.insert(file_rules.end(), rules.begin() + static_cast<std::ptrdiff_t>(at + length),
                      rules.end());
    const std::vector<Rule> runtime_rules(rules.begin() + static_cast<std::ptrdiff_t>(at),
                                          rules.begin() + static_cast<std::ptrdiff_t>(at + length));
    const uint64_t generation = next_generation();
    TableParams params;
    params.forward_to = {0, 1, 2, 3};
    params.runtime_at = at;
    params.generation = generation;
    std::shared_ptr<const RulePart> file_part;
    std::shared_ptr<const RulePart> runtime_part;
    try {
      file_part = make_part(file_rules, PartKind::file, next_generation());
      runtime_part = make_part(runtime_rules, PartKind::runtime, next_generation());
    } catch (const std::exception& e) {
      const auto named = std::count_if(rules.begin(), rules.end(), [](const Rule& r) {
        return !r.match.src_set.empty() || !r.match.dst_set.empty();
      });
      ADD_FAILURE() << "seed " << seed << ": the classifiers of " << rules.size() << " rules ("
                    << named << " naming some of " << slots.size()
                    << " sets) failed to build: " << e.what()
                    << "\n  reproduce: UDPSIEVE_DIFF_SEED=" << seed;
      return;
    }
    params.sets = std::make_shared<SetTables>(sets.model, 0);
    auto table = std::make_unique<const Table>(file_part, runtime_part, params);

    std::vector<Packet> packets = set_packets(rng, profile, rules, sets, plan.packets);
    Outcome outcome = compare(seed, "sets as built", rules, *table, sets.model, packets, rng);
    packets_total += packets.size();
    matched_total += outcome.matched;
    set_matched_total += outcome.set_matched;
    if (outcome.mismatches != 0) return;  // one reported seed is enough to debug

    // The sets change under the same rules; the tables follow with apply(). The tables are far
    // from full, so apply() must take every change; should it refuse one, the tables are
    // rebuilt from the model (what the daemon does) and the comparison goes on.
    for (int change = 0; change < 20; ++change) {
      std::vector<SetRoute> changes;
      for (uint64_t n = rng.between(1, 10); n > 0; --n)
        random_set_change(rng, profile, rules, slots, sets, changes);
      if (table->sets_ptr()->apply(changes, sets.model, nullptr)) continue;
      ADD_FAILURE() << "seed " << seed << ": apply() refused change list " << change << " ("
                    << changes.size() << " routes) of tables holding "
                    << sets.model.route_count(Family::ipv4) << " IPv4 and "
                    << sets.model.route_count(Family::ipv6) << " IPv6 routes";
      params.sets = std::make_shared<SetTables>(sets.model, 0);
      table = std::make_unique<const Table>(file_part, runtime_part, params);
    }
    packets = set_packets(rng, profile, rules, sets, plan.packets);
    outcome = compare(seed, "sets changed", rules, *table, sets.model, packets, rng);
    packets_total += packets.size();
    matched_total += outcome.matched;
    set_matched_total += outcome.set_matched;
    if (outcome.mismatches != 0) return;
    if (std::getenv("UDPSIEVE_DIFF_VERBOSE") != nullptr) {
      std::printf(
          "seed %llu: %zu rules, %zu sets, %zu+%zu routes, lookup %s%s, classifier build %lld "
          "us, %llu KB\n",
          static_cast<unsigned long long>(seed), rules.size(), slots.size(),
          sets.model.route_count(Family::ipv4), sets.model.route_count(Family::ipv6),
          table->src_sets() ? "src " : "", table->dst_sets() ? "dst" : "",
          static_cast<long long>(file_part->classifier().info().build_time.count()),
          static_cast<unsigned long long>(file_part->classifier().info().memory_bytes / 1024));
    }
  }
  const double hit_ratio = static_cast<double>(matched_total) / static_cast<double>(packets_total);
  const double set_ratio =
      static_cast<double>(set_matched_total) / static_cast<double>(packets_total);
  testing::Test::RecordProperty("hit_percent", static_cast<int>(hit_ratio * 100));
  testing::Test::RecordProperty("set_hit_percent", static_cast<int>(set_ratio * 100));
  std::printf("%zu rules: %zu packets, %.0f%% matched, %.0f%% by a rule naming a set\n", plan.rules,
              packets_total, hit_ratio * 100, set_ratio * 100);
  // Enough packets must meet rules with sets for the comparison to mean something.
  EXPECT_GT(set_ratio, 0.03);
  EXPECT_LT(hit_ratio, 0.95);
}

TEST(SetDifferential, Rules10) {
  run_plan({.rules = 10,
            .seeds = 16,
            .packets = 2000,
            .extra_kinds = 8,
            .extra_percents = {0, 10, 25, 50},
            .base_percents = {0, 25, 50, 80},
            .broad = 25,
            .catch_all = true},
           60, kSlots);
}
TEST(SetDifferential, Rules100) {
  run_plan({.rules = 100,
            .seeds = 8,
            .packets = 4000,
            .extra_kinds = 8,
            .extra_percents = {5, 10, 25, 50}},
           50, kSlots);
}
TEST(SetDifferential, Rules1000) {
  run_plan({.rules = 1000,
            .seeds = 4,
            .packets = 10000,
            .extra_kinds = 4,
            .extra_percents = {5, 10, 25},
            .base_percents = {5, 10},
            .broad = 0,
            .prefix_required = true,
            .dst_only = 10,
            .both = 3,
            .bases = 64},
           70, 4);
}
TEST(SetDifferential, Rules2000) {
  run_plan({.rules = 2000,
            .seeds = 3,
            .packets = 10000,
            .extra_kinds = 3,
            .extra_percents = {5, 10},
            .base_percents = {5, 10},
            .broad = 0,
            .prefix_required = true,
            .dst_only = 25,
            .both = 10,
            .bases = 128},
           50, 4);
}

// --- the table ---------------------------------------------------------------------------------

Rule set_rule(const std::string& id, std::vector<unsigned> src, std::vector<unsigned> dst,
              rules::ActionKind kind = rules::ActionKind::forward) {
  Rule rule;
  rule.id = id;
  rule.where = SourceLocation{"rules.yaml", 3, 5};
  rule.action.kind = kind;
  for (const unsigned slot : src) {
    rule.match.src_set.push_back(set_name(slot));
    rule.match.src_sets = static_cast<uint16_t>(rule.match.src_sets | (1U << slot));
  }
  for (const unsigned slot : dst) {
    rule.match.dst_set.push_back(set_name(slot));
    rule.match.dst_sets = static_cast<uint16_t>(rule.match.dst_sets | (1U << slot));
  }
  return rule;
}

Rule port_rule(const std::string& id, uint16_t port) {
  Rule rule = set_rule(id, {}, {});
  rule.match.dst_port = {test::one(port)};
  return rule;
}

// A table looks the sets up only when one of its parts has a rule naming a set, and only on
// the sides (src, dst) some rule names; without set tables it never does.
TEST(SetTable, SetsAreLookedUpOnlyWhenARuleNamesOne) {
  SetModel model;
  model.add_all({test::prefix("10.0.0.0/8")}, 0);
  const auto sets = std::make_shared<SetTables>(model, 0);
  struct Case {
    const char* description;
    std::vector<Rule> file;
    std::vector<Rule> runtime;
    bool with_sets;
    bool src;
    bool dst;
  };
  const std::vector<Case> cases = {
      {"no rule names a set", {port_rule("a", 53)}, {port_rule("b", 54)}, true, false, false},
      {"no rules at all", {}, {}, true, false, false},
      {"a file rule names a src set", {set_rule("a", {0}, {})}, {}, true, true, false},
      {"a runtime rule names a dst set",
       {port_rule("a", 1)},
       {set_rule("b", {}, {0})},
       true,
       false,
       true},
      {"file src, runtime dst",
       {set_rule("a", {0}, {})},
       {set_rule("b", {}, {3})},
       true,
       true,
       true},
      {"one rule names both", {}, {set_rule("a", {1}, {0, 2})}, true, true, true},
      {"set rules but no set tables", {set_rule("a", {0}, {1})}, {}, false, true, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.description);
    TableParams params;
    params.forward_to = {0};
    params.generation = next_generation();
    if (c.with_sets) params.sets = sets;
    const auto file = make_part(c.file, PartKind::file, next_generation());
    const auto runtime = make_part(c.runtime, PartKind::runtime, next_generation());
    EXPECT_EQ(file->uses_src_sets() || runtime->uses_src_sets(), c.src);
    EXPECT_EQ(file->uses_dst_sets() || runtime->uses_dst_sets(), c.dst);
    const Table table(file, runtime, std::move(params));
    EXPECT_EQ(table.src_sets(), c.src);
    EXPECT_EQ(table.dst_sets(), c.dst);
    EXPECT_EQ(table.sets_ptr().get(), c.with_sets ? sets.get() : nullptr);
    EXPECT_EQ(table.sets(), c.with_sets && (c.src || c.dst) ? sets.get() : nullptr);
  }
}

// Table-driven: a few sets and rules, and packets with the rule each must hit (first match).
TEST(SetTable, PacketsHitTheFirstRuleWhoseSetsHoldTheirAddresses) {
  SetModel model;
  model.add_all({test::prefix("10.0.0.0/8"), test::prefix("2001:db8::/32")}, 0);  // set0
  model.add_all({test::prefix("10.1.0.0/16"), test::prefix("2001:db8:1::/48")}, 3);
  model.add_all({test::prefix("192.0.2.0/24"), test::prefix("10.1.2.3")}, 15);
  std::vector<Rule> rules = {
      set_rule("set3_to_53", {3}, {}, rules::ActionKind::drop),  // src in set3, dst port 53
      set_rule("to_set0_or_5", {}, {0, 5}),                      // dst in set0 or (empty) set5
      set_rule("set15_to_set15", {15}, {15}, rules::ActionKind::drop),
      set_rule("set0_from_net", {0}, {}),
  };
  rules[0].match.dst_port = {test::one(53)};
  rules[3].match.src = {test::prefix("10.200.0.0/16"), test::prefix("2001:db8:ffff::/48")};
  struct Case {
    const char* description;
    rules::PacketKey packet;
    int32_t expected;
  };
  const std::vector<Case> cases = {
      {"src in set3 to port 53", test::udp_key("10.1.9.9", "198.51.100.1", 1000, 53), 0},
      {"src in set3, other port", test::udp_key("10.1.9.9", "198.51.100.1", 1000, 54), -1},
      {"src in set0 only, port 53", test::udp_key("10.2.0.1", "198.51.100.1", 1000, 53), -1},
      {"dst in set0", test::udp_key("198.51.100.1", "10.9.9.9"), 1},
      {"dst in set15 (a host)", test::udp_key("198.51.100.1", "10.1.2.3"), 1},
      {"src in set15 (inside set0 and set3) to port 53",
       test::udp_key("10.1.2.3", "192.0.2.1", 1, 53), 0},
      {"set15 to set15 via the /24", test::udp_key("192.0.2.7", "192.0.2.9"), 2},
      {"set15 host to set15", test::udp_key("10.1.2.3", "192.0.2.9", 1, 54), 2},
      {"set15 /24 to set15 host", test::udp_key("192.0.2.7", "10.1.2.3"), 1},
      {"src set0 and in 10.200/16", test::udp_key("10.200.1.1", "198.51.100.1"), 3},
      {"src set0 outside 10.200/16", test::udp_key("10.201.1.1", "198.51.100.1"), -1},
      {"IPv6 src in set3 to port 53", test::udp_key("2001:db8:1::5", "2001:db9::1", 7, 53), 0},
      {"IPv6 src in set0 only to port 53", test::udp_key("2001:db8:2::5", "2001:db9::1", 7, 53),
       -1},
      {"IPv6 dst in set0", test::udp_key("2001:db9::1", "2001:db8:2::5"), 1},
      {"IPv6 src set0 in the /48", test::udp_key("2001:db8:ffff::1", "::1"), 3},
      {"IPv6 outside every set", test::udp_key("2001:db9::1", "2001:db9::2"), -1},
  };
  TableParams params;
  params.forward_to = {0};
  params.generation = next_generation();
  params.sets = std::make_shared<SetTables>(model, 0);
  const Table table(make_part(rules, PartKind::file, next_generation()),
                    make_part({}, PartKind::runtime, next_generation()), std::move(params));
  std::vector<Packet> packets;
  for (const Case& c : cases) {
    Packet packet;
    packet.key = c.packet;
    packets.push_back(packet);
  }
  Rng rng(1);
  const std::vector<int32_t> got = classify_like_worker(table, packets, rng);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    rules::PacketKey key = cases[i].packet;
    key.src_sets = model.lookup(key.family, key.src);
    key.dst_sets = model.lookup(key.family, key.dst);
    EXPECT_EQ(rules::reference_match(rules, key), cases[i].expected)
        << cases[i].description << " (reference)";
    EXPECT_EQ(got[i], cases[i].expected) << cases[i].description << " (classifier)";
  }
}

// --- the classifier's size with sets --------------------------------------------------------

// Rule sets naming many sets must still compile: rules that build in milliseconds without sets
// (a few hundred entries) must not need hundreds of MB or minutes once they name sets. Each
// rule names one set per side; the bits of a key may hold any combination.
TEST(SetClassifier, RulesNamingManySetsBuild) {
  struct Case {
    const char* description;
    std::size_t rules;
    unsigned sets;
    bool src_prefix;
    bool dst_set;
  };
  const std::vector<Case> cases = {
      {"a 16 x 16 zone matrix (src_set i, dst_set j)", 256, 16, false, true},
      {"100 rules of a src /24, a random src_set and dst_set of 16", 100, 16, true, true},
      {"300 rules of a src /24 and a random src_set of 16", 300, 16, true, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.description);
    Rng rng(c.rules * 100 + c.sets);
    std::vector<Rule> rules;
    for (std::size_t i = 0; i < c.rules; ++i) {
      const auto src = static_cast<unsigned>(c.rules == 256 ? i / 16 : rng.below(c.sets));
      const auto dst = static_cast<unsigned>(c.rules == 256 ? i % 16 : rng.below(c.sets));
      Rule rule = set_rule("r" + std::to_string(i), {src},
                           c.dst_set ? std::vector<unsigned>{dst} : std::vector<unsigned>{},
                           i % 3 == 0 ? rules::ActionKind::drop : rules::ActionKind::forward);
      if (c.src_prefix) rule.match.src = {Prefix{Family::ipv4, 24, {10, rng.byte(), rng.byte()}}};
      rules.push_back(std::move(rule));
    }
    ASSERT_NO_THROW(check_rule_limits(rules, 1));
    try {
      const AclClassifier classifier(rules, 0, test::unique_name("sets"));
      std::printf("%s: %zu KB, built in %lld ms\n", c.description,
                  static_cast<std::size_t>(classifier.info().memory_bytes / 1024),
                  static_cast<long long>(classifier.info().build_time.count() / 1000));
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  }
}

// What does not fit is refused with a message that says why and what to do: 300 rules each
// naming a random pair of 16 sets (the trie would branch on every combination of the bits).
TEST(SetClassifier, RulesNamingTooManySetPairsAreRefusedSayingWhy) {
  Rng rng(300 * 100 + 16);
  std::vector<Rule> rules;
  for (std::size_t i = 0; i < 300; ++i) {
    rules.push_back(set_rule("r" + std::to_string(i), {static_cast<unsigned>(rng.below(16))},
                             {static_cast<unsigned>(rng.below(16))},
                             i % 3 == 0 ? rules::ActionKind::drop : rules::ActionKind::forward));
  }
  try {
    const AclClassifier classifier(rules, 0, test::unique_name("pairs"));
    GTEST_SKIP() << "the rules fit after all (" << classifier.info().memory_bytes
                 << " bytes): nothing to refuse";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("the trie outgrew its bound"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace udpsieve::dataplane
