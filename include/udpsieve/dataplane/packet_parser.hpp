#pragma once
/// Parsing one Ethernet frame down to UDP: Ethernet (802.1Q, QinQ), IPv4 (options,
/// fragments), IPv6 (a bounded walk of extension headers), UDP.
///
/// Pure code on a byte buffer: no DPDK, no allocation, no exceptions, so the same function is
/// unit tested, fuzzed, benchmarked and run in the worker loop.

#include <cstdint>

#include "udpsieve/rules/packet_key.hpp"

namespace udpsieve::dataplane {

/// Verdict-relevant outcome of parsing.
enum class ParseStatus : uint8_t {
  udp,        ///< IPv4/IPv6 UDP (including non-first fragments, which have no ports)
  non_udp,    ///< anything else that parsed: ARP, TCP, ICMP, unknown ethertypes...
  malformed,  ///< truncated or inconsistent headers: dropped with reason `malformed`
};

/// Which check a malformed frame failed (for tests, debugging and later counters).
enum class ParseError : uint8_t {
  none,
  truncated_ethernet,    ///< fewer than 14 bytes
  truncated_vlan,        ///< a VLAN tag cut short
  too_many_vlans,        ///< more than kMaxVlanTags tags
  truncated_ipv4,        ///< fewer than 20 bytes, or options past `available` (inside the frame)
  bad_ip_version,        ///< version nibble disagrees with the ethertype
  bad_ihl,               ///< IHL below 5, or IHL * 4 past the end of the frame
  bad_total_length,      ///< IPv4 total length below the header length or past the frame
  truncated_ipv6,        ///< fewer than 40 bytes
  bad_payload_length,    ///< IPv6 payload length past the frame
  truncated_ext_header,  ///< an IPv6 extension header runs past the payload
  too_many_ext_headers,  ///< more than kMaxIpv6ExtHeaders extension headers
  truncated_udp,         ///< fewer than 8 bytes of UDP header inside the IP payload
  bad_udp_length,        ///< UDP length below 8, or past the IP payload (unfragmented)
};

/// Most VLAN tags parsed (802.1Q, or QinQ 802.1ad + 802.1Q); more is malformed.
inline constexpr unsigned kMaxVlanTags = 2;
/// Most IPv6 extension headers walked before the frame is called malformed.
inline constexpr unsigned kMaxIpv6ExtHeaders = 8;
/// Bytes copied out of a multi-segment mbuf for parsing: headers must lie within them.
inline constexpr uint32_t kMaxHeaderBytes = 512;

/// Everything the parser learned about one frame.
struct PacketInfo {
  rules::PacketKey key;  ///< the fields rules match on
  ParseStatus status = ParseStatus::malformed;
  ParseError error = ParseError::none;
  uint8_t l4_protocol = 0;  ///< IPv4 protocol / final IPv6 next header; 0 when not IP
  uint16_t ether_type = 0;  ///< ethertype after any VLAN tags
  uint16_t l3_offset = 0;   ///< offset of the IP header
  uint16_t l4_offset = 0;   ///< offset of the UDP header; 0 when there is none
  uint16_t udp_length = 0;  ///< the UDP header's length field; 0 when there is none
};

/// Parses one frame.
///
/// `data` holds the first `available` contiguous bytes of a frame `frame_length` bytes long
/// (they are equal for a single-segment mbuf). Headers must lie within `available`; length
/// fields are checked against `frame_length`. Fills `info` and returns `info.status`.
[[nodiscard]] ParseStatus parse_frame(const uint8_t* data, uint32_t available,
                                      uint32_t frame_length, PacketInfo& info) noexcept;

/// Name of a ParseError ("truncated_udp"...), for test output and logs.
[[nodiscard]] const char* parse_error_name(ParseError error) noexcept;

}  // namespace udpsieve::dataplane
