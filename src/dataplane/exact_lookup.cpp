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

/// Whether a hashed lookup can take `rule`: it pins nothing a hashed key cannot hold and
/// expands into at most kMaxExactEntriesPerRule entries.
bool hashable(const Rule& rule, const Signature& s, Family family) {
  const rules::Match& m = rule.match;
  if ((s.fields & ~kExactFields) != 0) return false;
  // A slot holds two 16-bit values besides the addresses: the source port or the length, and
  // the destination port.
  if ((s.fields & kPinsSrcPort) != 0 && (s.fields & kPinsLength) != 0) return false;
  // What the flags byte tests (rte_acl's flags field) has no place in a hashed key.
  if (m.fragment || !m.vlan.empty()) return false;
  std::size_t count =
      value_count(m.src_port, (s.fields & kPinsSrcPort) != 0, kMaxExactEntriesPerRule);
  count *= value_count(m.dst_port, (s.fields & kPinsDstPort) != 0, kMaxExactEntriesPerRule);
  if (count > kMaxExactEntriesPerRule) return false;
  count *= value_count(m.length, (s.fields & kPinsLength) != 0, kMaxExactEntriesPerRule);
  if (count > kMaxExactEntriesPerRule) return false;
  const auto in_family = [&](const std::vector<Prefix>& list, bool pinned) -> std::size_t {
    if (!pinned) return 1;
    return static_cast<std::size_t>(std::count_if(
        list.begin(), list.end(), [&](const Prefix& p) { return p.family == family; }));
  };
  count *= in_family(m.src, (s.fields & kPinsSrc) != 0);
  count *= in_family(m.dst, (s.fields & kPinsDst) != 0);
  return count <= kMaxExactEntriesPerRule;
}

/// Adds the entries of `uses` to `plan` (shapes in first-use order); `slots` maps shape ids
/// to the plan's shapes (kNoSlot for none yet).
constexpr uint32_t kNoSlot = ~uint32_t{0};
void add_to_plan(ExactPlan& plan, const std::vector<ExactPlan::Shape>& shapes,
                 std::vector<uint32_t>& slots, const ExactUses::Use* begin,
                 const ExactUses::Use* end) {
  for (const ExactUses::Use* use = begin; use != end; ++use) {
    if (slots.size() <= use->shape) slots.resize(use->shape + 1, kNoSlot);
    if (slots[use->shape] == kNoSlot) {
      slots[use->shape] = static_cast<uint32_t>(plan.shapes.size());
      plan.shapes.push_back(shapes[use->shape]);
      plan.shape_entries.push_back(0);
    }
    plan.shape_entries[slots[use->shape]] += use->entries;
    plan.entries += use->entries;
  }
}

}  // namespace

uint32_t ExactUses::shape_id(const ExactPlan::Shape& shape) {
  if (last_shape_ < shapes_.size() && shapes_[last_shape_] == shape) return last_shape_;
  const auto found = std::find(shapes_.begin(), shapes_.end(), shape);
  last_shape_ = static_cast<uint32_t>(found - shapes_.begin());
  if (found == shapes_.end()) shapes_.push_back(shape);
  return last_shape_;
}

void ExactUses::end_rule(bool qualifies) {
  qualifies_.push_back(qualifies ? 1 : 0);
  first_.push_back(static_cast<uint32_t>(uses_.size()));
  first_entry_.push_back(static_cast<uint32_t>(entries_.size()));
}

void ExactUses::add(const Rule& rule, const std::optional<Signature>& signature, Family family) {
  const bool qualifies = signature && hashable(rule, *signature, family);
  if (qualifies) {
    const std::size_t first = first_.back();
    for_each_entry(
        rule, *signature, family,
        [&](const ExactPlan::Shape& shape, const std::optional<Prefix>& src,
            const std::optional<Prefix>& dst, std::optional<uint16_t> sport,
            std::optional<uint16_t> dport, std::optional<uint16_t> length) {
          const uint32_t id = shape_id(shape);
          const auto use = std::find_if(uses_.begin() + static_cast<std::ptrdiff_t>(first),
                                        uses_.end(), [&](const Use& u) { return u.shape == id; });
          if (use == uses_.end()) {
            uses_.push_back({id, 1});
          } else {
            ++use->entries;
          }
          Entry entry{};
          entry.shape = id;
          entry.ports = uint32_t{sport.value_or(length.value_or(0))} << 16 | dport.value_or(0);
          const std::array<uint32_t, 4> src_mask = mask_words<4>(shape.src_length);
          const std::array<uint32_t, 4> dst_mask = mask_words<4>(shape.dst_length);
          entry.src = address_words<4>(src);
          entry.dst = address_words<4>(dst);
          for (unsigned w = 0; w < 4; ++w) {
            entry.src[w] &= src_mask[w];
            entry.dst[w] &= dst_mask[w];
          }
          entries_.push_back(entry);
        });
  }
  end_rule(qualifies);
}

void ExactUses::reserve(std::size_t rules, const ExactUses& like) {
  const std::size_t per = std::max<std::size_t>(like.size(), 1);
  qualifies_.reserve(rules);
  first_.reserve(rules + 1);
  first_entry_.reserve(rules + 1);
  // Rounded up, and a little more: the list grows no more than once.
  uses_.reserve((like.uses_.size() * rules + per - 1) / per * 9 / 8);
  entries_.reserve((like.entries_.size() * rules + per - 1) / per * 9 / 8);
}

void ExactUses::copy(const ExactUses& other, std::size_t at, std::size_t count) {
  if (mapped_from_ != &other) {
    mapped_from_ = &other;
    mapped_.clear();
  }
  const auto mapped = [&](uint32_t shape) {
    if (mapped_.size() <= shape) mapped_.resize(shape + 1, kNoSlot);
    if (mapped_[shape] == kNoSlot) mapped_[shape] = shape_id(other.shapes_[shape]);
    return mapped_[shape];
  };
  // The range's uses and entries are contiguous there, and go on contiguously here.
  const std::size_t uses_at = uses_.size();
  const std::size_t entries_at = entries_.size();
  for (const Use* use = other.uses_begin(at); use != other.uses_begin(at + count); ++use)
    uses_.push_back({mapped(use->shape), use->entries});
  for (const Entry* entry = other.entries_begin(at); entry != other.entries_begin(at + count);
       ++entry) {
    entries_.push_back(*entry);
    entries_.back().shape = mapped(entry->shape);
  }
  for (std::size_t r = at; r < at + count; ++r) {
    qualifies_.push_back(other.qualifies_[r]);
    first_.push_back(static_cast<uint32_t>(uses_at + other.first_[r + 1] - other.first_[at]));
    first_entry_.push_back(
        static_cast<uint32_t>(entries_at + other.first_entry_[r + 1] - other.first_entry_[at]));
  }
}

std::optional<ExactPlan> plan_exact(const ExactUses& uses,
                                    const std::vector<std::size_t>& members) {
  ExactPlan plan;
  std::vector<uint32_t> slots;
  for (const std::size_t i : members) {
    if (!uses.qualifies(i)) return std::nullopt;
    add_to_plan(plan, uses.shapes(), slots, uses.uses_begin(i), uses.uses_end(i));
    if (plan.shapes.size() > kMaxExactShapes) return std::nullopt;
  }
  return plan;
}

ExactSplit split_exact(const Signatures& signatures, const ExactUses& uses) {
  std::vector<std::size_t> weights(uses.shapes().size(), 0);  // by shape
  std::vector<std::size_t> candidates;
  ExactSplit split;
  for (std::size_t i = 0; i < uses.size(); ++i) {
    if (!signatures[i]) continue;
    if (!uses.qualifies(i)) {
      split.rest.push_back(i);
      continue;
    }
    std::size_t entries = 0;
    for (const ExactUses::Use* use = uses.uses_begin(i); use != uses.uses_end(i); ++use)
      entries += use->entries;
    const auto shapes = static_cast<std::size_t>(uses.uses_end(i) - uses.uses_begin(i));
    for (const ExactUses::Use* use = uses.uses_begin(i); use != uses.uses_end(i); ++use)
      weights[use->shape] += entries / shapes + 1;
    candidates.push_back(i);
  }
  // The heaviest shapes, as many as one lookup probes; rules with any other shape stay out.
  std::vector<uint32_t> heaviest(weights.size());
  for (uint32_t id = 0; id < heaviest.size(); ++id)
    heaviest[id] = id;
  std::stable_sort(heaviest.begin(), heaviest.end(),
                   [&](uint32_t a, uint32_t b) { return weights[a] > weights[b]; });
  std::vector<bool> kept(weights.size(), false);
  for (std::size_t k = 0; k < heaviest.size() && k < kMaxExactShapes; ++k)
    kept[heaviest[k]] = true;
  std::vector<uint32_t> slots;
  for (const std::size_t i : candidates) {
    const bool fits = std::all_of(uses.uses_begin(i), uses.uses_end(i),
                                  [&](const ExactUses::Use& use) { return kept[use.shape]; });
    if (!fits) {
      split.rest.push_back(i);
      continue;
    }
    split.members.push_back(i);
    add_to_plan(split.plan, uses.shapes(), slots, uses.uses_begin(i), uses.uses_end(i));
  }
  std::sort(split.rest.begin(), split.rest.end());
  return split;
}

template <unsigned Words>
ExactLookup<Words>::ExactLookup(const rules::RuleList& rules, const ExactUses& uses,
                                const std::vector<std::size_t>& members, const ExactPlan& plan,
                                const std::vector<uint16_t>& windows, std::array<uint64_t, 2> seed)
    : seed_(seed) {
  // The plan counted each shape's entries: each table is sized at most half full.
  const std::vector<std::size_t>& sizes = plan.shape_entries;
  if (sizes.size() != plan.shapes.size())
    throw std::logic_error("exact lookup: a plan without entries per shape");
  // The table of each of the entries' shapes.
  std::vector<uint32_t> table_of(uses.shapes().size(), kNoSlot);
  for (std::size_t id = 0; id < table_of.size(); ++id) {
    const auto found = std::find(plan.shapes.begin(), plan.shapes.end(), uses.shapes()[id]);
    if (found != plan.shapes.end())
      table_of[id] = static_cast<uint32_t>(found - plan.shapes.begin());
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
  // Entries are inserted in batches, each entry's slot fetched when it is queued: a table
  // larger than the cache then costs overlapping misses, not one after another.
  struct Pending {
    Table* table;
    Slot key;
    Payload payload;
    uint64_t hash;
  };
  constexpr std::size_t kBatch = 16;
  std::array<Pending, kBatch> pending;
  std::size_t queued = 0;
  const auto drain = [&] {
    for (std::size_t k = 0; k < queued; ++k)
      insert(*pending[k].table, pending[k].key, pending[k].payload, pending[k].hash);
    queued = 0;
  };
  for (const std::size_t i : members) {
    for (const ExactUses::Entry* e = uses.entries_begin(i); e != uses.entries_end(i); ++e) {
      if (table_of[e->shape] == kNoSlot)
        throw std::logic_error("exact lookup: an entry of a shape the plan does not have");
      Table& table = tables_[table_of[e->shape]];
      Pending& entry = pending[queued];
      entry.table = &table;
      Slot& key = entry.key;
      std::copy_n(e->src.begin(), Words, key.src.begin());
      std::copy_n(e->dst.begin(), Words, key.dst.begin());
      key.ports = e->ports;
      key.rule = static_cast<uint32_t>(i + 1);
      entry.payload = Payload{};
      if (table.payload) {  // a value with a bit outside its mask never matches, as it should
        const std::vector<uint8_t>& value = rules[i].match.payload->value;
        std::memcpy(entry.payload.data(), value.data(), value.size());
      }
      entry.hash = hash(table, key, entry.payload);
      __builtin_prefetch(&table.slots[entry.hash & table.mask], 1);
      ++entries_;
      if (++queued == kBatch) drain();
    }
  }
  drain();
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
void ExactLookup<Words>::insert(Table& table, const Slot& key, const Payload& payload, uint64_t h) {
  add_prefix(table, key);
  table.filter[h >> table.filter_shift >> 6] |= uint64_t{1} << (h >> table.filter_shift & 63);
  for (std::size_t at = h & table.mask;; at = (at + 1) & table.mask) {
    Slot& slot = table.slots[at];
    if (slot.rule == 0) {
      slot = key;
      if (table.payload) table.payloads[at] = payload;
      return;
    }
    if (holds(table, at, key, payload)) {
      slot.rule = std::min(slot.rule, key.rule);
      return;
    }
  }
}

template <unsigned Words>
[[gnu::always_inline]] inline void ExactLookup<Words>::masked(const Table& table,
                                                              const rules::PacketKey& packet,
                                                              const uint8_t* key, Slot& out,
                                                              Payload& payload) const noexcept {
  std::memcpy(out.src.data(), packet.src.data(), sizeof out.src);
  std::memcpy(out.dst.data(), packet.dst.data(), sizeof out.dst);
  for (unsigned w = 0; w < Words; ++w) {
    out.src[w] &= table.src_mask[w];
    out.dst[w] &= table.dst_mask[w];
  }
  // The source port, or the length where the shape pins that instead.
  const uint16_t high = table.shape.length ? packet.l3_length : packet.src_port;
  out.ports = (uint32_t{high} << 16 | packet.dst_port) & table.ports_mask;
  if (table.payload) {
    std::memcpy(payload.data(), key + offsetof(AclKey, payload) + 16 * table.window,
                sizeof payload);
    payload[0] &= table.payload_mask[0];
    payload[1] &= table.payload_mask[1];
  }
}

template <unsigned Words>
void ExactLookup<Words>::classify(const rules::PacketKey* const* packets,
                                  const uint8_t* const* keys, uint32_t* results,
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
        const rules::PacketKey& packet = *packets[done + i];
        if (table.shape.needs_ports && !packet.has_ports) {
          at[i] = ~std::size_t{0};
          continue;
        }
        // The payload must hold every byte the entries match.
        if (table.payload && packet.payload_length < table.shape.payload_end) {
          at[i] = ~std::size_t{0};
          continue;
        }
        masked(table, packet, keys[done + i], probe[i], payload[i]);
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
