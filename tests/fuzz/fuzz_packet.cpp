// libFuzzer target: the packet parser and the classifier key builder.
//
// The input is one Ethernet frame. Bytes the parser never looks at steer the run, so the
// fuzzer can vary them independently of the headers: the destination and source MAC.
//   bytes 0-7   four payload window offsets (big-endian 16-bit, each mod 1501)
//   byte 8      how many of them the rule set uses (mod 5)
//   byte 9      where the short parse cuts `available`: size * byte / 256
//   byte 10     the input port
// (missing bytes count as zero). Each frame is parsed three times, the worker's ways: all
// bytes available (a single-segment mbuf), the first 512 (a multi-segment mbuf's linear copy),
// and a cut chosen by byte 9. Every parse reads from a heap copy of exactly `available` bytes,
// so ASan reports any read past what the parser was given. The parser's documented promises
// are checked with __builtin_trap; UDP results then fill an AclKey and its payload windows,
// reading only payload bytes inside `available`.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "udpsieve/dataplane/acl_key.hpp"
#include "udpsieve/dataplane/packet_parser.hpp"

namespace {

using udpsieve::dataplane::AclKey;
using udpsieve::dataplane::kAclFlagHasPorts;
using udpsieve::dataplane::kAclFlagTagged;
using udpsieve::dataplane::kMaxHeaderBytes;
using udpsieve::dataplane::kMaxPayloadWindows;
using udpsieve::dataplane::kMaxVlanTags;
using udpsieve::dataplane::PacketInfo;
using udpsieve::dataplane::ParseError;
using udpsieve::dataplane::ParseStatus;
using udpsieve::rules::Family;
using udpsieve::rules::FragmentKind;
using udpsieve::rules::PacketKey;

constexpr uint32_t kMaxWindowOffset = 1500;  // the rule format's payload offset limit

void check(bool condition) {
  if (!condition) __builtin_trap();
}

uint8_t byte_at(const uint8_t* data, size_t size, size_t index) {
  return index < size ? data[index] : 0;
}

// The promises of packet_parser.hpp and packet_key.hpp for one parse of `data`, which holds
// `available` of the frame's `frame_length` bytes.
void check_invariants(const uint8_t* data, uint32_t available, uint32_t frame_length,
                      ParseStatus status, const PacketInfo& info) {
  const PacketKey& key = info.key;
  check(status == info.status);
  check((status == ParseStatus::malformed) == (info.error != ParseError::none));
  if (status == ParseStatus::malformed) return;  // only status and error are meaningful

  check(key.vlan_count <= kMaxVlanTags);
  check(key.outer_vlan <= 0x0fff && key.inner_vlan <= 0x0fff);
  if (key.vlan_count < 2) check(key.inner_vlan == 0);
  if (key.vlan_count < 1) check(key.outer_vlan == 0);
  check(key.dscp <= 63);

  if (key.family != Family::none) {
    // The IP packet lies inside the frame (padding after it is ignored).
    check(key.family == Family::ipv4 || key.family == Family::ipv6);
    const uint32_t min_header = key.family == Family::ipv4 ? 20 : 40;
    check(key.l3_length >= min_header);
    check(uint32_t{info.l3_offset} + key.l3_length <= frame_length);
    check(uint32_t{info.l3_offset} + min_header <= available);
  } else {
    check(key.fragment == FragmentKind::none);
  }

  if (status == ParseStatus::udp) {
    check(key.family != Family::none);
    check(info.l4_protocol == 17);
    // Non-first fragments carry no UDP header; everything else that is UDP has one.
    check(key.has_ports == (key.fragment != FragmentKind::non_first));
  } else {
    check(!key.has_ports);
  }

  if (!key.has_ports) {
    check(info.l4_offset == 0 && info.udp_length == 0);
    check(key.payload == nullptr && key.payload_length == 0);
    check(key.src_port == 0 && key.dst_port == 0);
    return;
  }
  // The UDP header lies within `available` and inside the IP packet.
  const uint32_t l4 = info.l4_offset;
  const uint32_t ip_end = uint32_t{info.l3_offset} + key.l3_length;
  check(l4 >= uint32_t{info.l3_offset} + (key.family == Family::ipv4 ? 20 : 40));
  check(l4 + 8 <= available);
  check(l4 + 8 <= ip_end);
  check(info.udp_length >= 8);
  // The payload starts right after the header and its counted bytes lie inside the IP packet.
  check(key.payload == data + l4 + 8);
  check(l4 + 8 + key.payload_length <= ip_end);
  const uint32_t datagram_in_packet = std::min<uint32_t>(info.udp_length, ip_end - l4);
  check(key.payload_length == datagram_in_packet - 8);
  if (key.fragment == FragmentKind::none) check(key.payload_length == info.udp_length - 8u);
}

// Two parses of one frame: when the one with fewer bytes succeeded, every header it read lies
// inside the other's bytes too, so the outcome must be the same.
void check_same_outcome(const PacketInfo& fewer, const uint8_t* fewer_data, const PacketInfo& more,
                        const uint8_t* more_data) {
  if (fewer.status == ParseStatus::malformed) return;
  check(more.status == fewer.status);
  check(more.l4_protocol == fewer.l4_protocol && more.ether_type == fewer.ether_type);
  check(more.l3_offset == fewer.l3_offset && more.l4_offset == fewer.l4_offset);
  check(more.udp_length == fewer.udp_length);
  const PacketKey& a = fewer.key;
  const PacketKey& b = more.key;
  check(a.src == b.src && a.dst == b.dst && a.src_port == b.src_port && a.dst_port == b.dst_port &&
        a.l3_length == b.l3_length && a.outer_vlan == b.outer_vlan &&
        a.inner_vlan == b.inner_vlan && a.family == b.family && a.fragment == b.fragment &&
        a.has_ports == b.has_ports && a.vlan_count == b.vlan_count && a.ttl == b.ttl &&
        a.dscp == b.dscp && a.payload_length == b.payload_length);
  check((a.payload == nullptr) == (b.payload == nullptr));
  if (a.payload != nullptr) check(a.payload - fewer_data == b.payload - more_data);
}

// Builds the key of a UDP parse the way the worker does and checks the windows' contract:
// the payload bytes at each offset, zero past the end of what is readable.
void fill_key(const uint8_t* data, uint32_t available, const PacketInfo& info, uint8_t in_port,
              const std::vector<uint16_t>& offsets) {
  if (info.status != ParseStatus::udp) return;
  PacketKey packet = info.key;
  packet.in_port = in_port;
  AclKey key;
  std::memset(&key, 0xa5, sizeof key);
  udpsieve::dataplane::fill_acl_key(packet, key);
  check((key.flags & 3U) == static_cast<uint8_t>(packet.fragment));
  check(((key.flags & kAclFlagHasPorts) != 0) == packet.has_ports);
  check(((key.flags & kAclFlagTagged) != 0) == (packet.vlan_count != 0));
  if (offsets.empty()) return;

  // Only the payload bytes inside `available` can be read here (the worker reads the rest of a
  // multi-segment frame from its segments).
  uint32_t readable = 0;
  if (packet.payload != nullptr) {
    const auto before = static_cast<uint32_t>(packet.payload - data);
    readable = std::min<uint32_t>(packet.payload_length, available - before);
  }
  udpsieve::dataplane::fill_acl_windows(offsets, packet.payload, readable, key);
  for (size_t w = 0; w < offsets.size(); ++w) {
    for (uint32_t i = 0; i < 16; ++i) {
      const uint32_t at = offsets[w] + i;
      check(key.payload[w][i] == (at < readable ? packet.payload[at] : 0));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > UINT16_MAX) return -1;  // longer than any IP packet in any frame
  const auto frame_length = static_cast<uint32_t>(size);

  std::vector<uint16_t> offsets;
  const size_t windows = byte_at(data, size, 8) % (kMaxPayloadWindows + 1);
  for (size_t w = 0; w < windows; ++w) {
    const auto raw =
        static_cast<uint16_t>((byte_at(data, size, 2 * w) << 8) | byte_at(data, size, 2 * w + 1));
    offsets.push_back(static_cast<uint16_t>(raw % (kMaxWindowOffset + 1)));
  }
  const uint8_t in_port = byte_at(data, size, 10);

  // Available lengths: the whole frame, the first kMaxHeaderBytes, and a cut from byte 9.
  const uint32_t lengths[3] = {frame_length, std::min(frame_length, kMaxHeaderBytes),
                               static_cast<uint32_t>(size * byte_at(data, size, 9) / 256)};
  std::unique_ptr<uint8_t[]> copies[3];
  PacketInfo infos[3];
  for (size_t i = 0; i < 3; ++i) {
    const uint32_t available = lengths[i];
    // Exactly `available` bytes on the heap: reading one more is an ASan report.
    copies[i] = std::make_unique<uint8_t[]>(available == 0 ? 1 : available);
    if (available != 0) std::memcpy(copies[i].get(), data, available);
    std::memset(&infos[i], 0x5a, sizeof infos[i]);  // parse_frame must reset every field
    const ParseStatus status =
        udpsieve::dataplane::parse_frame(copies[i].get(), available, frame_length, infos[i]);
    check_invariants(copies[i].get(), available, frame_length, status, infos[i]);
    fill_key(copies[i].get(), available, infos[i], in_port, offsets);
  }
  // A multi-segment frame's copy, or any shorter cut, that parses agrees with the whole frame.
  check_same_outcome(infos[1], copies[1].get(), infos[0], copies[0].get());
  check_same_outcome(infos[2], copies[2].get(), infos[0], copies[0].get());
  return 0;
}
