// Merging the workers' top-talker summaries (see talkers.hpp).
#include "udpsieve/control/talkers.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <span>
#include <unordered_map>

#include "udpsieve/common/protocol.hpp"
#include "udpsieve/control/request.hpp"

namespace udpsieve::control {
namespace {

using dataplane::TalkerKey;
using dataplane::TalkerKind;
using dataplane::TalkerList;
using dataplane::TalkerReport;
using nlohmann::json;

struct KeyHash {
  std::size_t operator()(const TalkerKey& key) const noexcept {
    uint64_t h = key.high * 0x9e3779b97f4a7c15ULL;
    h ^= (key.low + (h << 6) + (h >> 2)) * 0xc2b2ae3d27d4eb4fULL;
    return static_cast<std::size_t>(h ^ key.family ^ (h >> 29));
  }
};

/// "a, b, c": the names a field may take, for an error message.
std::string name_list(std::span<const std::string_view> names) {
  std::string list;
  for (std::string_view name : names)
    list += (list.empty() ? "" : ", ") + std::string(name);
  return list;
}

}  // namespace

std::optional<std::string> read_talker_query(const json& body, TalkerQuery& query) {
  if (const auto kind = name_field(body, "by", protocol::kTalkerKinds)) {
    if (*kind == protocol::kTalkerKinds.size()) {
      return "talkers: by must be one of " + name_list(protocol::kTalkerKinds);
    }
    query.kind = static_cast<TalkerKind>(*kind);
  }
  if (const auto verdict = name_field(body, "verdict", protocol::kTalkerVerdicts)) {
    if (*verdict == protocol::kTalkerVerdicts.size()) {
      return "talkers: verdict must be one of " + name_list(protocol::kTalkerVerdicts);
    }
    query.verdict = static_cast<TalkerQuery::Verdict>(*verdict);
  }
  if (!number_field(body, "top", 1, protocol::kMaxTalkers, query.top)) {
    return "talkers: top must be an integer from 1 to " + std::to_string(protocol::kMaxTalkers);
  }
  return std::nullopt;
}

TalkerBook::TalkerBook(std::size_t workers, double tsc_hz, double window_s)
    : tsc_hz_(tsc_hz), window_tsc_(static_cast<uint64_t>(tsc_hz * window_s)), workers_(workers) {}

void TalkerBook::absorb(std::size_t worker, const TalkerReport& report) {
  if (worker >= workers_.size() || !report.valid) return;
  std::deque<TalkerReport>& periods = workers_[worker];
  periods.push_back(report);
  // A period that began a window before the newest ended is in no window any more.
  while (periods.front().start_tsc + window_tsc_ < report.end_tsc)
    periods.pop_front();
}

TalkerAnswer TalkerBook::top(const TalkerQuery& query, uint64_t now_tsc) const {
  struct Estimate {
    double pps = 0;
    double error_over_floor = 0;  // sum of (error - floor) where listed, as a rate
  };
  std::unordered_map<TalkerKey, Estimate, KeyHash> keys;
  TalkerAnswer answer;
  double floors = 0;  // what every key may have had where it was not listed, as a rate
  const std::size_t kind = static_cast<std::size_t>(query.kind);
  const bool drop = query.verdict != TalkerQuery::Verdict::forward;
  const bool forward = query.verdict != TalkerQuery::Verdict::drop;
  for (const std::deque<TalkerReport>& periods : workers_) {
    // This worker's periods in the window, and the seconds they cover.
    auto first = periods.begin();
    while (first != periods.end() && first->start_tsc + window_tsc_ < now_tsc)
      ++first;
    if (first == periods.end()) continue;
    const double seconds = static_cast<double>(periods.back().end_tsc - first->start_tsc) / tsc_hz_;
    if (seconds <= 0) continue;
    answer.window_s = std::max(answer.window_s, seconds);
    for (auto period = first; period != periods.end(); ++period) {
      answer.seen += period->seen;
      answer.picked += period->picked;
      if (period->picked == 0) continue;
      // Each sample stands for this many packets per second of the worker's window.
      const double weight =
          static_cast<double>(period->seen) / static_cast<double>(period->picked) / seconds;
      for (std::size_t verdict = 0; verdict < dataplane::kTalkerVerdicts; ++verdict) {
        if (verdict == 1 ? !drop : !forward) continue;
        answer.sampled += period->sampled[verdict];
        answer.pps += static_cast<double>(period->sampled[verdict]) * weight;
        const TalkerList& list = period->lists[verdict][kind];
        floors += list.floor * weight;
        for (uint32_t i = 0; i < list.size; ++i) {
          const dataplane::TalkerCount& entry = list.top[i];
          Estimate& estimate = keys[entry.key];
          estimate.pps += entry.count * weight;
          estimate.error_over_floor +=
              (static_cast<double>(entry.error) - static_cast<double>(list.floor)) * weight;
        }
      }
    }
  }
  answer.rows.reserve(keys.size());
  for (const auto& [key, estimate] : keys) {
    answer.rows.push_back(
        TalkerRow{key, estimate.pps, std::max(0.0, floors + estimate.error_over_floor)});
  }
  const auto heavier = [](const TalkerRow& a, const TalkerRow& b) {
    if (a.pps != b.pps) return a.pps > b.pps;
    if (a.key.family != b.key.family) return a.key.family < b.key.family;
    return a.key.high != b.key.high ? a.key.high < b.key.high : a.key.low < b.key.low;
  };
  const std::size_t shown = std::min(query.top, answer.rows.size());
  std::partial_sort(answer.rows.begin(), answer.rows.begin() + static_cast<std::ptrdiff_t>(shown),
                    answer.rows.end(), heavier);
  answer.rows.resize(shown);
  return answer;
}

std::string talker_key_text(TalkerKind kind, const TalkerKey& key) {
  if (kind == TalkerKind::dst_port) return std::to_string(key.low);
  char text[INET6_ADDRSTRLEN] = {};
  if (key.family == 4) {
    const uint32_t address = htonl(static_cast<uint32_t>(key.low));
    inet_ntop(AF_INET, &address, text, sizeof text);
  } else {
    std::array<uint8_t, 16> bytes{};
    const uint64_t high = __builtin_bswap64(key.high);
    const uint64_t low = __builtin_bswap64(key.low);
    std::memcpy(bytes.data(), &high, 8);
    std::memcpy(bytes.data() + 8, &low, 8);
    inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
  }
  std::string out(text);
  if (kind == TalkerKind::src_prefix) {
    out += "/" + std::to_string(key.family == 4 ? dataplane::kTalkerPrefixV4
                                                : dataplane::kTalkerPrefixV6);
  }
  return out;
}

json talkers_json(const TalkerQuery& query, const TalkerAnswer& answer, TalkerSampling sampling,
                  const RuleNamer& name_rule) {
  json rows = json::array();
  for (const TalkerRow& row : answer.rows) {
    json entry;
    if (query.kind == TalkerKind::rule) {
      if (row.key.family == TalkerKey::kNoRule) {
        entry["key"] = "(no rule)";
        entry["source"] = "default";
      } else if (const auto named = name_rule(row.key)) {
        entry["key"] = named->first;
        entry["source"] = named->second;
      } else {
        entry["key"] = "(removed rule)";
        entry["source"] = row.key.family == TalkerKey::kFilePart ? "file" : "runtime";
      }
    } else {
      entry["key"] = talker_key_text(query.kind, row.key);
    }
    entry["pps"] = row.pps;
    entry["error_pps"] = row.error_pps;
    entry["share"] = answer.pps > 0 ? row.pps / answer.pps : 0.0;
    rows.push_back(std::move(entry));
  }
  return {{"by", protocol::kTalkerKinds[static_cast<std::size_t>(query.kind)]},
          {"verdict", protocol::kTalkerVerdicts[static_cast<std::size_t>(query.verdict)]},
          {"window_s", answer.window_s},
          {"sampling", sampling.one_in},
          {"max_sample_rate", sampling.max_rate},
          // What the window's samples stand for: one in this many packets, on average (more
          // than `sampling` where a worker's packet rate met max_sample_rate).
          {"effective_sampling", answer.picked == 0 ? 0.0
                                                    : static_cast<double>(answer.seen) /
                                                          static_cast<double>(answer.picked)},
          {"sampled", answer.sampled},
          {"pps", answer.pps},
          {"talkers", std::move(rows)}};
}

}  // namespace udpsieve::control
