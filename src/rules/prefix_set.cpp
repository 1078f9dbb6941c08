// Prefix set files and the set model (see prefix_set.hpp).
#include "udpsieve/rules/prefix_set.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <optional>
#include <utility>

#include "udpsieve/common/config_error.hpp"
#include "udpsieve/common/yaml_node.hpp"

namespace udpsieve::rules {
namespace {

__extension__ typedef unsigned __int128 U128;

unsigned width_of(Family family) noexcept {
  return family == Family::ipv4 ? 32 : 128;
}

std::size_t family_index(Family family) noexcept {
  return family == Family::ipv4 ? 0 : 1;
}

U128 full_mask(unsigned width) noexcept {
  return width == 128 ? ~U128{0} : (U128{1} << width) - 1;
}

/// The network mask of a `length`-bit prefix in a `width`-bit address.
U128 prefix_mask(unsigned width, unsigned length) noexcept {
  if (length == 0) return 0;
  return (~U128{0} << (width - length)) & full_mask(width);
}

/// How many leading bits two addresses of `width` bits have in common.
unsigned shared_bits(U128 a, U128 b, unsigned width) noexcept {
  const U128 differ = a ^ b;
  if (differ == 0) return width;
  const auto high = static_cast<uint64_t>(differ >> 64);
  const unsigned zeros =
      high != 0 ? static_cast<unsigned>(__builtin_clzll(high))
                : 64 + static_cast<unsigned>(__builtin_clzll(static_cast<uint64_t>(differ)));
  return zeros - (128 - width);
}

U128 address_value(Family family, const std::array<uint8_t, 16>& bytes) noexcept {
  U128 value = 0;
  for (unsigned i = 0; i < width_of(family) / 8; ++i)
    value = value << 8 | bytes[i];
  return value;
}

std::array<uint8_t, 16> address_bytes(Family family, U128 value) noexcept {
  std::array<uint8_t, 16> bytes{};
  const unsigned count = width_of(family) / 8;
  for (unsigned i = 0; i < count; ++i)
    bytes[count - 1 - i] = static_cast<uint8_t>(value >> (8 * i));
  return bytes;
}

/// An IPv4 prefix packed into 40 bits, address << 8 | length: packed keys sort in the order of
/// SetModel's keys and of sort_set_prefixes.
uint64_t packed_v4(const Prefix& p) noexcept {
  return static_cast<uint64_t>(address_value(Family::ipv4, p.addr)) << 8 | p.length;
}

/// Sorts IPv4 prefixes packed as address << 8 | length (40 bits) by radix, several times faster
/// than std::sort for a feed's million keys.
void sort_packed_v4(std::vector<uint64_t>& keys) {
  if (keys.size() < 4096) {
    std::sort(keys.begin(), keys.end());
    return;
  }
  // Four passes of 10 bits cover the 40 bits of a key: 1,024 places a pass to write to stay
  // in the caches (three passes of 16 bits, 65,536 places each, made a feed's whole sort a
  // tenth slower).
  constexpr unsigned kDigitBits = 10;
  constexpr std::size_t kDigits = std::size_t{1} << kDigitBits;
  constexpr unsigned kPasses = 4;
  std::vector<std::size_t> starts(kPasses * kDigits, 0);
  for (const uint64_t key : keys) {
    for (unsigned pass = 0; pass < kPasses; ++pass)
      ++starts[pass * kDigits + ((key >> (pass * kDigitBits)) & (kDigits - 1))];
  }
  for (unsigned pass = 0; pass < kPasses; ++pass) {
    std::size_t at = 0;
    for (std::size_t digit = 0; digit < kDigits; ++digit)
      at += std::exchange(starts[pass * kDigits + digit], at);
  }
  std::vector<uint64_t> other(keys.size());
  for (unsigned pass = 0; pass < kPasses; ++pass) {
    std::size_t* start = &starts[pass * kDigits];
    for (const uint64_t key : keys)
      other[start[(key >> (pass * kDigitBits)) & (kDigits - 1)]++] = key;
    keys.swap(other);
  }
}

/// The order of set files' prefixes (sort_set_prefixes): IPv4 first, then by address, then by
/// length; addresses compared as two big-endian 64-bit halves (no memcmp call per compare).
bool set_order(const Prefix& a, const Prefix& b) noexcept {
  if (a.family != b.family) return a.family == Family::ipv4;
  const auto half = [](const Prefix& p, std::size_t at) {
    uint64_t value = 0;
    std::memcpy(&value, p.addr.data() + at, sizeof value);
    return __builtin_bswap64(value);
  };
  const uint64_t a_high = half(a, 0);
  const uint64_t b_high = half(b, 0);
  if (a_high != b_high) return a_high < b_high;
  const uint64_t a_low = half(a, 8);
  const uint64_t b_low = half(b, 8);
  if (a_low != b_low) return a_low < b_low;
  return a.length < b.length;
}

bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r';
}

}  // namespace

std::optional<Prefix> parse_set_prefix(std::string_view text, std::string& error) {
  std::optional<Prefix> prefix = Prefix::parse(text, error);
  if (prefix && prefix->length == 0) {
    error = prefix->to_string() +
            " holds every address; a rule without src_set / dst_set already matches them all";
    return std::nullopt;
  }
  return prefix;
}

std::string set_names_text(const std::vector<std::string>& slots) {
  std::string names;
  for (const std::string& name : slots) {
    if (!name.empty()) names += (names.empty() ? "" : ", ") + name;
  }
  return names;
}

std::vector<Prefix> parse_set_text(std::string_view text, const std::string& file,
                                   const std::string& key_path) {
  std::vector<Prefix> out;
  // Room for a prefix a line: the list grows no more (each growth copies it and touches fresh
  // memory).
  out.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  std::string error;
  int line = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    ++line;
    const void* newline = std::memchr(text.data() + start, '\n', text.size() - start);
    const std::size_t end =
        newline != nullptr
            ? static_cast<std::size_t>(static_cast<const char*>(newline) - text.data())
            : text.size();
    std::string_view content = text.substr(start, end - start);
    start = end + 1;
    // (string_view::find_first_of would call memchr once per character.)
    for (std::size_t i = 0; i < content.size(); ++i) {
      if (content[i] == '#' || content[i] == ';') {
        content = content.substr(0, i);
        break;
      }
    }
    std::size_t first = 0;
    while (first < content.size() && is_blank(content[first]))
      ++first;
    std::size_t last = content.size();
    while (last > first && is_blank(content[last - 1]))
      --last;
    if (first == last) continue;
    const std::string_view token = content.substr(first, last - first);
    // (find_first_of(" \t") would call memchr once per character too.)
    std::size_t space = 0;
    while (space < token.size() && token[space] != ' ' && token[space] != '\t')
      ++space;
    if (space < token.size()) {
      const std::size_t next = token.find_first_not_of(" \t", space);
      throw ConfigError(SourceLocation{file, line, static_cast<int>(first + next + 1)}, key_path,
                        "one prefix per line: '" + std::string(token.substr(next)) + "' follows '" +
                            std::string(token.substr(0, space)) + "' (comments start with # or ;)");
    }
    std::optional<Prefix> prefix = parse_set_prefix(token, error);
    if (!prefix) {
      throw ConfigError(SourceLocation{file, line, static_cast<int>(first + 1)}, key_path, error);
    }
    out.push_back(*prefix);
  }
  return out;
}

std::vector<Prefix> load_set_file(const std::string& path, const std::string& key_path) {
  std::string text;
  try {
    text = YamlNode::read_file(path);
  } catch (const ConfigError& e) {
    throw ConfigError(e.where(), key_path, e.message());
  }
  return parse_set_text(text, path, key_path);
}

void sort_set_prefixes(std::vector<Prefix>& prefixes) {
  // Feeds are often written sorted: then there is nothing to do. One look at each pair of
  // neighbours; a list that is not sorted fails it within its first lines.
  const auto out_of_order = [](const Prefix& a, const Prefix& b) { return !set_order(a, b); };
  if (std::adjacent_find(prefixes.begin(), prefixes.end(), out_of_order) == prefixes.end()) return;
  // IPv4 prefixes packed into 64 bits (address, then length) sort much faster than Prefixes
  // compared byte by byte; a feed is mostly IPv4.
  const auto v4_count = static_cast<std::size_t>(std::count_if(
      prefixes.begin(), prefixes.end(), [](const Prefix& p) { return p.family == Family::ipv4; }));
  std::vector<uint64_t> v4;
  std::vector<Prefix> v6;
  v4.reserve(v4_count);
  v6.reserve(prefixes.size() - v4_count);
  for (const Prefix& p : prefixes) {
    if (p.family == Family::ipv4) {
      v4.push_back(packed_v4(p));
    } else {
      v6.push_back(p);
    }
  }
  sort_packed_v4(v4);
  v4.erase(std::unique(v4.begin(), v4.end()), v4.end());
  std::sort(v6.begin(), v6.end(), set_order);
  v6.erase(std::unique(v6.begin(), v6.end()), v6.end());
  prefixes.clear();
  prefixes.reserve(v4.size() + v6.size());
  for (const uint64_t key : v4) {
    prefixes.push_back(Prefix{Family::ipv4, static_cast<uint8_t>(key & 0xff),
                              address_bytes(Family::ipv4, key >> 8)});
  }
  prefixes.insert(prefixes.end(), v6.begin(), v6.end());
}

SetFileChange set_file_change(const std::vector<Prefix>& before, const std::vector<Prefix>& after,
                              unsigned slot, std::size_t limit) {
  SetFileChange change;
  change.slot = slot;
  // One merge of the two sorted lists: what only `before` has went, what only `after` has came.
  auto b = before.begin();
  auto a = after.begin();
  while (change.size() <= limit) {
    if (b == before.end()) {
      if (a == after.end()) break;
      change.added.push_back(*a++);
    } else if (a == after.end() || set_order(*b, *a)) {
      change.removed.push_back(*b++);
    } else if (set_order(*a, *b)) {
      change.added.push_back(*a++);
    } else {
      ++a;
      ++b;
    }
  }
  return change;
}

uint16_t SetModel::covering_bits(const Map& m, unsigned width, const Key& key,
                                 Map::const_iterator at) const {
  // The longest prefix strictly covering `key` has them all in its effective bits. Prefixes
  // covering `key` come before it in address order, the longest last: when the entry just
  // before it covers it, that is the one. Else any that does covers that entry too (prefixes
  // nest or lie apart), so it is shorter than that entry and no longer than the bits the two
  // addresses share; nothing before it, nothing covers it.
  if (at == m.begin()) return 0;
  const auto before = std::prev(at);
  const Key& near = before->first;
  if (near.length < key.length && (key.addr & prefix_mask(width, near.length)) == near.addr)
    return before->second.effective;
  const std::array<uint32_t, 129>& present = lengths_[width == 32 ? 0 : 1];
  for (unsigned length = std::min<unsigned>(
           {key.length, near.length, shared_bits(key.addr, near.addr, width) + 1});
       length-- > 0;) {
    if (present[length] == 0) continue;  // no prefix of this length to look for
    const auto it =
        m.find(Key{key.addr & prefix_mask(width, length), static_cast<uint8_t>(length)});
    if (it != m.end()) return it->second.effective;
  }
  return 0;
}

void SetModel::refresh_under(Family family, const Key& key, uint16_t covering,
                             std::vector<SetRoute>* changes) {
  Map& m = map(family);
  const unsigned width = width_of(family);
  const U128 last = key.addr | (~prefix_mask(width, key.length) & full_mask(width));
  const Key end{last, 255};  // (an iterator would not survive the erasures below)
  // A stack of the enclosing prefixes seen so far (address order visits a prefix's
  // sub-prefixes right after it), each with its effective bits.
  std::vector<std::pair<Key, uint16_t>> stack;
  for (auto it = m.lower_bound(key); it != m.end() && !(end < it->first);) {
    while (!stack.empty()) {
      const Key& top = stack.back().first;
      if (it->first.length >= top.length &&
          (it->first.addr & prefix_mask(width, top.length)) == top.addr) {
        break;
      }
      stack.pop_back();
    }
    const uint16_t parent = stack.empty() ? covering : stack.back().second;
    Value& value = it->second;
    if (value.own == 0) {  // in no set any more: the route goes, its sub-prefixes re-derive
      if (changes != nullptr) {
        changes->push_back(
            {Prefix{family, it->first.length, address_bytes(family, it->first.addr)}, 0});
      }
      --lengths_[family_index(family)][it->first.length];
      it = m.erase(it);
      continue;
    }
    const auto effective = static_cast<uint16_t>(value.own | parent);
    if (effective != value.effective) {
      value.effective = effective;
      if (changes != nullptr) {
        changes->push_back(
            {Prefix{family, it->first.length, address_bytes(family, it->first.addr)}, effective});
      }
    }
    stack.emplace_back(it->first, effective);
    ++it;
  }
}

bool SetModel::add(const Prefix& prefix, unsigned slot, std::vector<SetRoute>& changes) {
  return add_entry(prefix, slot, false, changes);
}

bool SetModel::add_entry(const Prefix& prefix, unsigned slot, bool from_file,
                         std::vector<SetRoute>& changes) {
  Map& m = map(prefix.family);
  const Key key{address_value(prefix.family, prefix.addr), prefix.length};
  const auto bit = static_cast<uint16_t>(1U << slot);
  auto [it, inserted] = m.try_emplace(key);
  if (inserted) ++lengths_[family_index(prefix.family)][key.length];
  if (from_file) it->second.file = static_cast<uint16_t>(it->second.file | bit);
  if ((it->second.own & bit) != 0) return false;
  it->second.own = static_cast<uint16_t>(it->second.own | bit);
  ++counts_[slot][family_index(prefix.family)];
  // (`it` is not used after this: refresh_under may erase entries.)
  refresh_under(prefix.family, key, covering_bits(m, width_of(prefix.family), key, it), &changes);
  return true;
}

bool SetModel::remove(const Prefix& prefix, unsigned slot, std::vector<SetRoute>& changes) {
  Map& m = map(prefix.family);
  const auto it = m.find(Key{address_value(prefix.family, prefix.addr), prefix.length});
  return it != m.end() && remove_entry(prefix.family, it, slot, changes);
}

bool SetModel::remove_entry(Family family, Map::iterator it, unsigned slot,
                            std::vector<SetRoute>& changes) {
  const auto bit = static_cast<uint16_t>(1U << slot);
  if ((it->second.own & bit) == 0) return false;
  it->second.own = static_cast<uint16_t>(it->second.own & ~bit);
  if ((it->second.file & bit) != 0) ++file_prefixes_taken_;
  it->second.file = static_cast<uint16_t>(it->second.file & ~bit);
  --counts_[slot][family_index(family)];
  const Key key = it->first;  // (refresh_under may erase the entry: `it` is not used after it)
  refresh_under(family, key, covering_bits(map(family), width_of(family), key, it), &changes);
  return true;
}

bool SetModel::list_from_file(const Prefix& prefix, unsigned slot, std::vector<SetRoute>& changes) {
  return add_entry(prefix, slot, true, changes);
}

void SetModel::unlist_from_file(const Prefix& prefix, unsigned slot, bool keep,
                                std::vector<SetRoute>& changes) {
  Map& m = map(prefix.family);
  const auto it = m.find(Key{address_value(prefix.family, prefix.addr), prefix.length});
  const auto bit = static_cast<uint16_t>(1U << slot);
  if (it == m.end() || (it->second.file & bit) == 0) return;
  it->second.file = static_cast<uint16_t>(it->second.file & ~bit);
  // With no file bit left, not counted as taken out.
  if (!keep) (void)remove_entry(prefix.family, it, slot, changes);
}

std::size_t SetModel::flush(unsigned slot, std::vector<SetRoute>& changes) {
  const auto bit = static_cast<uint16_t>(1U << slot);
  const std::size_t removed = counts_[slot][0] + counts_[slot][1];
  for (const Family family : {Family::ipv4, Family::ipv6}) {
    Map& m = map(family);
    bool touched = false;
    for (auto& [key, value] : m) {
      if ((value.own & bit) == 0) continue;
      value.own = static_cast<uint16_t>(value.own & ~bit);
      if ((value.file & bit) != 0) ++file_prefixes_taken_;
      value.file = static_cast<uint16_t>(value.file & ~bit);
      touched = true;
    }
    counts_[slot][family_index(family)] = 0;
    if (touched && !m.empty()) refresh_under(family, Key{0, 0}, 0, &changes);
  }
  return removed;
}

void SetModel::add_all(const std::vector<Prefix>& prefixes, unsigned slot) {
  const auto bit = static_cast<uint16_t>(1U << slot);
  for (const Family family : {Family::ipv4, Family::ipv6}) {
    std::vector<Key> keys;
    keys.reserve(static_cast<std::size_t>(
        std::count_if(prefixes.begin(), prefixes.end(),
                      [family](const Prefix& p) { return p.family == family; })));
    if (family == Family::ipv4) {
      // An IPv4 key fits in 40 bits: sorting those is three times faster than sorting Keys.
      std::vector<uint64_t> packed;
      packed.reserve(keys.capacity());
      for (const Prefix& p : prefixes) {
        if (p.family == family) {
          packed.push_back(packed_v4(p));
        }
      }
      // A set file's read comes sorted already (sort_set_prefixes).
      if (!std::is_sorted(packed.begin(), packed.end())) sort_packed_v4(packed);
      packed.erase(std::unique(packed.begin(), packed.end()), packed.end());
      for (const uint64_t key : packed)
        keys.push_back(Key{key >> 8, static_cast<uint8_t>(key & 0xff)});
    } else {
      for (const Prefix& p : prefixes) {
        if (p.family == family) keys.push_back(Key{address_value(family, p.addr), p.length});
      }
      if (!std::is_sorted(keys.begin(), keys.end())) std::sort(keys.begin(), keys.end());
      keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    }
    if (keys.empty()) continue;
    Map& m = map(family);
    if (m.empty()) {
      // A first load: the entries go in in address order, and being all of one set, each one's
      // effective bits are its own (no walk needed afterwards).
      for (const Key& key : keys) {
        m.emplace_hint(m.end(), key, Value{bit, bit, bit});
        ++lengths_[family_index(family)][key.length];
      }
      counts_[slot][family_index(family)] += keys.size();
      continue;
    }
    auto hint = m.lower_bound(keys.front());
    for (const Key& key : keys) {
      while (hint != m.end() && hint->first < key)
        ++hint;
      // `hint` stays the first entry after `key`: a new entry goes in just before it (an
      // insertion invalidates every iterator, so the hint is taken again from the new entry).
      Map::iterator it = hint;
      if (hint == m.end() || hint->first != key) {
        it = m.emplace_hint(hint, key, Value{});
        ++lengths_[family_index(family)][key.length];
      }
      hint = std::next(it);
      if ((it->second.own & bit) == 0) {
        it->second.own = static_cast<uint16_t>(it->second.own | bit);
        ++counts_[slot][family_index(family)];
      }
      it->second.file = static_cast<uint16_t>(it->second.file | bit);
    }
    refresh_under(family, Key{0, 0}, 0, nullptr);
  }
}

std::vector<SetRoute> SetModel::routes(Family family) const {
  std::vector<SetRoute> out;
  const Map& m = map(family);
  out.reserve(m.size());
  for (const auto& [key, value] : m) {
    out.push_back({Prefix{family, key.length, address_bytes(family, key.addr)}, value.effective});
  }
  return out;
}

std::vector<SetRoute> SetModel::routes_under(const Prefix& prefix, uint16_t& covering) const {
  const Family family = prefix.family;
  const Map& m = map(family);
  const unsigned width = width_of(family);
  const Key key{address_value(family, prefix.addr) & prefix_mask(width, prefix.length),
                prefix.length};
  const auto first = m.lower_bound(key);
  covering = covering_bits(m, width, key, first);
  const U128 last = key.addr | (~prefix_mask(width, key.length) & full_mask(width));
  std::vector<SetRoute> out;
  // A shorter prefix cannot start inside this one's range, so the range holds only its own.
  for (auto it = first, end = m.upper_bound(Key{last, 255}); it != end; ++it) {
    out.push_back({Prefix{family, it->first.length, address_bytes(family, it->first.addr)},
                   it->second.effective});
  }
  return out;
}

uint16_t SetModel::lookup(Family family, const std::array<uint8_t, 16>& address) const {
  const Map& m = map(family);
  const unsigned width = width_of(family);
  const U128 value = address_value(family, address);
  uint16_t bits = 0;
  for (unsigned length = 0; length <= width; ++length) {
    const auto it = m.find(Key{value & prefix_mask(width, length), static_cast<uint8_t>(length)});
    if (it != m.end()) bits = static_cast<uint16_t>(bits | it->second.own);
  }
  return bits;
}

bool SetModel::holds(const Prefix& prefix, unsigned slot) const {
  const Map& m = map(prefix.family);
  const auto it = m.find(Key{address_value(prefix.family, prefix.addr), prefix.length});
  return it != m.end() && (it->second.own & (1U << slot)) != 0;
}

bool SetModel::in_file(const Prefix& prefix, unsigned slot) const {
  const Map& m = map(prefix.family);
  const auto it = m.find(Key{address_value(prefix.family, prefix.addr), prefix.length});
  return it != m.end() && (it->second.file & (1U << slot)) != 0;
}

std::size_t SetModel::count(unsigned slot, Family family) const noexcept {
  return counts_[slot][family_index(family)];
}

std::vector<Prefix> SetModel::list(unsigned slot, std::size_t limit) const {
  std::vector<Prefix> out;
  for (const Family family : {Family::ipv4, Family::ipv6}) {
    for (const auto& [key, value] : map(family)) {
      if (out.size() >= limit) return out;
      if ((value.own & (1U << slot)) != 0) {
        out.push_back(Prefix{family, key.length, address_bytes(family, key.addr)});
      }
    }
  }
  return out;
}

std::size_t SetModel::route_count(Family family) const noexcept {
  return map(family).size();
}

}  // namespace udpsieve::rules
