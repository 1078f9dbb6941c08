#include "udpsieve/dataplane/acl_classifier.hpp"

#include <rte_acl.h>
#include <rte_errno.h>
#include <rte_malloc.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <random>
#include <stdexcept>

namespace udpsieve::dataplane {
namespace {

using rules::Family;
using rules::Prefix;
using rules::Range;
using rules::Rule;

/// Upper bound on one context's run-time structures. A bound rather than 0: with 0, rte_acl
/// starts from its smallest trie-node limit and rebuilds each trie it outgrows, which at
/// 10,000 rules costs a quarter of the build.
constexpr std::size_t kMaxClassifierBytes = std::size_t{1} << 30;
/// Fewest rules taken out of the rte_acl contexts into a hashed lookup of their own while other
/// rules of the family stay in rte_acl.
constexpr std::size_t kMinExactSplit = 64;
/// Fewest one-address rules (of a side) a prefix lookup takes instead of rte_acl, per family:
/// about as many as rte_acl builds in 40-80 ms (bench_acl's /16-/32 mix: 20 ms for 1,000 IPv4
/// rules, 55-70 for 1,000 IPv6 ones, growing faster than the rules: 165-220 and 540-720 ms at
/// 10,000). Below that the build costs little and rte_acl classifies faster (14-17 ns an IPv4
/// packet and 32-42 an IPv6 one at 1,000 rules, against 30 and 39-52).
std::size_t min_prefix_rules(Family family) {
  return family == Family::ipv4 ? 2048 : 1024;
}

// --- the key layout of one context ------------------------------------------------------------

/// Which 4-byte field groups a context declares (those its signature pins).
struct Layout {
  bool meta = false;         // ttl, dscp, in_port
  bool ports = false;        // src_port, dst_port
  bool length_vlan = false;  // l3 length, vlan
  bool payload = false;      // payload length + one payload window
  bool sets = false;         // src_sets, dst_sets
  bool src = false;
  bool dst = false;
  unsigned address_words = 1;  // 1 for IPv4, 4 for IPv6
  std::size_t window = 0;      // the payload window this context reads
};

Layout layout_of(const Signature& s, Family family, const std::vector<uint16_t>& windows) {
  Layout layout;
  layout.address_words = family == Family::ipv4 ? 1 : 4;
  layout.meta = (s.fields & (kPinsTtl | kPinsDscp | kPinsInPort)) != 0;
  layout.ports = (s.fields & (kPinsSrcPort | kPinsDstPort)) != 0;
  layout.length_vlan = (s.fields & (kPinsLength | kPinsVlan)) != 0;
  layout.payload = (s.fields & kPinsPayload) != 0;
  layout.sets = (s.fields & (kPinsSrcSet | kPinsDstSet)) != 0;
  layout.src = (s.fields & kPinsSrc) != 0;
  layout.dst = (s.fields & kPinsDst) != 0;
  if (layout.payload) {
    layout.window = static_cast<std::size_t>(
        std::find(windows.begin(), windows.end(), s.payload_offset) - windows.begin());
  }
  return layout;
}

/// The field definitions for a layout, in field-index order.
std::vector<rte_acl_field_def> field_defs(const Layout& layout) {
  std::vector<rte_acl_field_def> defs;
  uint8_t input = 0;
  auto add = [&](uint8_t type, uint8_t size, std::size_t offset, bool new_group) {
    if (new_group && !defs.empty()) ++input;
    rte_acl_field_def def{};
    def.type = type;
    def.size = size;
    def.field_index = static_cast<uint8_t>(defs.size());
    def.input_index = input;
    def.offset = static_cast<uint32_t>(offset);
    defs.push_back(def);
  };
  // rte_acl wants the first field one byte long; every later group exactly four bytes.
  add(RTE_ACL_FIELD_TYPE_BITMASK, 1, offsetof(AclKey, flags), true);
  if (layout.meta) {
    add(RTE_ACL_FIELD_TYPE_RANGE, 1, offsetof(AclKey, ttl), true);
    add(RTE_ACL_FIELD_TYPE_RANGE, 1, offsetof(AclKey, dscp), false);
    add(RTE_ACL_FIELD_TYPE_BITMASK, 2, offsetof(AclKey, in_port), false);
  }
  if (layout.ports) {
    add(RTE_ACL_FIELD_TYPE_RANGE, 2, offsetof(AclKey, src_port), true);
    add(RTE_ACL_FIELD_TYPE_RANGE, 2, offsetof(AclKey, dst_port), false);
  }
  if (layout.length_vlan) {
    add(RTE_ACL_FIELD_TYPE_RANGE, 2, offsetof(AclKey, l3_length), true);
    add(RTE_ACL_FIELD_TYPE_RANGE, 2, offsetof(AclKey, vlan), false);
  }
  if (layout.payload) add(RTE_ACL_FIELD_TYPE_RANGE, 4, offsetof(AclKey, payload_length), true);
  for (unsigned w = 0; layout.src && w < layout.address_words; ++w) {
    add(RTE_ACL_FIELD_TYPE_MASK, 4, offsetof(AclKey, src) + 4 * w, true);
  }
  for (unsigned w = 0; layout.dst && w < layout.address_words; ++w) {
    add(RTE_ACL_FIELD_TYPE_MASK, 4, offsetof(AclKey, dst) + 4 * w, true);
  }
  if (layout.payload) {
    for (std::size_t w = 0; w < 4; ++w) {
      add(RTE_ACL_FIELD_TYPE_BITMASK, 4, offsetof(AclKey, payload) + 16 * layout.window + 4 * w,
          true);
    }
  }
  // The set bits last: by then the other fields have narrowed the rules down, and each rule
  // tests one bit. First, they would make the trie branch on every combination of the bits
  // any rule tests before it looked at anything else.
  if (layout.sets) {
    add(RTE_ACL_FIELD_TYPE_BITMASK, 2, offsetof(AclKey, src_sets), true);
    add(RTE_ACL_FIELD_TYPE_BITMASK, 2, offsetof(AclKey, dst_sets), false);
  }
  return defs;
}

uint32_t host32(const uint8_t* bytes) noexcept {
  return static_cast<uint32_t>(bytes[0]) << 24 | static_cast<uint32_t>(bytes[1]) << 16 |
         static_cast<uint32_t>(bytes[2]) << 8 | bytes[3];
}

// --- expanding rules into entries --------------------------------------------------------------

/// One ACL entry's field values, in field-index order.
using Entry = std::vector<rte_acl_field>;

rte_acl_field range8(const Range& r) {
  rte_acl_field f{};
  f.value.u8 = static_cast<uint8_t>(r.first);
  f.mask_range.u8 = static_cast<uint8_t>(r.last);
  return f;
}

rte_acl_field range16(const Range& r) {
  rte_acl_field f{};
  f.value.u16 = r.first;
  f.mask_range.u16 = r.last;
  return f;
}

/// The pinned list, or one whole-domain element when the field is not pinned.
std::vector<Range> or_all(const std::vector<Range>& list, bool pinned, uint16_t max) {
  if (!pinned) return {Range{0, max}};
  return list;
}

/// MASK fields for an address: one per 32-bit word.
void add_address(Entry& entry, const std::optional<Prefix>& prefix, unsigned words) {
  for (unsigned w = 0; w < words; ++w) {
    rte_acl_field f{};
    if (prefix) {
      const int bits =
          std::clamp(static_cast<int>(prefix->length) - 32 * static_cast<int>(w), 0, 32);
      f.value.u32 = host32(prefix->addr.data() + 4 * w);
      f.mask_range.u32 = static_cast<uint32_t>(bits);
    }
    entry.push_back(f);
  }
}

/// One bit per named set (any of them matches), or {0} (any address) when not pinned.
std::vector<uint16_t> set_bits(uint16_t sets, bool pinned) {
  if (!pinned) return {0};
  std::vector<uint16_t> out;
  for (unsigned bit = 0; bit < 16; ++bit) {
    if ((sets & (1U << bit)) != 0) out.push_back(static_cast<uint16_t>(1U << bit));
  }
  return out;
}

/// A BITMASK field requiring `bit` (0: wild).
rte_acl_field bit_field(uint16_t bit) {
  rte_acl_field f{};
  f.value.u16 = bit;
  f.mask_range.u16 = bit;
  return f;
}

/// The flags byte: fragment kind, and whether the rule needs a UDP header or a VLAN tag (even
/// when its ports or VLANs cover the whole domain).
rte_acl_field flags_of(const rules::Match& m) {
  rte_acl_field flags{};
  if (m.fragment) {
    flags.value.u8 = static_cast<uint8_t>(*m.fragment);
    flags.mask_range.u8 = 0x3;
  }
  if (!m.src_port.empty() || !m.dst_port.empty() || m.payload) {
    flags.value.u8 |= kAclFlagHasPorts;
    flags.mask_range.u8 |= kAclFlagHasPorts;
  }
  if (!m.vlan.empty()) {
    flags.value.u8 |= kAclFlagTagged;
    flags.mask_range.u8 |= kAclFlagTagged;
  }
  return flags;
}

/// The four BITMASK fields of a payload window: the rule's payload match, or wild.
void add_window(Entry& entry, const std::optional<rules::PayloadMatch>& payload) {
  for (std::size_t w = 0; w < 4; ++w) {
    uint8_t value[4] = {};
    uint8_t mask[4] = {};
    for (std::size_t b = 0; payload && b < 4; ++b) {
      const std::size_t i = 4 * w + b;
      if (i < payload->value.size()) {
        value[b] = payload->value[i];
        mask[b] = payload->mask[i];
      }
    }
    rte_acl_field f{};
    f.value.u32 = host32(value);
    f.mask_range.u32 = host32(mask);
    entry.push_back(f);
  }
}

/// Entries of one context: each rule expands the fields it pins; the context's other fields
/// are wild for it.
class EntryBuilder {
 public:
  EntryBuilder(Family family, const Layout& layout) : family_(family), layout_(layout) {}

  void add(const Rule& rule, const Signature& signature, uint32_t userdata, int32_t priority) {
    const uint16_t pins_ = signature.fields;
    const rules::Match& m = rule.match;
    const auto srcs = pinned_prefixes(m.src, (pins_ & kPinsSrc) != 0, family_);
    const auto dsts = pinned_prefixes(m.dst, (pins_ & kPinsDst) != 0, family_);
    std::vector<uint16_t> in_ports;
    if ((pins_ & kPinsInPort) != 0) {
      for (int port : m.in_port)
        in_ports.push_back(static_cast<uint16_t>(port));
    }
    const auto sports = or_all(m.src_port, (pins_ & kPinsSrcPort) != 0, 65535);
    const auto dports = or_all(m.dst_port, (pins_ & kPinsDstPort) != 0, 65535);
    const auto lengths = or_all(m.length, (pins_ & kPinsLength) != 0, 65535);
    const auto ttls = or_all(m.ttl, (pins_ & kPinsTtl) != 0, 255);
    const auto dscps = or_all(m.dscp, (pins_ & kPinsDscp) != 0, 63);
    const auto vlans = or_all(m.vlan, (pins_ & kPinsVlan) != 0, 65535);
    const std::size_t port_count = std::max<std::size_t>(in_ports.size(), 1);
    const rte_acl_field flags = flags_of(m);
    std::vector<std::pair<uint16_t, uint16_t>> set_pairs;
    for (const uint16_t src_bit : set_bits(m.src_sets, (pins_ & kPinsSrcSet) != 0))
      for (const uint16_t dst_bit : set_bits(m.dst_sets, (pins_ & kPinsDstSet) != 0))
        set_pairs.emplace_back(src_bit, dst_bit);

    for (const auto& [src_bit, dst_bit] : set_pairs)
      for (const auto& src : srcs)
        for (const auto& dst : dsts)
          for (const Range& sport : sports)
            for (const Range& dport : dports)
              for (const Range& length : lengths)
                for (const Range& ttl : ttls)
                  for (const Range& dscp : dscps)
                    for (const Range& vlan : vlans)
                      for (std::size_t p = 0; p < port_count; ++p) {
                        Entry entry;
                        entry.reserve(32);
                        entry.push_back(flags);
                        if (layout_.meta) {
                          entry.push_back(range8(ttl));
                          entry.push_back(range8(dscp));
                          rte_acl_field port{};
                          if (!in_ports.empty()) {
                            port.value.u16 = in_ports[p];
                            port.mask_range.u16 = 0xffff;
                          }
                          entry.push_back(port);
                        }
                        if (layout_.ports) {
                          entry.push_back(range16(sport));
                          entry.push_back(range16(dport));
                        }
                        if (layout_.length_vlan) {
                          entry.push_back(range16(length));
                          entry.push_back(range16(vlan));
                        }
                        if (layout_.payload) {
                          rte_acl_field needed{};  // any length without a payload match
                          if (m.payload) {
                            needed.value.u32 =
                                static_cast<uint32_t>(m.payload->offset + m.payload->value.size());
                          }
                          needed.mask_range.u32 = UINT32_MAX;
                          entry.push_back(needed);
                        }
                        if (layout_.src) add_address(entry, src, layout_.address_words);
                        if (layout_.dst) add_address(entry, dst, layout_.address_words);
                        if (layout_.payload) add_window(entry, m.payload);
                        if (layout_.sets) {
                          entry.push_back(bit_field(src_bit));
                          entry.push_back(bit_field(dst_bit));
                        }
                        entries_.push_back(Built{std::move(entry), userdata, priority});
                      }
  }

  struct Built {
    Entry fields;
    uint32_t userdata;
    int32_t priority;
  };
  [[nodiscard]] const std::vector<Built>& entries() const noexcept { return entries_; }

 private:
  Family family_;
  const Layout& layout_;
  std::vector<Built> entries_;
};

/// Builds one context from its entries.
rte_acl_ctx* build_context(const std::vector<EntryBuilder::Built>& entries,
                           const std::vector<rte_acl_field_def>& defs, int socket,
                           const std::string& name) {
  const std::size_t rule_size = RTE_ACL_RULE_SZ(defs.size());
  rte_acl_param param{};
  param.name = name.c_str();
  param.socket_id = socket;
  param.rule_size = static_cast<uint32_t>(rule_size);
  param.max_rule_num = static_cast<uint32_t>(entries.size());
  rte_acl_ctx* ctx = rte_acl_create(&param);
  if (ctx == nullptr) {
    throw std::runtime_error("rte_acl_create(" + name + "): " + rte_strerror(rte_errno));
  }

  // rte_acl takes rules as an array of rule_size-byte records.
  std::vector<uint8_t> buffer(rule_size * entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto* record = reinterpret_cast<rte_acl_rule*>(buffer.data() + i * rule_size);
    record->data.category_mask = 1;
    record->data.priority = entries[i].priority;
    record->data.userdata = entries[i].userdata;
    std::memcpy(record->field, entries[i].fields.data(),
                entries[i].fields.size() * sizeof(rte_acl_field));
  }
  int rc = rte_acl_add_rules(ctx, reinterpret_cast<const rte_acl_rule*>(buffer.data()),
                             static_cast<uint32_t>(entries.size()));
  if (rc == 0) {
    rte_acl_config config{};
    config.num_categories = 1;
    config.num_fields = static_cast<uint32_t>(defs.size());
    config.max_size = kMaxClassifierBytes;
    std::copy(defs.begin(), defs.end(), config.defs);
    rc = rte_acl_build(ctx, &config);
  }
  if (rc != 0) {
    rte_acl_free(ctx);
    std::string why = rte_strerror(-rc);
    if (rc == -ENOMEM) {
      why +=
          " (the trie outgrew its bound: rules that each test a different combination of values "
          "in the same fields multiply its branches; the usual cause is many rules each naming "
          "a different prefix set or pair of sets, which fit when they list the sets in fewer "
          "rules)";
    }
    throw std::runtime_error("building classifier context " + name + " (" +
                             std::to_string(entries.size()) + " entries) failed: " + why);
  }
  return ctx;
}

/// Picks the fastest classify method the CPU and EAL's SIMD limit allow.
int choose_algorithm(rte_acl_ctx* ctx) {
  for (const enum rte_acl_classify_alg alg :
       {RTE_ACL_CLASSIFY_AVX512X32, RTE_ACL_CLASSIFY_AVX512X16, RTE_ACL_CLASSIFY_AVX2,
        RTE_ACL_CLASSIFY_SSE, RTE_ACL_CLASSIFY_SCALAR}) {
    if (rte_acl_set_ctx_classify(ctx, alg) == 0) return alg;
  }
  return RTE_ACL_CLASSIFY_DEFAULT;
}

/// The rules of `plans` that pin one address and perhaps ports, by side (src, dst), and the
/// others, each in file order.
struct PrefixSplit {
  std::array<std::vector<std::size_t>, 2> sides;
  std::vector<std::size_t> rest;
};
PrefixSplit split_prefix(const rules::RuleList& rules, const Signatures& signatures,
                         const std::vector<ContextPlan>& plans) {
  PrefixSplit split;
  for (const ContextPlan& plan : plans) {
    for (const std::size_t i : plan.rules) {
      const std::optional<PrefixSide> side = prefix_side(rules[i], *signatures[i]);
      (side ? split.sides[static_cast<std::size_t>(*side)] : split.rest).push_back(i);
    }
  }
  for (std::vector<std::size_t>& side : split.sides)
    std::sort(side.begin(), side.end());
  std::sort(split.rest.begin(), split.rest.end());
  return split;
}

uint64_t heap_bytes(int socket) {
  rte_malloc_socket_stats stats{};
  if (rte_malloc_get_socket_stats(socket < 0 ? 0 : socket, &stats) != 0) return 0;
  return stats.heap_allocsz_bytes;
}

}  // namespace

std::string acl_algorithm_name(int algorithm) {
  switch (algorithm) {
    case RTE_ACL_CLASSIFY_SCALAR:
      return "scalar";
    case RTE_ACL_CLASSIFY_SSE:
      return "sse";
    case RTE_ACL_CLASSIFY_AVX2:
      return "avx2";
    case RTE_ACL_CLASSIFY_AVX512X16:
      return "avx512x16";
    case RTE_ACL_CLASSIFY_AVX512X32:
      return "avx512x32";
    default:
      return "default";
  }
}

AclClassifier::AclClassifier(const rules::RuleList& rules, int socket, const std::string& name,
                             bool windows_at_end, const std::function<void()>& checkpoint,
                             const RuleFacts* given) {
  const auto start = std::chrono::steady_clock::now();
  const std::optional<RuleFacts> found =
      given == nullptr ? std::optional<RuleFacts>(rules) : std::nullopt;
  const RuleFacts& facts = given != nullptr ? *given : *found;
  windows_ = facts.payload_offsets();
  if (windows_at_end && !windows_.empty()) {
    std::vector<uint16_t> slots(kMaxPayloadWindows, kNoWindow);
    for (std::size_t i = 0; i < windows_.size() && i < kMaxPayloadWindows; ++i) {
      slots[kMaxPayloadWindows - 1 - i] = windows_[i];
    }
    windows_ = std::move(slots);
  }
  const uint64_t heap_before = heap_bytes(socket);
  int algorithm = RTE_ACL_CLASSIFY_DEFAULT;
  std::size_t table_bytes = 0;
  std::random_device random;
  try {
    for (const Family family : {Family::ipv4, Family::ipv6}) {
      std::vector<rte_acl_ctx*>& contexts = family == Family::ipv4 ? v4_ : v6_;
      std::size_t& entries = family == Family::ipv4 ? info_.entries_v4 : info_.entries_v6;
      const auto count = static_cast<int32_t>(rules.size());
      const Signatures& signatures = facts.signatures().of(family);
      const ExactUses& uses = facts.exact(family);
      const auto add_exact = [&](const std::vector<std::size_t>& members, const ExactPlan& plan) {
        if (checkpoint) checkpoint();
        const std::array<uint64_t, 2> seed = {(uint64_t{random()} << 32) | random(),
                                              (uint64_t{random()} << 32) | random()};
        if (family == Family::ipv4) {
          exact_v4_.push_back(
              std::make_unique<ExactLookup<1>>(rules, uses, members, plan, windows_, seed));
          entries += exact_v4_.back()->entries();
          table_bytes += exact_v4_.back()->memory_bytes();
        } else {
          exact_v6_.push_back(
              std::make_unique<ExactLookup<4>>(rules, uses, members, plan, windows_, seed));
          entries += exact_v6_.back()->entries();
          table_bytes += exact_v6_.back()->memory_bytes();
        }
      };
      // The address and port rules of the heaviest shapes into one hashed lookup, the rest
      // planned into rte_acl contexts - when that takes many rules and costs no more lookups
      // per packet than planning them all into rte_acl (a trie walk serves any number of
      // prefix lengths; a hashed lookup probes once per shape).
      const ExactSplit split = split_exact(signatures, uses);
      std::vector<ContextPlan> plans;
      if (!split.members.empty() && split.rest.empty()) {
        add_exact(split.members, split.plan);  // one lookup: never more than rte_acl's
      } else {
        plans = plan_contexts(rules, signatures, family);
        if (split.members.size() >= kMinExactSplit) {
          std::vector<ContextPlan> rest = plan_contexts(rules, signatures, family, split.rest);
          if (rest.size() + 1 <= plans.size()) {
            add_exact(split.members, split.plan);
            plans = std::move(rest);
          }
        }
      }
      // A prefix lookup of one address's prefixes and perhaps ports: false when its rules turn
      // out not to qualify.
      const auto add_prefix = [&](const std::vector<std::size_t>& members, PrefixSide side) {
        if (checkpoint) checkpoint();
        const std::array<uint64_t, 2> seed = {(uint64_t{random()} << 32) | random(),
                                              (uint64_t{random()} << 32) | random()};
        if (family == Family::ipv4) {
          auto lookup = PrefixLookup<1>::build(rules, members, side, seed);
          if (!lookup) return false;
          entries += lookup->entries();
          table_bytes += lookup->memory_bytes();
          prefix_v4_.push_back(std::move(lookup));
        } else {
          auto lookup = PrefixLookup<4>::build(rules, members, side, seed);
          if (!lookup) return false;
          entries += lookup->entries();
          table_bytes += lookup->memory_bytes();
          prefix_v6_.push_back(std::move(lookup));
        }
        return true;
      };
      const auto drop_last_prefix = [&] {
        if (family == Family::ipv4) {
          entries -= prefix_v4_.back()->entries();
          table_bytes -= prefix_v4_.back()->memory_bytes();
          prefix_v4_.pop_back();
        } else {
          entries -= prefix_v6_.back()->entries();
          table_bytes -= prefix_v6_.back()->memory_bytes();
          prefix_v6_.pop_back();
        }
      };
      // Large lists of one address's prefixes (and perhaps ports) beside rules of other
      // shapes: a lookup of their own per side with at least min_prefix_rules(family) (hashed
      // when they have few shapes, else a prefix lookup), the others planned into rte_acl,
      // when that costs at most one lookup per packet more than rte_acl alone (whose planner
      // would merge a few odd rules into the list's context and build it all again).
      if (!plans.empty()) {
        const PrefixSplit split_by_side = split_prefix(rules, signatures, plans);
        std::vector<std::size_t> rest = split_by_side.rest;
        std::vector<std::pair<const std::vector<std::size_t>*, ExactPlan>> hashed;
        std::size_t by_prefix = 0;
        for (const PrefixSide side : {PrefixSide::src, PrefixSide::dst}) {
          const std::vector<std::size_t>& members =
              split_by_side.sides[static_cast<std::size_t>(side)];
          if (members.size() >= min_prefix_rules(family)) {
            if (std::optional<ExactPlan> exact = plan_exact(uses, members)) {
              hashed.emplace_back(&members, std::move(*exact));
              continue;
            }
            if (add_prefix(members, side)) {
              ++by_prefix;
              continue;
            }
          }
          rest.insert(rest.end(), members.begin(), members.end());
        }
        if (!hashed.empty() || by_prefix != 0) {
          std::sort(rest.begin(), rest.end());
          std::vector<ContextPlan> rest_plans = plan_contexts(rules, signatures, family, rest);
          if (hashed.size() + by_prefix + rest_plans.size() <=
              std::min(plans.size() + 1, kMaxSignatures)) {
            for (const auto& [members, exact] : hashed)
              add_exact(*members, exact);
            plans = std::move(rest_plans);
          } else {
            for (; by_prefix > 0; --by_prefix)
              drop_last_prefix();
          }
        }
      }
      for (std::size_t c = 0; c < plans.size(); ++c) {
        // A context of address and port rules alone is hashed too.
        if (const std::optional<ExactPlan> exact = plan_exact(uses, plans[c].rules)) {
          add_exact(plans[c].rules, *exact);
          continue;
        }
        // A large one of one address's prefixes of many lengths: a binary search on the
        // lengths.
        if (const std::optional<PrefixSide> side = prefix_side(plans[c].signature);
            side && plans[c].rules.size() >= min_prefix_rules(family)) {
          if (add_prefix(plans[c].rules, *side)) continue;
        }
        const Layout layout = layout_of(plans[c].signature, family, windows_);
        EntryBuilder builder(family, layout);
        for (const std::size_t i : plans[c].rules) {
          // Earlier rules rank higher; across contexts the lowest userdata wins the same way.
          builder.add(rules[i], *signatures[i], static_cast<uint32_t>(i + 1),
                      count - static_cast<int32_t>(i));
        }
        entries += builder.entries().size();
        if (checkpoint) checkpoint();
        const std::string context_name =
            name + (family == Family::ipv4 ? "_4_" : "_6_") + std::to_string(c);
        contexts.push_back(
            build_context(builder.entries(), field_defs(layout), socket, context_name));
        algorithm = choose_algorithm(contexts.back());
      }
    }
  } catch (...) {
    free_contexts();
    throw;
  }
  const uint64_t heap_after = heap_bytes(socket);
  info_.memory_bytes = (heap_after > heap_before ? heap_after - heap_before : 0) + table_bytes;
  info_.exact_v4 = exact_v4_.size();
  info_.exact_v6 = exact_v6_.size();
  info_.prefix_v4 = prefix_v4_.size();
  info_.prefix_v6 = prefix_v6_.size();
  info_.contexts_v4 = v4_.size() + info_.exact_v4 + info_.prefix_v4;
  info_.contexts_v6 = v6_.size() + info_.exact_v6 + info_.prefix_v6;
  const std::size_t others = info_.exact_v4 + info_.exact_v6 + info_.prefix_v4 + info_.prefix_v6;
  info_.algorithm = !v4_.empty() || !v6_.empty() ? acl_algorithm_name(algorithm)
                    : others != 0                ? "exact"
                                                 : "none (no rules)";
  info_.build_time = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
}

void AclClassifier::free_contexts() noexcept {
  for (rte_acl_ctx* ctx : v4_)
    rte_acl_free(ctx);
  for (rte_acl_ctx* ctx : v6_)
    rte_acl_free(ctx);
  v4_.clear();
  v6_.clear();
}

AclClassifier::~AclClassifier() {
  free_contexts();
}

void AclClassifier::classify(rules::Family family, const rules::PacketKey* const* packets,
                             const uint8_t** keys, uint32_t* results,
                             uint32_t count) const noexcept {
  const std::vector<rte_acl_ctx*>& contexts = family == Family::ipv4 ? v4_ : v6_;
  // Exact and prefix lookups lower what the rte_acl contexts found (their results start at 0
  // without one).
  const auto exact = [&] {
    if (family == Family::ipv4) {
      for (const auto& lookup : exact_v4_)
        lookup->classify(packets, keys, results, count);
      for (const auto& lookup : prefix_v4_)
        lookup->classify(packets, results, count);
    } else {
      for (const auto& lookup : exact_v6_)
        lookup->classify(packets, keys, results, count);
      for (const auto& lookup : prefix_v6_)
        lookup->classify(packets, results, count);
    }
  };
  if (contexts.empty()) {
    std::fill_n(results, count, 0U);
    exact();
    return;
  }
  (void)rte_acl_classify(contexts.front(), keys, results, count, 1);
  // Further signatures: the lowest matching rule index across contexts is the first match.
  constexpr uint32_t kChunk = 32;
  uint32_t more[kChunk];
  for (std::size_t c = 1; c < contexts.size(); ++c) {
    for (uint32_t done = 0; done < count; done += kChunk) {
      const uint32_t n = std::min(kChunk, count - done);
      (void)rte_acl_classify(contexts[c], keys + done, more, n, 1);
      for (uint32_t i = 0; i < n; ++i) {
        uint32_t& result = results[done + i];
        if (more[i] != 0 && (result == 0 || more[i] < result)) result = more[i];
      }
    }
  }
  exact();
}

}  // namespace udpsieve::dataplane
