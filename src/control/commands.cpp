#include "udpsieve/control/commands.hpp"

#include <rte_version.h>

#include "udpsieve/common/protocol.hpp"
#include "udpsieve/common/stats_schema.hpp"
#include "udpsieve/common/version.hpp"
#include "udpsieve/control/prometheus.hpp"
#include "udpsieve/control/rule_counters.hpp"
#include "udpsieve/control/stats_aggregator.hpp"
#include "udpsieve/dataplane/mempools.hpp"
#include "udpsieve/dataplane/ports.hpp"
#include "udpsieve/dataplane/table.hpp"
#include "udpsieve/dataplane/worker.hpp"

namespace udpsieve::control {
namespace {

using nlohmann::json;

/// The counters of one worker or of all of them, keyed by the stat tables' names.
json counters_json(const dataplane::WorkerCounters& counters) {
  json out = json::object();
  for (std::size_t i = 0; i < kWorkerStatCount; ++i) {
    out[std::string(kWorkerStats[i].name)] = counters.stats[i];
  }
  out["dropped_packets"] = counters.dropped();
  json drops = json::object();
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    drops[std::string(kDropReasons[i].name)] = counters.drops[i];
  }
  out["drops"] = std::move(drops);
  return out;
}

json port_counters_json(const dataplane::PortCounters& counters) {
  json out = json::object();
  for (std::size_t i = 0; i < kPortStatCount; ++i) {
    out[std::string(kPortStats[i].name)] = counters[i];
  }
  return out;
}

json prefixes_json(const std::vector<rules::Prefix>& prefixes) {
  json out = json::array();
  for (const rules::Prefix& p : prefixes)
    out.push_back(p.to_string());
  return out;
}

json ranges_json(const std::vector<rules::Range>& ranges) {
  json out = json::array();
  for (const rules::Range& r : ranges)
    out.push_back(r.to_string());
  return out;
}

json match_json(const rules::Match& m, const std::vector<std::string>& port_names) {
  json match = json::object();
  if (!m.src.empty()) match["src"] = prefixes_json(m.src);
  if (!m.dst.empty()) match["dst"] = prefixes_json(m.dst);
  if (!m.src_port.empty()) match["src_port"] = ranges_json(m.src_port);
  if (!m.dst_port.empty()) match["dst_port"] = ranges_json(m.dst_port);
  if (!m.in_port.empty()) {
    json ports = json::array();
    for (int p : m.in_port)
      ports.push_back(port_names.at(static_cast<std::size_t>(p)));
    match["in_port"] = std::move(ports);
  }
  if (!m.length.empty()) match["length"] = ranges_json(m.length);
  if (!m.ttl.empty()) match["ttl"] = ranges_json(m.ttl);
  if (!m.dscp.empty()) match["dscp"] = ranges_json(m.dscp);
  if (!m.vlan.empty()) match["vlan"] = ranges_json(m.vlan);
  if (m.fragment) match["fragment"] = rules::fragment_name(*m.fragment);
  if (m.payload) {
    match["payload"] = {{"offset", m.payload->offset},
                        {"value", rules::to_hex(m.payload->value)},
                        {"mask", rules::to_hex(m.payload->mask)}};
  }
  return match;
}

json rule_list_json(const ControlContext& context, bool detailed) {
  const dataplane::Table* table = context.tables.current();
  json out = json::array();
  if (table == nullptr) return out;
  const auto& rules = table->rules().rules();
  const std::vector<dataplane::RuleCounter> counts =
      context.rule_counters.totals(*table, context.tables.retained(), context.stats);
  const std::vector<std::string> port_names = context.config.config.port_names();
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const rules::Rule& rule = rules[i];
    json entry = {{"id", rule.id}, {"packets", counts[i].packets}, {"bytes", counts[i].bytes}};
    if (rule.action.kind == rules::ActionKind::rate_limit) {
      entry["passed"] = counts[i].packets - counts[i].limited;
      entry["limited"] = counts[i].limited;
    }
    if (detailed) {
      entry["index"] = i;
      entry["action"] = rules::action_to_string(rule.action);
      entry["match"] = match_json(rule.match, port_names);
      entry["source"] = rule.where.to_string();
    }
    out.push_back(std::move(entry));
  }
  return out;
}

json error_reply(const std::string& message) {
  return json{{std::string(protocol::kErrorKey), message}};
}

}  // namespace

json stats_reply(const ControlContext& context) {
  const std::chrono::duration<double> uptime = std::chrono::steady_clock::now() - context.started;
  json out;
  out["uptime_s"] = uptime.count();
  out["totals"] = counters_json(context.stats.totals());
  const Rates& rates = context.stats.rates();
  out["rates"] = {{"rx_pps", rates.rx_pps},
                  {"forwarded_pps", rates.forwarded_pps},
                  {"dropped_pps", rates.dropped_pps},
                  {"rx_bps", rates.rx_bps}};

  json ports = json::array();
  const auto& infos = context.ports.ports();
  for (std::size_t i = 0; i < infos.size(); ++i) {
    json port = port_counters_json(context.ports.counters(i));
    port["name"] = infos[i].name;
    ports.push_back(std::move(port));
  }
  out["ports"] = std::move(ports);

  json workers = json::array();
  for (std::size_t i = 0; i < context.workers.size(); ++i) {
    const dataplane::WorkerCounters& counters = context.stats.worker(i);
    json worker = {{"lcore", context.workers[i]->setup().lcore}};
    for (std::size_t s = 0; s < kWorkerStatCount; ++s) {
      worker[std::string(kWorkerStats[s].name)] = counters.stats[s];
    }
    worker[std::string(kWorkerDropped.name)] = counters.dropped();
    workers.push_back(std::move(worker));
  }
  out["workers"] = std::move(workers);
  out["rules"] = rule_list_json(context, false);

  json pools = json::array();
  for (const dataplane::MempoolStats& pool : context.pools.stats()) {
    pools.push_back({{"socket", pool.socket},
                     {"size", pool.size},
                     {"in_use", pool.in_use},
                     {"available", pool.available}});
  }
  out["mempools"] = std::move(pools);
  return out;
}

json ports_reply(const ControlContext& context) {
  json ports = json::array();
  const auto& infos = context.ports.ports();
  for (std::size_t i = 0; i < infos.size(); ++i) {
    const dataplane::PortInfo& info = infos[i];
    const dataplane::LinkInfo link = context.ports.link(i);
    const config::PortConfig& configured = context.config.config.ports.at(i);
    ports.push_back(
        {{"name", info.name},
         {"device", info.device},
         {"driver", info.driver},
         {"port_id", info.port_id},
         {"socket", info.socket},
         {"forward_to", configured.forward_to},
         {"link",
          {{"up", link.up}, {"speed_mbps", link.speed_mbps}, {"full_duplex", link.full_duplex}}},
         {"rx_queues", info.rx_queues},
         {"tx_queues", info.tx_queues},
         {"rx_descriptors", info.rx_descriptors},
         {"tx_descriptors", info.tx_descriptors},
         {"rss", info.rss_hash != 0},
         {"mtu", info.mtu},
         {"counters", port_counters_json(context.ports.counters(i))}});
  }
  return {{"ports", std::move(ports)}};
}

json workers_reply(const ControlContext& context) {
  json workers = json::array();
  for (std::size_t i = 0; i < context.workers.size(); ++i) {
    const dataplane::Worker& worker = *context.workers[i];
    const dataplane::WorkerSetup& setup = worker.setup();
    json queues = json::array();
    for (const dataplane::RxQueueRef& q : setup.rx_queues) {
      queues.push_back(
          {{"port", context.ports.ports().at(q.port_index).name}, {"queue", q.queue_id}});
    }
    const dataplane::WorkerCounters& counters = context.stats.worker(i);
    json entry = counters_json(counters);
    entry["index"] = setup.index;
    entry["lcore"] = setup.lcore;
    entry["cpu"] = setup.cpu;
    entry["socket"] = setup.socket;
    entry["rx_queues"] = std::move(queues);
    entry["heartbeat"] = worker.heartbeat();
    entry["burst_histogram"] = counters.burst_histogram;
    workers.push_back(std::move(entry));
  }
  return {{"workers", std::move(workers)}};
}

json rules_reply(const ControlContext& context) {
  json out = rules_summary(context);
  out["rules"] = rule_list_json(context, true);
  out["files"] = context.config.rule_files;
  return out;
}

json rules_summary(const ControlContext& context) {
  const dataplane::Table* table = context.tables.current();
  json out = json::object();
  if (table != nullptr) {
    out["default_action"] = rules::verdict_name(table->rules().default_action());
    out["non_udp"] = rules::verdict_name(table->rules().non_udp());
    out["generation"] = table->generation();
  }
  if (table != nullptr) {
    const dataplane::AclBuildInfo& acl = table->classifier().info();
    out["classifier"] = {{"algorithm", acl.algorithm},
                         {"entries_v4", acl.entries_v4},
                         {"entries_v6", acl.entries_v6},
                         {"contexts_v4", acl.contexts_v4},
                         {"contexts_v6", acl.contexts_v6},
                         {"memory_bytes", acl.memory_bytes},
                         {"build_ms", static_cast<double>(acl.build_time.count()) / 1000.0}};
  }
  const ReloadStatus& reloads = context.reloads;
  out["reload"] = {{"applied", reloads.applied},
                   {"refused", reloads.refused},
                   {"last_result", reloads.last_result},
                   {"last_at", reloads.last_at},
                   {"load_ms", static_cast<double>(reloads.load_time.count()) / 1000.0},
                   {"compile_ms", static_cast<double>(reloads.compile_time.count()) / 1000.0},
                   {"swap_us", reloads.swap_time.count()},
                   {"total_ms", static_cast<double>(reloads.total_time.count()) / 1000.0}};
  return out;
}

json version_reply() {
  return {{"name", "udpsieved"}, {"version", kVersion}, {"dpdk", rte_version()}};
}

std::string metrics_text(const ControlContext& context) {
  return render_prometheus(stats_reply(context), rules_summary(context), version_reply());
}

std::string answer(const Request& request, const ControlContext& context) {
  json reply;
  try {
    const std::string& command = request.command;
    if (command == "stats") {
      reply = stats_reply(context);
    } else if (command == "ports") {
      reply = ports_reply(context);
    } else if (command == "workers") {
      reply = workers_reply(context);
    } else if (command == "rules") {
      reply = rules_reply(context);
    } else if (command == "version") {
      reply = version_reply();
    } else if (command == "metrics") {
      reply = {{"metrics", metrics_text(context)}};
    } else {
      reply = error_reply("'" + command + "' is not answered here");
    }
  } catch (const std::exception& e) {
    reply = error_reply(std::string("internal error: ") + e.what());
  }
  // Replace invalid UTF-8 rather than throw (an error message may quote the request).
  return reply.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace udpsieve::control
