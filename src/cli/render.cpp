#include "udpsieve/cli/render.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "udpsieve/cli/duration.hpp"
#include "udpsieve/cli/rule_commands.hpp"
#include "udpsieve/common/classifier_text.hpp"
#include "udpsieve/common/human_rate.hpp"
#include "udpsieve/common/stats_schema.hpp"

namespace udpsieve::cli {
namespace {

using nlohmann::json;

/// A number, or a rate such as "2.50 M" (human_rate): right-aligned in tables.
bool is_number(const std::string& cell) {
  std::string_view digits = cell;
  if (digits.size() > 2 && digits[digits.size() - 2] == ' ' &&
      (digits.back() == 'k' || digits.back() == 'M' || digits.back() == 'G')) {
    digits.remove_suffix(2);
  }
  return !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-';
  });
}

/// A JSON value as a table cell.
std::string cell(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "-";
  if (value.is_number_float()) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.1f", value.get<double>());
    return buffer;
  }
  if (value.is_array()) {
    std::string joined;
    for (const json& element : value)
      joined += (joined.empty() ? "" : ",") + cell(element);
    return joined.empty() ? "-" : joined;
  }
  return value.dump();
}

std::string value_or(const json& object, const char* key) {
  return object.contains(key) ? cell(object[key]) : "-";
}

/// ", prefix sets kept" of a reload's reply that kept the sets, with the set files' changes
/// applied to them when there were some; "" when it built them afresh.
std::string sets_kept_text(const json& reply) {
  if (!reply.value("sets_kept", false)) return "";
  const json changes = reply.value("set_file_changes", json::object());
  const auto added = changes.value("added", std::size_t{0});
  const auto removed = changes.value("removed", std::size_t{0});
  if (added == 0 && removed == 0) return ", prefix sets kept";
  return ", prefix sets kept with their files' changes (" + std::to_string(added) + " added, " +
         std::to_string(removed) + " taken out)";
}

/// A runtime rule's expires_in_s as "9m58s"; "-" for a permanent or file rule.
std::string expires_cell(const json& expires_in_s) {
  if (!expires_in_s.is_number()) return "-";
  const double seconds = expires_in_s.get<double>();
  return format_duration(seconds > 0 ? static_cast<uint64_t>(std::floor(seconds)) : 0);
}

std::string render_stats(const json& reply) {
  std::string out;
  const json& totals = reply.at("totals");
  char header[160];
  std::snprintf(header, sizeof header, "uptime %.1f s", reply.value("uptime_s", 0.0));
  out += header;
  if (reply.contains("rates")) {
    const json& rates = reply["rates"];
    out += "   rx " + human_rate(rates.value("rx_pps", 0.0)) + "pps";
    out += "  forwarded " + human_rate(rates.value("forwarded_pps", 0.0)) + "pps";
    out += "  dropped " + human_rate(rates.value("dropped_pps", 0.0)) + "pps";
    out += "  rx " + human_rate(rates.value("rx_bps", 0.0)) + "bit/s";
  }
  out += "\n\n";

  const json rates = reply.value("rates", json::object());
  TextTable summary;
  summary.add_row({"totals", "packets", "bytes", "pps", "pps 10s", "bit/s"});
  const auto total_row = [&](const char* name, const std::string& packets, const std::string& bytes,
                             const json& rate) {
    summary.add_row(
        {name, packets, bytes, rate_cell(rate, "rate_pps"), rate_cell(rate, "rate_pps_10s"),
         rate.is_object() && rate.contains("rate_bps") ? rate_cell(rate, "rate_bps") : ""});
  };
  total_row("rx", value_or(totals, "rx_packets"), value_or(totals, "rx_bytes"),
            json_at(rates, {"rx"}));
  total_row("forwarded", value_or(totals, "forwarded_packets"), value_or(totals, "forwarded_bytes"),
            json_at(rates, {"forwarded"}));
  total_row("dropped", value_or(totals, "dropped_packets"), "", json_at(rates, {"dropped"}));
  for (const StatDesc& reason : kDropReasons) {
    const std::string name(reason.name);
    total_row(("  " + name).c_str(),
              totals.contains("drops") ? value_or(totals["drops"], name.c_str()) : "-", "",
              json_at(rates, {"drops", name.c_str()}));
  }
  out += summary.str() + "\n";

  TextTable ports;
  ports.add_row({"port", "rx_packets", "tx_packets", "rx pps", "tx pps", "rx_missed", "rx_errors"});
  for (const json& port : reply.value("ports", json::array())) {
    ports.add_row({value_or(port, "name"), value_or(port, "rx_packets"),
                   value_or(port, "tx_packets"),
                   rate_cell(json_at(port, {"rates", "rx"}), "rate_pps"),
                   rate_cell(json_at(port, {"rates", "tx"}), "rate_pps"),
                   value_or(port, "rx_missed"), value_or(port, "rx_errors")});
  }
  out += ports.str() + "\n";

  TextTable workers;
  workers.add_row({"worker lcore", "rx_packets", "forwarded_packets", "dropped_packets"});
  for (const json& worker : reply.value("workers", json::array())) {
    workers.add_row({value_or(worker, "lcore"), value_or(worker, "rx_packets"),
                     value_or(worker, "forwarded_packets"), value_or(worker, "dropped_packets")});
  }
  out += workers.str();

  const json rules = reply.value("rules", json::array());
  if (!rules.empty()) {
    TextTable table;
    table.add_row({"rule", "packets", "bytes", "pps", "limited"});
    for (const json& rule : rules) {
      table.add_row({value_or(rule, "id"), value_or(rule, "packets"), value_or(rule, "bytes"),
                     rate_cell(rule, "rate_pps"),
                     rule.contains("limited") ? value_or(rule, "limited") : ""});
    }
    out += "\n" + table.str();
    // stats lists the busiest rules only.
    const uint64_t total = reply.value("rules_total", uint64_t{0});
    if (total > rules.size()) {
      out += "... and " + std::to_string(total - rules.size()) +
             " more rule(s) (the busiest are shown; udpsievectl rules --top N, or rules, lists "
             "them)\n";
    }
  }
  return out;
}

std::string render_ports(const json& reply) {
  TextTable table;
  table.add_row({"port", "device", "driver", "socket", "link", "mtu", "queues", "descriptors",
                 "rss", "forward_to", "rx_packets", "tx_packets"});
  for (const json& port : reply.at("ports")) {
    const json link = port.value("link", json::object());
    std::string link_text = link.value("up", false) ? "up" : "down";
    if (link.value("up", false)) link_text += " " + cell(link.value("speed_mbps", json()));
    const json counters = port.value("counters", json::object());
    table.add_row({value_or(port, "name"), value_or(port, "device"), value_or(port, "driver"),
                   value_or(port, "socket"), link_text, value_or(port, "mtu"),
                   value_or(port, "rx_queues") + "/" + value_or(port, "tx_queues"),
                   value_or(port, "rx_descriptors") + "/" + value_or(port, "tx_descriptors"),
                   port.value("rss", false) ? "on" : "off", value_or(port, "forward_to"),
                   value_or(counters, "rx_packets"), value_or(counters, "tx_packets")});
  }
  return table.str();
}

namespace {

/// A worker's heartbeat age for the table: "3 ms", or "-" when unknown.
std::string heartbeat_cell(const json& worker) {
  const json age = worker.value("heartbeat_age_ms", json());
  if (!age.is_number()) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.0f ms", age.get<double>());
  return text;
}

}  // namespace

std::string render_workers(const json& reply) {
  TextTable table;
  std::vector<std::string> header = {"lcore",           "cpu",        "socket",
                                     "queues",          "rx_packets", "forwarded_packets",
                                     "dropped_packets", "polls_busy", "polls_idle",
                                     "heartbeat_age"};
  table.add_row(header);
  for (const json& worker : reply.at("workers")) {
    std::string queues;
    for (const json& q : worker.value("rx_queues", json::array())) {
      queues += (queues.empty() ? "" : ",") + value_or(q, "port") + ":" + value_or(q, "queue");
    }
    table.add_row({value_or(worker, "lcore"), value_or(worker, "cpu"), value_or(worker, "socket"),
                   queues, value_or(worker, "rx_packets"), value_or(worker, "forwarded_packets"),
                   value_or(worker, "dropped_packets"), value_or(worker, "polls_busy"),
                   value_or(worker, "polls_idle"), heartbeat_cell(worker)});
  }
  return table.str();
}

std::string render_rules(const json& reply) {
  std::string out = "default_action " + value_or(reply, "default_action") + ", non_udp " +
                    value_or(reply, "non_udp") + ", generation " + value_or(reply, "generation") +
                    "\n";
  if (reply.contains("classifier")) {
    const json& c = reply["classifier"];
    // "(1 hashed, 1 by prefix)" where some lookups are hashed (exact_lookup.hpp) or prefix
    // searches (prefix_lookup.hpp); older daemons say nothing.
    const auto count = [&](const std::string& key) -> uint64_t {
      return c.contains(key) && c[key].is_number_unsigned() ? c[key].get<uint64_t>() : 0;
    };
    const auto hashed = [&](const char* family) {
      return common::lookup_kinds(count(std::string("exact_") + family),
                                  count(std::string("prefix_") + family));
    };
    out += "classifier " + value_or(c, "algorithm") + ": " + value_or(c, "entries_v4") +
           " IPv4 entries in " + value_or(c, "contexts_v4") + " lookup(s)" + hashed("v4") + ", " +
           value_or(c, "entries_v6") + " IPv6 entries in " + value_or(c, "contexts_v6") +
           " lookup(s)" + hashed("v6") + ", " + value_or(c, "memory_bytes") + " bytes, built in " +
           value_or(c, "build_ms") + " ms\n";
  }
  if (reply.contains("reload")) {
    const json& r = reply["reload"];
    out += "reloads: " + value_or(r, "applied") + " applied, " + value_or(r, "refused") +
           " refused; last " + value_or(r, "last_result") +
           (r.value("last_at", std::string()).empty() ? "" : " at " + value_or(r, "last_at")) +
           " (compile " + value_or(r, "compile_ms") + " ms, swap " + value_or(r, "swap_us") +
           " us)\n";
  }
  for (const json& file : reply.value("files", json::array()))
    out += "file " + cell(file) + "\n";
  if (reply.contains("dynamic")) {
    const json& dynamic = reply["dynamic"];
    out += dynamic.value("count", 0) == 0
               ? std::string("runtime rules: none\n")
               : "runtime rules: " + value_or(dynamic, "count") + ", from #" +
                     value_or(dynamic, "at") + " in first-match order\n";
  }
  out += "\n";
  TextTable table;
  table.add_row({"#", "id", "source", "expires", "match", "action", "packets", "pps", "pps 10s",
                 "bytes", "limited"});
  for (const json& rule : reply.at("rules")) {
    std::string match;
    const json fields = rule.value("match", json::object());
    for (const auto& [key, value] : fields.items()) {
      match += (match.empty() ? "" : " ") + key + "=" +
               (value.is_object() ? value.value("value", std::string()) + "/" +
                                        value.value("mask", std::string()) + "@" +
                                        cell(value.value("offset", json()))
                                  : cell(value));
    }
    table.add_row({value_or(rule, "index"), value_or(rule, "id"), value_or(rule, "source"),
                   expires_cell(rule.value("expires_in_s", json())), match.empty() ? "any" : match,
                   value_or(rule, "action"), value_or(rule, "packets"), rate_cell(rule, "rate_pps"),
                   rate_cell(rule, "rate_pps_10s"), value_or(rule, "bytes"),
                   value_or(rule, "limited")});
  }
  return out + table.str();
}

/// Per port: whether the NIC takes flow rules, then each drop and steering rule's fate.
std::string render_steering(const json& reply) {
  std::string out;
  for (const json& port : reply.at("ports")) {
    out += "port " + value_or(port, "name") + ": offload " + value_or(port, "offload") +
           ", isolate " + value_or(port, "isolate") + ", rte_flow " +
           (port.value("rte_flow", false) ? std::string("yes")
                                          : "no (" + value_or(port, "rte_flow_reason") + ")") +
           "\n";
    TextTable table;
    table.add_row({"id", "kind", "in NIC", "hw_packets", "why not"});
    for (const json& rule : port.value("rules", json::array())) {
      std::string kind = value_or(rule, "kind");
      if (rule.contains("worker")) kind += " -> lcore " + value_or(rule, "worker");
      table.add_row({value_or(rule, "id"), kind, rule.value("offloaded", false) ? "yes" : "no",
                     value_or(rule, "hw_packets"), value_or(rule, "reason")});
    }
    out += table.str("  ") + "\n";
  }
  return out;
}

/// 623411 as "623,411".
std::string grouped(uint64_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

/// A talkers verdict as words: "dropped packets".
std::string verdict_words(const std::string& verdict) {
  if (verdict == "drop") return "dropped packets";
  if (verdict == "forward") return "forwarded packets";
  return verdict + " packets";
}

/// set-add, set-del, set-flush: one line saying what changed and what the set holds now.
std::string render_set_change(const std::string& command, const json& reply) {
  std::string out = "set " + value_or(reply, "set") + ": ";
  if (command == "set-add") {
    out += value_or(reply, "added") + " added, " + value_or(reply, "already_present") +
           " already present";
  } else if (command == "set-del") {
    out += value_or(reply, "removed") + " removed, " + value_or(reply, "missing") + " not present";
  } else {
    return out + value_or(reply, "removed") + " prefix(es) removed\n";
  }
  return out + "; holds " + value_or(reply, "prefixes_v4") + " IPv4 and " +
         value_or(reply, "prefixes_v6") + " IPv6 prefix(es), " +
         value_or(reply, "runtime_entries") + " added at runtime\n";
}

std::string render_set_list(const json& reply) {
  TextTable table;
  table.add_row({"prefix", "from", "expires"});
  for (const json& row : reply.at("prefixes")) {
    std::string from;
    if (row.value("file", false)) from = "file";
    if (row.value("runtime", false)) from += from.empty() ? "runtime" : "+runtime";
    table.add_row({value_or(row, "prefix"), from, value_or(row, "expires_at")});
  }
  std::string out = "set " + value_or(reply, "set") + ": " + value_or(reply, "prefixes_v4") +
                    " IPv4 and " + value_or(reply, "prefixes_v6") + " IPv6 prefix(es), " +
                    value_or(reply, "runtime_entries") + " added at runtime\n" + table.str("");
  if (reply.value("truncated", false)) out += "(more not shown: --limit N lists up to N)\n";
  return out;
}

}  // namespace

json json_at(const json& object, std::initializer_list<const char*> path) {
  const json* at = &object;
  for (const char* key : path) {
    if (!at->is_object() || !at->contains(key)) return nullptr;
    at = &(*at)[key];
  }
  return *at;
}

std::string talkers_heading(const json& talkers) {
  std::string out = "talkers by " + value_or(talkers, "by") + ", " +
                    verdict_words(talkers.value("verdict", std::string("all")));
  if (!talkers.contains("window_s")) return out;
  const std::string sampling = value_or(talkers, "sampling");
  std::string which = (sampling == "1" ? "every packet" : "1 in " + sampling) + " sampled";
  // Where a worker's packet rate met the bound, its samples stood for more packets each.
  const double effective = talkers.value("effective_sampling", 0.0);
  if (effective > 1.05 * talkers.value("sampling", 0.0) && effective < 1e9) {
    which = "1 in ~" + grouped(static_cast<uint64_t>(effective + 0.5)) + " sampled, capped at " +
            grouped(talkers.value("max_sample_rate", uint64_t{0})) + "/s per worker";
  }
  char window[160];
  std::snprintf(window, sizeof window,
                ", last %.3g s (%s, %s samples): ", talkers.value("window_s", 0.0), which.c_str(),
                grouped(talkers.value("sampled", uint64_t{0})).c_str());
  return out + window + human_rate(talkers.value("pps", 0.0)) + "pps";
}

std::string talkers_text(const json& reply, std::size_t rows) {
  std::string out = talkers_heading(reply) + "\n";
  const auto& talkers = reply.at("talkers").get_ref<const json::array_t&>();
  if (talkers.empty()) return out + "(no packets were sampled in the window)\n";
  const bool rules = reply.value("by", std::string()) == "rule";
  TextTable table;
  std::vector<std::string> header = {"#", value_or(reply, "by")};
  if (rules) header.emplace_back("source");
  header.insert(header.end(), {"pps", "+/-", "share %"});
  table.add_row(std::move(header));
  table.keep_left(1);  // keys and sources are text, even "53" or "-"
  if (rules) table.keep_left(2);
  std::size_t rank = 0;
  for (const json& talker : talkers) {
    if (rank == rows) break;
    std::vector<std::string> row = {std::to_string(++rank), value_or(talker, "key")};
    if (rules) row.push_back(value_or(talker, "source"));
    char share[32] = "-";
    if (talker.contains("share") && talker["share"].is_number()) {
      std::snprintf(share, sizeof share, "%.1f", talker["share"].get<double>() * 100);
    }
    row.insert(row.end(), {rate_cell(talker, "pps"), rate_cell(talker, "error_pps"), share});
    table.add_row(std::move(row));
  }
  return out + table.str();
}

std::string rate_cell(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_number()) return "-";
  std::string text = human_rate(object[key].get<double>());
  if (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

void TextTable::add_row(std::vector<std::string> cells) {
  rows_.push_back(std::move(cells));
}

void TextTable::keep_left(std::size_t column) {
  if (left_.size() <= column) left_.resize(column + 1, false);
  left_[column] = true;
}

std::string TextTable::str(const std::string& indent) const {
  std::vector<std::size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (std::size_t r = 0; r < rows_.size(); ++r) {
    std::string line = indent;
    for (std::size_t i = 0; i < rows_[r].size(); ++i) {
      const std::string& text = rows_[r][i];
      const std::string pad(widths[i] - text.size(), ' ');
      if (i != 0) line += "  ";
      const bool left = i < left_.size() && left_[i];
      line += (r != 0 && !left && is_number(text)) ? pad + text : text + pad;
    }
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string render(const std::string& command, const nlohmann::json& reply) {
  try {
    if (command == "stats") return render_stats(reply);
    if (command == "ports") return render_ports(reply);
    if (command == "workers") return render_workers(reply);
    if (command == "rules") return render_rules(reply);
    if (command == "talkers") return talkers_text(reply, SIZE_MAX);
    if (command == "rule-add") return render_rule_add(reply);
    if (command == "rule-del") return render_rule_del(reply);
    if (command == "steering") return render_steering(reply);
    if (command == "set-list") return render_set_list(reply);
    if (command.starts_with("set-")) return render_set_change(command, reply);
    if (command == "reload") {
      std::string out;
      for (const json& w : reply.value("warnings", json::array()))
        out += "warning: " + cell(w) + "\n";
      char timing[160];
      std::snprintf(timing, sizeof timing,
                    "load %.1f ms, compile %.1f ms, swap %s us, total %.1f ms",
                    reply.value("load_ms", 0.0), reply.value("compile_ms", 0.0),
                    value_or(reply, "swap_us").c_str(), reply.value("total_ms", 0.0));
      const std::size_t unchanged = reply.value("files_unchanged", std::size_t{0});
      const bool rebuilt = reply.value("rules_rebuilt", true);
      return out + "reload applied: " + value_or(reply, "rules") + " rule(s) from " +
             std::to_string(reply.value("files", json::array()).size()) + " file(s)" +
             (unchanged == 0 ? ""
                             : " (" + std::to_string(unchanged) + " unchanged" +
                                   (rebuilt ? "" : ", nothing rebuilt") + ")") +
             sets_kept_text(reply) + ", generation " + value_or(reply, "generation") + "; " +
             timing + "\n";
    }
    if (command == "check") {
      std::string out;
      for (const json& w : reply.value("warnings", json::array()))
        out += "warning: " + cell(w) + "\n";
      const json classifier = reply.value("classifier", json::object());
      char timing[120];
      std::snprintf(timing, sizeof timing, "load %.1f ms, compile %.1f ms",
                    reply.value("load_ms", 0.0), reply.value("compile_ms", 0.0));
      return out + "OK: " + value_or(reply, "rules") + " rule(s) in " +
             std::to_string(reply.value("files", json::array()).size()) + " file(s); classifier " +
             value_or(classifier, "algorithm") + ", " + value_or(classifier, "entries") +
             " entries, " + value_or(classifier, "memory_bytes") + " bytes; " + timing + "\n";
    }
    // The exposition verbatim: what a Prometheus scrape of control.metrics_listen gets.
    if (command == "metrics") return reply.at("metrics").get<std::string>();
    if (command == "version") {
      return value_or(reply, "name") + " " + value_or(reply, "version") + " (" +
             value_or(reply, "dpdk") + ")\n";
    }
  } catch (const nlohmann::json::exception&) {
    // An unexpected shape: show it as it is.
  }
  return reply.dump(2) + "\n";
}

}  // namespace udpsieve::cli
