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

/// An inclusive range of UDP ports.
struct PortRange {
  uint16_t first = 0;
  uint16_t last = 65535;

  [[nodiscard]] bool contains(uint16_t port) const noexcept {
    return port >= first && port <= last;
  }
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

/// Each list is "any of"; an empty list matches everything. All present fields must match.
struct Match {
  std::vector<Prefix> src;
  std::vector<Prefix> dst;
  std::vector<PortRange> src_port;
  std::vector<PortRange> dst_port;
};

enum class ActionKind : uint8_t { drop, forward };

struct Action {
  ActionKind kind = ActionKind::forward;
  /// For `{forward: NAME}`: index of the named port in the daemon's port list (config order);
  /// -1 means "the input port's forward_to".
  int port = -1;
  std::string port_name;  ///< the name as written, empty for plain `forward`
};

struct Rule {
  std::string id;
  Match match;
  Action action;
  SourceLocation where;  ///< position of the rule's list entry
};

/// Text for a rule's action: "drop", "forward" or "forward:NAME".
[[nodiscard]] std::string action_to_string(const Action& action);

}  // namespace udpsieve::rules
