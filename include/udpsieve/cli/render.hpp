#pragma once
/// Readable tables for udpsievectl, generated from the daemon's JSON replies.

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace udpsieve::cli {

/// Left-aligned text columns, numbers right-aligned; the first row is the header.
class TextTable {
 public:
  void add_row(std::vector<std::string> cells);
  [[nodiscard]] std::string str(const std::string& indent = "") const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

/// The value at `path` under `object` (e.g. {"rates", "drops", "rule"}); null if absent.
[[nodiscard]] nlohmann::json json_at(const nlohmann::json& object,
                                     std::initializer_list<const char*> path);
/// `object[key]` (a rate per second) as a table cell: "2.50 M", "120"; "-" when absent.
[[nodiscard]] std::string rate_cell(const nlohmann::json& object, const char* key);

/// Renders the reply to `command` (stats, ports, workers, rules, rule-add, rule-del, reload,
/// check, version, metrics) as text;
/// `metrics` is the exposition text itself.
/// Unknown shapes fall back to indented JSON.
[[nodiscard]] std::string render(const std::string& command, const nlohmann::json& reply);

}  // namespace udpsieve::cli
