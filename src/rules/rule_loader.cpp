// Rule files: YAML documents into validated rules::Rule values.
#include "udpsieve/rules/rule_loader.hpp"

#include "udpsieve/common/decimal.hpp"
#include "udpsieve/common/text.hpp"
#include "udpsieve/rules/prefix_set.hpp"

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string_view>
#include <utility>

namespace udpsieve::rules {
namespace {

/// Ids appear in counter names and Prometheus labels, so keep them short and to a safe alphabet.
constexpr std::size_t kMaxRuleIdLength = 64;
/// Highest lcore id a steering rule may name (DPDK's RTE_MAX_LCORE in Debian's build is 128);
/// the configuration checks it is one of the workers'.
constexpr uint64_t kMaxWorkerLcore = 127;

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '-';
}

/// How one kind of 16-bit match value is named in messages, and its largest value.
struct RangeKind {
  const char* noun;     ///< "port": "'x' is not a port or a port range like ..."
  const char* example;  ///< a range to show in that message
  uint16_t max;
};

constexpr RangeKind kPortKind{"port", "1024-65535", 65535};
constexpr RangeKind kLengthKind{"length", "28-1500", 65535};
constexpr RangeKind kTtlKind{"TTL", "1-64", 255};
constexpr RangeKind kDscpKind{"DSCP", "40-47", 63};
constexpr RangeKind kVlanKind{"VLAN id", "100-199", 4095};

// Limits of the rate_limit action.
constexpr uint64_t kMaxPps = 1'000'000'000;
constexpr uint64_t kMaxBurstPackets = 1'000'000'000;
constexpr uint64_t kMinBps = 8;
constexpr uint64_t kMaxBps = 1'000'000'000'000;
constexpr uint64_t kMinBurstBytes = 64;
constexpr uint64_t kMaxBurstBytes = 1'000'000'000'000;

constexpr const char* kActionForms = "drop, forward, {forward: PORT} or {rate_limit: ...}";
constexpr const char* kRateLimitForms = "{pps: N, burst: N} or {bps: N, burst_bytes: N}";
/// The IPv6 prefix length of a per-source bucket when per_source_v6 is not given.
constexpr uint64_t kPerSourceV6 = 64;

Range parse_range(const YamlNode& node, const RangeKind& kind) {
  const std::string_view text = node.as_view();
  const std::size_t dash = text.find('-');
  const std::string_view first_text = text.substr(0, dash);
  const std::string_view last_text =
      dash == std::string_view::npos ? first_text : text.substr(dash + 1);
  Range range;
  const auto parse_part = [&](std::string_view part, uint16_t& out) {
    uint64_t value = 0;
    switch (parse_decimal(part, kind.max, value)) {
      case DecimalResult::ok:
        out = static_cast<uint16_t>(value);
        return;
      case DecimalResult::too_big:
        node.fail(std::string(part) + " is out of range 0-" + std::to_string(kind.max));
      case DecimalResult::malformed:
        break;
    }
    node.fail("'" + std::string(text) + "' is not a " + kind.noun + " or a " + kind.noun +
              " range like " + kind.example);
  };
  parse_part(first_text, range.first);
  parse_part(last_text, range.last);
  if (range.first > range.last) {
    node.fail(std::string(kind.noun) + " range " + std::string(text) + " has first " + kind.noun +
              " greater than last");
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

std::vector<Range> parse_range_list(const YamlNode& node, const RangeKind& kind) {
  std::vector<Range> out;
  for (const YamlNode& element : nonempty_one_or_list(node)) {
    out.push_back(parse_range(element, kind));
  }
  return out;
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

std::string validate_note(const YamlNode& node) {
  std::string note = node.as_string();
  if (std::any_of(note.begin(), note.end(), common::is_control)) {
    node.fail("a note holds no control characters (tabs and line breaks included)");
  }
  if (note.size() > kMaxRuleNoteLength) {
    node.fail("a note is at most " + std::to_string(kMaxRuleNoteLength) + " bytes, this one " +
              std::to_string(note.size()));
  }
  return note;
}

/// "1 byte", "2 bytes".
std::string byte_count(std::size_t count) {
  return std::to_string(count) + (count == 1 ? " byte" : " bytes");
}

/// "ffff0001" or "0xFFFF0001" into 1..PayloadMatch::kMaxBytes bytes; `what` names the key.
std::vector<uint8_t> parse_hex_bytes(const YamlNode& node, const char* what) {
  const std::string text = node.as_string();
  std::string_view digits(text);
  if (digits.size() >= 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    digits.remove_prefix(2);
  }
  if (digits.empty()) {
    node.fail(std::string(what) + " is empty; give 1-" + std::to_string(PayloadMatch::kMaxBytes) +
              " bytes as hex digits like ffff0001");
  }
  const bool all_hex =
      std::all_of(digits.begin(), digits.end(), [](char c) { return common::hex_digit(c) >= 0; });
  if (!all_hex || digits.size() % 2 != 0) {
    node.fail("'" + text + "' is not hex bytes (two hex digits per byte)");
  }
  if (digits.size() / 2 > PayloadMatch::kMaxBytes) {
    node.fail(std::string(what) + " is " + std::to_string(digits.size() / 2) +
              " bytes long; at most " + std::to_string(PayloadMatch::kMaxBytes) + " are allowed");
  }
  std::vector<uint8_t> out;
  for (std::size_t i = 0; i < digits.size(); i += 2) {
    out.push_back(
        static_cast<uint8_t>(common::hex_digit(digits[i]) * 16 + common::hex_digit(digits[i + 1])));
  }
  return out;
}

PayloadMatch parse_payload(const YamlNode& node) {
  node.expect_map({"offset", "value", "mask"});
  PayloadMatch payload;
  if (const std::optional<YamlNode> offset = node.get("offset")) {
    payload.offset = static_cast<uint16_t>(offset->as_uint(0, PayloadMatch::kMaxOffset));
  }
  payload.value = parse_hex_bytes(node.require("value"), "value");
  payload.mask.assign(payload.value.size(), 0xff);
  if (const std::optional<YamlNode> mask = node.get("mask")) {
    payload.mask = parse_hex_bytes(*mask, "mask");
    if (payload.mask.size() != payload.value.size()) {
      mask->fail("mask is " + byte_count(payload.mask.size()) + " long but value is " +
                 byte_count(payload.value.size()) + "; give both the same length");
    }
  }
  for (std::size_t i = 0; i < payload.value.size(); ++i) {
    // Such a value could never be seen through the mask, so the rule could never match.
    if ((payload.value[i] & ~payload.mask[i]) != 0) {
      node.fail("value has bits outside the mask at byte " + std::to_string(i) +
                "; clear them or widen the mask");
    }
  }
  return payload;
}

RateLimit parse_rate_limit(const YamlNode& node) {
  if (!node.is_map()) {
    node.fail(std::string("expected ") + kRateLimitForms + ", got " + node.describe());
  }
  node.expect_map({"pps", "burst", "bps", "burst_bytes", "per_source", "per_source_v6"});
  const std::optional<YamlNode> pps = node.get("pps");
  const std::optional<YamlNode> burst = node.get("burst");
  const std::optional<YamlNode> bps = node.get("bps");
  const std::optional<YamlNode> burst_bytes = node.get("burst_bytes");
  if (pps && bps) node.fail("give pps or bps, not both");
  RateLimit limit;
  const std::optional<YamlNode> per_source = node.get("per_source");
  const std::optional<YamlNode> per_source_v6 = node.get("per_source_v6");
  if (per_source) {
    limit.per_source = static_cast<uint8_t>(per_source->as_uint(1, 32));
    limit.per_source_v6 =
        static_cast<uint8_t>(per_source_v6 ? per_source_v6->as_uint(1, 128) : kPerSourceV6);
  } else if (per_source_v6) {
    per_source_v6->fail(
        "per_source_v6 goes with per_source (the IPv4 prefix length of each source's bucket, "
        "32 for one per address)");
  }
  if (pps) {
    if (burst_bytes) burst_bytes->fail("burst_bytes goes with bps; a pps limit takes burst");
    if (!burst) node.fail("a pps limit needs burst (packets), e.g. {pps: 1000, burst: 100}");
    limit.unit = RateLimit::Unit::packets;
    limit.rate = pps->as_uint(1, kMaxPps);
    limit.burst = burst->as_uint(1, kMaxBurstPackets);
    return limit;
  }
  if (bps) {
    if (burst) burst->fail("burst goes with pps; a bps limit takes burst_bytes");
    if (!burst_bytes) {
      node.fail("a bps limit needs burst_bytes, e.g. {bps: 8000000, burst_bytes: 100000}");
    }
    limit.unit = RateLimit::Unit::bytes;
    limit.bps = bps->as_uint(kMinBps, kMaxBps);
    if (limit.bps % 8 != 0) {
      bps->fail(std::to_string(limit.bps) +
                " bits per second is not a whole number of bytes; use a multiple of 8");
    }
    limit.rate = limit.bps / 8;
    limit.burst = burst_bytes->as_uint(kMinBurstBytes, kMaxBurstBytes);
    return limit;
  }
  node.fail(std::string("expected ") + kRateLimitForms);
}

/// "a", "a and b", "a, b and c".
std::string join_and(const std::vector<std::string>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? " and " : ", ";
    out += words[i];
  }
  return out;
}

}  // namespace

std::vector<Range> parse_port_list(const YamlNode& node) {
  return parse_range_list(node, kPortKind);
}

std::vector<Prefix> parse_prefix_list(const YamlNode& node) {
  std::vector<Prefix> out;
  for (const YamlNode& element : nonempty_one_or_list(node)) {
    std::string error;
    const std::optional<Prefix> prefix = Prefix::parse(element.as_view(), error);
    if (!prefix) element.fail(error);
    out.push_back(*prefix);
  }
  return out;
}

RuleCollector::RuleCollector(std::vector<std::string> port_names,
                             std::vector<std::string> set_slots)
    : port_names_(std::move(port_names)), set_slots_(std::move(set_slots)) {}

RuleList RuleCollector::take() {
  if (!reused_.empty()) {
    // Where each rule set's find() lands for an id: a reused block when the address falls in
    // one. The blocks' own ids are unique together (their load checked them).
    std::vector<std::pair<const Rule*, const Rule*>> spans;
    std::vector<const RuleSet*> sets;
    for (const auto& [block, set] : reused_) {
      spans.emplace_back(block->data(), block->data() + block->size());
      if (std::find(sets.begin(), sets.end(), set.get()) == sets.end()) sets.push_back(set.get());
    }
    std::sort(spans.begin(), spans.end());
    const auto reused = [&](const Rule* rule) {
      auto it = std::upper_bound(spans.begin(), spans.end(), std::pair(rule, rule),
                                 [](const auto& a, const auto& b) { return a.first < b.first; });
      return it != spans.begin() && rule < (--it)->second;
    };
    for (const auto& [id, origin] : ids_) {
      if (origin.parsed_earlier) continue;  // a reused file's steering id: unique with its rules
      for (const RuleSet* set : sets) {
        const Rule* rule = set->find(id);
        if (rule != nullptr && reused(rule)) throw ParsedIdConflict{};
      }
    }
  }
  return std::move(rules_);
}

void RuleCollector::add_file(const std::string& path) {
  add_document(YamlNode::load_file(path));
}

bool RuleCollector::add_parsed(const RuleList::Block& block, std::span<const SteeringRule> steering,
                               std::shared_ptr<const RuleSet> earlier) {
  // The file's own ids are unique (it parsed before); only the earlier files' may clash.
  if (std::any_of(steering.begin(), steering.end(),
                  [&](const SteeringRule& r) { return ids_.contains(r.id); })) {
    return false;
  }
  for (const SteeringRule& rule : steering)
    ids_.emplace(rule.id, IdOrigin{nullptr, 0, 0, {}, true});
  if (block != nullptr && !block->empty()) reused_.emplace_back(block, std::move(earlier));
  rules_.append(block);
  steering_.insert(steering_.end(), steering.begin(), steering.end());
  return true;
}

RuleList::Block RuleCollector::add_document(const YamlNode& root) {
  if (root.is_null()) return nullptr;  // an empty file (or only comments) holds no rules
  if (!root.is_map()) {
    root.fail("a rule file must be a mapping with the key 'rules', got " + root.describe());
  }
  root.expect_map({"rules", "steering"});

  // Parse the whole file before touching the collector, so a bad file adds nothing.
  IdMap ids;
  std::vector<Rule> parsed;
  const auto file = std::make_shared<const std::string>(root.file());
  if (const std::optional<YamlNode> list = root.get("rules")) {
    parsed = parse_rules(*list, file, ids_, ids);
  }
  std::vector<SteeringRule> steering;
  if (const std::optional<YamlNode> list = root.get("steering")) {
    for (const YamlNode& entry : list->items()) {
      SteeringRule rule = parse_steering(entry);
      record_id(rule.id, entry.require("id"), file, ids_, ids);
      steering.push_back(std::move(rule));
    }
  }
  ids_.merge(ids);
  RuleList::Block block;
  if (!parsed.empty()) block = std::make_shared<const std::vector<Rule>>(std::move(parsed));
  rules_.append(block);
  for (SteeringRule& rule : steering)
    steering_.push_back(std::move(rule));
  return block;
}

SteeringRule RuleCollector::parse_steering(const YamlNode& node) const {
  node.expect_map({"id", "match", "worker"});
  SteeringRule rule;
  rule.where = node.location();
  rule.id = validate_rule_id(node.require("id"));
  if (const std::optional<YamlNode> match = node.get("match")) {
    // What a NIC's flow rule can steer on: the 5-tuple (UDP) and the input port.
    match->expect_map({"src", "dst", "src_port", "dst_port", "in_port"});
    rule.match = parse_match(*match);
  }
  const YamlNode worker = node.require("worker");
  rule.worker = static_cast<unsigned>(worker.as_uint(0, kMaxWorkerLcore));
  rule.worker_where = worker.location();
  rule.worker_path = worker.path();
  return rule;
}

std::vector<Rule> RuleCollector::parse_list(const YamlNode& list) const {
  IdMap ids;
  return parse_rules(list, std::make_shared<const std::string>(list.file()), IdMap{}, ids);
}

RuleCollector::IdOrigin RuleCollector::origin_of(const std::shared_ptr<const std::string>& file,
                                                 const YamlNode& id_node) {
  const auto [line, column] = id_node.position();
  IdOrigin origin{file, line, column, {}, false};
  if (origin.line == 0) origin.path = id_node.path();  // only where positions are unknown
  return origin;
}

void RuleCollector::record_id(const std::string& id, const YamlNode& id_node,
                              const std::shared_ptr<const std::string>& file, const IdMap& earlier,
                              IdMap& ids) {
  // Earlier files first, then earlier rules of this list.
  const IdOrigin* first = nullptr;
  if (const auto it = earlier.find(id); it != earlier.end()) {
    first = &it->second;
  } else if (const auto [at, added] = ids.try_emplace(id, origin_of(file, id_node)); !added) {
    first = &at->second;
  }
  if (first == nullptr) return;
  if (first->parsed_earlier) throw ParsedIdConflict{};
  // Runtime rules (JSON) have no positions, so the earlier one is named by its key path.
  const std::string origin =
      first->line > 0 ? "first defined at " +
                            SourceLocation{*first->file, first->line, first->column}.to_string()
                      : "also given at " + first->path;
  id_node.fail("duplicate rule id \"" + id + "\" (" + origin + ")");
}

std::vector<Rule> RuleCollector::parse_rules(const YamlNode& list,
                                             const std::shared_ptr<const std::string>& file,
                                             const IdMap& earlier, IdMap& ids) const {
  const std::vector<YamlNode> entries = list.items();
  std::vector<Rule> parsed;
  parsed.reserve(entries.size());  // a Rule is large: moving 100,000 of them on growth shows
  ids.reserve(ids.size() + entries.size());
  for (const YamlNode& entry : entries) {
    Rule rule = parse_rule(entry);
    record_id(rule.id, entry.require("id"), file, earlier, ids);
    parsed.push_back(std::move(rule));
  }
  return parsed;
}

int RuleCollector::resolve_port(const YamlNode& node) const {
  const std::string name = node.as_nonempty_string();
  const auto it = std::find(port_names_.begin(), port_names_.end(), name);
  if (it == port_names_.end()) {
    std::string known;
    for (const std::string& port : port_names_)
      known += (known.empty() ? "" : ", ") + port;
    node.fail("unknown port \"" + name + "\" (" +
              (known.empty() ? std::string("no ports are configured") : "ports are: " + known) +
              ")");
  }
  return static_cast<int>(it - port_names_.begin());
}

uint16_t RuleCollector::resolve_sets(const YamlNode& node, std::vector<std::string>& names) const {
  uint16_t bits = 0;
  for (const YamlNode& element : nonempty_one_or_list(node)) {
    const std::string name = element.as_nonempty_string();
    const auto it = std::find(set_slots_.begin(), set_slots_.end(), name);
    if (it == set_slots_.end()) {
      const std::string known = set_names_text(set_slots_);
      element.fail("unknown set \"" + name + "\" (" +
                   (known.empty() ? std::string("no sets are configured") : "sets are: " + known) +
                   ")");
    }
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    bits = static_cast<uint16_t>(bits | (1U << (it - set_slots_.begin())));
  }
  return bits;
}

Match RuleCollector::parse_match(const YamlNode& node) const {
  node.expect_map({"src", "dst", "src_set", "dst_set", "src_port", "dst_port", "in_port", "length",
                   "ttl", "dscp", "vlan", "fragment", "payload"});
  // One pass over the match's keys (a large rule file has one match a rule).
  const auto values =
      node.values_of<13>({"src", "dst", "src_set", "dst_set", "src_port", "dst_port", "in_port",
                          "length", "ttl", "dscp", "vlan", "fragment", "payload"});
  // `dst_port:` with nothing after it (or JSON null) reads like a condition but would match
  // every packet: refuse it rather than guess.
  for (const std::optional<YamlNode>& value : values) {
    if (value && value->is_null())
      value->fail("no value given; remove the key to match any packet");
  }
  const auto& [src, dst, src_set, dst_set, src_port, dst_port, in_port, length, ttl, dscp, vlan,
               fragment, payload] = values;
  Match m;
  if (src) m.src = parse_prefix_list(*src);
  if (dst) m.dst = parse_prefix_list(*dst);
  if (src_set) m.src_sets = resolve_sets(*src_set, m.src_set);
  if (dst_set) m.dst_sets = resolve_sets(*dst_set, m.dst_set);
  if (src_port) m.src_port = parse_port_list(*src_port);
  if (dst_port) m.dst_port = parse_port_list(*dst_port);
  if (in_port) {
    for (const YamlNode& name : nonempty_one_or_list(*in_port))
      m.in_port.push_back(resolve_port(name));
  }
  if (length) m.length = parse_range_list(*length, kLengthKind);
  if (ttl) m.ttl = parse_range_list(*ttl, kTtlKind);
  if (dscp) m.dscp = parse_range_list(*dscp, kDscpKind);
  if (vlan) m.vlan = parse_range_list(*vlan, kVlanKind);
  if (fragment) {
    m.fragment = fragment->as_enum<FragmentKind>({{"first", FragmentKind::first},
                                                  {"non_first", FragmentKind::non_first},
                                                  {"none", FragmentKind::none}});
  }
  if (payload) m.payload = parse_payload(*payload);

  if (!m.src.empty() && !m.dst.empty() && !share_family(m.src, m.dst)) {
    // Without a shared family each side is single-family, so the first prefix names it.
    node.fail(std::string("src is ") + family_name(m.src.front().family) + " only and dst is " +
              family_name(m.dst.front().family) + " only, so this rule can never match");
  }
  if (m.fragment == FragmentKind::non_first) {
    std::vector<std::string> needs_header;
    if (!m.src_port.empty()) needs_header.emplace_back("src_port");
    if (!m.dst_port.empty()) needs_header.emplace_back("dst_port");
    if (m.payload) needs_header.emplace_back("payload");
    if (!needs_header.empty()) {
      node.fail("non-first fragments carry no UDP header, so fragment non_first with " +
                join_and(needs_header) + " can never match");
    }
  }
  return m;
}

Action RuleCollector::parse_action(const YamlNode& node) const {
  Action action;
  if (node.is_map()) {
    node.expect_map({"forward", "rate_limit"});
    const std::optional<YamlNode> forward = node.get("forward");
    const std::optional<YamlNode> limit = node.get("rate_limit");
    if (forward && limit) node.fail("give forward or rate_limit, not both");
    if (forward) {
      action.kind = ActionKind::forward;
      action.port = resolve_port(*forward);
      action.port_name = forward->as_string();
    } else if (limit) {
      action.kind = ActionKind::rate_limit;
      action.rate_limit = parse_rate_limit(*limit);
    } else {
      node.fail("expected {forward: PORT} or {rate_limit: ...}");
    }
    return action;
  }
  if (!node.is_scalar()) {
    node.fail(std::string("expected ") + kActionForms + ", got " + node.describe());
  }
  const std::string word = node.as_string();
  if (word == "drop") {
    action.kind = ActionKind::drop;
  } else if (word == "forward") {
    action.kind = ActionKind::forward;
  } else {
    node.fail("'" + word + "' is not an action; expected " + kActionForms);
  }
  return action;
}

Rule RuleCollector::parse_rule(const YamlNode& node) const {
  node.expect_map({"id", "match", "action", "note"});
  Rule rule;
  rule.where = node.location();
  rule.id = validate_rule_id(node.require("id"));
  if (const std::optional<YamlNode> match = node.get("match")) rule.match = parse_match(*match);
  rule.action = parse_action(node.require("action"));
  if (const std::optional<YamlNode> note = node.get("note")) rule.note = validate_note(*note);
  return rule;
}

}  // namespace udpsieve::rules
