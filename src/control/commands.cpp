#include "udpsieve/control/commands.hpp"

#include <rte_version.h>

#include "udpsieve/common/protocol.hpp"
#include "udpsieve/common/stats_schema.hpp"
#include "udpsieve/common/version.hpp"
#include "udpsieve/control/flow_steering.hpp"
#include "udpsieve/control/prometheus.hpp"
#include "udpsieve/control/rule_counters.hpp"
#include "udpsieve/control/runtime_updates.hpp"
#include "udpsieve/control/stats_aggregator.hpp"
#include "udpsieve/dataplane/mempools.hpp"
#include "udpsieve/dataplane/ports.hpp"
#include "udpsieve/dataplane/table.hpp"
#include "udpsieve/dataplane/worker.hpp"
#include "udpsieve/rules/rule_json.hpp"

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

/// Replaced parts of `kind` that some worker's latest snapshot may still describe.
std::vector<const dataplane::RulePart*> retained_parts(const ControlContext& context,
                                                       dataplane::PartKind kind) {
  std::vector<const dataplane::RulePart*> out;
  const dataplane::RulePart* current = &context.tables.current()->part(kind);
  for (const dataplane::Table* table : context.tables.retained()) {
    const dataplane::RulePart* part = &table->part(kind);
    if (part != current && std::find(out.begin(), out.end(), part) == out.end()) {
      out.push_back(part);
    }
  }
  return out;
}

json rule_entry(const ControlContext& context, const rules::Rule& rule,
                const dataplane::RuleCounter& count) {
  // What the NIC dropped for a rule never reached a worker: it is added to the rule's packets
  // where the NIC counts (hw_packets), and unknown (null) where it does not.
  std::optional<uint64_t> hw;
  bool offloaded = false;
  if (context.steering != nullptr && rule.action.kind == rules::ActionKind::drop) {
    offloaded = context.steering->offloaded(rule.id);
    if (offloaded) hw = context.steering->hw_packets(rule.id);
  }
  json entry = {{"id", rule.id},
                {"packets", count.packets + hw.value_or(0)},
                {"bytes", count.bytes},
                {"offloaded", offloaded},
                {"hw_packets", hw ? json(*hw) : json(nullptr)}};
  if (rule.action.kind == rules::ActionKind::rate_limit) {
    entry["passed"] = count.packets - count.limited;
    entry["limited"] = count.limited;
  }
  return entry;
}

/// Every rule in first-match order (file rules before `dynamic`, runtime rules, the other file
/// rules), with counters; `detailed` adds match, action, place and expiry. Only the rules of
/// `source` when given.
json rule_list_json(const ControlContext& context, bool detailed,
                    const std::optional<std::string>& source = {}) {
  const dataplane::Table* table = context.tables.current();
  json out = json::array();
  if (table == nullptr) return out;
  const dataplane::RulePart& file = table->file();
  const dataplane::RulePart& runtime = table->runtime();
  const bool want_file = !source || *source == "file";
  const bool want_runtime = !source || *source != "file";
  std::vector<dataplane::RuleCounter> file_counts;
  std::vector<dataplane::RuleCounter> runtime_counts;
  if (want_file) {
    file_counts = context.file_counters.totals(
        file, retained_parts(context, dataplane::PartKind::file), context.stats);
  }
  if (want_runtime) {
    runtime_counts = context.runtime_counters.totals(
        runtime, retained_parts(context, dataplane::PartKind::runtime), context.stats);
  }
  const std::vector<std::string> port_names = context.config.config.port_names();
  const auto now = WallClock::now();
  const auto add_file = [&](std::size_t i) {
    const rules::Rule& rule = file.rules().rules()[i];
    json entry = rule_entry(context, rule, file_counts[i]);
    entry["source"] = "file";
    if (detailed) {
      entry["index"] = table->position(dataplane::PartKind::file, i);
      entry["action"] = rules::action_to_string(rule.action);
      entry["match"] = rules::match_to_json(rule.match, port_names);
      entry["location"] = rule.where.to_string();
    }
    out.push_back(std::move(entry));
  };
  const auto add_runtime = [&](std::size_t i) {
    const rules::Rule& rule = runtime.rules().rules()[i];
    const RuntimeRule* meta = context.runtime.published().find(rule.id);
    const std::string rule_source = meta != nullptr ? meta->source : "api";
    if (source && *source != rule_source) return;
    json entry = rule_entry(context, rule, runtime_counts[i]);
    entry["source"] = rule_source;
    json expires_in = nullptr;
    if (meta != nullptr && meta->expires_at) {
      expires_in = std::max(0.0, std::chrono::duration<double>(*meta->expires_at - now).count());
    }
    entry["expires_in_s"] = expires_in;
    if (detailed) {
      entry["index"] = table->position(dataplane::PartKind::runtime, i);
      entry["action"] = rules::action_to_string(rule.action);
      entry["match"] = rules::match_to_json(rule.match, port_names);
      if (meta != nullptr) entry["added_at"] = utc_text(meta->added_at);
    }
    out.push_back(std::move(entry));
  };
  const std::size_t at = table->runtime_at();
  for (std::size_t i = 0; want_file && i < at; ++i)
    add_file(i);
  for (std::size_t i = 0; want_runtime && i < runtime.rule_count(); ++i)
    add_runtime(i);
  for (std::size_t i = at; want_file && i < file.rule_count(); ++i)
    add_file(i);
  return out;
}

json classifier_json(const dataplane::AclBuildInfo& acl) {
  return {{"algorithm", acl.algorithm},
          {"entries_v4", acl.entries_v4},
          {"entries_v6", acl.entries_v6},
          {"contexts_v4", acl.contexts_v4},
          {"contexts_v6", acl.contexts_v6},
          {"memory_bytes", acl.memory_bytes},
          {"build_ms", static_cast<double>(acl.build_time.count()) / 1000.0}};
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
  // Dropped in the NICs, before any worker saw them (where the NICs count; not in rx_packets).
  out["totals"]["offload_dropped_packets"] =
      context.steering != nullptr ? context.steering->hw_dropped() : 0;
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
  json dynamic = context.runtime.stats_json();
  if (const dataplane::Table* table = context.tables.current()) {
    dynamic["at"] = table->runtime_at();
  }
  out["dynamic"] = std::move(dynamic);

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
         {"rss_hash", dataplane::rss_text(info.rss_hash)},
         {"rss_symmetric", info.rss_symmetric},
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

json rules_reply(const ControlContext& context, const std::optional<std::string>& source) {
  json out = rules_summary(context);
  out["rules"] = rule_list_json(context, true, source);
  out["files"] = context.config.rule_files;
  return out;
}

json rules_summary(const ControlContext& context) {
  const dataplane::Table* table = context.tables.current();
  json out = json::object();
  if (table != nullptr) {
    out["default_action"] = rules::verdict_name(table->defaults().default_action());
    out["non_udp"] = rules::verdict_name(table->defaults().non_udp());
    out["generation"] = table->generation();
    out["classifier"] = classifier_json(table->file().classifier().info());
    out["runtime_classifier"] = classifier_json(table->runtime().classifier().info());
    out["dynamic"] = {{"at", table->runtime_at()}, {"count", table->runtime().rule_count()}};
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

json steering_reply(const ControlContext& context) {
  const dataplane::Table* table = context.tables.current();
  if (context.steering == nullptr || table == nullptr) return {{"ports", json::array()}};
  return context.steering->status(*table, context.config);
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
      std::optional<std::string> source;
      if (const auto it = request.body.find("source"); it != request.body.end()) {
        if (!it->is_string()) return error_reply("rules: source is a string").dump();
        source = it->get<std::string>();
      }
      reply = rules_reply(context, source);
    } else if (command == "version") {
      reply = version_reply();
    } else if (command == "steering") {
      reply = steering_reply(context);
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
