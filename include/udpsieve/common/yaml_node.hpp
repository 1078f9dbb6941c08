#pragma once
/// Strict, position-aware reading of YAML documents.
///
/// A YamlNode is a yaml-cpp node plus the file it came from and its dotted key path
/// (`pipeline.rules[2]`), so every error can be reported as
/// `FILE:LINE:COL: key.path: what is wrong`.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "udpsieve/common/config_error.hpp"

namespace udpsieve {

class YamlNode {
 public:
  YamlNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string path);

  /// Reads and parses a YAML file; a missing file or a syntax error throws ConfigError.
  [[nodiscard]] static YamlNode load_file(const std::string& path);
  /// Parses YAML text; `display_name` stands in for the file name in errors.
  [[nodiscard]] static YamlNode load_string(const std::string& text,
                                            const std::string& display_name);

  [[nodiscard]] const YAML::Node& raw() const noexcept { return node_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] const std::string& file() const noexcept { return *file_; }
  [[nodiscard]] SourceLocation location() const;

  /// Throws ConfigError at this node: `file:line:col: path: message`.
  [[noreturn]] void fail(const std::string& message) const;

  [[nodiscard]] bool is_map() const noexcept { return node_.IsMap(); }
  [[nodiscard]] bool is_sequence() const noexcept { return node_.IsSequence(); }
  [[nodiscard]] bool is_scalar() const noexcept { return node_.IsScalar(); }
  [[nodiscard]] bool is_null() const noexcept { return !node_.IsDefined() || node_.IsNull(); }
  /// "a mapping", "a list", "a scalar 'x'", "nothing": for error messages.
  [[nodiscard]] std::string describe() const;

  /// Fails unless this node is a mapping whose keys are all in `allowed` and none repeats.
  void expect_map(std::initializer_list<std::string_view> allowed) const;
  /// The value under `key` of a mapping, or nullopt when the key is absent or null.
  [[nodiscard]] std::optional<YamlNode> get(std::string_view key) const;
  /// The value under `key`; fails at this mapping when it is absent.
  [[nodiscard]] YamlNode require(std::string_view key) const;
  /// The elements of a list (fails unless this is a list).
  [[nodiscard]] std::vector<YamlNode> items() const;
  /// A list's elements, or this node alone when it is not a list (`src: 10.0.0.0/8`).
  [[nodiscard]] std::vector<YamlNode> one_or_list() const;

  /// A scalar's text; fails for lists, mappings and null.
  [[nodiscard]] std::string as_string() const;
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
  [[nodiscard]] YamlNode child(const YAML::Node& node, std::string path) const;

  YAML::Node node_;
  std::shared_ptr<const std::string> file_;
  std::string path_;
};

}  // namespace udpsieve
