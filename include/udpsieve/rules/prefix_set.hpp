#pragma once
/// Prefix sets: named lists of IPv4 and IPv6 prefixes that rules match with `src_set` and
/// `dst_set`, and the model the lookup tables are built from.
///
/// A packet's address is looked up once per family in a longest-prefix-match table whose
/// routes carry bits: bit i set means "the set in slot i holds this address". Because the
/// longest match wins, a route's bits must include the sets of every shorter prefix covering
/// it (10.0.0.0/8 in set A and 10.1.0.0/16 in set B give 10.1.2.3 the bits A|B). SetModel keeps
/// each prefix's own sets and these covering ("effective") bits, and says which routes change
/// when a prefix is added to or removed from a set. It is the authority the tables follow and
/// the reference the tests compare them against.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>

#include "udpsieve/rules/rule.hpp"

namespace udpsieve::rules {

/// Reads a set file's text: one IPv4 or IPv6 prefix or address per line; `#` or `;` starts a
/// comment (threat feeds write "192.0.2.0/24 ; SBL123"); blank lines are skipped; a prefix may
/// repeat. Throws ConfigError as `FILE:LINE:COL: KEY_PATH: message`. A /0 is refused: a rule
/// without src_set / dst_set matches every address already.
[[nodiscard]] std::vector<Prefix> parse_set_text(std::string_view text, const std::string& file,
                                                 const std::string& key_path);
/// Parses one prefix a set may hold (what a set file line or a set-add request gives): as
/// Prefix::parse, and refusing a /0. On failure returns nullopt and sets `error`.
[[nodiscard]] std::optional<Prefix> parse_set_prefix(std::string_view text, std::string& error);
/// "a, b" of the sets in `slots` (free slots left out), for messages naming the sets there are.
[[nodiscard]] std::string set_names_text(const std::vector<std::string>& slots);
/// Reads and parses the set file at `path` (missing or unreadable: ConfigError).
[[nodiscard]] std::vector<Prefix> load_set_file(const std::string& path,
                                                const std::string& key_path);

/// Sorts a set file's prefixes in address order (IPv4 first; a prefix before its longer
/// sub-prefixes at the same address) and drops repeats, so two reads of a file compare in one
/// pass (set_file_change).
void sort_set_prefixes(std::vector<Prefix>& prefixes);

/// What changed in the file of the set in `slot` between two reads.
struct SetFileChange {
  unsigned slot = 0;
  std::vector<Prefix> removed;  ///< listed before, not now
  std::vector<Prefix> added;    ///< listed now, not before
  [[nodiscard]] std::size_t size() const noexcept { return removed.size() + added.size(); }
  friend bool operator==(const SetFileChange&, const SetFileChange&) = default;
};
/// The change from `before` to `after`, both as sort_set_prefixes leaves them. The comparison
/// stops once the change has more than `limit` prefixes: it then holds `limit` + 1 of them, all
/// a caller needs to know that it is too large to apply (a file replaced by another).
[[nodiscard]] SetFileChange set_file_change(const std::vector<Prefix>& before,
                                            const std::vector<Prefix>& after, unsigned slot,
                                            std::size_t limit = SIZE_MAX);

/// A route of a lookup table: a prefix and the bits of every set holding its addresses. Bits 0
/// means "remove the route" (in SetModel's change lists).
struct SetRoute {
  Prefix prefix;
  uint16_t bits = 0;
};

/// Which sets hold which prefixes, with the covering bits of each (see the top of the file).
class SetModel {
 public:
  /// Adds `prefix` to the set in `slot`; appends the routes whose bits change to `changes`.
  /// Returns false when the set already held the prefix (nothing changes).
  bool add(const Prefix& prefix, unsigned slot, std::vector<SetRoute>& changes);
  /// Removes `prefix` from the set in `slot`; appends the routes that change (bits 0: gone).
  /// Returns false when the set did not hold it.
  bool remove(const Prefix& prefix, unsigned slot, std::vector<SetRoute>& changes);
  /// Removes every prefix of the set in `slot`; returns how many there were.
  std::size_t flush(unsigned slot, std::vector<SetRoute>& changes);
  /// Adds many prefixes at once, as read from the set's file (see in_file): faster than add()
  /// one by one.
  void add_all(const std::vector<Prefix>& prefixes, unsigned slot);
  /// The set's file lists `prefix` now (a reload applying the file's change): the set holds it
  /// as from its file; appends the routes that change. Returns true when the set did not hold
  /// it before (else a runtime entry did, and only the prefix's origin changes).
  bool list_from_file(const Prefix& prefix, unsigned slot, std::vector<SetRoute>& changes);
  /// The set's file no longer lists `prefix`: the set lets it go, or with `keep` (a runtime
  /// entry holds it) keeps it as a runtime entry only; appends the routes that change. Unlike
  /// remove(), the files stay intact (files_intact()): the model still holds what they list.
  void unlist_from_file(const Prefix& prefix, unsigned slot, bool keep,
                        std::vector<SetRoute>& changes);
  /// Whether the set in `slot` holds `prefix` because its file lists it (add_all) and no
  /// remove() or flush() took it out since.
  [[nodiscard]] bool in_file(const Prefix& prefix, unsigned slot) const;
  /// Whether every prefix add_all() put in is still held as from its file: no remove() or
  /// flush() took one out since. Only then does the model hold what its files list (plus what
  /// add() put in), so a reload that finds the files unchanged may keep it.
  [[nodiscard]] bool files_intact() const noexcept { return file_prefixes_taken_ == 0; }

  /// Every route of `family` with its bits, in address order.
  [[nodiscard]] std::vector<SetRoute> routes(Family family) const;
  /// The routes at or under `prefix` (the prefix itself first when it is one), in address
  /// order; `covering` gets the bits of the addresses of `prefix` no such route holds: the own
  /// bits of every prefix strictly covering it.
  [[nodiscard]] std::vector<SetRoute> routes_under(const Prefix& prefix, uint16_t& covering) const;
  /// Bits of the sets holding `address`: the plain definition (every covering prefix's own
  /// sets), for tests and `set test`.
  [[nodiscard]] uint16_t lookup(Family family, const std::array<uint8_t, 16>& address) const;
  /// Whether the set in `slot` holds exactly `prefix`.
  [[nodiscard]] bool holds(const Prefix& prefix, unsigned slot) const;
  /// Prefixes of the set in `slot` of `family`.
  [[nodiscard]] std::size_t count(unsigned slot, Family family) const noexcept;
  /// The set's prefixes in address order (IPv4 first), at most `limit`.
  [[nodiscard]] std::vector<Prefix> list(unsigned slot, std::size_t limit) const;
  /// Distinct prefixes (routes) of `family`.
  [[nodiscard]] std::size_t route_count(Family family) const noexcept;

 private:
  /// A prefix as an integer (IPv4 in the low 32 bits) and its length; ordered by address, then
  /// length, so a prefix's covering prefixes come before it and its sub-prefixes right after.
  __extension__ typedef unsigned __int128 Address;
  struct Key {
    Address addr = 0;
    uint8_t length = 0;
    friend auto operator<=>(const Key&, const Key&) = default;
  };
  struct Value {
    uint16_t own = 0;        ///< the sets listing exactly this prefix
    uint16_t effective = 0;  ///< own | the own bits of every covering prefix
    uint16_t file = 0;       ///< the part of own that came from the sets' files
  };
  /// A B-tree: a million prefixes in nodes of many entries, so a walk in address order reads
  /// memory in order and a lookup meets a few nodes, not twenty scattered ones. Every insertion
  /// and erasure invalidates its iterators.
  using Map = absl::btree_map<Key, Value>;

  [[nodiscard]] Map& map(Family family) noexcept { return family == Family::ipv4 ? v4_ : v6_; }
  [[nodiscard]] const Map& map(Family family) const noexcept {
    return family == Family::ipv4 ? v4_ : v6_;
  }
  /// add(); with `from_file` the set holds the prefix as from its file too (list_from_file).
  bool add_entry(const Prefix& prefix, unsigned slot, bool from_file,
                 std::vector<SetRoute>& changes);
  /// remove() of the prefix at `it` (of `family`'s map); false when `slot` does not hold it.
  bool remove_entry(Family family, Map::iterator it, unsigned slot, std::vector<SetRoute>& changes);
  /// Own bits of the prefixes strictly covering `key`; `at` is the first entry of `m` not
  /// before `key` (its own entry, or lower_bound).
  [[nodiscard]] uint16_t covering_bits(const Map& m, unsigned width, const Key& key,
                                       Map::const_iterator at) const;
  /// Recomputes the effective bits of `key` (which must be in the map) and of every prefix
  /// under it, appending those that change to `changes` (none: a load, which builds the
  /// tables from routes()).
  void refresh_under(Family family, const Key& key, uint16_t covering,
                     std::vector<SetRoute>* changes);

  Map v4_;
  Map v6_;
  std::array<std::array<std::size_t, 2>, kMaxSets> counts_{};
  std::size_t file_prefixes_taken_ = 0;  ///< see files_intact()
  /// Entries of each prefix length, per family: covering_bits looks only for lengths that
  /// some entry has (a feed's IPv6 prefixes have a handful of the 128).
  std::array<std::array<uint32_t, 129>, 2> lengths_{};
};

}  // namespace udpsieve::rules
