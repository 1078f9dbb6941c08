#pragma once
/// Current rates of the daemon's counters, for `stats`, `rules`, the CLI and the systemd status
/// line: packets and bits per second over the last second, and packets per second over the last
/// ten, for the totals, each drop reason, each port and each rule.
///
/// The control thread samples the cumulative counters about once a second (RateBook::due);
/// every series is sampled at the same instants, whose times the book keeps once. A rate needs
/// two samples (0 until then); a rule that left is forgotten, and a series whose counter went
/// backwards starts afresh. A part's rules are sampled by position in its list; only when the
/// list changed (a new generation) do the series follow their ids to their new positions, so a
/// sampling of 250,000 unchanged rules costs a pass over an array, not 250,000 hash lookups.
/// DPDK-free: the tests drive it with their own clock.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "udpsieve/common/stats_schema.hpp"
#include "udpsieve/rules/rule_set.hpp"

namespace udpsieve::control {

/// A counter's rates.
struct Rate {
  double pps = 0;      ///< packets per second between the last two samples (about a second)
  double bps = 0;      ///< bits per second, same interval
  double pps_10s = 0;  ///< packets per second over the last ten seconds (or since the first)
};

class RateBook {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kInterval = std::chrono::seconds(1);
  static constexpr std::size_t kSamples = 11;  ///< ten intervals: the 10-second average

  enum class Total : uint8_t { rx, forwarded, dropped, count };

  /// Whether a sampling is due at `now` (none yet, or kInterval since the last).
  [[nodiscard]] bool due(Clock::time_point now) const noexcept;
  /// Starts a sampling at `now`; then give every series its counter, then end().
  void begin(Clock::time_point now);
  void total(Total which, uint64_t packets, uint64_t bytes);
  void drop(DropReason reason, uint64_t packets);
  /// `port` counts from 0; the book grows to the ports sampled.
  void port(std::size_t port, uint64_t rx_packets, uint64_t rx_bytes, uint64_t tx_packets,
            uint64_t tx_bytes);
  /// The rules of the file part (`runtime` false) or of the runtime part at this sampling:
  /// `generation` names the list; when it differs from the last sampling's, the series follow
  /// their ids to their positions in `set` (through RuleSet::positions_of, which follows the
  /// runs two sets share without hashing ids). Then rule() for each.
  void rules(bool runtime, uint64_t generation, std::shared_ptr<const rules::RuleSet> set);
  /// The counters of the rule at `index` of its part's list.
  void rule(bool runtime, std::size_t index, uint64_t packets, uint64_t bytes);
  /// Ends a sampling: a part whose rules() was not given this time keeps no series.
  void end();

  [[nodiscard]] Rate total(Total which) const noexcept;
  [[nodiscard]] Rate drop(DropReason reason) const noexcept;
  [[nodiscard]] Rate port_rx(std::size_t port) const noexcept;
  [[nodiscard]] Rate port_tx(std::size_t port) const noexcept;
  /// The rule at `index` of the part's list of `generation`; a list the book has not sampled
  /// yet (changed since the last sampling) is answered by `id`.
  [[nodiscard]] Rate rule(bool runtime, uint64_t generation, std::size_t index,
                          const std::string& id) const;
  /// Rules with a series (both parts).
  [[nodiscard]] std::size_t rules() const noexcept {
    return parts_[0].series.size() + parts_[1].series.size();
  }

 private:
  /// One counter's samples, at the book's instants (the same ring positions).
  struct Series {
    std::array<uint64_t, kSamples> packets{};
    uint64_t bytes_before = 0;  ///< bytes at the sample before the newest
    uint64_t bytes = 0;         ///< bytes at the newest sample
    uint64_t round = 0;         ///< the sampling that gave the newest sample
    uint32_t samples = 0;       ///< consecutive samples held, at most kSamples
  };
  void add(Series& series, uint64_t packets, uint64_t bytes) const noexcept;
  [[nodiscard]] Rate rate(const Series& series) const noexcept;

  std::array<Clock::time_point, kSamples> times_{};
  std::size_t newest_ = 0;
  uint64_t round_ = 0;  ///< samplings begun (0: none)
  std::array<Series, static_cast<std::size_t>(Total::count)> totals_{};
  std::array<Series, kDropReasonCount> drops_{};
  std::vector<Series> ports_rx_;
  std::vector<Series> ports_tx_;
  /// One part's rules at the last sampling: series by position in the set's list.
  struct Part {
    uint64_t generation = 0;
    uint64_t round = 0;  ///< the sampling that last gave this part's list
    std::vector<Series> series;
    std::shared_ptr<const rules::RuleSet> set;  ///< finds an id's position
  };
  std::array<Part, 2> parts_;  // file, runtime
};

}  // namespace udpsieve::control
