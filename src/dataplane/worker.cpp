#include "udpsieve/dataplane/worker.hpp"

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <utility>

#include "udpsieve/dataplane/capture_tap.hpp"
#include "udpsieve/dataplane/snapshot_channel.hpp"
#include "udpsieve/dataplane/table.hpp"

namespace udpsieve::dataplane {
namespace {

/// How many packets ahead of the one being parsed to prefetch (l3fwd uses 3 to 8).
constexpr uint16_t kPrefetchOffset = 4;
/// Keys each top-talker summary holds (32 bytes each; 16 summaries per worker).
constexpr std::size_t kTalkerEntries = 1024;

/// A big-endian 32-bit value (an IPv4 address) in host order.
uint32_t load_be32(const uint8_t* bytes) noexcept {
  uint32_t value = 0;
  std::memcpy(&value, bytes, sizeof value);
  return __builtin_bswap32(value);
}

constexpr std::size_t stat(WorkerStat s) {
  return index_of(s);
}
constexpr std::size_t drop(DropReason r) {
  return index_of(r);
}

}  // namespace

Worker::Worker(WorkerSetup setup, const TablePublisher& tables, SnapshotChannel& channel,
               const std::atomic<bool>& stop)
    : tables_(tables),
      qsbr_(tables.qsbr()),
      stop_(stop),
      setup_(std::move(setup)),
      channel_(channel) {
  port_count_ = static_cast<uint16_t>(std::min(setup_.port_ids.size(), port_ids_.size()));
  std::copy_n(setup_.port_ids.begin(), port_count_, port_ids_.begin());
  tx_queue_ = static_cast<uint16_t>(setup_.index);
  tap_ = setup_.tap;
  std::random_device random;
  sources_ = std::make_unique<SourceBuckets>(
      setup_.per_source_entries, std::array<uint64_t, 2>{(uint64_t{random()} << 32) | random(),
                                                         (uint64_t{random()} << 32) | random()});
  if (setup_.talker_sampling != 0) {
    talkers_ = std::make_unique<Talkers>(
        Talkers::Sampling{setup_.talker_sampling, setup_.talker_max_sample_rate,
                          static_cast<double>(rte_get_tsc_hz())},
        kTalkerEntries,
        std::array<uint64_t, 2>{(uint64_t{random()} << 32) | random(),
                                (uint64_t{random()} << 32) | random()});
  }
}

int Worker::launch(void* arg) noexcept {
  return static_cast<Worker*>(arg)->run();
}

int Worker::run() noexcept {
  const unsigned thread_id = setup_.index;
  (void)rte_rcu_qsbr_thread_register(qsbr_, thread_id);
  rte_rcu_qsbr_thread_online(qsbr_, thread_id);

  const RxQueueRef* const queues = setup_.rx_queues.data();
  const auto queue_count = static_cast<uint16_t>(setup_.rx_queues.size());
  std::array<rte_mbuf*, kBurstSize> burst{};
  next_publish_tsc_ = rte_rdtsc() + setup_.publish_interval_tsc;
  if (talkers_ != nullptr) {
    talkers_->start(rte_rdtsc());
    next_talkers_tsc_ = rte_rdtsc() + rte_get_tsc_hz();
  }

  const Table* table = tables_.current();
  while (!stop_.load(std::memory_order_relaxed)) {
    // One table per pass: a reload never changes the rules mid-burst.
    table = tables_.current();

    for (uint16_t q = 0; q < queue_count; ++q) {
      const RxQueueRef& rx = queues[q];
      const uint16_t received = rte_eth_rx_burst(rx.port_id, rx.queue_id, burst.data(),
                                                 static_cast<uint16_t>(kBurstSize));
      ++counters_.burst_histogram[received];
      if (received == 0) {
        ++counters_.stats[stat(WorkerStat::polls_idle)];
        continue;
      }
      ++counters_.stats[stat(WorkerStat::polls_busy)];
      handle_burst(burst.data(), received, rx.port_index, *table);
    }
    flush_all();
    rte_rcu_qsbr_quiescent(qsbr_, thread_id);
    heartbeat_.fetch_add(1, std::memory_order_relaxed);
    // A finished period's report is prepared a table per pass (eight passes once a second).
    if (talkers_ != nullptr && talkers_->reporting() && !talkers_ready_) {
      talkers_ready_ = talkers_->prepare_step();
    }

    if (rte_rdtsc() >= next_publish_tsc_) {
      if (talkers_ != nullptr) end_talker_period();
      // If the control thread holds every buffer, skip: counters are cumulative.
      (void)publish(*table, false);
      next_publish_tsc_ += setup_.publish_interval_tsc;
      const uint64_t now = rte_rdtsc();
      if (next_publish_tsc_ < now) next_publish_tsc_ = now + setup_.publish_interval_tsc;
      // Checked here, once per publish interval, so the test hook costs the loop nothing.
      while (stall_.load(std::memory_order_relaxed) && !stop_.load(std::memory_order_relaxed))
        rte_pause();
    }
  }

  // Everything received has been flushed above; the final snapshot must get through, so wait
  // for the control thread (which keeps draining until it has every final snapshot).
  flush_all();
  while (!publish(*table, true))
    rte_pause();
  rte_rcu_qsbr_thread_offline(qsbr_, thread_id);
  (void)rte_rcu_qsbr_thread_unregister(qsbr_, thread_id);
  finished_.store(true, std::memory_order_release);
  return 0;
}

void Worker::handle_burst(rte_mbuf** mbufs, uint16_t count, uint16_t in_port,
                          const Table& table) noexcept {
  std::array<PacketInfo, kBurstSize>& info = info_;  // parse_frame resets each entry
  const RulePart& file = table.file();
  const RulePart& runtime = table.runtime();
  // Per family: which packets, and their keys, in burst order.
  std::array<uint16_t, kBurstSize> v4_index;
  std::array<uint16_t, kBurstSize> v6_index;
  std::array<const uint8_t*, kBurstSize> v4_keys;
  std::array<const uint8_t*, kBurstSize> v6_keys;
  std::array<const rules::PacketKey*, kBurstSize> v4_packets;
  std::array<const rules::PacketKey*, kBurstSize> v6_packets;
  std::array<uint32_t, kBurstSize> file_results;
  std::array<uint32_t, kBurstSize> runtime_results;
  std::array<uint32_t, kBurstSize> matched;  // 0 for none, else index + 1 | kRuntimeHit
  std::array<rte_mbuf*, kBurstSize> dropped;
  uint16_t v4_count = 0;
  uint16_t v6_count = 0;
  uint16_t dropped_count = 0;

  // Stage 1: parse every packet, prefetching ahead, and build the UDP packets' keys.
  for (uint16_t i = 0; i < std::min(kPrefetchOffset, count); ++i) {
    rte_prefetch0(rte_pktmbuf_mtod(mbufs[i], void*));
  }
  uint64_t rx_bytes = 0;
  const bool classify = table.rule_count() != 0;  // without rules every UDP packet is unmatched
  const std::vector<uint16_t>& windows = table.windows();
  // Set lookups come after the parse: start fetching their first-level entries now.
  const SetTables* sets = table.sets();
  const uint8_t* level4 = sets != nullptr ? sets->first_level(rules::Family::ipv4) : nullptr;
  const uint8_t* level6 = sets != nullptr ? sets->first_level(rules::Family::ipv6) : nullptr;
  const bool prefetch_src = sets != nullptr && table.src_sets();
  const bool prefetch_dst = sets != nullptr && table.dst_sets();
  // Hashed lookups read the parsed packet and the key's payload windows only: the key's other
  // fields are written for a family only where some of its rules are in rte_acl contexts.
  const bool v4_fields = table.reads_key_fields(rules::Family::ipv4);
  const bool v6_fields = table.reads_key_fields(rules::Family::ipv6);
  for (uint16_t i = 0; i < count; ++i) {
    if (i + kPrefetchOffset < count) {
      rte_prefetch0(rte_pktmbuf_mtod(mbufs[i + kPrefetchOffset], void*));
    }
    rte_mbuf* m = mbufs[i];
    const uint32_t frame_length = rte_pktmbuf_pkt_len(m);
    rx_bytes += frame_length;
    matched[i] = 0;
    const bool linear = likely(m->nb_segs == 1);
    if (linear) {
      (void)parse_frame(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m), frame_length,
                        info[i]);
    } else {
      // Headers may straddle segments: parse a linear copy of the first bytes.
      const uint32_t length = std::min<uint32_t>(frame_length, kMaxHeaderBytes);
      const auto* data =
          static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, length, scratch_.data()));
      (void)parse_frame(data, data == nullptr ? 0 : length, frame_length, info[i]);
    }
    if (!classify || info[i].status != ParseStatus::udp) continue;
    rules::PacketKey& packet = info[i].key;
    packet.in_port = static_cast<uint8_t>(in_port);
    AclKey& key = acl_keys_[i];
    const bool v4 = packet.family == rules::Family::ipv4;
    if (v4 ? v4_fields : v6_fields) AclClassifier::fill_key(packet, key);
    if (!windows.empty()) {
      if (linear) {
        fill_acl_windows(windows, packet.payload, packet.payload_length, key);
      } else {
        fill_windows_segmented(m, info[i], windows, key);
      }
    }
    const uint8_t* level = v4 ? level4 : level6;
    if (prefetch_src) SetTables::prefetch(level, load_be32(packet.src.data()) >> 8);
    if (prefetch_dst) SetTables::prefetch(level, load_be32(packet.dst.data()) >> 8);
    if (v4) {
      v4_index[v4_count] = i;
      v4_packets[v4_count] = &packet;
      v4_keys[v4_count++] = reinterpret_cast<const uint8_t*>(&key);
    } else {
      v6_index[v6_count] = i;
      v6_packets[v6_count] = &packet;
      v6_keys[v6_count++] = reinterpret_cast<const uint8_t*>(&key);
    }
  }
  counters_.stats[stat(WorkerStat::rx_packets)] += count;
  counters_.stats[stat(WorkerStat::rx_bytes)] += rx_bytes;
  if (table.sets() != nullptr) {
    lookup_sets(table, v4_index.data(), v4_count, v6_index.data(), v6_count);
  }

  // Stage 2: per address family, one classification of the whole burst by each part; the
  // table picks each packet's first match across the two.
  const bool runtime_rules = runtime.rule_count() != 0;
  const auto classify_family = [&](rules::Family family, const rules::PacketKey* const* packets,
                                   const uint8_t** keys, const uint16_t* index, uint16_t n) {
    if (n == 0) return;
    file.classifier().classify(family, packets, keys, file_results.data(), n);
    if (!runtime_rules) {
      for (uint16_t k = 0; k < n; ++k)
        matched[index[k]] = file_results[k];
      return;
    }
    runtime.classifier().classify(family, packets, keys, runtime_results.data(), n);
    for (uint16_t k = 0; k < n; ++k)
      matched[index[k]] = table.pick(file_results[k], runtime_results[k]);
  };
  classify_family(rules::Family::ipv4, v4_packets.data(), v4_keys.data(), v4_index.data(),
                  v4_count);
  classify_family(rules::Family::ipv6, v6_packets.data(), v6_keys.data(), v6_index.data(),
                  v6_count);

  // Stage 3: apply verdicts.
  const std::array<const RuleVerdict*, kPartKinds> verdicts = {file.verdicts(), runtime.verdicts()};
  const std::array<RuleCounter*, kPartKinds> rows = {file.rule_counters(setup_.index),
                                                     runtime.rule_counters(setup_.index)};
  const std::array<MeterSlot*, kPartKinds> meters = {file.meters(setup_.index),
                                                     runtime.meters(setup_.index)};
  const std::array<const SourceLimit*, kPartKinds> source_limits = {
      file.source_limits(setup_.index), runtime.source_limits(setup_.index)};
  const uint16_t default_out = table.forward_to(in_port);
  const bool default_drop = table.defaults().default_action() == rules::Verdict::drop;
  const bool non_udp_drop = table.defaults().non_udp() == rules::Verdict::drop;
  const uint64_t now = meters[0] != nullptr || meters[1] != nullptr ? rte_rdtsc() : 0;
  // Non-zero only while a verdict capture runs: one load per burst otherwise.
  const uint64_t capture = tap_ != nullptr ? tap_->word() : 0;
  Talkers* const talkers = talkers_.get();
  uint32_t dropped_bits = 0;  // bit i: packet i was dropped
  static_assert(kBurstSize <= 32);
  const std::array<const uint64_t*, kPartKinds> talker_keys = {file.talker_keys(),
                                                               runtime.talker_keys()};
  // Per-source limits: hash the burst's keys and prefetch their buckets before any is needed.
  std::array<uint64_t, kBurstSize> source_hash;
  const bool per_source = file.per_source() || runtime.per_source();
  for (uint16_t i = 0; per_source && i < count; ++i) {
    const uint32_t hit = matched[i];
    if (hit == 0 || info[i].status != ParseStatus::udp) continue;
    const std::size_t part = hit >> 31;
    const RuleVerdict& verdict = verdicts[part][(hit & ~kRuntimeHit) - 1];
    if (!verdict.per_source) continue;
    source_hash[i] = sources_->hash(info[i].key, source_limits[part][verdict.meter]);
    sources_->prefetch(source_hash[i]);
  }
  for (uint16_t i = 0; i < count; ++i) {
    rte_mbuf* m = mbufs[i];
    const uint32_t length = rte_pktmbuf_pkt_len(m);
    DropReason reason = DropReason::count;
    uint16_t out = default_out;
    const uint32_t hit = matched[i];  // 0 for everything not classified
    const std::size_t part = hit >> 31;
    const uint32_t index = (hit & ~kRuntimeHit) - 1;  // meaningful when hit != 0
    switch (info[i].status) {
      case ParseStatus::malformed:
        reason = DropReason::malformed;
        break;
      case ParseStatus::non_udp:
        if (non_udp_drop) reason = DropReason::non_udp;
        break;
      case ParseStatus::udp:
        if (hit != 0) {
          RuleCounter& rc = rows[part][index];
          ++rc.packets;
          rc.bytes += length;
          const RuleVerdict& verdict = verdicts[part][index];
          switch (verdict.kind) {
            case rules::ActionKind::drop:
              reason = DropReason::rule;
              break;
            case rules::ActionKind::forward:
              if (verdict.out_port != RuleVerdict::kInputsForwardTo) out = verdict.out_port;
              break;
            case rules::ActionKind::rate_limit: {
              bool within = false;
              if (verdict.per_source) {
                within = sources_->admit_hashed(source_hash[i], source_limits[part][verdict.meter],
                                                now, verdict.count_bytes ? length : 1.0);
              } else {
                MeterSlot& slot = meters[part][verdict.meter];
                within = rte_meter_srtcm_color_blind_check(&slot.meter, &slot.profile, now,
                                                           verdict.count_bytes ? length : 1) ==
                         RTE_COLOR_GREEN;
              }
              if (!within) {
                reason = DropReason::rate_limit;
                ++rc.limited;
              }
              break;
            }
          }
        } else if (default_drop) {
          reason = DropReason::default_action;
        }
        break;
    }
    if (unlikely(capture != 0)) {
      const uint32_t rule = hit == 0 ? 0 : index + 1;
      const uint64_t generation = part == 0 ? file.generation() : runtime.generation();
      if (CaptureFilter::matches(capture, generation, rule, reason != DropReason::count)) {
        tap_->offer(setup_.index, m,
                    CaptureMeta{capture, rte_rdtsc(), length, rule, generation, in_port,
                                static_cast<uint16_t>(setup_.index), static_cast<uint8_t>(reason)});
      }
    }
    if (reason == DropReason::count) {
      enqueue_tx(out, m, length);
    } else {
      ++counters_.drops[drop(reason)];
      dropped[dropped_count++] = m;
      dropped_bits |= 1U << i;
    }
  }
  if (dropped_count != 0) rte_pktmbuf_free_bulk(dropped.data(), dropped_count);
  if (talkers != nullptr) {
    // The sampled packets' keys and verdicts (the frames themselves may be gone by now).
    talkers->offer(count, [&](uint32_t i) {
      if (info[i].status != ParseStatus::udp) return;
      const uint32_t hit = matched[i];
      const std::size_t part = hit >> 31;
      talkers->record(info[i].key, ((dropped_bits >> i) & 1U) != 0,
                      hit == 0 ? 0 : talker_keys[part][(hit & ~kRuntimeHit) - 1],
                      hit == 0 ? TalkerKey::kNoRule : static_cast<uint8_t>(part));
    });
  }
}

void Worker::end_talker_period() noexcept {
  const uint64_t now = rte_rdtsc();
  if (now < next_talkers_tsc_ || !talkers_->end_period(now)) return;
  next_talkers_tsc_ = now + rte_get_tsc_hz();
}

void Worker::lookup_sets(const Table& table, const uint16_t* v4_index, uint16_t v4_count,
                         const uint16_t* v6_index, uint16_t v6_count) noexcept {
  const SetTables& sets = *table.sets();
  std::array<uint16_t, kBurstSize> bits;
  static_assert(kSetSlots == rules::kMaxSets);
  const auto store = [&](const uint16_t* index, uint16_t n, bool src) {
    for (uint16_t k = 0; k < n; ++k) {
      AclKey& key = acl_keys_[index[k]];
      (src ? key.src_sets : key.dst_sets) = __builtin_bswap16(bits[k]);
      for (unsigned hit = bits[k]; hit != 0; hit &= hit - 1)
        ++counters_.set_hits[static_cast<unsigned>(__builtin_ctz(hit))];
    }
  };
  for (const bool src : {true, false}) {
    if (!(src ? table.src_sets() : table.dst_sets())) continue;
    if (v4_count != 0) {
      std::array<uint32_t, kBurstSize> ips;
      for (uint16_t k = 0; k < v4_count; ++k) {
        const rules::PacketKey& packet = info_[v4_index[k]].key;
        ips[k] = load_be32(src ? packet.src.data() : packet.dst.data());
      }
      sets.lookup_v4(ips.data(), bits.data(), v4_count);
      store(v4_index, v4_count, src);
    }
    if (v6_count != 0) {
      alignas(16) uint8_t ips[kBurstSize][16];
      for (uint16_t k = 0; k < v6_count; ++k) {
        const rules::PacketKey& packet = info_[v6_index[k]].key;
        std::memcpy(ips[k], src ? packet.src.data() : packet.dst.data(), 16);
      }
      sets.lookup_v6(ips, bits.data(), v6_count);
      store(v6_index, v6_count, src);
    }
  }
}

void Worker::fill_windows_segmented(const rte_mbuf* mbuf, const PacketInfo& info,
                                    const std::vector<uint16_t>& offsets, AclKey& key) noexcept {
  const uint32_t payload_start = info.l4_offset + 8U;
  const uint32_t payload_length = info.key.payload_length;
  for (std::size_t w = 0; w < offsets.size(); ++w) {
    if (offsets[w] == kNoWindow) continue;
    uint8_t* window = key.payload[w];
    std::memset(window, 0, sizeof key.payload[w]);
    if (payload_length <= offsets[w]) continue;
    const uint32_t present = std::min<uint32_t>(payload_length - offsets[w], 16);
    const void* bytes = rte_pktmbuf_read(mbuf, payload_start + offsets[w], present, window);
    if (bytes != nullptr && bytes != window) std::memcpy(window, bytes, present);
  }
}

void Worker::enqueue_tx(uint16_t out_port, rte_mbuf* mbuf, uint32_t length) noexcept {
  TxBuffer& buffer = tx_[out_port];
  // A local copy: otherwise the count is reloaded after each array store.
  const uint16_t count = buffer.count;
  buffer.mbufs[count] = mbuf;
  buffer.lengths[count] = length;
  buffer.count = static_cast<uint16_t>(count + 1);
  if (count + 1 == kBurstSize) flush(out_port);
}

void Worker::flush(uint16_t out_port) noexcept {
  TxBuffer& buffer = tx_[out_port];
  const uint16_t pending = buffer.count;
  if (pending == 0) return;
  buffer.count = 0;
  const uint16_t sent =
      rte_eth_tx_burst(port_ids_[out_port], tx_queue_, buffer.mbufs.data(), pending);
  uint64_t sent_bytes = 0;
  for (uint16_t i = 0; i < sent; ++i)
    sent_bytes += buffer.lengths[i];
  counters_.stats[stat(WorkerStat::forwarded_packets)] += sent;
  counters_.stats[stat(WorkerStat::forwarded_bytes)] += sent_bytes;
  if (unlikely(sent < pending)) {
    counters_.drops[drop(DropReason::tx_full)] += pending - sent;
    rte_pktmbuf_free_bulk(buffer.mbufs.data() + sent, pending - sent);
  }
}

void Worker::flush_all() noexcept {
  for (uint16_t port = 0; port < port_count_; ++port)
    flush(port);
}

bool Worker::publish(const Table& table, bool final) noexcept {
  WorkerSnapshot* snapshot = channel_.acquire();
  if (snapshot == nullptr) return false;
  snapshot->sequence = ++sequence_;
  snapshot->tsc = rte_rdtsc();
  snapshot->final = final;
  counters_.stats[stat(WorkerStat::per_source_sources)] = sources_->in_use();
  counters_.stats[stat(WorkerStat::per_source_evictions)] = sources_->evictions();
  snapshot->counters = counters_;
  snapshot->talkers.valid = false;
  if (talkers_ready_) {
    talkers_->take_report(snapshot->talkers);
    talkers_ready_ = false;
  }
  // A buffer too small for this table carries no rule counters; the control thread keeps the
  // previous ones and enlarges the buffer before handing it back.
  snapshot->rules_truncated = table.rule_count() > snapshot->rules.size();
  uint32_t first = 0;
  for (std::size_t k = 0; k < kPartKinds; ++k) {
    const RulePart& part = table.part(static_cast<PartKind>(k));
    PartSnapshot& out = snapshot->parts[k];
    out.generation = part.generation();
    out.first = first;
    out.count = snapshot->rules_truncated ? 0 : static_cast<uint32_t>(part.rule_count());
    // Without rules the row may be null, and memcpy from null is undefined even for 0 bytes.
    if (out.count != 0) {
      std::memcpy(snapshot->rules.data() + first, part.rule_counters(setup_.index),
                  out.count * sizeof(RuleCounter));
    }
    first += out.count;
  }
  channel_.publish(snapshot);
  return true;
}

}  // namespace udpsieve::dataplane
