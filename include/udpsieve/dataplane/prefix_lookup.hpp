#pragma once
/// Rules that pin one address by prefixes of any lengths, and perhaps ports, looked up by a
/// binary search on prefix lengths instead of by rte_acl.
///
/// Block and allow lists name a source (or destination) prefix of whatever length the operator
/// or a feed gives, often with a service port: 10,000 such rules over seventeen IPv4 lengths
/// are too many shapes for a hashed lookup (exact_lookup.hpp: a probe per shape) and cost
/// rte_acl 160-220 ms to build. A large context (rule_limits.hpp; acl_classifier.cpp decides
/// how large) whose rules pin only one address and the ports, with no flags byte to test
/// (fragment kinds, VLANs) and no payload, becomes this:
///
/// - Each rule expands into *items*, one per prefix x source port range x destination port
///   range: (rule index + 1, the two ranges, whether a UDP header is needed). A rule that pins
///   no address (merged into the context from a port-only group) has the empty prefix.
/// - Every address's matches are the items of the prefixes covering it, which nest: the
///   items of a prefix's *leaf* are its own and its parent's leaf's (the longest listed
///   prefix covering it), sorted by rule index, without the items an earlier one covers (their
///   rules are shadowed there) and so cut after the first that matches every packet (no ports
///   pinned): the first item of a leaf whose ports a packet has is its first match in file
///   order. Leaves longer than kMaxPrefixLeaf make the context rte_acl's.
/// - The longest listed prefix covering an address is found from its first 16 bits and then
///   by Waldvogel's binary search on prefix lengths (Waldvogel, Varghese, Turner and
///   Plattner, 1997). A table of 2^16 *blocks* holds, for each value of the first 16 bits, the
///   leaf of the longest listed prefix of at most 16 bits covering it and the range of longer
///   lengths listed under it. One hash table keyed by (address masked to a length, length)
///   holds each longer prefix and, along its search path over its block's range, a *marker* at
///   the shorter lengths the search visits first, which sends the search longer. Every key
///   holds the leaf of the longest listed prefix covering it at its length or shorter, so a
///   search that goes longer and finds nothing keeps the answer it had. A block of one length
///   costs one probe; IPv4's sixteen longer lengths at most five, IPv6's 112 at most seven.
///
/// Building costs a sort of the prefixes and a hash insert per prefix and marker: milliseconds
/// for 10,000 rules. A bitmap of the blocks with anything in them turns away packets no prefix
/// covers before they touch a block. DPDK-free: lookups read the parsed packets.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "udpsieve/dataplane/huge_region.hpp"
#include "udpsieve/dataplane/rule_limits.hpp"
#include "udpsieve/rules/packet_key.hpp"
#include "udpsieve/rules/rule.hpp"
#include "udpsieve/rules/rule_list.hpp"

namespace udpsieve::dataplane {

/// Most items one address may have to scan (its leaf).
inline constexpr std::size_t kMaxPrefixLeaf = 32;

/// Which address a prefix lookup keys on.
enum class PrefixSide : uint8_t { src, dst };

/// The side a context of `signature` (its rules' signatures' union) would key on, when a
/// prefix lookup can take it: it pins one address, perhaps ports, nothing else.
[[nodiscard]] std::optional<PrefixSide> prefix_side(const Signature& signature) noexcept;
/// The side a prefix lookup would key `rule` on, given its `signature` for the family: when it
/// pins one address, perhaps ports, and tests no fragment kind or VLAN tag.
[[nodiscard]] std::optional<PrefixSide> prefix_side(const rules::Rule& rule,
                                                    const Signature& signature) noexcept;

/// What one prefix of a rule matches besides the address: a source and a destination port
/// range (0-65535 where the rule names none).
struct PrefixItem {
  uint32_t rule;  ///< rule index + 1
  uint16_t src_first, src_last;
  uint16_t dst_first, dst_last;
  bool needs_ports;  ///< only packets with a UDP header (the rule names ports)
  /// Whether every packet `later` matches under the same prefix, this matches too.
  [[nodiscard]] bool covers(const PrefixItem& later) const noexcept {
    return (!needs_ports || later.needs_ports) && src_first <= later.src_first &&
           src_last >= later.src_last && dst_first <= later.dst_first && dst_last >= later.dst_last;
  }
  /// Whether it matches every packet its prefix covers.
  [[nodiscard]] bool matches_every_packet() const noexcept {
    return !needs_ports && src_first == 0 && src_last == 65535 && dst_first == 0 &&
           dst_last == 65535;
  }
};

/// One qualifying context. `Words` is 1 for IPv4, 4 for IPv6.
template <unsigned Words>
class PrefixLookup {
 public:
  /// Builds the lookup of the rules at `members` (indices into `rules`, ascending) for their
  /// family, keyed on `side`; `seed` keys the hash, so senders cannot aim at long probe runs.
  /// Returns null when the rules do not qualify: a rule tests a fragment kind, a VLAN or the
  /// payload, or pins a field besides the ports and that address, or some address would scan
  /// more than kMaxPrefixLeaf items.
  static std::unique_ptr<PrefixLookup> build(const rules::RuleList& rules,
                                             const std::vector<std::size_t>& members,
                                             PrefixSide side, std::array<uint64_t, 2> seed);

  /// Lowers results[i] to this lookup's match for packets[i] where that is a lower rule index
  /// + 1 (results of 0 mean no match yet).
  void classify(const rules::PacketKey* const* packets, uint32_t* results,
                uint32_t count) const noexcept;

  /// The rules' items (a rule's prefixes x port ranges), as rte_acl would count entries.
  [[nodiscard]] std::size_t entries() const noexcept { return entries_; }
  /// Distinct prefix lengths longer than the blocks' 16 bits (those searched).
  [[nodiscard]] std::size_t lengths() const noexcept { return lengths_.size(); }
  [[nodiscard]] std::size_t memory_bytes() const noexcept;

 private:
  using Item = PrefixItem;
  using Address = std::array<uint32_t, Words>;

  PrefixLookup() = default;

  /// Items of a leaf: items_[first, first + count).
  struct Leaf {
    uint32_t first = 0;
    uint32_t count = 0;
  };
  struct alignas(16) Slot {
    Address address;  ///< host byte order, masked to its length
    uint16_t length;  ///< index into lengths_ + 1; 0: empty
    uint16_t count;   ///< the leaf's
    uint32_t first;
  };
  /// What the first 16 address bits decide: the leaf of the longest listed prefix of at most
  /// 16 bits covering them, and the lengths_ indices [lo, hi] of the longer prefixes under them
  /// (lo > hi: none), the range a search covers.
  struct Block {
    uint8_t lo = 255;
    uint8_t hi = 0;
    uint16_t count = 0;
    uint32_t first = 0;
  };

  [[nodiscard]] uint64_t hash(const Address& address, uint32_t length) const noexcept;
  /// Adds a key unless it is there (a marker many prefixes share, or a prefix's own).
  void insert(const Address& address, uint32_t length, Leaf leaf);
  /// The first match in items_[first, first + count) for `packet`, or 0.
  [[nodiscard]] uint32_t first_match(uint32_t first, uint32_t count,
                                     const rules::PacketKey& packet) const noexcept;

  PrefixSide side_ = PrefixSide::src;
  std::array<uint64_t, 2> seed_{};
  std::vector<uint8_t> lengths_;  ///< ascending, above 16: the binary search's sorted array
  std::vector<Address> masks_;    ///< per length, host byte order
  std::vector<Item> items_;       ///< the leaves' items, each leaf's contiguous
  std::size_t entries_ = 0;
  std::size_t mask_ = 0;  ///< slots - 1
  std::unique_ptr<HugeRegion> huge_;
  std::unique_ptr<Slot[]> heap_;
  Slot* slots_ = nullptr;
  /// A bit per first 16 address bits with anything in their block (8 KiB), in front of the
  /// blocks (512 KiB).
  std::vector<uint64_t> occupied_;
  std::vector<Block> blocks_;
};

extern template class PrefixLookup<1>;
extern template class PrefixLookup<4>;

}  // namespace udpsieve::dataplane
