#pragma once
/// Every statistic declared once: name, kind, help text and Prometheus name. The daemon's JSON,
/// the CLI tables, the Prometheus exposition (control/prometheus.hpp) and docs/metrics.md are all
/// generated from these tables.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace udpsieve {

enum class StatKind : uint8_t { counter, gauge };

struct StatDesc {
  std::string_view name;  ///< JSON key; a key ending in _ms or _us is exposed in seconds
  StatKind kind;
  std::string_view help;
  /// Full Prometheus metric name (udpsieve_ prefix, _total on counters, base units). Empty in
  /// tables whose entries are label values of one metric (kDropReasons: reason="rule").
  std::string_view metric;
};

/// Per-worker counters, written only by the owning worker.
enum class WorkerStat : uint8_t {
  rx_packets,
  rx_bytes,
  forwarded_packets,
  forwarded_bytes,
  polls_busy,
  polls_idle,
  per_source_sources,
  per_source_evictions,
  count,
};
inline constexpr std::size_t kWorkerStatCount = static_cast<std::size_t>(WorkerStat::count);

inline constexpr std::array<StatDesc, kWorkerStatCount> kWorkerStats = {{
    {"rx_packets", StatKind::counter, "Packets received from the worker's RX queues",
     "udpsieve_worker_rx_packets_total"},
    {"rx_bytes", StatKind::counter, "Bytes received (whole frames)",
     "udpsieve_worker_rx_bytes_total"},
    {"forwarded_packets", StatKind::counter, "Packets accepted by an output TX queue",
     "udpsieve_worker_forwarded_packets_total"},
    {"forwarded_bytes", StatKind::counter, "Bytes accepted by an output TX queue",
     "udpsieve_worker_forwarded_bytes_total"},
    {"polls_busy", StatKind::counter, "RX polls that returned at least one packet",
     "udpsieve_worker_polls_busy_total"},
    {"polls_idle", StatKind::counter, "RX polls that returned nothing",
     "udpsieve_worker_polls_idle_total"},
    {"per_source_sources", StatKind::gauge,
     "Entries of the worker's per-source rate-limit table holding a source",
     "udpsieve_worker_per_source_entries"},
    {"per_source_evictions", StatKind::counter,
     "Sources of per-source rate limits that found their set full and took the entry whose "
     "bucket was fullest",
     "udpsieve_worker_per_source_evictions_total"},
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
    {"rule", StatKind::counter, "Matched a rule whose action is drop", ""},
    {"default", StatKind::counter, "UDP that matched no rule, default_action is drop", ""},
    {"non_udp", StatKind::counter, "Not UDP, pipeline.non_udp is drop", ""},
    {"malformed", StatKind::counter, "Truncated or inconsistent headers", ""},
    {"tx_full", StatKind::counter, "The output TX queue refused the packet", ""},
    {"rate_limit", StatKind::counter, "Matched a rate_limit rule beyond its rate", ""},
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
    {"rx_packets", StatKind::counter, "Packets the port received (ipackets)",
     "udpsieve_port_rx_packets_total"},
    {"tx_packets", StatKind::counter, "Packets the port sent (opackets)",
     "udpsieve_port_tx_packets_total"},
    {"rx_bytes", StatKind::counter, "Bytes the port received (ibytes)",
     "udpsieve_port_rx_bytes_total"},
    {"tx_bytes", StatKind::counter, "Bytes the port sent (obytes)", "udpsieve_port_tx_bytes_total"},
    {"rx_missed", StatKind::counter, "Packets the NIC dropped for lack of RX descriptors (imissed)",
     "udpsieve_port_rx_missed_packets_total"},
    {"rx_errors", StatKind::counter, "Erroneous received packets (ierrors)",
     "udpsieve_port_rx_error_packets_total"},
    {"tx_errors", StatKind::counter, "Failed transmissions (oerrors)",
     "udpsieve_port_tx_error_packets_total"},
    {"rx_nombuf", StatKind::counter, "RX mbuf allocation failures (rx_nombuf)",
     "udpsieve_port_rx_nombuf_total"},
}};

/// The drop reasons above as one metric, reason="<name>".
inline constexpr StatDesc kDroppedByReason = {"drops", StatKind::counter,
                                              "Packets dropped, by reason (every drop has one)",
                                              "udpsieve_dropped_packets_total"};
/// A worker's drops, all reasons together.
inline constexpr StatDesc kWorkerDropped = {"dropped_packets", StatKind::counter,
                                            "Packets the worker dropped, all reasons",
                                            "udpsieve_worker_dropped_packets_total"};

/// Per-rule counters (the `rules` entries of `stats`), rule="<id>". passed and limited exist
/// only for rate_limit rules; hw_packets only where a NIC holds the rule and counts for it.
inline constexpr std::array<StatDesc, 6> kRuleStats = {{
    {"packets", StatKind::counter,
     "Packets that matched the rule (in software, plus what NICs dropped for it)",
     "udpsieve_rule_packets_total"},
    {"bytes", StatKind::counter, "Bytes of the packets that matched the rule",
     "udpsieve_rule_bytes_total"},
    {"passed", StatKind::counter, "Packets a rate_limit rule let through within its rate",
     "udpsieve_rule_passed_packets_total"},
    {"limited", StatKind::counter, "Packets a rate_limit rule dropped beyond its rate",
     "udpsieve_rule_limited_packets_total"},
    {"offloaded", StatKind::gauge, "1 while a drop rule is in at least one port's NIC (rte_flow)",
     "udpsieve_rule_offloaded"},
    {"hw_packets", StatKind::counter,
     "Packets the NICs dropped for the rule (where every NIC holding it counts)",
     "udpsieve_rule_nic_dropped_packets_total"},
}};

/// Totals beside the workers' (the `totals` object of `stats`).
inline constexpr std::array<StatDesc, 1> kOffloadStats = {{
    {"offload_dropped_packets", StatKind::counter,
     "Packets NICs dropped by offloaded rules before any worker saw them (not in rx_packets)",
     "udpsieve_nic_dropped_packets_total"},
}};

/// Per-mempool gauges (the `mempools` entries of `stats`), socket="<NUMA socket>".
inline constexpr std::array<StatDesc, 3> kMempoolStats = {{
    {"size", StatKind::gauge, "Mbufs in the pool", "udpsieve_mempool_mbufs"},
    {"in_use", StatKind::gauge, "Mbufs in use (in queues, workers or caches)",
     "udpsieve_mempool_in_use_mbufs"},
    {"available", StatKind::gauge, "Mbufs free in the pool", "udpsieve_mempool_available_mbufs"},
}};

/// Prefix sets (the `sets` list of `stats`, one element per set).
inline constexpr std::array<StatDesc, 4> kSetStats = {{
    {"prefixes_v4", StatKind::gauge, "IPv4 prefixes the set holds", "udpsieve_set_prefixes_v4"},
    {"prefixes_v6", StatKind::gauge, "IPv6 prefixes the set holds", "udpsieve_set_prefixes_v6"},
    {"runtime_entries", StatKind::gauge, "Prefixes added to the set at runtime (set add)",
     "udpsieve_set_runtime_entries"},
    {"hits", StatKind::counter,
     "Source and destination address lookups that found the address in the set",
     "udpsieve_set_hits_total"},
}};

/// The prefix sets' lookup tables (the `set_tables` object of `stats`).
inline constexpr std::array<StatDesc, 4> kSetTableStats = {{
    {"routes_v4", StatKind::gauge, "Distinct IPv4 prefixes in the set lookup table",
     "udpsieve_set_table_routes_v4"},
    {"routes_v6", StatKind::gauge, "Distinct IPv6 prefixes in the set lookup table",
     "udpsieve_set_table_routes_v6"},
    {"memory_bytes", StatKind::gauge, "DPDK memory of the set lookup tables (both copies)",
     "udpsieve_set_table_memory_bytes"},
    {"changes", StatKind::counter,
     "Runtime set changes since start (adds, deletes, flushes, expiries)",
     "udpsieve_set_changes_total"},
}};

/// Rule reloads (the `reload` object of `rules`).
inline constexpr std::array<StatDesc, 4> kReloadStats = {{
    {"applied", StatKind::counter, "Reloads applied since start", "udpsieve_reloads_applied_total"},
    {"refused", StatKind::counter, "Reloads refused since start (the running rules stayed)",
     "udpsieve_reloads_refused_total"},
    {"compile_ms", StatKind::gauge, "Rule compile time of the last reload attempt",
     "udpsieve_reload_last_compile_seconds"},
    {"total_ms", StatKind::gauge, "Duration of the last reload attempt, request to swap",
     "udpsieve_reload_last_duration_seconds"},
}};

/// The rule table in effect (top level of `rules`).
inline constexpr std::array<StatDesc, 3> kRuleTableStats = {{
    {"generation", StatKind::gauge, "Generation of the rule table in effect (1 at start)",
     "udpsieve_rules_generation"},
    {"rule_count", StatKind::gauge, "Rules in effect, file and runtime", "udpsieve_rules"},
    {"rules_without_series", StatKind::gauge,
     "Rules beyond the first 1000 in first-match order, which get no per-rule series (see "
     "udpsievectl rules)",
     "udpsieve_rules_without_series"},
}};

/// The classifier of the rule table in effect (the `classifier` object of `rules`).
inline constexpr std::array<StatDesc, 3> kClassifierStats = {{
    {"entries_v4", StatKind::gauge, "IPv4 classifier entries", "udpsieve_classifier_entries_ipv4"},
    {"entries_v6", StatKind::gauge, "IPv6 classifier entries", "udpsieve_classifier_entries_ipv6"},
    {"memory_bytes", StatKind::gauge, "Memory the classifier's lookup tables take",
     "udpsieve_classifier_memory_bytes"},
}};

/// Runtime rules (the `dynamic` object of `stats`).
inline constexpr std::array<StatDesc, 11> kRuntimeStats = {{
    {"rules", StatKind::gauge, "Runtime rules in effect (all sources)", "udpsieve_runtime_rules"},
    {"pending", StatKind::gauge, "Runtime changes accepted and not yet in effect",
     "udpsieve_runtime_pending_changes"},
    {"adds", StatKind::counter, "Runtime rules added since start",
     "udpsieve_runtime_rules_added_total"},
    {"replaces", StatKind::counter, "Runtime rules replaced since start",
     "udpsieve_runtime_rules_replaced_total"},
    {"deletes", StatKind::counter, "Runtime rules deleted since start (not counting expiries)",
     "udpsieve_runtime_rules_deleted_total"},
    {"expiries", StatKind::counter, "Runtime rules removed by their time to live",
     "udpsieve_runtime_rules_expired_total"},
    {"syncs", StatKind::counter, "rule-sync requests applied since start",
     "udpsieve_runtime_syncs_total"},
    {"refusals", StatKind::counter, "Runtime change requests refused (nothing applied)",
     "udpsieve_runtime_refusals_total"},
    {"builds", StatKind::counter, "Builds of the runtime rules' classifier since start",
     "udpsieve_runtime_builds_total"},
    {"last_apply_ms", StatKind::gauge,
     "Last runtime change, request received to reply sent (rules in effect)",
     "udpsieve_runtime_last_apply_seconds"},
    {"last_build_ms", StatKind::gauge, "Last build of the runtime rules' classifier",
     "udpsieve_runtime_last_build_seconds"},
}};

/// The process (top level of `stats`).
inline constexpr std::array<StatDesc, 1> kProcessStats = {{
    {"uptime_s", StatKind::gauge, "Seconds since the daemon started", "udpsieve_uptime_seconds"},
}};

/// Versions as labels (version="0.1.0", dpdk="DPDK 22.11.x"); the value is always 1.
inline constexpr StatDesc kBuildInfo = {"build_info", StatKind::gauge,
                                        "Versions of udpsieved and DPDK; always 1",
                                        "udpsieve_build_info"};

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
