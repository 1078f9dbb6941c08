#pragma once
/// The control protocol's commands: one JSON request in, one JSON reply out.
///
/// Request: {"cmd": "stats"}. Commands: stats, ports, workers, rules, version.
/// Any problem with a request gets {"error": "..."}; the daemon carries on.

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "udpsieve/config/config.hpp"

namespace udpsieve::dataplane {
class MempoolSet;
class PortSet;
class TablePublisher;
class Worker;
}  // namespace udpsieve::dataplane

namespace udpsieve::control {

class StatsAggregator;

/// What the commands read. Everything is owned by the daemon and outlives the control loop.
struct ControlContext {
  const config::LoadedConfig& config;
  const dataplane::PortSet& ports;
  const dataplane::MempoolSet& pools;
  const dataplane::TablePublisher& tables;
  const StatsAggregator& stats;
  const std::vector<std::unique_ptr<dataplane::Worker>>& workers;
  std::chrono::steady_clock::time_point started;
};

/// Answers one request line (never throws; errors become {"error": ...}).
[[nodiscard]] std::string handle_request(std::string_view line, const ControlContext& context);

[[nodiscard]] nlohmann::json stats_reply(const ControlContext& context);
[[nodiscard]] nlohmann::json ports_reply(const ControlContext& context);
[[nodiscard]] nlohmann::json workers_reply(const ControlContext& context);
[[nodiscard]] nlohmann::json rules_reply(const ControlContext& context);
[[nodiscard]] nlohmann::json version_reply();

}  // namespace udpsieve::control
