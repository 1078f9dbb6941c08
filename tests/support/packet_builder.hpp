#pragma once
/// Header-only Ethernet frame builder for tests and benchmarks.
///
/// Describe a frame layer by layer and call build(); every length, next-header field and
/// checksum is computed, so a test only overrides the one field it wants to break:
///
///   Bytes frame = PacketBuilder{}
///                     .vlan(10, kTpid8021Ad)
///                     .vlan(20)
///                     .ipv4({.src = ipv4_address("10.0.0.1"), .ttl = 3})
///                     .udp({.src_port = 4000, .dst_port = 53})
///                     .payload_size(32)
///                     .build();
///
///   Bytes bad = PacketBuilder{}.ipv4({.total_length = 19}).udp().build();
///
/// Layers: Ethernet, 0..n VLAN tags (any TPID, so too-many-tags cases can be built), one of
/// IPv4 / IPv6 (with extension headers) / ARP / nothing (raw ethertype), one of UDP / TCP /
/// ICMP / nothing (raw protocol number), then the payload, then bytes after the IP packet
/// (trailer, padding) that no length field counts. Frames are not padded to the Ethernet
/// minimum unless pad_to() asks for it. Checksums use the IPv6 header's destination even when
/// a routing header is present. Misuse (L4 without L3, lengths over 65535) throws.
///
/// Every spec member has a default member initializer, even the empty ones (`{}`): GCC 12
/// warns (-Wmissing-field-initializers) about designated initializers that skip a member
/// without one. Keep that when adding fields.

#include <arpa/inet.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace udpsieve::test {

using Bytes = std::vector<uint8_t>;
using MacAddress = std::array<uint8_t, 6>;
using Ipv4Address = std::array<uint8_t, 4>;
using Ipv6Address = std::array<uint8_t, 16>;

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr uint16_t kEtherTypeLldp = 0x88cc;
/// IEEE "local experimental" ethertype: used when no L3 layer and no ethertype are given.
inline constexpr uint16_t kEtherTypeExperimental = 0x88b5;
inline constexpr uint16_t kTpid8021Q = 0x8100;       ///< C-tag
inline constexpr uint16_t kTpid8021Ad = 0x88a8;      ///< S-tag (QinQ outer)
inline constexpr uint16_t kTpidQinQLegacy = 0x9100;  ///< pre-standard QinQ outer tag

inline constexpr uint8_t kIpProtoHopByHop = 0;
inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoRouting = 43;
inline constexpr uint8_t kIpProtoFragment = 44;
inline constexpr uint8_t kIpProtoEsp = 50;
inline constexpr uint8_t kIpProtoAh = 51;
inline constexpr uint8_t kIpProtoIcmpv6 = 58;
inline constexpr uint8_t kIpProtoNoNextHeader = 59;
inline constexpr uint8_t kIpProtoDestinationOptions = 60;
inline constexpr uint8_t kIpProtoMobility = 135;
inline constexpr uint8_t kIpProtoHip = 139;
inline constexpr uint8_t kIpProtoShim6 = 140;
/// RFC 3692 experimental protocol: IPv4's protocol when no L4 layer is given.
inline constexpr uint8_t kIpProtoExperimental = 253;

/// Parses a dotted quad ("192.0.2.1"); throws std::invalid_argument on bad text.
inline Ipv4Address ipv4_address(const std::string& text) {
  Ipv4Address address{};
  if (inet_pton(AF_INET, text.c_str(), address.data()) != 1) {
    throw std::invalid_argument("bad IPv4 address: " + text);
  }
  return address;
}

/// Parses an IPv6 address ("2001:db8::1"); throws std::invalid_argument on bad text.
inline Ipv6Address ipv6_address(const std::string& text) {
  Ipv6Address address{};
  if (inet_pton(AF_INET6, text.c_str(), address.data()) != 1) {
    throw std::invalid_argument("bad IPv6 address: " + text);
  }
  return address;
}

/// An IPv4 address as PacketKey stores it: the first four bytes, the rest zero.
constexpr std::array<uint8_t, 16> key_address(const Ipv4Address& address) {
  std::array<uint8_t, 16> key{};
  for (std::size_t i = 0; i < address.size(); ++i) {
    key[i] = address[i];
  }
  return key;
}

/// An IPv6 address as PacketKey stores it (unchanged; for symmetry).
constexpr std::array<uint8_t, 16> key_address(const Ipv6Address& address) {
  return address;
}

/// One VLAN tag. The TCI is pcp:3 | dei:1 | vid:12.
struct VlanTag {
  uint16_t vid = 0;  ///< only the low 12 bits are written
  uint16_t tpid = kTpid8021Q;
  uint8_t pcp = 0;
  bool dei = false;
};

/// IPv4 header fields; the optionals override computed values to build broken headers.
struct Ipv4Spec {
  Ipv4Address src{192, 0, 2, 1};
  Ipv4Address dst{198, 51, 100, 1};
  uint8_t tos = 0;  ///< DSCP << 2 | ECN
  uint8_t ttl = 64;
  uint16_t id = 0;
  bool dont_fragment = false;
  bool more_fragments = false;
  uint16_t fragment_offset = 0;            ///< in 8-byte units (13 bits)
  Bytes options{};                         ///< raw options, zero-padded (End of Options) to 4 bytes
  std::optional<uint8_t> protocol{};       ///< default: from the L4 layer
  std::optional<uint8_t> version{};        ///< default 4
  std::optional<uint8_t> ihl{};            ///< default: (20 + padded options) / 4
  std::optional<uint16_t> total_length{};  ///< default: header + L4 + payload
  std::optional<uint16_t> checksum{};      ///< default: computed
};

/// One IPv6 extension header. Its size on the wire follows from `type` and `length` as the
/// parser reads it: fragment 8 bytes, AH (length + 2) * 4, the others (length + 1) * 8. The
/// body is zero-filled (Pad1 options, routing type 0 with no segments left).
struct Ipv6ExtHeader {
  uint8_t type = kIpProtoHopByHop;
  uint8_t length = 0;                    ///< the Hdr Ext Len byte; ignored for fragment headers
  uint16_t fragment_offset = 0;          ///< fragment header: offset in 8-byte units
  bool more_fragments = false;           ///< fragment header: M flag
  uint32_t identification = 0;           ///< fragment header
  std::optional<uint8_t> next_header{};  ///< default: the following header or the L4 protocol
  std::optional<std::size_t> emitted{};  ///< bytes actually written, to build lying lengths
};

/// Hop-by-hop options of (length + 1) * 8 bytes.
inline Ipv6ExtHeader hop_by_hop(uint8_t length = 0) {
  return {.type = kIpProtoHopByHop, .length = length};
}
/// Routing header of (length + 1) * 8 bytes (type 0, no segments left).
inline Ipv6ExtHeader routing_header(uint8_t length = 0) {
  return {.type = kIpProtoRouting, .length = length};
}
/// Destination options of (length + 1) * 8 bytes.
inline Ipv6ExtHeader destination_options(uint8_t length = 0) {
  return {.type = kIpProtoDestinationOptions, .length = length};
}
/// Fragment header; offset in 8-byte units. (0, false) is an atomic fragment.
inline Ipv6ExtHeader fragment_header(uint16_t offset, bool more, uint32_t identification = 1) {
  return {.type = kIpProtoFragment,
          .fragment_offset = offset,
          .more_fragments = more,
          .identification = identification};
}
/// Authentication header; the default length 4 is 24 bytes (12 fixed + 12-byte ICV).
inline Ipv6ExtHeader authentication_header(uint8_t length = 4) {
  return {.type = kIpProtoAh, .length = length};
}

/// IPv6 header fields and extension headers; the optionals override computed values.
struct Ipv6Spec {
  Ipv6Address src{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  Ipv6Address dst{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  uint8_t traffic_class = 0;  ///< DSCP << 2 | ECN
  uint32_t flow_label = 0;    ///< 20 bits
  uint8_t hop_limit = 64;
  std::vector<Ipv6ExtHeader> ext_headers{};  ///< in wire order
  std::optional<uint8_t> next_header{};      ///< default: first extension header or L4
  std::optional<uint8_t> version{};          ///< default 6
  std::optional<uint16_t> payload_length{};  ///< default: extension headers + L4 + payload
};

/// An Ethernet/IPv4 ARP packet (28 bytes).
struct ArpSpec {
  uint16_t operation = 1;  ///< 1 request, 2 reply
  MacAddress sender_mac{0x02, 0, 0, 0, 0, 1};
  Ipv4Address sender_ip{192, 0, 2, 1};
  MacAddress target_mac{};
  Ipv4Address target_ip{192, 0, 2, 2};
};

/// UDP header; the payload comes from PacketBuilder::payload().
struct UdpSpec {
  uint16_t src_port = 49152;
  uint16_t dst_port = 53;
  std::optional<uint16_t> length{};    ///< default: 8 + payload
  std::optional<uint16_t> checksum{};  ///< default: computed over the pseudo-header
};

/// A 20-byte TCP header without options.
struct TcpSpec {
  uint16_t src_port = 49152;
  uint16_t dst_port = 80;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0x02;  ///< SYN
  uint16_t window = 65535;
};

/// ICMP over IPv4, ICMPv6 over IPv6.
struct IcmpSpec {
  std::optional<uint8_t> type{};  ///< default: echo request (8, or 128 for ICMPv6)
  uint8_t code = 0;
  uint16_t id = 0;
  uint16_t sequence = 0;
};

/// Builds one Ethernet frame; see the file comment. Setters return *this for chaining.
class PacketBuilder {
 public:
  PacketBuilder& eth(const MacAddress& dst, const MacAddress& src) {
    dst_mac_ = dst;
    src_mac_ = src;
    return *this;
  }
  /// Appends a VLAN tag after the previous ones (the first call is the outermost tag).
  PacketBuilder& vlan(uint16_t vid, uint16_t tpid = kTpid8021Q) {
    return vlan(VlanTag{.vid = vid, .tpid = tpid});
  }
  PacketBuilder& vlan(const VlanTag& tag) {
    tags_.push_back(tag);
    return *this;
  }
  /// Overrides the ethertype after the tags (802.3 lengths, mismatched IP versions...).
  PacketBuilder& ether_type(uint16_t type) {
    ether_type_ = type;
    return *this;
  }
  PacketBuilder& ipv4(Ipv4Spec spec = {}) {
    l3_ = std::move(spec);
    return *this;
  }
  PacketBuilder& ipv6(Ipv6Spec spec = {}) {
    l3_ = std::move(spec);
    return *this;
  }
  PacketBuilder& arp(const ArpSpec& spec = {}) {
    l3_ = spec;
    return *this;
  }
  PacketBuilder& udp(const UdpSpec& spec = {}) {
    l4_ = spec;
    return *this;
  }
  PacketBuilder& tcp(const TcpSpec& spec = {}) {
    l4_ = spec;
    return *this;
  }
  PacketBuilder& icmp(const IcmpSpec& spec = {}) {
    l4_ = spec;
    return *this;
  }
  /// No L4 header: the payload follows the IP header(s), which carry `protocol` (e.g. 17 for
  /// the data of a non-first UDP fragment, 50 for ESP).
  PacketBuilder& l4_raw(uint8_t protocol) {
    l4_ = RawL4{protocol};
    return *this;
  }
  /// Bytes after the innermost header (L4 payload, or the L3 body without an IP layer).
  PacketBuilder& payload(Bytes bytes) {
    payload_ = std::move(bytes);
    return *this;
  }
  /// `size` payload bytes counting up from 0.
  PacketBuilder& payload_size(std::size_t size) {
    payload_.resize(size);
    for (std::size_t i = 0; i < size; ++i) {
      payload_[i] = static_cast<uint8_t>(i);
    }
    return *this;
  }
  /// Bytes after the IP packet that no length field counts.
  PacketBuilder& trailer(Bytes bytes) {
    trailer_ = std::move(bytes);
    return *this;
  }
  /// Zero-pads the frame to at least `frame_size` bytes (after any trailer), like a NIC pads
  /// short frames to 60.
  PacketBuilder& pad_to(std::size_t frame_size) {
    pad_to_ = frame_size;
    return *this;
  }

  [[nodiscard]] Bytes build() const {
    Bytes l4 = build_l4();
    Bytes frame;
    put_bytes(frame, dst_mac_);
    put_bytes(frame, src_mac_);
    for (const VlanTag& tag : tags_) {
      put16(frame, tag.tpid);
      put16(frame, static_cast<uint16_t>((tag.pcp & 0x7u) << 13 | (tag.dei ? 1u << 12 : 0u) |
                                         (tag.vid & 0x0fffu)));
    }
    uint16_t type = kEtherTypeExperimental;
    Bytes l3;
    if (const auto* v4 = std::get_if<Ipv4Spec>(&l3_)) {
      type = kEtherTypeIpv4;
      l3 = build_ipv4(*v4, std::move(l4));
    } else if (const auto* v6 = std::get_if<Ipv6Spec>(&l3_)) {
      type = kEtherTypeIpv6;
      l3 = build_ipv6(*v6, std::move(l4));
    } else if (const auto* arp_spec = std::get_if<ArpSpec>(&l3_)) {
      type = kEtherTypeArp;
      l3 = build_arp(*arp_spec);
    } else {
      if (!std::holds_alternative<std::monostate>(l4_)) {
        throw std::logic_error("PacketBuilder: an L4 layer needs ipv4() or ipv6()");
      }
      l3 = payload_;
    }
    put16(frame, ether_type_.value_or(type));
    put_bytes(frame, l3);
    put_bytes(frame, trailer_);
    if (frame.size() < pad_to_) frame.resize(pad_to_, 0);
    return frame;
  }

 private:
  struct RawL4 {
    uint8_t protocol = 0;
  };

  static void put16(Bytes& out, uint16_t value) {
    out.push_back(static_cast<uint8_t>(value >> 8));
    out.push_back(static_cast<uint8_t>(value));
  }
  static void put32(Bytes& out, uint32_t value) {
    put16(out, static_cast<uint16_t>(value >> 16));
    put16(out, static_cast<uint16_t>(value));
  }
  static void set16(Bytes& out, std::size_t offset, uint16_t value) {
    out[offset] = static_cast<uint8_t>(value >> 8);
    out[offset + 1] = static_cast<uint8_t>(value);
  }
  template <typename Range>
  static void put_bytes(Bytes& out, const Range& bytes) {
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  static uint16_t checked16(std::size_t value, const char* what) {
    if (value > 0xffff) throw std::length_error(std::string("PacketBuilder: ") + what);
    return static_cast<uint16_t>(value);
  }

  /// Ones' complement sum (RFC 1071) of `bytes`, added to `sum`.
  static uint64_t add_sum(uint64_t sum, const Bytes& bytes) {
    for (std::size_t i = 0; i < bytes.size(); i += 2) {
      const uint64_t high = bytes[i];
      const uint64_t low = i + 1 < bytes.size() ? bytes[i + 1] : 0;
      sum += high << 8 | low;
    }
    return sum;
  }
  static uint16_t fold(uint64_t sum) {
    while ((sum >> 16) != 0) {
      sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(~sum & 0xffff);
  }

  [[nodiscard]] uint8_t l4_protocol(bool ipv6) const {
    if (std::holds_alternative<UdpSpec>(l4_)) return kIpProtoUdp;
    if (std::holds_alternative<TcpSpec>(l4_)) return kIpProtoTcp;
    if (std::holds_alternative<IcmpSpec>(l4_)) return ipv6 ? kIpProtoIcmpv6 : kIpProtoIcmp;
    if (const auto* raw = std::get_if<RawL4>(&l4_)) return raw->protocol;
    return ipv6 ? kIpProtoNoNextHeader : kIpProtoExperimental;
  }

  /// The L4 header and payload, checksum field still zero (filled once the L3 is known).
  [[nodiscard]] Bytes build_l4() const {
    Bytes out;
    if (const auto* udp_spec = std::get_if<UdpSpec>(&l4_)) {
      put16(out, udp_spec->src_port);
      put16(out, udp_spec->dst_port);
      put16(out, udp_spec->length.value_or(checked16(8 + payload_.size(), "UDP length")));
      put16(out, 0);
    } else if (const auto* tcp_spec = std::get_if<TcpSpec>(&l4_)) {
      put16(out, tcp_spec->src_port);
      put16(out, tcp_spec->dst_port);
      put32(out, tcp_spec->seq);
      put32(out, tcp_spec->ack);
      out.push_back(5 << 4);  // data offset: 20 bytes, no options
      out.push_back(tcp_spec->flags);
      put16(out, tcp_spec->window);
      put16(out, 0);  // checksum
      put16(out, 0);  // urgent pointer
    } else if (const auto* icmp_spec = std::get_if<IcmpSpec>(&l4_)) {
      const bool ipv6 = std::holds_alternative<Ipv6Spec>(l3_);
      out.push_back(icmp_spec->type.value_or(ipv6 ? 128 : 8));
      out.push_back(icmp_spec->code);
      put16(out, 0);
      put16(out, icmp_spec->id);
      put16(out, icmp_spec->sequence);
    }
    put_bytes(out, payload_);
    return out;
  }

  /// Fills the L4 checksum; IPv4 ICMP has no pseudo-header.
  void fill_l4_checksum(Bytes& l4, const Bytes& addresses, uint8_t protocol, bool ipv6) const {
    std::size_t offset = 0;
    std::optional<uint16_t> forced;
    bool pseudo = true;
    if (const auto* udp_spec = std::get_if<UdpSpec>(&l4_)) {
      offset = 6;
      forced = udp_spec->checksum;
    } else if (std::holds_alternative<TcpSpec>(l4_)) {
      offset = 16;
    } else if (std::holds_alternative<IcmpSpec>(l4_)) {
      offset = 2;
      pseudo = ipv6;
    } else {
      return;
    }
    if (forced) {
      set16(l4, offset, *forced);
      return;
    }
    uint64_t sum = add_sum(0, l4);
    if (pseudo) {
      sum = add_sum(sum, addresses);
      sum += l4.size() + protocol;  // upper-layer length and protocol, as 16-bit words
    }
    uint16_t checksum = fold(sum);
    // UDP sends a computed zero as all ones; zero means "no checksum".
    if (checksum == 0 && std::holds_alternative<UdpSpec>(l4_)) checksum = 0xffff;
    set16(l4, offset, checksum);
  }

  [[nodiscard]] Bytes build_ipv4(const Ipv4Spec& spec, Bytes l4) const {
    Bytes options = spec.options;
    options.resize((options.size() + 3) / 4 * 4, 0);
    const std::size_t header_length = 20 + options.size();
    if (header_length > 60) throw std::length_error("PacketBuilder: IPv4 options over 40 bytes");
    const uint8_t protocol = spec.protocol.value_or(l4_protocol(false));
    Bytes addresses;
    put_bytes(addresses, spec.src);
    put_bytes(addresses, spec.dst);
    fill_l4_checksum(l4, addresses, protocol, false);

    Bytes out;
    const auto ihl = spec.ihl.value_or(static_cast<uint8_t>(header_length / 4));
    out.push_back(static_cast<uint8_t>((spec.version.value_or(4) & 0xfu) << 4 | (ihl & 0xfu)));
    out.push_back(spec.tos);
    put16(out, spec.total_length.value_or(checked16(header_length + l4.size(), "IPv4 length")));
    put16(out, spec.id);
    put16(out, static_cast<uint16_t>((spec.dont_fragment ? 0x4000u : 0u) |
                                     (spec.more_fragments ? 0x2000u : 0u) |
                                     (spec.fragment_offset & 0x1fffu)));
    out.push_back(spec.ttl);
    out.push_back(protocol);
    put16(out, 0);
    put_bytes(out, spec.src);
    put_bytes(out, spec.dst);
    put_bytes(out, options);
    set16(out, 10, spec.checksum.value_or(fold(add_sum(0, out))));
    put_bytes(out, l4);
    return out;
  }

  [[nodiscard]] Bytes build_ipv6(const Ipv6Spec& spec, Bytes l4) const {
    const uint8_t protocol = l4_protocol(true);
    Bytes addresses;
    put_bytes(addresses, spec.src);
    put_bytes(addresses, spec.dst);
    fill_l4_checksum(l4, addresses, protocol, true);

    Bytes extensions;
    for (std::size_t i = 0; i < spec.ext_headers.size(); ++i) {
      const Ipv6ExtHeader& ext = spec.ext_headers[i];
      const uint8_t next = ext.next_header.value_or(
          i + 1 < spec.ext_headers.size() ? spec.ext_headers[i + 1].type : protocol);
      std::size_t size = (std::size_t{ext.length} + 1) * 8;
      if (ext.type == kIpProtoAh) size = (std::size_t{ext.length} + 2) * 4;
      const std::size_t start = extensions.size();
      extensions.push_back(next);
      if (ext.type == kIpProtoFragment) {
        size = 8;
        extensions.push_back(0);  // reserved
        put16(extensions, static_cast<uint16_t>((ext.fragment_offset & 0x1fffu) << 3 |
                                                (ext.more_fragments ? 1u : 0u)));
        put32(extensions, ext.identification);
      } else {
        extensions.push_back(ext.length);
      }
      extensions.resize(start + ext.emitted.value_or(size), 0);
    }

    Bytes out;
    const uint32_t first_word = (spec.version.value_or(6) & 0xfu) << 28 |
                                uint32_t{spec.traffic_class} << 20 | (spec.flow_label & 0xfffffu);
    put32(out, first_word);
    put16(out, spec.payload_length.value_or(
                   checked16(extensions.size() + l4.size(), "IPv6 payload length")));
    out.push_back(spec.next_header.value_or(
        spec.ext_headers.empty() ? protocol : spec.ext_headers.front().type));
    out.push_back(spec.hop_limit);
    put_bytes(out, addresses);
    put_bytes(out, extensions);
    put_bytes(out, l4);
    return out;
  }

  [[nodiscard]] Bytes build_arp(const ArpSpec& spec) const {
    Bytes out;
    put16(out, 1);  // hardware: Ethernet
    put16(out, kEtherTypeIpv4);
    out.push_back(6);
    out.push_back(4);
    put16(out, spec.operation);
    put_bytes(out, spec.sender_mac);
    put_bytes(out, spec.sender_ip);
    put_bytes(out, spec.target_mac);
    put_bytes(out, spec.target_ip);
    put_bytes(out, payload_);
    return out;
  }

  MacAddress dst_mac_{0x02, 0, 0, 0, 0, 0x02};
  MacAddress src_mac_{0x02, 0, 0, 0, 0, 0x01};
  std::vector<VlanTag> tags_;
  std::optional<uint16_t> ether_type_{};
  std::variant<std::monostate, Ipv4Spec, Ipv6Spec, ArpSpec> l3_;
  std::variant<std::monostate, UdpSpec, TcpSpec, IcmpSpec, RawL4> l4_;
  Bytes payload_{};
  Bytes trailer_{};
  std::size_t pad_to_ = 0;
};

}  // namespace udpsieve::test
