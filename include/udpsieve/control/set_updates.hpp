#pragma once
/// Runtime changes to the prefix sets: the socket commands set-add, set-del, set-list and
/// set-flush, expiry of entries added with a time to live, and their persistence.
///
/// The sets' model (SetModel, the authority) lives in the configuration in effect; the lookup
/// tables follow it. A change updates the model, saves the runtime entries (before the change
/// takes effect, so a reply never promises more than a restart keeps), then applies the
/// model's change list to the tables, which the workers see at once (SetTables switches copies
/// atomically). When the tables are full, new ones are built from the model and published.
///
/// Entries added at runtime persist across restarts and reloads; a reload re-reads the set
/// files and adds the runtime entries again. `set-del` and `set-flush` also take out prefixes
/// that came from a file, until the next reload reads that file again.

#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "udpsieve/common/protocol.hpp"
#include "udpsieve/control/request.hpp"
#include "udpsieve/control/runtime_rules.hpp"
#include "udpsieve/control/socket_server.hpp"
#include "udpsieve/rules/prefix_set.hpp"

struct rte_rcu_qsbr;

namespace udpsieve::dataplane {
class SetTables;
}

namespace udpsieve::control {

/// Most prefixes one set-add or set-del request may carry.
inline constexpr std::size_t kMaxSetRequestPrefixes = 100'000;
/// Most runtime set entries held at once (all sets together).
inline constexpr std::size_t kMaxRuntimeSetEntries = 1'000'000;
/// Prefixes one set-list reply holds at most, and by default.
using protocol::kMaxSetListPage;
inline constexpr std::size_t kDefaultSetListPage = 1000;

class SetUpdates {
 public:
  /// What the updates work on; set by the control loop, refreshed after each reload.
  struct Env {
    /// The model of the configuration in effect (null: no sets configured).
    std::shared_ptr<rules::SetModel> model;
    std::vector<std::string> slots;  ///< the set in each slot
    /// The tables the workers read now (null: no sets configured).
    std::function<dataplane::SetTables*()> tables;
    rte_rcu_qsbr* qsbr = nullptr;
    /// Builds new tables from the model and publishes them (the current ones are full).
    /// Throws std::runtime_error when that fails.
    std::function<void()> rebuild;
    /// Per slot, the workers' hit count when its set took the slot (hits are counted per
    /// slot; a set reports the hits since then).
    std::array<uint64_t, rules::kMaxSets> hit_base{};
  };

  /// `state_path`: where runtime entries are saved (empty: nowhere).
  explicit SetUpdates(std::string state_path);

  /// Start-up, before the first table is built: reads the saved entries and adds those that are
  /// not expired and name a configured set to `model` (`slots` as in the configuration).
  /// Returns warnings (entries dropped and why). Throws std::runtime_error when the state file
  /// exists but cannot be read.
  std::vector<std::string> restore(rules::SetModel& model, const std::vector<std::string>& slots,
                                   WallClock::time_point now);
  /// After a reload built a new model from the set files: adds the runtime entries whose set
  /// still exists to it, and returns the routes that changed (for the unpublished tables).
  std::vector<rules::SetRoute> reapply(rules::SetModel& model,
                                       const std::vector<std::string>& slots);
  /// What a reload's set file changes did to the sets, for undo_file_changes.
  struct FileChangeUndo {
    std::vector<std::pair<unsigned, rules::Prefix>> unlisted;  ///< (slot, prefix) a file dropped
    /// (slot, prefix, whether the set held it before) of each prefix a file lists now
    std::vector<std::tuple<unsigned, rules::Prefix, bool>> listed;
  };
  /// A reload that keeps the running sets applies their files' changes to the model and the
  /// tables, as set-del / set-add requests would take effect: a prefix a file no longer lists
  /// leaves its set unless a runtime entry holds it, one it lists now joins it. Throws
  /// std::runtime_error when the tables cannot take the change (the model then as it was).
  FileChangeUndo apply_file_changes(const std::vector<rules::SetFileChange>& changes);
  /// Takes back what apply_file_changes did (a reload refused after it). Never throws.
  void undo_file_changes(const FileChangeUndo& undo);
  /// Works on `env` from now on; drops (and saves) the entries of sets it no longer has.
  void attach(Env env);

  /// Answers set-add, set-del, set-flush (admin) and set-list (read). Never throws. A change
  /// that must wait for the workers to leave the tables' standby copies (a worker that has
  /// not passed a quiescent state since the last change) is queued: nullopt, and tick()
  /// completes it for `client` later; changes take effect in the order they came.
  [[nodiscard]] std::optional<std::string> handle(const Request& request,
                                                  SocketServer::ClientId client,
                                                  WallClock::time_point now);
  /// Applies queued changes and expiries once the tables are ready, replying through `server`.
  void tick(WallClock::time_point now, SocketServer& server);
  /// At shutdown: refuses the queued changes (nothing of them took effect).
  void abandon(SocketServer& server, const std::string& why);
  /// The earliest expiry, if any entry has one.
  [[nodiscard]] std::optional<WallClock::time_point> next_expiry() const;

  /// Runtime entries of the set `name`.
  [[nodiscard]] std::size_t runtime_entries(const std::string& name) const;
  [[nodiscard]] std::size_t runtime_entries() const noexcept { return entries_.size(); }
  /// Changes applied since start (set-add, set-del, set-flush, expiries), for metrics.
  [[nodiscard]] uint64_t changes() const noexcept { return changes_; }
  [[nodiscard]] const Env& env() const noexcept { return env_; }
  /// Whether the tables miss changes the model has (they were full and could not be rebuilt):
  /// the next reload must build them.
  [[nodiscard]] bool tables_behind() const noexcept { return tables_behind_; }

 private:
  struct Entry {
    std::optional<WallClock::time_point> expires_at;
    WallClock::time_point added_at{};
  };
  /// (set name, prefix) of a runtime entry.
  using Key = std::pair<std::string, std::string>;

  /// Answers one request now (the tables are ready for a change).
  std::string answer(const Request& request, WallClock::time_point now);
  /// Whether a change may be applied now.
  bool ready();
  nlohmann::json add(const nlohmann::json& body, WallClock::time_point now);
  nlohmann::json del(const nlohmann::json& body);
  nlohmann::json flush(const nlohmann::json& body);
  nlohmann::json list(const nlohmann::json& body) const;
  /// The slot of the set named by body["set"]; throws ChangeError.
  unsigned slot_of(const nlohmann::json& body) const;
  /// Saves the entries (throws std::runtime_error), then applies `changes` to the tables.
  void commit(const std::vector<rules::SetRoute>& changes);
  /// Applies the model's `changes` to the tables, building new ones from the model when they
  /// are full; throws what that build throws (tables_behind() then).
  void apply_to_tables(const std::vector<rules::SetRoute>& changes);
  /// The model's changes undoing `undo` (see undo_file_changes).
  std::vector<rules::SetRoute> revert_model(const FileChangeUndo& undo);
  void save() const;
  void forget(const Key& key);
  /// {"set", "prefixes_v4", "prefixes_v6", "runtime_entries"} of the set in `slot`.
  [[nodiscard]] nlohmann::json holdings(unsigned slot) const;
  /// Saves the entries; when that fails, puts them back as `before` says and rethrows.
  void save_or_put_back(const std::vector<std::pair<Key, std::optional<Entry>>>& before);
  /// Puts the entries back as `before` says they were (nullopt: absent), after a failed save.
  void put_back(const std::vector<std::pair<Key, std::optional<Entry>>>& before);

  std::string state_path_;
  Env env_;
  std::map<Key, Entry> entries_;
  std::set<std::pair<WallClock::time_point, Key>> expiries_;
  std::deque<std::pair<Request, SocketServer::ClientId>> waiting_;
  uint64_t changes_ = 0;
  bool tables_behind_ = false;
};

}  // namespace udpsieve::control
