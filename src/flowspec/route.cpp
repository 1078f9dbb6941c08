// FlowSpec routes from ExaBGP's JSON: parsing, RFC 8955 ordering and canonical keys.
#include "udpsieve/flowspec/route.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "udpsieve/common/decimal.hpp"

namespace udpsieve::flowspec {
namespace {

using nlohmann::json;

struct ComponentName {
  std::string_view name;
  ComponentType type;
  bool ipv4;  ///< valid in "ipv4 flow"
  bool ipv6;  ///< valid in "ipv6 flow"
};

constexpr std::array<ComponentName, 17> kComponents = {{
    {"destination-ipv4", ComponentType::destination, true, false},
    {"source-ipv4", ComponentType::source, true, false},
    {"destination-ipv6", ComponentType::destination, false, true},
    {"source-ipv6", ComponentType::source, false, true},
    {"protocol", ComponentType::protocol, true, false},
    {"next-header", ComponentType::protocol, false, true},
    {"port", ComponentType::port, true, true},
    {"destination-port", ComponentType::destination_port, true, true},
    {"source-port", ComponentType::source_port, true, true},
    {"icmp-type", ComponentType::icmp_type, true, true},
    {"icmp-code", ComponentType::icmp_code, true, true},
    {"tcp-flags", ComponentType::tcp_flags, true, true},
    {"packet-length", ComponentType::packet_length, true, true},
    {"dscp", ComponentType::dscp, true, false},
    {"traffic-class", ComponentType::dscp, false, true},
    {"fragment", ComponentType::fragment, true, true},
    {"flow-label", ComponentType::flow_label, false, true},
}};

/// IP protocol names ExaBGP prints (and gobgp accepts).
constexpr std::array<std::pair<std::string_view, uint64_t>, 15> kProtocols = {{
    {"icmp", 1},
    {"igmp", 2},
    {"ipip", 4},
    {"tcp", 6},
    {"egp", 8},
    {"udp", 17},
    {"ipv6", 41},
    {"rsvp", 46},
    {"gre", 47},
    {"esp", 50},
    {"ah", 51},
    {"icmp6", 58},
    {"ospf", 89},
    {"pim", 103},
    {"sctp", 132},
}};

constexpr std::array<std::pair<std::string_view, uint64_t>, 4> kFragmentBits = {{
    {"dont-fragment", 0x01},
    {"is-fragment", 0x02},
    {"first-fragment", 0x04},
    {"last-fragment", 0x08},
}};

constexpr std::array<std::pair<std::string_view, uint64_t>, 8> kTcpFlags = {{
    {"fin", 0x01},
    {"syn", 0x02},
    {"rst", 0x04},
    {"push", 0x08},
    {"ack", 0x10},
    {"urgent", 0x20},
    {"ece", 0x40},
    {"cwr", 0x80},
}};

/// Largest value a component of this type carries on the wire.
uint64_t max_value(ComponentType type) {
  switch (type) {
    case ComponentType::protocol:
    case ComponentType::icmp_type:
    case ComponentType::icmp_code:
    case ComponentType::dscp:
      return 0xff;
    case ComponentType::flow_label:
      return 0xfffff;
    default:
      return 0xffff;
  }
}

[[noreturn]] void bad(const std::string& what) {
  throw std::invalid_argument(what);
}

PrefixComponent parse_prefix(Family family, std::string_view text, std::string_view name) {
  // IPv4: ADDRESS/LENGTH; IPv6: ADDRESS/LENGTH/OFFSET (ExaBGP) or ADDRESS/LENGTH.
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    bad(std::string(name) + ": '" + std::string(text) + "' is not ADDRESS/LENGTH");
  }
  const std::string address(text.substr(0, slash));
  std::string_view rest = text.substr(slash + 1);
  std::string_view offset_text;
  if (const std::size_t second = rest.find('/'); second != std::string_view::npos) {
    offset_text = rest.substr(second + 1);
    rest = rest.substr(0, second);
  }
  PrefixComponent prefix;
  const bool v4 = family == Family::ipv4;
  const int parsed = inet_pton(v4 ? AF_INET : AF_INET6, address.c_str(), prefix.address.data());
  uint64_t length = 0;
  uint64_t offset = 0;
  if (parsed != 1 || parse_decimal(rest, v4 ? 32 : 128, length) != DecimalResult::ok ||
      (!offset_text.empty() &&
       (v4 || parse_decimal(offset_text, 128, offset) != DecimalResult::ok))) {
    bad(std::string(name) + ": '" + std::string(text) + "' is not an " + (v4 ? "IPv4" : "IPv6") +
        " prefix");
  }
  prefix.length = static_cast<uint8_t>(length);
  prefix.offset = static_cast<uint8_t>(offset);
  // Bits past the length do not take part in matching: clear them so equal routes compare
  // equal.
  for (unsigned bit = prefix.length; bit < 128; ++bit)
    prefix.address[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  return prefix;
}

/// A number, or a name from `names`.
uint64_t parse_value(std::string_view text, uint64_t max,
                     std::span<const std::pair<std::string_view, uint64_t>> names,
                     std::string_view name) {
  uint64_t value = 0;
  if (parse_decimal(text, max, value) == DecimalResult::ok) return value;
  for (const auto& [known, number] : names) {
    if (known == text) return number;
  }
  bad(std::string(name) + ": '" + std::string(text) + "' is not a value of 0-" +
      std::to_string(max) + (names.empty() ? "" : " or a known name"));
}

/// Splits an element at its `&`s: the first op has none, each further one starts with it.
std::vector<std::string_view> and_terms(std::string_view element) {
  std::vector<std::string_view> terms;
  std::size_t start = 0;
  for (;;) {
    const std::size_t amp = element.find('&', start + 1);
    terms.push_back(element.substr(start, amp == std::string_view::npos ? amp : amp - start));
    if (amp == std::string_view::npos) break;
    start = amp;
  }
  return terms;
}

/// Every `&`-joined term of every entry of a component's list, each read into an Op by `read`
/// (given the term without its `&`). Entries are ORed; a term's `&` ANDs it to the one before.
template <typename Op, typename Read>
std::vector<Op> parse_terms(const json& list, std::string_view name, std::string_view example,
                            const Read& read) {
  std::vector<Op> ops;
  for (const json& element : list) {
    if (!element.is_string() || element.get_ref<const std::string&>().empty()) {
      bad(std::string(name) + ": every entry is " + std::string(example));
    }
    for (std::string_view term : and_terms(element.get_ref<const std::string&>())) {
      Op op;
      op.and_with_previous = term.front() == '&';
      if (op.and_with_previous) term.remove_prefix(1);
      read(term, op);
      ops.push_back(op);
    }
  }
  if (!ops.empty()) ops.front().and_with_previous = false;
  return ops;
}

std::vector<NumericOp> parse_numeric(ComponentType type, const json& list, std::string_view name) {
  using Names = std::span<const std::pair<std::string_view, uint64_t>>;
  const Names names = type == ComponentType::protocol ? Names(kProtocols) : Names();
  return parse_terms<NumericOp>(
      list, name, "an operator string such as \">=1000&<=2000\"",
      [&](std::string_view term, NumericOp& op) {
        if (term == "true" || term == "false") {
          op.lt = op.gt = op.eq = term == "true";
          return;
        }
        std::size_t taken = 0;
        while (taken < term.size() &&
               std::string_view("<>=!").find(term[taken]) != std::string_view::npos) {
          ++taken;
        }
        const std::string_view comparator = term.substr(0, taken);
        if (comparator == "<") {
          op.lt = true;
        } else if (comparator == ">") {
          op.gt = true;
        } else if (comparator == "=" || comparator.empty()) {
          op.eq = true;
        } else if (comparator == "<=") {
          op.lt = op.eq = true;
        } else if (comparator == ">=") {
          op.gt = op.eq = true;
        } else if (comparator == "!=") {
          op.lt = op.gt = true;
        } else {
          bad(std::string(name) + ": unknown operator '" + std::string(comparator) + "'");
        }
        op.value = parse_value(term.substr(taken), max_value(type), names, name);
      });
}

std::vector<BitmaskOp> parse_bitmask(ComponentType type, const json& list, std::string_view name) {
  using Names = std::span<const std::pair<std::string_view, uint64_t>>;
  const Names names = type == ComponentType::fragment ? Names(kFragmentBits) : Names(kTcpFlags);
  return parse_terms<BitmaskOp>(
      list, name, "a flag string such as \"is-fragment\"",
      [&](std::string_view term, BitmaskOp& op) {
        if (!term.empty() && term.front() == '!') {
          op.negate = true;
          term.remove_prefix(1);
        }
        if (!term.empty() && term.front() == '=') {
          op.match = true;
          term.remove_prefix(1);
        }
        // Names joined with '+' (fin+push), or a number.
        std::size_t start = 0;
        do {
          const std::size_t plus = term.find('+', start);
          const std::string_view part =
              term.substr(start, plus == std::string_view::npos ? plus : plus - start);
          op.value |= parse_value(part, max_value(type), names, name);
          start = plus == std::string_view::npos ? term.size() + 1 : plus + 1;
        } while (start <= term.size());
      });
}

// --- the wire form, for ordering -------------------------------------------------------------

/// Bytes of a value as a sender would encode it: the smallest of 1, 2, 4 or 8 that holds it.
unsigned value_width(uint64_t value) {
  if (value <= 0xff) return 1;
  if (value <= 0xffff) return 2;
  if (value <= 0xffffffff) return 4;
  return 8;
}

/// The component's operator/value list encoded as RFC 8955 section 4.2.1 does.
std::vector<uint8_t> encode_ops(const Component& component) {
  std::vector<uint8_t> out;
  const auto put = [&out](uint8_t flags, bool and_bit, bool last, uint64_t value) {
    const unsigned width = value_width(value);
    const uint8_t len_bits = width == 1 ? 0 : width == 2 ? 0x10 : width == 4 ? 0x20 : 0x30;
    out.push_back(
        static_cast<uint8_t>((last ? 0x80 : 0) | (and_bit ? 0x40 : 0) | len_bits | flags));
    for (unsigned i = width; i-- > 0;)
      out.push_back(static_cast<uint8_t>(value >> (8 * i)));
  };
  if (const auto* numeric = std::get_if<std::vector<NumericOp>>(&component.value)) {
    for (std::size_t i = 0; i < numeric->size(); ++i) {
      const NumericOp& op = (*numeric)[i];
      put(static_cast<uint8_t>((op.lt ? 4 : 0) | (op.gt ? 2 : 0) | (op.eq ? 1 : 0)),
          op.and_with_previous, i + 1 == numeric->size(), op.value);
    }
  } else if (const auto* bits = std::get_if<std::vector<BitmaskOp>>(&component.value)) {
    for (std::size_t i = 0; i < bits->size(); ++i) {
      const BitmaskOp& op = (*bits)[i];
      put(static_cast<uint8_t>((op.negate ? 2 : 0) | (op.match ? 1 : 0)), op.and_with_previous,
          i + 1 == bits->size(), op.value);
    }
  }
  return out;
}

std::string prefix_text(Family family, const PrefixComponent& prefix) {
  char buffer[INET6_ADDRSTRLEN] = {};
  (void)inet_ntop(family == Family::ipv4 ? AF_INET : AF_INET6, prefix.address.data(), buffer,
                  sizeof buffer);
  std::string text = std::string(buffer) + "/" + std::to_string(prefix.length);
  if (family == Family::ipv6 && prefix.offset != 0) text += "/" + std::to_string(prefix.offset);
  return text;
}

}  // namespace

Route parse_route(Family family, const json& object) {
  if (!object.is_object()) bad("a flow route is a JSON object");
  Route route;
  route.family = family;
  for (const auto& [key, value] : object.items()) {
    if (key == "string") {
      if (value.is_string()) route.text = value.get<std::string>();
      continue;
    }
    if (key == "next-hop" || key == "rd") continue;  // not part of the match
    const auto known =
        std::find_if(kComponents.begin(), kComponents.end(),
                     [&name = key](const ComponentName& c) { return c.name == name; });
    if (known == kComponents.end() || (family == Family::ipv4 ? !known->ipv4 : !known->ipv6)) {
      bad("unknown " + std::string(family == Family::ipv4 ? "IPv4" : "IPv6") + " flow component '" +
          key + "'");
    }
    if (!value.is_array() || value.empty()) bad(key + ": expected a non-empty list");
    if (std::any_of(route.components.begin(), route.components.end(),
                    [&](const Component& c) { return c.type == known->type; })) {
      bad(key + ": given twice");
    }
    Component component;
    component.type = known->type;
    if (known->type == ComponentType::destination || known->type == ComponentType::source) {
      if (value.size() != 1 || !value[0].is_string()) bad(key + ": expected one prefix");
      component.value = parse_prefix(family, value[0].get_ref<const std::string&>(), key);
    } else if (known->type == ComponentType::fragment || known->type == ComponentType::tcp_flags) {
      component.value = parse_bitmask(known->type, value, key);
    } else {
      component.value = parse_numeric(known->type, value, key);
    }
    route.components.push_back(std::move(component));
  }
  if (route.components.empty()) bad("a flow route without components");
  std::sort(route.components.begin(), route.components.end(),
            [](const Component& a, const Component& b) { return a.type < b.type; });
  return route;
}

bool takes_precedence(const Route& a, const Route& b) {
  // Routes of different families never meet in one packet; order IPv4 first, for a total order.
  if (a.family != b.family) return a.family < b.family;
  const std::size_t n = std::max(a.components.size(), b.components.size());
  for (std::size_t i = 0; i < n; ++i) {
    // A route that has run out of components has the higher ("infinite") type.
    if (i >= a.components.size()) return false;
    if (i >= b.components.size()) return true;
    const Component& x = a.components[i];
    const Component& y = b.components[i];
    if (x.type != y.type) return x.type < y.type;
    if (const auto* px = std::get_if<PrefixComponent>(&x.value)) {
      const auto& py = std::get<PrefixComponent>(y.value);
      // The lowest value over the common prefix length first; if equal, the longest prefix.
      const unsigned common = std::min(px->length, py.length);
      for (unsigned bit = 0; bit < common; ++bit) {
        const unsigned shift = 7 - bit % 8;
        const unsigned vx = (static_cast<unsigned>(px->address[bit / 8]) >> shift) & 1u;
        const unsigned vy = (static_cast<unsigned>(py.address[bit / 8]) >> shift) & 1u;
        if (vx != vy) return vx < vy;
      }
      if (px->length != py.length) return px->length > py.length;
      continue;
    }
    // Other components: memcmp over the common length; if equal, the longest string first.
    const std::vector<uint8_t> ex = encode_ops(x);
    const std::vector<uint8_t> ey = encode_ops(y);
    const std::size_t common = std::min(ex.size(), ey.size());
    if (const int cmp = std::memcmp(ex.data(), ey.data(), common); cmp != 0) return cmp < 0;
    if (ex.size() != ey.size()) return ex.size() > ey.size();
  }
  return false;  // the same match
}

std::string canonical_key(const Route& route) {
  std::string key = route.family == Family::ipv4 ? "ipv4" : "ipv6";
  for (const Component& component : route.components) {
    key += " " + std::to_string(static_cast<int>(component.type)) + ":";
    if (const auto* prefix = std::get_if<PrefixComponent>(&component.value)) {
      key += prefix_text(route.family, *prefix);
      continue;
    }
    for (const uint8_t byte : encode_ops(component)) {
      constexpr std::string_view kHex = "0123456789abcdef";
      key += kHex[byte >> 4];
      key += kHex[byte & 15];
    }
  }
  return key;
}

}  // namespace udpsieve::flowspec
