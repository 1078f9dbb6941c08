#pragma once
/// The control protocol's commands: one JSON request in, one JSON reply out.
///
/// Request: {"cmd": "stats"}. Commands answered here: stats, ports, workers, rules, version,
/// metrics; reload and check are scheduled by the control loop. Any problem with a request gets
/// {"error": "..."}; the daemon carries on.

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "udpsieve/common/protocol.hpp"
#include "udpsieve/config/config.hpp"
#include "udpsieve/control/request.hpp"

namespace udpsieve::dataplane {
class MempoolSet;
class PortSet;
class TablePublisher;
class Worker;
}  // namespace udpsieve::dataplane

namespace udpsieve::control {

class StatsAggregator;
class RateBook;
class TalkerBook;
struct TalkerQuery;
class RuleCounterBook;
class RuntimeUpdates;
class SetUpdates;
class FlowSteering;

/// How reloads went, for `rules` and logs.
struct ReloadStatus {
  uint64_t applied = 0;
  uint64_t refused = 0;
  std::string last_result = "none";  ///< "applied", or the refusal's one-line reason
  std::string last_at;               ///< local time of the last attempt
  std::chrono::microseconds load_time{0};
  std::chrono::microseconds compile_time{0};
  std::chrono::microseconds swap_time{0};
  std::chrono::microseconds total_time{0};  ///< request to swap
};

/// What the commands read. Everything is owned by the daemon and outlives the control loop.
struct ControlContext {
  const config::LoadedConfig& config;  ///< the configuration in effect
  const dataplane::PortSet& ports;
  const dataplane::MempoolSet& pools;
  const dataplane::TablePublisher& tables;
  const StatsAggregator& stats;
  const RateBook& rates;                    ///< current rates, sampled about once a second
  const TalkerBook& talkers;                ///< the workers' top-talker summaries
  const RuleCounterBook& file_counters;     ///< the file rules' counters
  const RuleCounterBook& runtime_counters;  ///< the runtime rules' counters
  const RuntimeUpdates& runtime;
  const SetUpdates& sets;
  const FlowSteering* steering;  ///< null when the daemon holds no NIC flow rules
  const ReloadStatus& reloads;
  const std::vector<std::unique_ptr<dataplane::Worker>>& workers;
  std::chrono::steady_clock::time_point started;
  /// Per worker: when the control loop last saw its heartbeat move (empty: unknown).
  std::span<const std::chrono::steady_clock::time_point> heartbeat_moved{};
};

/// Answers a read-only command (stats, ports, workers, rules, version, metrics); errors become
/// {"error": ...}. Never throws.
[[nodiscard]] std::string answer(const Request& request, const ControlContext& context);

[[nodiscard]] nlohmann::json stats_reply(const ControlContext& context);
/// Samples every counter with a rate into `book` at `now`: the totals, drop reasons, ports and
/// the rules of the table in effect (see rates.hpp).
void sample_rates(const ControlContext& context, RateBook& book,
                  std::chrono::steady_clock::time_point now);
[[nodiscard]] nlohmann::json ports_reply(const ControlContext& context);
[[nodiscard]] nlohmann::json workers_reply(const ControlContext& context);
using protocol::kDefaultRulesPage;
using protocol::kMaxRulesPage;
using protocol::kMetricsRules;
using protocol::kStatsRules;

/// Which rules a `rules` request asks for, and which page of them.
struct RuleFilter {
  std::optional<std::string> source;  ///< "file", or a runtime source such as api or bgp
  std::optional<std::string> id;      ///< one rule
  std::optional<std::size_t> top;     ///< the N busiest (by `by`), busiest first
  /// What `top` ranks by (protocol::kRuleRankings, in this order): packets since start, or the
  /// current rate (last second, ten seconds).
  enum class By : uint8_t { packets, rate, rate_10s } by = By::packets;
  std::size_t limit = kDefaultRulesPage;
  std::size_t offset = 0;
};

/// The rules `filter` selects, in first-match order (or busiest first with `top`), one page
/// of them (`offset`, `limit`) with `total` and `next_offset` (null after the last page).
[[nodiscard]] nlohmann::json rules_reply(const ControlContext& context,
                                         const RuleFilter& filter = {});
[[nodiscard]] nlohmann::json version_reply();
/// The `talkers` reply: the heaviest talkers of the last ten seconds (see talkers.hpp).
[[nodiscard]] nlohmann::json talkers_reply(const ControlContext& context, const TalkerQuery& query);
/// The NICs' flow rules per port (`steering`).
[[nodiscard]] nlohmann::json steering_reply(const ControlContext& context);
/// `rules` without the rule list and files: table generation, classifier, reloads.
[[nodiscard]] nlohmann::json rules_summary(const ControlContext& context);
/// The Prometheus exposition of stats_reply(), rules_summary() and version_reply(): what the
/// `metrics` command ({"metrics": TEXT}) and the HTTP endpoint both serve.
[[nodiscard]] std::string metrics_text(const ControlContext& context);

}  // namespace udpsieve::control
