#include "udpsieve/common/yaml_node.hpp"

#include "udpsieve/common/decimal.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace udpsieve {
namespace {

std::string join_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

SourceLocation location_of(const YAML::Mark& mark, const std::string& file) {
  if (mark.is_null() || mark.line < 0) return SourceLocation{file, 0, 0};
  return SourceLocation{file, mark.line + 1, mark.column + 1};
}

YamlNode parse_text(const std::string& text, const std::string& name) {
  auto file = std::make_shared<const std::string>(name);
  try {
    return YamlNode(YAML::Load(text), file, "");
  } catch (const YAML::ParserException& e) {
    throw ConfigError(location_of(e.mark, name), "", "YAML syntax error: " + e.msg);
  }
}

}  // namespace

YamlNode::YamlNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string path)
    : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)) {}

YamlNode YamlNode::load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw ConfigError(SourceLocation{path, 0, 0}, "",
                      std::string("cannot open file: ") + std::strerror(err));
  }
  // A directory opens fine on Linux and reads as nothing, which would pass as an empty file.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError(SourceLocation{path, 0, 0}, "",
                      std::string("cannot read file: ") + std::strerror(EISDIR));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(SourceLocation{path, 0, 0}, "", "cannot read file");
  return parse_text(text.str(), path);
}

YamlNode YamlNode::load_string(const std::string& text, const std::string& display_name) {
  return parse_text(text, display_name);
}

SourceLocation YamlNode::location() const {
  if (!node_.IsDefined()) return SourceLocation{*file_, 0, 0};
  return location_of(node_.Mark(), *file_);
}

void YamlNode::fail(const std::string& message) const {
  throw ConfigError(location(), path_, message);
}

YamlNode YamlNode::child(const YAML::Node& node, std::string path) const {
  return YamlNode(node, file_, std::move(path));
}

std::string YamlNode::describe() const {
  if (is_null()) return "nothing";
  if (node_.IsMap()) return "a mapping";
  if (node_.IsSequence()) return "a list";
  return "'" + node_.Scalar() + "'";
}

void YamlNode::expect_map(std::initializer_list<std::string_view> allowed) const {
  if (!node_.IsMap()) fail("expected a mapping, got " + describe());
  std::set<std::string> seen;
  // Iterate by value: `it->first` lives in a temporary proxy, so a reference to it dangles.
  for (const auto& entry : node_) {
    const YAML::Node key = entry.first;
    const SourceLocation where = location_of(key.Mark(), *file_);
    if (!key.IsScalar()) throw ConfigError(where, path_, "mapping keys must be plain words");
    const std::string& name = key.Scalar();
    const std::string key_path = join_path(path_, name);
    bool known = false;
    for (std::string_view word : allowed)
      known = known || word == name;
    if (!known) {
      std::string list;
      for (std::string_view word : allowed) {
        if (!list.empty()) list += ", ";
        list += word;
      }
      throw ConfigError(where, key_path, "unknown key (expected one of: " + list + ")");
    }
    if (!seen.insert(name).second) throw ConfigError(where, key_path, "key given twice");
  }
}

std::optional<YamlNode> YamlNode::get(std::string_view key) const {
  if (!node_.IsMap()) fail("expected a mapping, got " + describe());
  for (const auto& entry : node_) {
    if (entry.first.IsScalar() && entry.first.Scalar() == key) {
      if (!entry.second.IsDefined() || entry.second.IsNull()) return std::nullopt;
      return child(entry.second, join_path(path_, key));
    }
  }
  return std::nullopt;
}

YamlNode YamlNode::require(std::string_view key) const {
  auto value = get(key);
  if (!value) {
    throw ConfigError(location(), join_path(path_, key), "required key is missing");
  }
  return *value;
}

std::vector<YamlNode> YamlNode::items() const {
  if (!node_.IsSequence()) fail("expected a list, got " + describe());
  std::vector<YamlNode> out;
  out.reserve(node_.size());
  std::size_t index = 0;
  for (const auto& element : node_) {
    out.push_back(child(element, path_ + "[" + std::to_string(index) + "]"));
    ++index;
  }
  return out;
}

std::vector<YamlNode> YamlNode::one_or_list() const {
  if (node_.IsSequence()) return items();
  return {*this};
}

std::string YamlNode::as_string() const {
  if (!node_.IsScalar()) fail("expected a single value, got " + describe());
  return node_.Scalar();
}

std::string YamlNode::as_nonempty_string() const {
  std::string text = as_string();
  if (text.empty()) fail("must not be empty");
  return text;
}

uint64_t YamlNode::as_uint(uint64_t min, uint64_t max) const {
  const std::string text = as_string();
  uint64_t value = 0;
  const DecimalResult result = parse_decimal(text, max, value);
  if (result == DecimalResult::malformed) fail("expected a whole number, got '" + text + "'");
  if (result == DecimalResult::too_big || value < min) {
    fail(text + " is out of range " + std::to_string(min) + "-" + std::to_string(max));
  }
  return value;
}

bool YamlNode::as_bool() const {
  const std::string text = as_string();
  if (text == "true" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "no" || text == "off") return false;
  fail("expected true or false, got '" + text + "'");
}

}  // namespace udpsieve
