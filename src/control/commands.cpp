#include "udpsieve/control/commands.hpp"

#include "udpsieve/control/set_updates.hpp"

#include <rte_version.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <random>
#include <span>
#include <unordered_map>

#include "udpsieve/common/protocol.hpp"
#include "udpsieve/common/stats_schema.hpp"
#include "udpsieve/common/version.hpp"
#include "udpsieve/control/flow_steering.hpp"
#include "udpsieve/control/prometheus.hpp"
#include "udpsieve/control/rates.hpp"
#include "udpsieve/control/rule_counters.hpp"
#include "udpsieve/control/runtime_updates.hpp"
#include "udpsieve/control/set_updates.hpp"
#include "udpsieve/control/stats_aggregator.hpp"
#include "udpsieve/control/talkers.hpp"
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

/// One rule of the table in effect with its total, as the rule listings see it.
struct RuleRow {
  const rules::Rule* rule = nullptr;
  dataplane::PartKind kind = dataplane::PartKind::file;
  std::size_t index = 0;  ///< within its part
  dataplane::RuleCounter count;
  const RuntimeRule* meta = nullptr;  ///< runtime rules: source, expiry
  FlowSteering::NicCount nic;         ///< drop rules: in the NIC, and what it dropped

  /// What the NIC dropped for a rule never reached a worker: it is added to the rule's packets
  /// where the NIC counts (hw_packets).
  [[nodiscard]] uint64_t packets() const { return count.packets + nic.hw_packets.value_or(0); }
};

/// Every rule in first-match order (file rules before `dynamic`, runtime rules, the other file
/// rules) with its total; only those of `filter.source` / `filter.id` when given. Costs one
/// pass over the rules (no JSON), so a 250,000-rule table is listed in milliseconds.
std::vector<RuleRow> rule_rows(const ControlContext& context, const RuleFilter& filter) {
  std::vector<RuleRow> rows;
  const dataplane::Table* table = context.tables.current();
  if (table == nullptr) return rows;
  const dataplane::RulePart& file = table->file();
  const dataplane::RulePart& runtime = table->runtime();
  const bool want_file = !filter.source || *filter.source == "file";
  const bool want_runtime = !filter.source || *filter.source != "file";
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
  const auto wanted_id = [&](const rules::Rule& rule) {
    return !filter.id || rule.id == *filter.id;
  };
  const std::unordered_map<std::string, FlowSteering::NicCount> nic =
      context.steering != nullptr ? context.steering->nic_counts()
                                  : std::unordered_map<std::string, FlowSteering::NicCount>();
  const auto nic_of = [&nic](const rules::Rule& rule) {
    if (rule.action.kind != rules::ActionKind::drop) return FlowSteering::NicCount{};
    const auto it = nic.find(rule.id);
    return it == nic.end() ? FlowSteering::NicCount{} : it->second;
  };
  const auto add_file = [&](std::size_t i) {
    const rules::Rule& rule = file.rules().rules()[i];
    if (wanted_id(rule)) {
      rows.push_back({&rule, dataplane::PartKind::file, i, file_counts[i], nullptr, nic_of(rule)});
    }
  };
  const auto add_runtime = [&](std::size_t i) {
    const rules::Rule& rule = runtime.rules().rules()[i];
    if (!wanted_id(rule)) return;
    const RuntimeRule* meta = context.runtime.published().find(rule.id);
    if (filter.source && *filter.source != (meta != nullptr ? meta->source : "api")) return;
    rows.push_back({&rule, dataplane::PartKind::runtime, i, runtime_counts[i], meta, nic_of(rule)});
  };
  const std::size_t at = table->runtime_at();
  rows.reserve((want_file ? file.rule_count() : 0) + (want_runtime ? runtime.rule_count() : 0));
  for (std::size_t i = 0; want_file && i < at; ++i)
    add_file(i);
  for (std::size_t i = 0; want_runtime && i < runtime.rule_count(); ++i)
    add_runtime(i);
  for (std::size_t i = at; want_file && i < file.rule_count(); ++i)
    add_file(i);
  return rows;
}

/// A rule's current rate.
Rate rule_rate(const ControlContext& context, const RuleRow& row) {
  const dataplane::Table* table = context.tables.current();
  return context.rates.rule(row.kind == dataplane::PartKind::runtime,
                            table != nullptr ? table->part(row.kind).generation() : 0, row.index,
                            row.rule->id);
}

/// The `n` busiest rows by `by`, busiest first (ties in first-match order).
void keep_busiest(const ControlContext& context, std::vector<RuleRow>& rows, std::size_t n,
                  RuleFilter::By by = RuleFilter::By::packets) {
  std::vector<std::pair<double, std::size_t>> keys;  // (packets or rate, first-match order)
  keys.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto rate = [&] { return rule_rate(context, rows[i]); };
    keys.emplace_back(by == RuleFilter::By::packets ? static_cast<double>(rows[i].packets())
                      : by == RuleFilter::By::rate  ? rate().pps
                                                    : rate().pps_10s,
                      i);
  }
  const auto busier = [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  n = std::min(n, keys.size());
  std::partial_sort(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(n), keys.end(),
                    busier);
  std::vector<RuleRow> kept;
  kept.reserve(n);
  for (std::size_t k = 0; k < n; ++k)
    kept.push_back(rows[keys[k].second]);
  rows = std::move(kept);
}

/// A rate as replies carry it: rate_pps, rate_bps (where the counter has bytes), rate_pps_10s.
json rate_json(const Rate& rate, bool bits = true) {
  json out = {{"rate_pps", rate.pps}};
  if (bits) out["rate_bps"] = rate.bps;
  out["rate_pps_10s"] = rate.pps_10s;
  return out;
}

/// A port's rx and tx rates.
json port_rates_json(const ControlContext& context, std::size_t port) {
  return {{"rx", rate_json(context.rates.port_rx(port))},
          {"tx", rate_json(context.rates.port_tx(port))}};
}

/// A row as JSON; `detailed` adds match, action, place and expiry details.
json row_json(const ControlContext& context, const RuleRow& row, bool detailed,
              const std::vector<std::string>& port_names, WallClock::time_point now) {
  const rules::Rule& rule = *row.rule;
  const dataplane::Table& table = *context.tables.current();
  json entry = {{"id", rule.id},
                {"packets", row.packets()},
                {"bytes", row.count.bytes},
                {"offloaded", row.nic.offloaded},
                {"hw_packets", row.nic.hw_packets ? json(*row.nic.hw_packets) : json(nullptr)}};
  entry.update(rate_json(rule_rate(context, row)));
  if (!rule.note.empty()) entry["note"] = rule.note;
  if (rule.action.kind == rules::ActionKind::rate_limit) {
    entry["passed"] = row.count.packets - row.count.limited;
    entry["limited"] = row.count.limited;
  }
  if (row.kind == dataplane::PartKind::file) {
    entry["source"] = "file";
  } else {
    entry["source"] = row.meta != nullptr ? row.meta->source : "api";
    json expires_in = nullptr;
    if (row.meta != nullptr && row.meta->expires_at) {
      expires_in =
          std::max(0.0, std::chrono::duration<double>(*row.meta->expires_at - now).count());
    }
    entry["expires_in_s"] = expires_in;
  }
  if (detailed) {
    entry["index"] = table.position(row.kind, row.index);
    entry["action"] = rules::action_to_string(rule.action);
    entry["match"] = rules::match_to_json(rule.match, port_names);
    if (row.kind == dataplane::PartKind::file) {
      entry["location"] = rule.where.to_string();
    } else if (row.meta != nullptr) {
      entry["added_at"] = utc_text(row.meta->added_at);
    }
  }
  return entry;
}

json rows_json(const ControlContext& context, std::span<const RuleRow> rows, bool detailed) {
  json out = json::array();
  const std::vector<std::string> port_names = context.config.config.port_names();
  const auto now = WallClock::now();
  for (const RuleRow& row : rows)
    out.push_back(row_json(context, row, detailed, port_names, now));
  return out;
}

json classifier_json(const dataplane::AclBuildInfo& acl) {
  return {{"algorithm", acl.algorithm},
          {"entries_v4", acl.entries_v4},
          {"entries_v6", acl.entries_v6},
          {"contexts_v4", acl.contexts_v4},
          {"contexts_v6", acl.contexts_v6},
          {"exact_v4", acl.exact_v4},
          {"exact_v6", acl.exact_v6},
          {"prefix_v4", acl.prefix_v4},
          {"prefix_v6", acl.prefix_v6},
          {"memory_bytes", acl.memory_bytes},
          {"build_ms", static_cast<double>(acl.build_time.count()) / 1000.0}};
}

json error_reply(const std::string& message) {
  return json{{std::string(protocol::kErrorKey), message}};
}

/// The `rules` request's filter fields; the refusal when one is malformed.
std::optional<std::string> read_rule_filter(const json& body, RuleFilter& filter) {
  const auto string_field = [&](const char* name, std::optional<std::string>& into) {
    const auto it = body.find(name);
    if (it == body.end()) return true;
    if (!it->is_string() || it->get_ref<const std::string&>().empty()) return false;
    into = it->get<std::string>();
    return true;
  };
  if (!string_field("source", filter.source)) return "rules: source is a non-empty string";
  if (!string_field("id", filter.id)) return "rules: id is a non-empty string";
  if (const auto by = name_field(body, "by", protocol::kRuleRankings)) {
    if (*by == protocol::kRuleRankings.size()) return "rules: by is one of packets, rate, rate_10s";
    filter.by = static_cast<RuleFilter::By>(*by);
  }
  if (!number_field(body, "top", 1, kMaxRulesPage, filter.top)) {
    return "rules: top is an integer from 1 to " + std::to_string(kMaxRulesPage);
  }
  if (!number_field(body, "limit", 1, kMaxRulesPage, filter.limit)) {
    return "rules: limit is an integer from 1 to " + std::to_string(kMaxRulesPage);
  }
  if (!number_field(body, "offset", 0, std::numeric_limits<uint32_t>::max(), filter.offset)) {
    return "rules: offset is an integer from 0";
  }
  return std::nullopt;
}

}  // namespace

namespace {

/// `stats` without its rule list.
json stats_without_rules(const ControlContext& context) {
  const std::chrono::duration<double> uptime = std::chrono::steady_clock::now() - context.started;
  json out;
  out["uptime_s"] = uptime.count();
  out["totals"] = counters_json(context.stats.totals());
  // Dropped in the NICs, before any worker saw them (where the NICs count; not in rx_packets).
  out["totals"]["offload_dropped_packets"] =
      context.steering != nullptr ? context.steering->hw_dropped() : 0;
  const Rate rx = context.rates.total(RateBook::Total::rx);
  const Rate forwarded = context.rates.total(RateBook::Total::forwarded);
  const Rate dropped = context.rates.total(RateBook::Total::dropped);
  json drop_rates = json::object();
  for (std::size_t r = 0; r < kDropReasonCount; ++r) {
    drop_rates[std::string(kDropReasons[r].name)] =
        rate_json(context.rates.drop(static_cast<DropReason>(r)), false);
  }
  out["rates"] = {{"rx_pps", rx.pps},
                  {"forwarded_pps", forwarded.pps},
                  {"dropped_pps", dropped.pps},
                  {"rx_bps", rx.bps},
                  {"rx", rate_json(rx)},
                  {"forwarded", rate_json(forwarded)},
                  {"dropped", rate_json(dropped, false)},
                  {"drops", std::move(drop_rates)}};

  json ports = json::array();
  const auto& infos = context.ports.ports();
  for (std::size_t i = 0; i < infos.size(); ++i) {
    json port = port_counters_json(context.ports.counters(i));
    port["name"] = infos[i].name;
    port["rates"] = port_rates_json(context, i);
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

  // Prefix sets: what each holds and how often it matched an address.
  if (const auto& model = context.config.sets; model != nullptr) {
    const dataplane::WorkerCounters totals = context.stats.totals();
    const SetUpdates::Env& env = context.sets.env();
    json sets = json::array();
    for (std::size_t slot = 0; slot < context.config.set_slots.size(); ++slot) {
      const std::string& name = context.config.set_slots[slot];
      if (name.empty()) continue;
      const auto set =
          std::find_if(context.config.config.sets.begin(), context.config.config.sets.end(),
                       [&](const config::SetConfig& s) { return s.name == name; });
      const auto index = static_cast<unsigned>(slot);
      sets.push_back(
          {{"name", name},
           {"file", set != context.config.config.sets.end() ? set->file : ""},
           {"prefixes_v4", model->count(index, rules::Family::ipv4)},
           {"prefixes_v6", model->count(index, rules::Family::ipv6)},
           {"runtime_entries", context.sets.runtime_entries(name)},
           {"hits", totals.set_hits[slot] - std::min(totals.set_hits[slot], env.hit_base[slot])}});
    }
    out["sets"] = std::move(sets);
    const dataplane::Table* table = context.tables.current();
    const dataplane::SetTables* tables = table != nullptr ? table->sets_ptr().get() : nullptr;
    out["set_tables"] = {{"routes_v4", model->route_count(rules::Family::ipv4)},
                         {"routes_v6", model->route_count(rules::Family::ipv6)},
                         {"memory_bytes", tables != nullptr ? tables->info().memory_bytes : 0},
                         {"changes", context.sets.changes()}};
  }
  return out;
}

}  // namespace

void sample_rates(const ControlContext& context, RateBook& book,
                  std::chrono::steady_clock::time_point now) {
  book.begin(now);
  const dataplane::WorkerCounters totals = context.stats.totals();
  book.total(RateBook::Total::rx, totals.stat(WorkerStat::rx_packets),
             totals.stat(WorkerStat::rx_bytes));
  book.total(RateBook::Total::forwarded, totals.stat(WorkerStat::forwarded_packets),
             totals.stat(WorkerStat::forwarded_bytes));
  book.total(RateBook::Total::dropped, totals.dropped(), 0);
  for (std::size_t r = 0; r < kDropReasonCount; ++r)
    book.drop(static_cast<DropReason>(r), totals.drops[r]);
  for (std::size_t p = 0; p < context.ports.ports().size(); ++p) {
    const dataplane::PortCounters port = context.ports.counters(p);
    book.port(p, port[index_of(PortStat::rx_packets)], port[index_of(PortStat::rx_bytes)],
              port[index_of(PortStat::tx_packets)], port[index_of(PortStat::tx_bytes)]);
  }
  if (const dataplane::Table* table = context.tables.current()) {
    for (const dataplane::PartKind kind :
         {dataplane::PartKind::file, dataplane::PartKind::runtime}) {
      const dataplane::RulePart& part = table->part(kind);
      book.rules(kind == dataplane::PartKind::runtime, part.generation(), part.rules_ptr());
    }
    for (const RuleRow& row : rule_rows(context, RuleFilter{})) {
      book.rule(row.kind == dataplane::PartKind::runtime, row.index, row.packets(),
                row.count.bytes);
    }
  }
  book.end();
}

json stats_reply(const ControlContext& context) {
  json out = stats_without_rules(context);
  std::vector<RuleRow> rows = rule_rows(context, {});
  out["rules_total"] = rows.size();
  keep_busiest(context, rows, kStatsRules);
  out["rules"] = rows_json(context, rows, false);
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
         {"counters", port_counters_json(context.ports.counters(i))},
         {"rates", port_rates_json(context, i)}});
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
    // How long ago the worker's loop last went round (as the control loop saw it): a few
    // milliseconds at most while it runs; growing while it is stuck.
    entry["heartbeat_age_ms"] =
        i < context.heartbeat_moved.size()
            ? json(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                             context.heartbeat_moved[i])
                       .count())
            : json(nullptr);
    entry["burst_histogram"] = counters.burst_histogram;
    workers.push_back(std::move(entry));
  }
  return {{"workers", std::move(workers)}};
}

json rules_reply(const ControlContext& context, const RuleFilter& filter) {
  json out = rules_summary(context);
  std::vector<RuleRow> rows = rule_rows(context, filter);
  if (filter.top) keep_busiest(context, rows, *filter.top, filter.by);
  const std::size_t total = rows.size();
  const std::size_t first = std::min(filter.offset, total);
  const std::size_t count = std::min(filter.limit, total - first);
  out["rules"] = rows_json(context, std::span(rows).subspan(first, count), true);
  out["total"] = total;
  out["offset"] = first;
  out["next_offset"] = first + count < total ? json(first + count) : json(nullptr);
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
    out["rule_count"] = table->file().rule_count() + table->runtime().rule_count();
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

namespace {

/// 16 hex digits drawn when the daemon starts: tells a client (the FlowSpec feeder) that the
/// daemon it talks to restarted, even where pids repeat (containers).
const std::string& run_id() {
  static const std::string id = [] {
    std::random_device random;
    const uint64_t value = (uint64_t{random()} << 32) | random();
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
    return std::string(text);
  }();
  return id;
}

}  // namespace

json talkers_reply(const ControlContext& context, const TalkerQuery& query) {
  const uint32_t sampling = context.config.config.pipeline.talker_sampling;
  if (sampling == 0) return error_reply("talkers are off (pipeline.talker_sampling is 0)");
  const TalkerAnswer answer = context.talkers.top(query, rte_rdtsc());
  // Rules are keyed by their ids' hashes: name those of the answer from the table in effect.
  std::unordered_map<uint64_t, std::pair<std::string, std::string>> names;
  const dataplane::Table* table = context.tables.current();
  if (query.kind == dataplane::TalkerKind::rule && table != nullptr) {
    for (const TalkerRow& row : answer.rows) {
      if (row.key.family <= dataplane::TalkerKey::kRuntimePart) names.try_emplace(row.key.high);
    }
    for (const dataplane::PartKind kind :
         {dataplane::PartKind::file, dataplane::PartKind::runtime}) {
      const dataplane::RulePart& part = table->part(kind);
      const uint64_t* keys = part.talker_keys();
      for (std::size_t i = 0; !names.empty() && i < part.rule_count(); ++i) {
        const auto found = names.find(keys[i]);
        if (found == names.end() || !found->second.first.empty()) continue;
        const std::string& id = part.rules().rules()[i].id;
        const RuntimeRule* meta =
            kind == dataplane::PartKind::runtime ? context.runtime.published().find(id) : nullptr;
        found->second = {id, kind == dataplane::PartKind::file ? "file"
                             : meta != nullptr                 ? meta->source
                                                               : "api"};
      }
    }
  }
  return talkers_json(
      query, answer,
      TalkerSampling{sampling, context.config.config.pipeline.talker_max_sample_rate},
      [&names](
          const dataplane::TalkerKey& key) -> std::optional<std::pair<std::string, std::string>> {
        const auto found = names.find(key.high);
        if (found == names.end() || found->second.first.empty()) return std::nullopt;
        return found->second;
      });
}

json version_reply() {
  return {
      {"name", "udpsieved"}, {"version", kVersion}, {"dpdk", rte_version()}, {"run_id", run_id()}};
}

std::string metrics_text(const ControlContext& context) {
  // Per-rule series for the first rules in first-match order: a stable set of series (the
  // busiest would come and go) whose size is bounded whatever the rule count.
  json stats = stats_without_rules(context);
  const std::vector<RuleRow> rows = rule_rows(context, {});
  const std::size_t shown = std::min(rows.size(), kMetricsRules);
  stats["rules"] = rows_json(context, std::span(rows).first(shown), false);
  json summary = rules_summary(context);
  summary["rules_without_series"] = rows.size() - shown;
  return render_prometheus(stats, summary, version_reply());
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
      RuleFilter filter;
      if (std::optional<std::string> refused = read_rule_filter(request.body, filter)) {
        return error_reply(*refused).dump(-1, ' ', false, json::error_handler_t::replace);
      }
      reply = rules_reply(context, filter);
    } else if (command == "talkers") {
      TalkerQuery query;
      if (std::optional<std::string> refused = read_talker_query(request.body, query)) {
        return error_reply(*refused).dump(-1, ' ', false, json::error_handler_t::replace);
      }
      reply = talkers_reply(context, query);
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
