#include "udpsieve/control/set_updates.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "udpsieve/control/state_file.hpp"
#include "udpsieve/dataplane/set_tables.hpp"

namespace udpsieve::control {
namespace {

using nlohmann::json;

/// body["prefixes"]: 1..kMaxSetRequestPrefixes prefixes, each parsed as in a set file.
std::vector<rules::Prefix> parse_prefixes(const json& body) {
  const auto it = body.find("prefixes");
  if (it == body.end() || !it->is_array() || it->empty()) {
    refuse(
        "prefixes: expected a non-empty list of prefixes like [\"192.0.2.0/24\", \"2001:db8::1\"]");
  }
  if (it->size() > kMaxSetRequestPrefixes) {
    refuse("prefixes: " + std::to_string(it->size()) + " in one request, more than " +
           std::to_string(kMaxSetRequestPrefixes) + "; split it, or list them in the set's file");
  }
  std::vector<rules::Prefix> out;
  out.reserve(it->size());
  std::string error;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    const std::string where = "prefixes[" + std::to_string(i) + "]: ";
    if (!item.is_string()) refuse(where + "expected a prefix as a string");
    std::optional<rules::Prefix> prefix = rules::parse_set_prefix(item.get<std::string>(), error);
    if (!prefix) refuse(where + error);
    out.push_back(*prefix);
  }
  return out;
}

std::size_t read_limit(const json& body) {
  const auto it = body.find("limit");
  if (it == body.end() || it->is_null()) return kDefaultSetListPage;
  if (!it->is_number_unsigned() || it->get<uint64_t>() == 0 ||
      it->get<uint64_t>() > kMaxSetListPage) {
    refuse("limit: expected a number from 1 to " + std::to_string(kMaxSetListPage));
  }
  return static_cast<std::size_t>(it->get<uint64_t>());
}

}  // namespace

SetUpdates::SetUpdates(std::string state_path) : state_path_(std::move(state_path)) {}

std::vector<std::string> SetUpdates::restore(rules::SetModel& model,
                                             const std::vector<std::string>& slots,
                                             WallClock::time_point now) {
  std::vector<std::string> warnings;
  if (state_path_.empty()) return warnings;
  const SetStateLoad load = load_set_state(state_path_, unix_seconds(now));
  if (load.status == StateLoad::Status::corrupt) {
    warnings.push_back("the set state file " + state_path_ + " does not decode (" + load.error +
                       "); moved to " + load.moved_to +
                       "; starting without the runtime set entries it held");
    return warnings;
  }
  std::size_t expired = 0;
  std::vector<rules::SetRoute> ignored;
  std::string error;
  for (const PersistedSetEntry& saved : load.entries) {
    const auto slot = std::find(slots.begin(), slots.end(), saved.set);
    std::optional<rules::Prefix> prefix = rules::parse_set_prefix(saved.prefix, error);
    if (slot == slots.end() || saved.set.empty()) {
      warnings.push_back("runtime set entry " + saved.set + " " + saved.prefix +
                         " dropped: the set is no longer configured");
      continue;
    }
    if (!prefix) {
      warnings.push_back("runtime set entry " + saved.set + " " + saved.prefix +
                         " dropped: not a prefix a set may hold");
      continue;
    }
    Entry entry;
    entry.added_at = WallClock::time_point(std::chrono::seconds(saved.added_at));
    if (saved.expires_at) {
      entry.expires_at = WallClock::time_point(std::chrono::seconds(*saved.expires_at));
      if (*entry.expires_at <= now) {
        ++expired;
        continue;
      }
    }
    (void)model.add(*prefix, static_cast<unsigned>(slot - slots.begin()), ignored);
    const Key key{saved.set, prefix->to_string()};
    if (entry.expires_at) expiries_.emplace(*entry.expires_at, key);
    entries_[key] = entry;
  }
  if (expired != 0) {
    warnings.push_back(std::to_string(expired) +
                       " saved runtime set entries expired while udpsieved was not running");
  }
  return warnings;
}

std::vector<rules::SetRoute> SetUpdates::reapply(rules::SetModel& model,
                                                 const std::vector<std::string>& slots) {
  std::vector<rules::SetRoute> changes;
  std::string error;
  for (const auto& [key, entry] : entries_) {
    const auto slot = std::find(slots.begin(), slots.end(), key.first);
    if (slot == slots.end()) continue;  // dropped by attach() once the reload is in effect
    const std::optional<rules::Prefix> prefix = rules::Prefix::parse(key.second, error);
    if (prefix) (void)model.add(*prefix, static_cast<unsigned>(slot - slots.begin()), changes);
  }
  return changes;
}

void SetUpdates::attach(Env env) {
  env_ = std::move(env);
  tables_behind_ = false;  // a reload kept only tables in step with the model, or built them
  std::vector<Key> gone;
  for (const auto& [key, entry] : entries_) {
    if (std::find(env_.slots.begin(), env_.slots.end(), key.first) == env_.slots.end()) {
      gone.push_back(key);
    }
  }
  if (gone.empty()) return;
  for (const Key& key : gone) {
    spdlog::warn("runtime set entry {} {} dropped: the set is no longer configured", key.first,
                 key.second);
    forget(key);
  }
  try {
    save();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
  }
}

std::optional<std::string> SetUpdates::handle(const Request& request, SocketServer::ClientId client,
                                              WallClock::time_point now) {
  if (request.command != "set-list" && env_.model != nullptr && (!waiting_.empty() || !ready())) {
    waiting_.emplace_back(request, client);
    return std::nullopt;
  }
  return answer(request, now);
}

bool SetUpdates::ready() {
  dataplane::SetTables* tables = env_.tables ? env_.tables() : nullptr;
  return tables == nullptr || env_.qsbr == nullptr || tables->ready(env_.qsbr, *env_.model);
}

std::string SetUpdates::answer(const Request& request, WallClock::time_point now) {
  json reply;
  try {
    if (!request.body.is_object()) refuse("a request is a JSON object");
    if (env_.model == nullptr) {
      refuse("no prefix sets are configured (declare them under `sets` in the configuration)");
    }
    if (request.command == "set-add") {
      reply = add(request.body, now);
    } else if (request.command == "set-del") {
      reply = del(request.body);
    } else if (request.command == "set-flush") {
      reply = flush(request.body);
    } else {
      reply = list(request.body);
    }
  } catch (const std::exception& e) {
    return error_line(e.what());
  }
  return reply.dump(-1, ' ', false, json::error_handler_t::replace);
}

void SetUpdates::abandon(SocketServer& server, const std::string& why) {
  for (const auto& [request, client] : waiting_)
    server.complete(client, error_line(why));
  waiting_.clear();
}

unsigned SetUpdates::slot_of(const json& body) const {
  const auto it = body.find("set");
  if (it == body.end() || !it->is_string()) refuse("set: expected the name of a set");
  const std::string& name = it->get_ref<const std::string&>();
  const auto slot = std::find(env_.slots.begin(), env_.slots.end(), name);
  if (name.empty() || slot == env_.slots.end()) {
    refuse("set: unknown set \"" + name + "\" (sets are: " + rules::set_names_text(env_.slots) +
           ")");
  }
  return static_cast<unsigned>(slot - env_.slots.begin());
}

json SetUpdates::add(const json& body, WallClock::time_point now) {
  const unsigned slot = slot_of(body);
  const std::string& name = env_.slots[slot];
  const std::vector<rules::Prefix> prefixes = parse_prefixes(body);
  const std::optional<std::chrono::seconds> ttl = parse_ttl(body);
  std::size_t fresh = 0;
  for (const rules::Prefix& prefix : prefixes)
    fresh += entries_.count(Key{name, prefix.to_string()}) == 0 ? 1U : 0U;
  if (entries_.size() + fresh > kMaxRuntimeSetEntries) {
    refuse("prefixes: the sets would hold " + std::to_string(entries_.size() + fresh) +
           " runtime entries, more than " + std::to_string(kMaxRuntimeSetEntries) +
           "; list large feeds in a set file and reload");
  }
  // The entries first, saved, so nothing takes effect that a restart would lose; restored if
  // the save fails.
  std::vector<std::pair<Key, std::optional<Entry>>> before;
  for (const rules::Prefix& prefix : prefixes) {
    Key key{name, prefix.to_string()};
    const auto it = entries_.find(key);
    if (it != entries_.end() && it->second.expires_at) {
      expiries_.erase({*it->second.expires_at, key});
    }
    before.emplace_back(key, it == entries_.end() ? std::nullopt : std::optional(it->second));
    Entry entry;
    entry.added_at = it == entries_.end() ? now : it->second.added_at;
    if (ttl) {
      entry.expires_at = now + *ttl;
      expiries_.emplace(*entry.expires_at, key);
    }
    entries_[key] = entry;
  }
  save_or_put_back(before);
  std::vector<rules::SetRoute> changes;
  std::size_t added = 0;
  for (const rules::Prefix& prefix : prefixes)
    added += env_.model->add(prefix, slot, changes) ? 1U : 0U;
  commit(changes);
  json reply = holdings(slot);
  reply["added"] = added;
  reply["already_present"] = prefixes.size() - added;
  return reply;
}

json SetUpdates::del(const json& body) {
  const unsigned slot = slot_of(body);
  const std::string& name = env_.slots[slot];
  const std::vector<rules::Prefix> prefixes = parse_prefixes(body);
  const bool missing_ok = optional_bool(body, "missing_ok");
  for (std::size_t i = 0; i < prefixes.size() && !missing_ok; ++i) {
    if (!env_.model->holds(prefixes[i], slot)) {
      refuse("prefixes[" + std::to_string(i) + "]: " + prefixes[i].to_string() +
             " is not in the set " + name + " (missing_ok: true to ignore)");
    }
  }
  std::vector<std::pair<Key, std::optional<Entry>>> before;
  for (const rules::Prefix& prefix : prefixes) {
    const Key key{name, prefix.to_string()};
    const auto it = entries_.find(key);
    if (it == entries_.end()) continue;
    before.emplace_back(key, it->second);
    forget(key);
  }
  save_or_put_back(before);
  std::vector<rules::SetRoute> changes;
  std::size_t removed = 0;
  for (const rules::Prefix& prefix : prefixes)
    removed += env_.model->remove(prefix, slot, changes) ? 1U : 0U;
  commit(changes);
  json reply = holdings(slot);
  reply["removed"] = removed;
  reply["missing"] = prefixes.size() - removed;
  return reply;
}

json SetUpdates::flush(const json& body) {
  const unsigned slot = slot_of(body);
  const std::string& name = env_.slots[slot];
  std::vector<std::pair<Key, std::optional<Entry>>> before;
  for (auto it = entries_.lower_bound(Key{name, ""});
       it != entries_.end() && it->first.first == name; ++it) {
    before.emplace_back(it->first, it->second);
  }
  for (const auto& [key, entry] : before)
    forget(key);
  save_or_put_back(before);
  std::vector<rules::SetRoute> changes;
  const std::size_t removed = env_.model->flush(slot, changes);
  commit(changes);
  return {{"set", name}, {"removed", removed}};
}

json SetUpdates::list(const json& body) const {
  const unsigned slot = slot_of(body);
  const std::string& name = env_.slots[slot];
  const std::size_t limit = read_limit(body);
  const std::vector<rules::Prefix> prefixes = env_.model->list(slot, limit);
  json out = json::array();
  for (const rules::Prefix& prefix : prefixes) {
    json row = {{"prefix", prefix.to_string()}, {"file", env_.model->in_file(prefix, slot)}};
    const auto it = entries_.find(Key{name, prefix.to_string()});
    row["runtime"] = it != entries_.end();
    row["expires_at"] = it != entries_.end() && it->second.expires_at
                            ? json(utc_text(*it->second.expires_at))
                            : json(nullptr);
    out.push_back(std::move(row));
  }
  const std::size_t total =
      env_.model->count(slot, rules::Family::ipv4) + env_.model->count(slot, rules::Family::ipv6);
  json reply = holdings(slot);
  reply["prefixes"] = std::move(out);
  reply["truncated"] = total > prefixes.size();
  return reply;
}

void SetUpdates::commit(const std::vector<rules::SetRoute>& changes) {
  ++changes_;
  try {
    apply_to_tables(changes);
  } catch (const std::exception& e) {
    throw std::runtime_error(
        std::string("the change is saved, but the prefix set tables could not be rebuilt to "
                    "take it (") +
        e.what() +
        "); the workers keep the sets as they were until a later change or a reload "
        "builds them");
  }
}

void SetUpdates::apply_to_tables(const std::vector<rules::SetRoute>& changes) {
  if (changes.empty()) return;
  dataplane::SetTables* tables = env_.tables ? env_.tables() : nullptr;
  if (tables != nullptr && tables->apply(changes, *env_.model, env_.qsbr)) return;
  // Full (or no tables yet): new tables from the model, published like a runtime change.
  spdlog::info("prefix set tables are full: building larger ones");
  try {
    env_.rebuild();
    tables_behind_ = false;
  } catch (...) {
    tables_behind_ = true;
    throw;
  }
}

SetUpdates::FileChangeUndo SetUpdates::apply_file_changes(
    const std::vector<rules::SetFileChange>& file_changes) {
  FileChangeUndo undo;
  std::vector<rules::SetRoute> changes;
  for (const rules::SetFileChange& change : file_changes) {
    const std::string& name = env_.slots[change.slot];
    for (const rules::Prefix& prefix : change.removed) {
      const bool runtime = entries_.count(Key{name, prefix.to_string()}) != 0;
      env_.model->unlist_from_file(prefix, change.slot, runtime, changes);
      undo.unlisted.emplace_back(change.slot, prefix);
    }
    for (const rules::Prefix& prefix : change.added) {
      const bool fresh = env_.model->list_from_file(prefix, change.slot, changes);
      undo.listed.emplace_back(change.slot, prefix, !fresh);
    }
  }
  try {
    apply_to_tables(changes);  // not a runtime change: changes_ counts those
  } catch (const std::exception& e) {
    // The tables did not take it (the workers still see the sets as they were): nor does the
    // model. The tables are built afresh by the next change or reload (tables_behind()).
    (void)revert_model(undo);
    throw std::runtime_error(
        std::string("the prefix set tables could not take the set files' changes: ") + e.what());
  }
  return undo;
}

std::vector<rules::SetRoute> SetUpdates::revert_model(const FileChangeUndo& undo) {
  std::vector<rules::SetRoute> changes;
  for (auto it = undo.listed.rbegin(); it != undo.listed.rend(); ++it) {
    const auto& [slot, prefix, held] = *it;
    env_.model->unlist_from_file(prefix, slot, held, changes);
  }
  for (auto it = undo.unlisted.rbegin(); it != undo.unlisted.rend(); ++it)
    (void)env_.model->list_from_file(it->second, it->first, changes);
  return changes;
}

void SetUpdates::undo_file_changes(const FileChangeUndo& undo) {
  const std::vector<rules::SetRoute> changes = revert_model(undo);
  try {
    apply_to_tables(changes);
  } catch (const std::exception& e) {
    spdlog::error(
        "taking back the set files' changes: the prefix set tables could not be "
        "rebuilt ({}); the workers keep the changed sets until a later change or a "
        "reload builds them",
        e.what());
  }
}

void SetUpdates::save() const {
  if (state_path_.empty()) return;
  std::vector<PersistedSetEntry> saved;
  saved.reserve(entries_.size());
  for (const auto& [key, entry] : entries_) {
    saved.push_back(PersistedSetEntry{
        key.first, key.second,
        entry.expires_at ? std::optional(unix_seconds(*entry.expires_at)) : std::nullopt,
        unix_seconds(entry.added_at)});
  }
  write_file_atomically(state_path_, encode_set_state(saved, unix_seconds(WallClock::now())));
}

json SetUpdates::holdings(unsigned slot) const {
  const std::string& name = env_.slots[slot];
  return {{"set", name},
          {"prefixes_v4", env_.model->count(slot, rules::Family::ipv4)},
          {"prefixes_v6", env_.model->count(slot, rules::Family::ipv6)},
          {"runtime_entries", runtime_entries(name)}};
}

void SetUpdates::save_or_put_back(const std::vector<std::pair<Key, std::optional<Entry>>>& before) {
  try {
    save();
  } catch (...) {
    put_back(before);
    throw;
  }
}

void SetUpdates::put_back(const std::vector<std::pair<Key, std::optional<Entry>>>& before) {
  // Newest first: a key given twice ends as it was before the first change.
  for (auto it = before.rbegin(); it != before.rend(); ++it) {
    forget(it->first);
    if (!it->second) continue;
    entries_[it->first] = *it->second;
    if (it->second->expires_at) expiries_.emplace(*it->second->expires_at, it->first);
  }
}

void SetUpdates::forget(const Key& key) {
  const auto it = entries_.find(key);
  if (it == entries_.end()) return;
  if (it->second.expires_at) expiries_.erase({*it->second.expires_at, key});
  entries_.erase(it);
}

void SetUpdates::tick(WallClock::time_point now, SocketServer& server) {
  while (!waiting_.empty() && ready()) {
    const auto [request, client] = std::move(waiting_.front());
    waiting_.pop_front();
    server.complete(client, answer(request, now));
  }
  if (env_.model != nullptr && waiting_.empty() && !expiries_.empty() &&
      expiries_.begin()->first <= now && ready()) {
    std::vector<Key> expired;
    for (auto it = expiries_.begin(); it != expiries_.end() && it->first <= now; ++it)
      expired.push_back(it->second);
    for (const Key& key : expired)
      forget(key);
    try {
      save();
    } catch (const std::exception& e) {
      // The entries are due: taking them out is right even if the file keeps them a little
      // longer (a restart drops them as expired anyway).
      spdlog::error("{}", e.what());
    }
    std::vector<rules::SetRoute> changes;
    std::string error;
    for (const Key& key : expired) {
      const auto slot = std::find(env_.slots.begin(), env_.slots.end(), key.first);
      const std::optional<rules::Prefix> prefix = rules::Prefix::parse(key.second, error);
      if (slot == env_.slots.end() || !prefix) continue;
      const auto index = static_cast<unsigned>(slot - env_.slots.begin());
      // A prefix its file lists stays: only the runtime entry expired.
      if (!env_.model->in_file(*prefix, index)) (void)env_.model->remove(*prefix, index, changes);
    }
    spdlog::info("{} runtime set entr{} expired", expired.size(),
                 expired.size() == 1 ? "y" : "ies");
    try {
      commit(changes);
    } catch (const std::exception& e) {
      spdlog::error("applying expired set entries: {}", e.what());
    }
  }
  (void)ready();  // catches the standby copies up as soon as the workers allow
}

std::optional<WallClock::time_point> SetUpdates::next_expiry() const {
  if (expiries_.empty()) return std::nullopt;
  return expiries_.begin()->first;
}

std::size_t SetUpdates::runtime_entries(const std::string& name) const {
  std::size_t count = 0;
  for (auto it = entries_.lower_bound(Key{name, ""});
       it != entries_.end() && it->first.first == name; ++it) {
    ++count;
  }
  return count;
}

}  // namespace udpsieve::control
