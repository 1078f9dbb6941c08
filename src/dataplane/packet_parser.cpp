#include "udpsieve/dataplane/packet_parser.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

// Parsing rules, in the order they are checked (the unit tests pin every one of them):
//
// Ethernet
//   - fewer than 14 bytes available: truncated_ethernet.
//   - while the ethertype is a VLAN TPID (0x8100, 0x88a8, 0x9100): a third tag is
//     too_many_vlans (checked before its bytes); a tag needs 4 more bytes (TCI + next
//     ethertype) or it is truncated_vlan. Only the 12-bit VLAN id is kept: the first tag goes
//     to key.outer_vlan, the second to key.inner_vlan.
//   - 0x0800 is IPv4, 0x86dd is IPv6, everything else (ARP, LLDP, 802.3 length fields below
//     0x0600...) is non_udp with key.family none.
//
// IPv4
//   - 20 bytes must be available (truncated_ipv4); version 4 (bad_ip_version); IHL >= 5 and
//     the header inside the frame (bad_ihl); the options inside `available` (truncated_ipv4);
//     IHL*4 <= total length and the packet inside the frame (bad_total_length). Bytes after
//     the total length are Ethernet padding and are ignored.
//   - fragment offset != 0 is non_first; offset 0 with MF is first. A non-first UDP fragment
//     has no UDP header: it is udp with has_ports false.
//   - UDP: the 8-byte header must lie inside the IP payload and `available` (truncated_udp);
//     its length field must be >= 8, and for an unfragmented datagram not past the IP payload
//     (bad_udp_length). A length shorter than the IP payload is accepted, as Linux does; a
//     first fragment's length describes the whole datagram so only >= 8 is checked.
//
// IPv6
//   - 40 bytes must be available (truncated_ipv6); version 6 (bad_ip_version); the payload
//     length inside the frame (bad_payload_length). Jumbograms (payload length 0 plus a
//     hop-by-hop jumbo option) are not supported and come out malformed.
//   - extension headers are walked up to the payload end: hop-by-hop, routing, destination
//     options, mobility, HIP and shim6 are (len+1)*8 bytes, AH (len+2)*4, fragment 8. The
//     ninth header is too_many_ext_headers; a header not wholly inside the payload and
//     `available` is truncated_ext_header. A fragment header with offset != 0 stops the walk
//     (what follows is not a header); offset 0 with M set is first, offset 0 without M is an
//     atomic fragment, i.e. not fragmented.
//   - UDP as for IPv4, against the payload end. ESP, no-next-header (59), TCP, ICMPv6 and
//     unknown next headers are non_udp with l4_protocol set.
//
// UDP payload: key.payload points just past the UDP header and key.payload_length counts the
// payload bytes inside the IP packet (the UDP length minus 8, or less for a first fragment).
// Bytes beyond `available` are in the frame but not in `data`.
//
// On malformed frames only status and error are meaningful; the fields filled before the
// failing check are left in place.

namespace udpsieve::dataplane {
namespace {

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kTpid8021Q = 0x8100;
constexpr uint16_t kTpid8021Ad = 0x88a8;
constexpr uint16_t kTpidQinQLegacy = 0x9100;
constexpr uint16_t kVlanIdMask = 0x0fff;

constexpr uint32_t kEthernetHeaderBytes = 14;
constexpr uint32_t kEtherTypeOffset = 12;
constexpr uint32_t kVlanTagBytes = 4;
constexpr uint32_t kIpv4MinHeaderBytes = 20;
constexpr uint32_t kIpv6HeaderBytes = 40;
constexpr uint32_t kIpv6FragmentHeaderBytes = 8;
constexpr uint32_t kUdpHeaderBytes = 8;

constexpr uint16_t kIpv4FragmentOffsetMask = 0x1fff;
constexpr uint16_t kIpv4MoreFragments = 0x2000;

constexpr uint8_t kProtocolUdp = 17;
constexpr uint8_t kIpv6HopByHop = 0;
constexpr uint8_t kIpv6Routing = 43;
constexpr uint8_t kIpv6Fragment = 44;
constexpr uint8_t kIpv6Ah = 51;
constexpr uint8_t kIpv6DestinationOptions = 60;
constexpr uint8_t kIpv6Mobility = 135;
constexpr uint8_t kIpv6Hip = 139;
constexpr uint8_t kIpv6Shim6 = 140;

uint16_t load_be16(const uint8_t* bytes) noexcept {
  uint16_t value = 0;
  std::memcpy(&value, bytes, sizeof value);
  if constexpr (std::endian::native == std::endian::little) value = __builtin_bswap16(value);
  return value;
}

ParseStatus fail(PacketInfo& info, ParseError error) noexcept {
  info.status = ParseStatus::malformed;
  info.error = error;
  return ParseStatus::malformed;
}

ParseStatus succeed(PacketInfo& info, ParseStatus status) noexcept {
  info.status = status;
  return status;
}

bool is_vlan_tpid(uint16_t ether_type) noexcept {
  return ether_type == kTpid8021Q || ether_type == kTpid8021Ad || ether_type == kTpidQinQLegacy;
}

// The UDP header at `offset`; `end` is the end of the IP payload (never past the frame),
// `available` the end of the readable bytes.
ParseStatus parse_udp(const uint8_t* data, uint32_t offset, uint32_t end, uint32_t available,
                      PacketInfo& info) noexcept {
  if (end - offset < kUdpHeaderBytes || available - offset < kUdpHeaderBytes) {
    return fail(info, ParseError::truncated_udp);
  }
  const uint8_t* udp = data + offset;
  const uint16_t udp_length = load_be16(udp + 4);
  if (udp_length < kUdpHeaderBytes) return fail(info, ParseError::bad_udp_length);
  // A first fragment's length covers the whole datagram, not this fragment.
  if (info.key.fragment == rules::FragmentKind::none && udp_length > end - offset) {
    return fail(info, ParseError::bad_udp_length);
  }
  info.key.src_port = load_be16(udp);
  info.key.dst_port = load_be16(udp + 2);
  info.key.has_ports = true;
  // Payload bytes present: the datagram's, cut at the end of this IP packet (a first fragment
  // carries only part of it).
  info.key.payload_length =
      static_cast<uint16_t>(std::min<uint32_t>(udp_length, end - offset) - kUdpHeaderBytes);
  info.key.payload = udp + kUdpHeaderBytes;
  info.l4_offset = static_cast<uint16_t>(offset);
  info.udp_length = udp_length;
  return succeed(info, ParseStatus::udp);
}

ParseStatus parse_ipv4(const uint8_t* data, uint32_t l3, uint32_t available, uint32_t frame_length,
                       PacketInfo& info) noexcept {
  // Callers guarantee l3 <= available <= frame_length.
  if (available - l3 < kIpv4MinHeaderBytes) return fail(info, ParseError::truncated_ipv4);
  const uint8_t* ip = data + l3;
  if ((ip[0] >> 4) != 4) return fail(info, ParseError::bad_ip_version);
  const uint32_t header_length = (ip[0] & 0x0fu) * 4u;
  if (header_length < kIpv4MinHeaderBytes) return fail(info, ParseError::bad_ihl);
  if (header_length > frame_length - l3) return fail(info, ParseError::bad_ihl);
  if (header_length > available - l3) return fail(info, ParseError::truncated_ipv4);
  const uint16_t total_length = load_be16(ip + 2);
  if (total_length < header_length || total_length > frame_length - l3) {
    return fail(info, ParseError::bad_total_length);
  }

  rules::PacketKey& key = info.key;
  key.family = rules::Family::ipv4;
  std::memcpy(key.src.data(), ip + 12, 4);
  std::memcpy(key.dst.data(), ip + 16, 4);
  key.ttl = ip[8];
  key.dscp = static_cast<uint8_t>(ip[1] >> 2);
  key.l3_length = total_length;
  const uint16_t flags_fragment = load_be16(ip + 6);
  if ((flags_fragment & kIpv4FragmentOffsetMask) != 0) {
    key.fragment = rules::FragmentKind::non_first;
  } else if ((flags_fragment & kIpv4MoreFragments) != 0) {
    key.fragment = rules::FragmentKind::first;
  }
  const uint8_t protocol = ip[9];
  info.l4_protocol = protocol;

  if (protocol != kProtocolUdp) return succeed(info, ParseStatus::non_udp);
  if (key.fragment == rules::FragmentKind::non_first) return succeed(info, ParseStatus::udp);
  return parse_udp(data, l3 + header_length, l3 + total_length, available, info);
}

enum class ExtHeaderKind : uint8_t { none, generic, ah, fragment };

ExtHeaderKind ext_header_kind(uint8_t next_header) noexcept {
  switch (next_header) {
    case kIpv6HopByHop:
    case kIpv6Routing:
    case kIpv6DestinationOptions:
    case kIpv6Mobility:
    case kIpv6Hip:
    case kIpv6Shim6:
      return ExtHeaderKind::generic;
    case kIpv6Ah:
      return ExtHeaderKind::ah;
    case kIpv6Fragment:
      return ExtHeaderKind::fragment;
    default:
      return ExtHeaderKind::none;
  }
}

ParseStatus parse_ipv6(const uint8_t* data, uint32_t l3, uint32_t available, uint32_t frame_length,
                       PacketInfo& info) noexcept {
  // Callers guarantee l3 <= available <= frame_length.
  if (available - l3 < kIpv6HeaderBytes) return fail(info, ParseError::truncated_ipv6);
  const uint8_t* ip = data + l3;
  if ((ip[0] >> 4) != 6) return fail(info, ParseError::bad_ip_version);
  const uint16_t payload_length = load_be16(ip + 4);
  if (payload_length > frame_length - l3 - kIpv6HeaderBytes) {
    return fail(info, ParseError::bad_payload_length);
  }

  rules::PacketKey& key = info.key;
  key.family = rules::Family::ipv6;
  std::memcpy(key.src.data(), ip + 8, 16);
  std::memcpy(key.dst.data(), ip + 24, 16);
  key.ttl = ip[7];
  // The traffic class straddles bytes 0 and 1; DSCP is its upper six bits.
  key.dscp = static_cast<uint8_t>(((ip[0] & 0x0fu) << 2) | (ip[1] >> 6));
  key.l3_length = static_cast<uint16_t>(kIpv6HeaderBytes + payload_length);

  const uint32_t end = l3 + kIpv6HeaderBytes + payload_length;
  // Every header must lie inside both the payload and the readable bytes.
  const uint32_t limit = std::min(end, available);
  uint32_t offset = l3 + kIpv6HeaderBytes;
  uint8_t next_header = ip[6];
  for (unsigned walked = 0;; ++walked) {
    const ExtHeaderKind kind = ext_header_kind(next_header);
    if (kind == ExtHeaderKind::none) break;
    if (walked == kMaxIpv6ExtHeaders) return fail(info, ParseError::too_many_ext_headers);
    const uint8_t* header = data + offset;
    const uint32_t room = limit - offset;
    const uint32_t fixed = kind == ExtHeaderKind::fragment ? kIpv6FragmentHeaderBytes : 2u;
    if (room < fixed) return fail(info, ParseError::truncated_ext_header);
    uint32_t length = kIpv6FragmentHeaderBytes;
    if (kind == ExtHeaderKind::generic) length = (header[1] + 1u) * 8u;
    if (kind == ExtHeaderKind::ah) length = (header[1] + 2u) * 4u;
    if (length > room) return fail(info, ParseError::truncated_ext_header);
    if (kind == ExtHeaderKind::fragment) {
      if ((load_be16(header + 2) >> 3) != 0) {
        // The rest of a non-first fragment is payload, not headers: stop here.
        key.fragment = rules::FragmentKind::non_first;
        info.l4_protocol = header[0];
        return succeed(info, header[0] == kProtocolUdp ? ParseStatus::udp : ParseStatus::non_udp);
      }
      key.fragment = (header[3] & 1u) != 0 ? rules::FragmentKind::first : rules::FragmentKind::none;
    }
    next_header = header[0];
    offset += length;
  }

  info.l4_protocol = next_header;
  if (next_header != kProtocolUdp) return succeed(info, ParseStatus::non_udp);
  return parse_udp(data, offset, end, available, info);
}

}  // namespace

ParseStatus parse_frame(const uint8_t* data, uint32_t available, uint32_t frame_length,
                        PacketInfo& info) noexcept {
  // Every field's default is zero except the status. Assigning a value-initialised temporary
  // (`info = PacketInfo{}`) made GCC build it on the stack and copy it with loads that straddle
  // a just-written byte: a store-forwarding stall on every packet.
  std::memset(static_cast<void*>(&info), 0, sizeof info);
  info.status = ParseStatus::malformed;
  // More readable bytes than the frame has would let headers run past its end.
  available = std::min(available, frame_length);
  if (available < kEthernetHeaderBytes) return fail(info, ParseError::truncated_ethernet);

  uint16_t ether_type = load_be16(data + kEtherTypeOffset);
  uint32_t offset = kEthernetHeaderBytes;
  while (is_vlan_tpid(ether_type)) {
    if (info.key.vlan_count == kMaxVlanTags) return fail(info, ParseError::too_many_vlans);
    if (available - offset < kVlanTagBytes) return fail(info, ParseError::truncated_vlan);
    const auto vlan_id = static_cast<uint16_t>(load_be16(data + offset) & kVlanIdMask);
    if (info.key.vlan_count == 0) {
      info.key.outer_vlan = vlan_id;
    } else {
      info.key.inner_vlan = vlan_id;
    }
    ++info.key.vlan_count;
    ether_type = load_be16(data + offset + 2);
    offset += kVlanTagBytes;
  }
  info.ether_type = ether_type;
  info.l3_offset = static_cast<uint16_t>(offset);

  if (ether_type == kEtherTypeIpv4) return parse_ipv4(data, offset, available, frame_length, info);
  if (ether_type == kEtherTypeIpv6) return parse_ipv6(data, offset, available, frame_length, info);
  return succeed(info, ParseStatus::non_udp);
}

const char* parse_error_name(ParseError error) noexcept {
  switch (error) {
    case ParseError::none:
      return "none";
    case ParseError::truncated_ethernet:
      return "truncated_ethernet";
    case ParseError::truncated_vlan:
      return "truncated_vlan";
    case ParseError::too_many_vlans:
      return "too_many_vlans";
    case ParseError::truncated_ipv4:
      return "truncated_ipv4";
    case ParseError::bad_ip_version:
      return "bad_ip_version";
    case ParseError::bad_ihl:
      return "bad_ihl";
    case ParseError::bad_total_length:
      return "bad_total_length";
    case ParseError::truncated_ipv6:
      return "truncated_ipv6";
    case ParseError::bad_payload_length:
      return "bad_payload_length";
    case ParseError::truncated_ext_header:
      return "truncated_ext_header";
    case ParseError::too_many_ext_headers:
      return "too_many_ext_headers";
    case ParseError::truncated_udp:
      return "truncated_udp";
    case ParseError::bad_udp_length:
      return "bad_udp_length";
  }
  return "unknown";
}

}  // namespace udpsieve::dataplane
