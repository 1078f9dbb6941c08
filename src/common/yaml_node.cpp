#include "udpsieve/common/yaml_node.hpp"

#include <yaml.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "udpsieve/common/decimal.hpp"

namespace udpsieve {

/// A parsed libyaml document and the name of the file it came from.
struct YamlNode::Document {
  std::string file;
  yaml_document_t doc{};
  bool loaded = false;

  explicit Document(std::string name) : file(std::move(name)) {}
  ~Document() {
    if (loaded) yaml_document_delete(&doc);
  }
  Document(const Document&) = delete;
  Document& operator=(const Document&) = delete;

  const yaml_node_t* node(int index) const noexcept {
    return yaml_document_get_node(const_cast<yaml_document_t*>(&doc), index);
  }
};

namespace {

std::string join_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string path;
  path.reserve(parent.size() + 1 + key.size());
  path.append(parent).append(".").append(key);
  return path;
}

SourceLocation location_of(const yaml_mark_t& mark, const std::string& file) {
  return SourceLocation{file, static_cast<int>(mark.line) + 1, static_cast<int>(mark.column) + 1};
}

std::string_view scalar_text(const yaml_node_t* node) {
  return {reinterpret_cast<const char*>(node->data.scalar.value), node->data.scalar.length};
}

bool is_null_scalar(const yaml_node_t* node) {
  if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
    return false;
  }
  const std::string_view text = scalar_text(node);
  return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL";
}

}  // namespace

YamlNode::YamlNode(std::shared_ptr<const Document> document, const yaml_node_s* node,
                   std::string path)
    : document_(std::move(document)), node_(node), path_(std::move(path)) {}

YamlNode YamlNode::load_string(const std::string& text, const std::string& display_name) {
  auto document = std::make_shared<Document>(display_name);
  yaml_parser_t parser;
  if (yaml_parser_initialize(&parser) == 0) {
    throw ConfigError(SourceLocation{display_name, 0, 0}, "", "cannot start the YAML parser");
  }
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  const bool ok = yaml_parser_load(&parser, &document->doc) != 0;
  if (!ok) {
    std::string message = "YAML syntax error: ";
    message += parser.problem != nullptr ? parser.problem : "malformed document";
    if (parser.context != nullptr) {
      message += std::string(" (") + parser.context + " starting at " +
                 std::to_string(parser.context_mark.line + 1) + ":" +
                 std::to_string(parser.context_mark.column + 1) + ")";
    }
    const SourceLocation where = location_of(parser.problem_mark, display_name);
    yaml_parser_delete(&parser);
    throw ConfigError(where, "", message);
  }
  document->loaded = true;
  yaml_parser_delete(&parser);
  return YamlNode(document, yaml_document_get_root_node(&document->doc), "");
}

YamlNode YamlNode::load_file(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw ConfigError(SourceLocation{path, 0, 0}, "",
                      std::string("cannot open file: ") + std::strerror(errno));
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n > 0) {
      text.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      const int err = errno;  // EISDIR for a directory
      close(fd);
      throw ConfigError(SourceLocation{path, 0, 0}, "",
                        std::string("cannot read file: ") + std::strerror(err));
    }
  }
  close(fd);
  return load_string(text, path);
}

const std::string& YamlNode::file() const noexcept {
  return document_->file;
}

SourceLocation YamlNode::location() const {
  if (node_ == nullptr) return SourceLocation{document_->file, 0, 0};
  return location_of(node_->start_mark, document_->file);
}

void YamlNode::fail(const std::string& message) const {
  throw ConfigError(location(), path_, message);
}

YamlNode YamlNode::child(const yaml_node_s* node, std::string path) const {
  return YamlNode(document_, node, std::move(path));
}

bool YamlNode::is_map() const noexcept {
  return node_ != nullptr && node_->type == YAML_MAPPING_NODE;
}
bool YamlNode::is_sequence() const noexcept {
  return node_ != nullptr && node_->type == YAML_SEQUENCE_NODE;
}
bool YamlNode::is_scalar() const noexcept {
  return node_ != nullptr && node_->type == YAML_SCALAR_NODE && !is_null_scalar(node_);
}
bool YamlNode::is_null() const noexcept {
  return node_ == nullptr || is_null_scalar(node_);
}

std::string_view YamlNode::text() const noexcept {
  return scalar_text(node_);
}

std::string YamlNode::describe() const {
  if (is_null()) return "nothing";
  if (is_map()) return "a mapping";
  if (is_sequence()) return "a list";
  return "'" + std::string(text()) + "'";
}

void YamlNode::expect_map(std::initializer_list<std::string_view> allowed) const {
  if (!is_map()) fail("expected a mapping, got " + describe());
  std::set<std::string_view> seen;
  for (const yaml_node_pair_t* pair = node_->data.mapping.pairs.start;
       pair < node_->data.mapping.pairs.top; ++pair) {
    const yaml_node_t* key = document_->node(pair->key);
    const SourceLocation where = location_of(key->start_mark, document_->file);
    if (key->type != YAML_SCALAR_NODE) {
      throw ConfigError(where, path_, "mapping keys must be plain words");
    }
    const std::string_view name = scalar_text(key);
    bool known = false;
    for (std::string_view word : allowed)
      known = known || word == name;
    if (!known) {
      std::string list;
      for (std::string_view word : allowed) {
        if (!list.empty()) list += ", ";
        list += word;
      }
      throw ConfigError(where, join_path(path_, name),
                        "unknown key (expected one of: " + list + ")");
    }
    if (!seen.insert(name).second) {
      throw ConfigError(where, join_path(path_, name), "key given twice");
    }
  }
}

std::optional<YamlNode> YamlNode::get(std::string_view key) const {
  if (!is_map()) fail("expected a mapping, got " + describe());
  for (const yaml_node_pair_t* pair = node_->data.mapping.pairs.start;
       pair < node_->data.mapping.pairs.top; ++pair) {
    const yaml_node_t* k = document_->node(pair->key);
    if (k->type != YAML_SCALAR_NODE || scalar_text(k) != key) continue;
    const yaml_node_t* value = document_->node(pair->value);
    if (value == nullptr || is_null_scalar(value)) return std::nullopt;
    return child(value, join_path(path_, key));
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
  if (!is_sequence()) fail("expected a list, got " + describe());
  std::vector<YamlNode> out;
  const yaml_node_item_t* begin = node_->data.sequence.items.start;
  const yaml_node_item_t* end = node_->data.sequence.items.top;
  out.reserve(static_cast<std::size_t>(end - begin));
  std::size_t index = 0;
  for (const yaml_node_item_t* item = begin; item < end; ++item, ++index) {
    out.push_back(child(document_->node(*item), path_ + "[" + std::to_string(index) + "]"));
  }
  return out;
}

std::vector<YamlNode> YamlNode::one_or_list() const {
  if (is_sequence()) return items();
  return {*this};
}

std::string YamlNode::as_string() const {
  if (!is_scalar()) fail("expected a single value, got " + describe());
  return std::string(text());
}

std::string YamlNode::as_nonempty_string() const {
  std::string value = as_string();
  if (value.empty()) fail("must not be empty");
  return value;
}

uint64_t YamlNode::as_uint(uint64_t min, uint64_t max) const {
  const std::string value = as_string();
  uint64_t number = 0;
  const DecimalResult result = parse_decimal(value, max, number);
  if (result == DecimalResult::malformed) fail("expected a whole number, got '" + value + "'");
  if (result == DecimalResult::too_big || number < min) {
    fail(value + " is out of range " + std::to_string(min) + "-" + std::to_string(max));
  }
  return number;
}

bool YamlNode::as_bool() const {
  const std::string value = as_string();
  if (value == "true" || value == "yes" || value == "on") return true;
  if (value == "false" || value == "no" || value == "off") return false;
  fail("expected true or false, got '" + value + "'");
}

}  // namespace udpsieve
