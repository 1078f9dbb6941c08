#pragma once
/// The rule model: what an operator writes in a rule file, after validation.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "udpsieve/common/config_error.hpp"
#include "udpsieve/rules/packet_key.hpp"

namespace udpsieve::rules {

/// An IPv4 or IPv6 prefix with its host bits zero.
struct Prefix {
  Family family = Family::ipv4;
  uint8_t length = 0;
  std::array<uint8_t, 16> addr{};  ///< network byte order; IPv4 in the first four bytes

  /// Parses "10.0.0.0/8", "2001:db8::/32", or a bare address (a host prefix). On failure
  /// returns nullopt and sets `error` to a sentence saying what is wrong.
  [[nodiscard]] static std::optional<Prefix> parse(std::string_view text, std::string& error);
  /// True when `address` (of this prefix's family) lies inside the prefix.
  [[nodiscard]] bool contains(const std::array<uint8_t, 16>& address) const noexcept;
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const Prefix&, const Prefix&) = default;
};

/// Most prefix sets a configuration may declare: a set lookup returns one bit per set.
inline constexpr std::size_t kMaxSets = 16;

/// An inclusive range of 16-bit values: UDP ports, L3 lengths, TTLs, DSCPs, VLAN ids.
struct Range {
  uint16_t first = 0;
  uint16_t last = 65535;

  [[nodiscard]] bool contains(uint16_t value) const noexcept {
    return value >= first && value <= last;
  }
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const Range&, const Range&) = default;
};

/// Up to 16 bytes at `offset` from the start of the UDP payload; a packet matches when its
/// payload is at least offset + value.size() bytes long and (byte & mask) == value for each.
struct PayloadMatch {
  static constexpr std::size_t kMaxBytes = 16;
  static constexpr uint16_t kMaxOffset = 1500;
  uint16_t offset = 0;
  std::vector<uint8_t> value;  ///< 1..kMaxBytes bytes, with no bit set outside `mask`
  std::vector<uint8_t> mask;   ///< same length as value (all 0xff when not given)
  friend bool operator==(const PayloadMatch&, const PayloadMatch&) = default;
};

/// Each list is "any of"; an empty list (or absent field) matches everything. All present
/// fields must match.
struct Match {
  std::vector<Prefix> src;
  /// Names of prefix sets (config `sets`) the source / destination address must be in (any of
  /// them), and the same sets as bits of a set lookup (bit i: the set in slot i), resolved when
  /// the rule is read.
  std::vector<std::string> src_set;
  std::vector<std::string> dst_set;
  uint16_t src_sets = 0;
  uint16_t dst_sets = 0;
  std::vector<Prefix> dst;
  std::vector<Range> src_port;  ///< never matches a packet without ports (non-first fragment)
  std::vector<Range> dst_port;
  std::vector<int> in_port;   ///< input port indices (config order)
  std::vector<Range> length;  ///< L3 length: IPv4 total length, IPv6 40 + payload length
  std::vector<Range> ttl;     ///< IPv4 TTL / IPv6 hop limit, 0-255
  std::vector<Range> dscp;    ///< 0-63
  std::vector<Range> vlan;    ///< outer VLAN id 0-4095; untagged packets never match
  std::optional<FragmentKind> fragment;
  std::optional<PayloadMatch> payload;  ///< never matches a packet without a UDP header
  friend bool operator==(const Match&, const Match&) = default;
};

enum class ActionKind : uint8_t { drop, forward, rate_limit };

/// `{rate_limit: {pps: N, burst: M}}` or `{rate_limit: {bps: N, burst_bytes: M}}`: traffic
/// within the rate is forwarded (to the input port's forward_to), the rest dropped with reason
/// `rate_limit`. The limit holds for the whole daemon; with `per_source: LEN` it holds for each
/// source prefix of that length (IPv6: `per_source_v6`, default 64) instead.
struct RateLimit {
  enum class Unit : uint8_t { packets, bytes };
  Unit unit = Unit::packets;
  uint64_t rate = 0;          ///< packets per second, or BYTES per second (`bps` / 8)
  uint64_t burst = 0;         ///< packets, or bytes
  uint64_t bps = 0;           ///< the `bps` value as written (bits per second), 0 for pps limits
  uint8_t per_source = 0;     ///< IPv4 source prefix length of each bucket (1-32); 0: one bucket
  uint8_t per_source_v6 = 0;  ///< IPv6 source prefix length (1-128) when per_source is set
  friend bool operator==(const RateLimit&, const RateLimit&) = default;
};

struct Action {
  ActionKind kind = ActionKind::forward;
  /// For `{forward: NAME}`: index of the named port in the daemon's port list (config order);
  /// -1 means "the input port's forward_to".
  int port = -1;
  std::string port_name{};  ///< the name as written, empty for plain `forward`
  RateLimit rate_limit{};   ///< for ActionKind::rate_limit
  friend bool operator==(const Action&, const Action&) = default;
};

struct Rule {
  std::string id;
  Match match;
  Action action;
  /// Free text for people and dashboards (`note:`; a FlowSpec rule carries its route's text):
  /// at most kMaxRuleNoteLength bytes, no control characters; a Prometheus label of the rule.
  std::string note;
  SourceLocation where;  ///< position of the rule's list entry
};

inline constexpr std::size_t kMaxRuleNoteLength = 200;

/// A steering rule (a rule file's `steering:` list): the flows it matches go to one worker's RX
/// queue on each port, chosen by the NIC. Only the 5-tuple style fields: src, dst, src_port,
/// dst_port, in_port.
struct SteeringRule {
  std::string id;
  Match match;
  unsigned worker = 0;          ///< the lcore of the worker whose queue gets the flows
  SourceLocation where;         ///< position of the rule's list entry
  SourceLocation worker_where;  ///< position of its `worker` value
  std::string worker_path;      ///< its key path ("steering[0].worker")
};

/// Text for a rule's action: "drop", "forward", "forward:NAME", "rate_limit:1000pps/100" or
/// "rate_limit:8000000bps/100000B".
[[nodiscard]] std::string action_to_string(const Action& action);
/// "first", "non_first" or "none".
[[nodiscard]] const char* fragment_name(FragmentKind kind) noexcept;
/// Lower-case hex of `bytes` ("ffff0001").
[[nodiscard]] std::string to_hex(const std::vector<uint8_t>& bytes);

}  // namespace udpsieve::rules
