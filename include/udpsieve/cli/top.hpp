#pragma once
/// `udpsievectl top`: a live view of the daemon refreshed every second, built from the `stats`,
/// `rules` and `talkers` replies: rates, drop reasons, ports, the busiest rules by current rate
/// and the heaviest talkers. top_frame() is pure (tests, --once, and output that is not a
/// terminal); the full-screen loop with ncurses is top_screen.cpp's.

#include <chrono>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

namespace udpsieve::cli {

/// Talkers top shows at most (fewer on a short screen).
inline constexpr std::size_t kTopTalkers = 8;
/// Rules top keeps on a short screen before it takes rows from the talkers.
inline constexpr std::size_t kTopRulesKept = 5;

struct TopOptions {
  bool once = false;                                            ///< --once: one frame, then exit
  std::chrono::milliseconds interval{std::chrono::seconds(1)};  ///< --interval SECONDS
  std::size_t rules = 20;                                       ///< --rules N: rules shown
};

/// What the view shows: how the rules are ranked and which of them (the talkers are those of
/// the same verdict), and what the talkers are.
struct TopView {
  /// In protocol::kRuleRankings' order; s moves to the next (rate, rate_10s, packets, rate...).
  enum class Sort : uint8_t { packets, rate, rate_10s } sort = Sort::rate;
  enum class Rules : uint8_t { all, drop, forward } rules = Rules::all;
  /// In protocol::kTalkerKinds' order; t moves to the next (src, src_prefix, dst_port, rule).
  enum class Talkers : uint8_t { src, src_prefix, dst_port, rule } talkers = Talkers::src;
};

/// Reads top's arguments (words "top"); throws UsageError.
[[nodiscard]] TopOptions parse_top(std::span<const std::string> args);
/// The `rules` request a frame needs: the busiest by the view's sort, enough of them to fill
/// `count` rows after the view's filter.
[[nodiscard]] nlohmann::json top_rules_request(const TopView& view, std::size_t count);
/// The `talkers` request a frame needs: kTopTalkers of the view's kind and verdict.
[[nodiscard]] nlohmann::json top_talkers_request(const TopView& view);
/// One frame: a header line (uptime, sort, view, keys), the rates, drop reasons, ports, at
/// most `count` rules of the view and at most kTopTalkers talkers (`talkers` may be an error
/// reply: sampling off, a daemon without the command; the section says so in one line), one
/// string per line. With `height` (0: no limit) the rules and talkers shown shrink to fit that
/// many lines: the rules keep kTopRulesKept, the talkers take theirs, the rules the rest.
[[nodiscard]] std::vector<std::string> top_frame(const nlohmann::json& stats,
                                                 const nlohmann::json& rules,
                                                 const nlohmann::json& talkers, const TopView& view,
                                                 std::size_t count, std::size_t height = 0);
/// Applies a key: s cycles the sort, d / f / a pick the rules (and the talkers' verdict), t
/// cycles what the talkers are; false for q (quit).
bool top_key(int key, TopView& view);

}  // namespace udpsieve::cli
