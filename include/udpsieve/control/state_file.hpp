#pragma once
/// The runtime-rule state file: rules added over the control socket with source `api`, written
/// atomically before the daemon replies to a change and read back at start, so they survive a
/// restart, a SIGKILL or a power loss (either the old state or the new one, never a torn file).
/// DPDK-free; the caller validates the rule objects and drops expired entries.
///
/// Document (one entry per line so a human can read and diff it):
///
///     {
///       "format": "udpsieve-dynamic-state",
///       "version": 1,
///       "written_at": 1700000000,
///       "rules": [
///         {"rule": {"action":"drop","id":"x","match":{...}}, "expires_at": null, "added_at": 1},
///         {"rule": {...}, "expires_at": 1700003600, "added_at": 1700000000}
///       ]
///     }

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace udpsieve::control {

/// The value of "format" in a state document.
inline constexpr std::string_view kStateFormat = "udpsieve-dynamic-state";
/// The newest "version" this build writes and reads.
inline constexpr int64_t kStateVersion = 1;

/// Writes `contents` to `path` so that a crash or power loss at any moment leaves the old file or
/// the new one: path + ".tmp" in the same directory, write all, fsync, rename over `path`, fsync
/// the directory. Creates missing parent directories (mode 0750); the file gets mode 0640. One
/// writer per path at a time (the temporary name is fixed). Throws std::runtime_error("cannot
/// write PATH: STEP: REASON"); before the rename the old file is untouched and the temporary
/// removed; a failure of the final directory fsync means the new file is in place but perhaps
/// not yet durable.
void write_file_atomically(const std::string& path, std::string_view contents);

/// One persisted runtime rule.
struct PersistedRule {
  nlohmann::json rule;                ///< the rule in the rule-file schema {id, match, action}
  std::optional<int64_t> expires_at;  ///< unix seconds; nullopt = permanent
  int64_t added_at = 0;               ///< unix seconds

  friend bool operator==(const PersistedRule&, const PersistedRule&) = default;
};

/// The state document for `rules`, stamped `written_at: now`. Throws std::runtime_error for what
/// could not be read back: a rule that is not a JSON object, or holds invalid UTF-8.
[[nodiscard]] std::string encode_state(const std::vector<PersistedRule>& rules, int64_t now);

/// Parses a state document; throws std::runtime_error with the reason ("not JSON: ...",
/// "rules[3].expires_at: expected a number or null", "version 2 is newer than ..."). The rule
/// objects themselves are only checked to be objects; the caller validates them.
[[nodiscard]] std::vector<PersistedRule> decode_state(std::string_view text);

/// What load_state found.
struct StateLoad {
  enum class Status : uint8_t {
    absent,   ///< no state file: first start, or no api rule was ever added
    loaded,   ///< rules holds the decoded entries
    corrupt,  ///< the file did not decode and was moved aside; rules is empty
  };
  Status status = Status::absent;
  std::vector<PersistedRule> rules;
  std::string error;                  ///< corrupt: why the file did not decode
  std::string moved_to;               ///< corrupt: where the file now is
  bool removed_leftover_tmp = false;  ///< a PATH.tmp from an interrupted write was deleted
};

/// Reads the state file at start-up, before the first write to `path`. A missing file is
/// Status::absent. A file that does not decode (a newer version included) is renamed to
/// PATH.corrupt-YYYYMMDDTHHMMSSZ (UTC of `now`; -1, -2, ... appended if taken) and reported as
/// Status::corrupt. A leftover PATH.tmp is deleted (it never held a state anyone was told
/// about). Throws std::runtime_error if the file exists but cannot be read (not
/// a regular file, EACCES, ...) or a corrupt file cannot be moved aside: starting without the
/// persisted rules, or later overwriting the evidence, must not happen silently.
[[nodiscard]] StateLoad load_state(const std::string& path, int64_t now);

// --- runtime set entries ------------------------------------------------------------------------
// Prefixes added to sets over the socket (`set-add`) live in a file of their own beside the
// runtime rules' (set_state_path), same envelope and guarantees:
//
//     {"format": "udpsieve-set-state", "version": 1, "written_at": 1700000000, "entries": [
//         {"set": "blocked", "prefix": "192.0.2.0/24", "expires_at": null, "added_at": 1}]}

inline constexpr std::string_view kSetStateFormat = "udpsieve-set-state";

/// One persisted runtime set entry.
struct PersistedSetEntry {
  std::string set;
  std::string prefix;                 ///< as Prefix::to_string writes it
  std::optional<int64_t> expires_at;  ///< unix seconds; nullopt = permanent
  int64_t added_at = 0;
  friend bool operator==(const PersistedSetEntry&, const PersistedSetEntry&) = default;
};

[[nodiscard]] std::string encode_set_state(const std::vector<PersistedSetEntry>& entries,
                                           int64_t now);
/// Parses a set state document (the entries' strings are not checked further).
[[nodiscard]] std::vector<PersistedSetEntry> decode_set_state(std::string_view text);

/// load_state for the set entries.
struct SetStateLoad {
  StateLoad::Status status = StateLoad::Status::absent;
  std::vector<PersistedSetEntry> entries;
  std::string error;
  std::string moved_to;
  bool removed_leftover_tmp = false;
};
[[nodiscard]] SetStateLoad load_set_state(const std::string& path, int64_t now);

/// Where the set entries of a daemon whose runtime rules are kept at `rules_path` are kept:
/// "dynamic.json" -> "dynamic.sets.json", any other name gets ".sets" appended.
[[nodiscard]] std::string set_state_path(const std::string& rules_path);

}  // namespace udpsieve::control
