#include "udpsieve/service/daemon.hpp"

#include <rte_cycles.h>
#include <rte_launch.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <rte_eal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "udpsieve/common/classifier_text.hpp"
#include "udpsieve/common/heap.hpp"
#include "udpsieve/common/version.hpp"
#include "udpsieve/config/eal_args.hpp"
#include "udpsieve/control/control_loop.hpp"
#include "udpsieve/control/flow_steering.hpp"
#include "udpsieve/control/metrics_http.hpp"
#include "udpsieve/control/runtime_updates.hpp"
#include "udpsieve/control/set_updates.hpp"
#include "udpsieve/control/socket_server.hpp"
#include "udpsieve/control/state_file.hpp"
#include "udpsieve/control/stats_aggregator.hpp"
#include "udpsieve/dataplane/capture_tap.hpp"
#include "udpsieve/dataplane/eal.hpp"
#include "udpsieve/dataplane/mempools.hpp"
#include "udpsieve/dataplane/ports.hpp"
#include "udpsieve/dataplane/rule_limits.hpp"
#include "udpsieve/dataplane/snapshot_channel.hpp"
#include "udpsieve/dataplane/table.hpp"
#include "udpsieve/dataplane/worker.hpp"
#include "udpsieve/service/notify.hpp"
#include "udpsieve/service/options.hpp"
#include "udpsieve/service/preflight.hpp"
#include "udpsieve/service/preflight_ports.hpp"
#include "udpsieve/service/rule_compiler.hpp"
#include "udpsieve/service/signals.hpp"

namespace udpsieve::service {
namespace {

/// Snapshot buffers per worker: one being filled, one in flight, spares for a slow control loop.
constexpr unsigned kSnapshotBuffers = 4;
/// How long a stop waits for a rule compile to reach a point where it can be abandoned.
constexpr std::chrono::milliseconds kCompilePatience{800};

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("udpsieved");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

std::string classifier_line(const dataplane::AclBuildInfo& acl) {
  char build_ms[32];
  std::snprintf(build_ms, sizeof build_ms, "%.1f",
                static_cast<double>(acl.build_time.count()) / 1000.0);
  return acl.algorithm + ", " + std::to_string(acl.entries_v4) + " IPv4 entries in " +
         std::to_string(acl.contexts_v4) + " lookup(s)" +
         common::lookup_kinds(acl.exact_v4, acl.prefix_v4) + ", " + std::to_string(acl.entries_v6) +
         " IPv6 entries in " + std::to_string(acl.contexts_v6) + " lookup(s)" +
         common::lookup_kinds(acl.exact_v6, acl.prefix_v6) + ", " +
         std::to_string((acl.memory_bytes + 1023) / 1024) + " KiB, built in " + build_ms + " ms";
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

/// --check: the configuration and rules are valid; compile the rules as the daemon would (with a
/// private, in-memory EAL) and report shadowed and duplicate rules.
int check_config(const Options& options, const config::LoadedConfig& loaded) {
  // What start-up would refuse on this machine without touching a device.
  HostFacts facts;
  facts.allowed_cpus = dataplane::allowed_cpus();
  PreflightReport host;
  check_host_without_devices(loaded.config, facts, host);
  if (host.failed()) {
    std::fprintf(stderr, "%s\n", host.failures().c_str());
    return kExitFailure;
  }
  bool complete = true;
  for (const std::string& warning : unreachable_rule_warnings(loaded.rules, complete)) {
    std::fprintf(stderr, "warning: %s\n", warning.c_str());
  }
  std::string classifier = "classifier not compiled";
  const std::vector<unsigned> cpus = dataplane::allowed_cpus();
  // A private EAL: no hugepages, no shared configuration, no devices, one lcore.
  const std::vector<std::string> eal_args = {"udpsieved-check",
                                             "--no-huge",
                                             "-m",
                                             "256",
                                             "--no-shconf",
                                             "--no-pci",
                                             "--no-telemetry",
                                             "--file-prefix",
                                             "udpsieve-check-" + std::to_string(getpid()),
                                             "--log-level",
                                             "error",
                                             "-l",
                                             std::to_string(cpus.empty() ? 0 : cpus.front())};
  try {
    const dataplane::Eal eal(eal_args);
    const CompileEnv env{options, loaded.config,
                         static_cast<uint32_t>(loaded.config.eal.lcores.size() - 1), 0};
    classifier =
        "classifier " +
        classifier_line(make_file_part(loaded.rules, loaded.config, env, 1)->classifier().info());
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "warning: classifier not compiled: %s\n", e.what());
  }
  std::printf(
      "%s: OK: %zu port(s), %zu rule(s) from %zu file(s); %s; lcores fit this machine's CPUs "
      "(hugepages, memory locking, NUMA and the ports: udpsieved --preflight)\n",
      options.config_path.c_str(), loaded.config.ports.size(), loaded.rules.size(),
      loaded.rule_files.size(), classifier.c_str());
  return kExitOk;
}

/// The NUMA node of each worker's CPU (eal.lcores[1..]), from libnuma.
std::vector<int> worker_nodes(const config::DaemonConfig& config) {
  std::vector<int> nodes;
  for (std::size_t i = 1; i < config.eal.lcores.size(); ++i) {
    nodes.push_back(dataplane::numa_node_of_cpu(config.eal.lcores[i].cpu));
  }
  return nodes;
}

/// What preflight needs to know about this machine.
HostFacts measure_host(const config::DaemonConfig& config) {
  HostFacts facts;
  facts.hugepages = config::probe_hugepages();
  facts.allowed_cpus = dataplane::allowed_cpus();
  facts.worker_nodes = worker_nodes(config);
  facts.numa_nodes = dataplane::numa_node_count();
  (void)getrlimit(RLIMIT_MEMLOCK, &facts.memlock);
  // CAP_IPC_LOCK (bit 14) in the effective set lifts the memory-lock limit.
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    const uint64_t effective = std::stoull(line.substr(7), nullptr, 16);
    facts.can_lock_memory = (effective >> 14 & 1) != 0;
  }
  return facts;
}

/// Logs each check that passed: ok and notes at info, warnings at warn. Failures are left to
/// the caller, which stops with them (one line each, not two).
void log_report(const PreflightReport& report) {
  for (const CheckResult& result : report.results()) {
    if (result.status == CheckStatus::fail) continue;
    const auto level =
        result.status == CheckStatus::warn ? spdlog::level::warn : spdlog::level::info;
    spdlog::log(level, "preflight: {}: {}", result.subject, result.text);
  }
}

/// --preflight: the host checks, then (when they pass) EAL with a private file prefix and the
/// configured devices attached but not started, and the port checks. Prints the report.
int run_preflight(const config::LoadedConfig& loaded, PreflightReport report) {
  const config::DaemonConfig& config = loaded.config;
  std::printf("udpsieved preflight for %s\n", config.path.c_str());
  if (!report.failed()) {
    std::vector<std::string> args = config::plan_eal(config, config::probe_hugepages()).args;
    // Its own runtime files and no hugepage files left behind, beside a running daemon.
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--file-prefix") args[i + 1] += "-preflight";
    }
    if (std::find(args.begin(), args.end(), "--no-huge") == args.end()) {
      args.emplace_back("--huge-unlink");
    }
    try {
      dataplane::route_dpdk_log_to_spdlog();
      const dataplane::Eal eal(args);
      dataplane::PortSet ports;
      ports.attach(config.ports);
      check_ports(ports, config.ports, worker_nodes(config), report);
    } catch (const std::exception& e) {
      report.add(CheckStatus::fail, "ports", e.what());
    }
  }
  std::fputs(report.text().c_str(), stdout);
  return report.failed() ? kExitFailure : kExitOk;
}

/// The control socket's mode and group, as configured.
control::SocketAccess socket_access(const config::DaemonConfig& config) {
  control::SocketAccess access{static_cast<mode_t>(config.control.socket_mode),
                               static_cast<gid_t>(config.control.socket_gid),
                               config.control.socket_group, std::nullopt, ""};
  if (!config.control.admin_group.empty()) {
    access.admin_group = static_cast<gid_t>(config.control.admin_gid);
    access.admin_group_name = config.control.admin_group;
  }
  return access;
}

/// UDPSIEVE_TEST_HOOKS=1 offers commands that only tests use (stalling a worker).
bool test_hooks_enabled() {
  const char* value = std::getenv("UDPSIEVE_TEST_HOOKS");
  const bool enabled = value != nullptr && std::string_view(value) == "1";
  if (enabled) spdlog::warn("UDPSIEVE_TEST_HOOKS=1: test-only control commands are enabled");
  return enabled;
}

/// The running daemon, from EAL up to the control loop's end. `runtime` holds the runtime
/// rules restored from the state file, `restored` those rules in first-match order.
int serve(const Options& options, config::LoadedConfig& loaded, control::SocketServer& server,
          SignalFd& signals, control::RuntimeUpdates& runtime, std::vector<rules::Rule> restored,
          control::SetUpdates& set_updates) {
  const config::DaemonConfig& config = loaded.config;
  keep_build_memory();
  spdlog::info("memory allocator: {}", heap_allocator());
  // Bound before EAL, like the control socket: a port in use fails before any port is touched.
  std::optional<control::MetricsHttpServer> metrics_http;
  if (config.control.metrics_listen) {
    metrics_http.emplace(*config.control.metrics_listen);
    spdlog::info("metrics: http://{}/metrics", metrics_http->address());
  }

  const config::EalPlan plan = config::plan_eal(config, config::probe_hugepages());
  spdlog::info("{}", plan.note);
  dataplane::route_dpdk_log_to_spdlog();
  dataplane::Eal eal(plan.args);

  // Workers: eal.lcores[1..], each with its CPU's NUMA socket.
  const auto worker_count = static_cast<uint32_t>(config.eal.lcores.size() - 1);
  const std::vector<int> worker_sockets = worker_nodes(config);
  const std::set<int> sockets(worker_sockets.begin(), worker_sockets.end());

  dataplane::MempoolSet pools;
  for (int socket : sockets) {
    const auto on_socket =
        static_cast<unsigned>(std::count(worker_sockets.begin(), worker_sockets.end(), socket));
    const unsigned computed = config::computed_pool_mbufs(config, on_socket);
    if (config.eal.mbufs == 0) {
      spdlog::info(
          "mbuf pool on socket {}: {} mbufs, computed from {} worker(s), the ports' "
          "descriptors and caches (eal.mbufs sets another size)",
          socket, computed, on_socket);
    } else if (config.eal.mbufs < computed) {
      spdlog::warn(
          "eal.mbufs {} is below the {} that socket {}'s {} worker(s) can hold in their "
          "queues and caches: receiving may stall for lack of mbufs",
          config.eal.mbufs, computed, socket, on_socket);
    }
    pools.create(socket, config::pool_mbufs(config, on_socket));
  }

  // The first table (rules, defaults, routes, counters, meters) before any port is touched:
  // rules that cannot be compiled stop start-up here. The runtime rules saved by the last run
  // join them; a saved rule that no longer fits is left out (logged), never fatal.
  CompileEnv env{options, config, worker_count, worker_sockets.front()};
  if (const char* stage = std::getenv("UDPSIEVE_TEST_COMPILE_STAGE");
      stage != nullptr && test_hooks_enabled()) {
    apply_compile_test_hook(stage, env);
    spdlog::warn("UDPSIEVE_TEST_COMPILE_STAGE={}: each stage of a reload's build is slowed", stage);
  }
  dataplane::TablePublisher tables(worker_count);
  try {
    std::shared_ptr<const dataplane::RulePart> file =
        make_file_part(loaded.rules, loaded.config, env, 1);
    // The first reload reads unchanged rule files from these rules, not parsing them again.
    env.rule_files->memo = config::memo_of(loaded, file->rules_ptr());
    env.rule_files->facts = file->facts();
    env.rule_files->part = file;
    const auto runtime_part_of = [&](std::vector<rules::Rule> list) {
      return make_part(std::make_shared<const rules::RuleSet>(
                           std::move(list), rules::Verdict::forward, rules::Verdict::forward),
                       dataplane::PartKind::runtime, env, 2);
    };
    std::shared_ptr<const dataplane::RulePart> runtime_part;
    try {
      runtime_part = runtime_part_of(std::move(restored));
    } catch (const std::exception& e) {
      // Saved rules that no longer compile together never stop the file rules from starting.
      runtime.drop_restored(e.what(), control::WallClock::now());
      runtime_part = runtime_part_of({});
    }
    dataplane::TableParams params;
    for (const config::PortConfig& port : config.ports) {
      params.forward_to.push_back(static_cast<uint16_t>(port.forward_to_index));
    }
    params.runtime_at = loaded.dynamic_at;
    params.generation = 1;
    params.sets = make_set_tables(loaded, env);
    tables.publish(std::make_unique<dataplane::Table>(std::move(file), std::move(runtime_part),
                                                      std::move(params)));
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    throw ConfigError(SourceLocation{config.path, 0, 0}, "pipeline.rules",
                      std::string("the rules cannot be compiled: ") + e.what());
  }
  spdlog::info("classifier: {}", classifier_line(tables.current()->file().classifier().info()));
  if (tables.current()->runtime().rule_count() != 0) {
    spdlog::info("runtime classifier: {}",
                 classifier_line(tables.current()->runtime().classifier().info()));
  }

  dataplane::PortSet ports;
  ports.attach(config.ports);
  PreflightReport port_report;
  check_ports(ports, config.ports, worker_sockets, port_report);
  log_report(port_report);
  if (port_report.failed()) throw std::runtime_error(port_report.failures());
  // Each port's flow rules: probed before the port starts (the probe creates a rule), created
  // once it has started and before any worker polls.
  std::vector<control::FlowSteering::Port> flow_ports;
  for (std::size_t i = 0; i < ports.ports().size(); ++i) {
    const dataplane::PortInfo& info = ports.ports()[i];
    flow_ports.push_back({info.name,
                          std::make_unique<dataplane::PortFlows>(info.port_id, info.name),
                          config.ports[i].isolate});
  }
  if (const char* capacity = std::getenv("UDPSIEVE_TEST_FLOW_CAPACITY");
      capacity != nullptr && test_hooks_enabled()) {
    // Test hook: NICs with room for only so many flow rules (tests/rteflow).
    for (control::FlowSteering::Port& port : flow_ports)
      port.flows->set_test_capacity(std::strtoul(capacity, nullptr, 10));
  }
  control::FlowSteering steering(std::move(flow_ports));
  ports.start(config.ports, static_cast<uint16_t>(worker_count), worker_sockets, pools);
  {
    control::FlowSteering::Plan flows = steering.plan(*tables.current(), loaded);
    if (std::optional<std::string> refused = steering.prepare(flows, loaded)) {
      throw std::runtime_error(*refused);  // nothing is left in the NIC
    }
    steering.commit(std::move(flows));
    spdlog::info("flow rules: {}", steering.summary());
  }

  std::vector<uint16_t> port_ids;
  for (const dataplane::PortInfo& info : ports.ports())
    port_ids.push_back(info.port_id);

  std::atomic<bool> stop{false};
  dataplane::CaptureTap tap(worker_count, worker_sockets.front());
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
    setup.per_source_entries = config.pipeline.per_source_entries;
    setup.talker_sampling = config.pipeline.talker_sampling;
    setup.talker_max_sample_rate = config.pipeline.talker_max_sample_rate;
    setup.tap = &tap;
    for (std::size_t p = 0; p < port_ids.size(); ++p) {
      setup.rx_queues.push_back({port_ids[p], static_cast<uint16_t>(w), static_cast<uint16_t>(p)});
    }
    channels.push_back(std::make_unique<dataplane::SnapshotChannel>(
        w, setup.socket, kSnapshotBuffers, tables.current()->rule_count()));
    workers.push_back(
        std::make_unique<dataplane::Worker>(std::move(setup), tables, *channels.back(), stop));
  }

  control::StatsAggregator stats(worker_count);
  control::CompileJobs jobs(
      [env](const control::JobRequest& request) { return compile(request, env); });
  control::CompileJobs runtime_jobs(
      [env](const control::JobRequest& request) { return compile(request, env); });
  control::ControlParts parts{.server = server,
                              .signal_fd = signals.fd(),
                              .channels = channels,
                              .stats = stats,
                              .tables = tables,
                              .stop_workers = stop,
                              .jobs = jobs,
                              .runtime_jobs = runtime_jobs,
                              .runtime = runtime,
                              .sets = set_updates,
                              .ports = ports,
                              .pools = pools,
                              .workers = workers,
                              .stats_interval_ms = config.control.stats_interval_ms,
                              .on_applied = {},
                              .on_reload_started = {},
                              .on_reload_finished = {},
                              .on_tick = {},
                              .on_stopping = {},
                              .test_hooks = false,
                              .tap = &tap,
                              .steering = &steering};
  parts.on_applied = [&server](const config::LoadedConfig& applied) {
    spdlog::set_level(spdlog::level::from_str(applied.config.logging.level));
    server.update_access(socket_access(applied.config));
  };
  Notifier notifier;
  parts.on_reload_started = [&notifier] { notifier.reload_started(); };
  parts.on_reload_finished = [&notifier](bool applied) { notifier.reload_finished(applied); };
  parts.on_stopping = [&notifier] { notifier.stopping(); };
  parts.on_tick = [&notifier, &metrics_http](const control::ControlContext& context) {
    notifier.tick(context);
    if (metrics_http) metrics_http->poll([&context] { return control::metrics_text(context); });
  };
  parts.test_hooks = test_hooks_enabled();
  // The rules live on in the table's parts (which share their blocks); the configuration kept
  // beside them needs no list of them.
  const std::size_t file_rules = loaded.rules.size();
  loaded.rules = {};
  control::ControlLoop loop(std::move(parts), std::make_shared<const config::LoadedConfig>(loaded));

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
  spdlog::info(
      "udpsieved running: {} worker(s), {} port(s), {} file rule(s), {} runtime rule(s); control "
      "socket {}",
      worker_count, ports.ports().size(), file_rules, tables.current()->runtime().rule_count(),
      server.path());

  if (!loop.run()) {
    // A worker still runs on memory we would free: leave without tearing anything down.
    spdlog::critical("a worker is stuck; exiting without cleanup");
    spdlog::shutdown();
    unlink(server.path().c_str());
    std::_Exit(kExitFailure);
  }
  for (const auto& worker : workers)
    (void)rte_eal_wait_lcore(worker->setup().lcore);
  // A compile in progress (a reload of 250,000 rules takes many seconds) stops at its next safe
  // point; one inside an rte_acl build cannot be interrupted, so the daemon then leaves without
  // waiting for it or freeing what it uses (see below).
  const auto give_up_at = std::chrono::steady_clock::now() + kCompilePatience;
  const auto patience = [&give_up_at] {
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        give_up_at - std::chrono::steady_clock::now()));
  };
  const bool reload_done = jobs.cancel(patience());
  const bool runtime_done = runtime_jobs.cancel(patience());

  uint64_t port_rx = 0;
  for (std::size_t i = 0; i < ports.ports().size(); ++i) {
    port_rx += ports.counters(i)[index_of(PortStat::rx_packets)];
  }
  spdlog::info("{}", final_totals_line(stats.totals(), port_rx));
  loop.finish();
  steering.shutdown();  // a clean stop leaves no flow rule behind in the NIC
  ports.stop_and_close();
  if (!reload_done || !runtime_done) {
    // The compile thread still uses DPDK's heap and this frame's objects: nothing more is torn
    // down. The ports are stopped, the flow rules gone, the totals logged; what remains is
    // EAL's runtime directory and hugepage file, which the next start reuses.
    spdlog::warn(
        "a rule compile is still inside a classifier build {} ms after the stop; exiting "
        "without waiting for it",
        kCompilePatience.count());
    spdlog::shutdown();
    unlink(server.path().c_str());
    std::_Exit(kExitOk);
  }
  return kExitOk;
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
    return kExitOk;
  }
  if (options.version) {
    std::printf("udpsieved %s\n", kVersion);
    return kExitOk;
  }

  config::LoadedConfig loaded;
  try {
    loaded = config::load_config_and_rules(options.config_path);
    apply_overrides(options, loaded.config);
    dataplane::check_rule_limits(loaded.rules,
                                 static_cast<uint32_t>(loaded.config.eal.lcores.size() - 1));
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
  if (options.check) return check_config(options, loaded);

  setup_logging(loaded.config.logging.level);
  PreflightReport report;
  check_host(loaded.config, measure_host(loaded.config), report);
  if (options.preflight) return run_preflight(loaded, std::move(report));
  log_report(report);
  if (report.failed()) {
    spdlog::critical("{}", report.failures());
    return kExitFailure;
  }
  // The runtime rules saved by the last run, before anything is touched: a state file that
  // cannot be read stops start-up (starting without it would drop every saved block); one that
  // does not parse is moved aside and the daemon starts with the file rules.
  const config::DaemonConfig& config = loaded.config;
  control::RuntimeUpdates runtime(control::RuntimeUpdates::Settings{
      config.port_names(), static_cast<uint32_t>(config.eal.lcores.size() - 1),
      config.pipeline.dynamic_max_rules, config.pipeline.dynamic_state, loaded.set_slots});
  std::vector<rules::Rule> restored;
  try {
    const rules::RuleSet file_rules(loaded.rules, config.pipeline.default_action,
                                    config.pipeline.non_udp);
    restored = runtime.restore(file_rules, dataplane::payload_offsets(loaded.rules).size(),
                               control::WallClock::now());
  } catch (const std::exception& e) {
    spdlog::critical("{}", format_config_error(SourceLocation{config.path, 0, 0},
                                               "pipeline.dynamic_state", e.what()));
    return kExitUsage;
  }
  // Prefixes added to the sets at runtime, saved beside the runtime rules.
  control::SetUpdates set_updates(config.pipeline.dynamic_state.empty()
                                      ? std::string()
                                      : control::set_state_path(config.pipeline.dynamic_state));
  if (loaded.sets != nullptr) {
    try {
      for (const std::string& warning :
           set_updates.restore(*loaded.sets, loaded.set_slots, control::WallClock::now())) {
        spdlog::warn("{}", warning);
      }
    } catch (const std::exception& e) {
      spdlog::critical("{}", format_config_error(SourceLocation{config.path, 0, 0},
                                                 "pipeline.dynamic_state", e.what()));
      return kExitUsage;
    }
  }
  try {
    // Bound before EAL so a busy socket path fails before any port is touched.
    control::SocketServer server(loaded.config.control.socket, socket_access(loaded.config),
                                 control::SocketLimits::from_environment());
    return serve(options, loaded, server, *signals, runtime, std::move(restored), set_updates);
  } catch (const ConfigError& e) {
    // A rule the classifier cannot take (found while compiling at start-up).
    spdlog::critical("{}", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return kExitFailure;
  }
}

}  // namespace udpsieve::service
