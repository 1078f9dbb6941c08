// Which configuration changes a reload can apply, and which need a restart.
#include "udpsieve/config/config.hpp"

namespace udpsieve::config {

std::vector<std::string> restart_required_changes(const DaemonConfig& running,
                                                  const DaemonConfig& next) {
  std::vector<std::string> changed;
  auto differ = [&](bool different, const std::string& key) {
    if (different) changed.push_back(key);
  };
  std::vector<std::string> lcores_a;
  std::vector<std::string> lcores_b;
  for (const LcoreSpec& l : running.eal.lcores)
    lcores_a.push_back(l.to_string());
  for (const LcoreSpec& l : next.eal.lcores)
    lcores_b.push_back(l.to_string());
  differ(lcores_a != lcores_b, "eal.lcores");
  differ(running.eal.hugepages != next.eal.hugepages, "eal.hugepages");
  differ(running.eal.memory_mb != next.eal.memory_mb, "eal.memory_mb");
  differ(running.eal.file_prefix != next.eal.file_prefix, "eal.file_prefix");
  differ(running.eal.extra_args != next.eal.extra_args, "eal.extra_args");
  if (running.ports.size() != next.ports.size()) {
    changed.emplace_back("ports (number of ports)");
  } else {
    for (std::size_t i = 0; i < running.ports.size(); ++i) {
      const PortConfig& a = running.ports[i];
      const PortConfig& b = next.ports[i];
      const std::string key = "ports[" + std::to_string(i) + "]";
      differ(a.name != b.name, key + ".name");
      differ(a.device != b.device, key + ".device");
      differ(a.rx_descriptors != b.rx_descriptors, key + ".rx_descriptors");
      differ(a.tx_descriptors != b.tx_descriptors, key + ".tx_descriptors");
      differ(a.mtu != b.mtu, key + ".mtu");
      differ(a.rss != b.rss, key + ".rss");
      differ(a.rss_symmetric != b.rss_symmetric, key + ".rss_symmetric");
      differ(a.isolate != b.isolate, key + ".isolate");
    }
  }
  differ(running.control.socket != next.control.socket, "control.socket");
  // The running daemon keeps its runtime rules in the file it loaded them from.
  differ(running.pipeline.dynamic_state != next.pipeline.dynamic_state, "pipeline.dynamic_state");
  differ(running.pipeline.per_source_entries != next.pipeline.per_source_entries,
         "pipeline.per_source_entries");
  differ(running.pipeline.talker_sampling != next.pipeline.talker_sampling,
         "pipeline.talker_sampling");
  differ(running.pipeline.talker_max_sample_rate != next.pipeline.talker_max_sample_rate,
         "pipeline.talker_max_sample_rate");
  differ(running.control.stats_interval_ms != next.control.stats_interval_ms,
         "control.stats_interval_ms");
  // The metrics listener is bound before EAL, like the control socket; moving it is a restart.
  differ(running.control.metrics_listen != next.control.metrics_listen, "control.metrics_listen");
  return changed;
}

}  // namespace udpsieve::config
