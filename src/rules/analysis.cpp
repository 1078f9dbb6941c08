// Unreachable rules: does an earlier rule's match set contain a later rule's?
//
// A rule's match set is a set of PacketKeys. The key space is every combination of these
// dimensions, taken as independent (they are all the reference matcher reads):
//   family in {IPv4, IPv6} with src and dst addresses of that family; has_ports; src_port and
//   dst_port in 0-65535; the payload bytes and payload_length; in_port in 0-255; l3_length in
//   0-65535; ttl in 0-255; dscp in 0-63; vlan_count with outer_vlan in 0-4095; fragment.
// The parser's ties between dimensions (non_first exactly when there is no UDP header, payload
// within the length) are deliberately not assumed: a reported rule is unreachable for any key
// whatever the parser does. The price is a few missed findings (`fragment: first` under
// `dst_port: 0-65535`, say).
//
// A match set is then a product over groups of dimensions, so for a non-empty inner set,
// inner ⊆ outer exactly when inner's part ⊆ outer's part for every group:
//   - addresses. For family F, S_F is every F address when src is absent, else the union of
//     src's F prefixes (maybe empty); D_F likewise for dst. The rule's packets are the union
//     over F of {F} × S_F × D_F: `src: 10.0.0.0/8` alone matches only IPv4 packets, and with
//     `src: [10.0.0.0/8, 2001:db8::/32], dst: 192.0.2.0/24` the IPv6 source can never match.
//     inner ⊆ outer iff for each F where inner's S_F and D_F are both non-empty,
//     S_F(inner) ⊆ S_F(outer) and D_F(inner) ⊆ D_F(outer), as unions of prefixes
//     (10.0.0.0/9 with 10.128.0.0/9 covers 10.0.0.0/8; 0.0.0.0/0 with ::/0 is any).
//   - the UDP header: src_port, dst_port or payload require has_ports, so a full port range is
//     not "any" (it still misses non-first fragments). Absent port fields are 0-65535.
//   - payload: outer's condition must follow from inner's. Inner's window must reach at least as
//     far (the payload_length requirement), and every bit outer's mask tests must be tested by
//     inner's mask with the same value. Bits outer does not test may lie anywhere.
//   - in_port (a set of 0-255), length, ttl, dscp: unions of ranges clipped to the domain;
//     absent is the whole domain, and a list covering the whole domain is the same as absent.
//   - vlan: a tag is required, then the union of ranges within 0-4095; so absent is not covered
//     by any present vlan list.
//   - fragment: absent covers all three kinds, present only its own.
// Rules whose set is empty (an impossible payload, ranges outside the domain) are never
// reported, and rules with malformed fields (prefix host bits set, mask and value of different
// sizes) are left out entirely, so every finding is a true one.
#include "udpsieve/rules/analysis.hpp"
#include "udpsieve/rules/range_set.hpp"

#include <algorithm>
#include <array>
#include <optional>

namespace udpsieve::rules {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint16_t kMaxPort = 65535;
constexpr uint16_t kMaxLength = 65535;
constexpr uint16_t kMaxTtl = 255;
constexpr uint16_t kMaxDscp = 63;
constexpr uint16_t kMaxVlan = 4095;

// Dimension groups a rule restricts (its set there is smaller than the whole domain).
constexpr uint32_t kSrc4 = 1u << 0;
constexpr uint32_t kSrc6 = 1u << 1;
constexpr uint32_t kDst4 = 1u << 2;
constexpr uint32_t kDst6 = 1u << 3;
constexpr uint32_t kHeader = 1u << 4;  // needs has_ports
constexpr uint32_t kSrcPort = 1u << 5;
constexpr uint32_t kDstPort = 1u << 6;
constexpr uint32_t kPayload = 1u << 7;
constexpr uint32_t kInPort = 1u << 8;
constexpr uint32_t kLength = 1u << 9;
constexpr uint32_t kTtl = 1u << 10;
constexpr uint32_t kDscp = 1u << 11;
constexpr uint32_t kVlan = 1u << 12;
constexpr uint32_t kFragment = 1u << 13;
// Sets: their contents are not known here, so a set condition covers another only when the
// other names a subset of its sets.
constexpr uint32_t kSrcSet = 1u << 14;
constexpr uint32_t kDstSet = 1u << 15;

constexpr std::array<Family, 2> kFamilies = {Family::ipv4, Family::ipv6};
constexpr std::array<uint32_t, 2> kSrcBit = {kSrc4, kSrc6};
constexpr std::array<uint32_t, 2> kDstBit = {kDst4, kDst6};

unsigned max_length(Family family) {
  return family == Family::ipv4 ? 32u : 128u;
}

/// As Prefix::parse makes them: a known family, a length within it, no bits after the length.
bool well_formed(const Prefix& prefix) {
  if (prefix.family != Family::ipv4 && prefix.family != Family::ipv6) return false;
  if (prefix.length > max_length(prefix.family)) return false;
  for (unsigned bit = prefix.length; bit < 128; ++bit) {
    if ((prefix.addr[bit / 8] & (0x80u >> (bit % 8))) != 0) return false;
  }
  return true;
}

/// Outer's payload condition holds for every payload that satisfies inner's.
bool payload_implies(const PayloadMatch& inner, const PayloadMatch& outer) {
  const std::size_t inner_end = std::size_t{inner.offset} + inner.value.size();
  if (std::size_t{outer.offset} + outer.value.size() > inner_end) return false;
  for (std::size_t t = 0; t < outer.value.size(); ++t) {
    const std::size_t at = std::size_t{outer.offset} + t;
    unsigned inner_mask = 0;  // bits inner fixes at this byte, and their values
    unsigned inner_value = 0;
    if (at >= inner.offset && at < inner_end) {
      inner_mask = inner.mask[at - inner.offset];
      inner_value = inner.value[at - inner.offset];
    }
    const unsigned mask = outer.mask[t];
    if ((inner_mask & mask) != mask || (inner_value & mask) != outer.value[t]) return false;
  }
  return true;
}

/// What the cheap first test of a pair reads; kept apart so the pair loop scans a dense array.
struct Bits {
  uint32_t restricts = 0;   ///< groups where the set is smaller than the domain
  uint32_t inner_mask = 0;  ///< restricts, plus the address bits of families without packets
  uint32_t families = 0;    ///< bit i: packets of kFamilies[i] can match
  bool usable = true;       ///< false: malformed or matches nothing; never reported or a cover
};

/// Necessary for outer ⊇ inner: outer restricts no group that inner leaves whole (address
/// groups of families inner has no packets of do not count), and has packets of every family
/// inner has. Most pairs fail here.
bool may_cover(const Bits& outer, const Bits& inner) {
  return outer.usable && inner.usable && (outer.restricts & ~inner.inner_mask) == 0 &&
         (inner.families & ~outer.families) == 0;
}

/// One rule's match set, normalized per dimension group (see the top of the file).
struct Shape {
  Bits bits;
  std::array<AddressSet, 2> src, dst;  ///< S_F and D_F per kFamilies index
  RangeSet src_port, dst_port, length, ttl, dscp, vlan;
  std::array<uint64_t, 4> in_port{};  ///< bit set of 0-255
  std::optional<FragmentKind> fragment;
  const PayloadMatch* payload = nullptr;
  uint16_t src_sets = 0;  ///< set bits (0: any address)
  uint16_t dst_sets = 0;
};

Shape make_shape(const Match& m) {
  Shape s;
  Bits& b = s.bits;
  const bool prefixes_ok = std::all_of(m.src.begin(), m.src.end(), well_formed) &&
                           std::all_of(m.dst.begin(), m.dst.end(), well_formed);
  if (!prefixes_ok || (m.payload && m.payload->mask.size() != m.payload->value.size())) {
    b.usable = false;
    return s;
  }
  for (std::size_t f = 0; f < kFamilies.size(); ++f) {
    s.src[f] = address_set(m.src, kFamilies[f]);
    s.dst[f] = address_set(m.dst, kFamilies[f]);
    if (!every_address(s.src[f], kFamilies[f])) b.restricts |= kSrcBit[f];
    if (!every_address(s.dst[f], kFamilies[f])) b.restricts |= kDstBit[f];
    if (!s.src[f].empty() && !s.dst[f].empty()) {
      b.families |= 1u << f;
    } else {
      b.inner_mask |= kSrcBit[f] | kDstBit[f];  // no packets of this family: nothing to cover
    }
  }

  const auto ranges = [&](const std::vector<Range>& list, uint16_t max, uint32_t bit) {
    RangeSet set = normalize_ranges(list, max);
    if (set.empty()) b.usable = false;
    if (!is_whole(set, max)) b.restricts |= bit;
    return set;
  };
  s.src_port = ranges(m.src_port, kMaxPort, kSrcPort);
  s.dst_port = ranges(m.dst_port, kMaxPort, kDstPort);
  s.length = ranges(m.length, kMaxLength, kLength);
  s.ttl = ranges(m.ttl, kMaxTtl, kTtl);
  s.dscp = ranges(m.dscp, kMaxDscp, kDscp);
  s.vlan = ranges(m.vlan, kMaxVlan, kVlan);
  if (!m.vlan.empty()) b.restricts |= kVlan;  // needs a tag even when every id is listed
  if (!m.src_port.empty() || !m.dst_port.empty() || m.payload) b.restricts |= kHeader;

  if (m.in_port.empty()) {
    s.in_port.fill(~uint64_t{0});
  } else {
    for (int port : m.in_port) {
      if (port >= 0 && port <= 255) {
        const auto bit = static_cast<unsigned>(port);
        s.in_port[bit / 64] |= uint64_t{1} << (bit % 64);
      }
    }
    const bool whole = std::all_of(s.in_port.begin(), s.in_port.end(),
                                   [](uint64_t word) { return word == ~uint64_t{0}; });
    const bool none =
        std::all_of(s.in_port.begin(), s.in_port.end(), [](uint64_t word) { return word == 0; });
    if (none) b.usable = false;
    if (!whole) b.restricts |= kInPort;
  }

  if (m.fragment) {
    s.fragment = m.fragment;
    b.restricts |= kFragment;
  }
  if (!m.src_set.empty()) {
    s.src_sets = m.src_sets;
    b.restricts |= kSrcSet;
  }
  if (!m.dst_set.empty()) {
    s.dst_sets = m.dst_sets;
    b.restricts |= kDstSet;
  }
  if (m.payload) {
    const PayloadMatch& p = *m.payload;
    s.payload = &p;
    b.restricts |= kPayload;
    // payload_length is 16 bits, and a value bit outside the mask can never be seen.
    if (std::size_t{p.offset} + p.value.size() > 65535) b.usable = false;
    for (std::size_t i = 0; i < p.value.size(); ++i) {
      if ((p.value[i] & ~p.mask[i]) != 0) b.usable = false;
    }
  }
  if (b.families == 0) b.usable = false;
  b.inner_mask |= b.restricts;
  return s;
}

/// Every packet inner matches, outer matches. Only the groups outer restricts need a look:
/// where outer is whole it matches anything.
bool covers(const Shape& outer, const Shape& inner) {
  if (!may_cover(outer.bits, inner.bits)) return false;
  const uint32_t r = outer.bits.restricts;
  if ((r & kFragment) != 0 && outer.fragment != inner.fragment) return false;
  const auto sets_ok = [&](uint32_t bit, uint16_t in, uint16_t out) {
    return (r & bit) == 0 || (in != 0 && (in & ~out) == 0);
  };
  if (!sets_ok(kSrcSet, inner.src_sets, outer.src_sets) ||
      !sets_ok(kDstSet, inner.dst_sets, outer.dst_sets)) {
    return false;
  }
  if ((r & kInPort) != 0) {
    for (std::size_t w = 0; w < outer.in_port.size(); ++w) {
      if ((inner.in_port[w] & ~outer.in_port[w]) != 0) return false;
    }
  }
  const auto ranges_ok = [&](uint32_t bit, const RangeSet& in, const RangeSet& out) {
    return (r & bit) == 0 || ranges_subset(in, out);
  };
  if (!ranges_ok(kTtl, inner.ttl, outer.ttl) || !ranges_ok(kDscp, inner.dscp, outer.dscp) ||
      !ranges_ok(kLength, inner.length, outer.length) ||
      !ranges_ok(kVlan, inner.vlan, outer.vlan) ||
      !ranges_ok(kSrcPort, inner.src_port, outer.src_port) ||
      !ranges_ok(kDstPort, inner.dst_port, outer.dst_port)) {
    return false;
  }
  if ((r & kPayload) != 0 && !payload_implies(*inner.payload, *outer.payload)) return false;
  for (std::size_t f = 0; f < kFamilies.size(); ++f) {
    if ((inner.bits.families & (1u << f)) == 0) continue;  // no packets: nothing to cover
    if ((r & kSrcBit[f]) != 0 && !ranges_subset(inner.src[f], outer.src[f])) return false;
    if ((r & kDstBit[f]) != 0 && !ranges_subset(inner.dst[f], outer.dst[f])) return false;
  }
  return true;
}

std::string describe_rule(const Rule& rule) {
  return "rule \"" + rule.id + "\" (" + rule.where.to_string() + ")";
}

}  // namespace

AnalysisResult find_unreachable_rules(const RuleList& rules, std::chrono::milliseconds budget) {
  // The budget covers the preparation too: a rule with 100,000 prefixes takes a while to
  // normalise, and a file can hold many.
  const Clock::time_point deadline = Clock::now() + budget;
  AnalysisResult result;
  std::vector<Shape> shapes;
  shapes.reserve(rules.size());
  for (const Rule& rule : rules) {
    if (Clock::now() >= deadline) {
      result.complete = false;
      return result;
    }
    shapes.push_back(make_shape(rule.match));
  }
  std::vector<Bits> bits;
  bits.reserve(shapes.size());
  for (const Shape& s : shapes)
    bits.push_back(s.bits);

  // Pairs whose full comparison ran since the clock was last read (they are what costs time;
  // the cheap first test rules most pairs out).
  constexpr std::size_t kPairsPerClockRead = 256;
  std::size_t compared = 0;
  for (std::size_t j = 0; j < shapes.size(); ++j) {
    if (Clock::now() >= deadline) {
      result.complete = false;
      break;
    }
    if (!bits[j].usable) continue;
    for (std::size_t i = 0; i < j; ++i) {
      if (!may_cover(bits[i], bits[j])) continue;
      if (++compared % kPairsPerClockRead == 0 && Clock::now() >= deadline) {
        result.complete = false;
        return result;
      }
      if (!covers(shapes[i], shapes[j])) continue;
      const RuleFinding::Kind kind =
          covers(shapes[j], shapes[i]) ? RuleFinding::Kind::duplicate : RuleFinding::Kind::shadowed;
      result.findings.push_back(RuleFinding{kind, j, i});
      break;
    }
  }
  return result;
}

bool match_covers(const Match& outer, const Match& inner) {
  return covers(make_shape(outer), make_shape(inner));
}

std::string finding_message(const RuleFinding& finding, const RuleList& rules) {
  const std::string head = describe_rule(rules[finding.rule]) + " never matches: ";
  if (finding.kind == RuleFinding::Kind::duplicate) {
    return head + describe_rule(rules[finding.by]) + " has the same match";
  }
  return head + "every packet it matches is matched first by " + describe_rule(rules[finding.by]);
}

}  // namespace udpsieve::rules
