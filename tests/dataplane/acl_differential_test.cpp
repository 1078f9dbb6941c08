// Differential test: the rte_acl classifier against the reference matcher on random rule sets
// (10 to 10,000 rules, both families, every field kind) and random packets, about half of them
// built to hit some rule. Seeded and reproducible: a failure names its seed, and
// UDPSIEVE_DIFF_SEED=N reruns only that seed (in each plan it is run with).
// UDPSIEVE_DIFF_VERBOSE=1 prints each seed's build time and hits; UDPSIEVE_DIFF_DUMP=1 its rules.

// rte_vect_{get,set}_max_simd_bitwidth are still experimental in DPDK 22.11.
#define ALLOW_EXPERIMENTAL_API 1

#include <gtest/gtest.h>
#include <sys/resource.h>
extern "C" {  // DPDK 22.11's rte_vect.h declares its functions without C linkage
#include <rte_vect.h>
}

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "dataplane/acl_support.hpp"
#include "support/random_rules.hpp"
#include "udpsieve/dataplane/acl_classifier.hpp"
#include "udpsieve/dataplane/rule_limits.hpp"
#include "udpsieve/dataplane/table.hpp"
#include "udpsieve/rules/matcher.hpp"

namespace udpsieve::dataplane {
namespace {

using rules::Family;
using rules::Rule;
// The random rule sets and packets (tests/support/random_rules.hpp).
using test::seeds;
using test::rulegen::describe;
using test::rulegen::make_profile;
using test::rulegen::Packet;
using test::rulegen::Plan;
using test::rulegen::Profile;
using test::rulegen::random_packets;
using test::rulegen::random_rules;
using test::rulegen::Rng;

std::string describe_result(const std::vector<Rule>& rules, int32_t index) {
  if (index < 0) return "no match";
  return "rule " + std::to_string(index) + " " + describe(rules[static_cast<std::size_t>(index)]);
}

// --- the comparison --------------------------------------------------------------------------

struct Outcome {
  std::size_t mismatches = 0;
  std::size_t matched = 0;  ///< packets some rule matched (reference)
  std::chrono::microseconds build_time{0};
  std::string algorithm;           ///< the classify method the classifier picked
  std::size_t prefix_lookups = 0;  ///< of both families (prefix_lookup.hpp)
  std::size_t acl_contexts = 0;    ///< rte_acl's, of both families
};

/// Classifies `packets` in worker-sized bursts of one family each (sizes vary, to exercise
/// every SIMD batch shape) and compares every result and the per-rule match counts.
Outcome compare(uint64_t seed, const std::vector<Rule>& rules, const std::vector<Packet>& packets,
                Rng& rng) {
  const AclClassifier classifier(rules, 0, test::unique_name("diff"));
  std::vector<AclKey> keys(packets.size());
  for (std::size_t i = 0; i < packets.size(); ++i) {
    test::worker_key(classifier.reads_key_fields(packets[i].key.family),
                     classifier.window_offsets(), packets[i].key, keys[i]);
  }
  std::vector<uint32_t> results(packets.size(), 0xdeadbeef);
  for (const Family family : {Family::ipv4, Family::ipv6}) {
    std::vector<std::size_t> members;
    for (std::size_t i = 0; i < packets.size(); ++i) {
      if (packets[i].key.family == family) members.push_back(i);
    }
    std::size_t next = 0;
    while (next < members.size()) {
      const std::size_t burst = std::min<std::size_t>(rng.between(1, 64), members.size() - next);
      std::array<const uint8_t*, 64> pointers{};
      std::array<const rules::PacketKey*, 64> packet_pointers{};
      std::array<uint32_t, 64> burst_results{};
      for (std::size_t j = 0; j < burst; ++j) {
        pointers[j] = reinterpret_cast<const uint8_t*>(&keys[members[next + j]]);
        packet_pointers[j] = &packets[members[next + j]].key;
      }
      classifier.classify(family, packet_pointers.data(), pointers.data(), burst_results.data(),
                          static_cast<uint32_t>(burst));
      for (std::size_t j = 0; j < burst; ++j)
        results[members[next + j]] = burst_results[j];
      next += burst;
    }
  }

  Outcome outcome;
  outcome.build_time = classifier.info().build_time;
  outcome.algorithm = classifier.info().algorithm;
  const AclBuildInfo& info = classifier.info();
  outcome.prefix_lookups = info.prefix_v4 + info.prefix_v6;
  outcome.acl_contexts =
      info.contexts_v4 + info.contexts_v6 - info.exact_v4 - info.exact_v6 - outcome.prefix_lookups;
  std::vector<uint64_t> reference_counts(rules.size(), 0);
  std::vector<uint64_t> classifier_counts(rules.size(), 0);
  for (std::size_t i = 0; i < packets.size(); ++i) {
    const int32_t expected = rules::reference_match(rules, packets[i].key);
    if (expected >= 0) {
      ++reference_counts[static_cast<std::size_t>(expected)];
      ++outcome.matched;
    }
    const uint32_t got = results[i];
    if (got != 0 && got <= rules.size()) ++classifier_counts[got - 1];
    if (got == static_cast<uint32_t>(expected + 1)) continue;
    if (++outcome.mismatches <= 5) {
      ADD_FAILURE() << "seed " << seed << " (" << rules.size() << " rules, classify algorithm "
                    << classifier.info().algorithm << "), packet " << i << ": "
                    << describe(packets[i].key)
                    << "\n  reference: " << describe_result(rules, expected)
                    << "\n  classifier: " << describe_result(rules, static_cast<int32_t>(got) - 1)
                    << "\n  reproduce: UDPSIEVE_DIFF_SEED=" << seed;
    }
  }
  EXPECT_EQ(outcome.mismatches, 0U) << "seed " << seed << ": packets classified differently";
  EXPECT_EQ(classifier_counts, reference_counts) << "seed " << seed << ": per-rule match counts";
  return outcome;
}

/// Runs `plan.seeds` rule sets of `plan.rules` rules against `plan.packets` packets each.
void run_plan(const Plan& plan) {
  std::size_t packets_total = 0;
  std::size_t matched_total = 0;
  const std::vector<uint64_t> plan_seeds = seeds(plan.rules * 1000, plan.seeds);
  for (std::size_t index = 0; index < plan_seeds.size(); ++index) {
    const uint64_t seed = plan_seeds[index];
    Rng rng(seed);
    const Profile profile = make_profile(rng, plan, seed - plan.rules * 1000);
    const std::vector<Rule> rules = random_rules(rng, profile, plan.rules);
    ASSERT_NO_THROW(check_rule_limits(rules, 2)) << "seed " << seed;
    if (std::getenv("UDPSIEVE_DIFF_DUMP") != nullptr) {
      for (const Rule& rule : rules)
        std::printf("%s\n", describe(rule).c_str());
    }
    const std::vector<Packet> packets = random_packets(rng, profile, rules, plan.packets);
    const auto started = std::chrono::steady_clock::now();
    const Outcome outcome = compare(seed, rules, packets, rng);
    if (std::getenv("UDPSIEVE_DIFF_VERBOSE") != nullptr) {
      std::printf("seed %llu: %zu rules, %zu/%zu packets matched, build %lld us, total %lld ms\n",
                  static_cast<unsigned long long>(seed), rules.size(), outcome.matched,
                  packets.size(), static_cast<long long>(outcome.build_time.count()),
                  static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::steady_clock::now() - started)
                                             .count()));
    }
    packets_total += packets.size();
    matched_total += outcome.matched;
    if (outcome.mismatches != 0) return;  // one reported seed is enough to debug
  }
  // The packets are meant to hit rules about half of the time; a drift would weaken the test.
  const double hit_ratio = static_cast<double>(matched_total) / static_cast<double>(packets_total);
  testing::Test::RecordProperty("hit_percent", static_cast<int>(hit_ratio * 100));
  EXPECT_GT(hit_ratio, 0.25);
  EXPECT_LT(hit_ratio, 0.85);
}

TEST(AclDifferential, Rules10) {
  run_plan({.rules = 10,
            .seeds = 150,
            .packets = 2000,
            .extra_kinds = 8,
            .extra_percents = {0, 10, 25, 50},
            .base_percents = {0, 25, 50, 80},
            .broad = 25,
            .catch_all = true});
}
TEST(AclDifferential, Rules100) {
  run_plan({.rules = 100,
            .seeds = 30,
            .packets = 5000,
            .extra_kinds = 8,
            .extra_percents = {5, 10, 25, 50}});
}
TEST(AclDifferential, Rules1000) {
  run_plan({.rules = 1000,
            .seeds = 12,
            .packets = 20000,
            .extra_kinds = 4,
            .extra_percents = {5, 10, 25},
            .base_percents = {5, 10},
            .broad = 0,
            .prefix_required = true,
            .dst_only = 10,
            .both = 3,
            .bases = 64});
}
TEST(AclDifferential, Rules10000) {
  run_plan({.rules = 10000,
            .seeds = 4,
            .packets = 20000,
            .extra_kinds = 3,
            .extra_percents = {5, 10},
            .base_percents = {5, 10},
            .broad = 0,
            .prefix_required = true,
            .dst_only = 0,
            .both = 0,
            .bases = 512});
}

// Block lists as operators and feeds write them: one address's prefix of any length (IPv4
// /8-/32, IPv6 /16-/128) nesting around a few hundred bases, about half with a service port or
// range, some on the destination; a few rules of other shapes beside them stay rte_acl's. The
// large lists are split off into prefix searches (prefix_lookup.hpp), which must answer as the
// reference does, across lookups too.
TEST(AclDifferential, PrefixListsOfManyLengths) {
  const std::vector<rules::Range> services = {{53, 53},     {123, 123},    {161, 162},
                                              {0, 1023},    {1024, 65535}, {27015, 27030},
                                              {8000, 8100}, {5060, 5061},  {443, 443}};
  std::size_t packets_total = 0;
  std::size_t matched_total = 0;
  for (const uint64_t seed : seeds(444000, 6)) {
    Rng rng(seed);
    std::vector<std::array<uint8_t, 16>> bases(200);
    for (auto& base : bases)
      for (uint8_t& b : base)
        b = rng.byte();
    std::vector<Rule> rules(6000);
    for (std::size_t i = 0; i < rules.size(); ++i) {
      Rule& r = rules[i];
      r.id = "p" + std::to_string(i);
      rules::Prefix p;
      p.family = rng.percent(50) ? Family::ipv6 : Family::ipv4;
      const unsigned max = p.family == Family::ipv4 ? 32 : 128;
      p.length = static_cast<uint8_t>(rng.between(p.family == Family::ipv4 ? 8 : 16, max));
      p.addr = rng.pick(bases);
      for (unsigned flips = static_cast<unsigned>(rng.below(4)); flips > 0; --flips) {
        const auto bit = static_cast<unsigned>(rng.between(max / 4, max - 1));
        p.addr[bit / 8] = static_cast<uint8_t>(p.addr[bit / 8] ^ (0x80U >> (bit % 8)));
      }
      for (unsigned bit = p.length; bit < 128; ++bit)
        p.addr[bit / 8] = static_cast<uint8_t>(p.addr[bit / 8] & ~(0x80U >> (bit % 8)));
      (rng.percent(85) ? r.match.src : r.match.dst).push_back(p);
      if (rng.percent(50)) r.match.dst_port.push_back(rng.pick(services));
      if (rng.percent(3)) r.match.ttl.push_back(rules::Range{1, 64});  // rte_acl's
    }
    ASSERT_NO_THROW(check_rule_limits(rules, 2)) << "seed " << seed;
    std::vector<Packet> packets(4000);
    for (Packet& packet : packets) {
      const Rule& near = rng.pick(rules);
      const rules::Prefix& p = near.match.src.empty() ? near.match.dst[0] : near.match.src[0];
      rules::PacketKey& key = packet.key;
      key.family = p.family;
      key.src = test::rulegen::address_in(rng, p);
      key.dst = test::rulegen::address_in(rng, p);
      if (rng.percent(30)) {  // elsewhere
        for (unsigned b = 0; b < (p.family == Family::ipv4 ? 4U : 16U); ++b)
          key.src[b] = rng.byte();
      }
      key.has_ports = rng.percent(95);
      key.fragment = key.has_ports ? rules::FragmentKind::none : rules::FragmentKind::non_first;
      if (key.has_ports) {
        key.src_port = static_cast<uint16_t>(rng.next());
        const rules::Range& r = near.match.dst_port.empty() || rng.percent(30)
                                    ? rng.pick(services)
                                    : near.match.dst_port[0];
        key.dst_port = static_cast<uint16_t>(r.first + rng.below(r.last - r.first + 1U));
      }
      key.l3_length = 60;
      key.ttl = static_cast<uint8_t>(rng.between(1, 128));
    }
    const Outcome outcome = compare(seed, rules, packets, rng);
    EXPECT_GE(outcome.prefix_lookups, 2U) << "seed " << seed << ": the IPv4 and IPv6 sources";
    EXPECT_GE(outcome.acl_contexts, 1U) << "seed " << seed << ": the TTL rules";
    packets_total += packets.size();
    matched_total += outcome.matched;
    if (outcome.mismatches != 0) return;
  }
  EXPECT_GT(matched_total, packets_total / 4);
  EXPECT_LT(matched_total, packets_total * 9 / 10);
}

/// The classifier picks the fastest classify method the CPU and EAL allow; every method the
/// CPU has must agree with the reference, since EAL's SIMD limit differs between machines.
TEST(AclDifferential, EveryClassifyMethod) {
  // Restores EAL's SIMD limit however the test ends.
  struct RestoreLimit {
    uint16_t bits = rte_vect_get_max_simd_bitwidth();
    ~RestoreLimit() { (void)rte_vect_set_max_simd_bitwidth(bits); }
  } const restore;
  const Plan plan{.rules = 60, .extra_kinds = 4, .extra_percents = {10, 25}};
  std::string methods;
  for (const uint16_t bits : std::array<uint16_t, 4>{64, 128, 256, 512}) {
    ASSERT_EQ(rte_vect_set_max_simd_bitwidth(bits), 0) << bits;
    for (const uint64_t seed : seeds(777000, 2)) {
      Rng rng(seed);
      const Profile profile = make_profile(rng, plan, seed);
      const std::vector<Rule> rules = random_rules(rng, profile, plan.rules);
      const std::vector<Packet> packets = random_packets(rng, profile, rules, 5000);
      SCOPED_TRACE("SIMD limit " + std::to_string(bits) + " bits");
      const Outcome outcome = compare(seed, rules, packets, rng);
      if (methods.find(outcome.algorithm) == std::string::npos) {
        methods += (methods.empty() ? "" : ", ") + outcome.algorithm;
      }
    }
  }
  testing::Test::RecordProperty("classify_methods", methods);
  std::printf("classify methods compared: %s\n", methods.c_str());
}

// A thousand address rules of which about one in ten also matches 1-16 payload bytes. Merged
// into one rte_acl trie, these took seconds to minutes and gigabytes of heap to build (or failed
// with "Exceeded max number of tries: 8"): rules pinning different fields multiply each other's
// trie nodes. With one context per signature each trie holds rules of one shape and the set
// builds in well under a second.
TEST(AclDifferential, PayloadAmongAddressRules) {
  const Plan plan{.rules = 1000,
                  .extras = {&Profile::payload},
                  .extra_kinds = 1,
                  .extra_percents = {10},
                  .base_percents = {10},
                  .max_windows = 2,
                  .broad = 5,
                  .prefix_required = true,
                  .dst_only = 25,
                  .both = 10,
                  .bases = 6};
  for (const uint64_t seed : seeds(555000, 6)) {
    Rng rng(seed);
    const Profile profile = make_profile(rng, plan, 0);
    const std::vector<Rule> rules = random_rules(rng, profile, plan.rules);
    const auto started = std::chrono::steady_clock::now();
    std::string result = "built";
    try {
      const AclClassifier classifier(rules, 0, test::unique_name("blowup"));
      result += " (" + std::to_string(classifier.info().entries_v4) + " IPv4 + " +
                std::to_string(classifier.info().entries_v6) + " IPv6 entries)";
    } catch (const std::exception& e) {
      result = e.what();
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::printf("seed %llu: %s in %lld ms; peak RSS so far %ld MB\n",
                static_cast<unsigned long long>(seed), result.c_str(),
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::steady_clock::now() - started)
                                           .count()),
                usage.ru_maxrss / 1024);
  }
}

// Runtime rules live in a part of their own, inserted at the `dynamic` position of the file
// rules. Splitting one random list into a file part and a runtime part (at a random place,
// of a random length) must classify every packet exactly as the list does in one piece.
TEST(AclDifferential, FileAndRuntimePartsAgreeWithOneList) {
  // Each part takes its own window slots, so two offsets per list keep both within four.
  const Plan plan{.rules = 150, .extra_kinds = 8, .extra_percents = {10, 25}, .max_windows = 2};
  std::size_t packets_total = 0;
  for (const uint64_t seed : seeds(888000, 20)) {
    Rng rng(seed);
    const Profile profile = make_profile(rng, plan, seed);
    const std::vector<Rule> rules = random_rules(rng, profile, plan.rules);
    const std::size_t at = rng.between(0, rules.size());
    const std::size_t length = rng.between(0, rules.size() - at);
    std::vector<Rule> file_rules(rules.begin(), rules.begin() + static_cast<std::ptrdiff_t>(at));
    file_rules.insert(file_rules.end(), rules.begin() + static_cast<std::ptrdiff_t>(at + length),
                      rules.end());
    const std::vector<Rule> runtime_rules(rules.begin() + static_cast<std::ptrdiff_t>(at),
                                          rules.begin() + static_cast<std::ptrdiff_t>(at + length));
    const auto part = [&](std::vector<Rule> list, PartKind kind) {
      PartParams params;
      params.kind = kind;
      params.workers = 1;
      params.generation = seed * 2 + (kind == PartKind::runtime ? 1 : 0);
      return std::make_shared<const RulePart>(
          std::make_shared<const rules::RuleSet>(std::move(list), rules::Verdict::forward,
                                                 rules::Verdict::forward),
          params);
    };
    TableParams params;
    params.forward_to = {0};
    params.runtime_at = at;
    params.generation = seed;
    const Table table(part(file_rules, PartKind::file), part(runtime_rules, PartKind::runtime),
                      std::move(params));

    const std::vector<Packet> packets = random_packets(rng, profile, rules, 3000);
    packets_total += packets.size();
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < packets.size(); ++i) {
      AclKey key{};
      const rules::PacketKey* packet = &packets[i].key;
      test::worker_key(table.reads_key_fields(packet->family), table.windows(), *packet, key);
      const auto* pointer = reinterpret_cast<const uint8_t*>(&key);
      uint32_t file_hit = 0;
      uint32_t runtime_hit = 0;
      table.file().classifier().classify(packet->family, &packet, &pointer, &file_hit, 1);
      table.runtime().classifier().classify(packet->family, &packet, &pointer, &runtime_hit, 1);
      const uint32_t hit = table.pick(file_hit, runtime_hit);
      // Back to the index in the one list.
      int32_t got = -1;
      if (hit != 0) {
        const std::size_t index = (hit & ~kRuntimeHit) - 1;
        got =
            static_cast<int32_t>((hit & kRuntimeHit) != 0 ? table.position(PartKind::runtime, index)
                                                          : table.position(PartKind::file, index));
      }
      const int32_t expected = rules::reference_match(rules, packets[i].key);
      if (got == expected) continue;
      if (++mismatches <= 5) {
        ADD_FAILURE() << "seed " << seed << " (runtime rules at " << at << ", " << length
                      << " of them), packet " << i << ": " << describe(packets[i].key)
                      << "\n  reference: " << describe_result(rules, expected)
                      << "\n  two parts: " << describe_result(rules, got)
                      << "\n  reproduce: UDPSIEVE_DIFF_SEED=" << seed;
      }
    }
    ASSERT_EQ(mismatches, 0U) << "seed " << seed;
  }
  EXPECT_GT(packets_total, 0U);
}

}  // namespace
}  // namespace udpsieve::dataplane
