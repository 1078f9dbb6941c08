// Runtime rule changes: checked at once, built off the control thread, saved, published,
// answered once in effect.
#include "udpsieve/control/runtime_updates.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <thread>
#include <utility>

#include "udpsieve/common/config_error.hpp"
#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/control/state_file.hpp"
#include "udpsieve/dataplane/table.hpp"
#include "udpsieve/rules/rule_json.hpp"
#include "udpsieve/rules/rule_loader.hpp"

namespace udpsieve::control {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

/// How often the rules are scanned for expiry (a rule goes at most this late, plus one build).
constexpr auto kExpiryScan = std::chrono::milliseconds(250);
/// Final-count lines of deleted or expired rules logged one by one per second; the rest of
/// that second's are summed in one line.
constexpr uint64_t kGoneLines = 20;
/// How long the control thread waits right after a swap for the workers to pass it.
constexpr auto kQuiescenceSpin = std::chrono::milliseconds(2);

double milliseconds(std::chrono::microseconds us) {
  return static_cast<double>(us.count()) / 1e3;
}

json optional_time(const std::optional<WallClock::time_point>& when) {
  return when ? json(utc_text(*when)) : json(nullptr);
}

json optional_unix(const std::optional<WallClock::time_point>& when) {
  return when ? json(unix_seconds(*when)) : json(nullptr);
}

/// "a, b, c" (at most `limit` ids, then "and N more").
std::string id_list(const std::vector<std::string>& ids, std::size_t limit = 5) {
  std::string out;
  for (std::size_t i = 0; i < ids.size() && i < limit; ++i)
    out += (i == 0 ? "" : ", ") + ids[i];
  if (ids.size() > limit) out += " and " + std::to_string(ids.size() - limit) + " more";
  return out;
}

}  // namespace

RuntimeUpdates::RuntimeUpdates(Settings settings) : settings_(std::move(settings)) {}

void RuntimeUpdates::attach(Env env) {
  env_.emplace(std::move(env));
}

ChangeLimits RuntimeUpdates::limits() const {
  ChangeLimits limits;
  limits.file_rules = &env_->file_rules();
  limits.max_rules = settings_.max_rules;
  limits.workers = settings_.workers;
  limits.file_windows = env_->file_windows();
  return limits;
}

std::vector<rules::Rule> RuntimeUpdates::restore(const rules::RuleSet& file_rules,
                                                 std::size_t file_windows,
                                                 WallClock::time_point now) {
  if (settings_.state_path.empty()) return {};
  const StateLoad load = load_state(settings_.state_path, unix_seconds(now));
  if (load.status == StateLoad::Status::absent) return {};
  if (load.status == StateLoad::Status::corrupt) {
    state_error_ = load.error;
    state_note_ = load.moved_to;
    spdlog::error(
        "runtime rules: {} does not parse ({}); moved it to {} and started with the file rules "
        "only",
        settings_.state_path, load.error, load.moved_to);
    return {};
  }

  ChangeLimits limits;
  limits.file_rules = &file_rules;
  limits.max_rules = settings_.max_rules;
  limits.workers = settings_.workers;
  limits.file_windows = file_windows;
  const rules::RuleCollector collector(settings_.port_names, settings_.set_slots);
  std::size_t expired = 0;
  std::vector<std::string> rejected;
  for (std::size_t i = 0; i < load.rules.size(); ++i) {
    const PersistedRule& saved = load.rules[i];
    const std::optional<WallClock::time_point> expires =
        saved.expires_at
            ? std::optional(WallClock::time_point(std::chrono::seconds(*saved.expires_at)))
            : std::nullopt;
    if (expires && *expires <= now) {
      ++expired;
      continue;
    }
    RuntimeChange change;
    change.kind = RuntimeChange::Kind::add;
    change.source = std::string(kPersistedSource);
    change.expires.push_back(expires);
    change.added.emplace_back(std::chrono::seconds(saved.added_at));
    try {
      const YamlNode root = YamlNode::from_json(json{{"rules", json::array({saved.rule})}}, "");
      change.rules = collector.parse_list(root.require("rules"));
      (void)desired_.apply(change, now, limits);
    } catch (const std::exception& e) {
      std::string message = e.what();
      // The messages name "rules[0]"; in the file it is entry i.
      if (message.rfind("rules[0]", 0) == 0)
        message.replace(0, 8, "rules[" + std::to_string(i) + "]");
      rejected.push_back(message);
      spdlog::error("runtime rules: {}: {}; this rule is left out", settings_.state_path, message);
    }
  }
  if (!rejected.empty()) {
    keep_aside(std::to_string(rejected.size()) + " saved rule(s) left out: " + rejected.front(),
               now);
  }
  published_ = std::make_shared<const RuntimeRuleSet>(desired_);
  spdlog::info("runtime rules: restored {} rule(s) from {} ({} expired while stopped, {} left out)",
               desired_.size(), settings_.state_path, expired, rejected.size());
  return desired_.rules();
}

void RuntimeUpdates::keep_aside(const std::string& why, WallClock::time_point now) {
  // Keep what was left out where the operator can find it; the next change rewrites the file.
  const std::string aside = settings_.state_path + ".rejected-" + compact_utc_text(now);
  std::error_code ec;
  std::filesystem::copy_file(settings_.state_path, aside,
                             std::filesystem::copy_options::overwrite_existing, ec);
  state_error_ = why;
  state_note_ = ec ? "" : aside;
}

void RuntimeUpdates::drop_restored(const std::string& why, WallClock::time_point now) {
  spdlog::error(
      "runtime rules: the {} rule(s) restored from {} cannot be compiled together ({}); "
      "starting without them",
      published_->size(), settings_.state_path, why);
  keep_aside("restored rules not compiled: " + why, now);
  desired_ = RuntimeRuleSet();
  published_ = std::make_shared<const RuntimeRuleSet>();
}

std::optional<std::string> RuntimeUpdates::handle(const Request& request,
                                                  SocketServer::ClientId client) {
  Pending pending;
  pending.client = client;
  pending.command = request.command;
  pending.received = SteadyClock::now();
  pending.at = WallClock::now();
  try {
    pending.change = parse_change(request.command, request.body, settings_.port_names,
                                  settings_.max_rules, settings_.set_slots);
    pending.result = desired_.apply(pending.change, pending.at, limits());
  } catch (const ChangeError& e) {
    ++counters_.refusals;
    return error_line(request.command + " refused, nothing changed: " + e.what());
  }
  const ChangeResult& r = pending.result;
  const dataplane::Table* table = env_->tables.current();
  if (r.added.empty() && r.replaced.empty() && r.deleted.empty() && !r.reordered &&
      !r.persisted_source && !busy() && !env_->builder.busy() && table != nullptr) {
    // Nothing to build (a feeder renewing its rules' time to live, a repeated delete): in
    // effect as it is. The new expiries are the published set's at once.
    published_ = std::make_shared<const RuntimeRuleSet>(desired_);
    if (pending.change.kind == RuntimeChange::Kind::sync) ++counters_.syncs;
    return reply_line(Waiting{std::move(pending), 0, table->generation()});
  }
  queued_.push_back(std::move(pending));
  start_build();
  return std::nullopt;
}

bool RuntimeUpdates::busy() const noexcept {
  return !queued_.empty() || !building_.empty() || !waiting_.empty();
}

void RuntimeUpdates::expire(WallClock::time_point now) {
  std::vector<std::string> ids = desired_.expired(now);
  if (ids.empty()) return;
  Pending pending;
  pending.command = "expiry";
  pending.change.kind = RuntimeChange::Kind::expire;
  pending.change.ids = std::move(ids);
  pending.at = now;
  pending.received = SteadyClock::now();
  pending.result = desired_.apply(pending.change, now, limits());
  queued_.push_back(std::move(pending));
}

void RuntimeUpdates::start_build() {
  if (!env_ || env_->builder.busy()) return;
  if (one_by_one_ > 0) {
    // After a failed batch: one change at a time, on top of what is in effect, so a change
    // that cannot be built is refused alone.
    bool refused = false;
    while (one_by_one_ > 0 && !queued_.empty() && building_.empty()) {
      Pending pending = std::move(queued_.front());
      queued_.pop_front();
      --one_by_one_;
      auto set = std::make_shared<RuntimeRuleSet>(*published_);
      try {
        pending.result = set->apply(pending.change, pending.at, limits());
        building_set_ = std::move(set);
        building_.push_back(std::move(pending));
      } catch (const ChangeError& e) {
        // It relied on a change that was refused before it.
        refuse(env_->server, pending, e.what());
        refused = true;
      }
    }
    if (refused) {
      // The desired set held the refused change: derive it again from what will be in effect.
      desired_ = building_set_ && !building_.empty() ? *building_set_ : *published_;
      replay_queue(env_->server);
    }
  }
  if (building_.empty()) {
    if (queued_.empty()) return;
    for (Pending& pending : queued_)
      building_.push_back(std::move(pending));
    queued_.clear();
    building_set_ = std::make_shared<const RuntimeRuleSet>(desired_);
  }
  JobRequest request;
  request.kind = JobKind::runtime;
  request.serial = env_->next_generation();
  request.runtime_rules = building_set_;
  const bool persist =
      !settings_.state_path.empty() &&
      std::any_of(building_.begin(), building_.end(), [](const Pending& p) {
        return p.change.kind != RuntimeChange::Kind::expire && p.result.persisted_source;
      });
  if (persist) {
    // Saved before it takes effect (the control thread publishes only after this returned),
    // so a reply never promises more than a restart keeps.
    request.after_build = [set = building_set_, ports = settings_.port_names,
                           path = settings_.state_path] {
      write_file_atomically(path,
                            encode_state(saved_rules(*set, ports), unix_seconds(WallClock::now())));
    };
  }
  build_started_ = SteadyClock::now();
  env_->builder.start(std::move(request));
}

std::vector<PersistedRule> RuntimeUpdates::saved_rules(const RuntimeRuleSet& set,
                                                       const std::vector<std::string>& ports) {
  std::vector<PersistedRule> saved;
  for (const RuntimeRule* entry : set.entries()) {
    if (entry->source != kPersistedSource) continue;
    PersistedRule rule;
    rule.rule = rules::rule_to_json(entry->rule, ports);
    if (entry->expires_at) rule.expires_at = unix_seconds(*entry->expires_at);
    rule.added_at = unix_seconds(entry->added_at);
    saved.push_back(std::move(rule));
  }
  return saved;
}

bool RuntimeUpdates::finish_build(SocketServer& server) {
  auto done = env_->builder.take();
  if (!done) return false;
  CompileOutcome& outcome = done->second;
  counters_.last_build =
      std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - build_started_);
  if (!outcome.ok) {
    fail_batch(server, outcome.error);
    return false;
  }
  Publication published;
  try {
    published = env_->publish(outcome.part);
  } catch (const std::exception& e) {
    fail_batch(server, e.what());
    return false;
  }
  ++counters_.builds;
  if (building_.end() != std::find_if(building_.begin(), building_.end(),
                                      [](const Pending& p) {
                                        return p.change.kind != RuntimeChange::Kind::expire &&
                                               p.result.persisted_source;
                                      }) &&
      state_error_.rfind("cannot write ", 0) == 0) {
    state_error_.clear();  // the state file was written again
  }
  published_ = std::move(building_set_);
  for (Pending& pending : building_) {
    const ChangeResult& r = pending.result;
    counters_.adds += r.added.size();
    counters_.replaces += r.replaced.size();
    if (pending.change.kind == RuntimeChange::Kind::expire) {
      counters_.expiries += r.deleted.size();
      for (const std::string& id : r.deleted)
        gone_reason_[id] = "expired";
    } else {
      counters_.deletes += r.deleted.size();
      for (const std::string& id : r.deleted)
        gone_reason_[id] = "deleted";
    }
    if (pending.change.kind == RuntimeChange::Kind::sync) ++counters_.syncs;
    waiting_.push_back(Waiting{std::move(pending), published.token, published.generation});
  }
  building_.clear();
  return true;
}

void RuntimeUpdates::fail_batch(SocketServer& server, const std::string& error) {
  if (!settings_.state_path.empty() &&
      error.rfind("cannot write " + settings_.state_path, 0) == 0) {
    state_error_ = error;  // shown in stats until a later write succeeds
  }
  std::vector<Pending> batch = std::move(building_);
  building_.clear();
  building_set_.reset();
  if (batch.size() == 1) {
    refuse(server, batch.front(), error);
    spdlog::error("runtime rules: {} not applied: {}", batch.front().command, error);
  } else {
    spdlog::warn(
        "runtime rules: a build of {} coalesced changes failed ({}); applying them one "
        "by one",
        batch.size(), error);
    // Back in the queue, in order, ahead of what came since.
    for (auto it = batch.rbegin(); it != batch.rend(); ++it)
      queued_.push_front(std::move(*it));
    one_by_one_ = batch.size();
  }
  desired_ = *published_;
  replay_queue(server);
}

void RuntimeUpdates::replay_queue(SocketServer& server) {
  std::deque<Pending> queue = std::move(queued_);
  queued_.clear();
  std::size_t kept_in_order = 0;
  const std::size_t one_by_one = one_by_one_;
  for (std::size_t i = 0; i < queue.size(); ++i) {
    Pending& pending = queue[i];
    try {
      pending.result = desired_.apply(pending.change, pending.at, limits());
      queued_.push_back(std::move(pending));
      if (i < one_by_one) ++kept_in_order;
    } catch (const ChangeError& e) {
      if (pending.client) refuse(server, pending, e.what());
    }
  }
  one_by_one_ = kept_in_order;
}

void RuntimeUpdates::refuse(SocketServer& server, const Pending& pending,
                            const std::string& error) {
  ++counters_.refusals;
  if (pending.client) {
    server.complete(*pending.client,
                    error_line(pending.command + " refused, nothing changed: " + error));
  }
}

void RuntimeUpdates::reply(SocketServer& server, const Waiting& waiting) {
  if (!waiting.pending.client) return;  // an expiry: counted, logged when its counts are final
  server.complete(*waiting.pending.client, reply_line(waiting));
}

std::string RuntimeUpdates::reply_line(const Waiting& waiting) {
  const Pending& pending = waiting.pending;
  const auto latency =
      std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - pending.received);
  counters_.last_apply = latency;
  const ChangeResult& r = pending.result;
  json out;
  if (pending.change.kind == RuntimeChange::Kind::del) {
    out = {{"deleted", r.deleted}, {"missing", r.missing}};
  } else {
    out = {{"added", r.added}, {"replaced", r.replaced}};
    if (pending.change.kind == RuntimeChange::Kind::sync) {
      out["source"] = pending.change.source;
      out["deleted"] = r.deleted;
      out["unchanged"] = r.unchanged;
    }
    out["expires_at"] = optional_time(r.expires_at);
    out["expires_at_unix"] = optional_unix(r.expires_at);
  }
  out["generation"] = waiting.generation;
  out["apply_ms"] = milliseconds(latency);
  if (!r.added.empty() || !r.replaced.empty() || !r.deleted.empty()) {
    const std::string who = pending.change.kind == RuntimeChange::Kind::del
                                ? pending.command
                                : pending.command + " (" + pending.change.source + ")";
    spdlog::info(
        "runtime rules: {}: added {} [{}], replaced {} [{}], deleted {} [{}]; in "
        "effect after {:.1f} ms",
        who, r.added.size(), id_list(r.added), r.replaced.size(), id_list(r.replaced),
        r.deleted.size(), id_list(r.deleted), milliseconds(latency));
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

void RuntimeUpdates::poll(SocketServer& server) {
  if (!env_) return;
  const auto steady_now = SteadyClock::now();
  flush_gone(steady_now);
  if (steady_now >= next_expiry_check_) {
    next_expiry_check_ = steady_now + kExpiryScan;
    expire(WallClock::now());
  }
  const bool published = env_->builder.busy() && finish_build(server);
  start_build();
  if (published && !waiting_.empty()) {
    // Workers pass a quiescent point every loop pass (microseconds): wait briefly for them
    // here rather than a whole poll period, so a reply follows its swap closely.
    const auto until = SteadyClock::now() + kQuiescenceSpin;
    while (!env_->tables.quiescent_since(waiting_.back().token) && SteadyClock::now() < until) {
      std::this_thread::yield();
    }
  }
  std::erase_if(waiting_, [&](const Waiting& waiting) {
    if (!env_->tables.quiescent_since(waiting.token)) return false;
    reply(server, waiting);
    return true;
  });
}

void RuntimeUpdates::abandon(SocketServer& server, const std::string& line) {
  for (const Pending& pending : queued_) {
    if (pending.client) server.complete(*pending.client, line);
  }
  for (const Pending& pending : building_) {
    if (pending.client) server.complete(*pending.client, line);
  }
  for (const Waiting& waiting : waiting_) {
    // Published already: these are in effect, so say so.
    reply(server, waiting);
  }
  queued_.clear();
  building_.clear();
  waiting_.clear();
}

void RuntimeUpdates::on_gone(const std::string& id, uint64_t packets, uint64_t bytes) {
  const auto it = gone_reason_.find(id);
  if (it == gone_reason_.end()) return;
  // One line per rule, but not thousands at once (deleting a large set): past kGoneLines a
  // second, one summary line per second.
  const auto now = SteadyClock::now();
  flush_gone(now);
  if (gone_logged_ < kGoneLines) {
    ++gone_logged_;
    spdlog::info("runtime rule {} {}: final count {} packets, {} bytes", id, it->second, packets,
                 bytes);
  } else {
    ++gone_quiet_.rules;
    gone_quiet_.packets += packets;
    gone_quiet_.bytes += bytes;
  }
  gone_reason_.erase(it);
}

void RuntimeUpdates::flush_gone(std::chrono::steady_clock::time_point now) {
  if (now < gone_window_end_) return;
  if (gone_quiet_.rules != 0) {
    spdlog::info(
        "runtime rules: {} more rule(s) deleted or expired: final count {} packets, {} "
        "bytes together",
        gone_quiet_.rules, gone_quiet_.packets, gone_quiet_.bytes);
  }
  gone_quiet_ = {};
  gone_logged_ = 0;
  gone_window_end_ = now == SteadyClock::time_point::max() ? now : now + std::chrono::seconds(1);
}

nlohmann::json RuntimeUpdates::stats_json() const {
  json by_source = json::object();
  for (const auto& [source, count] : published_->count_by_source())
    by_source[source] = count;
  json out = {{"rules", published_->size()},
              {"by_source", std::move(by_source)},
              {"pending", queued_.size() + building_.size()},
              {"max_rules", settings_.max_rules},
              {"adds", counters_.adds},
              {"replaces", counters_.replaces},
              {"deletes", counters_.deletes},
              {"expiries", counters_.expiries},
              {"syncs", counters_.syncs},
              {"refusals", counters_.refusals},
              {"builds", counters_.builds},
              {"last_apply_ms", milliseconds(counters_.last_apply)},
              {"last_build_ms", milliseconds(counters_.last_build)},
              {"state_file", settings_.state_path},
              {"state_error", state_error_.empty() ? json(nullptr) : json(state_error_)},
              {"state_moved_to", state_note_.empty() ? json(nullptr) : json(state_note_)}};
  return out;
}

}  // namespace udpsieve::control
