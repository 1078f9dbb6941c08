#include "udpsieve/control/rates.hpp"

#include <algorithm>
#include <iterator>

namespace udpsieve::control {

bool RateBook::due(Clock::time_point now) const noexcept {
  return round_ == 0 || now - times_[newest_] >= kInterval;
}

void RateBook::begin(Clock::time_point now) {
  newest_ = round_ == 0 ? 0 : (newest_ + 1) % kSamples;
  times_[newest_] = now;
  ++round_;
}

void RateBook::add(Series& series, uint64_t packets, uint64_t bytes) const noexcept {
  const std::size_t before = (newest_ + kSamples - 1) % kSamples;
  // A gap (the series was missing from the last sampling) or a counter that went backwards:
  // start afresh.
  if (series.samples > 0 &&
      (series.round + 1 != round_ || packets < series.packets[before] || bytes < series.bytes)) {
    series.samples = 0;
  }
  series.packets[newest_] = packets;
  series.bytes_before = series.bytes;
  series.bytes = bytes;
  series.round = round_;
  series.samples = std::min<uint32_t>(series.samples + 1, kSamples);
}

Rate RateBook::rate(const Series& series) const noexcept {
  if (series.samples < 2 || series.round != round_) return {};
  const std::size_t before = (newest_ + kSamples - 1) % kSamples;
  const std::size_t oldest = (newest_ + kSamples - (series.samples - 1)) % kSamples;
  const auto seconds = [&](std::size_t from) {
    return std::chrono::duration<double>(times_[newest_] - times_[from]).count();
  };
  const double last = seconds(before);
  const double all = seconds(oldest);
  Rate out;
  if (last > 0) {
    out.pps = static_cast<double>(series.packets[newest_] - series.packets[before]) / last;
    out.bps = 8 * static_cast<double>(series.bytes - series.bytes_before) / last;
  }
  if (all > 0)
    out.pps_10s = static_cast<double>(series.packets[newest_] - series.packets[oldest]) / all;
  return out;
}

void RateBook::total(Total which, uint64_t packets, uint64_t bytes) {
  add(totals_[static_cast<std::size_t>(which)], packets, bytes);
}

void RateBook::drop(DropReason reason, uint64_t packets) {
  add(drops_[index_of(reason)], packets, 0);
}

void RateBook::port(std::size_t port, uint64_t rx_packets, uint64_t rx_bytes, uint64_t tx_packets,
                    uint64_t tx_bytes) {
  if (ports_rx_.size() <= port) {
    ports_rx_.resize(port + 1);
    ports_tx_.resize(port + 1);
  }
  add(ports_rx_[port], rx_packets, rx_bytes);
  add(ports_tx_[port], tx_packets, tx_bytes);
}

void RateBook::rules(bool runtime, uint64_t generation, std::shared_ptr<const rules::RuleSet> set) {
  Part& part = parts_[runtime ? 1 : 0];
  const std::size_t count = set->rules().size();
  const bool same = part.round != 0 && part.generation == generation && part.series.size() == count;
  part.round = round_;
  if (same) return;
  // A new list: each series follows its id (once per change, not per sampling).
  std::vector<Series> series(count);
  if (part.set != nullptr) {
    const std::vector<std::size_t> old = part.set->positions_of(set->rules());
    for (std::size_t i = 0; i < count; ++i) {
      if (old[i] != rules::RuleSet::npos && old[i] < part.series.size())
        series[i] = part.series[old[i]];
    }
  }
  part.generation = generation;
  part.series = std::move(series);
  part.set = std::move(set);
}

void RateBook::rule(bool runtime, std::size_t index, uint64_t packets, uint64_t bytes) {
  Part& part = parts_[runtime ? 1 : 0];
  if (index < part.series.size()) add(part.series[index], packets, bytes);
}

void RateBook::end() {
  for (Part& part : parts_) {
    if (part.round == round_) continue;
    part = Part{};
  }
}

Rate RateBook::total(Total which) const noexcept {
  return rate(totals_[static_cast<std::size_t>(which)]);
}

Rate RateBook::drop(DropReason reason) const noexcept {
  return rate(drops_[index_of(reason)]);
}

Rate RateBook::port_rx(std::size_t port) const noexcept {
  return port < ports_rx_.size() ? rate(ports_rx_[port]) : Rate{};
}

Rate RateBook::port_tx(std::size_t port) const noexcept {
  return port < ports_tx_.size() ? rate(ports_tx_[port]) : Rate{};
}

Rate RateBook::rule(bool runtime, uint64_t generation, std::size_t index,
                    const std::string& id) const {
  const Part& part = parts_[runtime ? 1 : 0];
  if (part.generation == generation && index < part.series.size()) {
    return rate(part.series[index]);
  }
  const std::size_t at = part.set != nullptr ? part.set->position(id) : rules::RuleSet::npos;
  return at < part.series.size() ? rate(part.series[at]) : Rate{};
}

}  // namespace udpsieve::control
