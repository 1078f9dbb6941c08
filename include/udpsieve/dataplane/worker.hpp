#pragma once
/// The per-lcore poll-mode worker: RX burst → parse → classify → verdicts → buffered TX.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "udpsieve/config/config.hpp"
#include "udpsieve/dataplane/acl_classifier.hpp"
#include "udpsieve/dataplane/counters.hpp"
#include "udpsieve/dataplane/packet_parser.hpp"
#include "udpsieve/dataplane/source_buckets.hpp"
#include "udpsieve/dataplane/talkers.hpp"

struct rte_mbuf;
struct rte_rcu_qsbr;

namespace udpsieve::dataplane {

class CaptureTap;
class SnapshotChannel;
class Table;
struct MeterSlot;
class TablePublisher;

/// One RX queue a worker polls.
struct RxQueueRef {
  uint16_t port_id = 0;  ///< DPDK port id
  uint16_t queue_id = 0;
  uint16_t port_index = 0;  ///< index in the daemon's port list
};

/// Everything a worker needs to know, fixed before it starts.
struct WorkerSetup {
  uint32_t index = 0;  ///< 0..workers-1, also its TX queue on every port and its RCU thread id
  unsigned lcore = 0;
  unsigned cpu = 0;
  int socket = 0;
  std::vector<RxQueueRef> rx_queues;
  std::vector<uint16_t> port_ids;  ///< port index → DPDK port id
  uint64_t publish_interval_tsc = 0;
  CaptureTap* tap = nullptr;  ///< verdict capture (shared by all workers); none when null
  std::size_t per_source_entries = 1024;  ///< pipeline.per_source_entries
  uint32_t talker_sampling = 0;           ///< pipeline.talker_sampling (0: no talker summaries)
  uint32_t talker_max_sample_rate = 0;    ///< pipeline.talker_max_sample_rate (0: no bound)
};

class alignas(kCacheLine) Worker {
 public:
  Worker(WorkerSetup setup, const TablePublisher& tables, SnapshotChannel& channel,
         const std::atomic<bool>& stop);

  /// The loop; returns when `stop` is set, after flushing TX and publishing a final snapshot.
  int run() noexcept;
  /// rte_eal_remote_launch entry point; `arg` is the Worker.
  static int launch(void* arg) noexcept;

  [[nodiscard]] const WorkerSetup& setup() const noexcept { return setup_; }
  /// Loop passes completed; advances while the worker is alive (read by the control thread).
  [[nodiscard]] uint64_t heartbeat() const noexcept {
    return heartbeat_.load(std::memory_order_relaxed);
  }
  /// Test hook (the daemon offers it only with UDPSIEVE_TEST_HOOKS=1): while set, the worker
  /// spins at its next publish point without polling, as a stuck worker would, so tests can
  /// show that systemd's watchdog notices. Stop requests still end it.
  void set_stalled(bool stalled) noexcept { stall_.store(stalled, std::memory_order_relaxed); }
  /// True once run() has returned.
  [[nodiscard]] bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }

 private:
  struct TxBuffer {
    uint16_t count = 0;
    std::array<rte_mbuf*, kBurstSize> mbufs{};
    std::array<uint32_t, kBurstSize> lengths{};  // kept: a sent mbuf may be freed at once
  };

  void handle_burst(rte_mbuf** mbufs, uint16_t count, uint16_t in_port,
                    const Table& table) noexcept;
  /// Fills the payload windows of a multi-segment packet's key straight from its segments.
  /// Fills the keys' src_sets / dst_sets from the set tables, per family in bulk.
  void lookup_sets(const Table& table, const uint16_t* v4_index, uint16_t v4_count,
                   const uint16_t* v6_index, uint16_t v6_count) noexcept;
  static void fill_windows_segmented(const rte_mbuf* mbuf, const PacketInfo& info,
                                     const std::vector<uint16_t>& offsets, AclKey& key) noexcept;
  void enqueue_tx(uint16_t out_port, rte_mbuf* mbuf, uint32_t length) noexcept;
  void flush(uint16_t out_port) noexcept;
  void flush_all() noexcept;
  [[nodiscard]] bool publish(const Table& table, bool final) noexcept;
  /// Ends the talker summaries' period when a second has passed (checked at publish points).
  void end_talker_period() noexcept;

  // --- hot: touched for every burst ---
  WorkerCounters counters_;
  std::array<TxBuffer, config::kMaxPorts> tx_;
  std::array<uint16_t, config::kMaxPorts> port_ids_{};
  uint16_t port_count_ = 0;
  uint16_t tx_queue_ = 0;
  CaptureTap* tap_ = nullptr;
  std::unique_ptr<SourceBuckets> sources_;  ///< per-source rate-limit buckets
  std::unique_ptr<Talkers> talkers_;        ///< top-talker summaries (null when off)
  const TablePublisher& tables_;
  rte_rcu_qsbr* qsbr_;
  const std::atomic<bool>& stop_;
  alignas(kCacheLine) std::array<PacketInfo, kBurstSize> info_{};       // per-burst parse results
  alignas(kCacheLine) std::array<AclKey, kBurstSize> acl_keys_{};       // per-burst classifier keys
  alignas(kCacheLine) std::array<uint8_t, kMaxHeaderBytes> scratch_{};  // multi-segment headers

  // --- cold: set up once, or touched once per publish interval ---
  WorkerSetup setup_;
  SnapshotChannel& channel_;
  uint64_t next_publish_tsc_ = 0;
  uint64_t next_talkers_tsc_ = 0;  ///< when the talker summaries' period ends
  bool talkers_ready_ = false;     ///< a finished period's report is ready to ship
  uint64_t sequence_ = 0;
  alignas(kCacheLine) std::atomic<uint64_t> heartbeat_{0};
  std::atomic<bool> finished_{false};
  std::atomic<bool> stall_{false};
};

}  // namespace udpsieve::dataplane
