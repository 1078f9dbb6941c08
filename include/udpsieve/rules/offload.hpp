#pragma once
/// NIC offload planning: which drop rules may also go into the NIC (rte_flow) so that a flood is
/// dropped before any CPU sees it, and the flow entries that express them. DPDK-free.
///
/// Software stays the authority: every rule stays in the classifier, and the NIC may drop only
/// packets that software would drop WITH THE SAME RULE as first match, so that a rule's count
/// (software's plus its entries' NIC counters) stays right. The contract of plan_offload, for
/// one list of rules in first-match order (file and runtime rules interleaved as they apply):
///
/// 1. Only `drop` rules are candidates: a NIC entry here only drops; forwarding, rate limits
///    and counting per worker stay in software.
/// 2. A rule is offloaded only when its match can be written as NIC entries exactly (every
///    packet with a UDP header that the rule matches is matched by one of its entries, and no
///    other packet is). Not expressible, so left in software with the field named:
///    - `payload`: rte_flow has no portable item for bytes at an offset into the UDP payload;
///    - `length`: an L3-length range would need the NIC to range-match IPv4 total length and
///      IPv6 payload length (minus 40), which few drivers do;
///    - `fragment`: rte_flow cannot say "not a fragment" (or "first fragment") portably;
///    - more than `max_entries_per_rule` entries after expansion (below): NIC flow tables are
///      small and shared by every offloaded rule; the reason says how many it would take.
///    A rule that can match no packet is not offloaded either (there is nothing to drop).
/// 3. Expansion: one entry per combination of a rule's list elements, per family. src and dst
///    prefixes (IPv4 and IPv6; a rule whose lists hold both families gets entries for each
///    family its src and dst lists both allow; a /0 or an absent list is "any"; a prefix inside
///    another of the same list is dropped); src_port and dst_port (16-bit), ttl (8-bit), dscp
///    (6-bit) and vlan (12-bit, the outer tag) ranges are merged and split into aligned
///    value/mask blocks (split_range), each block one entry. A port, ttl or dscp list covering
///    its whole domain is "any"; a vlan list always stays (it still requires a tag: mask 0).
///    `in_port` becomes OffloadDecision::ports: the dataplane installs the entries on those
///    ports only. A rule with no match field is a drop-all-UDP rule: one "any" entry per family.
/// 4. Order: rule j is offloaded only when every EARLIER rule i that may match a packet j
///    matches (may_overlap) is itself an offloaded drop rule with the same vlan-ness (both
///    with a vlan list or both without): i's entries get a smaller priority value than j's,
///    so the NIC gives a packet both match to i, as software does. Otherwise (the reason
///    names i):
///    - i forwards or rate-limits: the NIC would drop packets software forwards;
///    - i is a drop rule that stays in software: the NIC would count i's packets on j;
///    - i is offloaded but differs in vlan-ness: rte_flow patterns with and without a vlan item
///      do not treat tags alike on every driver (a pattern without one may match untagged
///      packets only; one with it may miss double-tagged packets or other TPIDs, while the
///      parser takes 0x8100, 0x88a8 and 0x9100), so i's entries could miss a packet j's catch,
///      and it would be counted on j. Patterns of the same shape treat a packet alike.
///    Only earlier rules matter: software gives a packet to its first match.
/// 5. in_port: may_overlap is false when the two in_port sets (empty = every port) are
///    disjoint, so an earlier rule on other ports never blocks.
/// 6. What is assumed of the NIC (entry_matches is the model): every entry carries the udp
///    item, which matches only packets carrying a UDP header. So no entry matches a non-first
///    fragment: software rules with port fields never match those either, and rules without
///    them do, but then the NIC drops a subset of the rule's packets, which is allowed; since
///    no entry of any rule matches them, the order argument of rule 4 is not disturbed. An
///    entry without a vlan item may match tagged and untagged packets (rte_flow's documented
///    meaning when the eth item's type and has_vlan are left unspecified), which is safe
///    because such a rule ignores tags in software too; one with a vlan item matches only
///    packets whose outer tag has that id (untagged packets never match a rule with vlan, in
///    software or NIC). Within one family, entries are exact per field, so for packets the
///    NIC parses like software, NIC and software agree. may_overlap uses the parser's tie
///    "no UDP header exactly for non-first fragments", so `fragment: non_first` rules do not
///    block later rules with port fields. Not covered: packets software's parser refuses
///    (malformed, a third tag, more than eight IPv6 extension headers) but a NIC might still
///    match; software drops those without a rule.
///
/// For the dataplane: a FlowEntry is eth / [vlan: the 12 VID bits of tci] / ipv4 {src, dst,
/// ttl, dscp in tos bits 7-2} or ipv6 {src, dst, hop_limits, dscp in the traffic class's bits
/// 7-2} / udp {src_port, dst_port}, action drop (+ count), at the decision's priority, on the
/// decision's ports.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "udpsieve/rules/packet_key.hpp"
#include "udpsieve/rules/rule.hpp"
#include "udpsieve/rules/rule_list.hpp"

namespace udpsieve::rules {

/// Matches x when (x & mask) == value; value has no bit outside mask.
struct MaskedValue {
  uint16_t value = 0;
  uint16_t mask = 0;
  friend bool operator==(const MaskedValue&, const MaskedValue&) = default;
};

/// Splits an inclusive range of a `bits`-wide field (1-16) into the fewest aligned value/mask
/// blocks, in ascending order. Values past the field's width are left out; an empty range (or
/// one wholly past the width) gives no block; the whole domain gives one block with mask 0.
[[nodiscard]] std::vector<MaskedValue> split_range(Range range, unsigned bits);

/// One NIC flow entry: one combination of a rule's list elements, in the form rte_flow items
/// take (the dataplane turns it into eth / [vlan] / ipv4|ipv6 / udp items).
struct FlowEntry {
  Family family = Family::ipv4;
  std::optional<Prefix> src, dst;  ///< absent: any address of the family (never a /0)
  /// Absent: any. src_port, dst_port, ttl, dscp are never present with mask 0. vlan present:
  /// the packet must carry an outer tag whose 12-bit id matches (mask 0: any tagged packet).
  std::optional<MaskedValue> src_port, dst_port, ttl, dscp, vlan;
  friend bool operator==(const FlowEntry&, const FlowEntry&) = default;
};

struct OffloadLimits {
  std::size_t max_entries_per_rule = 64;
  /// Rule pairs the order check (rule 4) may compare before the remaining rules are left in
  /// software: it runs on the control thread before every table is published.
  std::size_t max_pairs = 20'000'000;
};

struct OffloadDecision {
  std::size_t rule = 0;  ///< index in the list
  bool offload = false;
  /// When not offloaded: one sentence for operators, e.g. "an earlier rule 'allow-dns'
  /// (forward) overlaps it, so the NIC could drop packets software forwards".
  std::string reason;
  std::vector<FlowEntry> entries;  ///< when offloaded: IPv4 entries first, then IPv6
  std::vector<int> ports;          ///< the rule's in_port list, sorted (empty: every port)
  /// 0 = highest: one more than the highest priority of the earlier offloaded rules it
  /// overlaps, 0 when it overlaps none. Disjoint rules share a priority, so a NIC with one
  /// priority level takes a block list, and a new rule moves only the rules it overlaps.
  uint32_t priority = 0;
};

/// A decision for every drop rule of `rules` (first-match order), in list order; other rules
/// get none. See the top of this file for the contract.
[[nodiscard]] std::vector<OffloadDecision> plan_offload(const RuleList& rules,
                                                        const OffloadLimits& limits = {});

/// Whether some UDP packet could match both (conservative: true unless provably disjoint).
/// Disjoint means: no family both allow, or disjoint in_port sets, port, ttl, dscp, length or
/// vlan ranges, fragment kinds (counting "port fields or payload need a UDP header, which
/// non-first fragments lack"), or payload bytes that contradict; a match that matches nothing
/// is disjoint from everything.
[[nodiscard]] bool may_overlap(const Match& a, const Match& b);

/// Whether `entry` matches the parsed UDP packet `key`, as the NIC is assumed to (rule 6
/// above): the family, a UDP header (the udp item), each present field. The input port is the
/// decision's (`ports`), not the entry's, so it is not looked at here.
[[nodiscard]] bool entry_matches(const FlowEntry& entry, const PacketKey& key) noexcept;

}  // namespace udpsieve::rules
