#include "udpsieve/cli/rule_commands.hpp"

#include <cstdio>
#include <ctime>
#include <utility>

#include "udpsieve/cli/args.hpp"
#include "udpsieve/cli/duration.hpp"
#include "udpsieve/common/config_error.hpp"
#include "udpsieve/common/decimal.hpp"
#include "udpsieve/common/protocol.hpp"

namespace udpsieve::cli {
namespace {

using nlohmann::json;

/// Ids shown in one line of output; the rest are counted (--json has them all).
constexpr std::size_t kIdsShown = 10;

constexpr uint64_t kMaxPort = 65535;

json request_for(std::string_view command) {
  return json{{std::string(protocol::kCommandKey), command}};
}

/// `--dst-port`: a port (as a number) or a range "FIRST-LAST" (as text, as a rule file has it).
json parse_port(const ArgReader& reader, const std::string& text) {
  const std::size_t dash = text.find('-');
  const std::string_view whole(text);
  uint64_t first = 0;
  uint64_t last = 0;
  const bool ok = parse_decimal(whole.substr(0, dash), kMaxPort, first) == DecimalResult::ok &&
                  (dash == std::string::npos ||
                   (parse_decimal(whole.substr(dash + 1), kMaxPort, last) == DecimalResult::ok &&
                    first <= last));
  if (!ok) {
    reader.fail("--dst-port: '" + text +
                "' is not a port (0-65535) or a port range like 1024-65535");
  }
  if (dash == std::string::npos) return first;
  return text;
}

/// `--ttl DURATION` in seconds; a bad one fails as the command's usage error.
uint64_t parse_ttl(const ArgReader& reader, const std::string& text) {
  try {
    return parse_duration(text, "--ttl");
  } catch (const UsageError& e) {
    reader.fail(e.what());
  }
}

/// "a, b, c" or "a, b, ... (and 12 more)".
std::string join_ids(const json& ids) {
  std::string out;
  std::size_t shown = 0;
  for (const json& id : ids) {
    if (shown == kIdsShown) {
      out += " (and " + std::to_string(ids.size() - shown) + " more)";
      break;
    }
    out += (shown++ == 0 ? "" : ", ") + (id.is_string() ? id.get<std::string>() : id.dump());
  }
  return out;
}

/// "N rule(s): a, b".
std::string counted_ids(const json& ids) {
  std::string out = std::to_string(ids.size()) + " rule(s)";
  if (!ids.empty()) out += ": " + join_ids(ids);
  return out;
}

/// " (generation 7, applied in 1.2 ms)".
std::string applied(const json& reply) {
  std::string out = " (generation " +
                    (reply.contains("generation") ? reply["generation"].dump() : std::string("-"));
  if (reply.contains("apply_ms") && reply["apply_ms"].is_number()) {
    char ms[48];
    std::snprintf(ms, sizeof ms, ", applied in %.1f ms", reply["apply_ms"].get<double>());
    out += ms;
  }
  return out + ")";
}

/// "expires 2026-12-04T20:40:00Z" or "permanent".
std::string expiry(const json& reply) {
  const json at = reply.value("expires_at", json());
  return at.is_string() ? "expires " + at.get<std::string>() : std::string("permanent");
}

/// Follows a key path like ".match.dst_port[0]" from `node` as far as the file has it.
YamlNode follow(YamlNode node, std::string_view path) {
  while (!path.empty()) {
    if (path.front() == '.') {
      path.remove_prefix(1);
      const std::size_t end = path.find_first_of(".[");
      const std::string_view key = path.substr(0, end);
      if (!node.is_map()) return node;
      const std::optional<YamlNode> child = node.get(key);
      if (!child) return node;
      node = *child;
      path.remove_prefix(key.size());
    } else if (path.front() == '[') {
      const std::size_t close = path.find(']');
      uint64_t index = 0;
      if (close == std::string_view::npos ||
          parse_decimal(path.substr(1, close - 1), UINT32_MAX, index) != DecimalResult::ok) {
        return node;
      }
      if (node.is_sequence()) {
        const std::vector<YamlNode> items = node.items();
        if (index >= items.size()) return node;
        node = items[index];
      } else if (index != 0) {
        return node;  // element 0 of a single value written without a list (`src: 10.0.0.0/8`)
      }
      path.remove_prefix(close + 1);
    } else {
      return node;
    }
  }
  return node;
}

}  // namespace

RuleAddOptions parse_rule_add(std::span<const std::string> args) {
  ArgReader reader("rule add", args);
  RuleAddOptions options;
  std::vector<std::string> files;
  while (reader.next()) {
    std::string value;
    if (reader.option("--ttl", value)) {
      options.ttl_s = parse_ttl(reader, value);
    } else if (reader.flag("--replace")) {
      options.replace = true;
    } else if (reader.operand()) {
      files.push_back(reader.current());
    } else {
      reader.reject();
    }
  }
  if (files.empty()) reader.fail("a rule file is required (FILE, or - for stdin)");
  if (files.size() > 1) {
    reader.fail("one rule file (FILE, or - for stdin), not " + std::to_string(files.size()) +
                ": '" + files[0] + "', '" + files[1] + "'");
  }
  options.file = files.front();
  return options;
}

RuleDelOptions parse_rule_del(std::span<const std::string> args) {
  ArgReader reader("rule del", args);
  RuleDelOptions options;
  while (reader.next()) {
    if (reader.flag("--missing-ok")) {
      options.missing_ok = true;
    } else if (reader.operand() && !reader.current().empty()) {
      options.ids.push_back(reader.current());
    } else {
      reader.reject();
    }
  }
  if (options.ids.empty()) reader.fail("the ids of the rules to delete are required (ID...)");
  return options;
}

BlockOptions parse_block(std::span<const std::string> args) {
  ArgReader reader("block", args);
  BlockOptions options;
  while (reader.next()) {
    std::string value;
    if (reader.option("--dst-port", value)) {
      options.dst_port = parse_port(reader, value);
    } else if (reader.option("--ttl", value)) {
      options.ttl_s = parse_ttl(reader, value);
    } else if (reader.option("--id", value)) {
      if (value.empty()) reader.fail("--id: an id is required");
      options.id = value;
    } else if (reader.operand() && !reader.current().empty() && reader.current() != "-") {
      options.prefixes.push_back(reader.current());
    } else {
      reader.reject();
    }
  }
  if (options.prefixes.empty()) {
    reader.fail(
        "the source prefixes to block are required (PREFIX..., like 203.0.113.7 or "
        "2001:db8::/32)");
  }
  return options;
}

RuleFile read_rule_file(const YamlNode& root) {
  if (root.is_null()) {
    root.fail("holds no rules; a rule file is a mapping with the key 'rules' holding a list");
  }
  if (!root.is_map()) {
    root.fail("a rule file must be a mapping with the key 'rules', got " + root.describe());
  }
  root.expect_map({"rules"});
  const std::optional<YamlNode> list = root.get("rules");
  if (!list) {
    throw ConfigError(root.location(), "rules", "missing or empty; give a list of rules");
  }
  if (!list->is_sequence()) list->fail("expected a list of rules, got " + list->describe());
  RuleFile file;
  file.entries = list->items();
  if (file.entries.empty()) list->fail("the list is empty; there are no rules to add");
  file.rules = list->to_json();
  return file;
}

RuleFile load_rule_file(const std::string& file, const std::function<std::string()>& read_stdin) {
  if (file == "-")
    return read_rule_file(YamlNode::load_string(read_stdin(), std::string(kStdinName)));
  return read_rule_file(YamlNode::load_file(file));
}

json rule_add_request(const RuleAddOptions& options, json rules) {
  json request = request_for("rule-add");
  request["rules"] = std::move(rules);
  if (options.ttl_s) request["ttl_s"] = *options.ttl_s;
  if (options.replace) request["replace"] = true;
  return request;
}

json rule_del_request(const RuleDelOptions& options) {
  json request = request_for("rule-del");
  request["ids"] = options.ids;
  if (options.missing_ok) request["missing_ok"] = true;
  return request;
}

json set_request(const std::string& command, const std::string& words,
                 std::span<const std::string> args) {
  ArgReader reader(words, args);
  json request = request_for(command);
  const bool takes_prefixes = command == "set-add" || command == "set-del";
  json prefixes = json::array();
  while (reader.next()) {
    std::string value;
    if (command == "set-add" && reader.option("--ttl", value)) {
      request["ttl_s"] = parse_ttl(reader, value);
    } else if (command == "set-del" && reader.flag("--missing-ok")) {
      request["missing_ok"] = true;
    } else if (command == "set-list" && reader.option("--limit", value)) {
      request["limit"] = reader.number("--limit", value, 1, protocol::kMaxSetListPage);
    } else if (reader.operand() && !reader.current().empty() && !request.contains("set")) {
      request["set"] = reader.current();
    } else if (takes_prefixes && reader.operand() && !reader.current().empty()) {
      prefixes.push_back(reader.current());
    } else {
      reader.reject();
    }
  }
  if (!request.contains("set")) reader.fail("the set's name is required (NAME)");
  if (takes_prefixes) {
    if (prefixes.empty()) {
      reader.fail("at least one prefix is required (PREFIX..., like 192.0.2.0/24 or 2001:db8::1)");
    }
    request["prefixes"] = std::move(prefixes);
  }
  return request;
}

json rules_request(std::span<const std::string> args, const std::string& words) {
  ArgReader reader(words, args);
  json request = request_for("rules");
  while (reader.next()) {
    std::string value;
    if (reader.option("--source", value)) {
      if (value.empty()) reader.fail("--source: a source is required (file, api, bgp, ...)");
      request["source"] = value;
    } else if (reader.option("--id", value)) {
      if (value.empty()) reader.fail("--id: a rule id is required");
      request["id"] = value;
    } else if (reader.option("--top", value)) {
      request["top"] = reader.number("--top", value, 1, protocol::kMaxRulesPage);
    } else if (reader.option("--by", value)) {
      request["by"] = reader.one_of("--by", value, protocol::kRuleRankings);
    } else if (reader.option("--limit", value)) {
      request["limit"] = reader.number("--limit", value, 1, protocol::kMaxRulesPage);
    } else if (reader.option("--offset", value)) {
      request["offset"] = reader.number("--offset", value, 0, UINT32_MAX);
    } else {
      reader.reject();
    }
  }
  if (request.contains("by") && !request.contains("top")) reader.fail("--by ranks --top N");
  // The N busiest in one reply.
  if (request.contains("top") && !request.contains("limit")) request["limit"] = request["top"];
  return request;
}

std::string block_id(std::chrono::system_clock::time_point now, uint16_t random) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char when[32];
  const std::size_t length = std::strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &utc);
  char tail[8];
  std::snprintf(tail, sizeof tail, "%04x", static_cast<unsigned>(random));
  return "block-" + std::string(when, length) + "-" + tail;
}

json block_request(const BlockOptions& options, std::chrono::system_clock::time_point now,
                   uint16_t random) {
  json match = {{"src", options.prefixes}};
  if (!options.dst_port.is_null()) match["dst_port"] = options.dst_port;
  json rule = {{"id", options.id.empty() ? block_id(now, random) : options.id},
               {"match", std::move(match)},
               {"action", "drop"}};
  RuleAddOptions add;
  add.ttl_s = options.ttl_s;
  return rule_add_request(add, json::array({std::move(rule)}));
}

std::string locate_rule_error(const std::string& error, const std::vector<YamlNode>& entries) {
  constexpr std::string_view kList = "rules[";
  // The daemon says "rule-add refused, nothing changed: rules[2]...": the key path follows
  // that prefix (or starts the message).
  constexpr std::string_view kRefused = "refused, nothing changed: ";
  std::size_t at = 0;
  if (const std::size_t refused = error.find(kRefused); refused != std::string::npos) {
    at = refused + kRefused.size();
  }
  if (error.compare(at, kList.size(), kList) != 0) return error;
  const std::string_view message = std::string_view(error).substr(at);
  const std::string_view path = message.substr(0, message.find(": "));
  const std::size_t close = path.find(']');
  uint64_t index = 0;
  if (close == std::string_view::npos ||
      parse_decimal(path.substr(kList.size(), close - kList.size()), UINT32_MAX, index) !=
          DecimalResult::ok ||
      index >= entries.size()) {
    return error;
  }
  return error.substr(0, at) +
         follow(entries[index], path.substr(close + 1)).location().to_string() + ": " +
         std::string(message);
}

std::string render_rule_add(const json& reply) {
  const json added = reply.value("added", json::array());
  const json replaced = reply.value("replaced", json::array());
  std::string out;
  if (!added.empty() || replaced.empty()) out += "added " + counted_ids(added);
  if (!replaced.empty())
    out += (out.empty() ? "" : "; ") + std::string("replaced ") + counted_ids(replaced);
  return out + "; " + expiry(reply) + applied(reply) + "\n";
}

std::string render_rule_del(const json& reply) {
  const json missing = reply.value("missing", json::array());
  std::string out = "deleted " + counted_ids(reply.value("deleted", json::array()));
  if (!missing.empty()) out += "; missing: " + join_ids(missing);
  return out + applied(reply) + "\n";
}

std::string render_block(const json& request, const json& reply) {
  const json& rule = request.at("rules").at(0);
  const json added = reply.value("added", json::array());
  std::string id = rule.value("id", std::string());
  if (!added.empty() && added[0].is_string()) id = added[0].get<std::string>();
  const json& match = rule.at("match");
  std::string text = "blocked " + id + ": " + join_ids(match.at("src"));
  if (match.contains("dst_port")) {
    const json& port = match["dst_port"];
    text += " dst_port " + (port.is_string() ? port.get<std::string>() : port.dump());
  }
  const json at = reply.value("expires_at", json());
  text += at.is_string() ? " (expires " + at.get<std::string>() + ")" : std::string(" (permanent)");
  return text + "\n";
}

}  // namespace udpsieve::cli
