#include "udpsieve/common/yaml_node.hpp"

#include <yaml.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "udpsieve/common/decimal.hpp"
#include "yaml_document.hpp"

namespace udpsieve {

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

/// Far deeper than any rule or configuration goes; stops a hostile request (or an alias that
/// contains itself) from exhausting the stack.
constexpr int kMaxNesting = 64;
/// to_json's output limit: aliases nested in aliases can expand a small file without bound.
constexpr std::size_t kMaxJsonValues = 10'000'000;

/// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past
/// U+10FFFF), as libyaml requires of every scalar.
bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t width = 0;
    uint32_t value = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    }
    if ((lead & 0xE0) == 0xC0) {
      width = 2;
      value = lead & 0x1FU;
    } else if ((lead & 0xF0) == 0xE0) {
      width = 3;
      value = lead & 0x0FU;
    } else if ((lead & 0xF8) == 0xF0) {
      width = 4;
      value = lead & 0x07U;
    } else {
      return false;
    }
    if (text.size() - i < width) return false;
    for (std::size_t k = 1; k < width; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      value = value << 6 | (next & 0x3FU);
    }
    const uint32_t smallest = width == 2 ? 0x80 : width == 3 ? 0x800 : 0x10000;
    if (value < smallest || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return false;
    i += width;
  }
  return true;
}

}  // namespace

/// Builds a document's nodes from a JSON value, so JSON is read by the same checks as files.
class YamlNode::JsonBuilder {
 public:
  explicit JsonBuilder(Document& doc) : doc_(doc) {}

  /// The index of the node made for `value`, whose key path is `path`.
  uint32_t add(const nlohmann::json& value, const std::string& path, int depth) {
    if (depth > kMaxNesting) {
      fail(path, "nested more than " + std::to_string(kMaxNesting) + " levels deep");
    }
    using Type = nlohmann::json::value_t;
    switch (value.type()) {
      case Type::object: {
        const uint32_t mapping = add_node(Node::Kind::mapping);
        std::vector<uint32_t> children;
        for (auto it = value.begin(); it != value.end(); ++it) {
          children.push_back(scalar(it.key(), true, path, "a key"));
          children.push_back(add(it.value(), join_path(path, it.key()), depth + 1));
        }
        doc_.set_children(mapping, children.data(), children.data() + children.size());
        return mapping;
      }
      case Type::array: {
        const uint32_t sequence = add_node(Node::Kind::sequence);
        std::vector<uint32_t> children;
        std::size_t index = 0;
        for (const nlohmann::json& element : value)
          children.push_back(add(element, path + "[" + std::to_string(index++) + "]", depth + 1));
        doc_.set_children(sequence, children.data(), children.data() + children.size());
        return sequence;
      }
      case Type::string:
        // Quoted, as in YAML, so "", "~" and "null" stay strings.
        return scalar(value.get_ref<const std::string&>(), false, path, "the text");
      case Type::boolean:
        return scalar(value.get<bool>() ? "true" : "false", true, path, "the value");
      case Type::number_integer:
        return scalar(std::to_string(value.get<int64_t>()), true, path, "the value");
      case Type::number_unsigned:
        return scalar(std::to_string(value.get<uint64_t>()), true, path, "the value");
      case Type::number_float:
        return scalar(value.dump(), true, path, "the value");
      case Type::null:
        return scalar("null", true, path, "the value");
      case Type::binary:
      case Type::discarded:
        break;
    }
    fail(path, "binary values have no YAML form");
  }

 private:
  [[noreturn]] void fail(const std::string& path, const std::string& message) const {
    throw ConfigError(SourceLocation{doc_.file, 0, 0}, path, message);
  }

  uint32_t add_node(Node::Kind kind) {
    Node node;
    node.kind = kind;
    doc_.nodes.push_back(node);
    return static_cast<uint32_t>(doc_.nodes.size() - 1);
  }

  uint32_t scalar(std::string_view text, bool plain, const std::string& path, const char* what) {
    // A json built in code may hold bytes that are not UTF-8; parsed JSON never does.
    if (!valid_utf8(text)) fail(path, std::string(what) + " is not valid UTF-8");
    if (text.size() > std::numeric_limits<uint32_t>::max() - doc_.text.size())
      fail(path, std::string(what) + " is too long");
    const uint32_t index = add_node(Node::Kind::scalar);
    doc_.nodes[index].plain = plain;
    doc_.nodes[index].first = static_cast<uint32_t>(doc_.text.size());
    doc_.nodes[index].count = static_cast<uint32_t>(text.size());
    doc_.text.append(text);
    return index;
  }

  Document& doc_;
};

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

/// Reads the first document of a YAML text from libyaml's events into a Document, as libyaml's
/// own loader would (later documents are not read; an alias is the node its anchor names,
/// which may contain the alias itself), without a tree of separately allocated nodes.
class YamlNode::Composer {
 public:
  Composer(const std::string& text, Document& doc) : text_(text), doc_(doc) {
    if (yaml_parser_initialize(&parser_) == 0) {
      throw ConfigError(SourceLocation{doc.file, 0, 0}, "", "cannot start the YAML parser");
    }
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
  }
  ~Composer() {
    if (holding_) yaml_event_delete(&event_);
    yaml_parser_delete(&parser_);
  }
  Composer(const Composer&) = delete;
  Composer& operator=(const Composer&) = delete;

  /// The root node's index, or nullopt for an empty stream.
  std::optional<uint32_t> run() {
    for (;;) {
      if (yaml_parser_parse(&parser_, &event_) == 0) syntax_error();
      holding_ = true;
      const bool done = take(event_);
      yaml_event_delete(&event_);
      holding_ = false;
      if (done) return root_;
    }
  }

 private:
  /// Adds one event's node; true once the first document (or the stream) has ended.
  bool take(const yaml_event_t& event) {
    switch (event.type) {
      case YAML_STREAM_END_EVENT:
      case YAML_DOCUMENT_END_EVENT:
        return true;
      case YAML_ALIAS_EVENT: {
        const auto anchor = anchors_.find(reinterpret_cast<const char*>(event.data.alias.anchor));
        if (anchor == anchors_.end()) {
          throw ConfigError(location_of(event.start_mark, doc_.file), "",
                            "YAML syntax error: found undefined alias");
        }
        attach(anchor->second);
        return false;
      }
      case YAML_SCALAR_EVENT: {
        const uint32_t index = add(Node::Kind::scalar, event, event.data.scalar.anchor);
        Node& node = doc_.nodes[index];
        node.plain = event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        node.first = static_cast<uint32_t>(doc_.text.size());
        node.count = static_cast<uint32_t>(event.data.scalar.length);
        doc_.text.append(reinterpret_cast<const char*>(event.data.scalar.value),
                         event.data.scalar.length);
        attach(index);
        return false;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        const bool mapping = event.type == YAML_MAPPING_START_EVENT;
        const uint32_t index =
            add(mapping ? Node::Kind::mapping : Node::Kind::sequence, event,
                mapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor);
        attach(index);
        open_.push_back(Open{index, pending_.size()});
        return false;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        const Open open = open_.back();
        open_.pop_back();
        doc_.set_children(open.node, pending_.data() + open.start,
                          pending_.data() + pending_.size());
        pending_.resize(open.start);
        return false;
      }
      default:  // stream and document starts, nothing to keep
        return false;
    }
  }

  uint32_t add(Node::Kind kind, const yaml_event_t& event, const yaml_char_t* anchor) {
    Node node;
    node.kind = kind;
    node.line = static_cast<uint32_t>(event.start_mark.line);
    node.column = static_cast<uint32_t>(event.start_mark.column);
    doc_.nodes.push_back(node);
    const auto index = static_cast<uint32_t>(doc_.nodes.size() - 1);
    if (anchor != nullptr) {
      const auto [at, added] = anchors_.try_emplace(reinterpret_cast<const char*>(anchor), index);
      if (!added) {
        const Node& first = doc_.nodes[at->second];
        throw ConfigError(location_of(event.start_mark, doc_.file), "",
                          "YAML syntax error: anchor '" + at->first + "' given twice (first at " +
                              std::to_string(first.line + 1) + ":" +
                              std::to_string(first.column + 1) + ")");
      }
    }
    return index;
  }

  /// Makes `index` the next child of the innermost open node, or the root.
  void attach(uint32_t index) {
    if (open_.empty()) {
      root_ = index;
    } else {
      pending_.push_back(index);
    }
  }

  [[noreturn]] void syntax_error() const {
    std::string message = "YAML syntax error: ";
    message += parser_.problem != nullptr ? parser_.problem : "malformed document";
    if (parser_.context != nullptr) {
      message += std::string(" (") + parser_.context + " starting at " +
                 std::to_string(parser_.context_mark.line + 1) + ":" +
                 std::to_string(parser_.context_mark.column + 1) + ")";
    }
    SourceLocation where = location_of(parser_.problem_mark, doc_.file);
    if (parser_.error == YAML_READER_ERROR) {
      // Decoding errors (a byte that is not UTF-8) carry a byte offset, not a mark.
      where = location_at_offset(text_, parser_.problem_offset, doc_.file);
      if (parser_.problem_value >= 0) {
        char byte[16];
        std::snprintf(byte, sizeof byte, " (byte 0x%02X)", parser_.problem_value & 0xff);
        message += byte;
      }
    }
    throw ConfigError(where, "", message);
  }

  struct Open {
    uint32_t node;
    std::size_t start;  ///< where its children begin in pending_
  };
  const std::string& text_;
  Document& doc_;
  yaml_parser_t parser_{};
  yaml_event_t event_{};
  bool holding_ = false;  ///< event_ holds an event to delete
  std::vector<Open> open_;
  std::vector<uint32_t> pending_;  ///< the open nodes' children so far, innermost last
  std::unordered_map<std::string, uint32_t> anchors_;
  std::optional<uint32_t> root_;
};

YamlNode::YamlNode(std::shared_ptr<const Document> document, const Node* node)
    : document_(std::move(document)), node_(node) {}

std::shared_ptr<YamlNode::Document> YamlNode::new_document(const std::string& text,
                                                           const std::string& display_name) {
  if (text.size() >= std::numeric_limits<uint32_t>::max()) {
    throw ConfigError(SourceLocation{display_name, 0, 0}, "", "the file is larger than 4 GiB");
  }
  auto document = std::make_shared<Document>(display_name);
  // Sized from the text, so large rule files do not grow the arrays step by step.
  document->nodes.reserve(text.size() / 4);
  document->links.reserve(text.size() / 4);
  document->text.reserve(text.size() / 2);
  return document;
}

YamlNode YamlNode::load_string(const std::string& text, const std::string& display_name) {
  std::shared_ptr<Document> document = new_document(text, display_name);
  // The subset reader takes what rule files are written in, several times faster than
  // libyaml; libyaml reads what it declines (docs/performance.md).
  std::optional<uint32_t> root = read_subset(text, *document);
  if (!root) root = Composer(text, *document).run();
  return rooted(std::move(document), root);
}

YamlNode YamlNode::rooted(std::shared_ptr<Document> document, std::optional<uint32_t> root) {
  if (root) document->set_root(*root);
  const Node* node = root ? document->node(*root) : nullptr;
  return YamlNode(std::move(document), node);
}

YamlNode YamlNode::load_with_libyaml(const std::string& text, const std::string& display_name) {
  std::shared_ptr<Document> document = new_document(text, display_name);
  const std::optional<uint32_t> root = Composer(text, *document).run();
  return rooted(std::move(document), root);
}

std::optional<YamlNode> YamlNode::load_subset(const std::string& text,
                                              const std::string& display_name) {
  std::shared_ptr<Document> document = new_document(text, display_name);
  const std::optional<uint32_t> root = read_subset(text, *document);
  if (!root) return std::nullopt;
  return rooted(std::move(document), root);
}

std::string YamlNode::dump_document() const {
  std::string out;
  for (const Node& n : document_->nodes) {
    const char* kind = n.kind == Node::Kind::scalar     ? "scalar"
                       : n.kind == Node::Kind::sequence ? "sequence"
                                                        : "mapping";
    out += std::string(kind) + " " + std::to_string(n.line) + ":" + std::to_string(n.column) +
           " parent " + std::to_string(n.parent) + " up " + std::to_string(n.up);
    if (n.kind == Node::Kind::scalar) {
      out += n.plain ? " plain '" : " quoted '";
      out.append(document_->scalar(&n)).append("'");
    } else {
      out += " links " + std::to_string(n.first) + " children";
      const uint32_t size = n.kind == Node::Kind::mapping ? 2 * n.count : n.count;
      for (uint32_t i = 0; i < size; ++i)
        out += " " + std::to_string(document_->children(&n)[i]);
    }
    out += "\n";
  }
  if (node_ != nullptr) {
    out += "root " + std::to_string(node_ - document_->nodes.data()) + "\n";
  }
  return out;
}

YamlNode YamlNode::from_json(const nlohmann::json& value, const std::string& display_name) {
  auto document = std::make_shared<Document>(display_name);
  document->positions_known = false;
  const uint32_t root = JsonBuilder(*document).add(value, "", 0);
  const Node* node = document->node(root);
  return YamlNode(std::move(document), node);
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
  // Read straight into the string, sized from the file (one byte more, so the read that
  // finds the end needs no room of its own): a rule file of a few MB is not copied as it
  // grows. A file that grows meanwhile, or has no size (a pipe), grows the string.
  struct stat status {};
  const bool sized = fstat(fd, &status) == 0 && S_ISREG(status.st_mode) && status.st_size > 0;
  std::string text(sized ? static_cast<std::size_t>(status.st_size) + 1 : 65536, '\0');
  std::size_t size = 0;
  for (;;) {
    if (size == text.size()) text.resize(2 * text.size());
    const ssize_t n = read(fd, text.data() + size, text.size() - size);
    if (n > 0) {
      size += static_cast<std::size_t>(n);
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
  text.resize(size);
  return text;
}

const std::string& YamlNode::file() const noexcept {
  return document_->file;
}

SourceLocation YamlNode::location() const {
  return document_->where(node_);
}

std::pair<int, int> YamlNode::position() const noexcept {
  return document_->position(node_);
}

void YamlNode::fail(const std::string& message) const {
  throw ConfigError(location(), path(), message);
}

std::string YamlNode::path() const {
  if (spelled_ || node_ == nullptr) return path_;
  // The links from the root down to this node, gathered from here up.
  std::vector<const Node*> chain;
  for (const Node* n = node_; n->up != Node::kNone; n = document_->node(n->parent))
    chain.push_back(n);
  std::string out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it)
    out = step(std::move(out), document_->node((*it)->parent), (*it)->up);
  return out;
}

std::string YamlNode::step(std::string path, const Node* parent, uint32_t link) const {
  if (parent->kind == Node::Kind::mapping) {
    // The value's link follows its key's.
    return join_path(path, document_->scalar(document_->node(document_->links[link - 1])));
  }
  return path.append("[").append(std::to_string(link - parent->first)).append("]");
}

YamlNode YamlNode::child(uint32_t link) const {
  YamlNode out(document_, document_->node(document_->links[link]));
  if (!spelled_ && out.node_->up == link) return out;  // its path is the links' own
  out.spelled_ = true;
  out.path_ = step(path(), node_, link);
  return out;
}

YamlNode YamlNode::key_child(const Node* key, std::string_view name) const {
  YamlNode out(document_, key);
  out.spelled_ = true;
  out.path_ = join_path(path(), name);
  return out;
}

namespace {

bool is_null_scalar(std::string_view text) {
  return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL";
}

}  // namespace

bool YamlNode::is_map() const noexcept {
  return node_ != nullptr && node_->kind == Node::Kind::mapping;
}
bool YamlNode::is_sequence() const noexcept {
  return node_ != nullptr && node_->kind == Node::Kind::sequence;
}
bool YamlNode::is_scalar() const noexcept {
  return node_ != nullptr && node_->kind == Node::Kind::scalar && !is_null();
}
bool YamlNode::is_null() const noexcept {
  // Only a plain scalar can be null: '' and "null" are strings.
  return node_ == nullptr ||
         (node_->kind == Node::Kind::scalar && node_->plain && is_null_scalar(text()));
}

std::string_view YamlNode::text() const noexcept {
  return document_->scalar(node_);
}

std::string YamlNode::describe() const {
  if (is_null()) return "nothing";
  if (is_map()) return "a mapping";
  if (is_sequence()) return "a list";
  return "'" + std::string(text()) + "'";
}

void YamlNode::expect_map(std::initializer_list<std::string_view> allowed) const {
  if (!is_map()) fail("expected a mapping, got " + describe());
  const uint32_t* const links = document_->children(node_);
  for (uint32_t pair = 0; pair < node_->count; ++pair) {
    // Positions and paths only for errors: a rule file checks a few maps per rule.
    const Node* key = document_->node(links[2 * pair]);
    if (key->kind != Node::Kind::scalar) {
      throw ConfigError(document_->where(key), path(), "mapping keys must be plain words");
    }
    const std::string_view name = document_->scalar(key);
    const bool known = std::find(allowed.begin(), allowed.end(), name) != allowed.end();
    if (!known) {
      std::string list;
      for (std::string_view word : allowed) {
        if (!list.empty()) list += ", ";
        list += word;
      }
      throw ConfigError(document_->where(key), join_path(path(), name),
                        "unknown key (expected one of: " + list + ")");
    }
    // Every key is one of `allowed`, so a repeat is found among as many keys before it.
    for (uint32_t before = 0; before < pair; ++before) {
      if (document_->scalar(document_->node(links[2 * before])) == name) {
        throw ConfigError(document_->where(key), join_path(path(), name), "key given twice");
      }
    }
  }
}

std::optional<YamlNode> YamlNode::get(std::string_view key) const {
  if (!is_map()) fail("expected a mapping, got " + describe());
  const uint32_t* const links = document_->children(node_);
  for (uint32_t pair = 0; pair < node_->count; ++pair) {
    const Node* k = document_->node(links[2 * pair]);
    if (k->kind != Node::Kind::scalar || document_->scalar(k) != key) continue;
    YamlNode value = child(node_->first + 2 * pair + 1);
    if (value.is_null()) return std::nullopt;
    return value;
  }
  return std::nullopt;
}

void YamlNode::values_of(const std::string_view* keys, std::size_t count,
                         std::optional<YamlNode>* out) const {
  if (!is_map()) fail("expected a mapping, got " + describe());
  const uint32_t* const links = document_->children(node_);
  for (uint32_t pair = 0; pair < node_->count; ++pair) {
    const Node* k = document_->node(links[2 * pair]);
    if (k->kind != Node::Kind::scalar) continue;
    const std::string_view name = document_->scalar(k);
    for (std::size_t i = 0; i < count; ++i) {
      // The first of a repeated key, as get() finds it.
      if (keys[i] == name && !out[i]) out[i] = child(node_->first + 2 * pair + 1);
    }
  }
}

YamlNode YamlNode::require(std::string_view key) const {
  auto value = get(key);
  if (!value) {
    throw ConfigError(location(), join_path(path(), key), "required key is missing");
  }
  return *value;
}

std::vector<std::pair<std::string, YamlNode>> YamlNode::members() const {
  if (!is_map()) fail("expected a mapping, got " + describe());
  std::vector<std::pair<std::string, YamlNode>> out;
  const uint32_t* const links = document_->children(node_);
  out.reserve(node_->count);
  for (uint32_t pair = 0; pair < node_->count; ++pair) {
    const Node* k = document_->node(links[2 * pair]);
    if (k->kind != Node::Kind::scalar) fail("a key must be a plain value");
    std::string key(document_->scalar(k));
    for (const auto& [seen, node] : out) {
      if (seen == key) {
        key_child(k, key).fail("'" + key + "' is given twice");
      }
    }
    YamlNode node = child(node_->first + 2 * pair + 1);
    out.emplace_back(std::move(key), std::move(node));
  }
  return out;
}

std::vector<YamlNode> YamlNode::items() const {
  if (!is_sequence()) fail("expected a list, got " + describe());
  std::vector<YamlNode> out;
  out.reserve(node_->count);
  for (uint32_t index = 0; index < node_->count; ++index)
    out.push_back(child(node_->first + index));
  return out;
}

std::vector<YamlNode> YamlNode::one_or_list() const {
  if (is_sequence()) return items();
  return {*this};
}

std::string YamlNode::as_string() const {
  return std::string(as_view());
}

std::string_view YamlNode::as_view() const {
  if (!is_scalar()) fail("expected a single value, got " + describe());
  return text();
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
    const uint32_t* const links = document_->children(node_);
    for (uint32_t pair = 0; pair < node_->count; ++pair) {
      const Node* key = document_->node(links[2 * pair]);
      if (key->kind != Node::Kind::scalar) {
        throw ConfigError(document_->where(key), path(), "mapping keys must be plain words");
      }
      const std::string name(document_->scalar(key));
      if (out.contains(name)) {
        throw ConfigError(document_->where(key), join_path(path(), name), "key given twice");
      }
      out[name] = child(node_->first + 2 * pair + 1).to_json_at(depth + 1, budget);
    }
    return out;
  }
  const std::string_view value = text();
  if (node_->plain) {
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
