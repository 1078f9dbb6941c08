// Rule matching cost per packet of the reference matcher (the oracle the rte_acl classifier is
// tested against), over rule sets of growing size. Keys are drawn so about half match some rule.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "udpsieve/rules/matcher.hpp"

namespace {

using udpsieve::rules::Family;
using udpsieve::rules::PacketKey;
using udpsieve::rules::Prefix;
using udpsieve::rules::Range;
using udpsieve::rules::Rule;

constexpr std::size_t kBurst = 32;

Prefix v4_prefix(uint32_t address, uint8_t length) {
  Prefix p;
  p.family = Family::ipv4;
  p.length = length;
  const uint32_t mask = length == 0 ? 0 : ~uint32_t{0} << (32 - length);
  const uint32_t network = address & mask;
  p.addr[0] = static_cast<uint8_t>(network >> 24);
  p.addr[1] = static_cast<uint8_t>(network >> 16);
  p.addr[2] = static_cast<uint8_t>(network >> 8);
  p.addr[3] = static_cast<uint8_t>(network);
  return p;
}

/// `count` rules: a /24 source, a /16 destination and a port range each.
std::vector<Rule> make_rules(std::size_t count, std::mt19937& rng) {
  std::vector<Rule> rules(count);
  for (std::size_t i = 0; i < count; ++i) {
    Rule& r = rules[i];
    r.id = "r" + std::to_string(i);
    r.match.src.push_back(v4_prefix(static_cast<uint32_t>(rng()), 24));
    r.match.dst.push_back(v4_prefix(static_cast<uint32_t>(rng()), 16));
    const auto low = static_cast<uint16_t>(rng() % 60000);
    r.match.dst_port.push_back(Range{low, static_cast<uint16_t>(low + 100)});
  }
  return rules;
}

/// Keys that hit a random rule half of the time and miss everything otherwise.
std::vector<PacketKey> make_keys(const std::vector<Rule>& rules, std::size_t count,
                                 std::mt19937& rng) {
  std::vector<PacketKey> keys(count);
  for (PacketKey& key : keys) {
    key.family = Family::ipv4;
    key.has_ports = true;
    key.src_port = static_cast<uint16_t>(rng());
    if (!rules.empty() && rng() % 2 == 0) {
      const Rule& r = rules[rng() % rules.size()];
      key.src = r.match.src[0].addr;
      key.dst = r.match.dst[0].addr;
      key.dst_port = r.match.dst_port[0].first;
    } else {
      for (int b = 0; b < 4; ++b) {
        key.src[static_cast<std::size_t>(b)] = static_cast<uint8_t>(rng());
        key.dst[static_cast<std::size_t>(b)] = static_cast<uint8_t>(rng());
      }
      key.dst_port = static_cast<uint16_t>(rng());
    }
  }
  return keys;
}

void BM_ReferenceMatcher(benchmark::State& state) {
  std::mt19937 rng(42);
  const auto rules = make_rules(static_cast<std::size_t>(state.range(0)), rng);
  const auto keys = make_keys(rules, 4096, rng);
  std::size_t next = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBurst; ++i) {
      benchmark::DoNotOptimize(udpsieve::rules::reference_match(rules, keys[(next + i) % 4096]));
    }
    next = (next + kBurst) % keys.size();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBurst));
}
BENCHMARK(BM_ReferenceMatcher)->Arg(1)->Arg(10)->Arg(100)->Arg(1000);

}  // namespace
