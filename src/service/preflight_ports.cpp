// Preflight checks of the attached ports: queues, RSS, rte_flow, NUMA placement.
#include "udpsieve/service/preflight_ports.hpp"

#include <algorithm>
#include <cstring>
#include <set>

#include "udpsieve/dataplane/flow_rules.hpp"
#include "udpsieve/dataplane/ports.hpp"

namespace udpsieve::service {
namespace {}  // namespace

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

    if (const std::string reason = dataplane::flow_support(info.port_id); reason.empty()) {
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
