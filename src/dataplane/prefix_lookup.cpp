// Binary search on prefix lengths for one-address rules (see prefix_lookup.hpp).
#include "udpsieve/dataplane/prefix_lookup.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <utility>

#include "udpsieve/dataplane/fold_mix.hpp"

namespace udpsieve::dataplane {
namespace {

using rules::Family;
using rules::Prefix;
using rules::Range;

constexpr uint16_t kPortFields = kPinsSrcPort | kPinsDstPort;
/// The first address bits a block stands for.
constexpr unsigned kBlockBits = 16;

template <unsigned Words>
using Address = std::array<uint32_t, Words>;

/// The mask of a `length`-bit prefix over `Words` words, host byte order.
template <unsigned Words>
Address<Words> host_mask(unsigned length) {
  Address<Words> words{};
  for (unsigned w = 0; w < Words; ++w) {
    const unsigned bits = std::min(32U, length > 32 * w ? length - 32 * w : 0U);
    words[w] = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  }
  return words;
}

template <unsigned Words>
Address<Words> masked(const Address<Words>& address, const Address<Words>& mask) {
  Address<Words> out;
  for (unsigned w = 0; w < Words; ++w)
    out[w] = address[w] & mask[w];
  return out;
}

/// The first `Words` words of 16 address bytes, host byte order.
template <unsigned Words>
Address<Words> host_words(const std::array<uint8_t, 16>& bytes) {
  Address<Words> words;
  std::memcpy(words.data(), bytes.data(), sizeof words);
  for (uint32_t& w : words)
    w = __builtin_bswap32(w);
  return words;
}

/// Whether a rule tests what only rte_acl's flags byte holds: a fragment kind, or a VLAN tag
/// (a VLAN list, even of every id, needs a tagged frame).
bool tests_flags(const rules::Match& m) noexcept {
  return m.fragment.has_value() || !m.vlan.empty();
}

}  // namespace

std::optional<PrefixSide> prefix_side(const Signature& signature) noexcept {
  const auto other = static_cast<uint16_t>(signature.fields & ~kPortFields);
  if (other == kPinsSrc) return PrefixSide::src;
  if (other == kPinsDst) return PrefixSide::dst;
  return std::nullopt;
}

std::optional<PrefixSide> prefix_side(const rules::Rule& rule,
                                      const Signature& signature) noexcept {
  if (tests_flags(rule.match)) return std::nullopt;
  return prefix_side(signature);
}

template <unsigned Words>
std::unique_ptr<PrefixLookup<Words>> PrefixLookup<Words>::build(
    const rules::RuleList& rules, const std::vector<std::size_t>& members, PrefixSide side,
    std::array<uint64_t, 2> seed) {
  const Family family = Words == 1 ? Family::ipv4 : Family::ipv6;
  const uint16_t side_field = side == PrefixSide::src ? kPinsSrc : kPinsDst;
  // Each rule's items, with the prefix they are under.
  struct Listed {
    Address address;  ///< host order, masked
    uint8_t length;
    Item item;
  };
  std::vector<Listed> listed;
  listed.reserve(members.size() * 2);
  const Range any{0, 65535};
  const std::vector<Range> any_list{any};
  for (const std::size_t i : members) {
    const rules::Match& m = rules[i].match;
    const std::optional<Signature> signature = signature_of(rules[i], family);
    if (!signature) continue;  // it cannot match this family
    if ((signature->fields & ~(side_field | kPortFields)) != 0) return nullptr;
    if (tests_flags(m)) return nullptr;
    const bool needs_ports = !m.src_port.empty() || !m.dst_port.empty();
    const std::vector<Range>& sports =
        (signature->fields & kPinsSrcPort) != 0 ? m.src_port : any_list;
    const std::vector<Range>& dports =
        (signature->fields & kPinsDstPort) != 0 ? m.dst_port : any_list;
    const std::vector<Prefix>& prefixes = side == PrefixSide::src ? m.src : m.dst;
    each_prefix(
        prefixes, (signature->fields & side_field) != 0, family,
        [&](const std::optional<Prefix>& prefix) {
          Listed entry{};
          if (prefix) {
            entry.length = prefix->length;
            entry.address =
                masked<Words>(host_words<Words>(prefix->addr), host_mask<Words>(prefix->length));
          }
          for (const Range& s : sports) {
            for (const Range& d : dports) {
              entry.item =
                  Item{static_cast<uint32_t>(i + 1), s.first, s.last, d.first, d.last, needs_ports};
              listed.push_back(entry);
            }
          }
        });
  }

  // In address order, a prefix before the longer ones it covers, which follow it contiguously;
  // a prefix's items in rule order.
  std::sort(listed.begin(), listed.end(), [](const Listed& a, const Listed& b) {
    if (a.address != b.address) return a.address < b.address;
    if (a.length != b.length) return a.length < b.length;
    return a.item.rule < b.item.rule;
  });

  std::unique_ptr<PrefixLookup> lookup(new PrefixLookup());
  lookup->side_ = side;
  lookup->seed_ = seed;
  lookup->entries_ = listed.size();

  // The distinct prefixes, each with its parent (the longest listed prefix covering it) and
  // leaf: the parent's leaf's items and its own, in rule order, without those an earlier item
  // covers, cut after the first that matches every packet.
  struct Distinct {
    Address address;
    uint8_t length;
    uint32_t parent;  ///< into the distinct prefixes; kNone for none
    Leaf leaf;
  };
  constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
  std::vector<Distinct> distinct;
  std::vector<uint32_t> open;  // the prefixes covering the current one, shortest first
  std::vector<Item> merged;
  bool lengths_seen[129] = {};
  for (std::size_t at = 0; at < listed.size();) {
    std::size_t end = at + 1;
    while (end < listed.size() && listed[end].address == listed[at].address &&
           listed[end].length == listed[at].length)
      ++end;
    const Listed& here = listed[at];
    while (!open.empty()) {
      const Distinct& top = distinct[open.back()];
      if (top.length <= here.length &&
          masked<Words>(here.address, host_mask<Words>(top.length)) == top.address)
        break;
      open.pop_back();
    }
    const uint32_t parent = open.empty() ? kNone : open.back();
    merged.clear();
    const Leaf inherited = parent == kNone ? Leaf{} : distinct[parent].leaf;
    std::size_t a = 0;
    auto own = listed.begin() + static_cast<std::ptrdiff_t>(at);
    const auto own_end = listed.begin() + static_cast<std::ptrdiff_t>(end);
    while (a < inherited.count || own != own_end) {
      const bool more_inherited = a < inherited.count;
      const Item* from_parent = more_inherited ? &lookup->items_[inherited.first + a] : nullptr;
      const bool take_inherited =
          own == own_end || (more_inherited && from_parent->rule <= own->item.rule);
      const Item item = take_inherited ? *from_parent : own->item;
      if (take_inherited) {
        ++a;
      } else {
        ++own;
      }
      // An item an earlier one covers is never a first match.
      if (std::any_of(merged.begin(), merged.end(),
                      [&](const Item& earlier) { return earlier.covers(item); }))
        continue;
      merged.push_back(item);
      if (item.matches_every_packet()) break;
      if (merged.size() > kMaxPrefixLeaf) return nullptr;
    }
    const Leaf leaf{static_cast<uint32_t>(lookup->items_.size()),
                    static_cast<uint32_t>(merged.size())};
    lookup->items_.insert(lookup->items_.end(), merged.begin(), merged.end());
    if (here.length > kBlockBits) lengths_seen[here.length] = true;
    open.push_back(static_cast<uint32_t>(distinct.size()));
    distinct.push_back(Distinct{here.address, here.length, parent, leaf});
    at = end;
  }

  std::vector<uint32_t> length_index(129, kNone);
  for (unsigned length = kBlockBits + 1; length <= 128; ++length) {
    if (!lengths_seen[length]) continue;
    length_index[length] = static_cast<uint32_t>(lookup->lengths_.size());
    lookup->lengths_.push_back(static_cast<uint8_t>(length));
    lookup->masks_.push_back(host_mask<Words>(length));
  }

  // The blocks: the leaves of prefixes of at most 16 bits, painted in address order (prefixes
  // that overlap nest, and a prefix comes before those it covers, so the longest is painted
  // last); the range of longer lengths under each.
  lookup->blocks_.assign(std::size_t{1} << kBlockBits, Block{});
  for (const Distinct& d : distinct) {
    if (d.length > kBlockBits) continue;
    const uint32_t first = d.address[0] >> kBlockBits;
    const uint32_t last = first | ((uint32_t{1} << (kBlockBits - d.length)) - 1);
    for (uint32_t b = first; b <= last; ++b) {
      lookup->blocks_[b].first = d.leaf.first;
      lookup->blocks_[b].count = static_cast<uint16_t>(d.leaf.count);
    }
  }
  for (const Distinct& d : distinct) {
    if (d.length <= kBlockBits) continue;
    Block& block = lookup->blocks_[d.address[0] >> kBlockBits];
    block.lo = static_cast<uint8_t>(std::min<uint32_t>(block.lo, length_index[d.length]));
    block.hi = static_cast<uint8_t>(std::max<uint32_t>(block.hi, length_index[d.length]));
  }
  lookup->occupied_.assign((std::size_t{1} << kBlockBits) / 64, 0);
  for (std::size_t b = 0; b < lookup->blocks_.size(); ++b) {
    const Block& block = lookup->blocks_[b];
    if (block.count != 0 || block.lo <= block.hi)
      lookup->occupied_[b / 64] |= uint64_t{1} << (b % 64);
  }

  // Each longer prefix with the markers on its search path over its block's range, counted
  // before the table is sized (at most half full, so that it stays as small as it can).
  struct Key {
    Address address;
    uint32_t length;  ///< index + 1
    Leaf leaf;
  };
  std::vector<Key> keys;
  keys.reserve(distinct.size() * 2);
  for (const Distinct& d : distinct) {
    if (d.length <= kBlockBits) continue;
    const Block& block = lookup->blocks_[d.address[0] >> kBlockBits];
    const uint32_t target = length_index[d.length];
    uint32_t lo = block.lo;
    uint32_t hi = block.hi + 1U;  // [lo, hi)
    while (lo < hi) {
      const uint32_t mid = (lo + hi - 1) / 2;
      if (mid == target) {
        keys.push_back(Key{d.address, mid + 1, d.leaf});
        break;
      }
      if (mid > target) {
        hi = mid;
        continue;
      }
      // The marker's answer: the longest listed prefix covering it, at its length or shorter.
      const unsigned length = lookup->lengths_[mid];
      uint32_t ancestor = d.parent;
      while (ancestor != kNone && distinct[ancestor].length > length)
        ancestor = distinct[ancestor].parent;
      keys.push_back(Key{masked<Words>(d.address, lookup->masks_[mid]), mid + 1,
                         ancestor == kNone ? Leaf{} : distinct[ancestor].leaf});
      lo = mid + 1;
    }
  }
  const std::size_t slots = std::bit_ceil(std::max<std::size_t>(16, 2 * keys.size()));
  lookup->mask_ = slots - 1;
  if (slots * sizeof(Slot) >= kHugeTableBytes) {
    lookup->huge_ = std::make_unique<HugeRegion>(slots * sizeof(Slot));
    lookup->slots_ = static_cast<Slot*>(lookup->huge_->data());
  } else {
    lookup->heap_ = std::make_unique<Slot[]>(slots);
    lookup->slots_ = lookup->heap_.get();
  }
  for (const Key& key : keys)
    lookup->insert(key.address, key.length, key.leaf);
  return lookup;
}

template <unsigned Words>
[[gnu::always_inline]] inline uint64_t PrefixLookup<Words>::hash(const Address& address,
                                                                 uint32_t length) const noexcept {
  const uint64_t multiplier = seed_[1] | 1;
  if constexpr (Words == 1) {
    return fold(seed_[0] ^ (uint64_t{length} << 32 | address[0]), multiplier);
  } else {
    uint64_t h = fold(seed_[0] ^ length, multiplier);
    for (unsigned w = 0; w < Words; w += 2)
      h = fold(h ^ (uint64_t{address[w]} << 32 | address[w + 1]), multiplier);
    return h;
  }
}

template <unsigned Words>
void PrefixLookup<Words>::insert(const Address& address, uint32_t length, Leaf leaf) {
  for (std::size_t at = hash(address, length) & mask_;; at = (at + 1) & mask_) {
    Slot& slot = slots_[at];
    if (slot.length == 0) {
      slot.address = address;
      slot.length = static_cast<uint16_t>(length);
      slot.count = static_cast<uint16_t>(leaf.count);
      slot.first = leaf.first;
      return;
    }
    if (slot.length == length && slot.address == address) return;  // the same answer
  }
}

template <unsigned Words>
[[gnu::always_inline]] inline uint32_t PrefixLookup<Words>::first_match(
    uint32_t first, uint32_t count, const rules::PacketKey& packet) const noexcept {
  for (const Item* item = items_.data() + first; item != items_.data() + first + count; ++item) {
    if (item->needs_ports && !packet.has_ports) continue;
    if (packet.src_port < item->src_first || packet.src_port > item->src_last) continue;
    if (packet.dst_port < item->dst_first || packet.dst_port > item->dst_last) continue;
    return item->rule;
  }
  return 0;
}

namespace {

/// Whether a slot's address is `key`, word by word (no call to memcmp).
template <unsigned Words>
[[gnu::always_inline]] inline bool same(const Address<Words>& a, const Address<Words>& b) noexcept {
  bool equal = true;
  for (unsigned w = 0; w < Words; ++w)
    equal &= a[w] == b[w];
  return equal;
}

}  // namespace

template <unsigned Words>
void PrefixLookup<Words>::classify(const rules::PacketKey* const* packets, uint32_t* results,
                                   uint32_t count) const noexcept {
  constexpr uint32_t kChunk = 32;
  struct Search {
    Address key;  ///< host order; masked to the length probed
    uint32_t lo;  ///< the lengths left to search: [lo, hi)
    uint32_t hi;
    uint32_t first;  ///< the best leaf so far
    uint32_t count;
    std::size_t at;  ///< the probe's first slot
  };
  std::array<Search, kChunk> search;
  std::array<Address, kChunk> addresses;
  for (uint32_t done = 0; done < count; done += kChunk) {
    const uint32_t chunk = std::min(kChunk, count - done);
    // The blocks first, their loads overlapping.
    std::array<const Block*, kChunk> blocks;
    for (uint32_t i = 0; i < chunk; ++i) {
      const rules::PacketKey& packet = *packets[done + i];
      addresses[i] = host_words<Words>(side_ == PrefixSide::src ? packet.src : packet.dst);
      const uint32_t b = addresses[i][0] >> kBlockBits;
      blocks[i] = (occupied_[b / 64] & uint64_t{1} << (b % 64)) != 0 ? &blocks_[b] : nullptr;
      __builtin_prefetch(blocks[i]);
    }
    uint32_t active = 0;
    for (uint32_t i = 0; i < chunk; ++i) {
      Search& s = search[i];
      s.lo = 1;
      s.hi = 0;
      s.first = 0;
      s.count = 0;
      if (blocks[i] == nullptr) continue;
      const Block& block = *blocks[i];
      s.lo = block.lo;
      s.hi = block.hi + 1U;
      s.first = block.first;
      s.count = block.count;
      active += s.lo < s.hi ? 1 : 0;
    }
    // Every search a step at a time: a step's probes load their slots together.
    while (active != 0) {
      for (uint32_t i = 0; i < chunk; ++i) {
        Search& s = search[i];
        if (s.lo >= s.hi) continue;
        const uint32_t mid = (s.lo + s.hi - 1) / 2;
        s.key = masked<Words>(addresses[i], masks_[mid]);
        s.at = hash(s.key, mid + 1) & mask_;
        __builtin_prefetch(&slots_[s.at]);
      }
      active = 0;
      for (uint32_t i = 0; i < chunk; ++i) {
        Search& s = search[i];
        if (s.lo >= s.hi) continue;
        const uint32_t mid = (s.lo + s.hi - 1) / 2;
        const Slot* slot = &slots_[s.at];
        while (slot->length != 0 && !(slot->length == mid + 1 && same<Words>(slot->address, s.key)))
          slot = &slots_[(static_cast<std::size_t>(slot - slots_) + 1) & mask_];
        const bool hit = slot->length != 0;
        s.first = hit ? slot->first : s.first;
        s.count = hit ? slot->count : s.count;
        s.lo = hit ? mid + 1 : s.lo;
        s.hi = hit ? s.hi : mid;
        active += s.lo < s.hi ? 1 : 0;
      }
    }
    for (uint32_t i = 0; i < chunk; ++i)
      __builtin_prefetch(items_.data() + search[i].first);
    for (uint32_t i = 0; i < chunk; ++i) {
      const uint32_t rule = first_match(search[i].first, search[i].count, *packets[done + i]);
      uint32_t& result = results[done + i];
      if (rule != 0 && (result == 0 || rule < result)) result = rule;
    }
  }
}

template <unsigned Words>
std::size_t PrefixLookup<Words>::memory_bytes() const noexcept {
  return (mask_ + 1) * sizeof(Slot) + items_.size() * sizeof(Item) +
         blocks_.size() * sizeof(Block) + occupied_.size() * sizeof(uint64_t);
}

template class PrefixLookup<1>;
template class PrefixLookup<4>;

}  // namespace udpsieve::dataplane
