#pragma once
/// Readable tables for udpsievectl, generated from the daemon's JSON replies.

#include <cstddef>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace udpsieve::cli {

/// Left-aligned text columns, numbers right-aligned; the first row is the header.
class TextTable {
 public:
  void add_row(std::vector<std::string> cells);
  /// Keeps column `column` left-aligned even where a cell looks like a number (addresses, ports).
  void keep_left(std::size_t column);
  [[nodiscard]] std::string str(const std::string& indent = "") const;

 private:
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> left_;  ///< by column: keep_left
};

/// The value at `path` under `object` (e.g. {"rates", "drops", "rule"}); null if absent.
[[nodiscard]] nlohmann::json json_at(const nlohmann::json& object,
                                     std::initializer_list<const char*> path);
/// `object[key]` (a rate per second) as a table cell: "2.50 M", "120"; "-" when absent.
[[nodiscard]] std::string rate_cell(const nlohmann::json& object, const char* key);

/// What a talkers reply ranks and which packets: "talkers by src, all packets", then, when the
/// object says (a reply does, a request does not), ", last 9.97 s (1 in 64 sampled, 623,411
/// samples): 1.23 Mpps".
[[nodiscard]] std::string talkers_heading(const nlohmann::json& talkers);
/// A talkers reply as text: its heading, then at most `rows` talkers (rank, key and for rules
/// their source, pps, the error bound, share %), or a line saying none were sampled.
[[nodiscard]] std::string talkers_text(const nlohmann::json& reply, std::size_t rows);

/// Renders the reply to `command` (stats, ports, workers, rules, talkers, rule-add, rule-del,
/// reload, check, version, metrics) as text;
/// `metrics` is the exposition text itself.
/// Unknown shapes fall back to indented JSON.
[[nodiscard]] std::string render(const std::string& command, const nlohmann::json& reply);

}  // namespace udpsieve::cli
