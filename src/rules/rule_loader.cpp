// Rule files: YAML documents into validated rules::Rule values.
#include "udpsieve/rules/rule_loader.hpp"

#include "udpsieve/common/decimal.hpp"

#include <algorithm>
#include <cstddef>
#include <string_view>
#include <utility>

namespace udpsieve::rules {
namespace {

/// Ids appear in counter names and Prometheus labels, so keep them short and to a safe alphabet.
constexpr std::size_t kMaxRuleIdLength = 64;

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '-';
}

PortRange parse_port_range(const YamlNode& node) {
  const std::string text = node.as_string();
  const std::size_t dash = text.find('-');
  const std::string_view whole(text);
  const std::string_view first_text = whole.substr(0, dash);
  const std::string_view last_text =
      dash == std::string::npos ? first_text : whole.substr(dash + 1);
  PortRange range;
  const auto parse_part = [&](std::string_view part, uint16_t& port) {
    uint64_t value = 0;
    switch (parse_decimal(part, 65535, value)) {
      case DecimalResult::ok:
        port = static_cast<uint16_t>(value);
        return;
      case DecimalResult::too_big:
        node.fail(std::string(part) + " is out of range 0-65535");
      case DecimalResult::malformed:
        break;
    }
    node.fail("'" + text + "' is not a port or a port range like 1024-65535");
  };
  parse_part(first_text, range.first);
  parse_part(last_text, range.last);
  if (range.first > range.last) {
    node.fail("port range " + text + " has first port greater than last");
  }
  return range;
}

/// The list's elements; an explicit empty list is refused because it would match nothing.
std::vector<YamlNode> nonempty_one_or_list(const YamlNode& node) {
  std::vector<YamlNode> elements = node.one_or_list();
  if (node.is_sequence() && elements.empty()) {
    node.fail("empty list matches nothing; remove the key to match any");
  }
  return elements;
}

const char* family_name(Family family) {
  return family == Family::ipv4 ? "IPv4" : "IPv6";
}

bool share_family(const std::vector<Prefix>& a, const std::vector<Prefix>& b) {
  return std::any_of(a.begin(), a.end(), [&](const Prefix& x) {
    return std::any_of(b.begin(), b.end(), [&](const Prefix& y) { return x.family == y.family; });
  });
}

std::string validate_rule_id(const YamlNode& node) {
  std::string id = node.as_nonempty_string();
  for (char c : id) {
    if (!is_id_char(c)) {
      node.fail("rule id \"" + id + "\" contains '" + std::string(1, c) +
                "'; use only letters, digits and _ . : -");
    }
  }
  if (id.size() > kMaxRuleIdLength) {
    node.fail("rule id is " + std::to_string(id.size()) + " characters long; at most " +
              std::to_string(kMaxRuleIdLength) + " are allowed");
  }
  return id;
}

}  // namespace

std::vector<PortRange> parse_port_list(const YamlNode& node) {
  std::vector<PortRange> out;
  for (const YamlNode& element : nonempty_one_or_list(node)) {
    out.push_back(parse_port_range(element));
  }
  return out;
}

std::vector<Prefix> parse_prefix_list(const YamlNode& node) {
  std::vector<Prefix> out;
  for (const YamlNode& element : nonempty_one_or_list(node)) {
    std::string error;
    const std::optional<Prefix> prefix = Prefix::parse(element.as_string(), error);
    if (!prefix) element.fail(error);
    out.push_back(*prefix);
  }
  return out;
}

RuleCollector::RuleCollector(std::vector<std::string> port_names)
    : port_names_(std::move(port_names)) {}

void RuleCollector::add_file(const std::string& path) {
  add_document(YamlNode::load_file(path));
}

void RuleCollector::add_document(const YamlNode& root) {
  if (root.is_null()) return;  // an empty file (or only comments) holds no rules
  if (!root.is_map()) {
    root.fail("a rule file must be a mapping with the key 'rules', got " + root.describe());
  }
  root.expect_map({"rules"});
  const std::optional<YamlNode> list = root.get("rules");
  if (!list) return;

  // Parse the whole file before touching the collector, so a bad file adds nothing.
  std::vector<Rule> parsed;
  std::map<std::string, SourceLocation, std::less<>> ids;
  for (const YamlNode& entry : list->items()) {
    Rule rule = parse_rule(entry);
    const YamlNode id_node = entry.require("id");
    // Earlier files first, then earlier rules of this file.
    const SourceLocation* first = nullptr;
    if (const auto it = ids_.find(rule.id); it != ids_.end()) first = &it->second;
    if (const auto it = ids.find(rule.id); first == nullptr && it != ids.end()) first = &it->second;
    if (first != nullptr) {
      id_node.fail("duplicate rule id \"" + rule.id + "\" (first defined at " + first->to_string() +
                   ")");
    }
    ids.emplace(rule.id, id_node.location());
    parsed.push_back(std::move(rule));
  }
  ids_.merge(ids);
  for (Rule& rule : parsed)
    rules_.push_back(std::move(rule));
}

Rule RuleCollector::parse_rule(const YamlNode& node) const {
  node.expect_map({"id", "match", "action"});
  Rule rule;
  rule.where = node.location();
  rule.id = validate_rule_id(node.require("id"));

  if (const std::optional<YamlNode> match = node.get("match")) {
    match->expect_map({"src", "dst", "src_port", "dst_port"});
    if (auto src = match->get("src")) rule.match.src = parse_prefix_list(*src);
    if (auto dst = match->get("dst")) rule.match.dst = parse_prefix_list(*dst);
    if (auto port = match->get("src_port")) rule.match.src_port = parse_port_list(*port);
    if (auto port = match->get("dst_port")) rule.match.dst_port = parse_port_list(*port);
    const Match& m = rule.match;
    if (!m.src.empty() && !m.dst.empty() && !share_family(m.src, m.dst)) {
      // Without a shared family each side is single-family, so the first prefix names it.
      match->fail(std::string("src is ") + family_name(m.src.front().family) + " only and dst is " +
                  family_name(m.dst.front().family) + " only, so this rule can never match");
    }
  }

  const YamlNode action = node.require("action");
  if (action.is_map()) {
    action.expect_map({"forward"});
    const YamlNode target = action.require("forward");
    const std::string name = target.as_nonempty_string();
    const auto it = std::find(port_names_.begin(), port_names_.end(), name);
    if (it == port_names_.end()) {
      std::string known;
      for (const std::string& port : port_names_)
        known += (known.empty() ? "" : ", ") + port;
      target.fail("unknown port \"" + name + "\" (" +
                  (known.empty() ? std::string("no ports are configured") : "ports are: " + known) +
                  ")");
    }
    rule.action.kind = ActionKind::forward;
    rule.action.port = static_cast<int>(it - port_names_.begin());
    rule.action.port_name = name;
  } else {
    if (!action.is_scalar()) {
      action.fail("expected drop, forward or {forward: PORT}, got " + action.describe());
    }
    const std::string word = action.as_string();
    if (word == "drop") {
      rule.action.kind = ActionKind::drop;
    } else if (word == "forward") {
      rule.action.kind = ActionKind::forward;
    } else {
      action.fail("'" + word + "' is not an action; expected drop, forward or {forward: PORT}");
    }
  }
  return rule;
}

}  // namespace udpsieve::rules
