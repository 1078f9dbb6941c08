#pragma once
/// The arrays a parsed YAML document is kept in (YamlNode's private Document and Node), shared
/// by the readers that fill them: libyaml's events (yaml_node.cpp) and the reader of the YAML
/// subset rule files are written in (yaml_subset.cpp).

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "udpsieve/common/config_error.hpp"
#include "udpsieve/common/yaml_node.hpp"

namespace udpsieve {

namespace yaml_detail {

/// Allocates large arrays with mmap, small ones from the heap. A large rule file's nodes,
/// links and text take tens of MiB for the length of a load; under glibc the daemon keeps
/// blocks up to 32 MiB in the heap (keep_build_memory, heap.hpp), where these would fragment
/// what the compile after the load allocates.
template <typename T>
struct BulkAllocator {
  using value_type = T;
  static constexpr std::size_t kMapFrom = std::size_t{1} << 20;
  BulkAllocator() = default;
  template <typename U>
  explicit BulkAllocator(const BulkAllocator<U>& /*other*/) noexcept {}
  T* allocate(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < kMapFrom) return static_cast<T*>(::operator new(bytes));
    void* mapped = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) throw std::bad_alloc();
    return static_cast<T*>(mapped);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < kMapFrom) {
      ::operator delete(p);
    } else {
      (void)munmap(p, bytes);
    }
  }
  friend bool operator==(const BulkAllocator&, const BulkAllocator&) noexcept { return true; }
};

}  // namespace yaml_detail

/// One node of a document. Children are indices into the document's nodes, listed in its
/// links: a sequence's items, or a mapping's keys and values alternating.
struct YamlNode::Node {
  static constexpr uint32_t kNone = UINT32_MAX;
  enum class Kind : uint8_t { scalar, sequence, mapping };
  Kind kind = Kind::scalar;
  bool plain = false;  ///< a scalar written without quotes (only plain scalars can be null)
  uint32_t line = 0;   ///< 0-based, as libyaml counts
  uint32_t column = 0;
  uint32_t first = 0;  ///< a scalar's offset in the document's text, else its first link
  uint32_t count = 0;  ///< a scalar's bytes, a sequence's items, a mapping's pairs
  /// The node whose link `up` first attached this one (an alias attaches a node again);
  /// kNone for the root.
  uint32_t parent = kNone;
  uint32_t up = kNone;
};

/// A parsed document and the name of the file it came from.
struct YamlNode::Document {
  std::string file;
  std::vector<Node, yaml_detail::BulkAllocator<Node>> nodes;
  std::vector<uint32_t, yaml_detail::BulkAllocator<uint32_t>> links;
  /// Every scalar's bytes, one after another.
  std::basic_string<char, std::char_traits<char>, yaml_detail::BulkAllocator<char>> text;
  /// False for documents built from JSON, which have no positions.
  bool positions_known = true;

  explicit Document(std::string name) : file(std::move(name)) {}

  const Node* node(uint32_t index) const noexcept { return &nodes[index]; }
  std::string_view scalar(const Node* n) const noexcept {
    return {text.data() + n->first, n->count};
  }
  /// A sequence's items, or a mapping's keys and values alternating.
  const uint32_t* children(const Node* n) const noexcept { return links.data() + n->first; }
  /// Gives node `index` (a sequence or mapping) the children [begin, end): items, or keys and
  /// values alternating.
  void set_children(uint32_t index, const uint32_t* begin, const uint32_t* end) {
    Node& n = nodes[index];
    const auto size = static_cast<std::size_t>(end - begin);
    n.first = static_cast<uint32_t>(links.size());
    n.count = static_cast<uint32_t>(n.kind == Node::Kind::mapping ? size / 2 : size);
    for (const uint32_t* child = begin; child != end; ++child) {
      Node& c = nodes[*child];
      if (c.up != Node::kNone) continue;  // attached before: an alias attaches it again
      c.parent = index;
      c.up = static_cast<uint32_t>(links.size() + static_cast<std::size_t>(child - begin));
    }
    links.insert(links.end(), begin, end);
  }
  /// Makes `index` the root: no link leads to it (an alias inside it may have attached it).
  void set_root(uint32_t index) {
    nodes[index].parent = Node::kNone;
    nodes[index].up = Node::kNone;
  }

  /// Where `n` starts, or {file, 0, 0} when positions are unknown.
  SourceLocation where(const Node* n) const {
    const auto [line, column] = position(n);
    return SourceLocation{file, line, column};
  }
  /// where()'s 1-based line and column, or 0, 0.
  std::pair<int, int> position(const Node* n) const noexcept {
    if (n == nullptr || !positions_known) return {0, 0};
    return {static_cast<int>(n->line) + 1, static_cast<int>(n->column) + 1};
  }
};

}  // namespace udpsieve
