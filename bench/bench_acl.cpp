// The compiled rule engine (rte_acl) under a private EAL:
//  - BM_Classify: one classify call per burst of 32 keys, by family and rule count, keys
//    half hitting some rule; ns/packet and packets/s;
//  - BM_BuildKeys: fill_key + fill_windows per packet, by number of payload windows;
//  - BM_ReadYaml: the YAML of a rule file of N rules read into nodes, by the subset reader
//    (reader:1) or by libyaml (reader:0), nothing else;
//  - BM_Reload: a rule file of N rules parsed (RuleCollector from YAML text), compiled (Table)
//    and swapped in (TablePublisher::publish), each phase reported in ms;
//  - BM_ReloadOneFile: the same when one rule file of N (10,000 rules each) changed, the others'
//    rules and the last build's facts reused as udpsieved reuses them.
// Rules look like a filter: a source prefix /16-/32 (IPv6 /32-/128) each, on about half of them
// one of 16 service ports or port ranges, no payload matches (they make rte_acl's build blow up
// among many address rules; see tests/dataplane/acl_differential_test.cpp). Random port ranges
// instead of a few services make 100,000 rules fail to compile (see the report).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/private_eal.hpp"
#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/dataplane/acl_classifier.hpp"
#include "udpsieve/dataplane/table.hpp"
#include "udpsieve/rules/rule_loader.hpp"
#include "udpsieve/rules/rule_set.hpp"

namespace {

using udpsieve::dataplane::AclClassifier;
using udpsieve::dataplane::AclKey;
using udpsieve::rules::Family;
using udpsieve::rules::PacketKey;
using udpsieve::rules::Prefix;
using udpsieve::rules::Range;
using udpsieve::rules::Rule;

constexpr std::size_t kBurst = 32;
constexpr std::size_t kKeys = 8192;  // more keys than fit in L1, cycled through

const std::vector<std::string> kPortNames = {"wan", "lan"};

/// A network prefix of `length` bits around a random address of `family`.
Prefix random_prefix(std::mt19937_64& rng, Family family, unsigned length) {
  Prefix p;
  p.family = family;
  p.length = static_cast<uint8_t>(length);
  const std::size_t bytes = family == Family::ipv4 ? 4 : 16;
  for (std::size_t b = 0; b < bytes; ++b)
    p.addr[b] = static_cast<uint8_t>(rng());
  for (std::size_t bit = length; bit < bytes * 8; ++bit) {
    p.addr[bit / 8] = static_cast<uint8_t>(p.addr[bit / 8] & ~(0x80u >> (bit % 8)));
  }
  return p;
}

/// The destination ports filters name: services, and the well-known / ephemeral split.
const std::vector<Range> kServices = {{53, 53},       {123, 123},   {161, 162},     {443, 443},
                                      {500, 500},     {1900, 1900}, {4500, 4500},   {5060, 5061},
                                      {11211, 11211}, {3478, 3479}, {19132, 19133}, {27015, 27030},
                                      {51820, 51820}, {8000, 8100}, {0, 1023},      {1024, 65535}};

/// `count` filter rules of `family` (or both, 80% IPv4, when `family` is none).
std::vector<Rule> filter_rules(std::size_t count, Family family, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Rule> rules(count);
  for (std::size_t i = 0; i < count; ++i) {
    Rule& r = rules[i];
    r.id = "r" + std::to_string(i);
    Family f = family;
    if (f == Family::none) f = rng() % 5 == 0 ? Family::ipv6 : Family::ipv4;
    const unsigned length = f == Family::ipv4 ? 16 + static_cast<unsigned>(rng() % 17)
                                              : 32 + static_cast<unsigned>(rng() % 97);
    r.match.src.push_back(random_prefix(rng, f, length));
    if (rng() % 2 == 0) r.match.dst_port.push_back(kServices[rng() % kServices.size()]);
    switch (rng() % 8) {
      case 0:
        r.action.kind = udpsieve::rules::ActionKind::forward;
        break;
      case 1:
        r.action.kind = udpsieve::rules::ActionKind::rate_limit;
        r.action.rate_limit.rate = 1000 + rng() % 100000;
        r.action.rate_limit.burst = 100 + rng() % 1000;
        break;
      default:
        r.action.kind = udpsieve::rules::ActionKind::drop;
        break;
    }
  }
  return rules;
}

/// An address inside `prefix` (host bits random).
std::array<uint8_t, 16> address_in(std::mt19937_64& rng, const Prefix& prefix) {
  std::array<uint8_t, 16> addr = prefix.addr;
  const std::size_t bits = prefix.family == Family::ipv4 ? 32 : 128;
  for (std::size_t bit = prefix.length; bit < bits; ++bit) {
    if (rng() % 2 == 0) addr[bit / 8] = static_cast<uint8_t>(addr[bit / 8] | (0x80u >> (bit % 8)));
  }
  return addr;
}

/// Keys of `family`: half taken from a random rule (so they hit), half random (they miss).
std::vector<PacketKey> filter_keys(const std::vector<Rule>& rules, Family family, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<const Rule*> of_family;
  for (const Rule& r : rules) {
    if (r.match.src.front().family == family) of_family.push_back(&r);
  }
  std::vector<PacketKey> keys(kKeys);
  for (PacketKey& k : keys) {
    k.family = family;
    k.has_ports = true;
    k.src_port = static_cast<uint16_t>(rng());
    k.dst_port = static_cast<uint16_t>(rng());
    k.l3_length = 100;
    k.ttl = 64;
    const std::size_t bytes = family == Family::ipv4 ? 4 : 16;
    for (std::size_t b = 0; b < bytes; ++b) {
      k.src[b] = static_cast<uint8_t>(rng());
      k.dst[b] = static_cast<uint8_t>(rng());
    }
    if (!of_family.empty() && rng() % 2 == 0) {
      const Rule& r = *of_family[rng() % of_family.size()];
      k.src = address_in(rng, r.match.src.front());
      if (!r.match.dst_port.empty()) {
        const Range& range = r.match.dst_port.front();
        k.dst_port = static_cast<uint16_t>(range.first + rng() % (range.last - range.first + 1U));
      }
    }
  }
  return keys;
}

/// A compiled rule set and its keys, built once per (family, rules) and kept for the run.
struct ClassifyFixture {
  std::unique_ptr<AclClassifier> classifier;
  std::vector<PacketKey> packets;
  std::vector<AclKey> keys;
  std::vector<const PacketKey*> packet_pointers;
  std::vector<const uint8_t*> pointers;
  double build_ms = 0;
  double hit_ratio = 0;
};

std::map<std::pair<int, std::size_t>, std::unique_ptr<ClassifyFixture>>& fixtures() {
  static std::map<std::pair<int, std::size_t>, std::unique_ptr<ClassifyFixture>> cache;
  return cache;
}

uint64_t next_id() {
  static uint64_t id = 0;
  return ++id;
}

ClassifyFixture& classify_fixture(Family family, std::size_t count) {
  auto& slot = fixtures()[{static_cast<int>(family), count}];
  if (slot) return *slot;
  slot = std::make_unique<ClassifyFixture>();
  const std::vector<Rule> rules = filter_rules(count, family, 42 + count);
  const auto started = std::chrono::steady_clock::now();
  slot->classifier = std::make_unique<AclClassifier>(rules, 0, "bench" + std::to_string(next_id()));
  slot->build_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  slot->packets = filter_keys(rules, family, 7 + count);
  const std::vector<PacketKey>& packets = slot->packets;
  slot->keys.resize(packets.size());
  for (std::size_t i = 0; i < packets.size(); ++i) {
    // As the worker: the key's fields only where rte_acl reads them (no payload windows here).
    if (slot->classifier->reads_key_fields(family)) {
      AclClassifier::fill_key(packets[i], slot->keys[i]);
    }
    slot->pointers.push_back(reinterpret_cast<const uint8_t*>(&slot->keys[i]));
    slot->packet_pointers.push_back(&packets[i]);
  }
  std::vector<uint32_t> results(packets.size());
  slot->classifier->classify(family, slot->packet_pointers.data(), slot->pointers.data(),
                             results.data(), static_cast<uint32_t>(results.size()));
  std::size_t hits = 0;
  for (uint32_t r : results)
    hits += r != 0 ? 1 : 0;
  slot->hit_ratio = static_cast<double>(hits) / static_cast<double>(results.size());
  return *slot;
}

void BM_Classify(benchmark::State& state) {
  const Family family = state.range(0) == 4 ? Family::ipv4 : Family::ipv6;
  const auto count = static_cast<std::size_t>(state.range(1));
  ClassifyFixture& f = classify_fixture(family, count);
  std::array<uint32_t, kBurst> results{};
  std::size_t next = 0;
  for (auto _ : state) {
    f.classifier->classify(family, f.packet_pointers.data() + next, f.pointers.data() + next,
                           results.data(), kBurst);
    benchmark::DoNotOptimize(results.data());
    next = (next + kBurst) % kKeys;
  }
  const auto packets = static_cast<double>(state.iterations()) * kBurst;
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  state.counters["ns_per_pkt"] =
      benchmark::Counter(packets, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["hit_ratio"] = f.hit_ratio;
  state.counters["build_ms"] = f.build_ms;
  state.counters["entries"] = static_cast<double>(
      family == Family::ipv4 ? f.classifier->info().entries_v4 : f.classifier->info().entries_v6);
  state.counters["acl_MB"] =
      static_cast<double>(f.classifier->info().memory_bytes) / (1024.0 * 1024.0);
  state.SetLabel(f.classifier->info().algorithm);
}
BENCHMARK(BM_Classify)
    ->ArgNames({"family", "rules"})
    ->ArgsProduct({{4, 6}, {10, 1000, 10000, 100000}});

/// fill_key + fill_windows per packet, with 0..4 payload windows to fill.
void BM_BuildKeys(benchmark::State& state) {
  const auto windows = static_cast<uint16_t>(state.range(0));
  std::vector<Rule> rules(std::max<uint16_t>(windows, 1));
  for (uint16_t w = 0; w < windows; ++w) {
    rules[w].id = "w" + std::to_string(w);
    rules[w].match.payload =
        udpsieve::rules::PayloadMatch{static_cast<uint16_t>(w * 12), {0x01, 0x02}, {0xff, 0xff}};
  }
  if (windows == 0) rules[0].id = "plain";
  const AclClassifier classifier(rules, 0, "keys" + std::to_string(next_id()));
  std::mt19937_64 rng(3);
  std::vector<std::vector<uint8_t>> payloads(kBurst);
  std::vector<PacketKey> packets(kBurst);
  for (std::size_t i = 0; i < kBurst; ++i) {
    payloads[i].resize(20 + rng() % 100);
    for (uint8_t& b : payloads[i])
      b = static_cast<uint8_t>(rng());
    PacketKey& k = packets[i];
    k.family = i % 4 == 0 ? Family::ipv6 : Family::ipv4;
    k.has_ports = true;
    k.src_port = static_cast<uint16_t>(rng());
    k.dst_port = static_cast<uint16_t>(rng());
    k.payload = payloads[i].data();
    k.payload_length = static_cast<uint16_t>(payloads[i].size());
    for (uint8_t& b : k.src)
      b = static_cast<uint8_t>(rng());
  }
  std::array<AclKey, kBurst> keys{};
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBurst; ++i) {
      AclClassifier::fill_key(packets[i], keys[i]);
      classifier.fill_windows(packets[i].payload, packets[i].payload_length, keys[i]);
    }
    benchmark::DoNotOptimize(keys.data());
    benchmark::ClobberMemory();
  }
  const auto done = static_cast<double>(state.iterations()) * kBurst;
  state.SetItemsProcessed(static_cast<int64_t>(done));
  state.counters["ns_per_pkt"] =
      benchmark::Counter(done, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_BuildKeys)->ArgName("windows")->DenseRange(0, 4);

/// A rule file of `count` filter rules (both families), as an operator would write it.
std::string rule_file(std::size_t count) {
  const std::vector<Rule> rules = filter_rules(count, Family::none, 1000 + count);
  std::string text = "rules:\n";
  text.reserve(count * 96);
  for (const Rule& r : rules) {
    text += "  - id: " + r.id + "\n    match: {src: " + r.match.src.front().to_string();
    if (!r.match.dst_port.empty()) text += ", dst_port: " + r.match.dst_port.front().to_string();
    text += "}\n    action: ";
    switch (r.action.kind) {
      case udpsieve::rules::ActionKind::drop:
        text += "drop\n";
        break;
      case udpsieve::rules::ActionKind::forward:
        text += "{forward: lan}\n";
        break;
      case udpsieve::rules::ActionKind::rate_limit:
        text += "{rate_limit: {pps: " + std::to_string(r.action.rate_limit.rate) +
                ", burst: " + std::to_string(r.action.rate_limit.burst) + "}}\n";
        break;
    }
  }
  return text;
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

/// Reload of a rule file of N rules: parse, compile, swap (the YAML text is made untimed).
void BM_Reload(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  const std::string text = rule_file(count);
  udpsieve::dataplane::TablePublisher publisher(2);
  double parse_ms = 0;
  double compile_ms = 0;
  double swap_ms = 0;
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    udpsieve::rules::RuleCollector collector(kPortNames);
    collector.add_document(udpsieve::YamlNode::load_string(text, "bench.yaml"));
    auto rule_set = std::make_shared<const udpsieve::rules::RuleSet>(
        collector.take(), udpsieve::rules::Verdict::forward, udpsieve::rules::Verdict::forward);
    const double parse = ms_since(start);

    start = std::chrono::steady_clock::now();
    udpsieve::dataplane::PartParams part;
    part.workers = 2;
    part.generation = 1000000 + next_id();
    part.socket = 0;
    auto file = std::make_shared<const udpsieve::dataplane::RulePart>(rule_set, part);
    part.kind = udpsieve::dataplane::PartKind::runtime;
    part.generation = 1000000 + next_id();
    auto runtime = std::make_shared<const udpsieve::dataplane::RulePart>(
        std::make_shared<const udpsieve::rules::RuleSet>(std::vector<udpsieve::rules::Rule>{},
                                                         udpsieve::rules::Verdict::forward,
                                                         udpsieve::rules::Verdict::forward),
        part);
    udpsieve::dataplane::TableParams params;
    params.forward_to = {1, 0};
    params.generation = 1000000 + next_id();
    auto table = std::make_unique<udpsieve::dataplane::Table>(std::move(file), std::move(runtime),
                                                              std::move(params));
    const double compile = ms_since(start);

    start = std::chrono::steady_clock::now();
    publisher.publish(std::move(table));
    const double swap = ms_since(start);

    state.SetIterationTime((parse + compile + swap) / 1000.0);
    parse_ms += parse;
    compile_ms += compile;
    swap_ms += swap;
    (void)publisher.reclaim();  // no reader is registered: frees the replaced table (untimed)
  }
  publisher.clear();
  state.counters["parse_ms"] = benchmark::Counter(parse_ms, benchmark::Counter::kAvgIterations);
  state.counters["compile_ms"] = benchmark::Counter(compile_ms, benchmark::Counter::kAvgIterations);
  state.counters["swap_ms"] = benchmark::Counter(swap_ms, benchmark::Counter::kAvgIterations);
  state.counters["yaml_MB"] = static_cast<double>(text.size()) / (1024.0 * 1024.0);
}
BENCHMARK(BM_Reload)->ArgName("rules")->Arg(1000)->Iterations(3)->UseManualTime()->Unit(
    benchmark::kMillisecond);
BENCHMARK(BM_Reload)->ArgName("rules")->Arg(10000)->Iterations(3)->UseManualTime()->Unit(
    benchmark::kMillisecond);
BENCHMARK(BM_Reload)->ArgName("rules")->Arg(100000)->Iterations(1)->UseManualTime()->Unit(
    benchmark::kMillisecond);

/// Rule file `f` of `count` rules as bench-reload.sh writes them: a source /24 and a destination
/// port each, ids unique across files.
std::string numbered_rule_file(std::size_t f, std::size_t count) {
  std::string text = "rules:\n";
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t r = f * count + i;
    text += "  - id: f" + std::to_string(f) + "r" + std::to_string(i) + "\n    match: {src: 10." +
            std::to_string(r / 256 % 256) + "." + std::to_string(r % 256) +
            ".0/24, dst_port: " + std::to_string(1000 + r % 50000) + "}\n    action: drop\n";
  }
  return text;
}

/// A reload where one rule file of N (10,000 rules each) changed, as udpsieved does it: that
/// file parsed, the others' rules taken from the last build (RuleCollector::add_parsed),
/// compiled with the last build's facts, swapped in. With files:1 it is that file alone.
/// Reading and comparing the unchanged files is not timed.
void BM_ReloadOneFile(benchmark::State& state) {
  constexpr std::size_t kPerFile = 10000;
  const auto files = static_cast<std::size_t>(state.range(0));
  const std::size_t changed = files / 2;
  std::vector<std::string> texts;
  for (std::size_t f = 0; f < files; ++f)
    texts.push_back(numbered_rule_file(f, kPerFile));
  udpsieve::dataplane::TablePublisher publisher(2);
  udpsieve::dataplane::PartParams part;
  part.workers = 2;
  part.socket = 0;
  std::vector<udpsieve::rules::RuleList::Block> blocks(files);
  std::shared_ptr<const udpsieve::dataplane::RulePart> last;
  auto runtime = std::make_shared<const udpsieve::dataplane::RulePart>(
      std::make_shared<const udpsieve::rules::RuleSet>(std::vector<udpsieve::rules::Rule>{},
                                                       udpsieve::rules::Verdict::forward,
                                                       udpsieve::rules::Verdict::forward),
      [&] {
        udpsieve::dataplane::PartParams p = part;
        p.kind = udpsieve::dataplane::PartKind::runtime;
        p.generation = 1000000 + next_id();
        return p;
      }());
  double parse_ms = 0;
  double compile_ms = 0;
  double swap_ms = 0;
  std::size_t round = 0;
  // The first build (every file parsed) is not timed.
  for (bool first = true;; first = false) {
    if (!first && !state.KeepRunning()) break;
    texts[changed] += "# change " + std::to_string(round++) + "\n";
    auto start = std::chrono::steady_clock::now();
    const std::shared_ptr<const udpsieve::rules::RuleSet> earlier =
        last != nullptr ? last->rules_ptr() : nullptr;
    udpsieve::rules::RuleCollector collector(kPortNames);
    for (std::size_t f = 0; f < files; ++f) {
      if (first || f == changed) {
        blocks[f] = collector.add_document(
            udpsieve::YamlNode::load_string(texts[f], "part" + std::to_string(f) + ".yaml"));
      } else if (!collector.add_parsed(blocks[f], {}, earlier)) {
        throw std::logic_error("BM_ReloadOneFile: an unchanged file's ids clash");
      }
    }
    auto rule_set = std::make_shared<const udpsieve::rules::RuleSet>(
        collector.take(), udpsieve::rules::Verdict::forward, udpsieve::rules::Verdict::forward,
        earlier.get());
    const double parse = ms_since(start);

    start = std::chrono::steady_clock::now();
    part.generation = 1000000 + next_id();
    part.earlier = last != nullptr ? last->facts() : nullptr;
    auto file = std::make_shared<const udpsieve::dataplane::RulePart>(rule_set, part);
    udpsieve::dataplane::TableParams params;
    params.forward_to = {1, 0};
    params.generation = 1000000 + next_id();
    auto table = std::make_unique<udpsieve::dataplane::Table>(file, runtime, std::move(params));
    const double compile = ms_since(start);

    start = std::chrono::steady_clock::now();
    publisher.publish(std::move(table));
    const double swap = ms_since(start);
    (void)publisher.reclaim();  // no reader is registered: frees the replaced table (untimed)
    last = std::move(file);
    if (first) continue;
    state.SetIterationTime((parse + compile + swap) / 1000.0);
    parse_ms += parse;
    compile_ms += compile;
    swap_ms += swap;
  }
  last.reset();
  publisher.clear();
  state.counters["parse_ms"] = benchmark::Counter(parse_ms, benchmark::Counter::kAvgIterations);
  state.counters["compile_ms"] = benchmark::Counter(compile_ms, benchmark::Counter::kAvgIterations);
  state.counters["swap_ms"] = benchmark::Counter(swap_ms, benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_ReloadOneFile)
    ->ArgName("files")
    ->Arg(1)
    ->Arg(10)
    ->Iterations(5)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

bool listing_only(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--benchmark_list_tests") == 0 ||
        std::strcmp(argv[i], "--benchmark_list_tests=true") == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const bool list = listing_only(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (list) {
    benchmark::RunSpecifiedBenchmarks();
    return 0;
  }
  // rte_acl's run-time tries for 100,000 rules need more than the tests' 1 GB.
  const std::string error = udpsieve::test::start_private_eal(argv[0], "udpsieve-bench-acl", 2048);
  if (!error.empty()) {
    std::fprintf(stderr, "bench_acl: %s\n", error.c_str());
    return 1;
  }
  int rc = 0;
  try {
    benchmark::RunSpecifiedBenchmarks();
  } catch (const std::exception& e) {  // a rule set rte_acl cannot build
    std::fprintf(stderr, "bench_acl: %s\n", e.what());
    rc = 1;
  }
  fixtures().clear();  // rte_acl contexts live in EAL memory: free them before EAL goes
  benchmark::Shutdown();
  udpsieve::test::stop_private_eal();
  return rc;
}

/// The YAML of a rule file of N rules read into a document's nodes by either reader.
void BM_ReadYaml(benchmark::State& state) {
  const std::string text = rule_file(static_cast<std::size_t>(state.range(0)));
  const bool subset = state.range(1) != 0;
  for (auto _ : state) {
    if (subset) {
      const std::optional<udpsieve::YamlNode> document =
          udpsieve::YamlNode::load_subset(text, "bench.yaml");
      if (!document) throw std::runtime_error("the bench's rule file is outside the subset");
      benchmark::DoNotOptimize(&*document);
    } else {
      const udpsieve::YamlNode document = udpsieve::YamlNode::load_with_libyaml(text, "bench.yaml");
      benchmark::DoNotOptimize(&document);
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_ReadYaml)
    ->ArgNames({"rules", "reader"})
    ->ArgsProduct({{10000, 100000}, {0, 1}})
    ->Unit(benchmark::kMillisecond);
