#pragma once
/// The header fields of one packet that rules can match on; filled by the packet parser.

#include <array>
#include <cstdint>

namespace udpsieve::rules {

/// Address family of a packet or prefix.
enum class Family : uint8_t { none = 0, ipv4 = 4, ipv6 = 6 };

/// Where a packet sits in a fragmented datagram.
enum class FragmentKind : uint8_t {
  none,       ///< not fragmented (IPv6 atomic fragments count as none)
  first,      ///< offset 0, more fragments follow: carries the UDP header
  non_first,  ///< offset > 0: no UDP header, so rules with port fields never match it
};

/// Match fields of one packet. Addresses are in network byte order (IPv4 in the first four
/// bytes, the rest zero); ports and lengths in host byte order.
struct PacketKey {
  std::array<uint8_t, 16> src{};
  std::array<uint8_t, 16> dst{};
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint16_t l3_length = 0;   ///< IPv4 total length, or 40 + IPv6 payload length
  uint16_t outer_vlan = 0;  ///< VLAN id of the outermost tag; 0 when untagged
  uint16_t inner_vlan = 0;  ///< VLAN id of the second tag (QinQ); 0 when absent
  Family family = Family::none;
  FragmentKind fragment = FragmentKind::none;
  bool has_ports = false;  ///< false for non-first fragments: they carry no UDP header
  uint8_t vlan_count = 0;  ///< 0, 1 or 2 tags
  uint8_t ttl = 0;         ///< IPv4 TTL or IPv6 hop limit
  uint8_t dscp = 0;        ///< upper six bits of the TOS / traffic class byte
  uint8_t in_port = 0;     ///< index of the input port (config order); set by the worker
  /// Bits of the prefix sets holding the source / destination address (bit i: set slot i);
  /// the worker's set lookup fills them, the parser leaves them 0.
  uint16_t src_sets = 0;
  uint16_t dst_sets = 0;
  /// UDP payload bytes present in the frame (0 without a UDP header); `payload` points at the
  /// first of them when non-null. The parser sets both; the pointer is only valid while the
  /// frame's buffer is.
  uint16_t payload_length = 0;
  const uint8_t* payload = nullptr;
};

}  // namespace udpsieve::rules
