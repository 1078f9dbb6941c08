#include "udpsieve/dataplane/acl_classifier.hpp"

#include <rte_acl.h>
#include <rte_errno.h>
#include <rte_malloc.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <stdexcept>

namespace udpsieve::dataplane {
namespace {

using rules::Family;
using rules::Prefix;
using rules::Range;
using rules::Rule;

/// Upper bound on one context's run-time structures.
constexpr std::size_t kMaxClassifierBytes = std::size_t{1} << 30;

// --- the key layout --------------------------------------------------------------------------

/// Groups of fields that rte_acl reads together (4 bytes each, except the first byte).
enum class Group : uint8_t { flags, meta, ports, length_vlan, payload_length, src, dst, window };

/// Which groups a family's rules use, and so which fields get declared.
struct Layout {
  bool meta = false;
  bool ports = false;
  bool length_vlan = false;
  bool payload = false;
  bool src = false;
  bool dst = false;
  unsigned address_words = 1;  // 1 for IPv4, 4 for IPv6
  std::size_t windows = 0;
};

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
  for (std::size_t window = 0; window < layout.windows; ++window) {
    for (std::size_t w = 0; w < 4; ++w) {
      add(RTE_ACL_FIELD_TYPE_BITMASK, 4, offsetof(AclKey, payload) + 16 * window + 4 * w, true);
    }
  }
  return defs;
}

uint32_t host32(const uint8_t* bytes) noexcept {
  return static_cast<uint32_t>(bytes[0]) << 24 | static_cast<uint32_t>(bytes[1]) << 16 |
         static_cast<uint32_t>(bytes[2]) << 8 | bytes[3];
}

uint16_t be16(uint16_t value) noexcept {
  return __builtin_bswap16(value);
}

// --- expanding rules into entries ------------------------------------------------------------

/// One ACL entry's field values, in field-index order.
using Entry = std::vector<rte_acl_field>;

rte_acl_field any_field() {
  return rte_acl_field{};
}

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

/// The rule's list, or one "whole domain" element when the field is absent.
std::vector<Range> or_all(const std::vector<Range>& list, uint16_t max) {
  if (list.empty()) return {Range{0, max}};
  return list;
}

/// A family's prefixes of a rule's list; {nullopt} for "any"; empty when the list has none of
/// this family (the rule cannot match the family).
std::vector<std::optional<Prefix>> prefixes_of(const std::vector<Prefix>& list, Family family) {
  if (list.empty()) return {std::nullopt};
  std::vector<std::optional<Prefix>> out;
  for (const Prefix& p : list) {
    if (p.family == family) out.emplace_back(p);
  }
  return out;
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

class EntryBuilder {
 public:
  EntryBuilder(Family family, const Layout& layout, const std::vector<uint16_t>& windows)
      : family_(family), layout_(layout), windows_(windows) {}

  /// Appends `rule`'s entries (none when it cannot match this family).
  void add(const Rule& rule, uint32_t userdata, int32_t priority) {
    const rules::Match& m = rule.match;
    const auto srcs = prefixes_of(m.src, family_);
    const auto dsts = prefixes_of(m.dst, family_);
    if (srcs.empty() || dsts.empty()) return;

    std::vector<uint16_t> in_ports;
    for (int port : m.in_port)
      in_ports.push_back(static_cast<uint16_t>(port));
    const auto sports = or_all(m.src_port, 65535);
    const auto dports = or_all(m.dst_port, 65535);
    const auto lengths = or_all(m.length, 65535);
    const auto ttls = or_all(m.ttl, 255);
    const auto dscps = or_all(m.dscp, 63);
    const auto vlans = or_all(m.vlan, 65535);
    const std::size_t ports_count = std::max<std::size_t>(in_ports.size(), 1);

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

    for (const auto& src : srcs)
      for (const auto& dst : dsts)
        for (const Range& sport : sports)
          for (const Range& dport : dports)
            for (const Range& length : lengths)
              for (const Range& ttl : ttls)
                for (const Range& dscp : dscps)
                  for (const Range& vlan : vlans)
                    for (std::size_t p = 0; p < ports_count; ++p) {
                      Entry entry;
                      entry.reserve(40);
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
                      if (layout_.payload) add_payload_length(entry, m);
                      if (layout_.src) add_address(entry, src, layout_.address_words);
                      if (layout_.dst) add_address(entry, dst, layout_.address_words);
                      add_windows(entry, m);
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
  static void add_payload_length(Entry& entry, const rules::Match& m) {
    rte_acl_field f{};
    f.value.u32 =
        m.payload ? static_cast<uint32_t>(m.payload->offset + m.payload->value.size()) : 0;
    f.mask_range.u32 = UINT32_MAX;
    entry.push_back(f);
  }

  void add_windows(Entry& entry, const rules::Match& m) const {
    for (std::size_t window = 0; window < layout_.windows; ++window) {
      const bool mine = m.payload && m.payload->offset == windows_[window];
      for (std::size_t w = 0; w < 4; ++w) {
        rte_acl_field f = any_field();
        if (mine) {
          uint8_t value[4] = {};
          uint8_t mask[4] = {};
          for (std::size_t b = 0; b < 4; ++b) {
            const std::size_t i = 4 * w + b;
            if (i < m.payload->value.size()) {
              value[b] = m.payload->value[i];
              mask[b] = m.payload->mask[i];
            }
          }
          f.value.u32 = host32(value);
          f.mask_range.u32 = host32(mask);
        }
        entry.push_back(f);
      }
    }
  }

  Family family_;
  const Layout& layout_;
  const std::vector<uint16_t>& windows_;
  std::vector<Built> entries_;
};

/// Which groups the rules that can match `family` use.
Layout layout_for(const std::vector<Rule>& rules, Family family, std::size_t windows) {
  Layout layout;
  layout.address_words = family == Family::ipv4 ? 1 : 4;
  auto has_family = [&](const std::vector<Prefix>& list) {
    return std::any_of(list.begin(), list.end(),
                       [&](const Prefix& p) { return p.family == family; });
  };
  for (const Rule& rule : rules) {
    const rules::Match& m = rule.match;
    layout.meta = layout.meta || !m.ttl.empty() || !m.dscp.empty() || !m.in_port.empty();
    layout.ports = layout.ports || !m.src_port.empty() || !m.dst_port.empty();
    layout.length_vlan = layout.length_vlan || !m.length.empty() || !m.vlan.empty();
    layout.payload = layout.payload || m.payload.has_value();
    layout.src = layout.src || has_family(m.src);
    layout.dst = layout.dst || has_family(m.dst);
  }
  layout.windows = layout.payload ? windows : 0;
  return layout;
}

/// Builds one family's context; nullptr when no rule can match the family.
rte_acl_ctx* build_context(const std::vector<Rule>& rules, Family family,
                           const std::vector<uint16_t>& windows, int socket,
                           const std::string& name, std::size_t& entries_out,
                           std::size_t& fields_out) {
  const Layout layout = layout_for(rules, family, windows.size());
  const std::vector<rte_acl_field_def> defs = field_defs(layout);
  EntryBuilder builder(family, layout, windows);
  const auto count = static_cast<int32_t>(rules.size());
  for (int32_t i = 0; i < count; ++i) {
    // Earlier rules get higher priorities: the first match in file order wins.
    builder.add(rules[static_cast<std::size_t>(i)], static_cast<uint32_t>(i + 1), count - i);
  }
  entries_out = builder.entries().size();
  fields_out = defs.size();
  if (builder.entries().empty()) return nullptr;

  const std::size_t rule_size = RTE_ACL_RULE_SZ(defs.size());
  rte_acl_param param{};
  param.name = name.c_str();
  param.socket_id = socket;
  param.rule_size = static_cast<uint32_t>(rule_size);
  param.max_rule_num = static_cast<uint32_t>(builder.entries().size());
  rte_acl_ctx* ctx = rte_acl_create(&param);
  if (ctx == nullptr) {
    throw std::runtime_error("rte_acl_create(" + name + "): " + rte_strerror(rte_errno));
  }

  // rte_acl takes rules as an array of rule_size-byte records.
  std::vector<uint8_t> buffer(rule_size * builder.entries().size());
  for (std::size_t i = 0; i < builder.entries().size(); ++i) {
    const auto& built = builder.entries()[i];
    auto* record = reinterpret_cast<rte_acl_rule*>(buffer.data() + i * rule_size);
    record->data.category_mask = 1;
    record->data.priority = built.priority;
    record->data.userdata = built.userdata;
    std::memcpy(record->field, built.fields.data(), built.fields.size() * sizeof(rte_acl_field));
  }
  int rc = rte_acl_add_rules(ctx, reinterpret_cast<const rte_acl_rule*>(buffer.data()),
                             static_cast<uint32_t>(builder.entries().size()));
  if (rc == 0) {
    rte_acl_config config{};
    config.num_categories = 1;
    config.num_fields = static_cast<uint32_t>(defs.size());
    // A bound rather than 0: with 0, rte_acl starts from its smallest node limit and rebuilds
    // a trie every time it outgrows it, which at 10,000 rules costs a quarter of the build.
    config.max_size = kMaxClassifierBytes;
    std::copy(defs.begin(), defs.end(), config.defs);
    rc = rte_acl_build(ctx, &config);
  }
  if (rc != 0) {
    rte_acl_free(ctx);
    throw std::runtime_error(
        "building the " + std::string(family == Family::ipv4 ? "IPv4" : "IPv6") + " classifier (" +
        std::to_string(builder.entries().size()) + " entries) failed: " + rte_strerror(-rc));
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

AclClassifier::AclClassifier(const std::vector<rules::Rule>& rules, int socket,
                             const std::string& name) {
  const auto start = std::chrono::steady_clock::now();
  windows_ = payload_offsets(rules);

  const uint64_t heap_before = heap_bytes(socket);
  try {
    v4_ = build_context(rules, Family::ipv4, windows_, socket, name + "_v4", info_.entries_v4,
                        info_.fields_v4);
    v6_ = build_context(rules, Family::ipv6, windows_, socket, name + "_v6", info_.entries_v6,
                        info_.fields_v6);
  } catch (...) {
    rte_acl_free(v4_);
    throw;
  }
  const uint64_t heap_after = heap_bytes(socket);
  info_.memory_bytes = heap_after > heap_before ? heap_after - heap_before : 0;

  int algorithm = RTE_ACL_CLASSIFY_DEFAULT;
  for (rte_acl_ctx* ctx : {v4_, v6_}) {
    if (ctx == nullptr) continue;
    algorithm = choose_algorithm(ctx);
  }
  info_.algorithm =
      v4_ == nullptr && v6_ == nullptr ? "none (no rules)" : acl_algorithm_name(algorithm);
  info_.build_time = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
}

AclClassifier::~AclClassifier() {
  rte_acl_free(v4_);
  rte_acl_free(v6_);
}

void AclClassifier::fill_key(const rules::PacketKey& packet, AclKey& key) noexcept {
  key.flags = static_cast<uint8_t>(static_cast<uint8_t>(packet.fragment) |
                                   (packet.has_ports ? kAclFlagHasPorts : 0) |
                                   (packet.vlan_count != 0 ? kAclFlagTagged : 0));
  key.ttl = packet.ttl;
  key.dscp = packet.dscp;
  key.in_port = be16(packet.in_port);
  key.src_port = be16(packet.src_port);
  key.dst_port = be16(packet.dst_port);
  key.l3_length = be16(packet.l3_length);
  key.vlan = be16(packet.outer_vlan);
  key.payload_length = __builtin_bswap32(packet.payload_length);
  // IPv4 contexts read only the first four address bytes.
  if (packet.family == Family::ipv4) {
    std::memcpy(key.src, packet.src.data(), 4);
    std::memcpy(key.dst, packet.dst.data(), 4);
  } else {
    std::memcpy(key.src, packet.src.data(), sizeof key.src);
    std::memcpy(key.dst, packet.dst.data(), sizeof key.dst);
  }
}

void AclClassifier::fill_windows(const uint8_t* payload, uint32_t payload_length,
                                 AclKey& key) const noexcept {
  for (std::size_t w = 0; w < windows_.size(); ++w) {
    const uint32_t offset = windows_[w];
    const uint32_t present =
        payload_length > offset ? std::min<uint32_t>(payload_length - offset, 16) : 0;
    if (present != 0) std::memcpy(key.payload[w], payload + offset, present);
    std::memset(key.payload[w] + present, 0, 16 - present);
  }
}

void AclClassifier::classify(rules::Family family, const uint8_t** keys, uint32_t* results,
                             uint32_t count) const noexcept {
  rte_acl_ctx* ctx = family == Family::ipv4 ? v4_ : v6_;
  if (ctx == nullptr) {
    std::fill_n(results, count, 0U);
    return;
  }
  (void)rte_acl_classify(ctx, keys, results, count, 1);
}

}  // namespace udpsieve::dataplane
