#include "udpsieve/dataplane/ports.hpp"

#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_mbuf.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <vector>

#include "udpsieve/config/eal_args.hpp"
#include "udpsieve/dataplane/eal.hpp"
#include "udpsieve/dataplane/mempools.hpp"

namespace udpsieve::dataplane {
namespace {

/// The DPDK device name of a device string: "net_pcap0" for "net_pcap0,rx_pcap=x", the full
/// "0000:3b:00.0" form for a PCI address.
std::string device_name(const std::string& device) {
  std::string name = device.substr(0, device.find(','));
  if (config::is_pci_address(name)) {
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (name.size() == 7) name = "0000:" + name;  // BB:DD.F
  }
  return name;
}

std::string port_label(const config::PortConfig& port) {
  return "port '" + port.name + "' (" + port.device + ")";
}

void check(int rc, const std::string& what) {
  if (rc < 0) throw std::runtime_error(what + ": " + rte_strerror(-rc));
}

}  // namespace

std::string rss_text(uint64_t hash) {
  if (hash == 0) return "off";
  std::string text;
  auto add = [&](uint64_t bit, const char* name) {
    if ((hash & bit) == 0) return;
    if (!text.empty()) text += '+';
    text += name;
  };
  add(RTE_ETH_RSS_IPV4, "ipv4");
  add(RTE_ETH_RSS_NONFRAG_IPV4_UDP, "ipv4-udp");
  add(RTE_ETH_RSS_FRAG_IPV4, "ipv4-frag");
  add(RTE_ETH_RSS_IPV6, "ipv6");
  add(RTE_ETH_RSS_NONFRAG_IPV6_UDP, "ipv6-udp");
  add(RTE_ETH_RSS_FRAG_IPV6, "ipv6-frag");
  return text.empty() ? "on" : text;
}

uint64_t wanted_rss(uint64_t offered, config::RssFields fields) noexcept {
  const uint64_t wanted =
      fields == config::RssFields::ip ? RTE_ETH_RSS_IP : (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
  return offered & wanted;
}

std::vector<uint8_t> symmetric_rss_key(std::size_t length) {
  std::vector<uint8_t> key(length);
  for (std::size_t i = 0; i < length; ++i)
    key[i] = i % 2 == 0 ? 0x6d : 0x5a;
  return key;
}

std::string queue_shortfall(const PortInfo& info, const config::PortConfig& port, uint16_t queues) {
  if (info.max_rx_queues >= queues && info.max_tx_queues >= queues) return {};
  return port_label(port) + ": driver " + info.driver + " offers " +
         std::to_string(info.max_rx_queues) + " RX / " + std::to_string(info.max_tx_queues) +
         " TX queue(s) but the " + std::to_string(queues) +
         " worker(s) need one of each; list fewer workers in eal.lcores" +
         (info.driver == "net_pcap" ? " (net_pcap: give rx_pcap= and tx_pcap= once per worker)"
                                    : "");
}

uint32_t largest_mtu(const PortInfo& info) noexcept {
  // DPDK sizes a frame as MTU + Ethernet header + CRC when it checks max_rx_pktlen.
  const uint32_t overhead = RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
  const uint32_t by_frame = info.max_rx_frame > overhead ? info.max_rx_frame - overhead : 0;
  return std::min<uint32_t>(info.max_mtu, by_frame);
}

static_assert(kMbufDataRoom == RTE_MBUF_DEFAULT_DATAROOM, "the pools use the default data room");

std::string mtu_problem(const PortInfo& info, const config::PortConfig& port) {
  if (port.mtu == 0) return {};
  if (port.mtu > largest_mtu(info)) {
    return port_label(port) + ": driver " + info.driver + " accepts an MTU of at most " +
           std::to_string(largest_mtu(info)) + ", not " + std::to_string(port.mtu) +
           "; lower the port's mtu";
  }
  const bool jumbo = max_frame_for_mtu(port.mtu) > kMbufDataRoom;
  if (jumbo && (!info.rx_scatter || !info.tx_multi_segs)) {
    return port_label(port) + ": an MTU of " + std::to_string(port.mtu) +
           " means frames of up to " + std::to_string(max_frame_for_mtu(port.mtu)) +
           " bytes, larger than one " + std::to_string(kMbufDataRoom) + "-byte mbuf, and driver " +
           info.driver + " cannot " + (!info.rx_scatter ? "receive" : "send") +
           " a frame in several mbufs; use an MTU of at most " + std::to_string(kMbufDataRoom - 26);
  }
  return {};
}

PortSet::~PortSet() {
  stop_and_close();
}

void PortSet::attach(const std::vector<config::PortConfig>& ports) {
  for (std::size_t i = 0; i < ports.size(); ++i) {
    const config::PortConfig& port = ports[i];
    const std::string name = device_name(port.device);
    const bool pci = config::is_pci_address(port.device);
    if (!pci) {
      (void)take_dpdk_problem();
      const int rc = rte_dev_probe(port.device.c_str());
      if (rc < 0) {
        // rte_dev_probe's code is often generic (EFAULT, EPERM); the driver logged the reason.
        const std::string problem = take_dpdk_problem();
        throw std::runtime_error("ports[" + std::to_string(i) + "] " + port_label(port) +
                                 ": cannot create the device: " +
                                 (problem.empty() ? std::string(rte_strerror(-rc)) : problem) +
                                 "; check the driver name and its arguments");
      }
    }
    uint16_t port_id = 0;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &port_id) != 0) {
      throw std::runtime_error(
          "ports[" + std::to_string(i) + "] " + port_label(port) +
          (pci ? ": no DPDK port at this PCI address; bind the NIC to vfio-pci "
                 "(dpdk-devbind.py -b vfio-pci " +
                     name + ") and check dpdk-devbind.py --status"
               : ": the device was created but is not an Ethernet port"));
    }
    rte_eth_dev_info dev_info{};
    check(rte_eth_dev_info_get(port_id, &dev_info), port_label(port) + ": device info");
    PortInfo info;
    info.name = port.name;
    info.device = port.device;
    info.driver = dev_info.driver_name != nullptr ? dev_info.driver_name : "?";
    info.port_id = port_id;
    info.socket = rte_eth_dev_socket_id(port_id);
    info.max_rx_queues = dev_info.max_rx_queues;
    info.max_tx_queues = dev_info.max_tx_queues;
    info.rss_offered = dev_info.flow_type_rss_offloads;
    info.rss_key_size = dev_info.hash_key_size;
    info.max_mtu = dev_info.max_mtu;
    info.max_rx_frame = dev_info.max_rx_pktlen;
    info.rx_scatter = (dev_info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER) != 0;
    info.tx_multi_segs = (dev_info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0;
    ports_.push_back(info);
  }
}

void PortSet::start(const std::vector<config::PortConfig>& ports, uint16_t queues,
                    const std::vector<int>& queue_sockets, const MempoolSet& pools) {
  for (std::size_t i = 0; i < ports_.size(); ++i) {
    PortInfo& info = ports_[i];
    const config::PortConfig& port = ports[i];
    const std::string label = port_label(port);
    const uint16_t id = info.port_id;

    if (std::string problem = queue_shortfall(info, port, queues); !problem.empty()) {
      throw std::runtime_error(problem);
    }

    rte_eth_dev_info dev_info{};
    check(rte_eth_dev_info_get(id, &dev_info), label + ": device info");
    rte_eth_conf conf{};
    std::vector<uint8_t> rss_key;  // must outlive rte_eth_dev_configure
    if (queues > 1) {
      info.rss_hash = wanted_rss(dev_info.flow_type_rss_offloads, port.rss);
      if (info.rss_hash != 0) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = info.rss_hash;
        if (port.rss_symmetric && dev_info.hash_key_size != 0) {
          rss_key = symmetric_rss_key(dev_info.hash_key_size);
          conf.rx_adv_conf.rss_conf.rss_key = rss_key.data();
          conf.rx_adv_conf.rss_conf.rss_key_len = dev_info.hash_key_size;
          info.rss_symmetric = true;
        } else if (port.rss_symmetric) {
          spdlog::warn(
              "{}: driver {} takes no RSS hash key, so rss_symmetric cannot be applied; the two "
              "directions of a flow may land on different workers",
              label, info.driver);
        }
      } else {
        spdlog::warn(
            "{}: driver {} has no RSS over IP/UDP; each queue gets whatever the "
            "driver puts on it",
            label, info.driver);
      }
    }
    if ((dev_info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0) {
      conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
    }
    if (std::string problem = mtu_problem(info, port); !problem.empty()) {
      throw std::runtime_error(problem);
    }
    if (port.mtu != 0) {
      conf.rxmode.mtu = port.mtu;
      if (max_frame_for_mtu(port.mtu) > kMbufDataRoom) {
        conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
      }
    }
    check(rte_eth_dev_configure(id, queues, queues, &conf), label + ": configure");

    uint16_t rx_desc = static_cast<uint16_t>(port.rx_descriptors);
    uint16_t tx_desc = static_cast<uint16_t>(port.tx_descriptors);
    check(rte_eth_dev_adjust_nb_rx_tx_desc(id, &rx_desc, &tx_desc), label + ": descriptors");
    info.rx_descriptors = rx_desc;
    info.tx_descriptors = tx_desc;

    rte_eth_rxconf rxconf = dev_info.default_rxconf;
    rte_eth_txconf txconf = dev_info.default_txconf;
    txconf.offloads = conf.txmode.offloads;
    for (uint16_t q = 0; q < queues; ++q) {
      const int socket = queue_sockets[q];
      if (info.socket >= 0 && info.socket != socket) {
        spdlog::warn(
            "{}: queue {} is polled by a worker on NUMA socket {} but the device sits "
            "on socket {}; every packet crosses the interconnect (pick lcores on "
            "socket {})",
            label, q, socket, info.socket, info.socket);
      }
      rte_mempool* pool = pools.on_socket(socket);
      // A PMD may keep buffers of its own (net_pcap infinite_rx holds the whole capture): a
      // pool too small for it is the operator's to size.
      check(rte_eth_rx_queue_setup(id, q, rx_desc, static_cast<unsigned>(socket), &rxconf, pool),
            label + ": RX queue " + std::to_string(q) + " (the mbuf pool on socket " +
                std::to_string(socket) + " holds " + std::to_string(pool->size) +
                " mbufs; if the driver's message above asks for more, set eal.mbufs)");
      check(rte_eth_tx_queue_setup(id, q, tx_desc, static_cast<unsigned>(socket), &txconf),
            label + ": TX queue " + std::to_string(q));
    }
    info.rx_queues = queues;
    info.tx_queues = queues;

    // A bump in the wire must see every frame, whatever its destination MAC.
    const int promiscuous = rte_eth_promiscuous_enable(id);
    if (promiscuous < 0 && promiscuous != -ENOTSUP) {
      spdlog::warn("{}: cannot enable promiscuous mode: {}", label, rte_strerror(-promiscuous));
    }
    if (port.isolate) {
      // With the queues set up, before the port starts: from then on only what flow rules match
      // reaches the queues, and the kernel (bifurcated drivers) keeps the rest. rte_flow advises
      // "before configure", but net_tap applies isolation only to queues that exist (the VM
      // test sees every packet otherwise); mlx5 asks only for a stopped port.
      rte_flow_error error{};
      if (const int rc = rte_flow_isolate(id, 1, &error); rc != 0) {
        throw std::runtime_error(
            label + ": isolate: driver " + info.driver + " cannot run in isolated mode (" +
            (error.message != nullptr ? std::string(error.message) : rte_strerror(-rc)) +
            "); set isolate: false, or use a driver that can (mlx5, net_tap)");
      }
      info.isolated = true;
    }
    check(rte_eth_dev_start(id), label + ": start");
    info.started = true;
    if (rte_eth_dev_get_mtu(id, &info.mtu) != 0) info.mtu = 0;

    const LinkInfo link_state = link(i);
    spdlog::info(
        "{}: driver {}, socket {}, link {}{}, {} RX / {} TX queue(s), {} RX / {} TX "
        "descriptors, RSS {}, MTU {}",
        label, info.driver, info.socket, link_state.up ? "up" : "down",
        link_state.up ? " " + std::to_string(link_state.speed_mbps) + " Mbps" : "", info.rx_queues,
        info.tx_queues, info.rx_descriptors, info.tx_descriptors,
        queues > 1 ? rss_text(info.rss_hash) + (info.rss_symmetric ? " (symmetric key)" : "")
                   : "off (one queue)",
        info.mtu != 0 ? std::to_string(info.mtu) : std::string("unknown"));
  }
}

void PortSet::stop_and_close() noexcept {
  for (PortInfo& info : ports_) {
    if (info.started) {
      const int rc = rte_eth_dev_stop(info.port_id);
      if (rc < 0) spdlog::warn("port '{}': stop failed: {}", info.name, rte_strerror(-rc));
      info.started = false;
    }
    (void)rte_eth_dev_close(info.port_id);
  }
  ports_.clear();
}

PortCounters PortSet::counters(std::size_t index) const {
  rte_eth_stats stats{};
  PortCounters out{};
  if (rte_eth_stats_get(ports_.at(index).port_id, &stats) != 0) return out;
  out[index_of(PortStat::rx_packets)] = stats.ipackets;
  out[index_of(PortStat::tx_packets)] = stats.opackets;
  out[index_of(PortStat::rx_bytes)] = stats.ibytes;
  out[index_of(PortStat::tx_bytes)] = stats.obytes;
  out[index_of(PortStat::rx_missed)] = stats.imissed;
  out[index_of(PortStat::rx_errors)] = stats.ierrors;
  out[index_of(PortStat::tx_errors)] = stats.oerrors;
  out[index_of(PortStat::rx_nombuf)] = stats.rx_nombuf;
  return out;
}

LinkInfo PortSet::link(std::size_t index) const {
  rte_eth_link state{};
  LinkInfo out;
  if (rte_eth_link_get_nowait(ports_.at(index).port_id, &state) != 0) return out;
  out.up = state.link_status == RTE_ETH_LINK_UP;
  out.speed_mbps = state.link_speed;
  out.full_duplex = state.link_duplex == RTE_ETH_LINK_FULL_DUPLEX;
  return out;
}

}  // namespace udpsieve::dataplane
