#pragma once
/// The classifier's per-packet key and how a parsed packet fills it (DPDK-free, so the parser
/// and key builder can be fuzzed and benchmarked together without EAL).

#include <cstdint>
#include <vector>

#include "udpsieve/dataplane/rule_limits.hpp"
#include "udpsieve/rules/packet_key.hpp"

namespace udpsieve::dataplane {

/// The classifier's view of one packet. Multi-byte fields are big-endian.
struct alignas(8) AclKey {
  uint8_t flags;  ///< bits 0-1 fragment kind, bit 2 has UDP ports, bit 3 VLAN-tagged
  uint8_t pad0[3];
  uint8_t ttl;
  uint8_t dscp;
  uint16_t in_port;
  uint16_t src_port;
  uint16_t dst_port;
  uint16_t l3_length;
  uint16_t vlan;
  uint32_t payload_length;
  uint16_t src_sets;  ///< bits of the prefix sets holding src / dst (rules::PacketKey)
  uint16_t dst_sets;
  uint8_t src[16];  ///< IPv4 uses the first four bytes
  uint8_t dst[16];
  uint8_t payload[kMaxPayloadWindows][16];  ///< the payload at each window's offset
};

inline constexpr uint8_t kAclFlagHasPorts = 1U << 2;
/// A payload window slot no rule reads (its offset in a slot list).
inline constexpr uint16_t kNoWindow = 0xffff;
inline constexpr uint8_t kAclFlagTagged = 1U << 3;

/// Fills `key` from a parsed UDP packet, except the payload windows.
void fill_acl_key(const rules::PacketKey& packet, AclKey& key) noexcept;

/// Fills payload window i with the 16 payload bytes at `offsets[i]` (zero past the payload's
/// end) from `payload_length` contiguous bytes at `payload`; slots holding kNoWindow are left
/// as they are (no rule reads them).
void fill_acl_windows(const std::vector<uint16_t>& offsets, const uint8_t* payload,
                      uint32_t payload_length, AclKey& key) noexcept;

}  // namespace udpsieve::dataplane
