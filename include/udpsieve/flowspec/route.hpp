#pragma once
/// BGP FlowSpec routes (RFC 8955 for IPv4, RFC 8956 for IPv6) as ExaBGP's JSON encoder hands
/// them to its API processes, and their translation into udpsieve runtime rules.
///
/// Pure code: no sockets, no DPDK. The feeder (udpsieve-flowspec) keeps the routes it learned
/// and sends the rules; the daemon validates them like any other runtime rule.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace udpsieve::flowspec {

enum class Family : uint8_t { ipv4, ipv6 };

/// One comparison of a numeric component: value against the packet's field.
struct NumericOp {
  bool and_with_previous = false;  ///< `&`: ANDed with the previous op (else starts an OR term)
  bool lt = false;
  bool gt = false;
  bool eq = false;
  uint64_t value = 0;
  friend bool operator==(const NumericOp&, const NumericOp&) = default;
};

/// One test of a bitmask component (fragment flags, TCP flags).
struct BitmaskOp {
  bool and_with_previous = false;
  bool negate = false;  ///< `!`
  bool match = false;   ///< `=`: every bit of value set (else: any bit of value set)
  uint64_t value = 0;
  friend bool operator==(const BitmaskOp&, const BitmaskOp&) = default;
};

/// An address prefix component (destination or source).
struct PrefixComponent {
  std::array<uint8_t, 16> address{};  ///< network byte order; IPv4 in the first four bytes
  uint8_t length = 0;
  uint8_t offset = 0;  ///< IPv6 only: bits skipped before matching (only 0 is supported)
  friend bool operator==(const PrefixComponent&, const PrefixComponent&) = default;
};

/// Component types, numbered as RFC 8955 / 8956 number them (the order of precedence).
enum class ComponentType : uint8_t {
  destination = 1,
  source = 2,
  protocol = 3,  ///< IPv4 protocol, IPv6 next header
  port = 4,
  destination_port = 5,
  source_port = 6,
  icmp_type = 7,
  icmp_code = 8,
  tcp_flags = 9,
  packet_length = 10,
  dscp = 11,  ///< IPv4 DSCP; IPv6 "traffic-class" (RFC 8956 type 11)
  fragment = 12,
  flow_label = 13,
};

struct Component {
  ComponentType type = ComponentType::destination;
  std::variant<PrefixComponent, std::vector<NumericOp>, std::vector<BitmaskOp>> value;
  friend bool operator==(const Component&, const Component&) = default;
};

/// A flow route's match: its components in type order, each type at most once.
struct Route {
  Family family = Family::ipv4;
  std::vector<Component> components;
  std::string text;  ///< ExaBGP's "string", for display
  friend bool operator==(const Route& a, const Route& b) {
    return a.family == b.family && a.components == b.components;
  }
};

/// Reads one route object of ExaBGP's JSON ("ipv4 flow" / "ipv6 flow" entries: component
/// arrays such as "destination-ipv4": ["192.0.2.0/24"], "destination-port": [">=1000&<=2000"],
/// and "string"). Throws std::invalid_argument with a one-line reason for anything malformed
/// or unknown.
[[nodiscard]] Route parse_route(Family family, const nlohmann::json& object);

/// RFC 8955 section 5.1: whether `a` takes precedence over `b` (comes first in first-match
/// order). A strict weak order, and the same on every box whatever order routes arrived in.
[[nodiscard]] bool takes_precedence(const Route& a, const Route& b);

/// A canonical text of the route's match (family and components), the same for the same match
/// however ExaBGP spelt it; rule ids derive from it.
[[nodiscard]] std::string canonical_key(const Route& route);

/// What a route asks for, from its extended communities.
struct Action {
  enum class Kind : uint8_t { accept, drop, rate_bytes, rate_packets };
  Kind kind = Kind::accept;
  uint64_t rate = 0;    ///< bytes or packets per second
  bool sample = false;  ///< traffic-action sample: noted, not acted on
  friend bool operator==(const Action&, const Action&) = default;
};

/// Reads ExaBGP's "extended-community" strings ("rate-limit:0", "rate-limit:1000:packets",
/// "action sample", ...). Throws std::invalid_argument naming the community udpsieve does not
/// support (redirect, marking, the terminal action bit, conflicting rates).
[[nodiscard]] Action parse_action(const std::vector<std::string>& communities);

/// A route turned into rules, or why not.
struct Translation {
  enum class Outcome : uint8_t {
    rules,    ///< `rules` hold the route (one or more rules, in order)
    ignored,  ///< it can only match traffic udpsieve does not filter (TCP, ICMP, ...)
    refused,  ///< udpsieve cannot enforce it as announced
  };
  Outcome outcome = Outcome::rules;
  std::string reason;                 ///< ignored, refused: one line
  std::vector<nlohmann::json> rules;  ///< rules: {id, match, action} as rule-add takes them
};

/// The most rules (times the ranges of their port, length and DSCP lists) one route may become.
inline constexpr std::size_t kMaxEntriesPerRoute = 256;

/// Translates a route and its action into runtime rules with ids `bgp-<16 hex digits>` (and a
/// `-N` suffix when the route needs several rules), stable across boxes and re-syncs.
[[nodiscard]] Translation translate(const Route& route, const Action& action);

}  // namespace udpsieve::flowspec
