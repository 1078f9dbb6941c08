#pragma once
/// Rules that pin addresses, ports, lengths and payload bytes, looked up by hashing instead of
/// by rte_acl.
///
/// Most large rule sets are block and allow lists: a source or destination prefix, perhaps a
/// destination port or a few, perhaps a packet length or a few payload bytes at a fixed offset.
/// A classifier context (rule_limits.hpp) whose rules all have that form is searched as a
/// *tuple space* (Srinivasan, Suri and Varghese, 1999): each of its entries (one per
/// combination of a rule's prefixes, ports and lengths, as in rte_acl) has a *shape*: the
/// source and destination prefix lengths, which ports and whether the length it pins, and its
/// payload match's offset, end and mask. One hash table per shape is keyed by the packet's
/// fields masked to that shape and holds, for each key, the lowest rule index + 1 of the
/// entries with that key. A lookup probes each shape's table once and keeps the lowest index:
/// the first match in file order, as rte_acl's priorities give it.
///
/// A context qualifies when its rules pin nothing else (no sets, TTLs, DSCP, VLANs, fragment
/// kinds, input ports) and not both the source port and the length, each expands into at most
/// kMaxExactEntriesPerRule entries (port and length ranges count one entry per value), and its
/// entries have at most kMaxExactShapes shapes (each shape is one probe per packet; rte_acl's
/// one trie walk is cheaper beyond that). Building it costs a hash insert per entry, where
/// rte_acl merges a trie per rule. In front of each table, bitmaps of the entries' address
/// prefixes and hashes turn most packets that match nothing away before they touch a slot.
/// DPDK-free: lookups read the parsed packets (and the payload windows of their AclKeys).

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "udpsieve/dataplane/acl_key.hpp"
#include "udpsieve/dataplane/huge_region.hpp"
#include "udpsieve/rules/packet_key.hpp"
#include "udpsieve/rules/rule.hpp"
#include "udpsieve/rules/rule_list.hpp"

namespace udpsieve::dataplane {

/// The shapes and entries of a context's rules for one family, if it qualifies.
struct ExactPlan {
  struct Shape {
    uint8_t src_length = 0;  ///< 0: the source is not pinned
    uint8_t dst_length = 0;
    bool src_port = false;     ///< pins the source port
    bool dst_port = false;     ///< pins the destination port
    bool length = false;       ///< pins the L3 length (never with the source port)
    bool needs_ports = false;  ///< only packets with a UDP header match (port or payload rules)
    /// A payload match: its offset, its end (offset + bytes; 0: no payload match), which the
    /// payload must reach, and its mask (zero past its bytes).
    uint16_t payload_offset = 0;
    uint16_t payload_end = 0;
    std::array<uint8_t, 16> payload_mask{};
    friend bool operator==(const Shape&, const Shape&) = default;
  };
  std::vector<Shape> shapes;
  std::vector<std::size_t> shape_entries;  ///< the entries of each shape, to size its table
  std::size_t entries = 0;
};

inline constexpr std::size_t kMaxExactShapes = 4;
inline constexpr std::size_t kMaxExactEntriesPerRule = 256;

/// What each rule brings to a hashed lookup of one family, found once per rule: whether it
/// qualifies (it pins nothing else and expands into at most kMaxExactEntriesPerRule entries),
/// the shapes its entries take, with how many take each, and the entries' keys. Part of
/// RuleFacts (rule_facts.hpp), so a reload copies an unchanged rule's instead of walking its
/// entries again, and a lookup is built from these compact lists, not from the rules.
class ExactUses {
 public:
  struct Use {
    uint32_t shape;    ///< into shapes()
    uint32_t entries;  ///< of the rule's entries, those of this shape
  };
  /// One entry's key, masked to its shape (the payload bytes are the rule's).
  struct Entry {
    uint32_t shape;               ///< into shapes()
    uint32_t ports;               ///< as a slot holds them (ExactLookup)
    std::array<uint32_t, 4> src;  ///< network byte order; IPv4 in the first word
    std::array<uint32_t, 4> dst;
  };

  /// Appends the next rule's: `rule` with its signature for `family` (nullopt: it cannot match
  /// the family, and does not qualify).
  void add(const rules::Rule& rule, const std::optional<Signature>& signature,
           rules::Family family);
  /// Appends rules [at, at + count) of `other` as the next rules' (the same rules, found for
  /// another list).
  void copy(const ExactUses& other, std::size_t at, std::size_t count);
  /// Makes room for `rules` rules with about as many uses and entries per rule as `like` has.
  void reserve(std::size_t rules, const ExactUses& like);

  [[nodiscard]] std::size_t size() const noexcept { return qualifies_.size(); }
  [[nodiscard]] bool qualifies(std::size_t rule) const noexcept { return qualifies_[rule] != 0; }
  /// The shapes of a qualifying rule's entries (each once).
  [[nodiscard]] const Use* uses_begin(std::size_t rule) const noexcept {
    return uses_.data() + first_[rule];
  }
  [[nodiscard]] const Use* uses_end(std::size_t rule) const noexcept {
    return uses_.data() + first_[rule + 1];
  }
  /// A qualifying rule's entries.
  [[nodiscard]] const Entry* entries_begin(std::size_t rule) const noexcept {
    return entries_.data() + first_entry_[rule];
  }
  [[nodiscard]] const Entry* entries_end(std::size_t rule) const noexcept {
    return entries_.data() + first_entry_[rule + 1];
  }
  /// Every distinct shape, in first-use order.
  [[nodiscard]] const std::vector<ExactPlan::Shape>& shapes() const noexcept { return shapes_; }

 private:
  uint32_t shape_id(const ExactPlan::Shape& shape);
  /// Ends the rule whose uses and entries were appended last.
  void end_rule(bool qualifies);
  std::vector<ExactPlan::Shape> shapes_;
  uint32_t last_shape_ = 0;  ///< consecutive rules mostly share a shape: tried first
  std::vector<Use> uses_;
  std::vector<uint32_t> first_{0};  ///< rule r's uses are [first_[r], first_[r + 1])
  std::vector<Entry> entries_;
  std::vector<uint32_t> first_entry_{0};  ///< rule r's entries, likewise
  std::vector<uint8_t> qualifies_;
  /// copy()'s map of `other`'s shape ids to these (for the last `other` only).
  const ExactUses* mapped_from_ = nullptr;
  std::vector<uint32_t> mapped_;
};

/// The plan of the rules at `members` (indices into `uses`), or nullopt when they do not
/// qualify.
[[nodiscard]] std::optional<ExactPlan> plan_exact(const ExactUses& uses,
                                                  const std::vector<std::size_t>& members);

/// A family's rules split for planning: those one hashed lookup takes (the rules whose
/// entries all have one of the kMaxExactShapes shapes with the most entries) and the rest (the
/// rules of the family rte_acl needs), each in file order.
struct ExactSplit {
  std::vector<std::size_t> members;
  ExactPlan plan;  ///< of the members
  std::vector<std::size_t> rest;
};
/// `signatures` and `uses` are the rules' for one family.
[[nodiscard]] ExactSplit split_exact(const Signatures& signatures, const ExactUses& uses);

/// One qualifying context: a hash table per shape. `Words` is 1 for IPv4, 4 for IPv6.
template <unsigned Words>
class ExactLookup {
 public:
  /// Builds the tables of the rules at `members` (which plan_exact() accepted as `plan`) from
  /// their entries in `uses` (the payload bytes from `rules`); `windows` are the key's payload
  /// window offsets (AclKey::payload); `seed` keys the hash, so senders cannot aim at long
  /// probe runs.
  ExactLookup(const rules::RuleList& rules, const ExactUses& uses,
              const std::vector<std::size_t>& members, const ExactPlan& plan,
              const std::vector<uint16_t>& windows, std::array<uint64_t, 2> seed);

  /// Lowers results[i] to this context's match for packets[i] where that is a lower rule
  /// index + 1 (results of 0 mean no match yet). The fields come from the parsed packet; of
  /// keys[i] (AclKey bytes) only the payload windows are read, and only by shapes that match
  /// payload bytes, so a worker whose lookups are all hashed fills nothing else.
  void classify(const rules::PacketKey* const* packets, const uint8_t* const* keys,
                uint32_t* results, uint32_t count) const noexcept;

  [[nodiscard]] std::size_t entries() const noexcept { return entries_; }
  [[nodiscard]] std::size_t memory_bytes() const noexcept;

 private:
  struct alignas(16) Slot {
    std::array<uint32_t, Words> src;  ///< network byte order, masked to the shape
    std::array<uint32_t, Words> dst;
    /// Source port (or the L3 length, where the shape pins that) << 16 | destination port,
    /// masked; host order.
    uint32_t ports;
    uint32_t rule;  ///< lowest rule index + 1 with this key; 0: empty
  };
  /// A payload window's 16 bytes, masked.
  using Payload = std::array<uint64_t, 2>;
  struct Table {
    ExactPlan::Shape shape;
    std::array<uint32_t, Words> src_mask;  ///< network byte order
    std::array<uint32_t, Words> dst_mask;
    uint32_t ports_mask = 0;
    std::size_t mask = 0;  ///< slots - 1
    /// Large tables in huge pages (a probe per packet at random), small ones on the heap.
    std::unique_ptr<HugeRegion> huge;
    std::unique_ptr<Slot[]> heap;
    Slot* slots = nullptr;
    /// Where the shape matches payload bytes: the window they are in (AclKey::payload), its
    /// mask, and each slot's masked bytes beside the slots (which stay small for the others).
    bool payload = false;
    std::size_t window = 0;
    Payload payload_mask{};
    std::vector<Payload> payloads;
    /// A filter in front of the slots: bit (hash >> filter_shift) is set for every entry's
    /// key. About eight bits per entry (at least 2^16), so about one packet in eight that
    /// matches nothing gets past it: a flood of keys no rule has mostly stops in these few
    /// KiB, which stay in the cache, instead of missing it on a slot.
    std::vector<uint64_t> filter;
    unsigned filter_shift = 0;
    /// Before that, where the shape pins an address: a bit per first 16 bits of the source
    /// (else destination) address, as masked, of the entries (8 KiB). A flood from random
    /// sources stops here, before any hashing; one to a few destinations passes on.
    bool by_src = false;
    std::vector<uint64_t> prefixes;  ///< empty when the shape pins no address
  };
  /// Whether `key` (masked to `table`'s shape) may be in `table` by its address prefix.
  [[nodiscard]] static bool prefix_may_hold(const Table& table, const Slot& key) noexcept;
  static void add_prefix(Table& table, const Slot& key) noexcept;
  /// Whether slot `at` of `table` holds `key` (with `payload` where the table has payloads).
  [[nodiscard]] static bool holds(const Table& table, std::size_t at, const Slot& key,
                                  const Payload& payload) noexcept;
  /// The packet's fields masked to `table`'s shape (the payload window from `key`).
  void masked(const Table& table, const rules::PacketKey& packet, const uint8_t* key, Slot& out,
              Payload& payload) const noexcept;
  [[nodiscard]] uint64_t hash(const Table& table, const Slot& key,
                              const Payload& payload) const noexcept;
  /// Adds `key` (its rule set: the entry's rule index + 1) with its hash() `h`.
  void insert(Table& table, const Slot& key, const Payload& payload, uint64_t h);

  std::vector<Table> tables_;
  std::array<uint64_t, 2> seed_;
  std::size_t entries_ = 0;
};

extern template class ExactLookup<1>;
extern template class ExactLookup<4>;

}  // namespace udpsieve::dataplane
