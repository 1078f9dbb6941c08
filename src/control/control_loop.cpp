#include "udpsieve/control/control_loop.hpp"

#include <rte_cycles.h>
#include <unistd.h>

#include <fstream>

#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "capture_session.hpp"
#include "udpsieve/common/heap.hpp"
#include "udpsieve/common/protocol.hpp"
#include "udpsieve/control/flow_steering.hpp"
#include "udpsieve/control/stats_aggregator.hpp"
#include "udpsieve/dataplane/snapshot_channel.hpp"
#include "udpsieve/dataplane/table.hpp"
#include "udpsieve/dataplane/worker.hpp"

namespace udpsieve::control {
namespace {

/// How long workers get to finish their burst, flush and publish after a stop request.
constexpr auto kStopGrace = std::chrono::seconds(10);

double milliseconds(std::chrono::microseconds us) {
  return static_cast<double>(us.count()) / 1e3;
}

std::string local_time_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S%z", &tm);
  return text;
}

std::string classifier_summary(const dataplane::AclBuildInfo& acl) {
  return acl.algorithm + ", " + std::to_string(acl.entries_v4 + acl.entries_v6) + " entries, " +
         std::to_string((acl.memory_bytes + 1023) / 1024) + " KiB";
}

/// Prefixes the set files added and took out, all sets together, of a load that kept the sets.
std::pair<std::size_t, std::size_t> set_file_change_counts(const config::LoadedConfig& loaded) {
  std::size_t added = 0;
  std::size_t removed = 0;
  for (const rules::SetFileChange& change : loaded.set_changes) {
    added += change.added.size();
    removed += change.removed.size();
  }
  return {added, removed};
}

/// The reload log's words on the sets of `loaded`, whose files' changes took `applying`.
std::string sets_summary(const config::LoadedConfig& loaded, std::chrono::microseconds applying) {
  if (!loaded.sets_kept) return "";
  if (loaded.set_changes.empty()) return "; set files unchanged: the running sets kept";
  const auto [added, removed] = set_file_change_counts(loaded);
  return fmt::format(
      "; set files changed: {} prefix(es) added to and {} taken out of the running sets in {:.1f} "
      "ms",
      added, removed, milliseconds(applying));
}

}  // namespace

ControlLoop::ControlLoop(ControlParts parts, std::shared_ptr<const config::LoadedConfig> config)
    : parts_(std::move(parts)),
      config_(std::move(config)),
      talkers_(parts_.workers.size(), static_cast<double>(rte_get_tsc_hz()),
               protocol::kTalkerWindowSeconds),
      started_(std::chrono::steady_clock::now()) {
  const dataplane::Table* table = parts_.tables.current();
  books_[0].on_publish(table->file());
  books_[1].on_publish(table->runtime());
  next_generation_ = table->generation() + 1;
  next_part_generation_ = std::max(table->file().generation(), table->runtime().generation()) + 1;
  parts_.runtime.attach(RuntimeUpdates::Env{
      .tables = parts_.tables,
      .builder = parts_.runtime_jobs,
      .server = parts_.server,
      .publish =
          [this](std::shared_ptr<const dataplane::RulePart> part) {
            const uint64_t token = publish(
                parts_.tables.current()->part_ptr(dataplane::PartKind::file), std::move(part),
                *config_, "a runtime change", parts_.tables.current()->sets_ptr());
            return RuntimeUpdates::Publication{token, parts_.tables.current()->generation()};
          },
      .file_rules = [this]() -> const rules::RuleSet& {
        return parts_.tables.current()->file().rules();
      },
      .file_windows =
          [this] {
            const std::vector<uint16_t>& slots =
                parts_.tables.current()->file().classifier().window_offsets();
            return static_cast<std::size_t>(std::count_if(
                slots.begin(), slots.end(), [](uint16_t o) { return o != dataplane::kNoWindow; }));
          },
      .next_generation = [this] { return next_part_generation_++; },
  });
  attach_sets();
}

ControlLoop::~ControlLoop() {
  if (reaper_.joinable()) reaper_.join();
}

void ControlLoop::reap() {
  if (graveyard_.empty() || !reaper_done_.load(std::memory_order_acquire)) return;
  if (reaper_.joinable()) reaper_.join();
  reaper_done_.store(false, std::memory_order_relaxed);
  reaper_ = std::thread([this, dead = std::move(graveyard_)]() mutable {
    dead.clear();
    reaper_done_.store(true, std::memory_order_release);
  });
  graveyard_.clear();
}

ControlContext ControlLoop::context() const {
  return ControlContext{*config_,     parts_.ports,   parts_.pools, parts_.tables,
                        parts_.stats, rates_,         talkers_,     books_[0],
                        books_[1],    parts_.runtime, parts_.sets,  parts_.steering,
                        reloads_,     parts_.workers, started_,     heartbeat_moved_};
}

void ControlLoop::watch_heartbeats() {
  const auto now = std::chrono::steady_clock::now();
  if (heartbeats_.size() != parts_.workers.size()) {
    heartbeats_.assign(parts_.workers.size(), 0);
    heartbeat_moved_.assign(parts_.workers.size(), now);
  }
  for (std::size_t w = 0; w < parts_.workers.size(); ++w) {
    const uint64_t beats = parts_.workers[w]->heartbeat();
    if (beats != heartbeats_[w]) {
      heartbeats_[w] = beats;
      heartbeat_moved_[w] = now;
    }
  }
}

void ControlLoop::drain() {
  const dataplane::Table* table = parts_.tables.current();
  const std::size_t rules = table != nullptr ? table->rule_count() : 0;
  for (std::size_t i = 0; i < parts_.channels.size(); ++i) {
    dataplane::SnapshotChannel& channel = *parts_.channels[i];
    while (dataplane::WorkerSnapshot* snapshot = channel.receive()) {
      parts_.stats.absorb(i, *snapshot);
      if (snapshot->talkers.valid) talkers_.absorb(i, snapshot->talkers);
      // The buffer is ours until released: make room for the current table's rules.
      if (snapshot->rules.size() < rules) snapshot->rules.resize(rules);
      channel.release(snapshot);
    }
  }
}

bool ControlLoop::handle_signals() {
  bool stop = false;
  signalfd_siginfo info{};
  while (read(parts_.signal_fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    switch (info.ssi_signo) {
      case SIGTERM:
      case SIGINT:
        spdlog::info("{}: stopping", strsignal(static_cast<int>(info.ssi_signo)));
        stop = true;
        break;
      case SIGHUP:
        request_reload(std::nullopt, "SIGHUP");
        break;
      default:
        break;
    }
  }
  return stop;
}

std::optional<std::string> ControlLoop::handle(std::string_view line,
                                               SocketServer::ClientId client) {
  static constexpr std::array<std::string_view, 1> kTestCommands = {"test_stall_worker"};
  std::variant<Request, std::string> parsed =
      parse_request(line, parts_.test_hooks ? std::span<const std::string_view>(kTestCommands)
                                            : std::span<const std::string_view>());
  if (auto* error = std::get_if<std::string>(&parsed)) return std::move(*error);
  Request& request = std::get<Request>(parsed);
  if (const protocol::Command* spec = protocol::find_command(request.command);
      spec != nullptr && spec->rights == protocol::Rights::admin &&
      !parts_.server.is_admin(client)) {
    return error_line("permission denied: " + request.command +
                      " needs admin rights: " + parts_.server.admin_hint());
  }
  if (request.command == "rule-add" || request.command == "rule-del" ||
      request.command == "rule-sync") {
    return parts_.runtime.handle(request, client);
  }
  if (request.command.starts_with("set-")) {
    return parts_.sets.handle(request, client, WallClock::now());
  }
  if (request.command == "reload") {
    request_reload(client, "udpsievectl");
    return std::nullopt;
  }
  if (request.command == "check") {
    const nlohmann::json& files = request.body["files"];
    const auto valid = [](const nlohmann::json& f) {
      if (f.is_string()) return true;
      if (!f.is_object() || f.size() != 2) return false;
      return f.contains("name") && f.at("name").is_string() &&
             !f.at("name").get_ref<const std::string&>().empty() && f.contains("text") &&
             f.at("text").is_string();
    };
    if (!files.is_array() || files.empty() || !std::all_of(files.begin(), files.end(), valid)) {
      return error_line(
          R"(check needs "files": a non-empty list of {"name": FILE, "text": YAML} or of paths)");
    }
    PendingCheck check{client, {}};
    for (const auto& file : files) {
      if (file.is_string()) {
        check.files.push_back(CheckFile{file.get<std::string>(), std::nullopt});
      } else {
        check.files.push_back(
            CheckFile{file["name"].get<std::string>(), file["text"].get<std::string>()});
      }
    }
    checks_.push_back(std::move(check));
    start_next_job();
    return std::nullopt;
  }
  if (request.command == "capture") return start_capture(request, client);
  if (request.command == "test_stall_worker") return stall_worker(request);
  return answer(request, context());
}

std::string ControlLoop::stall_worker(const Request& request) {
  const nlohmann::json& worker = request.body["worker"];
  const nlohmann::json& stalled = request.body["stalled"];
  if (!worker.is_number_unsigned() || worker.get<uint64_t>() >= parts_.workers.size() ||
      !stalled.is_boolean()) {
    return error_line("test_stall_worker needs \"worker\": 0.." +
                      std::to_string(parts_.workers.size() - 1) + " and \"stalled\": true|false");
  }
  dataplane::Worker& target = *parts_.workers[worker.get<std::size_t>()];
  target.set_stalled(stalled.get<bool>());
  spdlog::warn("test hook: worker on lcore {} {}", target.setup().lcore,
               stalled.get<bool>() ? "stalled" : "released");
  return nlohmann::json{{"ok", true}}.dump();
}

void ControlLoop::request_reload(std::optional<SocketServer::ClientId> client,
                                 const std::string& source) {
  reload_wanted_ = true;
  if (reload_source_.empty()) reload_source_ = source;
  if (client) reload_waiters_.push_back(*client);
  start_next_job();
}

void ControlLoop::start_next_job() {
  if (parts_.jobs.busy()) return;
  JobRequest request;
  request.serial = next_part_generation_++;
  if (reload_wanted_) {
    // Everyone who asked so far is answered by this run, which reads the files afresh.
    reload_wanted_ = false;
    running_waiters_ = std::move(reload_waiters_);
    reload_waiters_.clear();
    if (reload_again_) {
      spdlog::info("reload: reading {} again, set files too", config_->config.path);
    } else {
      reload_started_ = std::chrono::steady_clock::now();
      spdlog::info("reload ({}): reading {}", reload_source_, config_->config.path);
      if (parts_.on_reload_started) parts_.on_reload_started();
    }
    reload_again_ = false;
    reload_source_.clear();
    request.kind = JobKind::reload;
    request.set_slots = config_->set_slots;
    // The running sets stand for their files while they hold everything the files listed.
    if (running_sets_hold_their_files()) request.set_files = config_->set_files;
  } else if (!checks_.empty()) {
    running_check_ = checks_.front().client;
    request.kind = JobKind::check;
    request.set_slots = config_->set_slots;
    request.files = std::move(checks_.front().files);
    checks_.pop_front();
  } else {
    --next_part_generation_;
    return;
  }
  parts_.jobs.start(std::move(request));
}

uint64_t ControlLoop::publish(std::shared_ptr<const dataplane::RulePart> file,
                              std::shared_ptr<const dataplane::RulePart> runtime,
                              const config::LoadedConfig& config, std::string_view cause,
                              std::shared_ptr<dataplane::SetTables> sets) {
  dataplane::TableParams params;
  params.sets = std::move(sets);
  for (const config::PortConfig& port : config.config.ports) {
    params.forward_to.push_back(static_cast<uint16_t>(port.forward_to_index));
  }
  params.runtime_at = config.dynamic_at;
  params.generation = next_generation_;  // taken only once the NICs accepted the table
  const dataplane::Table& current = *parts_.tables.current();
  auto table = std::make_unique<dataplane::Table>(file, runtime, std::move(params));
  // The NICs first: the new table's flows are created before it is published (a refusal on a
  // `required` port refuses the whole change), the old table's go after.
  std::optional<FlowSteering::Plan> plan;
  if (parts_.steering != nullptr) {
    plan = parts_.steering->plan(*table, config);
    if (std::optional<std::string> refused = parts_.steering->prepare(*plan, config)) {
      throw ConfigError(SourceLocation{}, "", *refused);
    }
  }
  ++next_generation_;
  // A rebuilt part's rate limits continue from the buckets they have now.
  for (const dataplane::PartKind kind : {dataplane::PartKind::file, dataplane::PartKind::runtime}) {
    if (&table->part(kind) != &current.part(kind))
      table->part(kind).carry_meters(current.part(kind));
  }
  const bool new_file = &table->file() != &current.file();
  const bool new_runtime = &table->runtime() != &current.runtime();
  const uint64_t token = parts_.tables.publish(std::move(table));
  const dataplane::Table& now = *parts_.tables.current();
  if (new_file) books_[0].on_publish(now.file());
  if (new_runtime) books_[1].on_publish(now.runtime());
  retarget_capture(cause);
  if (plan) {
    parts_.steering->commit(std::move(*plan));
    if (new_file) spdlog::info("flow rules: {}", parts_.steering->summary());
  }
  return token;
}

void ControlLoop::attach_sets() {
  // A slot that changes hands starts its set's hit count afresh.
  std::array<uint64_t, rules::kMaxSets> base = parts_.sets.env().hit_base;
  const std::vector<std::string>& before = parts_.sets.env().slots;
  const dataplane::WorkerCounters totals = parts_.stats.totals();
  for (std::size_t slot = 0; slot < base.size(); ++slot) {
    const std::string old_name = slot < before.size() ? before[slot] : std::string();
    const std::string new_name =
        slot < config_->set_slots.size() ? config_->set_slots[slot] : std::string();
    if (old_name != new_name) base[slot] = totals.set_hits[slot];
  }
  parts_.sets.attach(SetUpdates::Env{
      .model = config_->sets,
      .slots = config_->set_slots,
      .tables = [this] { return parts_.tables.current()->sets_ptr().get(); },
      .qsbr = parts_.tables.qsbr(),
      .rebuild =
          [this] {
            const dataplane::Table& current = *parts_.tables.current();
            auto fresh = std::make_shared<dataplane::SetTables>(
                *config_->sets, current.sets_ptr() != nullptr ? current.sets_ptr()->socket() : 0);
            (void)publish(current.part_ptr(dataplane::PartKind::file),
                          current.part_ptr(dataplane::PartKind::runtime), *config_,
                          "new prefix set tables", std::move(fresh));
          },
      .hit_base = base,
  });
}

void ControlLoop::retire(const dataplane::Table& retired, const dataplane::Table& successor) {
  if (retired.sets_ptr() != nullptr && retired.sets_ptr() != successor.sets_ptr()) {
    graveyard_.push_back(retired.sets_ptr());
  }
  if (&retired.file() != &successor.file()) {
    books_[0].on_retire(retired.file());
    retired_rules_ += retired.file().rule_count();
    last_retired_ = std::chrono::steady_clock::now();
  }
  if (&retired.runtime() != &successor.runtime()) {
    retired_rules_ += retired.runtime().rule_count();
    last_retired_ = std::chrono::steady_clock::now();
    books_[1].on_retire(retired.runtime(),
                        [this](const std::string& id, const dataplane::RuleCounter& total) {
                          parts_.runtime.on_gone(id, total.packets, total.bytes);
                        });
  }
}

std::optional<std::string> ControlLoop::apply_reload(CompileOutcome& outcome) {
  // Ids are unique across file and runtime rules: a file rule that takes a runtime rule's id
  // would silently shadow or be shadowed by it.
  if (const RuntimeRule* clash = parts_.runtime.desired().clash_with(outcome.part->rules())) {
    const rules::Rule* file_rule = outcome.part->rules().find(clash->rule.id);
    return "reload refused: the file rule \"" + clash->rule.id + "\" at " +
           file_rule->where.to_string() + " has the id of a runtime rule (source " + clash->source +
           "); delete the runtime rule (udpsievectl rule del " + clash->rule.id +
           ") or rename the file rule";
  }
  // Runtime rules keep the set bits they were read with: every set they name must stay, in
  // its slot (assign_set_slots keeps the slots of the sets that stay).
  for (const RuntimeRule* runtime : parts_.runtime.desired().entries()) {
    const rules::Match& m = runtime->rule.match;
    for (const std::vector<std::string>* names : {&m.src_set, &m.dst_set}) {
      for (const std::string& name : *names) {
        const auto& slots = outcome.config->set_slots;
        if (std::find(slots.begin(), slots.end(), name) == slots.end()) {
          return "reload refused: the set \"" + name +
                 "\" is gone from sets but the runtime rule \"" + runtime->rule.id + "\" (source " +
                 runtime->source +
                 ") matches on it; delete that rule first (udpsievectl rule del " +
                 runtime->rule.id + ")";
        }
      }
    }
  }
  std::optional<SetUpdates::FileChangeUndo> set_undo;
  std::chrono::microseconds set_apply_time{0};
  if (outcome.config->sets_kept) {
    // The running sets, with their runtime entries, and their tables go on (finish_job checked
    // they still stand for the reads the load compared the set files with), taking the files'
    // changes as set-del / set-add requests would; the old rules see them a moment before the
    // new ones come.
    outcome.config->sets = config_->sets;
    // The reads the running sets stood for are checked (finish_job); a changed file's last read
    // need not live on with the configuration.
    outcome.config->sets_base.clear();
    if (!outcome.config->set_changes.empty()) {
      const auto applying = std::chrono::steady_clock::now();
      try {
        set_undo = parts_.sets.apply_file_changes(outcome.config->set_changes);
      } catch (const std::exception& e) {
        return std::string("reload refused: ") + e.what();
      }
      set_apply_time = std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - applying);
    }
    outcome.sets = parts_.tables.current()->sets_ptr();  // new ones when those were full
  } else if (outcome.config->sets != nullptr) {
    // Runtime set entries go into the new sets too, before anyone reads them.
    const std::vector<rules::SetRoute> changes =
        parts_.sets.reapply(*outcome.config->sets, outcome.config->set_slots);
    if (!changes.empty() && !outcome.sets->apply(changes, *outcome.config->sets, nullptr)) {
      try {
        outcome.sets =
            std::make_shared<dataplane::SetTables>(*outcome.config->sets, outcome.sets->socket());
      } catch (const std::exception& e) {
        return std::string("reload refused: the prefix set tables: ") + e.what();
      }
    }
  }
  const uint64_t generation = next_generation_;
  const auto swap_start = std::chrono::steady_clock::now();
  try {
    (void)publish(outcome.part, parts_.tables.current()->part_ptr(dataplane::PartKind::runtime),
                  *outcome.config, "a reload", outcome.sets);
  } catch (const ConfigError& e) {
    if (set_undo) parts_.sets.undo_file_changes(*set_undo);
    return std::string("reload refused: ") + e.what();
  }
  const auto swapped = std::chrono::steady_clock::now();
  if (config_->sets != nullptr) graveyard_.push_back(config_);
  config_ = outcome.config;
  parts_.runtime.set_max_rules(config_->config.pipeline.dynamic_max_rules);
  parts_.runtime.set_set_slots(config_->set_slots);
  attach_sets();
  if (parts_.on_applied) parts_.on_applied(*config_);

  reloads_.applied++;
  reloads_.last_result = "applied";
  reloads_.load_time = outcome.load_time;
  reloads_.compile_time = outcome.compile_time;
  reloads_.swap_time = std::chrono::duration_cast<std::chrono::microseconds>(swapped - swap_start);
  reloads_.total_time =
      std::chrono::duration_cast<std::chrono::microseconds>(swapped - reload_started_);
  spdlog::info(
      "reload applied: {} rule(s) from {} file(s) ({} unchanged), generation {}; load {:.1f} "
      "ms, compile {:.1f} ms ({}{}), swap {} us, total {:.1f} ms",
      outcome.rules, outcome.files.size(), outcome.files_unchanged, generation,
      milliseconds(outcome.load_time), milliseconds(outcome.compile_time),
      outcome.rules_rebuilt ? classifier_summary(outcome.classifier)
                            : "nothing changed: the running rules kept",
      sets_summary(*config_, set_apply_time), reloads_.swap_time.count(),
      milliseconds(reloads_.total_time));
  return std::nullopt;
}

bool ControlLoop::running_sets_hold_their_files() const {
  return config_->sets != nullptr && config_->sets->files_intact() && !parts_.sets.tables_behind();
}

bool ControlLoop::running_sets_stand_for(const config::LoadedConfig& kept) const {
  return running_sets_hold_their_files() && config_->set_files == kept.sets_base;
}

void ControlLoop::finish_job(JobRequest request, CompileOutcome outcome) {
  for (const std::string& warning : outcome.warnings)
    spdlog::warn("{}", warning);
  nlohmann::json reply;
  if (!outcome.ok) {
    reply = {{"error", outcome.error}};
  } else {
    reply = {{"ok", true},
             {"rules", outcome.rules},
             {"files", outcome.files},
             {"warnings", outcome.warnings},
             {"load_ms", milliseconds(outcome.load_time)},
             {"compile_ms", milliseconds(outcome.compile_time)},
             {"classifier",
              {{"algorithm", outcome.classifier.algorithm},
               {"entries", outcome.classifier.entries_v4 + outcome.classifier.entries_v6},
               {"memory_bytes", outcome.classifier.memory_bytes}}}};
  }

  if (request.kind == JobKind::reload) {
    if (outcome.ok && outcome.config->sets_kept && !running_sets_stand_for(*outcome.config)) {
      // A set-del or set-flush took out a prefix a set file lists while the reload was
      // built: the files must be read for it to come back. The same waiters wait for that.
      spdlog::info("reload: a set change took out a prefix a set file lists meanwhile");
      reload_waiters_.insert(reload_waiters_.begin(), running_waiters_.begin(),
                             running_waiters_.end());
      running_waiters_.clear();
      reload_wanted_ = true;
      reload_again_ = true;
      start_next_job();
      return;
    }
    reloads_.last_at = local_time_now();
    if (outcome.ok) {
      if (std::optional<std::string> refused = apply_reload(outcome)) {
        outcome.ok = false;
        outcome.error = *refused;
        reply = {{"error", outcome.error}};
      }
    }
    if (outcome.ok) {
      reply["files_unchanged"] = outcome.files_unchanged;
      reply["rules_rebuilt"] = outcome.rules_rebuilt;
      reply["sets_kept"] = config_->sets_kept;
      if (config_->sets_kept) {
        const auto [added, removed] = set_file_change_counts(*config_);
        reply["set_file_changes"] = {{"added", added}, {"removed", removed}};
      }
      reply["generation"] = parts_.tables.current()->generation();
      reply["swap_us"] = reloads_.swap_time.count();
      reply["total_ms"] = milliseconds(reloads_.total_time);
    } else {
      reloads_.refused++;
      reloads_.last_result = outcome.error;
      spdlog::error("reload refused, the running rules stay in effect: {}", outcome.error);
    }
    const std::string line = reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    for (SocketServer::ClientId client : running_waiters_)
      parts_.server.complete(client, line);
    running_waiters_.clear();
    if (parts_.on_reload_finished) parts_.on_reload_finished(outcome.ok);
  } else {
    if (outcome.ok) reply["analysis_complete"] = outcome.analysis_complete;
    if (running_check_) {
      parts_.server.complete(*running_check_,
                             reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    running_check_.reset();
  }
  start_next_job();
}

void ControlLoop::abandon_waiters() {
  const std::string line = error_line("udpsieved is stopping; nothing was applied");
  for (SocketServer::ClientId client : running_waiters_)
    parts_.server.complete(client, line);
  for (SocketServer::ClientId client : reload_waiters_)
    parts_.server.complete(client, line);
  for (const PendingCheck& check : checks_)
    parts_.server.complete(check.client, line);
  if (running_check_) parts_.server.complete(*running_check_, line);
  running_waiters_.clear();
  reload_waiters_.clear();
  checks_.clear();
  running_check_.reset();
  parts_.runtime.abandon(parts_.server, line);
  parts_.sets.abandon(parts_.server, "udpsieved is stopping; nothing was applied");
  if (capture_) finish_capture("udpsieved is stopping");
}

bool ControlLoop::run() {
  const auto handler = [this](std::string_view line, SocketServer::ClientId client) {
    return handle(line, client);
  };
  const auto retire = [this](const dataplane::Table& retired, const dataplane::Table& successor) {
    this->retire(retired, successor);
  };
  const int poll_ms = static_cast<int>(std::clamp(parts_.stats_interval_ms / 4, 1U, 50U));
  for (;;) {
    // Poll faster while a replaced table waits for the workers' quiescence.
    const bool retiring = !parts_.tables.retained().empty();
    const bool hurry = retiring || parts_.jobs.busy() || parts_.runtime.busy();
    const bool signalled = parts_.server.poll_once(hurry ? 1 : poll_ms, parts_.signal_fd, handler);
    drain();
    watch_heartbeats();
    if (const auto now = std::chrono::steady_clock::now(); rates_.due(now)) {
      sample_rates(context(), rates_, now);
    }
    (void)parts_.tables.reclaim(retire);
    reap();
    give_back_memory(std::chrono::steady_clock::now());
    if (auto done = parts_.jobs.take()) finish_job(std::move(done->first), std::move(done->second));
    parts_.runtime.poll(parts_.server);
    parts_.sets.tick(WallClock::now(), parts_.server);
    if (parts_.steering != nullptr && std::chrono::steady_clock::now() >= next_flow_query_) {
      parts_.steering->query();  // the NICs' counts, for rules replies
      next_flow_query_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    service_capture();
    if (parts_.on_tick) parts_.on_tick(context());
    if (signalled && handle_signals()) break;
  }
  if (parts_.on_stopping) parts_.on_stopping();
  abandon_waiters();

  parts_.stop_workers.store(true, std::memory_order_relaxed);
  const auto deadline = std::chrono::steady_clock::now() + kStopGrace;
  for (;;) {
    drain();
    const bool stopped = std::all_of(parts_.workers.begin(), parts_.workers.end(),
                                     [](const auto& w) { return w->finished(); });
    if (stopped && parts_.stats.all_final()) {
      drain();
      return true;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      for (const auto& worker : parts_.workers) {
        if (!worker->finished()) {
          spdlog::error("worker on lcore {} did not stop within {} s", worker->setup().lcore,
                        kStopGrace.count());
        }
      }
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

namespace {

/// The process's resident memory (/proc/self/statm), 0 when unknown.
uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0;
  uint64_t resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

void ControlLoop::give_back_memory(std::chrono::steady_clock::time_point now) {
  // The allocator keeps freed memory for the next compile (keep_build_memory, heap.hpp):
  // right for everyday rule sets, but after a large one is replaced hundreds of MB would stay
  // with the process. Once parts totalling many rules are freed, give the heap's free pages
  // back to the kernel, keeping a bounded pad for the next reload where the allocator can.
  // Not while reloads follow each other: each would fault in (and the kernel zero) the pages
  // the one before gave back, a third of a reload that changes one file of many.
  if (retired_rules_ < kTrimAfterRules || now - last_retired_ < kTrimQuiet) return;
  const std::size_t freed_rules = retired_rules_;
  retired_rules_ = 0;
  const uint64_t before = resident_bytes();
  give_back_free_memory(kKeptAfterTrim);
  spdlog::info("rule parts of {} rule(s) freed; heap trimmed: resident memory {} MiB -> {} MiB",
               freed_rules, before >> 20, resident_bytes() >> 20);
}

void ControlLoop::finish() {
  // The workers are gone: every replaced table can be folded now.
  parts_.tables.clear([this](const dataplane::Table& retired, const dataplane::Table& successor) {
    retire(retired, successor);
  });
  parts_.runtime.flush_log();
}

}  // namespace udpsieve::control
