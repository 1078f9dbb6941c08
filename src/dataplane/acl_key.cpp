#include "udpsieve/dataplane/acl_key.hpp"

#include <algorithm>
#include <cstring>

namespace udpsieve::dataplane {
namespace {
uint16_t be16(uint16_t value) noexcept {
  return __builtin_bswap16(value);
}
}  // namespace

void fill_acl_key(const rules::PacketKey& packet, AclKey& key) noexcept {
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
  key.src_sets = be16(packet.src_sets);
  key.dst_sets = be16(packet.dst_sets);
  // IPv4 contexts read only the first four address bytes.
  if (packet.family == rules::Family::ipv4) {
    std::memcpy(key.src, packet.src.data(), 4);
    std::memcpy(key.dst, packet.dst.data(), 4);
  } else {
    std::memcpy(key.src, packet.src.data(), sizeof key.src);
    std::memcpy(key.dst, packet.dst.data(), sizeof key.dst);
  }
}

void fill_acl_windows(const std::vector<uint16_t>& offsets, const uint8_t* payload,
                      uint32_t payload_length, AclKey& key) noexcept {
  for (std::size_t w = 0; w < offsets.size() && w < kMaxPayloadWindows; ++w) {
    if (offsets[w] == kNoWindow) continue;
    const uint32_t offset = offsets[w];
    if (payload_length >= offset + 16) {  // the common case: one fixed-size copy
      std::memcpy(key.payload[w], payload + offset, 16);
      continue;
    }
    const uint32_t present = payload_length > offset ? payload_length - offset : 0;
    if (present != 0) std::memcpy(key.payload[w], payload + offset, present);
    std::memset(key.payload[w] + present, 0, 16 - present);
  }
}

}  // namespace udpsieve::dataplane
