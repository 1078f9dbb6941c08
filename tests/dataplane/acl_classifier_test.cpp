// Hand-written cases for the rte_acl classifier: what each match field means at its
// boundaries, first-match priority, and how rules expand into classifier entries. Every case
// is also checked against the reference matcher, so the table documents both.
#include <gtest/gtest.h>

#include <functional>

#include <array>
#include <cstdint>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "dataplane/acl_support.hpp"
#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/dataplane/acl_classifier.hpp"
#include "udpsieve/dataplane/rule_limits.hpp"
#include "udpsieve/rules/matcher.hpp"
#include "udpsieve/rules/rule_loader.hpp"

namespace udpsieve::dataplane {
namespace {

using rules::Family;
using rules::FragmentKind;
using rules::Match;
using rules::PacketKey;
using rules::PayloadMatch;
using rules::Rule;
using test::address;
using test::classify_one;
using test::one;
using test::prefix;
using test::range;

/// The payload every case's packet carries: byte i has the value i.
const std::array<uint8_t, 128> kPayload = [] {
  std::array<uint8_t, 128> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<uint8_t>(i);
  return bytes;
}();

/// An untagged, unfragmented IPv4 UDP packet 10.0.0.1:1000 -> 192.0.2.1:2000 on port 0 with
/// 32 bytes of kPayload.
PacketKey base_packet() {
  PacketKey key = test::udp_key("10.0.0.1", "192.0.2.1", 1000, 2000);
  key.payload = kPayload.data();
  key.payload_length = 32;
  return key;
}

void v6(PacketKey& k, const char* src, const char* dst = "2001:db8:ffff::1") {
  k.family = Family::ipv6;
  k.src = address(src);
  k.dst = address(dst);
}

/// A non-first fragment: no UDP header, so no ports and no payload.
void non_first(PacketKey& k) {
  k.fragment = FragmentKind::non_first;
  k.has_ports = false;
  k.src_port = 0;
  k.dst_port = 0;
  k.payload = nullptr;
  k.payload_length = 0;
}

void tagged(PacketKey& k, uint16_t outer) {
  k.vlan_count = 1;
  k.outer_vlan = outer;
}

PayloadMatch payload(uint16_t offset, std::vector<uint8_t> value, std::vector<uint8_t> mask = {}) {
  PayloadMatch p;
  p.offset = offset;
  p.mask = mask.empty() ? std::vector<uint8_t>(value.size(), 0xff) : std::move(mask);
  p.value = std::move(value);
  return p;
}

/// Bytes offset..offset+count-1 of kPayload.
std::vector<uint8_t> payload_bytes(uint8_t offset, uint8_t count) {
  std::vector<uint8_t> out;
  for (uint8_t i = 0; i < count; ++i)
    out.push_back(static_cast<uint8_t>(offset + i));
  return out;
}

struct FieldCase {
  const char* description;
  void (*rule)(Match&);
  void (*packet)(PacketKey&);
  bool matches;
};

// gtest prints parameters in test listings (and so in ctest's test names): print the description.
void PrintTo(const FieldCase& c, std::ostream* out) {
  *out << c.description;
}

// clang-format off
const FieldCase kFieldCases[] = {
  // --- src / dst prefixes ------------------------------------------------------------------
  {"src /24 holds its first address", [](Match& m) { m.src = {prefix("10.0.0.0/24")}; },
   [](PacketKey& k) { k.src = address("10.0.0.0"); }, true},
  {"src /24 holds its last address", [](Match& m) { m.src = {prefix("10.0.0.0/24")}; },
   [](PacketKey& k) { k.src = address("10.0.0.255"); }, true},
  {"src /24 misses the address below", [](Match& m) { m.src = {prefix("10.0.0.0/24")}; },
   [](PacketKey& k) { k.src = address("9.255.255.255"); }, false},
  {"src /24 misses the address above", [](Match& m) { m.src = {prefix("10.0.0.0/24")}; },
   [](PacketKey& k) { k.src = address("10.0.1.0"); }, false},
  {"src host holds itself", [](Match& m) { m.src = {prefix("10.0.0.1")}; },
   [](PacketKey&) {}, true},
  {"src host misses its neighbour", [](Match& m) { m.src = {prefix("10.0.0.1")}; },
   [](PacketKey& k) { k.src = address("10.0.0.2"); }, false},
  {"src /31 holds both addresses", [](Match& m) { m.src = {prefix("10.0.0.2/31")}; },
   [](PacketKey& k) { k.src = address("10.0.0.3"); }, true},
  {"src 0.0.0.0/0 holds any IPv4 address", [](Match& m) { m.src = {prefix("0.0.0.0/0")}; },
   [](PacketKey& k) { k.src = address("255.255.255.255"); }, true},
  {"src 0.0.0.0/0 misses IPv6", [](Match& m) { m.src = {prefix("0.0.0.0/0")}; },
   [](PacketKey& k) { v6(k, "::"); }, false},
  {"src ::/0 holds any IPv6 address", [](Match& m) { m.src = {prefix("::/0")}; },
   [](PacketKey& k) { v6(k, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"); }, true},
  {"src ::/0 misses IPv4", [](Match& m) { m.src = {prefix("::/0")}; },
   [](PacketKey&) {}, false},
  {"src /33 holds the top of its range (word 1)",
   [](Match& m) { m.src = {prefix("2001:db8:8000::/33")}; },
   [](PacketKey& k) { v6(k, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"); }, true},
  {"src /33 misses the address below (word 1)",
   [](Match& m) { m.src = {prefix("2001:db8:8000::/33")}; },
   [](PacketKey& k) { v6(k, "2001:db8:7fff:ffff:ffff:ffff:ffff:ffff"); }, false},
  {"src /64 holds its last address", [](Match& m) { m.src = {prefix("2001:db8:0:1::/64")}; },
   [](PacketKey& k) { v6(k, "2001:db8:0:1:ffff:ffff:ffff:ffff"); }, true},
  {"src /64 misses the next /64", [](Match& m) { m.src = {prefix("2001:db8:0:1::/64")}; },
   [](PacketKey& k) { v6(k, "2001:db8:0:2::"); }, false},
  {"src /100 holds its last address (word 3)",
   [](Match& m) { m.src = {prefix("2001:db8::/100")}; },
   [](PacketKey& k) { v6(k, "2001:db8::fff:ffff"); }, true},
  {"src /100 misses the address above (word 3)",
   [](Match& m) { m.src = {prefix("2001:db8::/100")}; },
   [](PacketKey& k) { v6(k, "2001:db8::1000:0"); }, false},
  {"src IPv6 host holds itself", [](Match& m) { m.src = {prefix("2001:db8::1")}; },
   [](PacketKey& k) { v6(k, "2001:db8::1"); }, true},
  {"src IPv6 host misses its neighbour", [](Match& m) { m.src = {prefix("2001:db8::1")}; },
   [](PacketKey& k) { v6(k, "2001:db8::2"); }, false},
  {"src list of both families holds IPv4",
   [](Match& m) { m.src = {prefix("2001:db8::/32"), prefix("10.0.0.0/8")}; },
   [](PacketKey& k) { k.src = address("10.255.0.1"); }, true},
  {"src list of both families holds IPv6",
   [](Match& m) { m.src = {prefix("2001:db8::/32"), prefix("10.0.0.0/8")}; },
   [](PacketKey& k) { v6(k, "2001:db8:1::5"); }, true},
  {"src list of both families misses others",
   [](Match& m) { m.src = {prefix("2001:db8::/32"), prefix("10.0.0.0/8")}; },
   [](PacketKey& k) { k.src = address("11.0.0.1"); }, false},
  {"src prefix does not look at dst", [](Match& m) { m.src = {prefix("192.0.2.0/24")}; },
   [](PacketKey&) {}, false},
  {"dst /24 holds its last address", [](Match& m) { m.dst = {prefix("192.0.2.0/24")}; },
   [](PacketKey& k) { k.dst = address("192.0.2.255"); }, true},
  {"dst /24 misses the address above", [](Match& m) { m.dst = {prefix("192.0.2.0/24")}; },
   [](PacketKey& k) { k.dst = address("192.0.3.0"); }, false},
  {"dst /24 misses the address below", [](Match& m) { m.dst = {prefix("192.0.2.0/24")}; },
   [](PacketKey& k) { k.dst = address("192.0.1.255"); }, false},
  {"dst /100 holds its last address",
   [](Match& m) { m.dst = {prefix("2001:db8::/100")}; },
   [](PacketKey& k) { v6(k, "2001:db8:ffff::1", "2001:db8::fff:ffff"); }, true},
  {"dst /100 misses the address above",
   [](Match& m) { m.dst = {prefix("2001:db8::/100")}; },
   [](PacketKey& k) { v6(k, "2001:db8:ffff::1", "2001:db8::1000:0"); }, false},
  {"src and dst must both hold",
   [](Match& m) { m.src = {prefix("10.0.0.0/8")}; m.dst = {prefix("192.0.2.0/25")}; },
   [](PacketKey& k) { k.dst = address("192.0.2.128"); }, false},

  // --- ports ---------------------------------------------------------------------------------
  {"src_port 53 holds 53", [](Match& m) { m.src_port = {one(53)}; },
   [](PacketKey& k) { k.src_port = 53; }, true},
  {"src_port 53 misses 52", [](Match& m) { m.src_port = {one(53)}; },
   [](PacketKey& k) { k.src_port = 52; }, false},
  {"src_port 53 misses 54", [](Match& m) { m.src_port = {one(53)}; },
   [](PacketKey& k) { k.src_port = 54; }, false},
  {"src_port 0 holds 0", [](Match& m) { m.src_port = {one(0)}; },
   [](PacketKey& k) { k.src_port = 0; }, true},
  {"src_port 1024-65535 misses 1023", [](Match& m) { m.src_port = {range(1024, 65535)}; },
   [](PacketKey& k) { k.src_port = 1023; }, false},
  {"src_port 1024-65535 holds 1024", [](Match& m) { m.src_port = {range(1024, 65535)}; },
   [](PacketKey& k) { k.src_port = 1024; }, true},
  {"src_port 1024-65535 holds 65535", [](Match& m) { m.src_port = {range(1024, 65535)}; },
   [](PacketKey& k) { k.src_port = 65535; }, true},
  {"src_port does not look at dst_port", [](Match& m) { m.src_port = {one(2000)}; },
   [](PacketKey&) {}, false},
  {"dst_port list holds its single port",
   [](Match& m) { m.dst_port = {one(53), range(100, 200)}; },
   [](PacketKey& k) { k.dst_port = 53; }, true},
  {"dst_port list holds its range's first port",
   [](Match& m) { m.dst_port = {one(53), range(100, 200)}; },
   [](PacketKey& k) { k.dst_port = 100; }, true},
  {"dst_port list holds its range's last port",
   [](Match& m) { m.dst_port = {one(53), range(100, 200)}; },
   [](PacketKey& k) { k.dst_port = 200; }, true},
  {"dst_port list misses below its range",
   [](Match& m) { m.dst_port = {one(53), range(100, 200)}; },
   [](PacketKey& k) { k.dst_port = 99; }, false},
  {"dst_port list misses above its range",
   [](Match& m) { m.dst_port = {one(53), range(100, 200)}; },
   [](PacketKey& k) { k.dst_port = 201; }, false},
  {"dst_port 65535 holds 65535", [](Match& m) { m.dst_port = {one(65535)}; },
   [](PacketKey& k) { k.dst_port = 65535; }, true},
  {"src_port 0-65535 never holds a non-first fragment",
   [](Match& m) { m.src_port = {range(0, 65535)}; }, non_first, false},
  {"dst_port 0-65535 never holds a non-first fragment",
   [](Match& m) { m.dst_port = {range(0, 65535)}; }, non_first, false},
  {"dst_port 0 never holds a non-first fragment (whose key port is 0)",
   [](Match& m) { m.dst_port = {one(0)}; }, non_first, false},
  {"src_port 0-65535 holds a first fragment",
   [](Match& m) { m.src_port = {range(0, 65535)}; },
   [](PacketKey& k) { k.fragment = FragmentKind::first; }, true},
  {"a rule without ports holds a non-first fragment",
   [](Match& m) { m.src = {prefix("10.0.0.0/8")}; }, non_first, true},

  // --- in_port -------------------------------------------------------------------------------
  {"in_port [1, 3] misses 0", [](Match& m) { m.in_port = {1, 3}; },
   [](PacketKey& k) { k.in_port = 0; }, false},
  {"in_port [1, 3] holds 1", [](Match& m) { m.in_port = {1, 3}; },
   [](PacketKey& k) { k.in_port = 1; }, true},
  {"in_port [1, 3] misses 2", [](Match& m) { m.in_port = {1, 3}; },
   [](PacketKey& k) { k.in_port = 2; }, false},
  {"in_port [1, 3] holds 3", [](Match& m) { m.in_port = {1, 3}; },
   [](PacketKey& k) { k.in_port = 3; }, true},
  {"in_port 0 holds 0", [](Match& m) { m.in_port = {0}; },
   [](PacketKey& k) { k.in_port = 0; }, true},
  {"in_port 0 misses 1", [](Match& m) { m.in_port = {0}; },
   [](PacketKey& k) { k.in_port = 1; }, false},

  // --- length, ttl, dscp ---------------------------------------------------------------------
  {"length 28-100 misses 27", [](Match& m) { m.length = {range(28, 100)}; },
   [](PacketKey& k) { k.l3_length = 27; }, false},
  {"length 28-100 holds 28", [](Match& m) { m.length = {range(28, 100)}; },
   [](PacketKey& k) { k.l3_length = 28; }, true},
  {"length 28-100 holds 100", [](Match& m) { m.length = {range(28, 100)}; },
   [](PacketKey& k) { k.l3_length = 100; }, true},
  {"length 28-100 misses 101", [](Match& m) { m.length = {range(28, 100)}; },
   [](PacketKey& k) { k.l3_length = 101; }, false},
  {"length 65535 holds 65535", [](Match& m) { m.length = {one(65535)}; },
   [](PacketKey& k) { k.l3_length = 65535; }, true},
  {"length 256 misses 255 (high byte differs)", [](Match& m) { m.length = {one(256)}; },
   [](PacketKey& k) { k.l3_length = 255; }, false},
  {"ttl 1-5 misses 0", [](Match& m) { m.ttl = {range(1, 5)}; },
   [](PacketKey& k) { k.ttl = 0; }, false},
  {"ttl 1-5 holds 1", [](Match& m) { m.ttl = {range(1, 5)}; },
   [](PacketKey& k) { k.ttl = 1; }, true},
  {"ttl 1-5 holds 5", [](Match& m) { m.ttl = {range(1, 5)}; },
   [](PacketKey& k) { k.ttl = 5; }, true},
  {"ttl 1-5 misses 6", [](Match& m) { m.ttl = {range(1, 5)}; },
   [](PacketKey& k) { k.ttl = 6; }, false},
  {"ttl 255 holds 255", [](Match& m) { m.ttl = {one(255)}; },
   [](PacketKey& k) { k.ttl = 255; }, true},
  {"ttl 255 misses 254", [](Match& m) { m.ttl = {one(255)}; },
   [](PacketKey& k) { k.ttl = 254; }, false},
  {"ttl 0 holds 0", [](Match& m) { m.ttl = {one(0)}; },
   [](PacketKey& k) { k.ttl = 0; }, true},
  {"dscp 46 misses 45", [](Match& m) { m.dscp = {one(46)}; },
   [](PacketKey& k) { k.dscp = 45; }, false},
  {"dscp 46 holds 46", [](Match& m) { m.dscp = {one(46)}; },
   [](PacketKey& k) { k.dscp = 46; }, true},
  {"dscp 46 misses 47", [](Match& m) { m.dscp = {one(46)}; },
   [](PacketKey& k) { k.dscp = 47; }, false},
  {"dscp 63 holds 63", [](Match& m) { m.dscp = {one(63)}; },
   [](PacketKey& k) { k.dscp = 63; }, true},
  {"dscp [0, 40-47] holds 0", [](Match& m) { m.dscp = {one(0), range(40, 47)}; },
   [](PacketKey& k) { k.dscp = 0; }, true},
  {"dscp [0, 40-47] misses 1", [](Match& m) { m.dscp = {one(0), range(40, 47)}; },
   [](PacketKey& k) { k.dscp = 1; }, false},

  // --- vlan ----------------------------------------------------------------------------------
  {"vlan 100-199 misses 99", [](Match& m) { m.vlan = {range(100, 199)}; },
   [](PacketKey& k) { tagged(k, 99); }, false},
  {"vlan 100-199 holds 100", [](Match& m) { m.vlan = {range(100, 199)}; },
   [](PacketKey& k) { tagged(k, 100); }, true},
  {"vlan 100-199 holds 199", [](Match& m) { m.vlan = {range(100, 199)}; },
   [](PacketKey& k) { tagged(k, 199); }, true},
  {"vlan 100-199 misses 200", [](Match& m) { m.vlan = {range(100, 199)}; },
   [](PacketKey& k) { tagged(k, 200); }, false},
  {"vlan 0 holds a priority tag (id 0)", [](Match& m) { m.vlan = {one(0)}; },
   [](PacketKey& k) { tagged(k, 0); }, true},
  {"vlan 0 never holds an untagged packet", [](Match& m) { m.vlan = {one(0)}; },
   [](PacketKey&) {}, false},
  {"vlan 0-4095 never holds an untagged packet", [](Match& m) { m.vlan = {range(0, 4095)}; },
   [](PacketKey&) {}, false},
  {"vlan 0-4095 holds 4095", [](Match& m) { m.vlan = {range(0, 4095)}; },
   [](PacketKey& k) { tagged(k, 4095); }, true},
  {"vlan looks at the outer tag of QinQ", [](Match& m) { m.vlan = {one(100)}; },
   [](PacketKey& k) { k.vlan_count = 2; k.outer_vlan = 100; k.inner_vlan = 5; }, true},
  {"vlan ignores the inner tag of QinQ", [](Match& m) { m.vlan = {one(100)}; },
   [](PacketKey& k) { k.vlan_count = 2; k.outer_vlan = 5; k.inner_vlan = 100; }, false},
  {"a rule without vlan holds a tagged packet", [](Match& m) { m.dst_port = {one(2000)}; },
   [](PacketKey& k) { tagged(k, 7); }, true},

  // --- fragment ------------------------------------------------------------------------------
  {"fragment first holds a first fragment", [](Match& m) { m.fragment = FragmentKind::first; },
   [](PacketKey& k) { k.fragment = FragmentKind::first; }, true},
  {"fragment first misses an unfragmented packet",
   [](Match& m) { m.fragment = FragmentKind::first; }, [](PacketKey&) {}, false},
  {"fragment first misses a non-first fragment",
   [](Match& m) { m.fragment = FragmentKind::first; }, non_first, false},
  {"fragment none holds an unfragmented packet",
   [](Match& m) { m.fragment = FragmentKind::none; }, [](PacketKey&) {}, true},
  {"fragment none misses a first fragment", [](Match& m) { m.fragment = FragmentKind::none; },
   [](PacketKey& k) { k.fragment = FragmentKind::first; }, false},
  {"fragment none misses a non-first fragment",
   [](Match& m) { m.fragment = FragmentKind::none; }, non_first, false},
  {"fragment non_first holds a non-first fragment",
   [](Match& m) { m.fragment = FragmentKind::non_first; }, non_first, true},
  {"fragment non_first misses an unfragmented packet",
   [](Match& m) { m.fragment = FragmentKind::non_first; }, [](PacketKey&) {}, false},
  {"fragment non_first misses a first fragment",
   [](Match& m) { m.fragment = FragmentKind::non_first; },
   [](PacketKey& k) { k.fragment = FragmentKind::first; }, false},

  // --- payload (packet byte i is i) ----------------------------------------------------------
  {"payload at offset 0 holds a matching first byte",
   [](Match& m) { m.payload = payload(0, {0x00}); }, [](PacketKey&) {}, true},
  {"payload at offset 0 misses a different first byte",
   [](Match& m) { m.payload = payload(0, {0x01}); }, [](PacketKey&) {}, false},
  {"payload holds when payload_length ends exactly at its last byte",
   [](Match& m) { m.payload = payload(2, {0x02, 0x03}); },
   [](PacketKey& k) { k.payload_length = 4; }, true},
  {"payload beyond payload_length never matches (the bytes are in the buffer)",
   [](Match& m) { m.payload = payload(2, {0x02, 0x03}); },
   [](PacketKey& k) { k.payload_length = 3; }, false},
  {"payload never matches an empty payload",
   [](Match& m) { m.payload = payload(0, {0x00}); },
   [](PacketKey& k) { k.payload_length = 0; }, false},
  {"payload compares only the masked bits (hit)",
   [](Match& m) { m.payload = payload(5, {0x00}, {0xf0}); }, [](PacketKey&) {}, true},
  {"payload compares only the masked bits (miss)",
   [](Match& m) { m.payload = payload(5, {0x10}, {0xf0}); }, [](PacketKey&) {}, false},
  {"payload with a zero mask byte ignores that byte",
   [](Match& m) { m.payload = payload(6, {0x00, 0x07}, {0x00, 0xff}); }, [](PacketKey&) {},
   true},
  {"payload across a partly present window holds",
   [](Match& m) { m.payload = payload(30, {0x1e, 0x1f, 0x20, 0x21}); },
   [](PacketKey& k) { k.payload_length = 34; }, true},
  {"payload across a partly present window misses one byte short",
   [](Match& m) { m.payload = payload(30, {0x1e, 0x1f, 0x20, 0x21}); },
   [](PacketKey& k) { k.payload_length = 33; }, false},
  {"16 payload bytes at offset 64 hold", [](Match& m) { m.payload = payload(64, payload_bytes(64, 16)); },
   [](PacketKey& k) { k.payload_length = 80; }, true},
  {"16 payload bytes at offset 64 miss one byte short",
   [](Match& m) { m.payload = payload(64, payload_bytes(64, 16)); },
   [](PacketKey& k) { k.payload_length = 79; }, false},
  {"16 payload bytes at offset 64 miss on the last byte",
   [](Match& m) {
     std::vector<uint8_t> value = payload_bytes(64, 16);
     value.back() = 0x00;
     m.payload = payload(64, value);
   },
   [](PacketKey& k) { k.payload_length = 80; }, false},
  {"payload never matches a non-first fragment",
   [](Match& m) { m.payload = payload(0, {0x00}, {0x00}); }, non_first, false},
  {"payload matches an IPv6 packet too",
   [](Match& m) { m.payload = payload(1, {0x01}); },
   [](PacketKey& k) { v6(k, "2001:db8::1"); }, true},

  // --- no fields -----------------------------------------------------------------------------
  {"an empty match holds IPv4", [](Match&) {}, [](PacketKey&) {}, true},
  {"an empty match holds IPv6", [](Match&) {}, [](PacketKey& k) { v6(k, "::1"); }, true},
  {"an empty match holds a non-first fragment", [](Match&) {}, non_first, true},
};
// clang-format on

class FieldSemantics : public testing::TestWithParam<FieldCase> {};

TEST_P(FieldSemantics, ClassifierAndReferenceAgreeWithTheTable) {
  const FieldCase& c = GetParam();
  SCOPED_TRACE(c.description);
  Rule rule;
  rule.id = "case";
  c.rule(rule.match);
  PacketKey packet = base_packet();
  c.packet(packet);

  EXPECT_EQ(rules::rule_matches(rule, packet), c.matches) << "reference matcher";
  const AclClassifier classifier({rule}, 0, test::unique_name("field"));
  EXPECT_EQ(classify_one(classifier, packet), c.matches ? 1U : 0U) << "rte_acl classifier";
}

INSTANTIATE_TEST_SUITE_P(Cases, FieldSemantics, testing::ValuesIn(kFieldCases),
                         [](const testing::TestParamInfo<FieldCase>& param_info) {
                           std::string name;
                           for (const char* c = param_info.param.description; *c != '\0'; ++c) {
                             const bool alnum = (*c >= 'a' && *c <= 'z') ||
                                                (*c >= 'A' && *c <= 'Z') ||
                                                (*c >= '0' && *c <= '9');
                             if (alnum)
                               name += *c;
                             else if (!name.empty() && name.back() != '_')
                               name += '_';
                           }
                           return std::to_string(param_info.index) + "_" + name;
                         });

Rule rule_with(const std::string& id, void (*fill)(Match&)) {
  Rule rule;
  rule.id = id;
  fill(rule.match);
  return rule;
}

/// Classifies `packets` in one call (as a worker's burst) and one by one; both must agree.
std::vector<uint32_t> classify_all(const AclClassifier& classifier,
                                   const std::vector<PacketKey>& packets, Family family) {
  std::vector<AclKey> keys(packets.size());
  std::vector<const uint8_t*> pointers;
  std::vector<const PacketKey*> packet_pointers;
  for (std::size_t i = 0; i < packets.size(); ++i) {
    test::worker_key(classifier.reads_key_fields(family), classifier.window_offsets(), packets[i],
                     keys[i]);
    pointers.push_back(reinterpret_cast<const uint8_t*>(&keys[i]));
    packet_pointers.push_back(&packets[i]);
  }
  std::vector<uint32_t> results(packets.size(), 0xdeadbeef);
  classifier.classify(family, packet_pointers.data(), pointers.data(), results.data(),
                      static_cast<uint32_t>(packets.size()));
  for (std::size_t i = 0; i < packets.size(); ++i) {
    EXPECT_EQ(classify_one(classifier, packets[i]), results[i]) << "packet " << i;
  }
  return results;
}

TEST(AclClassifier, FirstMatchInFileOrderWins) {
  const std::vector<Rule> narrow_first = {
      rule_with("narrow", [](Match& m) { m.src = {prefix("10.1.0.0/16")}; }),
      rule_with("wide", [](Match& m) { m.src = {prefix("10.0.0.0/8")}; }),
      rule_with("any", [](Match&) {}),
  };
  const AclClassifier classifier(narrow_first, 0, test::unique_name("prio"));
  EXPECT_EQ(classify_one(classifier, test::udp_key("10.1.2.3", "192.0.2.1")), 1U);
  EXPECT_EQ(classify_one(classifier, test::udp_key("10.2.0.1", "192.0.2.1")), 2U);
  EXPECT_EQ(classify_one(classifier, test::udp_key("11.0.0.1", "192.0.2.1")), 3U);
  EXPECT_EQ(classify_one(classifier, test::udp_key("2001:db8::1", "2001:db8::2")), 3U);

  // The wide rule first shadows the narrow one entirely.
  const std::vector<Rule> wide_first = {narrow_first[1], narrow_first[0], narrow_first[2]};
  const AclClassifier reversed(wide_first, 0, test::unique_name("prio"));
  EXPECT_EQ(classify_one(reversed, test::udp_key("10.1.2.3", "192.0.2.1")), 1U);
  EXPECT_EQ(classify_one(reversed, test::udp_key("10.2.0.1", "192.0.2.1")), 1U);
}

TEST(AclClassifier, FirstMatchAcrossFamilies) {
  const std::vector<Rule> rules = {
      rule_with("v6-dns",
                [](Match& m) {
                  m.src = {prefix("2001:db8::/32")};
                  m.dst_port = {one(53)};
                }),
      rule_with("both",
                [](Match& m) {
                  m.src = {prefix("10.0.0.0/8"), prefix("2001:db8::/32")};
                }),
      rule_with("any-dns", [](Match& m) { m.dst_port = {one(53)}; }),
  };
  const AclClassifier classifier(rules, 0, test::unique_name("fam"));
  struct Expect {
    PacketKey packet;
    uint32_t result;
  };
  const std::vector<Expect> v4 = {
      {test::udp_key("10.0.0.1", "192.0.2.1", 1, 53), 2},
      {test::udp_key("11.0.0.1", "192.0.2.1", 1, 53), 3},
      {test::udp_key("11.0.0.1", "192.0.2.1", 1, 54), 0},
  };
  const std::vector<Expect> v6 = {
      {test::udp_key("2001:db8::1", "2001:db8::2", 1, 53), 1},
      {test::udp_key("2001:db8::1", "2001:db8::2", 1, 54), 2},
      {test::udp_key("2001:db9::1", "2001:db8::2", 1, 53), 3},
      {test::udp_key("2001:db9::1", "2001:db8::2", 1, 54), 0},
  };
  for (const auto& [family, cases] : {std::pair{Family::ipv4, v4}, std::pair{Family::ipv6, v6}}) {
    std::vector<PacketKey> packets;
    for (const Expect& e : cases) {
      packets.push_back(e.packet);
      const int32_t reference = rules::reference_match(rules, e.packet);
      EXPECT_EQ(static_cast<uint32_t>(reference + 1), e.result)
          << "reference, case " << packets.size();
    }
    const std::vector<uint32_t> results = classify_all(classifier, packets, family);
    for (std::size_t i = 0; i < cases.size(); ++i)
      EXPECT_EQ(results[i], cases[i].result) << i;
  }
}

TEST(AclClassifier, WholeBurstAgreesWithSinglePackets) {
  const std::vector<Rule> rules = {
      rule_with("a", [](Match& m) { m.dst_port = {range(100, 199)}; }),
      rule_with("b", [](Match& m) { m.ttl = {range(0, 9)}; }),
      rule_with("c", [](Match& m) { m.src = {prefix("10.0.0.0/30")}; }),
  };
  const AclClassifier classifier(rules, 0, test::unique_name("burst"));
  std::vector<PacketKey> packets;
  std::vector<uint32_t> expected;
  for (uint16_t i = 0; i < 67; ++i) {  // more than two AVX2 / AVX-512 batches, and odd
    PacketKey p = test::udp_key("10.0.0." + std::to_string(i % 8), "192.0.2.1", 1,
                                static_cast<uint16_t>(90 + i * 3));
    p.ttl = static_cast<uint8_t>(i % 20);
    packets.push_back(p);
    expected.push_back(static_cast<uint32_t>(rules::reference_match(rules, p) + 1));
  }
  EXPECT_EQ(classify_all(classifier, packets, Family::ipv4), expected);
}

TEST(AclClassifier, EmptyRuleSetMatchesNothing) {
  const AclClassifier classifier({}, 0, test::unique_name("empty"));
  EXPECT_EQ(classifier.info().entries_v4, 0U);
  EXPECT_EQ(classifier.info().entries_v6, 0U);
  EXPECT_EQ(classifier.info().algorithm, "none (no rules)");
  EXPECT_TRUE(classifier.window_offsets().empty());
  EXPECT_EQ(classify_one(classifier, test::udp_key("10.0.0.1", "10.0.0.2")), 0U);
  EXPECT_EQ(classify_one(classifier, test::udp_key("::1", "::2")), 0U);
}

TEST(AclClassifier, FamilyWithoutRulesReturnsZero) {
  const std::vector<Rule> rules = {
      rule_with("v4-only", [](Match& m) { m.src = {prefix("0.0.0.0/0")}; }),
  };
  const AclClassifier classifier(rules, 0, test::unique_name("nov6"));
  EXPECT_EQ(classifier.info().entries_v4, 1U);
  EXPECT_EQ(classifier.info().entries_v6, 0U);
  EXPECT_EQ(classify_one(classifier, test::udp_key("10.0.0.1", "10.0.0.2")), 1U);

  // classify() must overwrite every result even though the family has no context.
  const PacketKey packet = test::udp_key("::1", "::2");
  std::vector<AclKey> keys(5);
  std::vector<const uint8_t*> pointers;
  std::vector<const PacketKey*> packet_pointers(keys.size(), &packet);
  for (AclKey& key : keys) {
    AclClassifier::fill_key(packet, key);
    pointers.push_back(reinterpret_cast<const uint8_t*>(&key));
  }
  std::vector<uint32_t> results(keys.size(), 0xdeadbeef);
  classifier.classify(Family::ipv6, packet_pointers.data(), pointers.data(), results.data(),
                      static_cast<uint32_t>(keys.size()));
  EXPECT_EQ(results, std::vector<uint32_t>(keys.size(), 0U));
}

TEST(AclClassifier, ListsExpandIntoOneEntryPerCombination) {
  const std::vector<Rule> rules = {
      rule_with("lists",
                [](Match& m) {
                  m.src = {prefix("10.0.0.0/8"), prefix("192.168.0.0/16"), prefix("2001:db8::/32")};
                  m.dst_port = {one(53), one(123), range(1000, 2000)};
                }),
      rule_with("lists-and-ports",
                [](Match& m) {
                  m.src = {prefix("172.16.0.0/12")};
                  m.dst_port = {one(1), one(2)};
                  m.in_port = {0, 1};
                }),
      rule_with("plain", [](Match& m) { m.ttl = {one(1)}; }),
  };
  const AclClassifier classifier(rules, 0, test::unique_name("expand"));
  // v4: 2 prefixes x 3 ports + 1 x 2 x 2 in_ports + 1; v6: 1 x 3 + 0 + 1.
  EXPECT_EQ(classifier.info().entries_v4, 2U * 3 + 4 + 1);
  EXPECT_EQ(classifier.info().entries_v6, 3U + 1);
  std::size_t v4 = 0;
  std::size_t v6 = 0;
  for (const Rule& rule : rules) {
    v4 += classifier_entries(rule, Family::ipv4);
    v6 += classifier_entries(rule, Family::ipv6);
  }
  EXPECT_EQ(classifier.info().entries_v4, v4);
  EXPECT_EQ(classifier.info().entries_v6, v6);

  EXPECT_EQ(classify_one(classifier, test::udp_key("192.168.1.1", "10.0.0.1", 7, 1500)), 1U);
  EXPECT_EQ(classify_one(classifier, test::udp_key("2001:db8::7", "::1", 7, 123)), 1U);
  PacketKey second = test::udp_key("172.16.0.1", "10.0.0.1", 7, 2);
  second.in_port = 1;
  EXPECT_EQ(classify_one(classifier, second), 2U);
  second.in_port = 2;
  EXPECT_EQ(classify_one(classifier, second), 0U);
}

TEST(AclClassifier, PayloadWindowsFollowFirstUse) {
  std::vector<Rule> rules;
  for (const uint16_t offset : std::array<uint16_t, 4>{8, 0, 8, 3}) {
    Rule rule;
    rule.id = "p" + std::to_string(rules.size());
    rule.match.payload = payload(offset, {static_cast<uint8_t>(offset)});
    rules.push_back(rule);
  }
  const AclClassifier classifier(rules, 0, test::unique_name("win"));
  EXPECT_EQ(classifier.window_offsets(), (std::vector<uint16_t>{8, 0, 3}));
  PacketKey packet = base_packet();
  EXPECT_EQ(classify_one(classifier, packet), 1U);  // byte 8 is 8
  packet.payload_length = 8;                        // byte 8 is gone; byte 0 is 0
  EXPECT_EQ(classify_one(classifier, packet), 2U);
}

TEST(AclClassifier, ReportsItsAlgorithm) {
  const AclClassifier classifier({rule_with("r", [](Match& m) { m.ttl = {range(1, 9)}; })}, 0,
                                 test::unique_name("alg"));
  const std::string algorithm = classifier.info().algorithm;
  EXPECT_TRUE(algorithm == "scalar" || algorithm == "sse" || algorithm == "avx2" ||
              algorithm == "avx512x16" || algorithm == "avx512x32")
      << algorithm;
  EXPECT_EQ(classifier.info().contexts_v4, 1U);
  EXPECT_EQ(classifier.info().contexts_v6, 1U);
  EXPECT_EQ(classifier.info().exact_v4, 0U);
  // Address and port rules alone are hashed: no rte_acl context at all.
  const AclClassifier hashed({rule_with("r", [](Match& m) { m.dst_port = {one(53)}; })}, 0,
                             test::unique_name("alg"));
  EXPECT_EQ(hashed.info().algorithm, "exact");
  EXPECT_EQ(hashed.info().contexts_v4, 1U);
  EXPECT_EQ(hashed.info().exact_v4, 1U);
  EXPECT_EQ(hashed.info().exact_v6, 1U);
}

// A large list of one address's prefixes beside a few rules rte_acl would merge it with gets a
// lookup of its own: hashed when its prefixes have few lengths, a prefix lookup when many; a
// small one stays rte_acl's. First match holds across the lookups.
TEST(AclClassifier, LargeOneAddressListsGetALookupOfTheirOwn) {
  const auto build = [](std::size_t count, bool many_lengths) {
    std::vector<Rule> rules;
    rules.push_back(rule_with("ttl-first", [](Match& m) {
      m.src = {prefix("10.0.0.0/8")};
      m.ttl = {range(1, 5)};
    }));
    for (std::size_t i = 0; i < count; ++i) {
      const std::string host =
          "10." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + ".0";
      const unsigned length = many_lengths ? 24 + static_cast<unsigned>(i % 9) : 24;
      Rule rule;
      rule.id = "list" + std::to_string(i);
      rule.match.src = {prefix(host + "/" + std::to_string(length))};
      if (i % 2 == 0) rule.match.dst_port = {one(53)};
      rules.push_back(rule);
    }
    rules.push_back(rule_with("ttl-last", [](Match& m) {
      m.src = {prefix("10.0.0.0/8")};
      m.ttl = {range(60, 70)};
    }));
    return rules;
  };
  struct Case {
    std::size_t count;
    bool many_lengths;
    std::size_t exact, by_prefix;
  };
  for (const Case& c : {Case{3000, false, 1, 0}, Case{3000, true, 0, 1}, Case{500, true, 0, 0}}) {
    SCOPED_TRACE(std::to_string(c.count) + (c.many_lengths ? " rules of 9 lengths" : " /24s"));
    const std::vector<Rule> rules = build(c.count, c.many_lengths);
    const AclClassifier classifier(rules, 0, test::unique_name("list"));
    EXPECT_EQ(classifier.info().exact_v4, c.exact);
    EXPECT_EQ(classifier.info().prefix_v4, c.by_prefix);
    EXPECT_GE(classifier.info().contexts_v4, c.exact + c.by_prefix + 1) << "the TTL rules'";
    std::vector<PacketKey> packets;
    for (std::size_t i = 0; i < 400; ++i) {
      // Half in the list's hosts (a rule's /24, at .0, .100 or .200), half beyond it.
      const std::size_t host = i % 2 == 0 ? i * 7 % c.count : 60000 + i;
      const std::string src = "10." + std::to_string(host / 256 % 256) + "." +
                              std::to_string(host % 256) + "." + std::to_string(i % 3 * 100);
      PacketKey p = test::udp_key(src, "192.0.2.1", 1000, i % 3 == 0 ? 53 : 54);
      p.ttl = static_cast<uint8_t>(i % 4 == 0 ? 3 : i % 4 == 1 ? 64 : 100);
      packets.push_back(p);
    }
    const std::vector<uint32_t> results = classify_all(classifier, packets, Family::ipv4);
    std::set<uint32_t> seen;
    for (std::size_t i = 0; i < packets.size(); ++i) {
      const int32_t reference = rules::reference_match(rules, packets[i]);
      EXPECT_EQ(results[i], static_cast<uint32_t>(reference + 1)) << "packet " << i;
      seen.insert(results[i]);
    }
    EXPECT_TRUE(seen.contains(1U)) << "the first TTL rule, ahead of the list";
    EXPECT_TRUE(seen.contains(static_cast<uint32_t>(rules.size()))) << "the last, behind it";
    EXPECT_GT(seen.size(), 20U) << "many rules of the list";
  }
}

// Hashed and rte_acl contexts side by side: the lowest rule index of either wins, whichever
// kind of context holds it.
TEST(AclClassifier, ExactAndAclContextsTakeTurnsAtTheFirstMatch) {
  std::vector<Rule> rules = {
      rule_with("acl-ttl",
                [](Match& m) {
                  m.src = {prefix("10.0.0.0/8")};
                  m.ttl = {range(1, 5)};
                }),
      rule_with("exact-dns",
                [](Match& m) {
                  m.src = {prefix("10.1.0.0/16"), prefix("2001:db8::/32")};
                  m.dst_port = {one(53), range(5353, 5354)};
                }),
      rule_with("acl-length",
                [](Match& m) {
                  m.dst = {prefix("192.0.2.0/24")};
                  m.length = {range(100, 200)};
                }),
      rule_with("exact-dst", [](Match& m) { m.dst = {prefix("192.0.2.0/25")}; }),
      rule_with("acl-frag", [](Match& m) { m.fragment = rules::FragmentKind::non_first; }),
      rule_with("exact-ports", [](Match& m) { m.dst_port = {range(0, 65535)}; }),
  };
  // In front, groups rte_acl could not merge (each would be copied under every value of the
  // other): 300 source hosts, 300 destination ports, 300 exact lengths. Hashing the first two
  // together leaves fewer lookups, so they get a lookup of their own.
  std::vector<Rule> front;
  for (int i = 0; i < 300; ++i) {
    Rule host;
    host.id = "host" + std::to_string(i);
    host.match.src = {prefix("172.16." + std::to_string(i / 256) + "." + std::to_string(i % 256))};
    host.match.dst_port = {one(53)};
    front.push_back(host);
    Rule port;
    port.id = "port" + std::to_string(i);
    port.match.dst_port = {one(static_cast<uint16_t>(10000 + i))};
    front.push_back(port);
    Rule length;
    length.id = "length" + std::to_string(i);
    length.match.length = {one(static_cast<uint16_t>(1000 + i))};
    front.push_back(length);
  }
  rules.insert(rules.begin(), front.begin(), front.end());
  const AclClassifier classifier(rules, 0, test::unique_name("mixed"));
  EXPECT_GE(classifier.info().exact_v4, 1U);
  EXPECT_GT(classifier.info().contexts_v4, classifier.info().exact_v4) << "and rte_acl ones";
  std::vector<PacketKey> v4;
  std::vector<PacketKey> v6;
  for (const char* src :
       {"10.1.2.3", "10.2.0.1", "11.0.0.1", "172.16.0.5", "2001:db8::1", "2001:db9::1"}) {
    for (const char* dst : {"192.0.2.1", "192.0.2.200", "198.51.100.1", "2001:db8::2"}) {
      for (const int port : {53, 54, 5353, 5354, 5355, 10005}) {
        for (const int ttl : {3, 64}) {
          for (const int length : {60, 150, 1005}) {
            for (const bool fragment : {false, true}) {
              if ((std::string(src).find(':') == std::string::npos) !=
                  (std::string(dst).find(':') == std::string::npos))
                continue;  // one family per packet
              PacketKey p = test::udp_key(src, dst, 1000, static_cast<uint16_t>(port));
              p.ttl = static_cast<uint8_t>(ttl);
              p.l3_length = static_cast<uint16_t>(length);
              if (fragment) {
                p.fragment = rules::FragmentKind::non_first;
                p.has_ports = false;
                p.src_port = 0;
                p.dst_port = 0;
              }
              (p.family == Family::ipv4 ? v4 : v6).push_back(p);
            }
          }
        }
      }
    }
  }
  std::size_t hits = 0;
  for (const auto& [family, packets] : {std::pair{Family::ipv4, v4}, std::pair{Family::ipv6, v6}}) {
    const std::vector<uint32_t> results = classify_all(classifier, packets, family);
    for (std::size_t i = 0; i < packets.size(); ++i) {
      const int32_t reference = rules::reference_match(rules, packets[i]);
      EXPECT_EQ(results[i], static_cast<uint32_t>(reference + 1))
          << "packet " << i << " of family " << static_cast<int>(family);
      if (reference >= 0 && reference + 1 != static_cast<int32_t>(rules.size())) ++hits;
    }
  }
  EXPECT_GT(hits, 100U) << "the rules before the catch-all match often";
}

// A random 27-rule file pinning nearly every combination of fields. Merged into one rte_acl
// trie such rules multiply each other's nodes until the build gives up ("Exceeded max number
// of tries: 8", -ENOMEM). The classifier plans contexts so that only groups cheap to combine
// share one: this file then compiles, quickly, within the lookup limit.
TEST(AclClassifierLimits, RuleFileAcceptedByCheckRuleLimitsCompiles) {
  const char* const kRules = R"yaml(
rules:
  - id: r12
    match: {dst_port: [25306-28023], payload: {offset: 24, value: "eed0d2ff92817c4100938cab8940f3ea", mask: "ffffffffffffffff00fffffffffff3ff"}}
    action: {rate_limit: {pps: 360843, burst: 807}}
  - id: r15
    match: {dscp: [9-23], vlan: [2287-3504], payload: {offset: 57, value: "302c002384f018", mask: "38ed00ffffffb8"}}
    action: forward
  - id: r23
    match: {dst_port: [3133-26328], payload: {offset: 32, value: "00eee200bfea882a110143", mask: "00ffff00ffffffffff6b53"}}
    action: {rate_limit: {pps: 379094, burst: 998}}
  - id: r24
    match: {src_port: [55866, 123], length: [37657]}
    action: {forward: p2}
  - id: r26
    match: {dst: [145.29.128.0/20]}
    action: forward
  - id: r30
    match: {src_port: [53-13625, 38654-38682], vlan: [3520, 3520-4095, 427-3504], payload: {offset: 32, value: "4e1cbb7400201dc518125016", mask: "ff5eff7600ffffffffffffff"}}
    action: forward
  - id: r34
    match: {in_port: [p1], fragment: first}
    action: {rate_limit: {pps: 46896, burst: 946}}
  - id: r39
    match: {length: [54588-54621], dscp: [4-23]}
    action: drop
  - id: r41
    match: {length: [937-1261]}
    action: {forward: p2}
  - id: r51
    match: {dscp: [3-63], payload: {offset: 24, value: "fe48b4f8a663", mask: "ff6affffffff"}}
    action: forward
  - id: r52
    match: {payload: {offset: 57, value: "4d0c0a8c22b50c007a18", mask: "ff0cffac32ffff00fe1c"}}
    action: {rate_limit: {pps: 86729, burst: 338}}
  - id: r59
    match: {src_port: [1023-1024], length: [49918-49971]}
    action: forward
  - id: r61
    match: {src_port: [1024-1029, 33027-33041, 64546], dscp: [28-57, 28, 4-63]}
    action: drop
  - id: r68
    match: {dscp: [9-14], fragment: none}
    action: {forward: p2}
  - id: r69
    match: {dst_port: [1023-34543], in_port: [p0], payload: {offset: 57, value: "efc6192b", mask: "ffffffff"}}
    action: drop
  - id: r76
    action: forward
  - id: r79
    match: {dst_port: [39371], in_port: [p2], dscp: [17-22]}
    action: drop
  - id: r80
    match: {dst: [70.245.189.96/27], src_port: [123-13625]}
    action: {forward: p2}
  - id: r87
    match: {src_port: [1023], vlan: [3347]}
    action: {forward: p1}
  - id: r89
    match: {dscp: [28], payload: {offset: 24, value: "7e47f991c496eb47bc347b51", mask: "ffffffffffffffffffffff55"}}
    action: {forward: p2}
  - id: r91
    match: {src_port: [39672], dscp: [24-63]}
    action: forward
  - id: r92
    match: {src_port: [28833], dst_port: [42137], dscp: [19-25], vlan: [3745]}
    action: forward
  - id: r93
    match: {in_port: [p0], length: [31041, 1806, 21376]}
    action: forward
  - id: r94
    match: {dst: [187.127.85.214/32], length: [490, 2248-38770], dscp: [19-63, 23-28], fragment: first}
    action: forward
  - id: r95
    match: {src_port: [34988, 0], dscp: [2-22], fragment: first}
    action: {forward: p3}
  - id: r96
    match: {dst: [69.209.176.0/20, 11.247.128.0/18], dst_port: [33027], dscp: [3-29], vlan: [2578-2583, 2173-3520, 606-652], payload: {offset: 24, value: "5e800a1479d10046109fc0be4a18", mask: "ffa2ff14ffffffff1dfffffffa38"}}
    action: drop
  - id: r97
    match: {dscp: [0-28, 20, 63]}
    action: forward
)yaml";
  rules::RuleCollector collector({"p0", "p1", "p2", "p3"});
  collector.add_document(YamlNode::load_string(kRules, "limits.yaml"));
  const std::vector<Rule> rules = collector.take().to_vector();
  ASSERT_EQ(rules.size(), 27U);
  ASSERT_NO_THROW(check_rule_limits(rules, 1));
  try {
    const AclClassifier classifier(rules, 0, test::unique_name("limits"));
    EXPECT_EQ(classifier.info().entries_v4, 54U);
    EXPECT_LE(classifier.info().contexts_v4, kMaxSignatures);
    EXPECT_EQ(classifier.info().contexts_v4, plan_contexts(rules, Family::ipv4).size());
    EXPECT_LT(classifier.info().build_time, std::chrono::seconds(5));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "a rule set check_rule_limits() accepts failed to compile: " << e.what();
  }
}

// Nine big groups, each pinning one field with thousands of distinct values: any two merged
// would copy each group under every value of the other, so each needs a lookup of its own,
// and the ninth is refused with the rule and the combinations in use.
TEST(AclClassifierLimits, GroupsTooCostlyToMergeAreRefusedBeyondTheLookupLimit) {
  std::vector<Rule> rules;
  auto add = [&](const std::string& stem, int count, const std::function<void(Match&, int)>& pin) {
    for (int i = 0; i < count; ++i) {
      Rule rule;
      rule.id = stem + std::to_string(i);
      rule.where = SourceLocation{"many.yaml", static_cast<int>(rules.size()) + 2, 5};
      pin(rule.match, i);
      rule.action.kind = rules::ActionKind::drop;
      rules.push_back(rule);
    }
  };
  auto host = [](int i) {
    return prefix("10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".1/32");
  };
  add("s", 3000, [&](Match& m, int i) { m.src = {host(i)}; });
  add("d", 3000, [&](Match& m, int i) { m.dst = {host(i)}; });
  add("sp", 3000, [](Match& m, int i) { m.src_port = {one(static_cast<uint16_t>(1000 + i))}; });
  add("dp", 3000, [](Match& m, int i) { m.dst_port = {one(static_cast<uint16_t>(1000 + i))}; });
  add("l", 3000, [](Match& m, int i) { m.length = {one(static_cast<uint16_t>(100 + i))}; });
  add("v", 3000, [](Match& m, int i) { m.vlan = {one(static_cast<uint16_t>(i + 1))}; });
  add("t", 200, [](Match& m, int i) { m.ttl = {one(static_cast<uint16_t>(i))}; });
  auto payload_at = [](uint16_t offset, int i) {
    rules::PayloadMatch payload;
    payload.offset = offset;
    payload.value = {static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    payload.mask = {0xff, 0xff};
    return payload;
  };
  add("q", 3000, [&](Match& m, int i) { m.payload = payload_at(16, i); });
  ASSERT_NO_THROW(check_rule_limits(rules, 1));  // eight lookups: the limit
  EXPECT_EQ(plan_contexts(rules, Family::ipv4).size(), kMaxSignatures);
  add("p", 3000, [&](Match& m, int i) { m.payload = payload_at(0, i); });
  try {
    check_rule_limits(rules, 1);
    ADD_FAILURE() << "a ninth lookup must be refused";
  } catch (const ConfigError& e) {
    // Planning places the biggest groups first, so the smallest one is left over.
    EXPECT_EQ(std::string(e.what()),
              "many.yaml:18002:5: rule t0: it matches on ttl, a combination of match fields that "
              "would need a 9th classifier lookup per IPv4 packet (at most 8 are allowed; the "
              "lookups in use match on: src; dst; src_port; dst_port; length; vlan; payload@16; "
              "payload@0); give rules the same set of fields");
  }
}

}  // namespace
}  // namespace udpsieve::dataplane
