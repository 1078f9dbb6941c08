#include "udpsieve/service/daemon.hpp"

#include <rte_cycles.h>
#include <rte_launch.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

#include "udpsieve/common/version.hpp"
#include "udpsieve/config/eal_args.hpp"
#include "udpsieve/control/control_loop.hpp"
#include "udpsieve/control/socket_server.hpp"
#include "udpsieve/control/stats_aggregator.hpp"
#include "udpsieve/dataplane/eal.hpp"
#include "udpsieve/dataplane/mempools.hpp"
#include "udpsieve/dataplane/ports.hpp"
#include "udpsieve/dataplane/snapshot_channel.hpp"
#include "udpsieve/dataplane/table.hpp"
#include "udpsieve/dataplane/worker.hpp"
#include "udpsieve/service/options.hpp"
#include "udpsieve/service/signals.hpp"

namespace udpsieve::service {
namespace {

/// Snapshot buffers per worker: one being filled, one in flight, spares for a slow control loop.
constexpr unsigned kSnapshotBuffers = 4;

constexpr std::array<const char*, 7> kLogLevels = {"trace", "debug",    "info", "warn",
                                                   "error", "critical", "off"};

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("udpsieved");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

/// Applies command-line overrides; a bad value is a usage error.
void apply_overrides(const Options& options, config::DaemonConfig& config) {
  if (options.no_huge) config.eal.hugepages = config::HugepageMode::off;
  if (options.file_prefix) {
    const std::string& prefix = *options.file_prefix;
    const bool valid =
        !prefix.empty() && prefix.size() <= 64 &&
        std::all_of(prefix.begin(), prefix.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
        });
    if (!valid) throw std::invalid_argument("--file-prefix: use 1-64 of [A-Za-z0-9_-]");
    config.eal.file_prefix = prefix;
  }
  if (options.socket) config.control.socket = *options.socket;
  if (options.log_level) {
    if (std::find(kLogLevels.begin(), kLogLevels.end(), *options.log_level) == kLogLevels.end()) {
      throw std::invalid_argument(
          "--log-level: one of trace, debug, info, warn, error, "
          "critical, off");
    }
    config.logging.level = *options.log_level;
  }
}

/// Every configured CPU must be one this process may run on.
void check_cpus(const config::DaemonConfig& config) {
  const std::vector<unsigned> allowed = dataplane::allowed_cpus();
  std::string list;
  for (unsigned cpu : allowed)
    list += (list.empty() ? "" : ",") + std::to_string(cpu);
  for (const config::LcoreSpec& spec : config.eal.lcores) {
    if (std::find(allowed.begin(), allowed.end(), spec.cpu) == allowed.end()) {
      throw std::runtime_error("eal.lcores: '" + spec.to_string() + "' needs CPU " +
                               std::to_string(spec.cpu) +
                               ", which this process may not use (allowed CPUs: " + list +
                               "); change eal.lcores, e.g. map several workers onto one CPU "
                               "with \"2@1\"");
    }
  }
}

std::string final_totals_line(const dataplane::WorkerCounters& totals, uint64_t port_rx) {
  std::string line =
      "final totals: rx_packets=" + std::to_string(totals.stat(WorkerStat::rx_packets)) +
      " forwarded_packets=" + std::to_string(totals.stat(WorkerStat::forwarded_packets)) +
      " dropped_packets=" + std::to_string(totals.dropped()) +
      " port_rx_packets=" + std::to_string(port_rx);
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    line += " drop_" + std::string(kDropReasons[i].name) + "=" + std::to_string(totals.drops[i]);
  }
  return line;
}

/// The running daemon, from EAL up to the control loop's end.
int serve(config::LoadedConfig& loaded, control::SocketServer& server, SignalFd& signals) {
  const config::DaemonConfig& config = loaded.config;

  const config::EalPlan plan = config::plan_eal(config, config::probe_hugepages());
  spdlog::info("{}", plan.note);
  dataplane::route_dpdk_log_to_spdlog();
  dataplane::Eal eal(plan.args);

  // Workers: eal.lcores[1..], each with its CPU's NUMA socket.
  const auto worker_count = static_cast<uint32_t>(config.eal.lcores.size() - 1);
  std::vector<int> worker_sockets;
  std::set<int> sockets;
  for (uint32_t w = 0; w < worker_count; ++w) {
    const int socket = dataplane::numa_node_of_cpu(config.eal.lcores[w + 1].cpu);
    worker_sockets.push_back(socket);
    sockets.insert(socket);
  }

  dataplane::MempoolSet pools;
  for (int socket : sockets) {
    const auto on_socket =
        static_cast<unsigned>(std::count(worker_sockets.begin(), worker_sockets.end(), socket));
    unsigned rx_desc = 0;
    unsigned tx_desc = 0;
    for (const config::PortConfig& port : config.ports) {
      rx_desc += port.rx_descriptors;
      tx_desc += port.tx_descriptors;
    }
    pools.create(
        socket, dataplane::mbufs_needed(on_socket, rx_desc, tx_desc,
                                        static_cast<unsigned>(config.ports.size()), on_socket + 1));
  }

  dataplane::PortSet ports;
  ports.attach(config.ports);
  ports.start(config.ports, static_cast<uint16_t>(worker_count), worker_sockets, pools);

  // The first table: rules, defaults and routes.
  dataplane::TablePublisher tables(worker_count);
  std::vector<uint16_t> forward_to;
  for (const config::PortConfig& port : config.ports) {
    forward_to.push_back(static_cast<uint16_t>(port.forward_to_index));
  }
  auto rule_set = std::make_shared<const rules::RuleSet>(
      loaded.rules, config.pipeline.default_action, config.pipeline.non_udp);
  const std::size_t rule_count = rule_set->rules().size();
  tables.publish(std::make_unique<dataplane::Table>(std::move(rule_set), std::move(forward_to),
                                                    worker_count, 1));

  std::vector<uint16_t> port_ids;
  for (const dataplane::PortInfo& info : ports.ports())
    port_ids.push_back(info.port_id);

  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<dataplane::SnapshotChannel>> channels;
  std::vector<std::unique_ptr<dataplane::Worker>> workers;
  const uint64_t interval_tsc = rte_get_tsc_hz() * config.control.stats_interval_ms / 1000;
  for (uint32_t w = 0; w < worker_count; ++w) {
    dataplane::WorkerSetup setup;
    setup.index = w;
    setup.lcore = config.eal.lcores[w + 1].lcore;
    setup.cpu = config.eal.lcores[w + 1].cpu;
    setup.socket = worker_sockets[w];
    setup.port_ids = port_ids;
    setup.publish_interval_tsc = interval_tsc;
    for (std::size_t p = 0; p < port_ids.size(); ++p) {
      setup.rx_queues.push_back({port_ids[p], static_cast<uint16_t>(w), static_cast<uint16_t>(p)});
    }
    channels.push_back(std::make_unique<dataplane::SnapshotChannel>(w, setup.socket,
                                                                    kSnapshotBuffers, rule_count));
    workers.push_back(
        std::make_unique<dataplane::Worker>(std::move(setup), tables, *channels.back(), stop));
  }

  control::StatsAggregator stats(worker_count);
  const control::ControlContext context{
      loaded, ports, pools, tables, stats, workers, std::chrono::steady_clock::now()};
  control::ControlLoop loop(control::ControlParts{server, signals.fd(), channels, stats, tables,
                                                  stop, config.control.stats_interval_ms},
                            context);

  for (std::size_t w = 0; w < workers.size(); ++w) {
    const unsigned lcore = workers[w]->setup().lcore;
    if (rte_eal_remote_launch(&dataplane::Worker::launch, workers[w].get(), lcore) != 0) {
      // Let the workers already running finish (they need their final snapshot drained).
      stop.store(true);
      while (!std::all_of(workers.begin(), workers.begin() + static_cast<std::ptrdiff_t>(w),
                          [](const auto& worker) { return worker->finished(); })) {
        loop.drain();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      rte_eal_mp_wait_lcore();
      throw std::runtime_error("cannot launch the worker on lcore " + std::to_string(lcore) +
                               " (is it listed twice, or is it the main lcore?)");
    }
  }
  spdlog::info("udpsieved running: {} worker(s), {} port(s), {} rule(s); control socket {}",
               worker_count, ports.ports().size(), rule_count, server.path());

  if (!loop.run()) {
    // A worker still runs on memory we would free: leave without tearing anything down.
    spdlog::critical("a worker is stuck; exiting without cleanup");
    spdlog::shutdown();
    unlink(server.path().c_str());
    std::_Exit(kExitFailure);
  }
  for (const auto& worker : workers)
    (void)rte_eal_wait_lcore(worker->setup().lcore);

  uint64_t port_rx = 0;
  for (std::size_t i = 0; i < ports.ports().size(); ++i) {
    port_rx += ports.counters(i)[index_of(PortStat::rx_packets)];
  }
  spdlog::info("{}", final_totals_line(stats.totals(), port_rx));
  ports.stop_and_close();
  tables.clear();
  return 0;
}

}  // namespace

int run_daemon(const std::vector<std::string>& args) {
  // First of all: from here on SIGTERM/SIGINT/SIGHUP wait in the signalfd until the control
  // loop reads them, whatever moment of start-up they arrive at. Every thread created later,
  // DPDK's included, inherits the mask.
  std::optional<SignalFd> signals;
  try {
    signals.emplace();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "udpsieved: %s\n", e.what());
    return kExitFailure;
  }
  Options options;
  try {
    options = parse_options(args);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "udpsieved: %s\n%s", e.what(), usage().c_str());
    return kExitUsage;
  }
  if (options.help) {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  if (options.version) {
    std::printf("udpsieved %s\n", kVersion);
    return 0;
  }

  config::LoadedConfig loaded;
  try {
    loaded = config::load_config_and_rules(options.config_path);
    apply_overrides(options, loaded.config);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return kExitUsage;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "udpsieved: %s\n", e.what());
    return kExitUsage;
  }
  for (const std::string& warning : loaded.warnings) {
    std::fprintf(stderr, "warning: %s\n", warning.c_str());
  }
  if (options.check) {
    std::printf("%s: OK: %zu port(s), %zu rule(s) from %zu file(s)\n", options.config_path.c_str(),
                loaded.config.ports.size(), loaded.rules.size(), loaded.rule_files.size());
    return 0;
  }

  setup_logging(loaded.config.logging.level);
  try {
    check_cpus(loaded.config);
    // Bound before EAL so a busy socket path fails before any port is touched.
    control::SocketServer server(loaded.config.control.socket);
    return serve(loaded, server, *signals);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return kExitFailure;
  }
}

}  // namespace udpsieve::service
