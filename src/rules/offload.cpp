// NIC offload planning (see offload.hpp for the contract). A rule's match is first normalized
// into a Shape: per family the src and dst prefixes that can match, each range list merged and
// clipped to its domain, the in_port set, the fragment kinds it can match. Overlap is tested on
// shapes (a product of independent dimensions, so two matches are disjoint exactly when some
// dimension is), and entries are the product of the shape's lists and range blocks.
#include "udpsieve/rules/offload.hpp"
#include "udpsieve/rules/range_set.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <map>

namespace udpsieve::rules {
namespace {

constexpr unsigned kPortBits = 16;
constexpr unsigned kLengthBits = 16;
constexpr unsigned kTtlBits = 8;
constexpr unsigned kDscpBits = 6;
constexpr unsigned kVlanBits = 12;

constexpr std::array<Family, 2> kFamilies = {Family::ipv4, Family::ipv6};

uint16_t domain_max(unsigned bits) {
  return static_cast<uint16_t>((1u << bits) - 1u);
}

/// Sorted, disjoint, non-adjacent ranges inside [0, max].
/// The values of `ranges` within the domain of `bits`; an absent (empty) list is all of them.
RangeSet normalize_ranges(const std::vector<Range>& ranges, unsigned bits) {
  return rules::normalize_ranges(ranges, domain_max(bits));
}

bool is_whole(const RangeSet& set, unsigned bits) {
  return rules::is_whole(set, domain_max(bits));
}

/// Addresses of one side (src or dst) for one family: every address, or the union of
/// `prefixes` (none: no packet of the family matches).
struct Side {
  bool any = false;
  std::vector<Prefix> prefixes;  ///< none inside another, in list order; meaningful when !any
  AddressSet addresses;          ///< their addresses, for overlap tests
  [[nodiscard]] bool empty() const { return !any && prefixes.empty(); }
};

bool sides_meet(const Side& a, const Side& b) {
  if (a.empty() || b.empty()) return false;
  if (a.any || b.any) return true;
  return ranges_meet(a.addresses, b.addresses);
}

Side make_side(const std::vector<Prefix>& list, Family family) {
  Side side;
  if (list.empty()) {
    side.any = true;
    return side;
  }
  // The family's prefixes by first address, the wider (then the earlier in the list) first:
  // prefixes nest or are disjoint, so one inside another comes after it, and a sweep keeping
  // the highest address covered so far finds every redundant one (of equal ones, the later).
  std::vector<std::pair<AddressRange, std::size_t>> ranges;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const Prefix& p = list[i];
    if (p.family != family) continue;
    if (p.length == 0) {
      side.any = true;
      return side;
    }
    ranges.emplace_back(address_range(p), i);
  }
  std::sort(ranges.begin(), ranges.end(), [](const auto& a, const auto& b) {
    if (a.first.first != b.first.first) return a.first.first < b.first.first;
    if (a.first.last != b.first.last) return a.first.last > b.first.last;
    return a.second < b.second;
  });
  std::vector<bool> kept(list.size(), false);
  bool covering = false;
  Address covered_to = 0;
  for (const auto& [range, index] : ranges) {
    if (covering && range.first <= covered_to) continue;
    kept[index] = true;
    covering = true;
    covered_to = range.last;
    side.addresses.push_back(range);
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (kept[i]) side.prefixes.push_back(list[i]);
  }
  return side;
}

// Fragment kinds as bits, for the set of kinds a rule can match.
constexpr uint8_t kFragNone = 1u << 0;
constexpr uint8_t kFragFirst = 1u << 1;
constexpr uint8_t kFragNonFirst = 1u << 2;

uint8_t fragment_bit(FragmentKind kind) {
  switch (kind) {
    case FragmentKind::none:
      return kFragNone;
    case FragmentKind::first:
      return kFragFirst;
    case FragmentKind::non_first:
      return kFragNonFirst;
  }
  return 0;
}

/// A payload condition some payload satisfies (what the reference matcher can match).
bool payload_satisfiable(const PayloadMatch& p) {
  if (p.mask.size() != p.value.size()) return false;
  if (std::size_t{p.offset} + p.value.size() > std::numeric_limits<uint16_t>::max()) return false;
  for (std::size_t i = 0; i < p.value.size(); ++i) {
    if ((p.value[i] & ~p.mask[i]) != 0) return false;
  }
  return true;
}

/// No byte both conditions test has bits they require differently.
bool payloads_compatible(const PayloadMatch& a, const PayloadMatch& b) {
  for (std::size_t i = 0; i < a.value.size(); ++i) {
    const std::size_t at = std::size_t{a.offset} + i;
    if (at < b.offset || at >= std::size_t{b.offset} + b.value.size()) continue;
    const std::size_t k = at - b.offset;
    if (((a.value[i] ^ b.value[k]) & a.mask[i] & b.mask[k]) != 0) return false;
  }
  return true;
}

/// A rule's match, normalized per dimension.
struct Shape {
  std::array<Side, 2> src, dst;  ///< per kFamilies index
  RangeSet src_port, dst_port, length, ttl, dscp, vlan;
  std::array<uint64_t, 4> in_port{};  ///< bit set of 0-255
  uint8_t fragments = 0;              ///< kFrag* bits of the kinds it can match
  const PayloadMatch* payload = nullptr;
  bool empty = false;  ///< matches no packet
};

Shape make_shape(const Match& m) {
  Shape s;
  bool some_family = false;
  for (std::size_t f = 0; f < kFamilies.size(); ++f) {
    s.src[f] = make_side(m.src, kFamilies[f]);
    s.dst[f] = make_side(m.dst, kFamilies[f]);
    some_family = some_family || (!s.src[f].empty() && !s.dst[f].empty());
  }
  s.src_port = normalize_ranges(m.src_port, kPortBits);
  s.dst_port = normalize_ranges(m.dst_port, kPortBits);
  s.length = normalize_ranges(m.length, kLengthBits);
  s.ttl = normalize_ranges(m.ttl, kTtlBits);
  s.dscp = normalize_ranges(m.dscp, kDscpBits);
  s.vlan = normalize_ranges(m.vlan, kVlanBits);
  if (m.in_port.empty()) {
    s.in_port.fill(~uint64_t{0});
  } else {
    for (int port : m.in_port) {
      if (port < 0 || port > 255) continue;  // no packet arrives there
      const auto bit = static_cast<unsigned>(port);
      s.in_port[bit / 64] |= uint64_t{1} << (bit % 64);
    }
  }
  // The parser's tie: a packet lacks a UDP header exactly when it is a non-first fragment.
  s.fragments = m.fragment ? fragment_bit(*m.fragment) : (kFragNone | kFragFirst | kFragNonFirst);
  if (!m.src_port.empty() || !m.dst_port.empty() || m.payload) {
    s.fragments = static_cast<uint8_t>(s.fragments & ~kFragNonFirst);
  }
  if (m.payload) s.payload = &*m.payload;

  const bool no_port =
      std::all_of(s.in_port.begin(), s.in_port.end(), [](uint64_t word) { return word == 0; });
  s.empty = !some_family || no_port || s.fragments == 0 || s.src_port.empty() ||
            s.dst_port.empty() || s.length.empty() || s.ttl.empty() || s.dscp.empty() ||
            s.vlan.empty() || (s.payload != nullptr && !payload_satisfiable(*s.payload));
  return s;
}

bool shapes_meet(const Shape& a, const Shape& b) {
  if (a.empty || b.empty) return false;
  if ((a.fragments & b.fragments) == 0) return false;
  bool port_shared = false;
  for (std::size_t w = 0; w < a.in_port.size(); ++w)
    port_shared = port_shared || (a.in_port[w] & b.in_port[w]) != 0;
  if (!port_shared) return false;
  if (!ranges_meet(a.src_port, b.src_port) || !ranges_meet(a.dst_port, b.dst_port) ||
      !ranges_meet(a.length, b.length) || !ranges_meet(a.ttl, b.ttl) ||
      !ranges_meet(a.dscp, b.dscp) || !ranges_meet(a.vlan, b.vlan)) {
    return false;
  }
  if (a.payload != nullptr && b.payload != nullptr && !payloads_compatible(*a.payload, *b.payload))
    return false;
  for (std::size_t f = 0; f < kFamilies.size(); ++f) {
    if (sides_meet(a.src[f], b.src[f]) && sides_meet(a.dst[f], b.dst[f])) return true;
  }
  return false;
}

/// The values an entry field takes: one absent value ("any"), or one per aligned block.
std::vector<std::optional<MaskedValue>> field_blocks(const RangeSet& set, unsigned bits,
                                                     bool keep_whole) {
  if (!keep_whole && is_whole(set, bits)) return {std::nullopt};
  std::vector<std::optional<MaskedValue>> out;
  for (const Range& range : set) {
    for (const MaskedValue& block : split_range(range, bits))
      out.emplace_back(block);
  }
  return out;
}

std::vector<std::optional<Prefix>> side_values(const Side& side) {
  if (side.any) return {std::nullopt};
  return {side.prefixes.begin(), side.prefixes.end()};
}

constexpr std::size_t kSizeMax = std::numeric_limits<std::size_t>::max();

std::size_t saturating_add(std::size_t a, std::size_t b) {
  return a > kSizeMax - b ? kSizeMax : a + b;
}

std::size_t saturating_mul(std::size_t a, std::size_t b) {
  return b != 0 && a > kSizeMax / b ? kSizeMax : a * b;
}

/// The entry fields' value lists for one family of a rule.
struct Expansion {
  Family family = Family::ipv4;
  std::vector<std::optional<Prefix>> src, dst;
  std::vector<std::optional<MaskedValue>> src_port, dst_port, ttl, dscp, vlan;

  [[nodiscard]] std::size_t count() const {
    std::size_t n = 1;
    for (const std::size_t size : {src.size(), dst.size(), src_port.size(), dst_port.size(),
                                   ttl.size(), dscp.size(), vlan.size()}) {
      n = saturating_mul(n, size);
    }
    return n;
  }
};

std::vector<Expansion> expansions(const Shape& s, const Match& m) {
  std::vector<Expansion> out;
  for (std::size_t f = 0; f < kFamilies.size(); ++f) {
    if (s.src[f].empty() || s.dst[f].empty()) continue;  // no packet of this family matches
    Expansion e;
    e.family = kFamilies[f];
    e.src = side_values(s.src[f]);
    e.dst = side_values(s.dst[f]);
    e.src_port = field_blocks(s.src_port, kPortBits, false);
    e.dst_port = field_blocks(s.dst_port, kPortBits, false);
    e.ttl = field_blocks(s.ttl, kTtlBits, false);
    e.dscp = field_blocks(s.dscp, kDscpBits, false);
    // A vlan list requires a tag even when it lists every id.
    e.vlan = m.vlan.empty() ? std::vector<std::optional<MaskedValue>>{std::nullopt}
                            : field_blocks(s.vlan, kVlanBits, true);
    out.push_back(std::move(e));
  }
  return out;
}

void append_entries(const Expansion& e, std::vector<FlowEntry>& out) {
  for (const auto& src : e.src)
    for (const auto& dst : e.dst)
      for (const auto& src_port : e.src_port)
        for (const auto& dst_port : e.dst_port)
          for (const auto& ttl : e.ttl)
            for (const auto& dscp : e.dscp)
              for (const auto& vlan : e.vlan)
                out.push_back(FlowEntry{e.family, src, dst, src_port, dst_port, ttl, dscp, vlan});
}

/// "payload", "payload and length", "payload, length and fragment".
std::string join_fields(const std::vector<const char*>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " and " : ", ";
    out += names[i];
  }
  return out;
}

/// Why the rule's match cannot be NIC entries (rule 2 of the contract), or "".
std::string inexpressible(const Match& m) {
  std::vector<const char*> fields;
  if (m.payload) fields.push_back("payload");
  if (!m.length.empty()) fields.push_back("length");
  if (m.fragment) fields.push_back("fragment");
  if (!m.src_set.empty()) fields.push_back("src_set");
  if (!m.dst_set.empty()) fields.push_back("dst_set");
  if (fields.empty()) return "";
  return "it matches on " + join_fields(fields) + ", which NIC flow rules cannot express";
}

/// Why the earlier rule `earlier` (which overlaps the candidate) keeps it in software.
std::string blocked_by(const Rule& earlier, bool earlier_offloaded, bool candidate_has_vlan) {
  const std::string name = "'" + earlier.id + "'";
  switch (earlier.action.kind) {
    case ActionKind::forward:
      return "an earlier rule " + name +
             " (forward) overlaps it, so the NIC could drop packets software forwards";
    case ActionKind::rate_limit:
      return "an earlier rule " + name +
             " (rate_limit) overlaps it, so the NIC could drop packets software forwards within "
             "the rate limit";
    case ActionKind::drop:
      break;
  }
  if (!earlier_offloaded) {
    return "an earlier drop rule " + name +
           " that stays in software overlaps it, so the NIC would count that rule's packets on "
           "this one";
  }
  if (candidate_has_vlan) {
    return "an earlier offloaded drop rule " + name +
           " without a vlan match overlaps it, and a NIC may not apply that rule's entries to "
           "tagged packets, so they could be counted on this one";
  }
  return "an earlier offloaded drop rule " + name +
         " with a vlan match overlaps it, and a NIC may not apply that rule's entries to "
         "double-tagged packets, so they could be counted on this one";
}

}  // namespace

std::vector<MaskedValue> split_range(Range range, unsigned bits) {
  std::vector<MaskedValue> out;
  if (bits == 0 || bits > 16) return out;
  const uint32_t max = (1u << bits) - 1u;
  if (range.first > range.last || range.first > max) return out;
  const uint32_t last = std::min<uint32_t>(range.last, max);
  uint32_t at = range.first;
  while (at <= last) {
    // The largest block aligned at `at` (its lowest set bit; 0 is aligned to everything)
    // that ends within the range. Greedy from the left gives the fewest blocks.
    uint32_t size = at == 0 ? max + 1u : (at & (~at + 1u));
    while (at + size - 1u > last)
      size >>= 1u;
    out.push_back(
        MaskedValue{static_cast<uint16_t>(at), static_cast<uint16_t>(max & ~(size - 1u))});
    at += size;
  }
  return out;
}

bool may_overlap(const Match& a, const Match& b) {
  return shapes_meet(make_shape(a), make_shape(b));
}

bool entry_matches(const FlowEntry& entry, const PacketKey& key) noexcept {
  const auto fits = [](const std::optional<MaskedValue>& field, uint16_t value) {
    return !field || (value & field->mask) == field->value;
  };
  if (key.family != entry.family || !key.has_ports) return false;  // the udp item
  if (entry.src && !(entry.src->family == key.family && entry.src->contains(key.src))) {
    return false;
  }
  if (entry.dst && !(entry.dst->family == key.family && entry.dst->contains(key.dst))) {
    return false;
  }
  if (entry.vlan && key.vlan_count == 0) return false;
  return fits(entry.src_port, key.src_port) && fits(entry.dst_port, key.dst_port) &&
         fits(entry.ttl, key.ttl) && fits(entry.dscp, key.dscp) && fits(entry.vlan, key.outer_vlan);
}

namespace {

/// The prefix `p` shortened to `length` bits (host bits cleared).
std::array<uint8_t, 16> masked(const std::array<uint8_t, 16>& addr, unsigned length) {
  std::array<uint8_t, 16> out{};
  for (unsigned byte = 0; byte < 16 && length > 0; ++byte) {
    const unsigned bits = std::min(length, 8U);
    out[byte] = static_cast<uint8_t>(addr[byte] & static_cast<uint8_t>(0xff00U >> bits));
    length -= bits;
  }
  return out;
}

/// The last address of `p` (host bits set).
std::array<uint8_t, 16> last_address(const Prefix& p) {
  std::array<uint8_t, 16> out = masked(p.addr, p.length);
  const unsigned width = p.family == Family::ipv4 ? 32 : 128;
  for (unsigned bit = p.length; bit < width; ++bit)
    out[bit / 8] = static_cast<uint8_t>(out[bit / 8] | (0x80U >> (bit % 8)));
  return out;
}

/// Earlier offloaded rules of one vlan-ness, found by source: two rules can overlap only
/// where, in some family, their src sides meet, and two prefixes meet exactly when one holds
/// the other. So a later rule's candidates are the rules with a src prefix containing one of
/// its own (at most one per length) or inside one (a range of the sorted prefixes), plus those
/// with any source. A block list of distinct sources then finds none to compare with.
class SourceIndex {
 public:
  void add(std::size_t rule, const Shape& shape) {
    for (std::size_t f = 0; f < kFamilies.size(); ++f) {
      if (shape.src[f].any) {
        any_[f].push_back(rule);
        continue;
      }
      for (const Prefix& p : shape.src[f].prefixes)
        prefixes_[Key{f, masked(p.addr, p.length), p.length}].push_back(rule);
    }
  }

  /// Calls visit(i) once for every indexed rule whose sources may meet `shape`'s.
  template <class Visit>
  void candidates(const Shape& shape, Visit&& visit) {
    ++stamp_;
    const auto offer = [&](std::size_t rule) {
      if (rule >= seen_.size()) seen_.resize(rule + 1, 0);
      if (seen_[rule] == stamp_) return;
      seen_[rule] = stamp_;
      visit(rule);
    };
    for (std::size_t f = 0; f < kFamilies.size(); ++f) {
      const Side& side = shape.src[f];
      if (side.empty()) continue;
      for (const std::size_t rule : any_[f])
        offer(rule);
      if (side.any) {
        for (auto it = prefixes_.lower_bound(Key{f, {}, 0});
             it != prefixes_.end() && it->first.family == f; ++it) {
          for (const std::size_t rule : it->second)
            offer(rule);
        }
        continue;
      }
      for (const Prefix& p : side.prefixes) {
        for (unsigned length = 1; length < p.length; ++length) {  // strictly containing
          const auto it =
              prefixes_.find(Key{f, masked(p.addr, length), static_cast<uint8_t>(length)});
          if (it == prefixes_.end()) continue;
          for (const std::size_t rule : it->second)
            offer(rule);
        }
        // Equal or inside: the addresses from p's first to its last.
        const std::array<uint8_t, 16> last = last_address(p);
        for (auto it = prefixes_.lower_bound(Key{f, masked(p.addr, p.length), 0});
             it != prefixes_.end() && it->first.family == f && it->first.addr <= last; ++it) {
          if (it->first.length < p.length) continue;  // containing: found above
          for (const std::size_t rule : it->second)
            offer(rule);
        }
      }
    }
  }

 private:
  struct Key {
    std::size_t family;
    std::array<uint8_t, 16> addr;
    uint8_t length;
    friend auto operator<=>(const Key&, const Key&) = default;
  };
  std::array<std::vector<std::size_t>, 2> any_;
  std::map<Key, std::vector<std::size_t>> prefixes_;
  std::vector<uint32_t> seen_;
  uint32_t stamp_ = 0;
};

}  // namespace

std::vector<OffloadDecision> plan_offload(const RuleList& rules, const OffloadLimits& limits) {
  std::vector<Shape> shapes;
  shapes.reserve(rules.size());
  for (const Rule& rule : rules)
    shapes.push_back(make_shape(rule.match));
  std::vector<bool> offloaded(rules.size(), false);
  // The earlier rules that can block a later one, by the later one's vlan-ness (index 1: it has
  // a vlan list): all but the offloaded drop rules of that same vlan-ness, which priorities
  // order before it. Scanning only these keeps the usual rule set (many drops, few forwards)
  // near linear; the pair budget bounds the rest.
  std::array<std::vector<std::size_t>, 2> blockers;
  std::size_t pairs = 0;

  std::array<SourceIndex, 2> index;  // the offloaded rules, by vlan-ness
  std::vector<uint32_t> layer(rules.size(), 0);

  std::vector<OffloadDecision> decisions;
  for (std::size_t j = 0; j < rules.size(); ++j) {
    const Rule& rule = rules[j];
    const bool has_vlan = !rule.match.vlan.empty();
    if (rule.action.kind != ActionKind::drop) {
      blockers[0].push_back(j);
      blockers[1].push_back(j);
      continue;
    }
    OffloadDecision d;
    d.rule = j;
    d.ports = rule.match.in_port;
    std::sort(d.ports.begin(), d.ports.end());
    d.ports.erase(std::unique(d.ports.begin(), d.ports.end()), d.ports.end());

    d.reason = inexpressible(rule.match);
    std::vector<Expansion> parts;
    if (d.reason.empty() && shapes[j].empty) {
      d.reason = "it can match no packet, so there is nothing for the NIC to drop";
    }
    if (d.reason.empty()) {
      parts = expansions(shapes[j], rule.match);
      std::size_t count = 0;
      for (const Expansion& e : parts)
        count = saturating_add(count, e.count());
      if (count > limits.max_entries_per_rule) {
        d.reason = "it needs " + std::to_string(count) +
                   " NIC flow entries (its lists and range blocks multiplied), more than the "
                   "limit of " +
                   std::to_string(limits.max_entries_per_rule);
      }
    }
    if (d.reason.empty() && pairs > limits.max_pairs) {
      d.reason = "the offload analysis stopped after comparing " + std::to_string(pairs) +
                 " pairs of rules; the rules after that stay in software";
    }
    if (d.reason.empty()) {
      for (const std::size_t i : blockers[has_vlan ? 1 : 0]) {
        ++pairs;
        if (!shapes_meet(shapes[i], shapes[j])) continue;
        d.reason = blocked_by(rules[i], offloaded[i], has_vlan);
        break;
      }
    }
    if (d.reason.empty()) {
      // Under every earlier offloaded rule it overlaps (all of its vlan-ness: the others
      // blocked it), so the NIC gives a packet to the first, as software does; disjoint rules
      // share a priority.
      uint32_t priority = 0;
      index[has_vlan ? 1 : 0].candidates(shapes[j], [&](std::size_t i) {
        ++pairs;
        if (shapes_meet(shapes[i], shapes[j])) priority = std::max(priority, layer[i] + 1);
      });
      for (const Expansion& e : parts)
        append_entries(e, d.entries);
      d.offload = true;
      d.priority = priority;
      layer[j] = priority;
      offloaded[j] = true;
      index[has_vlan ? 1 : 0].add(j, shapes[j]);
      blockers[has_vlan ? 0 : 1].push_back(j);  // it blocks only rules of the other vlan-ness
    } else {
      blockers[0].push_back(j);
      blockers[1].push_back(j);
    }
    decisions.push_back(std::move(d));
  }
  return decisions;
}

}  // namespace udpsieve::rules
