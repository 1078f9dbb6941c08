#pragma once
/// Reading rule files (YAML) into validated rules.
///
/// A rule file is a mapping with one key, `rules`, holding a list of rules:
///   rules:
///     - id: drop-ntp-reflection
///       match: {src: [203.0.113.0/24], dst: 198.51.100.0/24, src_port: 123, dst_port: 1024-65535}
///     - id: resolvers-first
///       match: {src_set: [resolvers, partners], dst_port: 53}   # prefix sets (config `sets`)
///       action: drop            # drop | forward | {forward: PORTNAME}
///     - id: limit-dns-from-wan
///       match: {in_port: wan, dst_port: 53, ttl: 1-5, dscp: [46, 40-47], vlan: 100,
///               length: 28-100, fragment: none, payload: {offset: 2, value: "0100", mask: "ff00"}}
///       action: {rate_limit: {pps: 1000, burst: 100}}   # or {bps: N, burst_bytes: M}
/// Every error throws ConfigError as `FILE:LINE:COL: rules[i].key: message`.

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/rules/rule.hpp"
#include "udpsieve/rules/rule_list.hpp"
#include "udpsieve/rules/rule_set.hpp"

namespace udpsieve::rules {

/// Accumulates rules from several files in order, checking ids are unique across all of them.
class RuleCollector {
 public:
  /// `port_names` are the daemon's ports in config order; `{forward: NAME}` and `in_port: NAME`
  /// resolve to an index. `set_slots` names the prefix set in each slot (empty: a free slot);
  /// `src_set: NAME` / `dst_set: NAME` resolve to the slot's bit.
  explicit RuleCollector(std::vector<std::string> port_names,
                         std::vector<std::string> set_slots = {});

  /// Parses the rule file whose document is `root` and appends its rules; returns them (the
  /// block the list shares; null for a file without rules).
  RuleList::Block add_document(const YamlNode& root);
  /// Loads and parses a rule file from disk (missing file, YAML syntax: ConfigError).
  void add_file(const std::string& path);
  /// Appends rules and steering entries an earlier load parsed from one file (with the same
  /// ports and set slots), sharing the block. `earlier` is that load's rule set, which held
  /// the block: its files' ids were unique together, so the block's ids are not indexed one by
  /// one; take() looks the ids of the files parsed here up in `earlier` instead. When one of
  /// the steering ids is taken already it adds nothing and returns false, and the caller parses
  /// the file afresh to report where.
  bool add_parsed(const RuleList::Block& rules, std::span<const SteeringRule> steering,
                  std::shared_ptr<const RuleSet> earlier);
  /// Thrown when a file names an id that came in through add_parsed, whose position the
  /// collector does not know: the caller reads every file afresh to report both positions.
  struct ParsedIdConflict {};

  [[nodiscard]] const RuleList& rules() const noexcept { return rules_; }
  /// The rules; throws ParsedIdConflict when a file parsed here gave an id a block from
  /// add_parsed holds.
  [[nodiscard]] RuleList take();
  /// The `steering:` entries of the files, in order (ids unique across rules and steering).
  [[nodiscard]] const std::vector<SteeringRule>& steering() const noexcept { return steering_; }
  [[nodiscard]] std::vector<SteeringRule> take_steering() { return std::move(steering_); }

  /// Parses a list of rules (a rule file's `rules`, or runtime rules given as JSON through
  /// YamlNode::from_json), refusing an id given twice in it. Neither reads nor changes the
  /// collected rules and ids: checking against those is the caller's business.
  [[nodiscard]] std::vector<Rule> parse_list(const YamlNode& list) const;
  /// Parses one rule (a mapping with id, match, action).
  [[nodiscard]] Rule parse_one(const YamlNode& node) const { return parse_rule(node); }

 private:
  /// Where an id was given: the position for messages when known, else its key path. The file
  /// name is shared by all of a document's ids (a copy each cost an allocation a rule).
  struct IdOrigin {
    std::shared_ptr<const std::string> file;  ///< null when it came in through add_parsed
    int line = 0;                             ///< 0 when the position is unknown
    int column = 0;
    std::string path;
    bool parsed_earlier = false;  ///< came in through add_parsed: the position is unknown
  };
  /// Hashes ids given as any string type, so a string_view finds a std::string key.
  struct IdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const noexcept {
      return std::hash<std::string_view>{}(id);
    }
  };
  /// Hashed: 100,000 ids in an ordered map cost a tenth of a rule file's parse.
  using IdMap = std::unordered_map<std::string, IdOrigin, IdHash, std::equal_to<>>;

  /// Where `id_node` is (in `file`); its key path only when its position is unknown (JSON).
  static IdOrigin origin_of(const std::shared_ptr<const std::string>& file,
                            const YamlNode& id_node);
  /// Records `id`, given at `id_node` of `file`, in `ids`; fails at `id_node` when it is in
  /// `earlier` or `ids` already, naming where it was first given.
  static void record_id(const std::string& id, const YamlNode& id_node,
                        const std::shared_ptr<const std::string>& file, const IdMap& earlier,
                        IdMap& ids);
  /// parse_list that also refuses the ids in `earlier` and records the list's ids (given in
  /// `file`) in `ids`.
  std::vector<Rule> parse_rules(const YamlNode& list,
                                const std::shared_ptr<const std::string>& file,
                                const IdMap& earlier, IdMap& ids) const;
  Rule parse_rule(const YamlNode& node) const;
  SteeringRule parse_steering(const YamlNode& node) const;
  Match parse_match(const YamlNode& node) const;
  Action parse_action(const YamlNode& node) const;
  /// Index of the port named by `node`; fails listing the configured ports.
  int resolve_port(const YamlNode& node) const;
  /// Names and bits of the sets a `src_set` / `dst_set` value names; fails listing the sets.
  uint16_t resolve_sets(const YamlNode& node, std::vector<std::string>& names) const;

  std::vector<std::string> port_names_;
  std::vector<std::string> set_slots_;
  RuleList rules_;
  std::vector<SteeringRule> steering_;
  IdMap ids_;  ///< every id but those of the blocks from add_parsed
  /// The blocks from add_parsed, each with the rule set that held it.
  std::vector<std::pair<RuleList::Block, std::shared_ptr<const RuleSet>>> reused_;
};

/// Parses a port, a range "1024-65535", or a list of either (a YAML node). Fails via the node.
[[nodiscard]] std::vector<Range> parse_port_list(const YamlNode& node);
/// Parses one prefix or a list of prefixes (a YAML node). Fails via the node.
[[nodiscard]] std::vector<Prefix> parse_prefix_list(const YamlNode& node);

}  // namespace udpsieve::rules
