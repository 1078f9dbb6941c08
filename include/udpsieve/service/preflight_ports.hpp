#pragma once
/// Preflight checks that need the ports attached (DPDK): queues offered against workers, RSS
/// over IP/UDP, rte_flow support, and NUMA placement of each port against its workers.

#include <vector>

#include "udpsieve/config/config.hpp"
#include "udpsieve/service/preflight.hpp"

namespace udpsieve::dataplane {
class PortSet;
}

namespace udpsieve::service {

/// `worker_sockets`: the NUMA socket of each worker (one queue per worker on every port).
void check_ports(const dataplane::PortSet& ports, const std::vector<config::PortConfig>& configs,
                 const std::vector<int>& worker_sockets, PreflightReport& report);

}  // namespace udpsieve::service
