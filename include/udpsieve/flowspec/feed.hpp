#pragma once
/// The feeder's memory: the flow routes each BGP neighbor announced, kept from ExaBGP's JSON
/// API lines, and the runtime rules they make. Pure code (no I/O); the program around it
/// (udpsieve-flowspec) reads the lines and keeps the daemon's `bgp` rules equal to rules().

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "udpsieve/flowspec/route.hpp"

namespace udpsieve::flowspec {

using Clock = std::chrono::steady_clock;

/// What one line did, for the log and the counters.
struct LineOutcome {
  enum class Kind : uint8_t {
    changed,    ///< routes were learned or dropped
    unchanged,  ///< a line about nothing held (keepalives, other families, states, ExaBGP's
                ///< answers to the feeder's commands)
    bad,        ///< not JSON, or a message whose shape is wrong: skipped
  };
  Kind kind = Kind::unchanged;
  /// One line each: routes refused or ignored (first time seen), neighbors going down, a bad
  /// line's reason with the line (truncated).
  std::vector<std::string> log;
};

struct FeedCounters {
  uint64_t lines = 0;
  uint64_t bad_lines = 0;
  uint64_t announced = 0;
  uint64_t withdrawn = 0;
  uint64_t ignored = 0;  ///< routes that can only match non-UDP traffic
  uint64_t refused = 0;  ///< routes udpsieve cannot enforce (or the daemon refused)
};

class Feed {
 public:
  /// `stale_after`: how long a neighbor's routes outlive its session going down.
  explicit Feed(std::chrono::seconds stale_after = std::chrono::seconds(0))
      : stale_after_(stale_after) {}

  /// Applies one line of ExaBGP's JSON encoder (`"type": "update"` with announce/withdraw of
  /// "ipv4 flow" / "ipv6 flow", `"type": "state"` with a neighbor going up or down). Never
  /// throws: bad input is counted and logged.
  LineOutcome apply(std::string_view line, Clock::time_point now);
  /// Drops the routes of neighbors down for longer than `stale_after`; true when any went.
  bool expire(Clock::time_point now);
  /// When the next expiry is due (time_point::max() when none is).
  [[nodiscard]] Clock::time_point next_expiry() const;

  /// The rules of every route held, routes in RFC 8955 order (one route announced by several
  /// neighbors counts once), refused and ignored ones left out.
  [[nodiscard]] std::vector<nlohmann::json> rules() const;
  /// The daemon refused the rule `rule_id`: its route stays held (a withdraw still finds it)
  /// but makes no rules until it is announced again. Returns the route's text, or "" when no
  /// held route makes that rule.
  std::string daemon_refused(const std::string& rule_id, const std::string& reason);

  /// When a feeder that just started has heard enough to make its first sync (a sync replaces
  /// every bgp rule, so syncing before the routes are back would drop the rules a previous
  /// feeder left and their counters): a second after the last BGP message once one came, at
  /// most `kSettleMost` after the first; `fallback` after `started` when none came (no session
  /// up: by then the previous feeder's rules are near their expiry anyway).
  [[nodiscard]] Clock::time_point settled_at(Clock::time_point started,
                                             std::chrono::seconds fallback) const;
  static constexpr auto kSettleQuiet = std::chrono::seconds(1);
  static constexpr auto kSettleMost = std::chrono::seconds(10);

  /// Bumped by every change to rules().
  [[nodiscard]] uint64_t version() const noexcept { return version_; }
  [[nodiscard]] const FeedCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] std::size_t routes() const;

 private:
  struct Held {
    Route route;
    Translation translation;
    std::string daemon_refusal;  ///< non-empty: the daemon refused its rules
    bool stale = false;          ///< its neighbor went down; gone at the expiry
  };
  struct Neighbor {
    std::map<std::string, Held> routes;  ///< by canonical_key
    std::optional<Clock::time_point> down_since;
  };

  LineOutcome apply_message(std::string_view line, Clock::time_point now);
  void announce(Neighbor& neighbor, const Route& route, const Action& action, LineOutcome& outcome);
  void withdraw(Neighbor& neighbor, const Route& route, LineOutcome& outcome);
  void changed() { ++version_; }

  std::chrono::seconds stale_after_;
  std::map<std::string, Neighbor> neighbors_;     ///< by peer address
  std::set<std::string> reported_;                ///< keys whose refusal was logged already
  std::optional<Clock::time_point> first_heard_;  ///< the first BGP message (state, update)
  Clock::time_point last_heard_{};
  uint64_t version_ = 0;
  FeedCounters counters_;
};

}  // namespace udpsieve::flowspec
