#include "udpsieve/common/yaml_node.hpp"

#include <yaml.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>

#include <nlohmann/json.hpp>

#include "udpsieve/common/decimal.hpp"

namespace udpsieve {

/// A parsed libyaml document and the name of the file it came from.
struct YamlNode::Document {
  std::string file;
  yaml_document_t doc{};
  bool loaded = false;
  /// False for documents built from JSON: libyaml leaves their marks at zero, which would
  /// otherwise read as line 1, column 1.
  bool positions_known = true;

  explicit Document(std::string name) : file(std::move(name)) {}
  ~Document() {
    if (loaded) yaml_document_delete(&doc);
  }
  Document(const Document&) = delete;
  Document& operator=(const Document&) = delete;

  const yaml_node_t* node(int index) const noexcept {
    return yaml_document_get_node(const_cast<yaml_document_t*>(&doc), index);
  }

  /// Where `n` starts, or {file, 0, 0} when positions are unknown.
  SourceLocation where(const yaml_node_t* n) const {
    if (n == nullptr || !positions_known) return SourceLocation{file, 0, 0};
    return SourceLocation{file, static_cast<int>(n->start_mark.line) + 1,
                          static_cast<int>(n->start_mark.column) + 1};
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

/// Far deeper than any rule or configuration goes; stops a hostile request (or an alias that
/// contains itself) from exhausting the stack.
constexpr int kMaxNesting = 64;
/// to_json's output limit: aliases nested in aliases can expand a small file without bound.
constexpr std::size_t kMaxJsonValues = 10'000'000;

/// Adds the nodes mirroring a JSON value to a libyaml document, parents before children so the
/// first value added is the document's root.
class JsonDocumentBuilder {
 public:
  JsonDocumentBuilder(yaml_document_t& doc, const std::string& file) : doc_(doc), file_(file) {}

  /// The id of the node made for `value`, whose key path is `path`.
  int add(const nlohmann::json& value, const std::string& path, int depth) {
    if (depth > kMaxNesting) {
      fail(path, "nested more than " + std::to_string(kMaxNesting) + " levels deep");
    }
    using Type = nlohmann::json::value_t;
    switch (value.type()) {
      case Type::object: {
        const int mapping =
            check(yaml_document_add_mapping(&doc_, nullptr, YAML_ANY_MAPPING_STYLE));
        for (auto it = value.begin(); it != value.end(); ++it) {
          const int key = scalar(it.key(), YAML_PLAIN_SCALAR_STYLE, path, "a key");
          const int item = add(it.value(), join_path(path, it.key()), depth + 1);
          check(yaml_document_append_mapping_pair(&doc_, mapping, key, item));
        }
        return mapping;
      }
      case Type::array: {
        const int sequence =
            check(yaml_document_add_sequence(&doc_, nullptr, YAML_ANY_SEQUENCE_STYLE));
        std::size_t index = 0;
        for (const nlohmann::json& element : value) {
          const int item = add(element, path + "[" + std::to_string(index++) + "]", depth + 1);
          check(yaml_document_append_sequence_item(&doc_, sequence, item));
        }
        return sequence;
      }
      case Type::string:
        // Quoted, as in YAML, so "", "~" and "null" stay strings.
        return scalar(value.get_ref<const std::string&>(), YAML_DOUBLE_QUOTED_SCALAR_STYLE, path,
                      "the text");
      case Type::boolean:
        return scalar(value.get<bool>() ? "true" : "false", YAML_PLAIN_SCALAR_STYLE, path,
                      "the value");
      case Type::number_integer:
        return scalar(std::to_string(value.get<int64_t>()), YAML_PLAIN_SCALAR_STYLE, path,
                      "the value");
      case Type::number_unsigned:
        return scalar(std::to_string(value.get<uint64_t>()), YAML_PLAIN_SCALAR_STYLE, path,
                      "the value");
      case Type::number_float:
        return scalar(value.dump(), YAML_PLAIN_SCALAR_STYLE, path, "the value");
      case Type::null:
        return scalar("null", YAML_PLAIN_SCALAR_STYLE, path, "the value");
      case Type::binary:
      case Type::discarded:
        break;
    }
    fail(path, "binary values have no YAML form");
  }

 private:
  [[noreturn]] void fail(const std::string& path, const std::string& message) const {
    throw ConfigError(SourceLocation{file_, 0, 0}, path, message);
  }

  /// libyaml reports only allocation failures here, once UTF-8 has been checked.
  static int check(int result) {
    if (result == 0) throw std::bad_alloc();
    return result;
  }

  int scalar(std::string_view text, yaml_scalar_style_t style, const std::string& path,
             const char* what) {
    if (text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
      fail(path, std::string(what) + " is too long");
    }
    const int id =
        yaml_document_add_scalar(&doc_, nullptr, reinterpret_cast<const yaml_char_t*>(text.data()),
                                 static_cast<int>(text.size()), style);
    // Besides running out of memory, libyaml refuses only text that is not UTF-8, which JSON
    // parsed from a socket never holds but a json built in code might.
    if (id == 0) fail(path, std::string(what) + " is not valid UTF-8");
    return id;
  }

  yaml_document_t& doc_;
  const std::string& file_;
};

}  // namespace

YamlNode::YamlNode(std::shared_ptr<const Document> document, const yaml_node_s* node,
                   std::string path)
    : document_(std::move(document)), node_(node), path_(std::move(path)) {}

namespace {

/// The line and column (in characters, 1-based) of byte `offset` of `text`.
SourceLocation location_at_offset(const std::string& text, std::size_t offset,
                                  const std::string& display_name) {
  offset = std::min(offset, text.size());
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == '\n') {
      ++line;
      column = 1;
    } else if ((byte & 0xC0) != 0x80) {  // not a UTF-8 continuation byte: a new character
      ++column;
    }
  }
  return SourceLocation{display_name, static_cast<int>(line), static_cast<int>(column)};
}

}  // namespace

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
    SourceLocation where = location_of(parser.problem_mark, display_name);
    if (parser.error == YAML_READER_ERROR) {
      // Decoding errors (a byte that is not UTF-8) carry a byte offset, not a mark.
      where = location_at_offset(text, parser.problem_offset, display_name);
      if (parser.problem_value >= 0) {
        char byte[16];
        std::snprintf(byte, sizeof byte, " (byte 0x%02X)", parser.problem_value & 0xff);
        message += byte;
      }
    }
    yaml_parser_delete(&parser);
    throw ConfigError(where, "", message);
  }
  document->loaded = true;
  yaml_parser_delete(&parser);
  return YamlNode(document, yaml_document_get_root_node(&document->doc), "");
}

YamlNode YamlNode::from_json(const nlohmann::json& value, const std::string& display_name) {
  auto document = std::make_shared<Document>(display_name);
  document->positions_known = false;
  if (yaml_document_initialize(&document->doc, nullptr, nullptr, nullptr, 1, 1) == 0) {
    throw std::bad_alloc();
  }
  document->loaded = true;
  JsonDocumentBuilder(document->doc, display_name).add(value, "", 0);
  return YamlNode(document, yaml_document_get_root_node(&document->doc), "");
}

YamlNode YamlNode::load_file(const std::string& path) {
  return load_string(read_file(path), path);
}

std::string YamlNode::read_file(const std::string& path) {
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
  return text;
}

const std::string& YamlNode::file() const noexcept {
  return document_->file;
}

SourceLocation YamlNode::location() const {
  return document_->where(node_);
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
  const yaml_node_pair_t* const first = node_->data.mapping.pairs.start;
  for (const yaml_node_pair_t* pair = first; pair < node_->data.mapping.pairs.top; ++pair) {
    // Positions and paths only for errors: a rule file checks a few maps per rule.
    const yaml_node_t* key = document_->node(pair->key);
    if (key->type != YAML_SCALAR_NODE) {
      throw ConfigError(document_->where(key), path_, "mapping keys must be plain words");
    }
    const std::string_view name = scalar_text(key);
    const bool known = std::find(allowed.begin(), allowed.end(), name) != allowed.end();
    if (!known) {
      std::string list;
      for (std::string_view word : allowed) {
        if (!list.empty()) list += ", ";
        list += word;
      }
      throw ConfigError(document_->where(key), join_path(path_, name),
                        "unknown key (expected one of: " + list + ")");
    }
    // Every key is one of `allowed`, so a repeat is found among as many keys before it.
    for (const yaml_node_pair_t* before = first; before < pair; ++before) {
      if (scalar_text(document_->node(before->key)) == name) {
        throw ConfigError(document_->where(key), join_path(path_, name), "key given twice");
      }
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

void YamlNode::refuse_null(std::string_view key, const std::string& message) const {
  if (!is_map()) return;
  for (const yaml_node_pair_t* pair = node_->data.mapping.pairs.start;
       pair < node_->data.mapping.pairs.top; ++pair) {
    const yaml_node_t* k = document_->node(pair->key);
    if (k->type != YAML_SCALAR_NODE || scalar_text(k) != key) continue;
    const yaml_node_t* value = document_->node(pair->value);
    if (value == nullptr || is_null_scalar(value)) {
      child(value, join_path(path_, key)).fail(message);
    }
  }
}

YamlNode YamlNode::require(std::string_view key) const {
  auto value = get(key);
  if (!value) {
    throw ConfigError(location(), join_path(path_, key), "required key is missing");
  }
  return *value;
}

std::vector<std::pair<std::string, YamlNode>> YamlNode::members() const {
  if (!is_map()) fail("expected a mapping, got " + describe());
  std::vector<std::pair<std::string, YamlNode>> out;
  for (const yaml_node_pair_t* pair = node_->data.mapping.pairs.start;
       pair < node_->data.mapping.pairs.top; ++pair) {
    const yaml_node_t* k = document_->node(pair->key);
    if (k == nullptr || k->type != YAML_SCALAR_NODE) fail("a key must be a plain value");
    std::string key(scalar_text(k));
    for (const auto& [seen, node] : out) {
      if (seen == key) {
        child(k, join_path(path_, key)).fail("'" + key + "' is given twice");
      }
    }
    const yaml_node_t* value = document_->node(pair->value);
    YamlNode node = child(value, join_path(path_, key));
    out.emplace_back(std::move(key), std::move(node));
  }
  return out;
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

nlohmann::json YamlNode::to_json() const {
  std::size_t budget = kMaxJsonValues;
  return to_json_at(0, budget);
}

nlohmann::json YamlNode::to_json_at(int depth, std::size_t& budget) const {
  if (depth > kMaxNesting) {
    fail("nested more than " + std::to_string(kMaxNesting) +
         " levels deep (an alias that contains itself?)");
  }
  if (budget == 0) {
    fail("expands to more than " + std::to_string(kMaxJsonValues) +
         " values (aliases repeated inside aliases?)");
  }
  --budget;
  if (is_null()) return nullptr;
  if (is_sequence()) {
    nlohmann::json out = nlohmann::json::array();
    for (const YamlNode& item : items())
      out.push_back(item.to_json_at(depth + 1, budget));
    return out;
  }
  if (is_map()) {
    nlohmann::json out = nlohmann::json::object();
    for (const yaml_node_pair_t* pair = node_->data.mapping.pairs.start;
         pair < node_->data.mapping.pairs.top; ++pair) {
      const yaml_node_t* key = document_->node(pair->key);
      if (key->type != YAML_SCALAR_NODE) {
        throw ConfigError(document_->where(key), path_, "mapping keys must be plain words");
      }
      const std::string name(scalar_text(key));
      if (out.contains(name)) {
        throw ConfigError(document_->where(key), join_path(path_, name), "key given twice");
      }
      out[name] =
          child(document_->node(pair->value), join_path(path_, name)).to_json_at(depth + 1, budget);
    }
    return out;
  }
  const std::string_view value = text();
  if (node_->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
    if (value == "true") return true;
    if (value == "false") return false;
    // Only canonical numbers: "0011" as 11 would change a payload byte or an id.
    uint64_t number = 0;
    if (parse_decimal(value, std::numeric_limits<uint64_t>::max(), number) == DecimalResult::ok &&
        (value.size() == 1 || value.front() != '0')) {
      return number;
    }
  }
  return std::string(value);
}

}  // namespace udpsieve
