#pragma once
/// Probing, configuring, starting and stopping the daemon's ports.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "udpsieve/common/stats_schema.hpp"
#include "udpsieve/config/config.hpp"

namespace udpsieve::dataplane {

class MempoolSet;

/// What the daemon knows about one port, for logs and the `ports` command.
struct PortInfo {
  std::string name;
  std::string device;
  std::string driver;
  uint16_t port_id = 0;
  int socket = -1;  ///< NUMA socket of the device, -1 when unknown
  uint16_t rx_queues = 0;
  uint16_t tx_queues = 0;
  uint16_t rx_descriptors = 0;
  uint16_t tx_descriptors = 0;
  uint16_t max_rx_queues = 0;
  uint16_t max_tx_queues = 0;
  uint64_t rss_hash = 0;       ///< RSS hash functions in use; 0 when RSS is off
  uint64_t rss_offered = 0;    ///< RSS hash functions the driver offers (flow_type_rss_offloads)
  bool rss_symmetric = false;  ///< the symmetric key is in use
  bool isolated = false;       ///< rte_flow isolated mode (ports[].isolate)
  uint8_t rss_key_size = 0;    ///< hash key length the driver takes (0: it takes none)
  uint16_t max_mtu = 0;        ///< largest MTU the driver accepts
  uint32_t max_rx_frame = 0;   ///< largest frame it receives (max_rx_pktlen)
  bool rx_scatter = false;     ///< the driver can receive a frame into several mbufs
  bool tx_multi_segs = false;  ///< the driver can send a frame made of several mbufs
  uint16_t mtu = 0;            ///< the MTU in use (read back after start)
  bool started = false;
};

/// Link state for `ports`.
struct LinkInfo {
  bool up = false;
  uint32_t speed_mbps = 0;
  bool full_duplex = false;
};

using PortCounters = std::array<uint64_t, kPortStatCount>;

/// The RSS hash functions udpsieve asks for (`fields`: IP, or IP and UDP), of those in
/// `offered`.
[[nodiscard]] uint64_t wanted_rss(uint64_t offered,
                                  config::RssFields fields = config::RssFields::ip_udp) noexcept;
/// A Toeplitz key of `length` bytes that hashes (src, dst) and (dst, src) alike, so both
/// directions of a flow land on one queue: the 16-bit pattern 0x6d5a repeated (Woo and Park,
/// "Scalable TCP Session Monitoring with Symmetric Receive-side Scaling", 2012).
[[nodiscard]] std::vector<uint8_t> symmetric_rss_key(std::size_t length);
/// "ipv4+ipv4-udp+..." for RSS hash bits, "off" for 0.
[[nodiscard]] std::string rss_text(uint64_t hash);
/// Why `info`'s driver cannot give `queues` workers a queue each, with what to change; empty
/// when it can.
[[nodiscard]] std::string queue_shortfall(const PortInfo& info, const config::PortConfig& port,
                                          uint16_t queues);
/// Data room of one mbuf of the daemon's pools (RTE_MBUF_DEFAULT_DATAROOM).
inline constexpr uint32_t kMbufDataRoom = 2048;
/// Largest Ethernet frame an MTU allows: header, two VLAN tags, payload, CRC.
[[nodiscard]] constexpr uint32_t max_frame_for_mtu(uint32_t mtu) noexcept {
  return mtu + 26;
}
/// Why `info`'s driver cannot run at `port.mtu`, with what to change; empty when it can (or
/// no MTU is configured). Frames larger than one mbuf (2 KiB of data) need RX scatter and, to
/// be forwarded, multi-segment TX.
/// The largest MTU `info`'s driver accepts (max_mtu, and max_rx_pktlen less header and CRC).
[[nodiscard]] uint32_t largest_mtu(const PortInfo& info) noexcept;
[[nodiscard]] std::string mtu_problem(const PortInfo& info, const config::PortConfig& port);

class PortSet {
 public:
  PortSet() = default;
  ~PortSet();
  PortSet(const PortSet&) = delete;
  PortSet& operator=(const PortSet&) = delete;

  /// Attaches every configured device (PCI devices are probed by EAL, vdevs here). A missing
  /// device throws std::runtime_error with one line saying what to change.
  void attach(const std::vector<config::PortConfig>& ports);
  /// Configures `queues` RX and TX queues per port, queue q on `queue_sockets[q]` with that
  /// socket's pool, enables RSS when there are several queues and the PMD supports it, starts
  /// the ports and logs link, queue and descriptor counts. Throws on failure.
  void start(const std::vector<config::PortConfig>& ports, uint16_t queues,
             const std::vector<int>& queue_sockets, const MempoolSet& pools);
  /// Stops and closes every port (idempotent).
  void stop_and_close() noexcept;

  [[nodiscard]] const std::vector<PortInfo>& ports() const noexcept { return ports_; }
  [[nodiscard]] PortCounters counters(std::size_t index) const;
  [[nodiscard]] LinkInfo link(std::size_t index) const;

 private:
  std::vector<PortInfo> ports_;
};

}  // namespace udpsieve::dataplane
