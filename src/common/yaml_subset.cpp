// The reader of the YAML subset rule files are written in: block mappings and lists, flow
// `{}` and `[]` on one line, plain and quoted scalars on one line, comments. It fills the same
// arrays libyaml's events do (yaml_node.cpp, Composer), node for node, position for position,
// and declines everything else, which libyaml then reads: anchors, aliases, tags, directives,
// documents, block scalars, scalars over several lines, escapes, tabs, CR, bytes past ASCII,
// values left empty, and anything it is not sure of. Declining is always right; reading is
// right only where libyaml reads the same, which YamlNodeTest's differential tests and the
// config fuzz target check.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "yaml_document.hpp"

namespace udpsieve {

namespace {

/// Character classes of the subset, for bytes that passed the check for printable ASCII.
enum : uint8_t {
  kStart = 1,       ///< may begin a plain scalar
  kBlockPlain = 2,  ///< may continue a plain scalar outside flow collections
  kFlowPlain = 4,   ///< may continue a plain scalar inside a flow collection
};

constexpr std::array<uint8_t, 256> make_classes() {
  std::array<uint8_t, 256> out{};
  const auto set = [&](std::string_view chars, uint8_t bits) {
    for (const char c : chars)
      out[static_cast<unsigned char>(c)] |= bits;
  };
  set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
      kStart | kBlockPlain | kFlowPlain);
  set("_./+~(", kStart);
  // ':' continues a scalar only before one of these (before a blank it is the key indicator).
  set("_./+~()-=@;", kBlockPlain | kFlowPlain);
  set(",", kBlockPlain);
  return out;
}
constexpr std::array<uint8_t, 256> kClass = make_classes();

constexpr int kMaxNesting = 64;
/// libyaml drops a possible key more than 1,024 characters before its ':'; keys that long
/// are left to it.
constexpr std::size_t kMaxKey = 1000;

/// Whether every byte is printable ASCII or a line feed: the subset's whole alphabet.
bool printable_ascii(std::string_view text) {
  bool bad = false;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    bad |= (byte < 0x20 && byte != '\n') || byte > 0x7E;
  }
  return !bad;
}

}  // namespace

class YamlNode::SubsetReader {
 public:
  SubsetReader(std::string_view text, Document& doc) : text_(text), doc_(doc) {}

  /// The root's index; nullopt when the text is outside the subset (the document is left
  /// empty for libyaml to fill).
  std::optional<uint32_t> run() {
    if (!printable_ascii(text_)) return std::nullopt;
    try {
      next_content();
      if (at_end()) throw Outside{};  // an empty stream: libyaml's to say
      const uint32_t root = block_collection(column_);
      if (!at_end()) throw Outside{};
      return root;
    } catch (const Outside&) {
      doc_.nodes.clear();
      doc_.links.clear();
      doc_.text.clear();
      return std::nullopt;
    }
  }

 private:
  struct Outside {};  ///< the text leaves the subset
  /// A scalar found but not yet added (a sequence item's first key is seen before its mapping
  /// is added, and the mapping's node must come first).
  struct Scalar {
    std::size_t begin;  ///< at the quote of a quoted one
    std::size_t end;    ///< past the closing quote, or past a plain one's last character
    uint32_t line;
    uint32_t column;
    char quote;  ///< '\'', '"' or 0 for plain
  };

  [[nodiscard]] char at(std::size_t i) const noexcept { return i < text_.size() ? text_[i] : '\0'; }
  [[nodiscard]] char peek(std::size_t ahead = 0) const noexcept { return at(pos_ + ahead); }
  [[nodiscard]] bool at_end() const noexcept { return pos_ >= text_.size(); }
  [[nodiscard]] static bool blank_or_end(char c) noexcept {
    return c == ' ' || c == '\n' || c == '\0';
  }
  [[nodiscard]] uint32_t column() const noexcept {
    return static_cast<uint32_t>(pos_ - line_start_);
  }
  /// A block list entry: '-' before a blank.
  [[nodiscard]] bool at_entry() const noexcept { return peek() == '-' && blank_or_end(peek(1)); }

  void skip_spaces() noexcept {
    while (peek() == ' ')
      ++pos_;
  }

  /// After a value: spaces, perhaps a comment after at least one space, then the line's end.
  void end_line() {
    const std::size_t from = pos_;
    skip_spaces();
    if (peek() == '#' && pos_ > from) {
      while (peek() != '\n' && !at_end())
        ++pos_;
    }
    if (at_end()) return;
    if (peek() != '\n') throw Outside{};
    new_line();
  }

  void new_line() noexcept {
    ++pos_;
    ++line_;
    line_start_ = pos_;
  }

  /// From the start of a line, past blank and comment lines, to the next line's first
  /// character (column_ is its indentation), or to the end.
  void next_content() {
    for (;;) {
      skip_spaces();
      if (at_end()) return;
      if (peek() == '#') {
        while (peek() != '\n' && !at_end())
          ++pos_;
        if (at_end()) return;
      }
      if (peek() == '\n') {
        new_line();
        continue;
      }
      column_ = column();
      // A document marker or a directive.
      if (column_ == 0 && (peek() == '%' || ((text_.compare(pos_, 3, "---") == 0 ||
                                              text_.compare(pos_, 3, "...") == 0) &&
                                             blank_or_end(peek(3)))))
        throw Outside{};
      return;
    }
  }

  void enter() {
    if (++depth_ > kMaxNesting) throw Outside{};
  }

  /// A mapping or list starting at this content line, whose indentation is `indent`.
  uint32_t block_collection(uint32_t indent) {
    if (at_entry()) return block_sequence(indent);
    const Scalar key = scan_scalar(false);
    return block_mapping(indent, key);
  }

  /// A block mapping at column `indent` whose first key, `key`, was just read.
  uint32_t block_mapping(uint32_t indent, Scalar key) {
    enter();
    const uint32_t index = add_node(Node::Kind::mapping, key.line, key.column);
    const std::size_t start = pending_.size();
    for (;;) {
      if (peek() != ':' || !blank_or_end(peek(1)) || pos_ - key.begin > kMaxKey) throw Outside{};
      pending_.push_back(add_scalar(key));
      ++pos_;  // ':'
      pending_.push_back(block_value(indent));
      if (at_end() || column_ < indent) break;
      if (column_ > indent || at_entry()) throw Outside{};
      key = scan_scalar(false);
    }
    close(index, start);
    return index;
  }

  /// A block mapping's value, after its ':'; ends at the next content line.
  uint32_t block_value(uint32_t indent) {
    if (value_below()) {
      if (!at_end() && column_ > indent) return block_collection(column_);
      // A list at the mapping's own indentation.
      if (!at_end() && column_ == indent && at_entry()) return block_sequence(indent);
      throw Outside{};  // an empty value
    }
    const uint32_t value = value_on_line(false);
    finish_line();
    return value;
  }

  /// After a ':' or '-' and its blank: true, at the next content line, when the rest of the
  /// line is blank or a comment (the value is below); false, at the value, when it is not.
  bool value_below() {
    const std::size_t after = pos_;
    skip_spaces();
    if (peek() != '#' && peek() != '\n' && !at_end()) return false;
    pos_ = after;  // end_line takes a comment only after a space
    finish_line();
    return true;
  }

  /// The rest of the line after a value, then on to the next content line.
  void finish_line() {
    end_line();
    next_content();
  }

  /// A block list at column `indent`, at its first '-'.
  uint32_t block_sequence(uint32_t indent) {
    enter();
    const uint32_t index = add_node(Node::Kind::sequence, line_, column());
    const std::size_t start = pending_.size();
    for (;;) {
      ++pos_;  // '-'
      if (value_below()) {
        if (at_end() || column_ <= indent) throw Outside{};  // an empty item
        pending_.push_back(block_collection(column_));
      } else if (at_entry()) {
        throw Outside{};  // "- - x"
      } else if (peek() == '{' || peek() == '[') {
        pending_.push_back(value_on_line(false));
        finish_line();
      } else {
        const uint32_t item_column = column();
        const Scalar scalar = scan_scalar(false);
        if (peek() == ':' && blank_or_end(peek(1))) {
          pending_.push_back(block_mapping(item_column, scalar));
        } else {
          pending_.push_back(add_scalar(scalar));
          finish_line();
        }
      }
      if (at_end() || column_ < indent) break;
      if (column_ > indent) throw Outside{};
      if (!at_entry()) break;  // the next key of the mapping this list is the value of
    }
    close(index, start);
    return index;
  }

  /// A value on this line: a flow collection or a scalar (inside a flow collection: `flow`).
  uint32_t value_on_line(bool flow) {
    if (peek() == '{' || peek() == '[') return flow_collection();
    return add_scalar(scan_scalar(flow));
  }

  /// `{key: value, ...}` or `[item, ...]`, all on this line.
  uint32_t flow_collection() {
    enter();
    const bool mapping = peek() == '{';
    const char closer = mapping ? '}' : ']';
    const uint32_t index =
        add_node(mapping ? Node::Kind::mapping : Node::Kind::sequence, line_, column());
    const std::size_t start = pending_.size();
    ++pos_;
    skip_spaces();
    if (peek() == closer) {
      ++pos_;
    } else {
      for (;;) {
        if (mapping) {
          const Scalar key = scan_scalar(true);
          if (peek() != ':' || peek(1) != ' ' || pos_ - key.begin > kMaxKey) throw Outside{};
          pending_.push_back(add_scalar(key));
          pos_ += 2;
          skip_spaces();
        }
        pending_.push_back(value_on_line(true));
        skip_spaces();
        if (peek() == closer) {
          ++pos_;
          break;
        }
        if (peek() != ',') throw Outside{};
        ++pos_;
        skip_spaces();
        if (peek() == closer) throw Outside{};  // a trailing comma
      }
    }
    close(index, start);
    return index;
  }

  /// A scalar on this line, plain or quoted; pos_ ends past it (before a plain one's trailing
  /// spaces). Inside a flow collection (`flow`) a plain one also ends at ',', ']' or '}'.
  Scalar scan_scalar(bool flow) {
    Scalar s{pos_, pos_, line_, column(), 0};
    const char first = peek();
    if (first == '\'' || first == '"') {
      s.quote = first;
      ++pos_;
      for (;;) {
        const char c = peek();
        if (c == '\n' || at_end() || (c == '\\' && first == '"')) throw Outside{};
        ++pos_;
        if (c != first) continue;
        if (first == '\'' && peek() == '\'') {  // '' is a quote
          ++pos_;
          continue;
        }
        break;
      }
      s.end = pos_;
      return s;
    }
    const uint8_t allowed = flow ? kFlowPlain : kBlockPlain;
    // ':' goes on only before a character that continues a scalar or another ':'
    // (`2001:db8::/32`).
    const auto continues = [&](char c) {
      return (kClass[static_cast<unsigned char>(c)] & allowed) != 0;
    };
    // '-' and (outside flow collections) ':' begin a plain scalar before a character that
    // continues one (`-1`, `::/0`).
    const bool starts = (kClass[static_cast<unsigned char>(first)] & kStart) != 0 ||
                        (first == '-' && continues(peek(1))) ||
                        (first == ':' && !flow && (continues(peek(1)) || peek(1) == ':'));
    if (!starts) throw Outside{};
    ++pos_;
    for (;;) {
      for (;;) {  // a run of characters without blanks
        const char c = peek();
        if (c == ':') {
          if (blank_or_end(peek(1))) break;
          if (!continues(peek(1)) && peek(1) != ':') throw Outside{};
          ++pos_;
        } else if (continues(c)) {
          ++pos_;
        } else {
          break;
        }
      }
      s.end = pos_;
      const char stop = peek();
      if (stop == '\n' || at_end() || stop == ':') return s;
      if (flow && (stop == ',' || stop == ']' || stop == '}')) return s;
      if (stop != ' ') throw Outside{};
      // Spaces: the scalar goes on unless what follows them ends it.
      std::size_t next = pos_;
      while (at(next) == ' ')
        ++next;
      const char c = at(next);
      if (c == '\n' || c == '\0' || c == '#') return s;
      if (c == ':' && blank_or_end(at(next + 1))) return s;
      if (flow && (c == ',' || c == ']' || c == '}')) return s;
      if (c != ':' && !continues(c)) throw Outside{};
      pos_ = next;
    }
  }

  uint32_t add_node(Node::Kind kind, uint32_t line, uint32_t column) {
    Node node;
    node.kind = kind;
    node.line = line;
    node.column = column;
    doc_.nodes.push_back(node);
    return static_cast<uint32_t>(doc_.nodes.size() - 1);
  }

  uint32_t add_scalar(const Scalar& s) {
    const uint32_t index = add_node(Node::Kind::scalar, s.line, s.column);
    Node& node = doc_.nodes[index];
    node.plain = s.quote == 0;
    node.first = static_cast<uint32_t>(doc_.text.size());
    if (s.quote == 0) {
      doc_.text.append(text_.data() + s.begin, s.end - s.begin);
    } else {
      for (std::size_t i = s.begin + 1; i + 1 < s.end; ++i) {
        doc_.text.push_back(text_[i]);
        if (s.quote == '\'' && text_[i] == '\'') ++i;  // '' is one quote
      }
    }
    node.count = static_cast<uint32_t>(doc_.text.size() - node.first);
    return index;
  }

  /// Gives `index` the children pending since `start`.
  void close(uint32_t index, std::size_t start) {
    doc_.set_children(index, pending_.data() + start, pending_.data() + pending_.size());
    pending_.resize(start);
    --depth_;
  }

  std::string_view text_;
  Document& doc_;
  std::size_t pos_ = 0;
  std::size_t line_start_ = 0;
  uint32_t line_ = 0;
  uint32_t column_ = 0;  ///< the indentation of the content line next_content() found
  int depth_ = 0;
  std::vector<uint32_t> pending_;  ///< the open collections' children so far, innermost last
};

std::optional<uint32_t> YamlNode::read_subset(const std::string& text, Document& doc) {
  return SubsetReader(text, doc).run();
}

}  // namespace udpsieve
