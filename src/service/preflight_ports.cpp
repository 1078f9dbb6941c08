// Preflight checks of the attached ports: queues, RSS, rte_flow, NUMA placement.
#include "udpsieve/service/preflight_ports.hpp"

#include <rte_errno.h>
#include <rte_flow.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "udpsieve/dataplane/ports.hpp"

namespace udpsieve::service {
namespace {

/// Why `rc` / `error` refused a flow, in words.
std::string flow_reason(int rc, const rte_flow_error& error) {
  std::string reason = std::strerror(-rc);
  if (error.message != nullptr && *error.message != '\0' && reason != error.message) {
    reason += ": " + std::string(error.message);
  }
  return reason;
}

/// Whether the driver takes a simple ingress rule (eth / ipv4 / udp dst 9 → drop), the kind of
/// pre-filter a NIC applies in hardware: validated, then created and destroyed at once (some
/// drivers validate what they cannot install; the port is not started yet, so the rule never
/// sees a packet). Empty when it does, else the reason.
std::string flow_support(uint16_t port_id) {
  rte_flow_attr attr{};
  attr.ingress = 1;
  rte_flow_item_udp udp_spec{};
  rte_flow_item_udp udp_mask{};
  udp_spec.hdr.dst_port = rte_cpu_to_be_16(9);
  udp_mask.hdr.dst_port = 0xffff;
  const rte_flow_item pattern[] = {
      {RTE_FLOW_ITEM_TYPE_ETH, nullptr, nullptr, nullptr},
      {RTE_FLOW_ITEM_TYPE_IPV4, nullptr, nullptr, nullptr},
      {RTE_FLOW_ITEM_TYPE_UDP, &udp_spec, nullptr, &udp_mask},
      {RTE_FLOW_ITEM_TYPE_END, nullptr, nullptr, nullptr},
  };
  const rte_flow_action actions[] = {
      {RTE_FLOW_ACTION_TYPE_DROP, nullptr},
      {RTE_FLOW_ACTION_TYPE_END, nullptr},
  };
  rte_flow_error error{};
  const int rc = rte_flow_validate(port_id, &attr, pattern, actions, &error);
  if (rc != 0) return flow_reason(rc, error);
  rte_flow* flow = rte_flow_create(port_id, &attr, pattern, actions, &error);
  if (flow == nullptr) {
    return "it validates the rule but cannot create it: " + flow_reason(-rte_errno, error);
  }
  (void)rte_flow_destroy(port_id, flow, &error);
  return {};
}

}  // namespace

void check_ports(const dataplane::PortSet& ports, const std::vector<config::PortConfig>& configs,
                 const std::vector<int>& worker_sockets, PreflightReport& report) {
  const auto queues = static_cast<uint16_t>(worker_sockets.size());
  const std::set<int> sockets(worker_sockets.begin(), worker_sockets.end());
  for (std::size_t i = 0; i < ports.ports().size(); ++i) {
    const dataplane::PortInfo& info = ports.ports()[i];
    const std::string subject = "port " + info.name;

    if (std::string problem = dataplane::queue_shortfall(info, configs[i], queues);
        !problem.empty()) {
      report.add(CheckStatus::fail, subject, problem);
    } else {
      report.add(CheckStatus::ok, subject,
                 "driver " + info.driver + " offers " + std::to_string(info.max_rx_queues) +
                     " RX / " + std::to_string(info.max_tx_queues) + " TX queue(s); " +
                     std::to_string(queues) + " needed (one per worker)");
    }

    if (std::string problem = dataplane::mtu_problem(info, configs[i]); !problem.empty()) {
      report.add(CheckStatus::fail, subject, problem);
    } else if (configs[i].mtu != 0) {
      report.add(CheckStatus::ok, subject,
                 "MTU " + std::to_string(configs[i].mtu) + " (driver maximum " +
                     std::to_string(dataplane::largest_mtu(info)) + ")" +
                     (dataplane::max_frame_for_mtu(configs[i].mtu) > dataplane::kMbufDataRoom
                          ? "; frames over 2 KiB are received and sent as several mbufs"
                          : ""));
    }

    const uint64_t rss = dataplane::wanted_rss(info.rss_offered, configs[i].rss);
    if (queues == 1) {
      report.add(CheckStatus::note, subject,
                 "RSS not needed with one worker (the driver offers " +
                     (rss != 0 ? dataplane::rss_text(rss) : std::string("none")) + " over IP/UDP)");
    } else if (rss != 0 && configs[i].rss_symmetric && info.rss_key_size == 0) {
      report.add(CheckStatus::warn, subject,
                 "RSS over " + dataplane::rss_text(rss) + ", but driver " + info.driver +
                     " takes no hash key, so rss_symmetric cannot be applied: the two directions "
                     "of a flow may land on different workers");
    } else if (rss != 0) {
      report.add(CheckStatus::ok, subject,
                 "RSS over " + dataplane::rss_text(rss) +
                     (configs[i].rss_symmetric ? " with a symmetric key" : ""));
    } else {
      report.add(CheckStatus::warn, subject,
                 "driver " + info.driver + " has no RSS over IP/UDP: with " +
                     std::to_string(queues) +
                     " workers, packets spread however the driver puts them on queues; use a "
                     "NIC with RSS, or one worker per port");
    }

    if (const std::string reason = flow_support(info.port_id); reason.empty()) {
      report.add(CheckStatus::ok, subject,
                 "rte_flow: the driver accepts an eth/ipv4/udp drop rule (hardware pre-filtering "
                 "is possible)");
    } else {
      report.add(CheckStatus::note, subject,
                 "rte_flow: not available from driver " + info.driver + " (" + reason +
                     "); udpsieve filters in software either way");
    }

    if (info.socket < 0) {
      report.add(CheckStatus::note, subject, "NUMA socket unknown (a virtual device)");
    } else if (sockets.size() == 1 && *sockets.begin() == info.socket) {
      report.add(CheckStatus::ok, subject,
                 "on NUMA socket " + std::to_string(info.socket) + " with its workers");
    } else {
      report.add(CheckStatus::warn, subject,
                 "on NUMA socket " + std::to_string(info.socket) +
                     " but polled by workers on other sockets too: those packets cross the "
                     "interconnect; pick worker lcores on socket " +
                     std::to_string(info.socket));
    }
  }
}

}  // namespace udpsieve::service
