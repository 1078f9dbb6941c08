#pragma once
/// The Prometheus text exposition (format 0.0.4), rendered from the daemon's JSON replies.
///
/// DPDK-free: `udpsievectl metrics` and `GET /metrics` both show the text the daemon renders
/// with render_prometheus(), and the unit tests render it from sample JSON. Which metric comes
/// from which part of which reply is declared once, in kMetricGroups (prometheus.cpp); names,
/// kinds and help texts come from common/stats_schema.hpp.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "udpsieve/common/stats_schema.hpp"

namespace udpsieve::control {

/// The Content-Type of the exposition.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

/// Renders the replies to `stats`, `rules` and `version` as the exposition: every metric with
/// its # HELP and # TYPE lines, also when it has no sample (a rate_limit metric without
/// rate_limit rules). A value missing from the JSON gives no sample. Never throws on odd JSON
/// shapes (they give no sample either).
[[nodiscard]] std::string render_prometheus(const nlohmann::json& stats,
                                            const nlohmann::json& rules,
                                            const nlohmann::json& version);

/// One metric the exposition declares, in output order.
struct MetricInfo {
  const StatDesc* desc;  ///< name, kind, help; desc->metric is the metric's name
  std::string labels;    ///< "port", "lcore", "" ...: label names, comma-separated
  std::string source;    ///< where the value comes from, e.g. "stats: ports[].rx_packets"
};
/// Every metric render_prometheus() declares.
[[nodiscard]] std::vector<MetricInfo> metric_catalog();

/// The Markdown tables of docs/metrics.md (every metric, then the drop reasons), generated from
/// the catalog so the documentation cannot drift; a unit test compares them.
[[nodiscard]] std::string metrics_markdown();

/// A label value escaped for the exposition: backslash, double quote and newline.
[[nodiscard]] std::string escape_label_value(std::string_view value);
/// A help text escaped for the exposition: backslash and newline.
[[nodiscard]] std::string escape_help(std::string_view text);

}  // namespace udpsieve::control
