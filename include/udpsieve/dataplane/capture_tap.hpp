#pragma once
/// Verdict capture: workers copy the packets a running capture wants into a small pool of their
/// own and hand them to the control thread through one single-producer/single-consumer ring
/// each; the control thread drains them into plain records.
///
/// When no capture runs, a worker pays one relaxed load per burst (the filter word is 0). While
/// one runs, only packets that match the filter cost anything: a ring-full check, and while
/// there is room, a copy of up to `snaplen` bytes. A full ring or an empty pool skips the
/// packet (counted as missed); the packet's own fate is never affected.

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "udpsieve/common/stats_schema.hpp"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

namespace udpsieve::dataplane {

/// What a capture wants, as the workers read it: one 64-bit word, 0 when no capture runs.
///   bits 62-63  kind: 1 = packets decided by one rule, 2 = by verdict
///   bits 32-61  for kind 1, the low 30 bits of the table generation the rule index belongs to
///   bits 0-31   kind 1: rule index + 1; kind 2: 1 = dropped, 2 = forwarded
struct CaptureFilter {
  enum class Kind : uint8_t { none = 0, rule = 1, verdict = 2 };
  static constexpr uint32_t kDropped = 1;
  static constexpr uint32_t kForwarded = 2;

  [[nodiscard]] static constexpr uint64_t rule(uint64_t generation, uint32_t index) noexcept {
    return uint64_t{1} << 62 | (generation & kGenerationMask) << 32 | (index + 1U);
  }
  [[nodiscard]] static constexpr uint64_t verdict(bool dropped) noexcept {
    return uint64_t{2} << 62 | (dropped ? kDropped : kForwarded);
  }
  /// Whether a packet matches `word`: decided by rule `hit` (index + 1, 0 for none) of the
  /// table of `generation`, dropped or not.
  [[nodiscard]] static constexpr bool matches(uint64_t word, uint64_t generation, uint32_t hit,
                                              bool dropped) noexcept {
    const uint64_t kind = word >> 62;
    const auto value = static_cast<uint32_t>(word);
    if (kind == 1) {
      return hit == value && ((word >> 32) & kGenerationMask) == (generation & kGenerationMask);
    }
    return kind == 2 && value == (dropped ? kDropped : kForwarded);
  }
  static constexpr uint64_t kGenerationMask = (uint64_t{1} << 30) - 1;
};

/// Metadata a worker stores with each copy (in the mbuf's private area).
struct CaptureMeta {
  uint64_t word = 0;  ///< the filter word the packet matched
  uint64_t tsc = 0;   ///< rte_rdtsc() when the verdict was taken
  uint32_t original_length = 0;
  uint32_t rule = 0;        ///< rule index + 1, 0 for none
  uint64_t generation = 0;  ///< table generation the rule index belongs to
  uint16_t in_port = 0;     ///< index in the daemon's port list
  uint16_t worker = 0;
  uint8_t reason = 0;  ///< DropReason, or DropReason::count when forwarded
};

/// One captured packet, drained by the control thread.
struct CapturedPacket {
  CaptureMeta meta;
  std::vector<uint8_t> data;  ///< the first bytes of the frame (up to the snap length)
};

class CaptureTap {
 public:
  /// A pool of `pool_size` copies and a ring of `ring_size` per worker, on `socket`.
  CaptureTap(uint32_t workers, int socket, unsigned pool_size = 2047, unsigned ring_size = 512);
  ~CaptureTap();
  CaptureTap(const CaptureTap&) = delete;
  CaptureTap& operator=(const CaptureTap&) = delete;

  // --- control thread ---
  /// Starts a capture of what `word` selects, copying at most `snaplen` bytes of each packet.
  void begin(uint64_t word, uint32_t snaplen);
  /// Changes what the running capture selects (a rule's new index after a reload); packets
  /// taken under this capture's earlier words still count.
  void retarget(uint64_t word);
  /// Ends the capture and frees whatever is still queued.
  void end();
  /// Takes up to `max` packets of the running capture from the workers' rings (the rest stay
  /// queued). A copy made under another capture's word (a worker read the word just before
  /// that capture ended) is freed, not returned.
  void drain(std::size_t max, std::vector<CapturedPacket>& out);
  /// Packets that matched but found the ring full or the pool empty, since begin().
  [[nodiscard]] uint64_t missed() const noexcept;

  // --- workers ---
  [[nodiscard]] uint64_t word() const noexcept { return word_.load(std::memory_order_acquire); }
  /// Copies `m` for the capture if there is room (worker `worker` only).
  void offer(uint32_t worker, const rte_mbuf* m, const CaptureMeta& meta) noexcept;

 private:
  struct alignas(64) PerWorker {
    rte_ring* ring = nullptr;
    std::atomic<uint64_t> missed{0};  // written by the worker, read by the control thread
  };
  alignas(64) std::atomic<uint64_t> word_{0};
  std::atomic<uint32_t> snaplen_{0};
  void discard();

  uint64_t missed_at_arm_ = 0;   // control thread only
  std::vector<uint64_t> words_;  // every word of the running capture (control thread only)
  rte_mempool* pool_ = nullptr;
  std::vector<PerWorker> workers_;
};

}  // namespace udpsieve::dataplane
