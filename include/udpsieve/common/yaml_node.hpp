#pragma once
/// Strict, position-aware reading of YAML documents.
///
/// A YamlNode is a node of a parsed document plus the file it came from and its dotted key
/// path (`pipeline.rules[2]`), so every error can be reported as
/// `FILE:LINE:COL: key.path: what is wrong`. The path is spelled out only when asked for:
/// every node records the link it was first attached by, and a node reached along those
/// links (anything not reached through an alias) finds its path by walking them back, so
/// reading a 100,000-rule file builds no path strings. A document is kept in arrays of our
/// own: one of nodes, one of child links and one of scalar text. They are filled by a reader of
/// the subset of YAML rule files are written in (block mappings and lists, one-line flow
/// collections and scalars, comments; src/common/yaml_subset.cpp), about five times faster than
/// libyaml, or, for anything outside that subset, from libyaml's events (itself about six times
/// faster than yaml-cpp; docs/performance.md). Both fill the arrays alike, node for node and
/// position for position: the tests and the config fuzz target compare them.

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "udpsieve/common/config_error.hpp"

namespace udpsieve {

class YamlNode {
 public:
  /// Reads and parses a YAML file; a missing file or a syntax error throws ConfigError.
  [[nodiscard]] static YamlNode load_file(const std::string& path);
  /// The bytes of a file; a file that cannot be opened or read throws ConfigError at
  /// `path`:0:0.
  [[nodiscard]] static std::string read_file(const std::string& path);
  /// Parses YAML text; `display_name` stands in for the file name in errors.
  [[nodiscard]] static YamlNode load_string(const std::string& text,
                                            const std::string& display_name);
  /// load_string by libyaml alone, and by the subset reader alone (nullopt where the text is
  /// outside the subset): for tests comparing the two.
  [[nodiscard]] static YamlNode load_with_libyaml(const std::string& text,
                                                  const std::string& display_name);
  [[nodiscard]] static std::optional<YamlNode> load_subset(const std::string& text,
                                                           const std::string& display_name);
  /// Every node of this node's document, with its kind, style, position, text, children and
  /// the link it was first attached by, one per line: for tests comparing the two readers.
  [[nodiscard]] std::string dump_document() const;
  /// A document mirroring `value`, so JSON (runtime rules) is checked by the same readers as a
  /// file and errors name the key path. Strings become quoted scalars ("null" stays a string),
  /// numbers, booleans and null plain ones. Positions are unknown: every location() is
  /// {display_name, 0, 0}. Nesting deeper than 64 levels or invalid UTF-8 throws ConfigError.
  [[nodiscard]] static YamlNode from_json(const nlohmann::json& value,
                                          const std::string& display_name);

  /// This node as JSON, for sending a rule file's rules over the socket: mappings become
  /// objects, lists arrays, null null; a plain scalar becomes an unsigned number when it is a
  /// decimal integer written canonically (no leading zeros, so "0011" keeps its text), a boolean
  /// when it is `true` or `false`, and a string otherwise. from_json(to_json()) reads the same.
  /// Fails on non-scalar or repeated keys and on aliases nested too deep.
  [[nodiscard]] nlohmann::json to_json() const;

  /// The dotted key path by which this node was reached (`rules[3].match.src`).
  [[nodiscard]] std::string path() const;
  [[nodiscard]] const std::string& file() const noexcept;
  [[nodiscard]] SourceLocation location() const;
  /// location()'s line and column alone (0, 0 when unknown), without a copy of the file name.
  [[nodiscard]] std::pair<int, int> position() const noexcept;

  /// Throws ConfigError at this node: `file:line:col: path: message`.
  [[noreturn]] void fail(const std::string& message) const;

  [[nodiscard]] bool is_map() const noexcept;
  [[nodiscard]] bool is_sequence() const noexcept;
  /// A scalar that is not null.
  [[nodiscard]] bool is_scalar() const noexcept;
  /// Absent, empty, `~` or `null` (unquoted).
  [[nodiscard]] bool is_null() const noexcept;
  /// "a mapping", "a list", "a scalar 'x'", "nothing": for error messages.
  [[nodiscard]] std::string describe() const;

  /// Fails unless this node is a mapping whose keys are all in `allowed` and none repeats.
  void expect_map(std::initializer_list<std::string_view> allowed) const;
  /// The value under `key` of a mapping, or nullopt when the key is absent or null.
  [[nodiscard]] std::optional<YamlNode> get(std::string_view key) const;
  /// The values under `keys` of a mapping, found in one pass over it: nullopt where a key is
  /// absent, a null node (is_null()) where it has no value. Fails unless this is a mapping.
  template <std::size_t N>
  [[nodiscard]] std::array<std::optional<YamlNode>, N> values_of(
      const std::array<std::string_view, N>& keys) const {
    std::array<std::optional<YamlNode>, N> out;
    values_of(keys.data(), N, out.data());
    return out;
  }
  /// The value under `key`; fails at this mapping when it is absent.
  [[nodiscard]] YamlNode require(std::string_view key) const;
  /// A mapping's keys and values in document order (fails unless this is a mapping, or when a
  /// key is not a plain scalar or repeats). A key given without a value maps to a null node.
  [[nodiscard]] std::vector<std::pair<std::string, YamlNode>> members() const;
  /// The elements of a list (fails unless this is a list).
  [[nodiscard]] std::vector<YamlNode> items() const;
  /// A list's elements, or this node alone when it is not a list (`src: 10.0.0.0/8`).
  [[nodiscard]] std::vector<YamlNode> one_or_list() const;

  /// A scalar's text; fails for lists, mappings and null.
  [[nodiscard]] std::string as_string() const;
  /// as_string without a copy: valid while a node of this document lives.
  [[nodiscard]] std::string_view as_view() const;
  /// A non-empty scalar string.
  [[nodiscard]] std::string as_nonempty_string() const;
  /// An unsigned decimal integer in [min, max].
  [[nodiscard]] uint64_t as_uint(uint64_t min, uint64_t max) const;
  /// true/false (also yes/no, on/off).
  [[nodiscard]] bool as_bool() const;

  /// One of a fixed set of words: `as_enum<Mode>({{"auto", Mode::automatic}, ...})`.
  template <class E>
  [[nodiscard]] E as_enum(std::initializer_list<std::pair<std::string_view, E>> choices) const {
    const std::string text = as_string();
    for (const auto& [word, value] : choices) {
      if (text == word) return value;
    }
    std::string list;
    for (const auto& choice : choices) {
      if (!list.empty()) list += " | ";
      list += choice.first;
    }
    fail("'" + text + "' is not one of: " + list);
  }

 private:
  struct Document;
  struct Node;
  class Composer;
  class SubsetReader;
  class JsonBuilder;
  /// Reads `text` into `doc` if it is in the subset of YAML the subset reader takes (the
  /// root's index); nullopt, leaving `doc` empty, otherwise.
  [[nodiscard]] static std::optional<uint32_t> read_subset(const std::string& text, Document& doc);
  /// The node `root` of `document` (made its root), or an absent node for an empty stream.
  [[nodiscard]] static YamlNode rooted(std::shared_ptr<Document> document,
                                       std::optional<uint32_t> root);
  /// A new document for `text`, its arrays sized from it.
  [[nodiscard]] static std::shared_ptr<Document> new_document(const std::string& text,
                                                              const std::string& display_name);
  YamlNode(std::shared_ptr<const Document> document, const Node* node);
  /// The child held in this mapping's or list's link `link`.
  [[nodiscard]] YamlNode child(uint32_t link) const;
  /// `path` and the step to the child in `parent`'s link `link` (`.key` or `[index]`).
  [[nodiscard]] std::string step(std::string path, const Node* parent, uint32_t link) const;
  /// A key node of this mapping (for errors about the key itself), at the path of its value.
  [[nodiscard]] YamlNode key_child(const Node* key, std::string_view name) const;
  [[nodiscard]] std::string_view text() const noexcept;
  void values_of(const std::string_view* keys, std::size_t count,
                 std::optional<YamlNode>* out) const;
  /// to_json below `depth` levels of nesting, with `budget` values left to produce.
  [[nodiscard]] nlohmann::json to_json_at(int depth, std::size_t& budget) const;

  std::shared_ptr<const Document> document_;
  const Node* node_ = nullptr;  // null for an absent node
  /// Set once this node was reached through an alias (off the links its nodes record): its
  /// path, spelled out; then path_ holds it and every child's path is spelled out too.
  bool spelled_ = false;
  std::string path_;
};

}  // namespace udpsieve
