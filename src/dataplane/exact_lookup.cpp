// Tuple-space lookups for address and port rules (see exact_lookup.hpp).
#include "udpsieve/dataplane/exact_lookup.hpp"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

#include "udpsieve/dataplane/fold_mix.hpp"
#include "udpsieve/dataplane/rule_limits.hpp"

namespace udpsieve::dataplane {
namespace {

using rules::Family;
using rules::Prefix;
using rules::Range;
using rules::Rule;

/// Tables from this size up go in huge pages of their own.
constexpr std::size_t kHugeTableBytes = std::size_t{512} << 10;

constexpr uint16_t kExactFields =
    kPinsSrc | kPinsDst | kPinsSrcPort | kPinsDstPort | kPinsLength | kPinsPayload;

/// Calls `body` with each value of a pinned port or length list (its ranges spelled out), or
/// once with nullopt (any value). No list is built: this runs for every rule, thrice a build.
template <typename Body>
void each_value(const std::vector<Range>& list, bool pinned, Body&& body) {
  if (!pinned) {
    body(std::optional<uint16_t>{});
    return;
  }
  for (const Range& r : list) {
    for (uint32_t v = r.first; v <= r.last; ++v)
      body(std::optional<uint16_t>(static_cast<uint16_t>(v)));
  }
}

/// Values a pinned port or length list spells out (saturating above `cap`).
std::size_t value_count(const std::vector<Range>& list, bool pinned, std::size_t cap) {
  if (!pinned) return 1;
  std::size_t n = 0;
  for (const Range& r : list) {
    n += std::size_t{r.last} - r.first + 1;
    if (n > cap) return cap + 1;
  }
  return n;
}

/// Calls `entry(shape, src, dst, src_port, dst_port, length)` for each entry `rule` expands
/// into.
template <typename Entry>
void for_each_entry(const Rule& rule, const Signature& s, Family family, Entry&& entry) {
  const rules::Match& m = rule.match;
  ExactPlan::Shape base;
  base.needs_ports = !m.src_port.empty() || !m.dst_port.empty() || m.payload;
  if (m.payload) {
    base.payload_offset = m.payload->offset;
    base.payload_end = static_cast<uint16_t>(m.payload->offset + m.payload->value.size());
    std::copy(m.payload->mask.begin(), m.payload->mask.end(), base.payload_mask.begin());
  }
  const auto pinned = [&](uint16_t field) { return (s.fields & field) != 0; };
  each_prefix(m.src, pinned(kPinsSrc), family, [&](const std::optional<Prefix>& src) {
    each_prefix(m.dst, pinned(kPinsDst), family, [&](const std::optional<Prefix>& dst) {
      each_value(m.src_port, pinned(kPinsSrcPort), [&](std::optional<uint16_t> sport) {
        each_value(m.dst_port, pinned(kPinsDstPort), [&](std::optional<uint16_t> dport) {
          each_value(m.length, pinned(kPinsLength), [&](std::optional<uint16_t> length) {
            ExactPlan::Shape shape = base;
            shape.src_length = static_cast<uint8_t>(src ? src->length : 0);
            shape.dst_length = static_cast<uint8_t>(dst ? dst->length : 0);
            shape.src_port = sport.has_value();
            shape.dst_port = dport.has_value();
            shape.length = length.has_value();
            entry(shape, src, dst, sport, dport, length);
          });
        });
      });
    });
  });
}

/// The address words of a prefix's first `Words` words, masked to its length (network order).
template <unsigned Words>
std::array<uint32_t, Words> address_words(const std::optional<Prefix>& prefix) {
  std::array<uint32_t, Words> words{};
  if (!prefix) return words;
  std::memcpy(words.data(), prefix->addr.data(), sizeof words);
  return words;
}

/// The mask of a `length`-bit prefix over `Words` words, in network byte order.
template <unsigned Words>
std::array<uint32_t, Words> mask_words(unsigned length) {
  std::array<uint32_t, Words> words{};
  for (unsigned w = 0; w < Words; ++w) {
    const unsigned bits = std::min(32U, length > 32 * w ? length - 32 * w : 0U);
    const uint32_t host = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
    words[w] = __builtin_bswap32(host);
  }
  return words;
}

}  // namespace

namespace {

/// The entries `rule` expands into for a hashed lookup, or nullopt when it pins something a
/// hashed key cannot hold or expands into too many.
std::optional<std::size_t> exact_entries(const Rule& rule, const Signature& s, Family family) {
  const rules::Match& m = rule.match;
  if ((s.fields & ~kExactFields) != 0) return std::nullopt;
  // A slot holds two 16-bit values besides the addresses: the source port or the length, and
  // the destination port.
  if ((s.fields & kPinsSrcPort) != 0 && (s.fields & kPinsLength) != 0) return std::nullopt;
  // What the flags byte tests (rte_acl's flags field) has no place in a hashed key.
  if (m.fragment || !m.vlan.empty()) return std::nullopt;
  std::size_t count =
      value_count(m.src_port, (s.fields & kPinsSrcPort) != 0, kMaxExactEntriesPerRule);
  count *= value_count(m.dst_port, (s.fields & kPinsDstPort) != 0, kMaxExactEntriesPerRule);
  if (count > kMaxExactEntriesPerRule) return std::nullopt;
  count *= value_count(m.length, (s.fields & kPinsLength) != 0, kMaxExactEntriesPerRule);
  if (count > kMaxExactEntriesPerRule) return std::nullopt;
  const auto in_family = [&](const std::vector<Prefix>& list, bool pinned) -> std::size_t {
    if (!pinned) return 1;
    return static_cast<std::size_t>(std::count_if(
        list.begin(), list.end(), [&](const Prefix& p) { return p.family == family; }));
  };
  count *= in_family(m.src, (s.fields & kPinsSrc) != 0);
  count *= in_family(m.dst, (s.fields & kPinsDst) != 0);
  if (count > kMaxExactEntriesPerRule) return std::nullopt;
  return count;
}

/// Adds `shape` to `shapes` unless it is there; true when it was added.
bool add_shape(std::vector<ExactPlan::Shape>& shapes, const ExactPlan::Shape& shape) {
  if (std::find(shapes.begin(), shapes.end(), shape) != shapes.end()) return false;
  shapes.push_back(shape);
  return true;
}

/// The distinct shapes of `rule`'s entries.
std::vector<ExactPlan::Shape> shapes_of(const Rule& rule, const Signature& s, Family family) {
  std::vector<ExactPlan::Shape> shapes;
  for_each_entry(rule, s, family,
                 [&](const ExactPlan::Shape& shape, auto&&...) { (void)add_shape(shapes, shape); });
  return shapes;
}

}  // namespace

std::optional<ExactPlan> plan_exact(const rules::RuleList& rules, const Signatures& signatures,
                                    const std::vector<std::size_t>& members, Family family) {
  ExactPlan plan;
  for (const std::size_t i : members) {
    const std::optional<Signature>& s = signatures[i];
    if (!s) return std::nullopt;
    const std::optional<std::size_t> count = exact_entries(rules[i], *s, family);
    if (!count) return std::nullopt;
    for (const ExactPlan::Shape& shape : shapes_of(rules[i], *s, family)) {
      if (add_shape(plan.shapes, shape) && plan.shapes.size() > kMaxExactShapes)
        return std::nullopt;
    }
    plan.entries += *count;
  }
  return plan;
}

ExactSplit split_exact(const rules::RuleList& rules, const Signatures& signatures, Family family) {
  struct Candidate {
    std::size_t index;
    std::size_t entries;
    std::vector<ExactPlan::Shape> shapes;
  };
  std::vector<Candidate> candidates;
  std::vector<std::pair<ExactPlan::Shape, std::size_t>> weights;  // entries per shape
  ExactSplit split;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const std::optional<Signature>& s = signatures[i];
    if (!s) continue;
    const std::optional<std::size_t> count = exact_entries(rules[i], *s, family);
    if (!count) {
      split.rest.push_back(i);
      continue;
    }
    Candidate candidate{i, *count, shapes_of(rules[i], *s, family)};
    for (const ExactPlan::Shape& shape : candidate.shapes) {
      auto weight = std::find_if(weights.begin(), weights.end(),
                                 [&](const auto& w) { return w.first == shape; });
      if (weight == weights.end()) weight = weights.insert(weights.end(), {shape, 0});
      weight->second += *count / candidate.shapes.size() + 1;
    }
    candidates.push_back(std::move(candidate));
  }
  // The heaviest shapes, as many as one lookup probes; rules with any other shape stay out.
  std::stable_sort(weights.begin(), weights.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (weights.size() > kMaxExactShapes) weights.resize(kMaxExactShapes);
  for (const Candidate& candidate : candidates) {
    const bool fits = std::all_of(
        candidate.shapes.begin(), candidate.shapes.end(), [&](const ExactPlan::Shape& shape) {
          return std::any_of(weights.begin(), weights.end(),
                             [&](const auto& w) { return w.first == shape; });
        });
    if (!fits) {
      split.rest.push_back(candidate.index);
      continue;
    }
    split.members.push_back(candidate.index);
    split.plan.entries += candidate.entries;
    for (const ExactPlan::Shape& shape : candidate.shapes)
      (void)add_shape(split.plan.shapes, shape);
  }
  std::sort(split.rest.begin(), split.rest.end());
  return split;
}

template <unsigned Words>
ExactLookup<Words>::ExactLookup(const rules::RuleList& rules, const Signatures& signatures,
                                const std::vector<std::size_t>& members, const ExactPlan& plan,
                                const std::vector<uint16_t>& windows, std::array<uint64_t, 2> seed)
    : seed_(seed) {
  const Family family = Words == 1 ? Family::ipv4 : Family::ipv6;
  // Entries per shape first, to size each table at most half full.
  std::vector<std::size_t> sizes(plan.shapes.size(), 0);
  const auto shape_index = [&](const ExactPlan::Shape& shape) {
    return static_cast<std::size_t>(std::find(plan.shapes.begin(), plan.shapes.end(), shape) -
                                    plan.shapes.begin());
  };
  for (const std::size_t i : members) {
    for_each_entry(rules[i], *signatures[i], family,
                   [&](const ExactPlan::Shape& shape, auto&&...) { ++sizes[shape_index(shape)]; });
  }
  tables_.resize(plan.shapes.size());
  for (std::size_t t = 0; t < tables_.size(); ++t) {
    Table& table = tables_[t];
    table.shape = plan.shapes[t];
    table.src_mask = mask_words<Words>(table.shape.src_length);
    table.dst_mask = mask_words<Words>(table.shape.dst_length);
    table.ports_mask = (table.shape.src_port || table.shape.length ? 0xffff0000U : 0U) |
                       (table.shape.dst_port ? 0xffffU : 0U);
    const std::size_t slots = std::bit_ceil(std::max<std::size_t>(16, 2 * sizes[t]));
    table.mask = slots - 1;
    // Either way zeroed: every slot's rule 0.
    if (slots * sizeof(Slot) >= kHugeTableBytes) {
      table.huge = std::make_unique<HugeRegion>(slots * sizeof(Slot));
      table.slots = static_cast<Slot*>(table.huge->data());
    } else {
      table.heap = std::make_unique<Slot[]>(slots);
      table.slots = table.heap.get();
    }
    const std::size_t filter_bits = std::bit_ceil(std::max<std::size_t>(1 << 16, 8 * sizes[t]));
    table.filter.assign(filter_bits / 64, 0);
    table.filter_shift = static_cast<unsigned>(64 - std::countr_zero(filter_bits));
    table.by_src = table.shape.src_length != 0;
    if (table.by_src || table.shape.dst_length != 0) table.prefixes.assign(1024, 0);
    table.payload = table.shape.payload_end != 0;
    if (table.payload) {
      const auto window = std::find(windows.begin(), windows.end(), table.shape.payload_offset);
      if (window == windows.end())
        throw std::logic_error("exact lookup: no payload window at offset " +
                               std::to_string(table.shape.payload_offset));
      table.window = static_cast<std::size_t>(window - windows.begin());
      std::memcpy(table.payload_mask.data(), table.shape.payload_mask.data(),
                  sizeof table.payload_mask);
      table.payloads.assign(slots, Payload{});
    }
  }
  for (const std::size_t i : members) {
    for_each_entry(
        rules[i], *signatures[i], family,
        [&](const ExactPlan::Shape& shape, const std::optional<Prefix>& src,
            const std::optional<Prefix>& dst, std::optional<uint16_t> sport,
            std::optional<uint16_t> dport, std::optional<uint16_t> length) {
          Table& table = tables_[shape_index(shape)];
          Slot key{};
          key.src = address_words<Words>(src);
          key.dst = address_words<Words>(dst);
          for (unsigned w = 0; w < Words; ++w) {
            key.src[w] &= table.src_mask[w];
            key.dst[w] &= table.dst_mask[w];
          }
          key.ports = uint32_t{sport.value_or(length.value_or(0))} << 16 | dport.value_or(0);
          Payload payload{};
          if (table.payload) {  // a value with a bit outside its mask never matches, as it should
            const std::vector<uint8_t>& value = rules[i].match.payload->value;
            std::memcpy(payload.data(), value.data(), value.size());
          }
          insert(table, key, payload, static_cast<uint32_t>(i + 1));
          ++entries_;
        });
  }
}

template <unsigned Words>
[[gnu::always_inline]] inline uint64_t ExactLookup<Words>::hash(
    const Table& table, const Slot& key, const Payload& payload) const noexcept {
  const uint64_t multiplier = seed_[1] | 1;
  uint64_t h = fold(seed_[0] ^ key.ports, multiplier);
  for (unsigned w = 0; w < Words; ++w) {
    h = fold(h ^ (uint64_t{key.src[w]} << 32 | key.dst[w]), multiplier);
  }
  if (table.payload) {
    h = fold(h ^ payload[0], multiplier);
    h = fold(h ^ payload[1], multiplier);
  }
  return h;
}

namespace {

/// The first 16 bits of an address word in network byte order.
uint32_t first16(uint32_t word) noexcept {
  return __builtin_bswap32(word) >> 16;
}

}  // namespace

template <unsigned Words>
[[gnu::always_inline]] inline bool ExactLookup<Words>::prefix_may_hold(const Table& table,
                                                                       const Slot& key) noexcept {
  if (table.prefixes.empty()) return true;
  const uint32_t bits = first16(table.by_src ? key.src[0] : key.dst[0]);
  return (table.prefixes[bits >> 6] & uint64_t{1} << (bits & 63)) != 0;
}

template <unsigned Words>
void ExactLookup<Words>::add_prefix(Table& table, const Slot& key) noexcept {
  if (table.prefixes.empty()) return;
  const uint32_t bits = first16(table.by_src ? key.src[0] : key.dst[0]);
  table.prefixes[bits >> 6] |= uint64_t{1} << (bits & 63);
}

template <unsigned Words>
[[gnu::always_inline]] inline bool ExactLookup<Words>::holds(const Table& table, std::size_t at,
                                                             const Slot& key,
                                                             const Payload& payload) noexcept {
  const Slot& slot = table.slots[at];
  bool equal = slot.ports == key.ports;
  for (unsigned w = 0; w < Words; ++w)
    equal &= slot.src[w] == key.src[w] && slot.dst[w] == key.dst[w];
  if (equal && table.payload) equal = table.payloads[at] == payload;
  return equal;
}

template <unsigned Words>
void ExactLookup<Words>::insert(Table& table, const Slot& key, const Payload& payload,
                                uint32_t rule) {
  add_prefix(table, key);
  const uint64_t h = hash(table, key, payload);
  table.filter[h >> table.filter_shift >> 6] |= uint64_t{1} << (h >> table.filter_shift & 63);
  for (std::size_t at = h & table.mask;; at = (at + 1) & table.mask) {
    Slot& slot = table.slots[at];
    if (slot.rule == 0) {
      slot = key;
      slot.rule = rule;
      if (table.payload) table.payloads[at] = payload;
      return;
    }
    if (holds(table, at, key, payload)) {
      slot.rule = std::min(slot.rule, rule);
      return;
    }
  }
}

template <unsigned Words>
[[gnu::always_inline]] inline void ExactLookup<Words>::masked(const Table& table,
                                                              const uint8_t* key, Slot& out,
                                                              Payload& payload) const noexcept {
  std::memcpy(out.src.data(), key + offsetof(AclKey, src), sizeof out.src);
  std::memcpy(out.dst.data(), key + offsetof(AclKey, dst), sizeof out.dst);
  for (unsigned w = 0; w < Words; ++w) {
    out.src[w] &= table.src_mask[w];
    out.dst[w] &= table.dst_mask[w];
  }
  uint16_t high = 0;  // the source port, or the length where the shape pins that instead
  uint16_t dport = 0;
  std::memcpy(&high,
              key + (table.shape.length ? offsetof(AclKey, l3_length) : offsetof(AclKey, src_port)),
              sizeof high);
  std::memcpy(&dport, key + offsetof(AclKey, dst_port), sizeof dport);
  out.ports =
      (uint32_t{__builtin_bswap16(high)} << 16 | __builtin_bswap16(dport)) & table.ports_mask;
  if (table.payload) {
    std::memcpy(payload.data(), key + offsetof(AclKey, payload) + 16 * table.window,
                sizeof payload);
    payload[0] &= table.payload_mask[0];
    payload[1] &= table.payload_mask[1];
  }
}

template <unsigned Words>
void ExactLookup<Words>::classify(const uint8_t* const* keys, uint32_t* results,
                                  uint32_t count) const noexcept {
  constexpr uint32_t kChunk = 32;
  std::array<Slot, kChunk> probe;
  std::array<Payload, kChunk> payload;
  std::array<std::size_t, kChunk> at;
  for (const Table& table : tables_) {
    for (uint32_t done = 0; done < count; done += kChunk) {
      const uint32_t n = std::min(kChunk, count - done);
      // Hash the chunk's keys and start loading their slots, then probe: the loads overlap.
      for (uint32_t i = 0; i < n; ++i) {
        const uint8_t* key = keys[done + i];
        if (table.shape.needs_ports && (key[offsetof(AclKey, flags)] & kAclFlagHasPorts) == 0) {
          at[i] = ~std::size_t{0};
          continue;
        }
        if (table.payload) {  // the payload must hold every byte the entries match
          uint32_t length = 0;
          std::memcpy(&length, key + offsetof(AclKey, payload_length), sizeof length);
          if (__builtin_bswap32(length) < table.shape.payload_end) {
            at[i] = ~std::size_t{0};
            continue;
          }
        }
        masked(table, key, probe[i], payload[i]);
        if (!prefix_may_hold(table, probe[i])) {
          at[i] = ~std::size_t{0};
          continue;
        }
        const uint64_t h = hash(table, probe[i], payload[i]);
        const uint64_t bit = h >> table.filter_shift;
        if ((table.filter[bit >> 6] & uint64_t{1} << (bit & 63)) == 0) {
          at[i] = ~std::size_t{0};
          continue;
        }
        at[i] = h & table.mask;
        __builtin_prefetch(&table.slots[at[i]]);
      }
      for (uint32_t i = 0; i < n; ++i) {
        if (at[i] == ~std::size_t{0}) continue;
        for (std::size_t s = at[i];; s = (s + 1) & table.mask) {
          const Slot& slot = table.slots[s];
          if (slot.rule == 0) break;
          if (holds(table, s, probe[i], payload[i])) {
            uint32_t& result = results[done + i];
            if (result == 0 || slot.rule < result) result = slot.rule;
            break;
          }
        }
      }
    }
  }
}

template <unsigned Words>
std::size_t ExactLookup<Words>::memory_bytes() const noexcept {
  std::size_t bytes = 0;
  for (const Table& table : tables_)
    bytes += (table.mask + 1) * sizeof(Slot) + table.payloads.size() * sizeof(Payload) +
             (table.filter.size() + table.prefixes.size()) * sizeof(uint64_t);
  return bytes;
}

template class ExactLookup<1>;
template class ExactLookup<4>;

}  // namespace udpsieve::dataplane
