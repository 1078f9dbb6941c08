#pragma once
/// The control thread's side of the top talkers: each worker's summaries of its last ten
/// seconds (one TalkerReport a second, see dataplane/talkers.hpp), merged on request into the
/// `talkers` reply.
///
/// Merging: a talker's packets in one worker's period are estimated as its summary count times
/// the period's sampling scale (packets offered / packets sampled); the estimates add over
/// periods, and each worker's sum over the seconds its periods cover gives its rate; the
/// workers' rates add. The error bound adds likewise: a listed key's Space-Saving error, or,
/// where a summary did not list the key, that summary's floor (what an unlisted key may have
/// had). DPDK-free: times are TSC ticks at a rate given at construction.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "udpsieve/dataplane/talkers.hpp"

namespace udpsieve::control {

/// What a `talkers` request asks for.
struct TalkerQuery {
  dataplane::TalkerKind kind = dataplane::TalkerKind::src;
  enum class Verdict : uint8_t { drop, forward, all } verdict = Verdict::all;  // kTalkerVerdicts
  std::size_t top = 10;
};

/// Reads a request's `by`, `verdict` and `top` into `query`; an error message when one is bad.
[[nodiscard]] std::optional<std::string> read_talker_query(const nlohmann::json& body,
                                                           TalkerQuery& query);

/// One talker of an answer.
struct TalkerRow {
  dataplane::TalkerKey key;
  double pps = 0;
  double error_pps = 0;  ///< the true rate of the sampled packets is within pps +- error_pps
};

struct TalkerAnswer {
  std::vector<TalkerRow> rows;  ///< heaviest first
  double window_s = 0;          ///< the longest span a worker's periods cover
  double pps = 0;               ///< all packets of the verdict(s) asked for
  uint64_t sampled = 0;         ///< packets sampled of the verdict(s), all workers
  uint64_t seen = 0;            ///< packets offered to the samplers in the window, all workers
  uint64_t picked = 0;          ///< packets they picked
};

class TalkerBook {
 public:
  /// `workers` workers whose TSC runs at `tsc_hz`; periods older than `window_s` are dropped.
  TalkerBook(std::size_t workers, double tsc_hz, double window_s);

  /// Takes a worker's report (one whose `valid` is set).
  void absorb(std::size_t worker, const dataplane::TalkerReport& report);
  /// The heaviest talkers of the periods that ended within the window before `now_tsc`.
  [[nodiscard]] TalkerAnswer top(const TalkerQuery& query, uint64_t now_tsc) const;

 private:
  double tsc_hz_;
  uint64_t window_tsc_;
  std::vector<std::deque<dataplane::TalkerReport>> workers_;
};

/// How a reply names a rule key: its id and source ("file", "api", ...), or nothing when no
/// rule in effect has that key.
using RuleNamer =
    std::function<std::optional<std::pair<std::string, std::string>>(const dataplane::TalkerKey&)>;

/// The sampling as configured: pipeline.talker_sampling and talker_max_sample_rate.
struct TalkerSampling {
  uint32_t one_in = 0;
  uint32_t max_rate = 0;
};

/// The `talkers` reply (docs/protocol.md).
[[nodiscard]] nlohmann::json talkers_json(const TalkerQuery& query, const TalkerAnswer& answer,
                                          TalkerSampling sampling, const RuleNamer& name_rule);

/// A key as the reply shows it: an address, a prefix ("198.51.100.0/24"), a port ("53").
/// Rules are named by the caller.
[[nodiscard]] std::string talker_key_text(dataplane::TalkerKind kind,
                                          const dataplane::TalkerKey& key);

}  // namespace udpsieve::control
