#pragma once
/// Every statistic declared once: name, kind and help text. The daemon's JSON, the CLI tables
/// and (later) the Prometheus exposition are all generated from these tables.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace udpsieve {

enum class StatKind : uint8_t { counter, gauge };

struct StatDesc {
  std::string_view name;  ///< JSON key / metric suffix
  StatKind kind;
  std::string_view help;
};

/// Per-worker counters, written only by the owning worker.
enum class WorkerStat : uint8_t {
  rx_packets,
  rx_bytes,
  forwarded_packets,
  forwarded_bytes,
  polls_busy,
  polls_idle,
  count,
};
inline constexpr std::size_t kWorkerStatCount = static_cast<std::size_t>(WorkerStat::count);

inline constexpr std::array<StatDesc, kWorkerStatCount> kWorkerStats = {{
    {"rx_packets", StatKind::counter, "Packets received from the worker's RX queues"},
    {"rx_bytes", StatKind::counter, "Bytes received (whole frames)"},
    {"forwarded_packets", StatKind::counter, "Packets accepted by an output TX queue"},
    {"forwarded_bytes", StatKind::counter, "Bytes accepted by an output TX queue"},
    {"polls_busy", StatKind::counter, "RX polls that returned at least one packet"},
    {"polls_idle", StatKind::counter, "RX polls that returned nothing"},
}};

/// Why a packet was dropped. Every drop has exactly one reason.
enum class DropReason : uint8_t {
  rule,            ///< matched a rule whose action is drop
  default_action,  ///< UDP that matched no rule, with pipeline.default_action: drop
  non_udp,         ///< not UDP, with pipeline.non_udp: drop
  malformed,       ///< could not be parsed (truncated, bad lengths)
  tx_full,         ///< the output TX queue refused it
  rate_limit,      ///< matched a rate_limit rule beyond its rate
  count,
};
inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::count);

inline constexpr std::array<StatDesc, kDropReasonCount> kDropReasons = {{
    {"rule", StatKind::counter, "Matched a rule whose action is drop"},
    {"default", StatKind::counter, "UDP that matched no rule, default_action is drop"},
    {"non_udp", StatKind::counter, "Not UDP, pipeline.non_udp is drop"},
    {"malformed", StatKind::counter, "Truncated or inconsistent headers"},
    {"tx_full", StatKind::counter, "The output TX queue refused the packet"},
    {"rate_limit", StatKind::counter, "Matched a rate_limit rule beyond its rate"},
}};

/// Port counters read from the NIC (rte_eth_stats_get), per port.
enum class PortStat : uint8_t {
  rx_packets,
  tx_packets,
  rx_bytes,
  tx_bytes,
  rx_missed,
  rx_errors,
  tx_errors,
  rx_nombuf,
  count
};
inline constexpr std::size_t kPortStatCount = static_cast<std::size_t>(PortStat::count);

inline constexpr std::array<StatDesc, kPortStatCount> kPortStats = {{
    {"rx_packets", StatKind::counter, "Packets the port received (ipackets)"},
    {"tx_packets", StatKind::counter, "Packets the port sent (opackets)"},
    {"rx_bytes", StatKind::counter, "Bytes the port received (ibytes)"},
    {"tx_bytes", StatKind::counter, "Bytes the port sent (obytes)"},
    {"rx_missed", StatKind::counter,
     "Packets the NIC dropped for lack of RX descriptors (imissed)"},
    {"rx_errors", StatKind::counter, "Erroneous received packets (ierrors)"},
    {"tx_errors", StatKind::counter, "Failed transmissions (oerrors)"},
    {"rx_nombuf", StatKind::counter, "RX mbuf allocation failures (rx_nombuf)"},
}};

/// Burst-size histogram: bucket i counts RX polls that returned i packets (0..kBurstSize).
inline constexpr std::size_t kBurstSize = 32;
inline constexpr std::size_t kBurstHistogramBuckets = kBurstSize + 1;

template <class Enum>
constexpr std::size_t index_of(Enum value) noexcept {
  return static_cast<std::size_t>(value);
}

/// Name lookups used where an enum value is printed.
[[nodiscard]] std::string_view stat_name(WorkerStat stat) noexcept;
[[nodiscard]] std::string_view stat_name(DropReason reason) noexcept;
[[nodiscard]] std::string_view stat_name(PortStat stat) noexcept;

}  // namespace udpsieve
