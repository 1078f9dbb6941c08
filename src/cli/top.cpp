#include "udpsieve/cli/top.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "udpsieve/cli/args.hpp"
#include "udpsieve/cli/render.hpp"
#include "udpsieve/common/decimal.hpp"
#include "udpsieve/common/protocol.hpp"
#include "udpsieve/common/stats_schema.hpp"

namespace udpsieve::cli {
namespace {

using nlohmann::json;

const char* sort_name(TopView::Sort sort) {
  switch (sort) {
    case TopView::Sort::rate:
      return "pps";
    case TopView::Sort::rate_10s:
      return "pps 10s";
    case TopView::Sort::packets:
      return "packets";
  }
  return "";
}

const char* rules_name(TopView::Rules rules) {
  switch (rules) {
    case TopView::Rules::all:
      return "all rules";
    case TopView::Rules::drop:
      return "rules that drop";
    case TopView::Rules::forward:
      return "rules that forward";
  }
  return "";
}

/// Whether a rule (its `action` text: drop, forward, rate_limit:...) belongs in the view. A
/// rate limit both forwards and drops, so it is in both views.
bool in_view(const json& rule, TopView::Rules rules) {
  if (rules == TopView::Rules::all) return true;
  const std::string action = rule.value("action", std::string());
  if (action.rfind("rate_limit", 0) == 0) return true;
  return rules == TopView::Rules::drop ? action == "drop" : action == "forward";
}

std::string uptime_text(double seconds) {
  const auto s = static_cast<uint64_t>(seconds);
  char text[48];
  if (s >= 86400) {
    std::snprintf(text, sizeof text, "%llud%02lluh", static_cast<unsigned long long>(s / 86400),
                  static_cast<unsigned long long>(s % 86400 / 3600));
  } else {
    std::snprintf(
        text, sizeof text, "%02llu:%02llu:%02llu", static_cast<unsigned long long>(s / 3600),
        static_cast<unsigned long long>(s % 3600 / 60), static_cast<unsigned long long>(s % 60));
  }
  return text;
}

/// A rate with its unit: "29.72 Mpps", "0 pps".
std::string with_unit(const json& rate, const char* key, const char* unit) {
  const std::string cell = rate_cell(rate, key);
  const bool scaled =
      !cell.empty() && (cell.back() == 'k' || cell.back() == 'M' || cell.back() == 'G');
  return cell + (scaled ? "" : " ") + unit;
}

void add_lines(std::vector<std::string>& lines, const std::string& text) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
}

/// The talkers of the packets a rules view is about: the rules that drop, the dropped packets.
const char* talkers_verdict(TopView::Rules rules) {
  switch (rules) {
    case TopView::Rules::drop:
      return "drop";
    case TopView::Rules::forward:
      return "forward";
    case TopView::Rules::all:
      break;
  }
  return "all";
}

/// The talkers section with at most `rows` talkers; one line when the daemon answered with an
/// error (sampling off, a daemon older than the command) or a reply top cannot read.
std::vector<std::string> talkers_lines(const json& talkers, const TopView& view, std::size_t rows) {
  const std::string title = talkers_heading(top_talkers_request(view)) + ": ";
  if (talkers.contains("error")) {
    const json& error = talkers["error"];
    const std::string text = error.is_string() ? error.get<std::string>() : error.dump();
    if (text.rfind("unknown command", 0) == 0) {
      return {title + "this udpsieved does not offer them (it is older than udpsievectl)"};
    }
    return {title + text};
  }
  std::vector<std::string> lines;
  try {
    add_lines(lines, talkers_text(talkers, rows));
  } catch (const json::exception&) {
    return {title + "the daemon's reply has an unexpected shape (udpsievectl talkers --json)"};
  }
  return lines;
}

}  // namespace

TopOptions parse_top(std::span<const std::string> args) {
  TopOptions options;
  ArgReader reader("top", args);
  while (reader.next()) {
    std::string value;
    uint64_t n = 0;
    if (reader.flag("--once")) {
      options.once = true;
    } else if (reader.option("--interval", value)) {
      if (parse_decimal(value, 3600, n) != DecimalResult::ok || n == 0) {
        reader.fail("--interval: whole seconds from 1 to 3600, got '" + value + "'");
      }
      options.interval = std::chrono::seconds(n);
    } else if (reader.option("--rules", value)) {
      options.rules = reader.number("--rules", value, 1, 1000);
    } else {
      reader.reject();
    }
  }
  return options;
}

json top_rules_request(const TopView& view, std::size_t count) {
  // A view of some rules filters the busiest few times as many as it shows.
  const std::size_t wanted = std::min<std::size_t>(
      protocol::kMaxRulesPage, view.rules == TopView::Rules::all ? count : count * 5 + 50);
  return {{"cmd", "rules"},
          {"top", wanted},
          {"limit", wanted},
          {"by", std::string(protocol::kRuleRankings[static_cast<std::size_t>(view.sort)])}};
}

json top_talkers_request(const TopView& view) {
  return {{"cmd", "talkers"},
          {"by", std::string(protocol::kTalkerKinds[static_cast<std::size_t>(view.talkers)])},
          {"verdict", talkers_verdict(view.rules)},
          {"top", kTopTalkers}};
}

std::vector<std::string> top_frame(const json& stats, const json& rules, const json& talkers,
                                   const TopView& view, std::size_t count, std::size_t height) {
  std::vector<std::string> lines;
  lines.push_back("udpsieved up " + uptime_text(stats.value("uptime_s", 0.0)) + "   rules by " +
                  sort_name(view.sort) + ", " + rules_name(view.rules) +
                  "   keys: s sort, d drop, f forward, a all, t talkers, q quit");
  const json rx = json_at(stats, {"rates", "rx"});
  const json forwarded = json_at(stats, {"rates", "forwarded"});
  const json dropped = json_at(stats, {"rates", "dropped"});
  lines.push_back("rx " + with_unit(rx, "rate_pps", "pps") + " " +
                  with_unit(rx, "rate_bps", "bit/s") + "   forwarded " +
                  with_unit(forwarded, "rate_pps", "pps") + " " +
                  with_unit(forwarded, "rate_bps", "bit/s") + "   dropped " +
                  with_unit(dropped, "rate_pps", "pps") + "   (10 s: rx " +
                  with_unit(rx, "rate_pps_10s", "pps") + ", dropped " +
                  with_unit(dropped, "rate_pps_10s", "pps") + ")");
  std::string reasons = "drops/s:";
  for (const StatDesc& reason : kDropReasons) {
    const std::string name(reason.name);
    reasons +=
        "  " + name + " " + rate_cell(json_at(stats, {"rates", "drops", name.c_str()}), "rate_pps");
  }
  lines.push_back(reasons);
  lines.emplace_back();

  TextTable ports;
  ports.add_row({"port", "rx pps", "rx bit/s", "tx pps", "tx bit/s", "rx_missed", "rx_errors"});
  for (const json& port : stats.value("ports", json::array())) {
    const json port_rx = json_at(port, {"rates", "rx"});
    const json port_tx = json_at(port, {"rates", "tx"});
    ports.add_row({port.value("name", std::string("-")), rate_cell(port_rx, "rate_pps"),
                   rate_cell(port_rx, "rate_bps"), rate_cell(port_tx, "rate_pps"),
                   rate_cell(port_tx, "rate_bps"),
                   std::to_string(port.value("rx_missed", uint64_t{0})),
                   std::to_string(port.value("rx_errors", uint64_t{0}))});
  }
  add_lines(lines, ports.str());
  lines.emplace_back();

  std::vector<json> shown;  // the view's rules
  for (const json& rule : rules.value("rules", json::array())) {
    if (shown.size() == count) break;
    if (in_view(rule, view.rules)) shown.push_back(rule);
  }
  const json list = json_at(talkers, {"talkers"});
  std::size_t rule_rows = shown.size();
  std::size_t talker_rows = list.is_array() ? std::min(list.size(), kTopTalkers) : 0;
  if (height > 0) {
    // Drawn whatever fits: the lines so far, the rules table's header (and its "(no ...)"
    // line), the blank line, the talkers' heading and table header (or their one-line note).
    const std::size_t taken =
        lines.size() + 1 + (shown.empty() ? 1 : 0) + 1 + talkers_lines(talkers, view, 0).size();
    const std::size_t spare = height > taken ? height - taken : 0;
    const std::size_t kept = std::min({rule_rows, kTopRulesKept, spare});
    talker_rows = std::min(talker_rows, spare - kept);
    rule_rows = std::min(rule_rows, spare - talker_rows);
  }

  TextTable table;
  table.add_row({"rule", "source", "action", "pps", "pps 10s", "bit/s", "packets", "limited"});
  for (std::size_t i = 0; i < rule_rows; ++i) {
    const json& rule = shown[i];
    table.add_row(
        {rule.value("id", std::string("-")), rule.value("source", std::string("-")),
         rule.value("action", std::string("-")), rate_cell(rule, "rate_pps"),
         rate_cell(rule, "rate_pps_10s"), rate_cell(rule, "rate_bps"),
         std::to_string(rule.value("packets", uint64_t{0})),
         rule.contains("limited") ? std::to_string(rule.value("limited", uint64_t{0})) : ""});
  }
  add_lines(lines, table.str());
  if (shown.empty()) lines.push_back("(no " + std::string(rules_name(view.rules)) + ")");
  lines.emplace_back();
  for (std::string& line : talkers_lines(talkers, view, talker_rows))
    lines.push_back(std::move(line));
  return lines;
}

bool top_key(int key, TopView& view) {
  switch (key) {
    case 'q':
    case 'Q':
      return false;
    case 's':
      view.sort = static_cast<TopView::Sort>((static_cast<std::size_t>(view.sort) + 1) %
                                             protocol::kRuleRankings.size());
      break;
    case 'd':
      view.rules = TopView::Rules::drop;
      break;
    case 'f':
      view.rules = TopView::Rules::forward;
      break;
    case 'a':
      view.rules = TopView::Rules::all;
      break;
    case 't':
      view.talkers = static_cast<TopView::Talkers>((static_cast<std::size_t>(view.talkers) + 1) %
                                                   protocol::kTalkerKinds.size());
      break;
    default:
      break;
  }
  return true;
}

}  // namespace udpsieve::cli
