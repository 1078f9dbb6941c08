#pragma once
/// Runtime rules: the rules programs add and remove over the control socket, with their source
/// label, expiry and first-match order, and the changes that act on them (DPDK-free, so the
/// request parsing and every refusal are unit-tested and fuzzed without EAL).
///
/// A change (rule-add, rule-del, rule-sync, an expiry) is applied all or nothing: it either
/// leaves the set exactly as before and throws ChangeError naming the field
/// (`rules[2].match.src[0]: ...`), or it is applied whole. Among themselves runtime rules keep
/// the order they were first added in; a replaced rule keeps its place; a rule-sync puts its
/// source's rules in the order of the request, in the places that source's rules held (new
/// places after every runtime rule for the extra ones).

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "udpsieve/rules/rule.hpp"
#include "udpsieve/rules/rule_set.hpp"

namespace udpsieve::control {

using WallClock = std::chrono::system_clock;

/// A runtime change refused: what() is one line naming the field.
class ChangeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The source whose rules survive a restart (the state file); other sources re-sync.
inline constexpr std::string_view kPersistedSource = "api";
/// Longest time to live a change may give.
inline constexpr std::chrono::seconds kMaxTtl{365LL * 24 * 3600};

/// One runtime rule as the daemon keeps it.
struct RuntimeRule {
  rules::Rule rule;
  std::string source;
  std::optional<WallClock::time_point> expires_at;  ///< nullopt: permanent
  WallClock::time_point added_at{};
  uint64_t order = 0;  ///< first-match order among runtime rules
};

/// A change to the runtime rules, parsed from a request (or made by the daemon: an expiry, the
/// state file at start).
struct RuntimeChange {
  enum class Kind : uint8_t { add, del, sync, expire };
  Kind kind = Kind::add;
  std::vector<rules::Rule> rules;  ///< add, sync
  std::vector<std::string> ids;    ///< del, expire
  std::string source{kPersistedSource};
  std::optional<std::chrono::seconds> ttl;  ///< add, sync
  bool replace = false;                     ///< add
  bool missing_ok = false;                  ///< del
  /// Set for changes loaded from the state file: the rules' original times.
  std::vector<std::optional<WallClock::time_point>> expires;
  std::vector<WallClock::time_point> added;
};

/// What a change did, for its reply and the counters.
struct ChangeResult {
  std::vector<std::string> added;
  std::vector<std::string> replaced;
  std::vector<std::string> deleted;
  std::vector<std::string> missing;
  std::size_t unchanged = 0;
  std::optional<WallClock::time_point> expires_at;
  bool persisted_source = false;  ///< rules of kPersistedSource changed
  bool reordered = false;         ///< sync: rules kept moved to the order of the request
};

/// "rule-add", "rule-del" or "rule-sync" with its JSON body into a change. `port_names` are
/// the daemon's ports (in_port and forward resolve against them), `set_slots` its prefix sets
/// (src_set and dst_set resolve against them); `max_rules` bounds the rules one request may
/// carry. Throws ChangeError naming the field.
[[nodiscard]] RuntimeChange parse_change(std::string_view command, const nlohmann::json& body,
                                         const std::vector<std::string>& port_names,
                                         std::size_t max_rules,
                                         const std::vector<std::string>& set_slots = {});

/// What a change is checked against besides the runtime rules themselves.
struct ChangeLimits {
  const rules::RuleSet* file_rules = nullptr;  ///< ids must not clash with these
  std::size_t max_rules = 100'000;             ///< pipeline.dynamic_max_rules
  uint32_t workers = 1;                        ///< rate limits are split over them
  std::size_t file_windows = 0;                ///< payload offsets the file rules read
};

/// The runtime rules in first-match order.
class RuntimeRuleSet {
 public:
  /// Applies `change` at `now`, all or nothing. Throws ChangeError.
  ChangeResult apply(const RuntimeChange& change, WallClock::time_point now,
                     const ChangeLimits& limits);

  /// Ids of the rules whose expiry is at or before `now`, in first-match order.
  [[nodiscard]] std::vector<std::string> expired(WallClock::time_point now) const;
  /// The earliest expiry, if any rule has one.
  [[nodiscard]] std::optional<WallClock::time_point> next_expiry() const;
  /// The rules in first-match order.
  [[nodiscard]] std::vector<rules::Rule> rules() const;
  /// The rules with their metadata, in first-match order.
  [[nodiscard]] std::vector<const RuntimeRule*> entries() const;
  [[nodiscard]] const RuntimeRule* find(std::string_view id) const;
  [[nodiscard]] std::size_t size() const noexcept { return by_order_.size(); }
  /// Rules per source.
  [[nodiscard]] std::map<std::string, std::size_t> count_by_source() const;
  /// The first rule whose id is also a file rule's, or null: a reload bringing such a file
  /// rule is refused.
  [[nodiscard]] const RuntimeRule* clash_with(const rules::RuleSet& file_rules) const;
  /// Distinct payload offsets the rules read.
  [[nodiscard]] std::size_t payload_windows() const;

 private:
  void insert(RuntimeRule rule);
  void erase(std::string_view id);
  void count_offset(const rules::Rule& rule, int delta);
  /// Puts `given` (all present) in that order among themselves; whether any rule moved.
  bool order_as_given(const std::vector<rules::Rule>& given);

  std::map<uint64_t, RuntimeRule> by_order_;
  std::map<uint16_t, std::size_t> offset_counts_;  // payload offset → rules reading it
  std::unordered_map<std::string, uint64_t> by_id_;
  uint64_t next_order_ = 1;
};

/// Labels a source may have: 1-32 of [a-z0-9_-], starting with a letter; "file" is taken.
[[nodiscard]] bool valid_source(std::string_view source) noexcept;

/// "2026-12-04T20:40:00Z".
[[nodiscard]] std::string utc_text(WallClock::time_point when);
/// "20261204T204000Z" (for file names).
[[nodiscard]] std::string compact_utc_text(WallClock::time_point when);
/// Whole seconds since the epoch.
[[nodiscard]] int64_t unix_seconds(WallClock::time_point when);

// Readers of request fields shared by the change commands; they throw ChangeError.
/// Throws ChangeError(message) on one line.
[[noreturn]] void refuse(const std::string& message);
/// body[key] as true/false; absent or null is false.
[[nodiscard]] bool optional_bool(const nlohmann::json& body, const char* key);
/// body["ttl_s"]: whole seconds 1..kMaxTtl, or nullopt when absent.
[[nodiscard]] std::optional<std::chrono::seconds> parse_ttl(const nlohmann::json& body);

}  // namespace udpsieve::control
