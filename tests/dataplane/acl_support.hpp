#pragma once
// Test support for the classifier tests: building prefixes, ranges and packet keys tersely,
// naming classifiers uniquely, and classifying one key the way the worker does.

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "udpsieve/dataplane/acl_classifier.hpp"
#include "udpsieve/rules/packet_key.hpp"
#include "udpsieve/rules/rule.hpp"

namespace udpsieve::test {

/// "10.0.0.0/8", "2001:db8::1" (a host) ...; throws on bad text.
inline rules::Prefix prefix(const std::string& text) {
  std::string error;
  const std::optional<rules::Prefix> parsed = rules::Prefix::parse(text, error);
  if (!parsed) throw std::invalid_argument(text + ": " + error);
  return *parsed;
}

/// The address of a host prefix, as a PacketKey holds it.
inline std::array<uint8_t, 16> address(const std::string& text) {
  return prefix(text).addr;
}

inline rules::Range range(uint16_t first, uint16_t last) {
  return rules::Range{first, last};
}
inline rules::Range one(uint16_t value) {
  return rules::Range{value, value};
}

/// A UDP packet (first fragment of nothing, untagged, with ports) from `src` to `dst`; the
/// family comes from the addresses.
inline rules::PacketKey udp_key(const std::string& src, const std::string& dst,
                                uint16_t src_port = 1000, uint16_t dst_port = 2000) {
  rules::PacketKey key;
  key.family = prefix(src).family;
  key.src = address(src);
  key.dst = address(dst);
  key.src_port = src_port;
  key.dst_port = dst_port;
  key.has_ports = true;
  key.l3_length = 100;
  key.ttl = 64;
  return key;
}

/// A name no other classifier of this process uses (rte_acl contexts are named).
inline std::string unique_name(const char* stem) {
  static uint64_t next = 0;
  return std::string(stem) + std::to_string(next++);
}

/// Seeds of one differential plan: `count` consecutive seeds from `first`, or only
/// UDPSIEVE_DIFF_SEED when it is set (to rerun a failing seed).
inline std::vector<uint64_t> seeds(uint64_t first, std::size_t count) {
  if (const char* forced = std::getenv("UDPSIEVE_DIFF_SEED");
      forced != nullptr && *forced != '\0') {
    return {std::strtoull(forced, nullptr, 0)};
  }
  std::vector<uint64_t> out;
  for (std::size_t i = 0; i < count; ++i)
    out.push_back(first + i);
  return out;
}

/// Builds `packet`'s key as the worker does: the payload windows at `windows`, the other
/// fields only when `fields` (some lookup of the family reads them); what is left holds
/// garbage, as a worker's key holds the last burst's, so a lookup reading what it should not
/// gives wrong answers.
inline void worker_key(bool fields, const std::vector<uint16_t>& windows,
                       const rules::PacketKey& packet, dataplane::AclKey& key) {
  std::memset(&key, 0xa5, sizeof key);
  if (fields) dataplane::AclClassifier::fill_key(packet, key);
  dataplane::fill_acl_windows(windows, packet.payload, packet.payload_length, key);
}

/// Builds the key the worker would build for `packet` and classifies it alone: the matching
/// rule index + 1, or 0.
inline uint32_t classify_one(const dataplane::AclClassifier& classifier,
                             const rules::PacketKey& packet) {
  dataplane::AclKey key{};
  worker_key(classifier.reads_key_fields(packet.family), classifier.window_offsets(), packet, key);
  const auto* bytes = reinterpret_cast<const uint8_t*>(&key);
  const rules::PacketKey* packets = &packet;
  uint32_t result = 0xdeadbeef;
  classifier.classify(packet.family, &packets, &bytes, &result, 1);
  return result;
}

}  // namespace udpsieve::test
