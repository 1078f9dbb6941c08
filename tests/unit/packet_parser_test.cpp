// Table-driven tests of parse_frame: each case is a description, a frame from the packet
// builder, and the expected status, error and key fields. Every parse runs on a heap copy of
// exactly `available` bytes (so a sanitizer build catches over-reads) and twice, into a fresh
// and into a garbage-filled PacketInfo, which must come out identical.

#include "udpsieve/dataplane/packet_parser.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "support/packet_builder.hpp"

namespace udpsieve::dataplane {
namespace {

using rules::Family;
using rules::FragmentKind;
using test::authentication_header;
using test::Bytes;
using test::destination_options;
using test::fragment_header;
using test::hop_by_hop;
using test::Ipv4Spec;
using test::Ipv6ExtHeader;
using test::Ipv6Spec;
using test::PacketBuilder;
using test::routing_header;
using test::UdpSpec;
using Address = std::array<uint8_t, 16>;

constexpr auto kUdp = ParseStatus::udp;
constexpr auto kNonUdp = ParseStatus::non_udp;
constexpr auto kMalformed = ParseStatus::malformed;

const char* status_name(ParseStatus status) {
  switch (status) {
    case ParseStatus::udp:
      return "udp";
    case ParseStatus::non_udp:
      return "non_udp";
    case ParseStatus::malformed:
      return "malformed";
  }
  return "?";
}

const char* fragment_name(FragmentKind kind) {
  switch (kind) {
    case FragmentKind::none:
      return "none";
    case FragmentKind::first:
      return "first";
    case FragmentKind::non_first:
      return "non_first";
  }
  return "?";
}

// --- the frames the cases are built from ------------------------------------------------------

constexpr test::Ipv4Address kV4Src{10, 1, 2, 3};
constexpr test::Ipv4Address kV4Dst{172, 16, 0, 9};
// 2001:db8:aa::1 and 2001:db8:bb::2
constexpr test::Ipv6Address kV6Src{0x20, 0x01, 0x0d, 0xb8, 0, 0xaa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr test::Ipv6Address kV6Dst{0x20, 0x01, 0x0d, 0xb8, 0, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

Ipv4Spec v4(Ipv4Spec spec = {}) {
  spec.src = kV4Src;
  spec.dst = kV4Dst;
  return spec;
}

Ipv6Spec v6(Ipv6Spec spec = {}) {
  spec.src = kV6Src;
  spec.dst = kV6Dst;
  return spec;
}

/// IPv4 UDP 40000 -> 53 with `payload` bytes.
PacketBuilder v4_udp(Ipv4Spec spec = {}, std::size_t payload = 10, UdpSpec udp = {40000, 53}) {
  PacketBuilder builder;
  builder.ipv4(v4(std::move(spec))).udp(udp).payload_size(payload);
  return builder;
}

/// IPv6 UDP 40000 -> 53 with `payload` bytes.
PacketBuilder v6_udp(Ipv6Spec spec = {}, std::size_t payload = 10, UdpSpec udp = {40000, 53}) {
  PacketBuilder builder;
  builder.ipv6(v6(std::move(spec))).udp(udp).payload_size(payload);
  return builder;
}

Bytes v6_with_ext(std::vector<Ipv6ExtHeader> ext, std::size_t payload = 10) {
  return v6_udp({.ext_headers = std::move(ext)}, payload).build();
}

std::vector<Ipv6ExtHeader> generic_chain(std::size_t count) {
  return std::vector<Ipv6ExtHeader>(count, destination_options());
}

// --- expectations -------------------------------------------------------------------------

/// Fields to check; unset ones are only checked by the fresh-vs-garbage comparison. Every
/// member has an initializer so GCC 12 accepts designated initializers naming only some.
struct Expected {
  ParseStatus status = kUdp;
  ParseError error = ParseError::none;
  std::optional<Family> family{};
  std::optional<Address> src{};
  std::optional<Address> dst{};
  std::optional<uint16_t> src_port{};
  std::optional<uint16_t> dst_port{};
  std::optional<bool> has_ports{};
  std::optional<FragmentKind> fragment{};
  std::optional<uint8_t> ttl{};
  std::optional<uint8_t> dscp{};
  std::optional<uint16_t> l3_length{};
  std::optional<uint8_t> vlan_count{};
  std::optional<uint16_t> outer_vlan{};
  std::optional<uint16_t> inner_vlan{};
  std::optional<uint16_t> ether_type{};
  std::optional<uint16_t> l3_offset{};
  std::optional<uint8_t> l4_protocol{};
  std::optional<uint16_t> l4_offset{};
  std::optional<uint16_t> udp_length{};
};

Expected malformed(ParseError error) {
  return {.status = kMalformed, .error = error};
}

struct ParseCase {
  std::string description{};
  Bytes frame{};
  Expected expected{};
  std::optional<uint32_t> available{};     ///< default: the whole frame
  std::optional<uint32_t> frame_length{};  ///< default: frame.size()
};

void PrintTo(const ParseCase& parse_case, std::ostream* out) {
  *out << parse_case.description << " (" << parse_case.frame.size() << " bytes)";
}

/// Every field set to a value no parse produces.
PacketInfo garbage_info() {
  PacketInfo info;
  info.key.src.fill(0xa5);
  info.key.dst.fill(0x5a);
  info.key.src_port = info.key.dst_port = 0xdead;
  info.key.l3_length = info.key.outer_vlan = info.key.inner_vlan = 0xbeef;
  info.key.family = static_cast<Family>(0x77);
  info.key.fragment = static_cast<FragmentKind>(0x77);
  info.key.has_ports = true;
  info.key.vlan_count = info.key.ttl = info.key.dscp = 0x77;
  info.status = static_cast<ParseStatus>(0x77);
  info.error = static_cast<ParseError>(0x77);
  info.l4_protocol = 0x77;
  info.ether_type = info.l3_offset = info.l4_offset = info.udp_length = 0xbeef;
  return info;
}

void expect_same(const PacketInfo& a, const PacketInfo& b) {
  EXPECT_EQ(a.key.src, b.key.src);
  EXPECT_EQ(a.key.dst, b.key.dst);
  EXPECT_EQ(a.key.src_port, b.key.src_port);
  EXPECT_EQ(a.key.dst_port, b.key.dst_port);
  EXPECT_EQ(a.key.l3_length, b.key.l3_length);
  EXPECT_EQ(a.key.outer_vlan, b.key.outer_vlan);
  EXPECT_EQ(a.key.inner_vlan, b.key.inner_vlan);
  EXPECT_EQ(a.key.family, b.key.family);
  EXPECT_EQ(a.key.fragment, b.key.fragment);
  EXPECT_EQ(a.key.has_ports, b.key.has_ports);
  EXPECT_EQ(a.key.vlan_count, b.key.vlan_count);
  EXPECT_EQ(a.key.ttl, b.key.ttl);
  EXPECT_EQ(a.key.dscp, b.key.dscp);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.l4_protocol, b.l4_protocol);
  EXPECT_EQ(a.ether_type, b.ether_type);
  EXPECT_EQ(a.l3_offset, b.l3_offset);
  EXPECT_EQ(a.l4_offset, b.l4_offset);
  EXPECT_EQ(a.udp_length, b.udp_length);
}

/// Parses the first `available` bytes of `frame` (copied to an exactly sized buffer), checks
/// the invariants every result must hold, and returns the result.
PacketInfo parse_checked(const Bytes& frame, uint32_t available, uint32_t frame_length) {
  const auto buffer = std::make_unique<uint8_t[]>(available);
  std::copy_n(frame.begin(), available, buffer.get());
  PacketInfo fresh;
  const ParseStatus returned = parse_frame(buffer.get(), available, frame_length, fresh);
  EXPECT_EQ(status_name(returned), std::string(status_name(fresh.status)));
  PacketInfo reused = garbage_info();
  static_cast<void>(parse_frame(buffer.get(), available, frame_length, reused));
  expect_same(fresh, reused);

  const PacketInfo& info = fresh;
  EXPECT_EQ(info.status == kMalformed, info.error != ParseError::none)
      << parse_error_name(info.error);
  if (info.status == kMalformed) return info;
  EXPECT_EQ(info.key.has_ports, info.status == kUdp && info.l4_offset != 0);
  if (info.key.has_ports) {
    EXPECT_GE(info.udp_length, 8);
    EXPECT_GE(info.l4_offset, info.l3_offset + 20);
  } else {
    EXPECT_EQ(info.key.src_port, 0);
    EXPECT_EQ(info.key.dst_port, 0);
    EXPECT_EQ(info.l4_offset, 0);
    EXPECT_EQ(info.udp_length, 0);
  }
  if (info.status == kUdp) {
    EXPECT_NE(info.key.family, Family::none);
  }
  if (info.key.family == Family::none) {
    EXPECT_EQ(info.key.src, Address{});
    EXPECT_EQ(info.key.dst, Address{});
    EXPECT_EQ(info.l4_protocol, 0);
  }
  if (info.key.family == Family::ipv4) {
    for (std::size_t i = 4; i < 16; ++i) {
      EXPECT_EQ(info.key.src[i], 0);
      EXPECT_EQ(info.key.dst[i], 0);
    }
  }
  EXPECT_LE(info.key.vlan_count, kMaxVlanTags);
  EXPECT_EQ(info.l3_offset, 14 + 4 * info.key.vlan_count);
  return info;
}

template <typename T>
void check_field(const char* name, const std::optional<T>& expected, const T& actual) {
  if (expected) {
    EXPECT_EQ(*expected, actual) << name;
  }
}

void check_expected(const Expected& e, const PacketInfo& info) {
  EXPECT_EQ(status_name(e.status), std::string(status_name(info.status)));
  EXPECT_EQ(parse_error_name(e.error), std::string(parse_error_name(info.error)));
  if (e.family) {
    EXPECT_EQ(static_cast<int>(*e.family), static_cast<int>(info.key.family));
  }
  if (e.fragment) {
    EXPECT_EQ(fragment_name(*e.fragment), std::string(fragment_name(info.key.fragment)));
  }
  check_field("src", e.src, info.key.src);
  check_field("dst", e.dst, info.key.dst);
  check_field("src_port", e.src_port, info.key.src_port);
  check_field("dst_port", e.dst_port, info.key.dst_port);
  check_field("has_ports", e.has_ports, info.key.has_ports);
  check_field("ttl", e.ttl, info.key.ttl);
  check_field("dscp", e.dscp, info.key.dscp);
  check_field("l3_length", e.l3_length, info.key.l3_length);
  check_field("vlan_count", e.vlan_count, info.key.vlan_count);
  check_field("outer_vlan", e.outer_vlan, info.key.outer_vlan);
  check_field("inner_vlan", e.inner_vlan, info.key.inner_vlan);
  check_field("ether_type", e.ether_type, info.ether_type);
  check_field("l3_offset", e.l3_offset, info.l3_offset);
  check_field("l4_protocol", e.l4_protocol, info.l4_protocol);
  check_field("l4_offset", e.l4_offset, info.l4_offset);
  check_field("udp_length", e.udp_length, info.udp_length);
}

// --- the table ----------------------------------------------------------------------------

constexpr Address kKeyV4Src = test::key_address(kV4Src);
constexpr Address kKeyV4Dst = test::key_address(kV4Dst);

/// A UDP result at the usual ports over IPv4, for cases that vary something else.
Expected v4_udp_ok(uint16_t l4_offset, uint16_t udp_length = 18) {
  return {.family = Family::ipv4,
          .src = kKeyV4Src,
          .dst = kKeyV4Dst,
          .src_port = 40000,
          .dst_port = 53,
          .has_ports = true,
          .l4_protocol = 17,
          .l4_offset = l4_offset,
          .udp_length = udp_length};
}

Expected v6_udp_ok(uint16_t l4_offset, std::optional<FragmentKind> fragment = FragmentKind::none,
                   uint16_t udp_length = 18) {
  return {.family = Family::ipv6,
          .src = kV6Src,
          .dst = kV6Dst,
          .src_port = 40000,
          .dst_port = 53,
          .has_ports = true,
          .fragment = fragment,
          .l4_protocol = 17,
          .l4_offset = l4_offset,
          .udp_length = udp_length};
}

Expected non_udp(std::optional<Family> family, std::optional<uint8_t> l4_protocol) {
  return {.status = kNonUdp, .family = family, .has_ports = false, .l4_protocol = l4_protocol};
}

std::vector<ParseCase> basic_cases() {
  return {
      {"IPv4 UDP",
       v4_udp({.tos = 0xb9, .ttl = 17}).build(),
       {.family = Family::ipv4,
        .src = kKeyV4Src,
        .dst = kKeyV4Dst,
        .src_port = 40000,
        .dst_port = 53,
        .has_ports = true,
        .fragment = FragmentKind::none,
        .ttl = 17,
        .dscp = 46,
        .l3_length = 38,
        .vlan_count = 0,
        .outer_vlan = 0,
        .inner_vlan = 0,
        .ether_type = 0x0800,
        .l3_offset = 14,
        .l4_protocol = 17,
        .l4_offset = 34,
        .udp_length = 18}},
      {"IPv6 UDP",
       v6_udp({.traffic_class = 0xb8, .hop_limit = 3}).build(),
       {.family = Family::ipv6,
        .src = kV6Src,
        .dst = kV6Dst,
        .src_port = 40000,
        .dst_port = 53,
        .has_ports = true,
        .fragment = FragmentKind::none,
        .ttl = 3,
        .dscp = 46,
        .l3_length = 58,
        .vlan_count = 0,
        .ether_type = 0x86dd,
        .l3_offset = 14,
        .l4_protocol = 17,
        .l4_offset = 54,
        .udp_length = 18}},
      {"IPv6 DSCP straddling the nibble boundary",
       v6_udp({.traffic_class = 0x5d, .flow_label = 0xfffff}).build(),
       {.family = Family::ipv6, .dscp = 0x17}},
      {"ports are host order",
       v4_udp({}, 0, {.src_port = 0x1234, .dst_port = 0xfedc}).build(),
       {.src_port = 0x1234, .dst_port = 0xfedc, .udp_length = 8}},
      {"IPv4 UDP with an empty payload", v4_udp({}, 0).build(), v4_udp_ok(34, 8)},
      {"UDP length shorter than the IP payload is accepted",
       v4_udp({}, 10, {.src_port = 40000, .dst_port = 53, .length = 9}).build(), v4_udp_ok(34, 9)},
      {"IPv6 UDP length shorter than the payload is accepted",
       v6_udp({}, 10, {.src_port = 40000, .dst_port = 53, .length = 8}).build(),
       v6_udp_ok(54, FragmentKind::none, 8)},
      {"Ethernet padding after a short IPv4 packet",
       v4_udp({}, 2).pad_to(60).build(),
       {.l3_length = 30, .l4_offset = 34, .udp_length = 10}},
      {"garbage trailer after an IPv6 packet",
       v6_udp({}, 2).trailer({0xff, 0xff, 0xff, 0xff, 0x11}).build(),
       {.l3_length = 50, .l4_offset = 54, .udp_length = 10}},
      {"no readable bytes", {}, malformed(ParseError::truncated_ethernet)},
      {"13 bytes", Bytes(13, 0), malformed(ParseError::truncated_ethernet)},
      {"exactly an Ethernet header of IPv4", PacketBuilder{}.ether_type(0x0800).build(),
       malformed(ParseError::truncated_ipv4)},
  };
}

std::vector<ParseCase> vlan_cases() {
  return {
      {"802.1Q tag keeps only the 12-bit id",
       v4_udp().vlan({.vid = 100, .pcp = 5, .dei = true}).build(),
       {.family = Family::ipv4,
        .vlan_count = 1,
        .outer_vlan = 100,
        .inner_vlan = 0,
        .ether_type = 0x0800,
        .l3_offset = 18,
        .l4_offset = 38}},
      {"priority tag (VLAN 0)",
       v4_udp().vlan(0).build(),
       {.vlan_count = 1, .outer_vlan = 0, .l3_offset = 18}},
      {"VLAN 4095", v4_udp().vlan(4095).build(), {.vlan_count = 1, .outer_vlan = 4095}},
      {"QinQ 88a8 + 8100",
       v4_udp().vlan(10, test::kTpid8021Ad).vlan({.vid = 4094, .pcp = 7}).build(),
       {.src_port = 40000,
        .has_ports = true,
        .vlan_count = 2,
        .outer_vlan = 10,
        .inner_vlan = 4094,
        .ether_type = 0x0800,
        .l3_offset = 22,
        .l4_offset = 42}},
      {"QinQ 9100 + 8100",
       v4_udp().vlan(300, test::kTpidQinQLegacy).vlan(400).build(),
       {.vlan_count = 2, .outer_vlan = 300, .inner_vlan = 400, .l3_offset = 22}},
      {"two 8100 tags",
       v4_udp().vlan(1).vlan(2).build(),
       {.vlan_count = 2, .outer_vlan = 1, .inner_vlan = 2}},
      {"VLAN-tagged IPv6",
       v6_udp().vlan(7).build(),
       {.family = Family::ipv6,
        .vlan_count = 1,
        .outer_vlan = 7,
        .l3_offset = 18,
        .l4_offset = 58}},
      {"VLAN-tagged ARP",
       PacketBuilder{}.vlan(5).arp().build(),
       {.status = kNonUdp,
        .family = Family::none,
        .vlan_count = 1,
        .outer_vlan = 5,
        .ether_type = 0x0806,
        .l3_offset = 18,
        .l4_protocol = 0}},
      {"three tags", v4_udp().vlan(1, test::kTpid8021Ad).vlan(2).vlan(3).build(),
       malformed(ParseError::too_many_vlans)},
      {"three tags, the third cut short: too many wins",
       PacketBuilder{}.vlan(1, test::kTpid8021Ad).vlan(2).ether_type(0x8100).build(),
       malformed(ParseError::too_many_vlans)},
      {"VLAN tag cut short", PacketBuilder{}.ether_type(0x8100).payload({0, 1}).build(),
       malformed(ParseError::truncated_vlan)},
      {"second VLAN tag cut short", PacketBuilder{}.vlan(1).ether_type(0x8100).build(),
       malformed(ParseError::truncated_vlan)},
  };
}

std::vector<ParseCase> ipv4_cases() {
  const Bytes nop_options{1, 1, 1, 0};
  const Bytes max_options(40, 1);
  const Ipv4Spec options_spec{.options = nop_options};
  const Ipv4Spec max_options_spec{.options = max_options};
  return {
      {"IPv4 with 4 bytes of options",
       v4_udp(options_spec).build(),
       {.family = Family::ipv4, .l3_length = 42, .l4_offset = 38, .udp_length = 18}},
      {"IPv4 with 40 bytes of options",
       v4_udp(max_options_spec).build(),
       {.family = Family::ipv4, .l3_length = 78, .l4_offset = 74, .udp_length = 18}},
      {"DF set is not a fragment",
       v4_udp({.dont_fragment = true}).build(),
       {.fragment = FragmentKind::none}},
      {"first fragment",
       v4_udp({.more_fragments = true}, 100, {.src_port = 40000, .dst_port = 53, .length = 1408})
           .build(),
       {.family = Family::ipv4,
        .src_port = 40000,
        .dst_port = 53,
        .has_ports = true,
        .fragment = FragmentKind::first,
        .l4_protocol = 17,
        .l4_offset = 34,
        .udp_length = 1408}},
      {"first fragment with UDP length below 8",
       v4_udp({.more_fragments = true}, 100, {.length = 7}).build(),
       malformed(ParseError::bad_udp_length)},
      {"first fragment too short for a UDP header",
       PacketBuilder{}.ipv4({.more_fragments = true}).l4_raw(17).payload_size(4).build(),
       malformed(ParseError::truncated_udp)},
      {"middle fragment (MF + offset)",
       PacketBuilder{}
           .ipv4(v4({.more_fragments = true, .fragment_offset = 185}))
           .l4_raw(17)
           .payload_size(1480)
           .build(),
       {.family = Family::ipv4,
        .src = kKeyV4Src,
        .dst = kKeyV4Dst,
        .src_port = 0,
        .dst_port = 0,
        .has_ports = false,
        .fragment = FragmentKind::non_first,
        .l3_length = 1500,
        .l4_protocol = 17,
        .l4_offset = 0,
        .udp_length = 0}},
      {"last fragment (offset, no MF)",
       PacketBuilder{}.ipv4({.fragment_offset = 370}).l4_raw(17).payload_size(20).build(),
       {.has_ports = false, .fragment = FragmentKind::non_first, .l4_offset = 0}},
      {"non-first fragment of one byte is still udp",
       PacketBuilder{}.ipv4({.fragment_offset = 1}).l4_raw(17).payload_size(1).build(),
       {.has_ports = false, .fragment = FragmentKind::non_first}},
      {"non-first TCP fragment",
       PacketBuilder{}.ipv4({.fragment_offset = 1}).l4_raw(6).payload_size(20).build(),
       {.status = kNonUdp, .fragment = FragmentKind::non_first, .l4_protocol = 6}},
      {"IPv4 TCP",
       PacketBuilder{}.ipv4(v4({.ttl = 9})).tcp().build(),
       {.status = kNonUdp,
        .family = Family::ipv4,
        .src = kKeyV4Src,
        .has_ports = false,
        .ttl = 9,
        .l4_protocol = 6}},
      {"IPv4 ICMP", PacketBuilder{}.ipv4().icmp().build(), non_udp(Family::ipv4, 1)},
      {"IPv4 ESP", PacketBuilder{}.ipv4().l4_raw(50).payload_size(40).build(),
       non_udp(Family::ipv4, 50)},
      {"ARP",
       PacketBuilder{}.arp().build(),
       {.status = kNonUdp, .family = Family::none, .ether_type = 0x0806, .l4_protocol = 0}},
      {"802.3 length field (LLC)",
       PacketBuilder{}.ether_type(0x0026).payload({0x42, 0x42, 0x03, 0, 0, 0}).build(),
       {.status = kNonUdp, .family = Family::none, .ether_type = 0x0026}},
      {"LLDP", PacketBuilder{}.ether_type(test::kEtherTypeLldp).payload_size(30).build(),
       non_udp(Family::none, 0)},
      {"IPv4 version 6", v4_udp({.version = 6}).build(), malformed(ParseError::bad_ip_version)},
      {"IPv4 version 0", v4_udp({.version = 0}).build(), malformed(ParseError::bad_ip_version)},
      {"IPv6 packet behind the IPv4 ethertype", v6_udp().ether_type(0x0800).build(),
       malformed(ParseError::bad_ip_version)},
      {"IHL 0", v4_udp({.ihl = 0}).build(), malformed(ParseError::bad_ihl)},
      {"IHL 4", v4_udp({.ihl = 4}).build(), malformed(ParseError::bad_ihl)},
      {"IHL 15 past the frame", v4_udp({.ihl = 15}, 0).build(), malformed(ParseError::bad_ihl)},
      {"total length 0", v4_udp({.total_length = 0}).build(),
       malformed(ParseError::bad_total_length)},
      {"total length below the header", v4_udp({.total_length = 19}).build(),
       malformed(ParseError::bad_total_length)},
      {"total length below IHL*4 with options",
       v4_udp({.options = nop_options, .total_length = 23}).build(),
       malformed(ParseError::bad_total_length)},
      {"total length one past the frame", v4_udp({.total_length = 39}).build(),
       malformed(ParseError::bad_total_length)},
      {"total length equal to the header: no room for UDP", v4_udp({.total_length = 20}).build(),
       malformed(ParseError::truncated_udp)},
      {"total length leaves 7 bytes of UDP", v4_udp({.total_length = 27}).build(),
       malformed(ParseError::truncated_udp)},
      {"UDP length 0", v4_udp({}, 10, {.length = 0}).build(),
       malformed(ParseError::bad_udp_length)},
      {"UDP length 7", v4_udp({}, 10, {.length = 7}).build(),
       malformed(ParseError::bad_udp_length)},
      {"UDP length one past the IP payload", v4_udp({}, 10, {.length = 19}).build(),
       malformed(ParseError::bad_udp_length)},
      {"UDP length past a shortened total length (padding is not payload)",
       v4_udp({.total_length = 30}, 10).build(), malformed(ParseError::bad_udp_length)},
  };
}

std::vector<ParseCase> ipv6_cases() {
  return {
      {"hop-by-hop", v6_with_ext({hop_by_hop()}), v6_udp_ok(62)},
      {"routing", v6_with_ext({routing_header(2)}), v6_udp_ok(78)},
      {"destination options", v6_with_ext({destination_options(1)}), v6_udp_ok(70)},
      {"mobility", v6_with_ext({{.type = test::kIpProtoMobility, .length = 1}}), v6_udp_ok(70)},
      {"HIP", v6_with_ext({{.type = test::kIpProtoHip, .length = 0}}), v6_udp_ok(62)},
      {"shim6", v6_with_ext({{.type = test::kIpProtoShim6, .length = 0}}), v6_udp_ok(62)},
      {"AH", v6_with_ext({authentication_header()}), v6_udp_ok(78)},
      {"AH of 12 bytes", v6_with_ext({authentication_header(1)}), v6_udp_ok(66)},
      {"atomic fragment", v6_with_ext({fragment_header(0, false)}),
       v6_udp_ok(62, FragmentKind::none)},
      {"atomic fragment checks the UDP length",
       v6_udp({.ext_headers = {fragment_header(0, false)}}, 10,
              {.src_port = 1, .dst_port = 2, .length = 19})
           .build(),
       malformed(ParseError::bad_udp_length)},
      {"first fragment",
       v6_udp({.ext_headers = {fragment_header(0, true)}}, 10,
              {.src_port = 40000, .dst_port = 53, .length = 3000})
           .build(),
       v6_udp_ok(62, FragmentKind::first, 3000)},
      {"first fragment with UDP length below 8",
       v6_udp({.ext_headers = {fragment_header(0, true)}}, 10, {.length = 4}).build(),
       malformed(ParseError::bad_udp_length)},
      {"non-first fragment",
       PacketBuilder{}
           .ipv6(v6({.ext_headers = {hop_by_hop(), fragment_header(100, true)}}))
           .l4_raw(17)
           .payload_size(3)
           .build(),
       {.family = Family::ipv6,
        .src = kV6Src,
        .src_port = 0,
        .has_ports = false,
        .fragment = FragmentKind::non_first,
        .l3_length = 59,
        .l4_protocol = 17,
        .l4_offset = 0,
        .udp_length = 0}},
      {"last fragment (no M)",
       PacketBuilder{}.ipv6({.ext_headers = {fragment_header(1, false)}}).l4_raw(17).build(),
       {.has_ports = false, .fragment = FragmentKind::non_first}},
      {"non-first fragment stops the walk before more headers",
       PacketBuilder{}
           .ipv6({.ext_headers = {fragment_header(8, true), destination_options()}})
           .udp()
           .build(),
       {.status = kNonUdp, .fragment = FragmentKind::non_first, .l4_protocol = 60}},
      {"non-first TCP fragment",
       PacketBuilder{}.ipv6({.ext_headers = {fragment_header(8, false)}}).l4_raw(6).build(),
       {.status = kNonUdp, .fragment = FragmentKind::non_first, .l4_protocol = 6}},
      {"chain of three", v6_with_ext({hop_by_hop(), routing_header(2), destination_options()}),
       v6_udp_ok(94)},
      {"chain of five with a first fragment",
       v6_with_ext({hop_by_hop(1), destination_options(), routing_header(),
                    fragment_header(0, true), authentication_header()}),
       v6_udp_ok(118, FragmentKind::first)},
      {"chain of 8 (the limit)", v6_with_ext(generic_chain(8)), v6_udp_ok(118)},
      {"chain of 9", v6_with_ext(generic_chain(9)), malformed(ParseError::too_many_ext_headers)},
      {"chain of 8 then ICMPv6",
       PacketBuilder{}.ipv6({.ext_headers = generic_chain(8)}).icmp().build(),
       non_udp(Family::ipv6, 58)},
      {"extension header length past the payload",
       v6_udp({.ext_headers = {{.type = test::kIpProtoHopByHop, .length = 10, .emitted = 8}}}, 0)
           .build(),
       malformed(ParseError::truncated_ext_header)},
      {"extension header past the payload length but inside the frame",
       v6_udp({.ext_headers = {hop_by_hop(1)}, .payload_length = 8}, 0).build(),
       malformed(ParseError::truncated_ext_header)},
      {"payload length 0 with a hop-by-hop header (jumbogram)",
       v6_udp({.ext_headers = {hop_by_hop()}, .payload_length = 0}).build(),
       malformed(ParseError::truncated_ext_header)},
      {"one byte of extension header",
       v6_udp({.ext_headers = {hop_by_hop()}, .payload_length = 1}).build(),
       malformed(ParseError::truncated_ext_header)},
      {"fragment header cut short",
       PacketBuilder{}
           .ipv6({.ext_headers = {{.type = test::kIpProtoFragment, .emitted = 4}}})
           .build(),
       malformed(ParseError::truncated_ext_header)},
      {"AH cut short",
       PacketBuilder{}
           .ipv6({.ext_headers = {{.type = test::kIpProtoAh, .length = 4, .emitted = 20}}})
           .build(),
       malformed(ParseError::truncated_ext_header)},
      {"ninth header reported before its truncation",
       PacketBuilder{}
           .ipv6({.ext_headers = generic_chain(8), .payload_length = 64})
           .l4_raw(test::kIpProtoHopByHop)
           .build(),
       malformed(ParseError::too_many_ext_headers)},
      {"no next header", PacketBuilder{}.ipv6().build(), non_udp(Family::ipv6, 59)},
      {"ESP", PacketBuilder{}.ipv6().l4_raw(50).payload_size(32).build(),
       non_udp(Family::ipv6, 50)},
      {"ESP after a hop-by-hop header",
       PacketBuilder{}.ipv6({.ext_headers = {hop_by_hop()}}).l4_raw(50).payload_size(8).build(),
       non_udp(Family::ipv6, 50)},
      {"IPv6 TCP",
       PacketBuilder{}.ipv6(v6()).tcp().build(),
       {.status = kNonUdp, .family = Family::ipv6, .src = kV6Src, .l4_protocol = 6}},
      {"ICMPv6", PacketBuilder{}.ipv6().icmp().build(), non_udp(Family::ipv6, 58)},
      {"unknown next header", PacketBuilder{}.ipv6().l4_raw(253).payload_size(8).build(),
       non_udp(Family::ipv6, 253)},
      {"39 bytes of IPv6", PacketBuilder{}.ether_type(0x86dd).payload_size(39).build(),
       malformed(ParseError::truncated_ipv6)},
      {"IPv6 version 4", v6_udp({.version = 4}).build(), malformed(ParseError::bad_ip_version)},
      {"IPv4 packet behind the IPv6 ethertype", v4_udp({}, 40).ether_type(0x86dd).build(),
       malformed(ParseError::bad_ip_version)},
      {"payload length one past the frame", v6_udp({.payload_length = 19}).build(),
       malformed(ParseError::bad_payload_length)},
      {"payload length 65535", v6_udp({.payload_length = 65535}).build(),
       malformed(ParseError::bad_payload_length)},
      {"payload length 4: UDP header cut short", v6_udp({.payload_length = 4}).build(),
       malformed(ParseError::truncated_udp)},
      {"UDP after an extension header cut short by the payload length",
       v6_udp({.ext_headers = {hop_by_hop()}, .payload_length = 15}).build(),
       malformed(ParseError::truncated_udp)},
      {"IPv6 UDP length 7", v6_udp({}, 10, {.length = 7}).build(),
       malformed(ParseError::bad_udp_length)},
      {"IPv6 UDP length past the payload", v6_udp({}, 10, {.length = 19}).build(),
       malformed(ParseError::bad_udp_length)},
      {"IPv6 UDP length past a shortened payload length",
       v6_udp({.payload_length = 12}, 10).build(), malformed(ParseError::bad_udp_length)},
  };
}

/// `available < frame_length`: the first bytes of a multi-segment frame.
std::vector<ParseCase> partial_buffer_cases() {
  const Bytes v4_frame = v4_udp({}, 200).build();                              // 242 bytes
  const Bytes v6_frame = v6_with_ext({hop_by_hop(), routing_header(1)}, 200);  // 286 bytes
  const Bytes options_frame = v4_udp({.options = Bytes(40, 1)}, 200).build();
  return {
      {"Ethernet beyond the buffer", v4_frame, malformed(ParseError::truncated_ethernet), 13},
      {"VLAN tag beyond the buffer", v4_udp({}, 200).vlan(1).build(),
       malformed(ParseError::truncated_vlan), 17},
      {"IPv4 header beyond the buffer", v4_frame, malformed(ParseError::truncated_ipv4), 33},
      {"IPv4 options beyond the buffer", options_frame, malformed(ParseError::truncated_ipv4), 60},
      {"IHL past the frame, not just the buffer", v4_udp({.ihl = 15}, 0).build(),
       malformed(ParseError::bad_ihl), 40},
      {"UDP header beyond the buffer", v4_frame, malformed(ParseError::truncated_udp), 41},
      {"UDP header in the buffer, payload beyond",
       v4_frame,
       {.l3_length = 228, .l4_offset = 34, .udp_length = 208},
       42},
      {"total length checked against the frame, not the buffer", v4_frame,
       malformed(ParseError::bad_total_length), 42, 241},
      {"UDP length checked against the IP payload, not the buffer",
       v4_udp({}, 200, {.length = 209}).build(), malformed(ParseError::bad_udp_length), 42},
      {"non-first fragment needs no bytes past the IP header",
       PacketBuilder{}.ipv4({.fragment_offset = 3}).l4_raw(17).payload_size(100).build(),
       {.has_ports = false, .fragment = FragmentKind::non_first},
       34},
      {"IPv6 header beyond the buffer", v6_frame, malformed(ParseError::truncated_ipv6), 53},
      {"IPv6 extension header beyond the buffer", v6_frame,
       malformed(ParseError::truncated_ext_header), 77},
      {"IPv6 UDP header beyond the buffer", v6_frame, malformed(ParseError::truncated_udp), 85},
      {"IPv6 UDP header in the buffer", v6_frame, v6_udp_ok(78, FragmentKind::none, 208), 86},
      {"IPv6 payload length checked against the frame", v6_frame,
       malformed(ParseError::bad_payload_length), 86, 285},
      {"available larger than the frame is clamped", v4_udp({}, 10).build(),
       malformed(ParseError::bad_total_length), 52, 51},
      {"available past the frame: Ethernet header past the frame", PacketBuilder{}.arp().build(),
       malformed(ParseError::truncated_ethernet), 14, 13},
      {"available past the frame: IPv6 header past the frame", v6_udp().build(),
       malformed(ParseError::truncated_ipv6), 54, 53},
      {"available past the frame: VLAN tag past the frame", v4_udp().vlan(1).build(),
       malformed(ParseError::truncated_vlan), 18, 17},
  };
}

std::vector<ParseCase> all_cases() {
  using Group = std::vector<ParseCase> (*)();
  const std::vector<std::pair<std::string, Group>> groups{{"basic", basic_cases},
                                                          {"VLAN", vlan_cases},
                                                          {"IPv4", ipv4_cases},
                                                          {"IPv6", ipv6_cases},
                                                          {"partial buffer", partial_buffer_cases}};
  std::vector<ParseCase> cases;
  for (const auto& [prefix, group] : groups) {
    for (ParseCase& parse_case : group()) {
      parse_case.description = prefix + ": " + parse_case.description;
      cases.push_back(std::move(parse_case));
    }
  }
  return cases;
}

std::string case_name(const testing::TestParamInfo<ParseCase>& info) {
  std::string name;
  for (const char c : info.param.description) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0) {
      name += c;
    } else if (!name.empty() && name.back() != '_') {
      name += '_';
    }
  }
  while (!name.empty() && name.back() == '_') {
    name.pop_back();
  }
  return name;
}

class ParseFrameTest : public testing::TestWithParam<ParseCase> {};

TEST_P(ParseFrameTest, MatchesExpectation) {
  const ParseCase& parse_case = GetParam();
  const auto frame_length =
      parse_case.frame_length.value_or(static_cast<uint32_t>(parse_case.frame.size()));
  const auto available = parse_case.available.value_or(frame_length);
  ASSERT_LE(std::min(available, frame_length), parse_case.frame.size());
  // The buffer holds min(available, frame) bytes; the parser must not read more.
  const PacketInfo info =
      parse_checked(parse_case.frame, std::min(available, frame_length), frame_length);
  check_expected(parse_case.expected, info);
  // Passing a larger `available` than the frame must behave the same as the clamped one.
  if (available > frame_length) {
    Bytes padded = parse_case.frame;
    padded.resize(available, 0xee);
    PacketInfo clamped;
    static_cast<void>(parse_frame(padded.data(), available, frame_length, clamped));
    expect_same(info, clamped);
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ParseFrameTest, testing::ValuesIn(all_cases()), case_name);

// --- every truncation point ---------------------------------------------------------------

/// Prefix lengths below `below` (and at or above the previous boundary) give this result.
struct Boundary {
  std::size_t below = 0;
  ParseStatus status = kUdp;
  ParseError error = ParseError::none;
};

struct TruncationCase {
  std::string description{};
  Bytes frame{};
  /// The frame cut short (available == frame_length == prefix): the IP length fields now
  /// point past the frame, so past the IP header everything is a bad length.
  std::vector<Boundary> short_frame{};
  /// Only a prefix readable (available == prefix, frame_length == full): headers past the
  /// prefix are truncated_*, and once the headers are in, the frame parses.
  std::vector<Boundary> short_buffer{};
};

Boundary trunc(std::size_t below, ParseError error) {
  return {below, kMalformed, error};
}

std::vector<TruncationCase> truncation_cases() {
  using E = ParseError;
  std::vector<TruncationCase> cases;
  {
    Bytes frame = v4_udp({}, 18).build();  // 60 bytes
    cases.push_back({"plain IPv4 UDP",
                     frame,
                     {trunc(14, E::truncated_ethernet), trunc(34, E::truncated_ipv4),
                      trunc(60, E::bad_total_length)},
                     {trunc(14, E::truncated_ethernet),
                      trunc(34, E::truncated_ipv4),
                      trunc(42, E::truncated_udp),
                      {60, kUdp}}});
  }
  {
    Bytes frame = v4_udp({}, 18).vlan(10, test::kTpid8021Ad).vlan(20).build();  // 68 bytes
    cases.push_back({"QinQ IPv4 UDP",
                     frame,
                     {trunc(14, E::truncated_ethernet), trunc(22, E::truncated_vlan),
                      trunc(42, E::truncated_ipv4), trunc(68, E::bad_total_length)},
                     {trunc(14, E::truncated_ethernet),
                      trunc(22, E::truncated_vlan),
                      trunc(42, E::truncated_ipv4),
                      trunc(50, E::truncated_udp),
                      {68, kUdp}}});
  }
  {
    Bytes frame = v4_udp({.options = Bytes(12, 1)}, 18).build();  // 72 bytes
    cases.push_back({"IPv4 with options",
                     frame,
                     {trunc(14, E::truncated_ethernet), trunc(34, E::truncated_ipv4),
                      trunc(46, E::bad_ihl), trunc(72, E::bad_total_length)},
                     {trunc(14, E::truncated_ethernet),
                      trunc(46, E::truncated_ipv4),
                      trunc(54, E::truncated_udp),
                      {72, kUdp}}});
  }
  {
    Bytes frame = v6_with_ext({hop_by_hop(), destination_options(1)}, 18);  // 104 bytes
    cases.push_back({"IPv6 with two extension headers",
                     frame,
                     {trunc(14, E::truncated_ethernet), trunc(54, E::truncated_ipv6),
                      trunc(104, E::bad_payload_length)},
                     {trunc(14, E::truncated_ethernet),
                      trunc(54, E::truncated_ipv6),
                      trunc(78, E::truncated_ext_header),
                      trunc(86, E::truncated_udp),
                      {104, kUdp}}});
  }
  {
    Bytes frame = PacketBuilder{}
                      .ipv6({.ext_headers = {fragment_header(10, true)}})
                      .l4_raw(17)
                      .payload_size(16)
                      .build();  // 78 bytes
    cases.push_back({"IPv6 non-first fragment",
                     frame,
                     {trunc(14, E::truncated_ethernet), trunc(54, E::truncated_ipv6),
                      trunc(78, E::bad_payload_length)},
                     {trunc(14, E::truncated_ethernet),
                      trunc(54, E::truncated_ipv6),
                      trunc(62, E::truncated_ext_header),
                      {78, kUdp}}});
  }
  {
    // Cutting into the padding leaves the IPv4 packet whole.
    Bytes frame = v4_udp({}, 2).pad_to(60).build();
    cases.push_back({"padded short IPv4 UDP",
                     frame,
                     {trunc(14, E::truncated_ethernet),
                      trunc(34, E::truncated_ipv4),
                      trunc(44, E::bad_total_length),
                      {60, kUdp}},
                     {trunc(14, E::truncated_ethernet),
                      trunc(34, E::truncated_ipv4),
                      trunc(42, E::truncated_udp),
                      {60, kUdp}}});
  }
  {
    // The parser reads no further than the ethertype of non-IP frames.
    Bytes frame = PacketBuilder{}.arp().build();  // 42 bytes
    cases.push_back({"ARP",
                     frame,
                     {trunc(14, E::truncated_ethernet), {42, kNonUdp}},
                     {trunc(14, E::truncated_ethernet), {42, kNonUdp}}});
  }
  return cases;
}

void check_prefixes(const Bytes& frame, const std::vector<Boundary>& boundaries,
                    bool short_buffer) {
  ASSERT_FALSE(boundaries.empty());
  ASSERT_EQ(boundaries.back().below, frame.size());
  std::size_t boundary = 0;
  for (uint32_t length = 0; length < frame.size(); ++length) {
    while (length >= boundaries[boundary].below)
      ++boundary;
    const Boundary& expected = boundaries[boundary];
    SCOPED_TRACE(testing::Message() << "prefix of " << length << " bytes, "
                                    << (short_buffer ? "short buffer" : "short frame"));
    const auto frame_length = short_buffer ? static_cast<uint32_t>(frame.size()) : length;
    const PacketInfo info = parse_checked(frame, length, frame_length);
    EXPECT_EQ(status_name(expected.status), std::string(status_name(info.status)));
    EXPECT_EQ(parse_error_name(expected.error), std::string(parse_error_name(info.error)));
  }
}

class ParseTruncationTest : public testing::TestWithParam<TruncationCase> {};

TEST_P(ParseTruncationTest, EveryShortFrameIsMalformed) {
  check_prefixes(GetParam().frame, GetParam().short_frame, false);
}

TEST_P(ParseTruncationTest, EveryShortBufferStopsAtTheRightHeader) {
  check_prefixes(GetParam().frame, GetParam().short_buffer, true);
}

TEST_P(ParseTruncationTest, WholeFrameParses) {
  const Bytes& frame = GetParam().frame;
  const auto size = static_cast<uint32_t>(frame.size());
  const PacketInfo info = parse_checked(frame, size, size);
  EXPECT_NE(info.status, kMalformed) << parse_error_name(info.error);
}

std::string truncation_name(const testing::TestParamInfo<TruncationCase>& param) {
  std::string name;
  for (const char c : param.param.description) {
    name += std::isalnum(static_cast<unsigned char>(c)) != 0 ? c : '_';
  }
  return name;
}

void PrintTo(const TruncationCase& truncation_case, std::ostream* out) {
  *out << truncation_case.description;
}

INSTANTIATE_TEST_SUITE_P(Prefixes, ParseTruncationTest, testing::ValuesIn(truncation_cases()),
                         truncation_name);

// --- parse_error_name ---------------------------------------------------------------------

TEST(ParseErrorName, NamesEveryError) {
  const std::vector<std::pair<ParseError, std::string>> names{
      {ParseError::none, "none"},
      {ParseError::truncated_ethernet, "truncated_ethernet"},
      {ParseError::truncated_vlan, "truncated_vlan"},
      {ParseError::too_many_vlans, "too_many_vlans"},
      {ParseError::truncated_ipv4, "truncated_ipv4"},
      {ParseError::bad_ip_version, "bad_ip_version"},
      {ParseError::bad_ihl, "bad_ihl"},
      {ParseError::bad_total_length, "bad_total_length"},
      {ParseError::truncated_ipv6, "truncated_ipv6"},
      {ParseError::bad_payload_length, "bad_payload_length"},
      {ParseError::truncated_ext_header, "truncated_ext_header"},
      {ParseError::too_many_ext_headers, "too_many_ext_headers"},
      {ParseError::truncated_udp, "truncated_udp"},
      {ParseError::bad_udp_length, "bad_udp_length"},
  };
  for (const auto& [error, name] : names)
    EXPECT_EQ(name, parse_error_name(error));
  EXPECT_STREQ("unknown", parse_error_name(static_cast<ParseError>(200)));
}

// The UDP payload the classifier's payload matches read: where it starts and how many of its
// bytes the frame holds.
struct PayloadCase {
  const char* description;
  Bytes frame;
  uint16_t payload_length;  ///< expected key.payload_length
  bool has_payload;         ///< key.payload set (it points just past the UDP header)
};

TEST(ParsePayload, PointsPastTheUdpHeaderAndCountsBytesInThePacket) {
  UdpSpec short_udp{40000, 53};
  short_udp.length = 8 + 4;  // the UDP length claims 4 payload bytes of the 10 present
  UdpSpec whole_datagram{40000, 53};
  whole_datagram.length = 8 + 100;  // a first fragment: the datagram is longer than the packet
  const std::vector<PayloadCase> cases = {
      {"IPv4, 10 payload bytes", v4_udp({}, 10).build(), 10, true},
      {"IPv4, empty payload", v4_udp({}, 0).build(), 0, true},
      {"IPv4, Ethernet padding is not payload", v4_udp({}, 2).pad_to(60).build(), 2, true},
      {"IPv4, UDP length shorter than the IP payload", v4_udp({}, 10, short_udp).build(), 4, true},
      {"IPv4 first fragment: only the bytes in this packet",
       v4_udp({.more_fragments = true}, 24, whole_datagram).build(), 24, true},
      {"IPv4 non-first fragment: no UDP header, no payload",
       PacketBuilder().ipv4(v4({.fragment_offset = 4})).l4_raw(17).payload_size(16).build(), 0,
       false},
      {"IPv6 with two extension headers", v6_with_ext({hop_by_hop(), destination_options()}, 33),
       33, true},
      {"IPv6 first fragment", v6_udp({.ext_headers = {fragment_header(0, true)}}, 12).build(), 12,
       true},
  };
  for (const PayloadCase& c : cases) {
    PacketInfo info;
    const auto length = static_cast<uint32_t>(c.frame.size());
    (void)parse_frame(c.frame.data(), length, length, info);
    ASSERT_EQ(info.status, ParseStatus::udp) << c.description;
    EXPECT_EQ(info.key.payload_length, c.payload_length) << c.description;
    if (c.has_payload) {
      EXPECT_EQ(info.key.payload, c.frame.data() + info.l4_offset + 8) << c.description;
      // The payload bytes are the builder's counting pattern 0, 1, 2...
      for (uint16_t i = 0; i < info.key.payload_length; ++i) {
        EXPECT_EQ(info.key.payload[i], static_cast<uint8_t>(i)) << c.description << " byte " << i;
      }
    } else {
      EXPECT_EQ(info.key.payload, nullptr) << c.description;
    }
  }
}

}  // namespace
}  // namespace udpsieve::dataplane
