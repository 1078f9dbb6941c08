#pragma once
/// `udpsievectl top`: a live view of the daemon refreshed every second, built from the `stats`
/// and `rules` replies: rates, drop reasons, ports and the busiest rules by current rate.
/// top_frame() is pure (tests, --once, and output that is not a terminal); the full-screen
/// loop with ncurses is top_screen.cpp's.

#include <chrono>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

namespace udpsieve::cli {

struct TopOptions {
  bool once = false;                                            ///< --once: one frame, then exit
  std::chrono::milliseconds interval{std::chrono::seconds(1)};  ///< --interval SECONDS
  std::size_t rules = 20;                                       ///< --rules N: rules shown
};

/// What the view shows: how the rules are ranked and which of them.
struct TopView {
  /// In protocol::kRuleRankings' order; s moves to the next (rate, rate_10s, packets, rate...).
  enum class Sort : uint8_t { packets, rate, rate_10s } sort = Sort::rate;
  enum class Rules : uint8_t { all, drop, forward } rules = Rules::all;
};

/// Reads top's arguments (words "top"); throws UsageError.
[[nodiscard]] TopOptions parse_top(std::span<const std::string> args);
/// The `rules` request a frame needs: the busiest by the view's sort, enough of them to fill
/// `count` rows after the view's filter.
[[nodiscard]] nlohmann::json top_rules_request(const TopView& view, std::size_t count);
/// One frame: a header line (uptime, sort, view, keys), the rates, drop reasons, ports and
/// at most `count` rules of the view, one string per line.
[[nodiscard]] std::vector<std::string> top_frame(const nlohmann::json& stats,
                                                 const nlohmann::json& rules, const TopView& view,
                                                 std::size_t count);
/// Applies a key: s cycles the sort, d / f / a pick the rules; false for q (quit).
bool top_key(int key, TopView& view);

}  // namespace udpsieve::cli
