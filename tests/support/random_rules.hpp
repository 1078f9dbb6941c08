#pragma once
// Random rule sets and packets for differential and property tests: rules of every field kind
// drawn from a few shared templates and pools (so they overlap and first-match order matters),
// and packets of which most are built near some rule. Seeded and the same on every standard
// library. Used by the classifier's differential test (tests/dataplane) and the offload
// planner's safety test (tests/unit).

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "udpsieve/common/config_error.hpp"
#include "udpsieve/dataplane/rule_limits.hpp"
#include "udpsieve/rules/packet_key.hpp"
#include "udpsieve/rules/rule.hpp"

namespace udpsieve::test::rulegen {

using dataplane::classifier_entries;
using dataplane::kMaxPayloadWindows;
using dataplane::kMaxSignatures;
using dataplane::Signature;
using dataplane::signature_of;
using rules::Family;
using rules::FragmentKind;
using rules::Match;
using rules::PacketKey;
using rules::Prefix;
using rules::Range;
using rules::Rule;

/// Random numbers that are the same on every standard library: mt19937_64 is fully specified,
/// the <random> distributions are not, so ranges are taken by modulo.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  uint64_t next() { return engine_(); }
  /// In [0, n).
  uint64_t below(uint64_t n) { return engine_() % n; }
  /// In [lo, hi].
  uint64_t between(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }
  bool percent(uint64_t p) { return below(100) < p; }
  uint8_t byte() { return static_cast<uint8_t>(engine_()); }
  template <class T>
  const T& pick(const std::vector<T>& items) {
    return items[below(items.size())];
  }

 private:
  std::mt19937_64 engine_;
};

// --- random rule sets ------------------------------------------------------------------------

/// A 16-bit match field: its domain and some values rules of one set share (so rules overlap
/// and first-match order matters).
struct RangeField {
  uint16_t max = 65535;
  std::vector<uint16_t> pool;
};

/// How one rule set is drawn: which fields its rules use how often, and the shared pools.
/// Which fields a rule pins. Real rule sets reuse a few combinations (a block list of sources,
/// an allow list of services, a few payload signatures...), and the classifier takes at most
/// kMaxSignatures of them per family, so each rule set draws a few templates and every rule
/// uses exactly one template's fields.
struct Template {
  bool src = false, dst = false, src_port = false, dst_port = false, in_port = false,
       length = false, ttl = false, dscp = false, vlan = false, fragment = false, payload = false;
  uint16_t payload_offset = 0;
};

struct Profile {
  std::vector<Template> templates;
  uint64_t v4_percent = 50;  ///< family of a prefix list's first prefix
  uint64_t src = 0, dst = 0, src_port = 0, dst_port = 0, in_port = 0, length = 0, ttl = 0, dscp = 0,
           vlan = 0, fragment = 0, payload = 0;  ///< percent of rules using the field
  std::vector<std::array<uint8_t, 16>> v4_bases, v6_bases;
  RangeField ports, lengths, ttls, dscps, vlans;
  std::vector<uint16_t> offsets;  ///< at most kMaxPayloadWindows distinct payload offsets
  uint64_t broad = 25;            ///< percent of prefixes and ranges drawn wide
  bool catch_all = true;          ///< some rules may match everything
  bool prefix_required = false;   ///< every rule has a src or dst list (see random_rule)
};

/// What a test plan lets its rule sets use. Addresses and destination ports (what real filters
/// mostly hold) are always in; of the other field kinds, each rule set uses `extra_kinds`,
/// taken in turn by seed so that a plan's seeds cover them all.
using FieldPercent = uint64_t Profile::*;

/// The field kinds besides src, dst and dst_port.
inline const std::vector<FieldPercent> kAllExtras = {
    &Profile::src_port, &Profile::in_port, &Profile::length,   &Profile::ttl,
    &Profile::dscp,     &Profile::vlan,    &Profile::fragment, &Profile::payload};

struct Plan {
  std::size_t rules = 10;
  std::size_t seeds = 1;
  std::size_t packets = 1000;
  std::vector<FieldPercent> extras = kAllExtras;  ///< the kinds the rule sets take turns at
  std::size_t extra_kinds = 8;                    ///< how many of them each rule set uses
  std::vector<uint64_t> extra_percents = {10, 25, 50};
  std::vector<uint64_t> base_percents = {25, 50, 80};
  std::size_t max_windows = kMaxPayloadWindows;  ///< distinct payload offsets per rule set
  /// Percent of wide prefixes and ranges. Large sets keep rules narrow, so that about half of
  /// the packets still miss every rule.
  uint64_t broad = 5;
  bool catch_all = false;  ///< whether rules that match everything may occur
  /// Every rule names addresses, like the block and allow lists large rule sets mostly are:
  /// src, or dst for `dst_only` percent of rules, or both for `both` percent.
  bool prefix_required = false;
  uint64_t dst_only = 25;
  uint64_t both = 10;
  /// Networks the prefixes are drawn around: few make rules overlap (first match matters),
  /// many keep large sets from covering every packet.
  std::size_t bases = 6;
};

inline RangeField range_field(Rng& rng, uint16_t max, uint16_t typical_max) {
  RangeField field;
  field.max = max;
  field.pool = {0, max};
  for (int i = 0; i < 6; ++i) {
    field.pool.push_back(static_cast<uint16_t>(rng.between(0, typical_max)));
  }
  return field;
}

/// The profile of the `index`-th rule set of `plan`.
inline Profile make_profile(Rng& rng, const Plan& plan, std::size_t index) {
  Profile p;
  static const std::vector<uint64_t> kV4 = {0, 50, 50, 80, 100};
  p.v4_percent = rng.pick(kV4);
  p.src = plan.prefix_required ? plan.both : rng.pick(plan.base_percents);
  p.dst = plan.prefix_required ? plan.dst_only : rng.pick(plan.base_percents);
  p.dst_port = rng.pick(plan.base_percents);
  p.broad = plan.broad;
  p.catch_all = plan.catch_all;
  p.prefix_required = plan.prefix_required;
  for (std::size_t k = 0; k < std::min(plan.extra_kinds, plan.extras.size()); ++k) {
    p.*plan.extras[(index * plan.extra_kinds + k) % plan.extras.size()] =
        rng.pick(plan.extra_percents);
  }
  for (std::size_t i = 0; i < plan.bases; ++i) {
    std::array<uint8_t, 16> v4{};
    std::array<uint8_t, 16> v6{};
    for (std::size_t b = 0; b < 4; ++b)
      v4[b] = rng.byte();
    for (std::size_t b = 0; b < 16; ++b)
      v6[b] = rng.byte();
    p.v4_bases.push_back(v4);
    p.v6_bases.push_back(v6);
  }
  p.ports = range_field(rng, 65535, 65535);
  p.ports.pool.insert(p.ports.pool.end(), {53, 123, 1023, 1024});
  p.lengths = range_field(rng, 65535, 1500);
  p.ttls = range_field(rng, 255, 255);
  p.dscps = range_field(rng, 63, 63);
  p.vlans = range_field(rng, 4095, 4095);
  const uint64_t windows = rng.between(1, plan.max_windows);
  while (p.offsets.size() < windows) {
    const auto offset = static_cast<uint16_t>(rng.between(0, 64));
    if (std::find(p.offsets.begin(), p.offsets.end(), offset) == p.offsets.end()) {
      p.offsets.push_back(offset);
    }
  }
  // Field templates, drawn with the percentages above.
  const uint64_t templates = rng.between(1, 4);
  for (uint64_t t = 0; t < templates; ++t) {
    Template tpl;
    // With prefix_required, p.dst is the percent of rules naming dst instead of src, and
    // p.src the percent naming both.
    const uint64_t sides = rng.below(100);
    tpl.src = p.prefix_required ? sides >= p.dst : rng.percent(p.src);
    tpl.dst = p.prefix_required ? sides < p.dst + p.src : rng.percent(p.dst);
    tpl.src_port = rng.percent(p.src_port);
    tpl.dst_port = rng.percent(p.dst_port);
    tpl.in_port = rng.percent(p.in_port);
    tpl.length = rng.percent(p.length);
    tpl.ttl = rng.percent(p.ttl);
    tpl.dscp = rng.percent(p.dscp);
    tpl.vlan = rng.percent(p.vlan);
    tpl.fragment = rng.percent(p.fragment);
    tpl.payload = rng.percent(p.payload);
    tpl.payload_offset = rng.pick(p.offsets);
    const bool pins_something = tpl.src || tpl.dst || tpl.src_port || tpl.dst_port || tpl.in_port ||
                                tpl.length || tpl.ttl || tpl.dscp || tpl.vlan || tpl.fragment ||
                                tpl.payload;
    if (!pins_something) tpl.dst_port = true;  // a template must be able to make a rule
    p.templates.push_back(tpl);
  }
  return p;
}

/// Clears every bit of `addr` after the first `length`.
inline std::array<uint8_t, 16> masked(std::array<uint8_t, 16> addr, unsigned length) {
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned bit = i * 8;
    if (length >= bit + 8) continue;
    const unsigned keep = length > bit ? length - bit : 0;
    addr[i] = static_cast<uint8_t>(addr[i] & (keep == 0 ? 0 : 0xFFu << (8 - keep)));
  }
  return addr;
}

inline Prefix random_prefix(Rng& rng, const Profile& p, Family family) {
  const bool v4 = family == Family::ipv4;
  const unsigned max = v4 ? 32 : 128;
  Prefix prefix;
  prefix.family = family;
  // Mostly long prefixes; `broad` percent of any length, /0 included.
  static const std::vector<unsigned> kV4Lengths = {16, 20, 24, 24, 28, 31, 32, 32};
  static const std::vector<unsigned> kV6Lengths = {33, 48, 56, 64, 64, 72, 96, 100, 127, 128, 128};
  const unsigned length = rng.percent(p.broad) ? static_cast<unsigned>(rng.between(0, max))
                                               : rng.pick(v4 ? kV4Lengths : kV6Lengths);
  prefix.length = static_cast<uint8_t>(length);
  std::array<uint8_t, 16> addr = rng.pick(v4 ? p.v4_bases : p.v6_bases);
  // Vary some bits below a random depth, so prefixes of one base nest and overlap.
  const unsigned keep = static_cast<unsigned>(rng.between(0, max));
  for (unsigned bit = keep; bit < max; ++bit) {
    if (rng.percent(50)) addr[bit / 8] = static_cast<uint8_t>(addr[bit / 8] ^ (0x80u >> (bit % 8)));
  }
  prefix.addr = masked(addr, length);
  return prefix;
}

/// 1 element usually, up to 3.
inline std::size_t list_size(Rng& rng) {
  if (rng.percent(70)) return 1;
  return rng.percent(60) ? 2 : 3;
}

inline std::vector<Prefix> prefix_list(Rng& rng, const Profile& p,
                                       std::optional<Family> first_family) {
  std::vector<Prefix> list;
  const std::size_t size = list_size(rng);
  for (std::size_t i = 0; i < size; ++i) {
    Family family = rng.percent(p.v4_percent) ? Family::ipv4 : Family::ipv6;
    if (i == 0 && first_family) family = *first_family;
    list.push_back(random_prefix(rng, p, family));
  }
  return list;
}

inline uint16_t range_value(Rng& rng, const RangeField& field) {
  if (rng.percent(50)) return rng.pick(field.pool);
  return static_cast<uint16_t>(rng.between(0, field.max));
}

/// Single values and narrow ranges; `broad` percent of ranges between two random values.
inline std::vector<Range> range_list(Rng& rng, const RangeField& field, uint64_t broad) {
  std::vector<Range> list;
  const std::size_t size = list_size(rng);
  for (std::size_t i = 0; i < size; ++i) {
    const uint16_t a = range_value(rng, field);
    if (rng.percent(40)) {
      list.push_back(Range{a, a});
      continue;
    }
    const uint64_t width = std::min<uint64_t>(64, field.max / 8);
    const uint16_t b =
        rng.percent(broad)
            ? range_value(rng, field)
            : static_cast<uint16_t>(std::min<uint64_t>(field.max, a + rng.between(0, width)));
    list.push_back(Range{std::min(a, b), std::max(a, b)});
  }
  return list;
}

inline rules::Action random_action(Rng& rng) {
  rules::Action action;
  switch (rng.below(4)) {
    case 0:
      action.kind = rules::ActionKind::drop;
      break;
    case 1:
      action.kind = rules::ActionKind::forward;
      break;
    case 2:
      action.kind = rules::ActionKind::forward;
      action.port = static_cast<int>(rng.below(4));
      action.port_name = "p" + std::to_string(action.port);
      break;
    default:
      action.kind = rules::ActionKind::rate_limit;
      action.rate_limit.unit = rules::RateLimit::Unit::packets;
      // At least one packet per worker of the two the rule sets are checked for.
      action.rate_limit.rate = rng.between(2, 1'000'000);
      action.rate_limit.burst = rng.between(2, 1000);
      break;
  }
  return action;
}

inline Rule random_rule(Rng& rng, const Profile& p, std::size_t index) {
  for (;;) {
    Rule rule;
    rule.id = "r" + std::to_string(index);
    rule.where = SourceLocation{"random.yaml", static_cast<int>(index) + 2, 5};
    Match& m = rule.match;
    const Template& t = rng.pick(p.templates);
    if (t.src) m.src = prefix_list(rng, p, std::nullopt);
    if (t.dst) {
      // A rule file refuses src and dst lists without a common family; stay loadable.
      m.dst = prefix_list(
          rng, p, m.src.empty() ? std::nullopt : std::optional<Family>(rng.pick(m.src).family));
    }
    if (t.src_port) m.src_port = range_list(rng, p.ports, p.broad);
    if (t.dst_port) m.dst_port = range_list(rng, p.ports, p.broad);
    if (t.in_port) {
      m.in_port.push_back(static_cast<int>(rng.below(4)));
      if (rng.percent(30)) {
        const int other = static_cast<int>(rng.below(4));
        if (other != m.in_port[0]) m.in_port.push_back(other);
      }
    }
    if (t.length) m.length = range_list(rng, p.lengths, p.broad);
    if (t.ttl) m.ttl = range_list(rng, p.ttls, p.broad);
    if (t.dscp) m.dscp = range_list(rng, p.dscps, p.broad);
    if (t.vlan) m.vlan = range_list(rng, p.vlans, p.broad);
    if (t.payload) {
      rules::PayloadMatch payload;
      payload.offset = t.payload_offset;
      const std::size_t size = rng.between(1, rules::PayloadMatch::kMaxBytes);
      for (std::size_t i = 0; i < size; ++i) {
        uint8_t mask = 0xff;
        if (rng.percent(25)) mask = rng.byte();
        if (rng.percent(5)) mask = 0;
        payload.mask.push_back(mask);
        payload.value.push_back(static_cast<uint8_t>(rng.byte() & mask));
      }
      m.payload = payload;
    }
    if (t.fragment) {
      const bool needs_header = !m.src_port.empty() || !m.dst_port.empty() || m.payload;
      // A rule file refuses non_first with fields that need the UDP header.
      m.fragment = static_cast<FragmentKind>(rng.below(needs_header ? 2 : 3));
    }
    rule.action = random_action(rng);
    const bool pins_something = !m.src.empty() || !m.dst.empty() || !m.src_port.empty() ||
                                !m.dst_port.empty() || !m.in_port.empty() || !m.length.empty() ||
                                !m.ttl.empty() || !m.dscp.empty() || !m.vlan.empty() ||
                                m.fragment || m.payload;
    // A catch-all rule hides every later one, so it is rare and only where the plan wants it.
    if (!pins_something && !(p.catch_all && rng.percent(10))) continue;
    // Keep expansion modest so 10,000-rule sets build quickly.
    if (classifier_entries(rule, Family::ipv4) + classifier_entries(rule, Family::ipv6) <= 48) {
      return rule;
    }
  }
}

/// Adds `rule`'s signatures to `seen`; false (adding nothing) when one would be a signature
/// beyond kMaxSignatures for its family.
inline bool fits_signatures(const Rule& rule, std::vector<Signature> (&seen)[2]) {
  std::optional<Signature> found[2] = {signature_of(rule, Family::ipv4),
                                       signature_of(rule, Family::ipv6)};
  for (int f = 0; f < 2; ++f) {
    if (!found[f]) continue;
    const bool known = std::find(seen[f].begin(), seen[f].end(), *found[f]) != seen[f].end();
    if (!known && seen[f].size() == kMaxSignatures) return false;
  }
  for (int f = 0; f < 2; ++f) {
    if (found[f] && std::find(seen[f].begin(), seen[f].end(), *found[f]) == seen[f].end()) {
      seen[f].push_back(*found[f]);
    }
  }
  return true;
}

inline std::vector<Rule> random_rules(Rng& rng, const Profile& p, std::size_t count) {
  std::vector<Rule> rules;
  rules.reserve(count);
  std::vector<Signature> seen[2];
  for (std::size_t i = 0; i < count; ++i) {
    // A template's wide draws (a /0, a whole-domain range) pin fewer fields than the template,
    // so its rules can land on a few signatures; re-draw the rare one that would be too many.
    Rule rule = random_rule(rng, p, i);
    while (!fits_signatures(rule, seen))
      rule = random_rule(rng, p, i);
    rules.push_back(std::move(rule));
  }
  return rules;
}

// --- random packets --------------------------------------------------------------------------

/// A packet key and the payload bytes it points at.
struct Packet {
  PacketKey key;
  std::vector<uint8_t> payload;
};

/// An address inside `prefix`: host bits random, or all zero / all one at the edges.
inline std::array<uint8_t, 16> address_in(Rng& rng, const Prefix& prefix) {
  const unsigned max = prefix.family == Family::ipv4 ? 32 : 128;
  std::array<uint8_t, 16> addr = prefix.addr;
  const uint64_t mode = rng.below(10);
  for (unsigned bit = prefix.length; bit < max; ++bit) {
    const bool set = mode == 0 ? false : mode == 1 ? true : rng.percent(50);
    if (set) addr[bit / 8] = static_cast<uint8_t>(addr[bit / 8] | (0x80u >> (bit % 8)));
  }
  return addr;
}

inline std::array<uint8_t, 16> random_address(Rng& rng, const Profile& p, Family family) {
  if (rng.percent(40)) return address_in(rng, random_prefix(rng, p, family));
  std::array<uint8_t, 16> addr{};
  const std::size_t bytes = family == Family::ipv4 ? 4 : 16;
  for (std::size_t b = 0; b < bytes; ++b)
    addr[b] = rng.byte();
  return addr;
}

/// A value in one of `list`'s ranges (often an edge), sometimes just outside one.
inline uint16_t value_near(Rng& rng, const std::vector<Range>& list, const RangeField& field) {
  if (list.empty()) return range_value(rng, field);
  const Range& r = rng.pick(list);
  switch (rng.below(12)) {
    case 0:
      return r.first > 0 ? static_cast<uint16_t>(r.first - 1) : r.first;
    case 1:
      return r.last < field.max ? static_cast<uint16_t>(r.last + 1) : r.last;
    case 2:
    case 3:
    case 4:
      return r.first;
    case 5:
    case 6:
    case 7:
      return r.last;
    default:
      return static_cast<uint16_t>(rng.between(r.first, r.last));
  }
}

/// Draws a packet; when `near` is given, its fields are taken from that rule's lists so the
/// packet probably matches it (or misses it narrowly).
inline Packet random_packet(Rng& rng, const Profile& p, const Rule* near) {
  static const Match kEmpty;
  const Match& m = near != nullptr ? near->match : kEmpty;
  Packet packet;
  PacketKey& k = packet.key;

  // Family and addresses.
  const Prefix* src = m.src.empty() || rng.percent(5) ? nullptr : &rng.pick(m.src);
  const Prefix* dst = m.dst.empty() || rng.percent(5) ? nullptr : &rng.pick(m.dst);
  if (src != nullptr && dst != nullptr && src->family != dst->family) dst = nullptr;
  k.family = src != nullptr   ? src->family
             : dst != nullptr ? dst->family
             : rng.percent(p.v4_percent == 0     ? 10
                           : p.v4_percent == 100 ? 90
                                                 : p.v4_percent)
                 ? Family::ipv4
                 : Family::ipv6;
  if (dst != nullptr && dst->family != k.family) dst = nullptr;
  k.src = src != nullptr ? address_in(rng, *src) : random_address(rng, p, k.family);
  k.dst = dst != nullptr ? address_in(rng, *dst) : random_address(rng, p, k.family);

  // Fragment, and with it whether the UDP header (ports, payload) is there.
  if (m.fragment && rng.percent(90)) {
    k.fragment = *m.fragment;
  } else {
    const uint64_t f = rng.below(100);
    k.fragment = f < 70   ? FragmentKind::none
                 : f < 85 ? FragmentKind::first
                          : FragmentKind::non_first;
  }
  k.has_ports = k.fragment != FragmentKind::non_first;

  if (k.has_ports) {
    k.src_port = value_near(rng, m.src_port, p.ports);
    k.dst_port = value_near(rng, m.dst_port, p.ports);
    std::size_t length = rng.between(0, 100);
    if (m.payload) {
      const std::size_t need = m.payload->offset + m.payload->value.size();
      const uint64_t mode = rng.below(100);
      length = mode < 75   ? need + rng.between(0, 20)
               : mode < 90 ? rng.between(0, need - 1)  // too short for the rule
                           : rng.between(0, 100);
    }
    packet.payload.resize(length);
    for (uint8_t& b : packet.payload)
      b = rng.byte();
    if (m.payload && rng.percent(85)) {
      const rules::PayloadMatch& pm = *m.payload;
      // Write the matching bytes even past the payload's end (the classifier must not look).
      packet.payload.resize(
          std::max<std::size_t>(packet.payload.size(), pm.offset + pm.value.size()));
      for (std::size_t i = 0; i < pm.value.size(); ++i) {
        uint8_t& b = packet.payload[pm.offset + i];
        b = static_cast<uint8_t>(pm.value[i] | (b & ~pm.mask[i]));
      }
      if (rng.percent(5)) {
        const std::size_t i = rng.below(pm.value.size());
        packet.payload[pm.offset + i] =
            static_cast<uint8_t>(packet.payload[pm.offset + i] ^ rng.byte());
      }
    }
    k.payload_length = static_cast<uint16_t>(length);
  }

  k.in_port = static_cast<uint8_t>(
      !m.in_port.empty() && rng.percent(85) ? rng.pick(m.in_port) : static_cast<int>(rng.below(4)));
  k.l3_length = value_near(rng, m.length, p.lengths);
  k.ttl = static_cast<uint8_t>(value_near(rng, m.ttl, p.ttls));
  k.dscp = static_cast<uint8_t>(value_near(rng, m.dscp, p.dscps));
  const bool tag = !m.vlan.empty() ? rng.percent(92) : rng.percent(40);
  if (tag) {
    k.vlan_count = static_cast<uint8_t>(rng.percent(80) ? 1 : 2);
    k.outer_vlan = value_near(rng, m.vlan, p.vlans);
    if (k.vlan_count == 2) k.inner_vlan = static_cast<uint16_t>(rng.below(4096));
  }
  return packet;
}

inline std::vector<Packet> random_packets(Rng& rng, const Profile& p,
                                          const std::vector<Rule>& rules, std::size_t count) {
  std::vector<Packet> packets;
  packets.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const Rule* near = !rules.empty() && rng.percent(60) ? &rng.pick(rules) : nullptr;
    packets.push_back(random_packet(rng, p, near));
  }
  for (Packet& packet : packets) {  // the vectors no longer move
    packet.key.payload = packet.key.has_ports ? packet.payload.data() : nullptr;
  }
  return packets;
}

// --- describing failures ---------------------------------------------------------------------

inline std::string address_text(Family family, const std::array<uint8_t, 16>& addr) {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == Family::ipv4 ? AF_INET : AF_INET6, addr.data(), buffer, sizeof buffer);
  return buffer;
}

template <class T, class F>
inline std::string list_text(const std::vector<T>& list, F text) {
  std::string out = "[";
  for (const T& item : list)
    out += (out.size() > 1 ? ", " : "") + text(item);
  return out + "]";
}

inline std::string describe(const Rule& rule) {
  const Match& m = rule.match;
  std::ostringstream out;
  out << rule.id << " {";
  auto prefixes = [](const std::vector<Prefix>& l) {
    return list_text(l, [](const Prefix& x) { return x.to_string(); });
  };
  auto ranges = [](const std::vector<Range>& l) {
    return list_text(l, [](const Range& x) { return x.to_string(); });
  };
  if (!m.src.empty()) out << " src: " << prefixes(m.src);
  if (!m.dst.empty()) out << " dst: " << prefixes(m.dst);
  if (!m.src_port.empty()) out << " src_port: " << ranges(m.src_port);
  if (!m.dst_port.empty()) out << " dst_port: " << ranges(m.dst_port);
  if (!m.in_port.empty()) {
    out << " in_port: " << list_text(m.in_port, [](int x) { return std::to_string(x); });
  }
  if (!m.length.empty()) out << " length: " << ranges(m.length);
  if (!m.ttl.empty()) out << " ttl: " << ranges(m.ttl);
  if (!m.dscp.empty()) out << " dscp: " << ranges(m.dscp);
  if (!m.vlan.empty()) out << " vlan: " << ranges(m.vlan);
  if (m.fragment) out << " fragment: " << rules::fragment_name(*m.fragment);
  if (m.payload) {
    out << " payload: {offset: " << m.payload->offset
        << ", value: " << rules::to_hex(m.payload->value)
        << ", mask: " << rules::to_hex(m.payload->mask) << "}";
  }
  out << " } -> " << rules::action_to_string(rule.action);
  return out.str();
}

inline std::string describe(const PacketKey& k) {
  std::ostringstream out;
  out << (k.family == Family::ipv4 ? "IPv4 " : "IPv6 ") << address_text(k.family, k.src) << ":"
      << k.src_port << " -> " << address_text(k.family, k.dst) << ":" << k.dst_port
      << " has_ports=" << k.has_ports << " fragment=" << rules::fragment_name(k.fragment)
      << " in_port=" << int{k.in_port} << " length=" << k.l3_length << " ttl=" << int{k.ttl}
      << " dscp=" << int{k.dscp} << " vlans=" << int{k.vlan_count} << " outer=" << k.outer_vlan
      << " payload_length=" << k.payload_length << " payload=";
  if (k.payload != nullptr) {
    out << rules::to_hex(
        std::vector<uint8_t>(k.payload, k.payload + std::min<uint16_t>(k.payload_length, 96)));
  }
  return out.str();
}

}  // namespace udpsieve::test::rulegen
