#pragma once
/// Rules compiled into DPDK rte_acl contexts, and the per-packet key they classify.
///
/// Every packet gets one AclKey built from its parsed fields (big-endian, as rte_acl reads
/// input) where some rule of its family is in an rte_acl context, and its payload windows.
/// Rules are grouped by signature (the fields they pin, rule_limits.hpp): each group of each
/// address family becomes one rte_acl context declaring only the 4-byte field groups its rules
/// pin. Each rule expands into one ACL entry per combination of its pinned list elements
/// (src prefixes × dst prefixes × port ranges × ...), all with the rule's userdata, rule index
/// + 1. A packet is looked up in every context of its family and the lowest matching rule
/// index wins, which is the first match in file order. A context whose rules pin only
/// addresses and ports (and few prefix lengths) is a set of hash tables instead
/// (exact_lookup.hpp), and a large one whose rules pin one address (any prefix lengths) and
/// perhaps ports is a binary search on prefix lengths (prefix_lookup.hpp): same answers, a
/// fraction of the build time.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "udpsieve/dataplane/acl_key.hpp"
#include "udpsieve/dataplane/exact_lookup.hpp"
#include "udpsieve/dataplane/prefix_lookup.hpp"
#include "udpsieve/dataplane/rule_facts.hpp"
#include "udpsieve/dataplane/rule_limits.hpp"
#include "udpsieve/rules/packet_key.hpp"
#include "udpsieve/rules/rule.hpp"
#include "udpsieve/rules/rule_list.hpp"

struct rte_acl_ctx;

namespace udpsieve::dataplane {

/// What a build produced, for logs and `udpsievectl rules`.
struct AclBuildInfo {
  std::size_t entries_v4 = 0;  ///< ACL entries after expanding lists
  std::size_t entries_v6 = 0;
  std::size_t contexts_v4 = 0;  ///< lookups per packet: rte_acl contexts and exact lookups
  std::size_t contexts_v6 = 0;
  std::size_t exact_v4 = 0;  ///< of the lookups, those hashed (exact_lookup.hpp)
  std::size_t exact_v6 = 0;
  std::size_t prefix_v4 = 0;  ///< of the lookups, those searching prefix lengths
  std::size_t prefix_v6 = 0;  ///< (prefix_lookup.hpp)
  uint64_t memory_bytes = 0;  ///< DPDK heap bytes the contexts hold
  std::chrono::microseconds build_time{0};
  std::string algorithm;  ///< rte_acl's classify method ("avx512x16", "avx2", ...), "exact"
                          ///< when no lookup is rte_acl's (all hashed or prefix searches)
};

class AclClassifier {
 public:
  /// Compiles `rules` on NUMA `socket`. `name` must be unique among live classifiers (it names
  /// the rte_acl contexts). The rules must pass check_rule_limits(); rte_acl failures throw
  /// std::runtime_error. The rules' payload offsets take the key's window slots from the first
  /// up, or with `windows_at_end` from the last down (so two classifiers can share one key).
  /// `checkpoint` runs before each rte_acl build (the long, uninterruptible stages); what it
  /// throws abandons the build, freeing what was built. `facts`, when given, are the rules'
  /// (found once for the limit check too, or copied from the previous build's).
  AclClassifier(const rules::RuleList& rules, int socket, const std::string& name,
                bool windows_at_end = false, const std::function<void()>& checkpoint = {},
                const RuleFacts* facts = nullptr);
  ~AclClassifier();
  AclClassifier(const AclClassifier&) = delete;
  AclClassifier& operator=(const AclClassifier&) = delete;

  /// Fills `key` from a parsed UDP packet, except the payload windows.
  static void fill_key(const rules::PacketKey& packet, AclKey& key) noexcept {
    fill_acl_key(packet, key);
  }
  /// The payload offset of each window slot this rule set reads (slot i at offsets()[i];
  /// kNoWindow for a slot it leaves alone).
  [[nodiscard]] const std::vector<uint16_t>& window_offsets() const noexcept { return windows_; }
  /// Fills the payload windows from `payload_length` contiguous payload bytes.
  void fill_windows(const uint8_t* payload, uint32_t payload_length, AclKey& key) const noexcept {
    fill_acl_windows(windows_, payload, payload_length, key);
  }

  /// Classifies `count` packets of one family; results[i] is the matching rule index + 1, or
  /// 0. keys[i] is packets[i]'s AclKey: its payload windows always filled, its other fields
  /// only where reads_key_fields(family) (rte_acl reads the key, hashed lookups the packet).
  /// Each signature of the family is one lookup.
  void classify(rules::Family family, const rules::PacketKey* const* packets, const uint8_t** keys,
                uint32_t* results, uint32_t count) const noexcept;
  /// Whether classifying packets of `family` reads the AclKey's fields besides its payload
  /// windows: when some of the family's rules are in rte_acl contexts.
  [[nodiscard]] bool reads_key_fields(rules::Family family) const noexcept {
    return !(family == rules::Family::ipv4 ? v4_ : v6_).empty();
  }

  [[nodiscard]] const AclBuildInfo& info() const noexcept { return info_; }

 private:
  void free_contexts() noexcept;

  std::vector<rte_acl_ctx*> v4_;  // one per signature
  std::vector<rte_acl_ctx*> v6_;
  std::vector<std::unique_ptr<ExactLookup<1>>> exact_v4_;
  std::vector<std::unique_ptr<ExactLookup<4>>> exact_v6_;
  std::vector<std::unique_ptr<PrefixLookup<1>>> prefix_v4_;
  std::vector<std::unique_ptr<PrefixLookup<4>>> prefix_v6_;
  std::vector<uint16_t> windows_;
  AclBuildInfo info_;
};

/// The best classify method this CPU and EAL's SIMD limit allow, by name.
[[nodiscard]] std::string acl_algorithm_name(int algorithm);

}  // namespace udpsieve::dataplane
