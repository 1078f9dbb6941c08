// Prefix sets: set files (every accepted form and every error line), the set model against a
// brute-force oracle (lookups, change lists replayed into a longest-prefix-match table, routes,
// counts, listing), `src_set` / `dst_set` in rules, and `sets:` in the configuration.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/temp_dir.hpp"
#include "udpsieve/common/config_error.hpp"
#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/config/config.hpp"
#include "udpsieve/rules/matcher.hpp"
#include "udpsieve/rules/prefix_set.hpp"
#include "udpsieve/rules/rule_json.hpp"
#include "udpsieve/rules/rule_loader.hpp"

namespace udpsieve::rules {
namespace {

using nlohmann::json;
using udpsieve::test::config_error_of;
using udpsieve::test::TempDir;

Prefix prefix(const char* text) {
  std::string error;
  const std::optional<Prefix> parsed = Prefix::parse(text, error);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << error;
  return parsed.value_or(Prefix{});
}

/// An address in the layout lookups take (IPv4 in the first four bytes).
std::array<uint8_t, 16> address(const char* text) {
  return prefix(text).addr;
}

std::vector<std::string> texts_of(const std::vector<Prefix>& list) {
  std::vector<std::string> out;
  for (const Prefix& p : list)
    out.push_back(p.to_string());
  return out;
}

std::vector<std::string> texts_of(const std::vector<SetRoute>& routes) {
  std::vector<std::string> out;
  for (const SetRoute& r : routes)
    out.push_back(r.prefix.to_string() + "=" + std::to_string(r.bits));
  return out;
}

// --- set files ---------------------------------------------------------------------------------

std::string set_error_of(const std::string& text) {
  return config_error_of([&] { (void)parse_set_text(text, "feed.txt", "sets.bogons"); });
}

TEST(PrefixSetFileTest, ParsesCommentsBlanksCrlfBothFamiliesAndDuplicates) {
  const std::vector<Prefix> got = parse_set_text(
      "# Spamhaus DROP, fetched nightly\r\n"
      "10.0.0.0/8\r\n"
      "  192.0.2.1   ; SBL123\r\n"
      "\r\n"
      "\t \t\n"
      "2001:db8::/32 # documentation\n"
      "\t198.51.100.0/24\t\n"
      "10.0.0.0/8\n"
      ";only a comment\n"
      "203.0.113.0/24;no space before the comment\n"
      "#\n"
      "::ffff:10.0.0.0/104\n"
      "2001:db8::1",  // the last line has no newline
      "feed.txt", "sets.bogons");
  EXPECT_EQ(texts_of(got),
            (std::vector<std::string>{"10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32",
                                      "198.51.100.0/24", "10.0.0.0/8", "203.0.113.0/24",
                                      "::ffff:10.0.0.0/104", "2001:db8::1/128"}));
  EXPECT_EQ(got[0].family, Family::ipv4);
  EXPECT_EQ(got[2].family, Family::ipv6);
  EXPECT_EQ(got[6].family, Family::ipv6);
}

TEST(PrefixSetFileTest, EmptyAndCommentOnlyFilesHoldNothing) {
  EXPECT_TRUE(parse_set_text("", "feed.txt", "sets.a").empty());
  EXPECT_TRUE(parse_set_text("\n\n\r\n", "feed.txt", "sets.a").empty());
  EXPECT_TRUE(parse_set_text("# nothing yet\n; really\n", "feed.txt", "sets.a").empty());
}

TEST(PrefixSetFileTest, ErrorMessages) {
  struct Case {
    const char* description;
    std::string text;
    std::string error;
  };
  const std::string kEvery =
      " holds every address; a rule without src_set / dst_set already matches them all";
  const Case cases[] = {
      {"bad IPv4 address, indented, on line 2", "10.0.0.0/8\n  10.0.0.300\n",
       "feed.txt:2:3: sets.bogons: '10.0.0.300' is not an IPv4 address"},
      {"bad IPv6 address with a comment", "# x\n\n2001:db8::g/32 ; y\n",
       "feed.txt:3:1: sets.bogons: '2001:db8::g' is not an IPv6 address"},
      {"after CRLF lines", "10.0.0.0/8\r\n192.0.2.0/24\r\n\tnonsense\r\n",
       "feed.txt:3:2: sets.bogons: 'nonsense' is not an IPv4 address"},
      {"IPv4 length out of range", "10.0.0.0/33\n",
       "feed.txt:1:1: sets.bogons: prefix length 33 is out of range 0-32 for IPv4"},
      {"IPv6 length out of range", "2001:db8::/129\n",
       "feed.txt:1:1: sets.bogons: prefix length 129 is out of range 0-128 for IPv6"},
      {"length not a number", "10.0.0.0/x8\n",
       "feed.txt:1:1: sets.bogons: 'x8' is not a prefix length"},
      {"length missing", " 10.0.0.0/\n",
       "feed.txt:1:2: sets.bogons: '10.0.0.0/' has no prefix length after '/'"},
      {"no address", "/24\n", "feed.txt:1:1: sets.bogons: '/24' has no address before '/'"},
      {"IPv4 host bits", "10.0.0.0/8\n10.0.0.1/8 ; typo\n",
       "feed.txt:2:1: sets.bogons: 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)"},
      {"IPv6 host bits", "2001:db8::1/32\n",
       "feed.txt:1:1: sets.bogons: 2001:db8::1/32 has host bits set (did you mean "
       "2001:db8::/32?)"},
      {"IPv4 /0", "192.0.2.0/24\n   0.0.0.0/0\n", "feed.txt:2:4: sets.bogons: 0.0.0.0/0" + kEvery},
      {"IPv6 /0", "::/0 # everything\n", "feed.txt:1:1: sets.bogons: ::/0" + kEvery},
      {"two prefixes on a line", "  10.0.0.0/8 192.0.2.0/24 ; two\n",
       "feed.txt:1:14: sets.bogons: one prefix per line: '192.0.2.0/24' follows '10.0.0.0/8' "
       "(comments start with # or ;)"},
      {"a word after the prefix", "10.0.0.0/8\n192.0.2.0/24\tSBL123\n",
       "feed.txt:2:14: sets.bogons: one prefix per line: 'SBL123' follows '192.0.2.0/24' "
       "(comments start with # or ;)"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(set_error_of(c.text), c.error) << c.description;
  }
}

// With several blanks between two tokens the column still points at the second token and the
// message quotes it without the blanks.
TEST(PrefixSetFileTest, TwoTokensSeparatedBySeveralBlanks) {
  EXPECT_EQ(set_error_of("10.0.0.0/8   192.0.2.0/24\n"),
            "feed.txt:1:14: sets.bogons: one prefix per line: '192.0.2.0/24' follows '10.0.0.0/8' "
            "(comments start with # or ;)");
  EXPECT_EQ(set_error_of("10.0.0.0/8\t\tSBL123\n"),
            "feed.txt:1:13: sets.bogons: one prefix per line: 'SBL123' follows '10.0.0.0/8' "
            "(comments start with # or ;)");
}

TEST(PrefixSetFileTest, LoadSetFile) {
  const TempDir dir;
  const std::string good = dir.write("good.txt", "10.0.0.0/8\n2001:db8::/32\n");
  EXPECT_EQ(texts_of(load_set_file(good, "sets.a")),
            (std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32"}));
  const std::string bad = dir.write("bad.txt", "10.0.0.0/8\n\n10.0.0.1/8\n");
  EXPECT_EQ(config_error_of([&] { (void)load_set_file(bad, "sets.a"); }),
            bad + ":3:1: sets.a: 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)");
  const std::string missing = dir.file("missing.txt");
  EXPECT_EQ(config_error_of([&] { (void)load_set_file(missing, "sets.a"); }),
            missing + ": sets.a: cannot open file: No such file or directory");
}

TEST(PrefixSetFileTest, TwoReadsOfAFileCompareAfterSorting) {
  std::vector<Prefix> before = {
      prefix("10.0.0.0/16"), prefix("2001:db8::/32"), prefix("10.0.0.0/8"),  prefix("192.0.2.1"),
      prefix("10.0.0.0/16"), prefix("::1"),           prefix("9.255.0.0/16")};
  sort_set_prefixes(before);
  EXPECT_EQ(texts_of(before),
            (std::vector<std::string>{"9.255.0.0/16", "10.0.0.0/8", "10.0.0.0/16", "192.0.2.1/32",
                                      "::1/128", "2001:db8::/32"}));
  std::vector<Prefix> after = {prefix("2001:db8::/48"), prefix("10.0.0.0/8"), prefix("192.0.2.1"),
                               prefix("::1"), prefix("203.0.113.0/24")};
  sort_set_prefixes(after);
  const SetFileChange change = set_file_change(before, after, 3);
  EXPECT_EQ(change.slot, 3u);
  EXPECT_EQ(texts_of(change.removed),
            (std::vector<std::string>{"9.255.0.0/16", "10.0.0.0/16", "2001:db8::/32"}));
  EXPECT_EQ(texts_of(change.added), (std::vector<std::string>{"203.0.113.0/24", "2001:db8::/48"}));
  EXPECT_EQ(change.size(), 5u);
  EXPECT_EQ(set_file_change(after, after, 0).size(), 0u);
  // The packed IPv4 sort (by radix from 4,096 prefixes on) and the byte-wise IPv6 one agree
  // with a plain sort on random lists.
  std::mt19937_64 rng(7);
  std::vector<Prefix> random;
  for (int i = 0; i < 30000; ++i) {
    Prefix p{rng() % 3 == 0 ? Family::ipv6 : Family::ipv4, 0, {}};
    const unsigned width = p.family == Family::ipv4 ? 32 : 128;
    p.length = static_cast<uint8_t>(1 + rng() % width);
    for (unsigned bit = 0; bit < p.length; ++bit) {
      if (rng() % (bit < 8 ? 8 : 2) == 0)
        p.addr[bit / 8] |= static_cast<uint8_t>(0x80u >> (bit % 8));
    }
    random.push_back(p);
  }
  std::vector<Prefix> want = random;
  std::sort(want.begin(), want.end(), [](const Prefix& a, const Prefix& b) {
    return std::tie(a.family, a.addr, a.length) < std::tie(b.family, b.addr, b.length);
  });
  want.erase(std::unique(want.begin(), want.end()), want.end());
  sort_set_prefixes(random);
  EXPECT_EQ(random, want);
  // A list in order already stays as it is; one that is in order but for a repeated prefix, or
  // for one pair of neighbours, is sorted.
  sort_set_prefixes(random);
  EXPECT_EQ(random, want);
  ASSERT_GT(want.size(), 10000u);  // (repeats among the random ones are gone)
  const std::size_t middle = want.size() / 2;
  std::vector<Prefix> repeated = want;
  repeated.insert(repeated.begin() + static_cast<std::ptrdiff_t>(middle), want[middle]);
  sort_set_prefixes(repeated);
  EXPECT_EQ(repeated, want);
  std::vector<Prefix> swapped = want;
  std::swap(swapped[middle], swapped[middle + 1]);
  sort_set_prefixes(swapped);
  EXPECT_EQ(swapped, want);
}

// The change between two sorted reads is what each has that the other has not, as the standard
// library's set difference finds it; with a limit the comparison stops one prefix past it.
TEST(PrefixSetFileTest, ChangesBetweenTwoReadsStopPastTheLimit) {
  std::mt19937_64 rng(11);
  const auto random_list = [&rng](std::size_t n) {
    std::vector<Prefix> list;
    for (std::size_t i = 0; i < n; ++i) {
      Prefix p{rng() % 4 == 0 ? Family::ipv6 : Family::ipv4, 0, {}};
      p.length = p.family == Family::ipv4 ? 24 : 48;
      p.addr[0] = static_cast<uint8_t>(rng() % 4);  // few distinct prefixes: many in common
      p.addr[1] = static_cast<uint8_t>(rng() % 64);
      list.push_back(p);
    }
    sort_set_prefixes(list);
    return list;
  };
  for (int round = 0; round < 50; ++round) {
    const std::vector<Prefix> before = random_list(rng() % 600);
    const std::vector<Prefix> after = random_list(rng() % 600);
    SetFileChange want;
    want.slot = 2;
    const auto order = [](const Prefix& a, const Prefix& b) {
      return std::tie(a.family, a.addr, a.length) < std::tie(b.family, b.addr, b.length);
    };
    std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                        std::back_inserter(want.removed), order);
    std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                        std::back_inserter(want.added), order);
    ASSERT_EQ(set_file_change(before, after, 2), want) << "round " << round;
    ASSERT_EQ(set_file_change(before, after, 2, want.size()), want) << "round " << round;
    if (want.size() == 0) continue;
    const std::size_t limit = rng() % want.size();
    EXPECT_EQ(set_file_change(before, after, 2, limit).size(), limit + 1) << "round " << round;
  }
  const std::vector<Prefix> list = random_list(500);
  EXPECT_EQ(set_file_change(list, {}, 0, 9).removed.size(), 10U);
  EXPECT_EQ(set_file_change({}, list, 0, 9).added.size(), 10U);
  EXPECT_EQ(set_file_change(list, list, 0, 0).size(), 0U);
}

// --- the set model: hand-made cases ------------------------------------------------------------

TEST(SetModelTest, CoveringPrefixesGiveTheirBitsToLongerOnes) {
  SetModel model;
  std::vector<SetRoute> changes;
  ASSERT_TRUE(model.add(prefix("10.1.0.0/16"), 2, changes));
  EXPECT_EQ(texts_of(changes), std::vector<std::string>{"10.1.0.0/16=4"});
  changes.clear();
  ASSERT_TRUE(model.add(prefix("10.0.0.0/8"), 0, changes));
  EXPECT_EQ(texts_of(changes), (std::vector<std::string>{"10.0.0.0/8=1", "10.1.0.0/16=5"}));
  EXPECT_EQ(texts_of(model.routes(Family::ipv4)),
            (std::vector<std::string>{"10.0.0.0/8=1", "10.1.0.0/16=5"}));
  EXPECT_EQ(model.lookup(Family::ipv4, address("10.1.2.3")), 5);
  EXPECT_EQ(model.lookup(Family::ipv4, address("10.2.2.3")), 1);
  EXPECT_EQ(model.lookup(Family::ipv4, address("11.1.2.3")), 0);
  EXPECT_EQ(model.lookup(Family::ipv6, address("::a01:203")), 0);  // families are separate

  changes.clear();  // already there: nothing changes
  EXPECT_FALSE(model.add(prefix("10.0.0.0/8"), 0, changes));
  EXPECT_FALSE(model.remove(prefix("10.0.0.0/8"), 1, changes));
  EXPECT_FALSE(model.remove(prefix("10.0.0.0/9"), 0, changes));
  EXPECT_TRUE(changes.empty());

  // The same prefix in a second set: its route and the routes under it change.
  ASSERT_TRUE(model.add(prefix("10.0.0.0/8"), 15, changes));
  EXPECT_EQ(texts_of(changes), (std::vector<std::string>{"10.0.0.0/8=32769", "10.1.0.0/16=32773"}));
  changes.clear();
  ASSERT_TRUE(model.remove(prefix("10.0.0.0/8"), 15, changes));
  ASSERT_TRUE(model.remove(prefix("10.0.0.0/8"), 0, changes));
  EXPECT_EQ(texts_of(changes), (std::vector<std::string>{"10.0.0.0/8=1", "10.1.0.0/16=5",
                                                         "10.0.0.0/8=0", "10.1.0.0/16=4"}));
  EXPECT_EQ(texts_of(model.routes(Family::ipv4)), std::vector<std::string>{"10.1.0.0/16=4"});
  EXPECT_EQ(model.route_count(Family::ipv4), 1u);
  EXPECT_EQ(model.lookup(Family::ipv4, address("10.1.2.3")), 4);
  EXPECT_EQ(model.lookup(Family::ipv4, address("10.2.2.3")), 0);
}

TEST(SetModelTest, FilesStayIntactUntilAPrefixAFileListsIsTakenOut) {
  SetModel model;
  std::vector<SetRoute> changes;
  model.add_all({prefix("10.0.0.0/8"), prefix("192.0.2.0/24")}, 0);
  model.add_all({prefix("2001:db8::/32")}, 1);
  EXPECT_TRUE(model.files_intact());
  // Runtime entries come and go without touching what the files listed; adding a prefix a
  // file lists changes nothing.
  ASSERT_TRUE(model.add(prefix("198.51.100.0/24"), 0, changes));
  ASSERT_FALSE(model.add(prefix("10.0.0.0/8"), 0, changes));
  ASSERT_TRUE(model.remove(prefix("198.51.100.0/24"), 0, changes));
  ASSERT_TRUE(model.add(prefix("192.0.2.0/24"), 1, changes));
  EXPECT_EQ(model.flush(1, changes), 2u);  // takes 2001:db8::/32 out of set 1's file
  EXPECT_FALSE(model.files_intact());

  SetModel removed;
  removed.add_all({prefix("10.0.0.0/8")}, 2);
  ASSERT_TRUE(removed.add(prefix("10.1.0.0/16"), 2, changes));
  EXPECT_EQ(removed.flush(3, changes), 0u);  // another set: nothing of the file's
  ASSERT_TRUE(removed.remove(prefix("10.1.0.0/16"), 2, changes));
  EXPECT_TRUE(removed.files_intact());
  ASSERT_TRUE(removed.remove(prefix("10.0.0.0/8"), 2, changes));
  // Added back at runtime, it is not the file's any more: still not intact.
  ASSERT_TRUE(removed.add(prefix("10.0.0.0/8"), 2, changes));
  EXPECT_FALSE(removed.in_file(prefix("10.0.0.0/8"), 2));
  EXPECT_FALSE(removed.files_intact());
}

TEST(SetModelTest, FlushCountsHoldsAndList) {
  SetModel model;
  std::vector<SetRoute> changes;
  for (const char* text :
       {"2001:db8::/32", "192.0.2.0/24", "10.0.0.0/8", "2001:db8:1::/48", "10.0.0.0/16"}) {
    ASSERT_TRUE(model.add(prefix(text), 3, changes));
  }
  ASSERT_TRUE(model.add(prefix("10.0.0.0/16"), 1, changes));
  ASSERT_TRUE(model.add(prefix("2001:db8::/32"), 1, changes));
  EXPECT_EQ(model.count(3, Family::ipv4), 3u);
  EXPECT_EQ(model.count(3, Family::ipv6), 2u);
  EXPECT_EQ(model.count(1, Family::ipv4), 1u);
  EXPECT_EQ(model.count(1, Family::ipv6), 1u);
  EXPECT_EQ(model.count(0, Family::ipv4), 0u);
  EXPECT_TRUE(model.holds(prefix("10.0.0.0/16"), 3));
  EXPECT_FALSE(model.holds(prefix("10.0.0.0/16"), 0));
  EXPECT_FALSE(model.holds(prefix("10.0.0.0/17"), 3));
  EXPECT_FALSE(model.holds(prefix("::a00:0/104"), 3));  // same bits, other family
  // Address order, then length; IPv4 first.
  EXPECT_EQ(texts_of(model.list(3, 100)),
            (std::vector<std::string>{"10.0.0.0/8", "10.0.0.0/16", "192.0.2.0/24", "2001:db8::/32",
                                      "2001:db8:1::/48"}));
  EXPECT_EQ(
      texts_of(model.list(3, 4)),
      (std::vector<std::string>{"10.0.0.0/8", "10.0.0.0/16", "192.0.2.0/24", "2001:db8::/32"}));
  EXPECT_TRUE(model.list(3, 0).empty());
  EXPECT_EQ(texts_of(model.list(1, 100)),
            (std::vector<std::string>{"10.0.0.0/16", "2001:db8::/32"}));

  changes.clear();
  EXPECT_EQ(model.flush(3, changes), 5u);
  EXPECT_EQ(texts_of(changes),
            (std::vector<std::string>{"10.0.0.0/8=0", "10.0.0.0/16=2", "192.0.2.0/24=0",
                                      "2001:db8::/32=2", "2001:db8:1::/48=0"}));
  EXPECT_EQ(model.count(3, Family::ipv4), 0u);
  EXPECT_EQ(model.count(3, Family::ipv6), 0u);
  EXPECT_TRUE(model.list(3, 100).empty());
  EXPECT_EQ(model.route_count(Family::ipv4), 1u);
  EXPECT_EQ(model.route_count(Family::ipv6), 1u);
  changes.clear();
  EXPECT_EQ(model.flush(3, changes), 0u);  // already empty
  EXPECT_EQ(model.flush(7, changes), 0u);  // never used
  EXPECT_TRUE(changes.empty());
}

// --- the set model against a brute-force oracle ------------------------------------------------

/// A prefix as an ordered key: family (IPv4 first), address bytes, length. Lexicographic bytes
/// are address order, so this is the order routes() and list() promise.
struct Key {
  Family family = Family::ipv4;
  std::array<uint8_t, 16> addr{};
  uint8_t length = 0;
  friend auto operator<=>(const Key&, const Key&) = default;
};

Key key_of(const Prefix& p) {
  return Key{p.family, p.addr, p.length};
}

Prefix prefix_of(const Key& k) {
  return Prefix{k.family, k.length, k.addr};
}

unsigned width_of(Family family) {
  return family == Family::ipv4 ? 32 : 128;
}

/// `addr` with every bit from `length` on cleared.
std::array<uint8_t, 16> masked(std::array<uint8_t, 16> addr, unsigned length) {
  for (unsigned bit = length; bit < 128; ++bit)
    addr[bit / 8] = static_cast<uint8_t>(addr[bit / 8] & ~(0x80u >> (bit % 8)));
  return addr;
}

void flip(std::array<uint8_t, 16>& addr, unsigned bit) {
  addr[bit / 8] = static_cast<uint8_t>(addr[bit / 8] ^ (0x80u >> (bit % 8)));
}

/// The obvious model: each prefix with the sets listing it, everything found by scanning.
class Oracle {
 public:
  bool add(const Prefix& p, unsigned slot) {
    uint16_t& bits = own_[key_of(p)];
    const bool fresh = (bits & (1u << slot)) == 0;
    bits = static_cast<uint16_t>(bits | (1u << slot));
    return fresh;
  }
  bool remove(const Prefix& p, unsigned slot) {
    const auto it = own_.find(key_of(p));
    if (it == own_.end() || (it->second & (1u << slot)) == 0) return false;
    it->second = static_cast<uint16_t>(it->second & ~(1u << slot));
    if (it->second == 0) own_.erase(it);
    return true;
  }
  std::size_t flush(unsigned slot) {
    std::size_t removed = 0;
    for (auto it = own_.begin(); it != own_.end();) {
      if ((it->second & (1u << slot)) != 0) {
        ++removed;
        it->second = static_cast<uint16_t>(it->second & ~(1u << slot));
      }
      it = it->second == 0 ? own_.erase(it) : std::next(it);
    }
    return removed;
  }
  /// OR of the sets of every prefix holding `addr`.
  [[nodiscard]] uint16_t lookup(Family family, const std::array<uint8_t, 16>& addr) const {
    uint16_t bits = 0;
    for (const auto& [k, own] : own_) {
      if (k.family == family && prefix_of(k).contains(addr))
        bits = static_cast<uint16_t>(bits | own);
    }
    return bits;
  }
  /// The routes a longest-prefix-match table needs: each prefix with the sets of every prefix
  /// covering it (itself included).
  [[nodiscard]] std::map<Key, uint16_t> routes() const {
    std::map<Key, uint16_t> out;
    for (const auto& [k, own] : own_) {
      uint16_t bits = 0;
      for (const auto& [c, c_own] : own_) {
        if (c.family == k.family && c.length <= k.length && prefix_of(c).contains(k.addr)) {
          bits = static_cast<uint16_t>(bits | c_own);
        }
      }
      out.emplace(k, bits);
    }
    return out;
  }
  [[nodiscard]] std::vector<Prefix> list(unsigned slot) const {
    std::vector<Prefix> out;
    for (const auto& [k, own] : own_) {
      if ((own & (1u << slot)) != 0) out.push_back(prefix_of(k));
    }
    return out;
  }
  [[nodiscard]] std::size_t count(unsigned slot, Family family) const {
    std::size_t n = 0;
    for (const auto& [k, own] : own_)
      n += k.family == family && (own & (1u << slot)) != 0 ? std::size_t{1} : std::size_t{0};
    return n;
  }
  [[nodiscard]] bool holds(const Prefix& p, unsigned slot) const {
    const auto it = own_.find(key_of(p));
    return it != own_.end() && (it->second & (1u << slot)) != 0;
  }
  [[nodiscard]] const std::map<Key, uint16_t>& entries() const { return own_; }

 private:
  std::map<Key, uint16_t> own_;  ///< only prefixes in at least one set
};

/// What a data-plane table looks like after replaying the model's change lists.
class LpmTable {
 public:
  /// Applies one change list, checking each change really changes something and no prefix
  /// appears twice in it.
  void apply(const std::vector<SetRoute>& changes) {
    std::set<Key> seen;
    for (const SetRoute& change : changes) {
      const Key k = key_of(change.prefix);
      EXPECT_TRUE(seen.insert(k).second) << "listed twice: " << change.prefix.to_string();
      const auto it = routes_.find(k);
      if (change.bits == 0) {
        EXPECT_NE(it, routes_.end()) << "removes a missing route " << change.prefix.to_string();
        if (it != routes_.end()) routes_.erase(it);
      } else {
        EXPECT_TRUE(it == routes_.end() || it->second != change.bits)
            << "no-op change " << change.prefix.to_string() << "=" << change.bits;
        routes_[k] = change.bits;
      }
    }
  }
  /// The bits of the longest route holding `addr`, 0 when none does.
  [[nodiscard]] uint16_t lookup(Family family, const std::array<uint8_t, 16>& addr) const {
    int best = -1;
    uint16_t bits = 0;
    for (const auto& [k, b] : routes_) {
      if (k.family == family && static_cast<int>(k.length) > best && prefix_of(k).contains(addr)) {
        best = k.length;
        bits = b;
      }
    }
    return bits;
  }
  [[nodiscard]] std::vector<SetRoute> routes(Family family) const {
    std::vector<SetRoute> out;
    for (const auto& [k, b] : routes_) {
      if (k.family == family) out.push_back({prefix_of(k), b});
    }
    return out;
  }
  void reset(std::map<Key, uint16_t> routes) { routes_ = std::move(routes); }

 private:
  std::map<Key, uint16_t> routes_;
};

/// Random prefixes that nest and neighbour each other: a few roots per family, each prefix a
/// root with a couple of bits flipped, cut at a length that is often a common one.
class PrefixPool {
 public:
  PrefixPool(std::mt19937_64& rng, std::size_t per_family) : rng_(rng) {
    for (const Family family : {Family::ipv4, Family::ipv6}) {
      std::vector<std::array<uint8_t, 16>> roots;
      for (int i = 0; i < 3; ++i)
        roots.push_back(random_address(family));
      for (std::size_t i = 0; i < per_family; ++i) {
        std::array<uint8_t, 16> addr = roots[rng_() % roots.size()];
        const unsigned width = width_of(family);
        for (unsigned flips = static_cast<unsigned>(rng_() % 3); flips > 0; --flips)
          flip(addr, 1 + static_cast<unsigned>(rng_() % (width - 1)));
        const unsigned length = random_length(family);
        Prefix p{family, static_cast<uint8_t>(length), masked(addr, length)};
        if (std::find(all_.begin(), all_.end(), p) == all_.end()) all_.push_back(p);
      }
    }
  }

  [[nodiscard]] const Prefix& pick() { return all_[rng_() % all_.size()]; }
  [[nodiscard]] const std::vector<Prefix>& all() const { return all_; }

  /// An address inside a pool prefix, just outside one, or anywhere.
  [[nodiscard]] std::pair<Family, std::array<uint8_t, 16>> random_lookup() {
    const Prefix& p = pick();
    std::array<uint8_t, 16> addr = p.addr;
    const unsigned width = width_of(p.family);
    for (unsigned bit = p.length; bit < width; ++bit) {
      if (rng_() % 2 != 0) flip(addr, bit);
    }
    switch (rng_() % 6) {
      case 0:  // a neighbour: one network bit flipped, often the last
        if (p.length > 0) {
          flip(addr, rng_() % 2 != 0 ? p.length - 1u : static_cast<unsigned>(rng_() % p.length));
        }
        break;
      case 1:  // the first or last address of the prefix
        addr = rng_() % 2 != 0 ? p.addr : last_address(p);
        break;
      case 2:
        addr = random_address(p.family);
        break;
      default:  // inside
        break;
    }
    return {p.family, addr};
  }

 private:
  std::array<uint8_t, 16> random_address(Family family) {
    std::array<uint8_t, 16> addr{};
    for (unsigned i = 0; i < width_of(family) / 8; ++i)
      addr[i] = static_cast<uint8_t>(rng_());
    return addr;
  }
  static std::array<uint8_t, 16> last_address(const Prefix& p) {
    std::array<uint8_t, 16> addr = p.addr;
    for (unsigned bit = p.length; bit < width_of(p.family); ++bit)
      addr[bit / 8] = static_cast<uint8_t>(addr[bit / 8] | (0x80u >> (bit % 8)));
    return addr;
  }
  unsigned random_length(Family family) {
    static constexpr unsigned kV4[] = {1, 8, 9, 16, 17, 23, 24, 25, 30, 31, 32};
    static constexpr unsigned kV6[] = {1, 16, 32, 33, 48, 56, 63, 64, 65, 120, 127, 128};
    if (rng_() % 200 == 0) return 0;  // the model takes /0 even though set files refuse it
    if (rng_() % 4 == 0) return 1 + static_cast<unsigned>(rng_() % width_of(family));
    return family == Family::ipv4 ? kV4[rng_() % std::size(kV4)] : kV6[rng_() % std::size(kV6)];
  }

  std::mt19937_64& rng_;
  std::vector<Prefix> all_;
};

std::string host_text(Family family, const std::array<uint8_t, 16>& addr) {
  return Prefix{family, static_cast<uint8_t>(width_of(family)), addr}.to_string();
}

/// A slot, mostly one of the first four (so sets overlap), sometimes any.
unsigned random_slot(std::mt19937_64& rng) {
  return static_cast<unsigned>(rng() % 4 != 0 ? rng() % 4 : rng() % kMaxSets);
}

/// Checks two route lists are equal, printing them as text only when they are not (printing
/// every time would make the random tests slow).
void expect_same_routes(const std::vector<SetRoute>& got, const std::vector<SetRoute>& want,
                        const char* what) {
  const bool same = std::equal(got.begin(), got.end(), want.begin(), want.end(),
                               [](const SetRoute& a, const SetRoute& b) {
                                 return a.prefix == b.prefix && a.bits == b.bits;
                               });
  if (!same) {
    EXPECT_EQ(texts_of(got), texts_of(want)) << what;
  }
}

/// Compares everything the model says with the oracle and the replayed table.
void check_model(const SetModel& model, const Oracle& oracle, const LpmTable& table,
                 PrefixPool& pool, std::mt19937_64& rng) {
  const std::map<Key, uint16_t> want_routes = oracle.routes();
  for (const Family family : {Family::ipv4, Family::ipv6}) {
    std::vector<SetRoute> want;
    for (const auto& [k, bits] : want_routes) {
      if (k.family == family) want.push_back({prefix_of(k), bits});
    }
    expect_same_routes(model.routes(family), want, "routes()");
    expect_same_routes(table.routes(family), want, "the replayed change lists");
    EXPECT_EQ(model.route_count(family), want.size());
    for (unsigned slot = 0; slot < kMaxSets; ++slot) {
      EXPECT_EQ(model.count(slot, family), oracle.count(slot, family)) << "slot " << slot;
    }
  }
  for (unsigned slot = 0; slot < kMaxSets; ++slot) {
    const std::vector<Prefix> want = oracle.list(slot);
    EXPECT_EQ(model.list(slot, want.size() + 5), want) << "slot " << slot;
    const std::size_t limit = rng() % (want.size() + 1);
    EXPECT_EQ(model.list(slot, limit),
              std::vector<Prefix>(want.begin(), want.begin() + static_cast<std::ptrdiff_t>(limit)))
        << "slot " << slot << " limit " << limit;
  }
  for (int i = 0; i < 4; ++i) {
    const Prefix& p = pool.pick();
    const unsigned slot = random_slot(rng);
    EXPECT_EQ(model.holds(p, slot), oracle.holds(p, slot)) << p.to_string() << " slot " << slot;
  }
  for (int i = 0; i < 16; ++i) {
    const auto [family, addr] = pool.random_lookup();
    const uint16_t want = oracle.lookup(family, addr);
    // (Messages are only built on failure.)
    EXPECT_EQ(model.lookup(family, addr), want) << host_text(family, addr);
    EXPECT_EQ(table.lookup(family, addr), want)
        << "longest match in the replayed table, " << host_text(family, addr);
  }
}

/// One random add, remove or flush on both the model and the oracle, its change list replayed.
void random_operation(SetModel& model, Oracle& oracle, LpmTable& table, PrefixPool& pool,
                      std::mt19937_64& rng, std::string& described) {
  std::vector<SetRoute> changes;
  const unsigned roll = static_cast<unsigned>(rng() % 100);
  if (roll < 2) {
    const unsigned slot = random_slot(rng);
    described = "flush " + std::to_string(slot);
    EXPECT_EQ(model.flush(slot, changes), oracle.flush(slot)) << described;
  } else if (roll < 55 || oracle.entries().empty()) {
    const Prefix& p = pool.pick();
    const unsigned slot = random_slot(rng);
    described = "add " + p.to_string() + " " + std::to_string(slot);
    EXPECT_EQ(model.add(p, slot, changes), oracle.add(p, slot)) << described;
  } else {
    Prefix p;
    unsigned slot = 0;
    if (rng() % 4 != 0) {  // usually something that is there
      auto it = oracle.entries().begin();
      std::advance(it, static_cast<std::ptrdiff_t>(rng() % oracle.entries().size()));
      p = prefix_of(it->first);
      std::vector<unsigned> slots;
      for (unsigned s = 0; s < kMaxSets; ++s) {
        if ((it->second & (1u << s)) != 0) slots.push_back(s);
      }
      slot = slots[rng() % slots.size()];
    } else {
      p = pool.pick();
      slot = random_slot(rng);
    }
    described = "remove " + p.to_string() + " " + std::to_string(slot);
    EXPECT_EQ(model.remove(p, slot, changes), oracle.remove(p, slot)) << described;
  }
  SCOPED_TRACE(described);
  table.apply(changes);
}

TEST(SetModelTest, RandomOperationsMatchTheOracle) {
  for (const uint64_t seed : {1u, 2u, 20240601u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    PrefixPool pool(rng, seed % 2 == 0 ? 12u : 24u);
    SetModel model;
    Oracle oracle;
    LpmTable table;
    std::string op;
    for (int i = 0; i < 2000 && !::testing::Test::HasFailure(); ++i) {
      random_operation(model, oracle, table, pool, rng, op);
      SCOPED_TRACE("operation " + std::to_string(i) + ": " + op);
      check_model(model, oracle, table, pool, rng);
    }
  }
}

TEST(SetModelTest, AFileChangeAppliedInPlaceEqualsReadingTheFileAfresh) {
  for (const uint64_t seed : {21u, 22u, 23u, 24u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    PrefixPool pool(rng, 30);
    const auto random_list = [&] {
      std::vector<Prefix> list;
      for (std::size_t n = rng() % 30; n > 0; --n)
        list.push_back(pool.pick());
      return list;
    };
    // Files of three sets, and runtime entries, some of them prefixes the files list.
    std::array<std::vector<Prefix>, 3> files;
    std::vector<std::pair<unsigned, Prefix>> runtime;
    SetModel model;
    Oracle oracle;
    std::vector<SetRoute> changes;
    for (unsigned slot = 0; slot < files.size(); ++slot) {
      files[slot] = random_list();
      model.add_all(files[slot], slot);
      for (const Prefix& p : files[slot])
        (void)oracle.add(p, slot);
      sort_set_prefixes(files[slot]);
    }
    for (int i = 0; i < 12; ++i) {
      const auto slot = static_cast<unsigned>(rng() % files.size());
      runtime.emplace_back(slot, rng() % 2 == 0 || files[slot].empty()
                                     ? pool.pick()
                                     : files[slot][rng() % files[slot].size()]);
      (void)model.add(runtime.back().second, slot, changes);
      (void)oracle.add(runtime.back().second, slot);
    }
    LpmTable table;
    table.reset(oracle.routes());
    const auto is_runtime = [&](unsigned slot, const Prefix& p) {
      return std::find(runtime.begin(), runtime.end(), std::pair(slot, p)) != runtime.end();
    };
    for (int round = 0; round < 8 && !::testing::Test::HasFailure(); ++round) {
      SCOPED_TRACE("round " + std::to_string(round));
      // Each file loses some of its prefixes and gains others; then its change is applied as a
      // reload applies it, each step's change list replayed onto the table.
      for (unsigned slot = 0; slot < files.size(); ++slot) {
        std::vector<Prefix> next;
        for (const Prefix& p : files[slot]) {
          if (rng() % 3 != 0) next.push_back(p);
        }
        const std::vector<Prefix> more = random_list();
        next.insert(next.end(), more.begin(), more.end());
        sort_set_prefixes(next);
        const SetFileChange change = set_file_change(files[slot], next, slot);
        for (const Prefix& p : change.removed) {
          std::vector<SetRoute> step;
          model.unlist_from_file(p, slot, is_runtime(slot, p), step);
          table.apply(step);
        }
        for (const Prefix& p : change.added) {
          std::vector<SetRoute> step;
          const bool held = model.holds(p, slot);
          EXPECT_EQ(model.list_from_file(p, slot, step), !held) << p.to_string();
          table.apply(step);
        }
        files[slot] = next;
      }
      // The same as reading the files afresh and adding the runtime entries again.
      SetModel fresh;
      oracle = Oracle();
      for (unsigned slot = 0; slot < files.size(); ++slot) {
        fresh.add_all(files[slot], slot);
        for (const Prefix& p : files[slot])
          (void)oracle.add(p, slot);
      }
      for (const auto& [slot, p] : runtime) {
        (void)fresh.add(p, slot, changes);
        (void)oracle.add(p, slot);
      }
      check_model(model, oracle, table, pool, rng);
      EXPECT_TRUE(model.files_intact());
      for (const Prefix& p : pool.all()) {
        for (unsigned slot = 0; slot < files.size(); ++slot) {
          EXPECT_EQ(model.in_file(p, slot), fresh.in_file(p, slot)) << p.to_string() << " " << slot;
        }
      }
    }
  }
}

TEST(SetModelTest, AddAllEqualsAddingOneByOne) {
  for (const uint64_t seed : {11u, 12u, 13u, 14u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    PrefixPool pool(rng, 30);
    SetModel bulk;
    SetModel single;
    Oracle oracle;
    std::vector<SetRoute> ignored;
    // A few rounds of file loads into sets, some into sets that already hold prefixes, with
    // duplicates inside a load and across loads.
    for (int round = 0; round < 6; ++round) {
      const unsigned slot = random_slot(rng);
      std::vector<Prefix> load;
      for (std::size_t n = rng() % 40; n > 0; --n)
        load.push_back(pool.pick());
      bulk.add_all(load, slot);
      for (const Prefix& p : load) {
        (void)single.add(p, slot, ignored);
        (void)oracle.add(p, slot);
      }
      for (const Family family : {Family::ipv4, Family::ipv6}) {
        expect_same_routes(bulk.routes(family), single.routes(family), "add_all");
        EXPECT_EQ(bulk.route_count(family), single.route_count(family));
        for (unsigned s = 0; s < kMaxSets; ++s)
          EXPECT_EQ(bulk.count(s, family), single.count(s, family)) << "slot " << s;
      }
      for (unsigned s = 0; s < kMaxSets; ++s)
        EXPECT_EQ(bulk.list(s, 1000), single.list(s, 1000)) << "slot " << s;
    }
    bulk.add_all({}, 5);  // nothing to add
    // The bulk-loaded model keeps working: its change lists, replayed onto the table the oracle
    // says it stands for, keep the table right.
    LpmTable table;
    table.reset(oracle.routes());
    check_model(bulk, oracle, table, pool, rng);
    std::string op;
    for (int i = 0; i < 400 && !::testing::Test::HasFailure(); ++i) {
      random_operation(bulk, oracle, table, pool, rng, op);
      SCOPED_TRACE("operation " + std::to_string(i) + ": " + op);
      check_model(bulk, oracle, table, pool, rng);
    }
  }
}

// --- src_set / dst_set in rules ----------------------------------------------------------------

const std::vector<std::string> kPorts = {"wan", "lan"};
const std::vector<std::string> kSlots = {"resolvers", "", "bogons"};  // slot 1 is free

std::vector<Rule> load_rules(const std::string& yaml,
                             const std::vector<std::string>& slots = kSlots) {
  RuleCollector collector(kPorts, slots);
  collector.add_document(YamlNode::load_string(yaml, "rules.yaml"));
  return collector.take().to_vector();
}

std::string rule_error_of(const std::string& yaml, const std::vector<std::string>& slots = kSlots) {
  return config_error_of([&] { (void)load_rules(yaml, slots); });
}

/// A rule file with one rule whose match is `match` (the match's '{' is at 3:12).
std::string one_rule(const std::string& match) {
  return "rules:\n  - id: a\n    match: " + match + "\n    action: drop\n";
}

TEST(SetRulesTest, NamesResolveToSlotBits) {
  const std::vector<Rule> rules = load_rules(
      "rules:\n"
      "  - id: one\n"
      "    match: {src_set: resolvers, dst_port: 53}\n"
      "    action: drop\n"
      "  - id: list\n"
      "    match: {src_set: [bogons, resolvers, bogons], dst_set: bogons}\n"
      "    action: drop\n"
      "  - id: dst-only\n"
      "    match:\n"
      "      dst_set: [resolvers]\n"
      "      src: 192.0.2.0/24\n"
      "    action: forward\n"
      "  - id: none\n"
      "    action: drop\n");
  ASSERT_EQ(rules.size(), 4u);
  EXPECT_EQ(rules[0].match.src_set, std::vector<std::string>{"resolvers"});
  EXPECT_EQ(rules[0].match.src_sets, 1u);
  EXPECT_TRUE(rules[0].match.dst_set.empty());
  EXPECT_EQ(rules[0].match.dst_sets, 0u);
  EXPECT_EQ(rules[1].match.src_set, (std::vector<std::string>{"bogons", "resolvers"}));
  EXPECT_EQ(rules[1].match.src_sets, 0b101u);
  EXPECT_EQ(rules[1].match.dst_set, std::vector<std::string>{"bogons"});
  EXPECT_EQ(rules[1].match.dst_sets, 0b100u);
  EXPECT_TRUE(rules[2].match.src_set.empty());
  EXPECT_EQ(rules[2].match.src_sets, 0u);
  EXPECT_EQ(rules[2].match.dst_set, std::vector<std::string>{"resolvers"});
  EXPECT_EQ(rules[2].match.dst_sets, 1u);
  EXPECT_EQ(rules[2].match.src, std::vector<Prefix>{prefix("192.0.2.0/24")});
  EXPECT_TRUE(rules[3].match.src_set.empty());
  EXPECT_EQ(rules[3].match.src_sets, 0u);

  // Sixteen sets: the last slot is bit 15.
  std::vector<std::string> full;
  for (std::size_t i = 0; i < kMaxSets; ++i)
    full.push_back("s" + std::to_string(i));
  const std::vector<Rule> wide = load_rules(one_rule("{src_set: [s15, s0], dst_set: s7}"), full);
  ASSERT_EQ(wide.size(), 1u);
  EXPECT_EQ(wide[0].match.src_sets, 0x8001u);
  EXPECT_EQ(wide[0].match.dst_sets, 0x80u);
}

TEST(SetRulesTest, ErrorMessages) {
  struct Case {
    const char* description;
    std::string match;
    std::string error;
    std::vector<std::string> slots = kSlots;
  };
  const Case cases[] = {
      {"unknown set", "{src_set: partners}",
       "rules.yaml:3:22: rules[0].match.src_set: unknown set \"partners\" (sets are: resolvers, "
       "bogons)"},
      {"unknown set in a list", "{src_set: [resolvers, partners]}",
       "rules.yaml:3:34: rules[0].match.src_set[1]: unknown set \"partners\" (sets are: "
       "resolvers, bogons)"},
      {"unknown dst_set", "{dst_port: 53, dst_set: [Bogons]}",
       "rules.yaml:3:37: rules[0].match.dst_set[0]: unknown set \"Bogons\" (sets are: resolvers, "
       "bogons)"},
      {"no sets configured",
       "{src_set: bogons}",
       "rules.yaml:3:22: rules[0].match.src_set: unknown set \"bogons\" (no sets are configured)",
       {}},
      {"only free slots",
       "{dst_set: bogons}",
       "rules.yaml:3:22: rules[0].match.dst_set: unknown set \"bogons\" (no sets are configured)",
       {"", ""}},
      {"empty list", "{src_set: []}",
       "rules.yaml:3:22: rules[0].match.src_set: empty list matches nothing; remove the key to "
       "match any"},
      {"empty dst_set list", "{dst_set: []}",
       "rules.yaml:3:22: rules[0].match.dst_set: empty list matches nothing; remove the key to "
       "match any"},
      {"null", "{src_set: null}",
       "rules.yaml:3:22: rules[0].match.src_set: no value given; remove the key to match any "
       "packet"},
      {"null dst_set", "{dst_set: ~}",
       "rules.yaml:3:22: rules[0].match.dst_set: no value given; remove the key to match any "
       "packet"},
      // An empty name must not pick the free slot.
      {"empty name", "{src_set: \"\"}",
       "rules.yaml:3:22: rules[0].match.src_set: must not be empty"},
      {"empty name in a list", "{src_set: [bogons, '']}",
       "rules.yaml:3:31: rules[0].match.src_set[1]: must not be empty"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(rule_error_of(one_rule(c.match), c.slots), c.error) << c.description;
  }
}

TEST(SetRulesTest, JsonRoundTrip) {
  const std::vector<Rule> rules = load_rules(one_rule(
      "{src_set: [bogons, resolvers], dst_set: resolvers, src: 10.0.0.0/8, dst_port: 53}"));
  ASSERT_EQ(rules.size(), 1u);
  const json written = rule_to_json(rules[0], kPorts);
  EXPECT_EQ(written["match"]["src_set"], json::array({"bogons", "resolvers"}));
  EXPECT_EQ(written["match"]["dst_set"], json::array({"resolvers"}));

  const json request = {{"rules", json::array({written})}};
  const std::vector<Rule> back =
      RuleCollector(kPorts, kSlots)
          .parse_list(YamlNode::from_json(request, "runtime").require("rules"));
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].match, rules[0].match);
  EXPECT_EQ(rule_to_json(back[0], kPorts), written);

  // Names are what is written: read back under other slots, the bits follow the names.
  const std::vector<Rule> moved =
      RuleCollector(kPorts, {"bogons", "resolvers"})
          .parse_list(YamlNode::from_json(request, "").require("rules"));
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved[0].match.src_set, rules[0].match.src_set);
  EXPECT_EQ(moved[0].match.src_sets, 0b11u);
  EXPECT_EQ(moved[0].match.dst_sets, 0b10u);

  // A rule without sets writes neither key.
  const std::vector<Rule> plain = load_rules(one_rule("{dst_port: 53}"));
  EXPECT_FALSE(rule_to_json(plain[0], kPorts)["match"].contains("src_set"));
  EXPECT_FALSE(rule_to_json(plain[0], kPorts)["match"].contains("dst_set"));

  // Unknown names in a runtime rule fail like in a file, without a position.
  const json unknown = {{"rules", json::array({{{"id", "x"},
                                                {"match", {{"dst_set", json::array({"nope"})}}},
                                                {"action", "drop"}}})}};
  EXPECT_EQ(config_error_of([&] {
              (void)RuleCollector(kPorts, kSlots)
                  .parse_list(YamlNode::from_json(unknown, "").require("rules"));
            }),
            "rules[0].match.dst_set[0]: unknown set \"nope\" (sets are: resolvers, bogons)");
}

TEST(SetRulesTest, ReferenceMatcherHonoursTheBits) {
  const std::vector<Rule> rules = load_rules(
      "rules:\n"
      "  - {id: from-bogons, match: {src_set: [bogons]}, action: drop}\n"
      "  - {id: resolver-to-bogon, match: {src_set: resolvers, dst_set: bogons}, action: drop}\n"
      "  - {id: to-either, match: {dst_set: [resolvers, bogons], dst_port: 53}, action: drop}\n"
      "  - {id: rest, action: forward}\n");
  ASSERT_EQ(rules.size(), 4u);
  struct Case {
    uint16_t src_sets;
    uint16_t dst_sets;
    uint16_t dst_port;
    int32_t want;
  };
  const Case cases[] = {
      {0b000, 0b000, 53, 3},                           // in no set
      {0b100, 0b000, 53, 0},                           // source in bogons
      {0b111, 0b000, 53, 0},   {0b001, 0b100, 80, 1},  // resolver to bogon
      {0b001, 0b001, 80, 3},                           // resolver to resolver, not port 53
      {0b001, 0b001, 53, 2},   {0b010, 0b010, 53, 3},  // the free slot's bit is no set's
      {0b000, 0b100, 53, 2},   {0b000, 0b100, 54, 3},
      {0xfffa, 0xfffa, 53, 3},  // every bit but the rules' sets
  };
  for (const Case& c : cases) {
    PacketKey key;
    key.family = Family::ipv4;
    key.has_ports = true;
    key.src_port = 4000;
    key.dst_port = c.dst_port;
    key.src_sets = c.src_sets;
    key.dst_sets = c.dst_sets;
    EXPECT_EQ(reference_match(rules, key), c.want)
        << "src_sets " << c.src_sets << " dst_sets " << c.dst_sets << " port " << c.dst_port;
  }
  PacketKey key;
  key.family = Family::ipv6;
  key.src_sets = 0b100;
  EXPECT_TRUE(rule_matches(rules[0], key));
  key.src_sets = 0b011;
  EXPECT_FALSE(rule_matches(rules[0], key));
}

}  // namespace
}  // namespace udpsieve::rules

// --- sets in the configuration -----------------------------------------------------------------

namespace udpsieve::config {
namespace {

using udpsieve::test::config_error_of;
using udpsieve::test::TempDir;

// Lines 1-9: eal and two ports (as in config_loader_test.cpp); sections after it start at 10.
const std::string kValid =
    "eal:\n  lcores: [0, 1]\n"
    "ports:\n"
    "  - name: wan\n"
    "    device: \"0000:3b:00.0\"\n"
    "    forward_to: lan\n"
    "  - name: lan\n"
    "    device: \"0000:3b:00.1\"\n"
    "    forward_to: wan\n";

DaemonConfig parse(const std::string& yaml) {
  return parse_daemon_config(yaml, "udpsieve.yaml", "/etc/udpsieve");
}

std::string error_of(const std::string& yaml) {
  return config_error_of([&] { (void)parse(yaml); });
}

std::vector<SetConfig> named(std::initializer_list<const char*> names) {
  std::vector<SetConfig> out;
  for (const char* name : names)
    out.push_back(SetConfig{name, std::string("/x/") + name, {}, std::string("sets.") + name});
  return out;
}

TEST(SetConfigTest, ParsesSets) {
  const DaemonConfig config = parse(kValid +
                                    "sets:\n"
                                    "  resolvers: {file: sets/resolvers.txt}\n"
                                    "  bogons:\n"
                                    "    file: /var/lib/feeds/bogons.txt\n"
                                    "  A.b-c_9: {file: ../x.txt}\n");
  ASSERT_EQ(config.sets.size(), 3u);
  EXPECT_EQ(config.sets[0].name, "resolvers");
  EXPECT_EQ(config.sets[0].file, "/etc/udpsieve/sets/resolvers.txt");
  EXPECT_EQ(config.sets[0].key_path, "sets.resolvers");
  EXPECT_EQ(config.sets[0].where.to_string(), "udpsieve.yaml:11:21");
  EXPECT_EQ(config.sets[1].name, "bogons");
  EXPECT_EQ(config.sets[1].file, "/var/lib/feeds/bogons.txt");
  EXPECT_EQ(config.sets[1].key_path, "sets.bogons");
  EXPECT_EQ(config.sets[1].where.to_string(), "udpsieve.yaml:13:11");
  EXPECT_EQ(config.sets[2].name, "A.b-c_9");
  EXPECT_EQ(config.sets[2].file, "/etc/x.txt");

  EXPECT_TRUE(parse(kValid).sets.empty());
  EXPECT_TRUE(parse(kValid + "sets: {}\n").sets.empty());
  EXPECT_TRUE(parse(kValid + "sets:\n").sets.empty());  // like an empty pipeline:
  EXPECT_EQ(parse(kValid + "sets: {7: {file: a}}\n").sets.at(0).name, "7");

  // Names up to 32 characters; up to sixteen sets.
  const std::string longest(32, 'n');
  EXPECT_EQ(parse(kValid + "sets: {" + longest + ": {file: a}}\n").sets.at(0).name, longest);
  std::string sixteen = kValid + "sets:\n";
  for (int i = 0; i < 16; ++i)
    sixteen += "  s" + std::to_string(i) + ": {file: f" + std::to_string(i) + "}\n";
  EXPECT_EQ(parse(sixteen).sets.size(), 16u);
}

TEST(SetConfigTest, ErrorMessages) {
  struct Case {
    const char* description;
    std::string sets;  // line 10 on
    std::string error;
  };
  const std::string kNameRule = "a set name is 1-32 letters, digits, '_', '-' or '.'";
  std::string seventeen = "sets:\n";
  for (int i = 0; i < 17; ++i)
    seventeen += "  s" + std::to_string(i) + ": {file: f" + std::to_string(i) + "}\n";
  const Case cases[] = {
      {"space in a name", "sets:\n  \"a b\": {file: x}\n",
       "udpsieve.yaml:11:10: sets.a b: " + kNameRule},
      {"slash in a name", "sets:\n  ok: {file: x}\n  a/b: {file: y}\n",
       "udpsieve.yaml:12:8: sets.a/b: " + kNameRule},
      {"33 characters", "sets:\n  " + std::string(33, 'n') + ": {file: x}\n",
       "udpsieve.yaml:11:38: sets." + std::string(33, 'n') + ": " + kNameRule},
      {"empty name", "sets:\n  \"\": {file: x}\n", "udpsieve.yaml:11:7: sets.: " + kNameRule},
      {"seventeen sets", seventeen,
       "udpsieve.yaml:27:8: sets.s16: at most 16 sets may be declared (a set lookup returns one "
       "bit per set)"},
      {"unknown key", "sets:\n  a: {file: x, format: plain}\n",
       "udpsieve.yaml:11:16: sets.a.format: unknown key (expected one of: file)"},
      {"missing file", "sets:\n  a: {}\n",
       "udpsieve.yaml:11:6: sets.a.file: required key is missing"},
      {"empty file", "sets:\n  a: {file: \"\"}\n",
       "udpsieve.yaml:11:13: sets.a.file: must not be empty"},
      {"set without a value", "sets:\n  a:\n",
       "udpsieve.yaml:11:5: sets.a: expected a mapping, got nothing"},
      {"set is a string", "sets:\n  a: a.txt\n",
       "udpsieve.yaml:11:6: sets.a: expected a mapping, got 'a.txt'"},
      {"sets is a list", "sets: [a]\n", "udpsieve.yaml:10:7: sets: expected a mapping, got a list"},
      {"name given twice", "sets:\n  a: {file: x}\n  a: {file: y}\n",
       "udpsieve.yaml:12:3: sets.a: 'a' is given twice"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(error_of(kValid + c.sets), c.error) << c.description;
  }
}

TEST(SetConfigTest, AssignSetSlots) {
  using Slots = std::vector<std::string>;
  // No running configuration: config order.
  EXPECT_EQ(assign_set_slots(named({"a", "b", "c"}), {}), (Slots{"a", "b", "c"}));
  EXPECT_EQ(assign_set_slots({}, {}), Slots{});
  // Sets keep their slots; a new set fills the first hole.
  EXPECT_EQ(assign_set_slots(named({"a", "b", "c"}), {"b", "", "a"}), (Slots{"b", "c", "a"}));
  EXPECT_EQ(assign_set_slots(named({"c", "a", "b"}), {"a", "b"}), (Slots{"a", "b", "c"}));
  // A removed set frees its slot for a newcomer.
  EXPECT_EQ(assign_set_slots(named({"a", "c", "d"}), {"a", "b", "c"}), (Slots{"a", "d", "c"}));
  EXPECT_EQ(assign_set_slots(named({"c"}), {"a", "b", "c"}), (Slots{"", "", "c"}));
  EXPECT_EQ(assign_set_slots(named({"d", "e", "c"}), {"a", "b", "c"}), (Slots{"d", "e", "c"}));
  EXPECT_EQ(assign_set_slots(named({"d", "e", "f", "c"}), {"a", "b", "c"}),
            (Slots{"d", "e", "c", "f"}));
  // Holes at the end are trimmed.
  EXPECT_EQ(assign_set_slots(named({"a"}), {"a", "b", "c"}), Slots{"a"});
  EXPECT_EQ(assign_set_slots({}, {"a", "b", "c"}), Slots{});
  EXPECT_EQ(assign_set_slots(named({"b"}), {"a", "b", "", ""}), (Slots{"", "b"}));

  // Sixteen sets, every one of them in another slot before.
  std::vector<SetConfig> sixteen;
  Slots previous;
  for (int i = 0; i < 16; ++i) {
    sixteen.push_back(SetConfig{"s" + std::to_string(i), "/f", {}, ""});
    previous.insert(previous.begin(), "s" + std::to_string(i));
  }
  EXPECT_EQ(assign_set_slots(sixteen, previous), previous);
  // Sixteen sets whose even slots went to sets since removed: the sets that lost their slot
  // (s15, s13, ..., s1 were in the even slots) take the holes in config order.
  Slots others = previous;
  for (std::size_t i = 0; i < 16; i += 2)
    others[i] = "old" + std::to_string(i);
  Slots want = others;
  const char* const kMoved[] = {"s1", "s3", "s5", "s7", "s9", "s11", "s13", "s15"};
  for (std::size_t i = 0; i < 8; ++i)
    want[2 * i] = kMoved[i];
  EXPECT_EQ(assign_set_slots(sixteen, others), want);
  // A name further out than sixteen slots is no slot at all.
  Slots far(20);
  far[18] = "a";
  EXPECT_EQ(assign_set_slots(named({"b", "a"}), far), (Slots{"b", "a"}));
}

/// A config in `dir` with `sets` (line 10 on) and rule file rules.yaml.
std::string write_config(const TempDir& dir, const std::string& sets) {
  return dir.write("udpsieve.yaml", kValid + sets + "pipeline:\n  rules: [rules.yaml]\n");
}

const std::string kSets =
    "sets:\n"
    "  resolvers: {file: sets/resolvers.txt}\n"
    "  bogons:\n"
    "    file: bogons.txt\n";

TEST(SetConfigTest, LoadConfigAndRulesReadsSetFiles) {
  const TempDir dir;
  (void)dir.write("sets/resolvers.txt", "# our resolvers\n192.0.2.53\n2001:db8::53\n");
  (void)dir.write("bogons.txt", "10.0.0.0/8\n192.168.0.0/16 ; RFC 1918\n10.0.0.0/8\nfc00::/7\n\n");
  (void)dir.write("rules.yaml",
                  "rules:\n"
                  "  - id: bogon-to-resolver\n"
                  "    match: {src_set: bogons, dst_set: [resolvers]}\n"
                  "    action: drop\n");
  const std::string path = write_config(dir, kSets);

  const LoadedConfig loaded = load_config_and_rules(path);
  EXPECT_EQ(loaded.config.sets.at(0).file, dir.file("sets/resolvers.txt"));
  EXPECT_EQ(loaded.set_slots, (std::vector<std::string>{"resolvers", "bogons"}));
  ASSERT_NE(loaded.sets, nullptr);
  const rules::SetModel& model = *loaded.sets;
  EXPECT_EQ(model.count(0, rules::Family::ipv4), 1u);
  EXPECT_EQ(model.count(0, rules::Family::ipv6), 1u);
  EXPECT_EQ(model.count(1, rules::Family::ipv4), 2u);  // the duplicate counts once
  EXPECT_EQ(model.count(1, rules::Family::ipv6), 1u);
  EXPECT_EQ(model.route_count(rules::Family::ipv4), 3u);
  EXPECT_EQ(rules::texts_of(model.list(1, 10)),
            (std::vector<std::string>{"10.0.0.0/8", "192.168.0.0/16", "fc00::/7"}));
  EXPECT_EQ(model.lookup(rules::Family::ipv4, rules::address("10.9.9.9")), 2u);
  EXPECT_EQ(model.lookup(rules::Family::ipv4, rules::address("192.0.2.53")), 1u);
  EXPECT_EQ(model.lookup(rules::Family::ipv6, rules::address("fd00::1")), 2u);
  ASSERT_EQ(loaded.rules.size(), 1u);
  EXPECT_EQ(loaded.rules[0].match.src_sets, 0b10u);
  EXPECT_EQ(loaded.rules[0].match.dst_sets, 0b01u);

  // A reload keeps each set in its slot: the bits of the rules follow.
  const LoadedConfig reloaded = load_config_and_rules(path, {"bogons", "gone", "resolvers"});
  EXPECT_EQ(reloaded.set_slots, (std::vector<std::string>{"bogons", "", "resolvers"}));
  ASSERT_NE(reloaded.sets, nullptr);
  EXPECT_EQ(reloaded.sets->count(0, rules::Family::ipv4), 2u);
  EXPECT_EQ(reloaded.sets->count(2, rules::Family::ipv4), 1u);
  EXPECT_EQ(reloaded.sets->count(1, rules::Family::ipv4), 0u);
  EXPECT_EQ(reloaded.sets->lookup(rules::Family::ipv4, rules::address("10.9.9.9")), 1u);
  ASSERT_EQ(reloaded.rules.size(), 1u);
  EXPECT_EQ(reloaded.rules[0].match.src_sets, 0b001u);
  EXPECT_EQ(reloaded.rules[0].match.dst_sets, 0b100u);

  // Without sets there is no model and no slot.
  (void)dir.write("rules.yaml", "rules:\n  - {id: r, action: drop}\n");
  const LoadedConfig plain = load_config_and_rules(write_config(dir, ""));
  EXPECT_TRUE(plain.set_slots.empty());
  EXPECT_EQ(plain.sets, nullptr);
}

TEST(SetConfigTest, SetFilesWhoseStampsVouchForTheRunningSetsAreNotRead) {
  const TempDir dir;
  const std::string resolvers = dir.write("sets/resolvers.txt", "192.0.2.53\n");
  (void)dir.write("bogons.txt", "10.0.0.0/8\n");
  (void)dir.write("rules.yaml", "rules:\n  - {id: r, match: {src_set: bogons}, action: drop}\n");
  const std::string path = write_config(dir, kSets);
  const LoadedConfig first = load_config_and_rules(path);
  ASSERT_EQ(first.set_files.size(), 2u);
  EXPECT_EQ(first.set_files[0].name, "resolvers");
  EXPECT_EQ(first.set_files[0].path, resolvers);
  EXPECT_TRUE(first.set_files[0].stamp.valid);
  EXPECT_FALSE(first.sets_kept);
  // Read just after they were written: their times might not move with the next change.
  const auto reload = [&](const std::vector<SetFileRead>& running,
                          const std::vector<std::string>& slots = {"resolvers", "bogons"}) {
    return load_config_and_rules(path, slots, nullptr, &running);
  };
  // Read again, they are compared with what the running sets were read from: the same, so
  // the running sets go on as they are.
  LoadedConfig again = reload(first.set_files);
  EXPECT_TRUE(again.sets_kept);
  EXPECT_EQ(again.sets, nullptr);
  EXPECT_TRUE(again.set_changes.empty());
  EXPECT_EQ(again.sets_base, first.set_files);
  EXPECT_NE(again.set_files[0].stamp, first.set_files[0].stamp) << "read again, stamped anew";
  ASSERT_NE(again.set_files[1].prefixes, nullptr);
  EXPECT_EQ(rules::texts_of(*again.set_files[1].prefixes),
            (std::vector<std::string>{"10.0.0.0/8"}));

  // Read long after they changed: kept, standing for the same reads.
  std::vector<SetFileRead> aged = first.set_files;
  for (SetFileRead& read : aged)
    read.stamp.read_at_ns += 3'000'000'000;
  const LoadedConfig kept = reload(aged);
  EXPECT_TRUE(kept.sets_kept);
  EXPECT_EQ(kept.sets, nullptr);
  EXPECT_EQ(kept.set_files, aged);
  EXPECT_EQ(kept.sets_base, aged);
  EXPECT_TRUE(kept.set_changes.empty());
  EXPECT_EQ(kept.set_files[1].prefixes, aged[1].prefixes) << "the read's prefixes, not read again";
  EXPECT_EQ(kept.set_slots, (std::vector<std::string>{"resolvers", "bogons"}));
  ASSERT_EQ(kept.rules.size(), 1u);
  EXPECT_EQ(kept.rules[0].match.src_sets, 0b10u);
  // Without the running sets' files, or when the slots change (a set left): read.
  EXPECT_FALSE(load_config_and_rules(path, {"resolvers", "bogons"}).sets_kept);
  again = reload(aged, {"resolvers", "gone", "bogons"});
  EXPECT_FALSE(again.sets_kept);
  EXPECT_EQ(again.set_slots, (std::vector<std::string>{"resolvers", "", "bogons"}));
  // Another file for a set, or a set more: read.
  std::vector<SetFileRead> other_path = aged;
  other_path[1].path = dir.file("other.txt");
  EXPECT_FALSE(reload(other_path).sets_kept);
  (void)dir.write("extra.txt", "198.51.100.0/24\n");
  const std::string more = write_config(dir, kSets + "  extra: {file: extra.txt}\n");
  EXPECT_FALSE(load_config_and_rules(more, {"resolvers", "bogons"}, nullptr, &aged).sets_kept);
  (void)write_config(dir, kSets);
  EXPECT_TRUE(reload(aged).sets_kept);
  // A set file written since: read, and compared with its read; the running sets go on,
  // taking the change.
  (void)dir.write("bogons.txt", "172.16.0.0/12\n10.0.0.0/8\n192.168.0.0/16\n");
  again = reload(aged);
  EXPECT_TRUE(again.sets_kept);
  EXPECT_EQ(again.sets_base, aged);
  EXPECT_EQ(again.set_files[0], aged[0]);
  EXPECT_NE(again.set_files[1], aged[1]);
  ASSERT_EQ(again.set_changes.size(), 1u);
  EXPECT_EQ(again.set_changes[0].slot, 1u);
  EXPECT_TRUE(again.set_changes[0].removed.empty());
  EXPECT_EQ(rules::texts_of(again.set_changes[0].added),
            (std::vector<std::string>{"172.16.0.0/12", "192.168.0.0/16"}));
  // Without the prefixes of the read (none to compare with): built afresh from the files.
  std::vector<SetFileRead> bare = aged;
  bare[1].prefixes = nullptr;
  again = reload(bare);
  EXPECT_FALSE(again.sets_kept);
  ASSERT_NE(again.sets, nullptr);
  EXPECT_EQ(again.sets->count(1, rules::Family::ipv4), 3u);
  EXPECT_EQ(again.sets->count(0, rules::Family::ipv4), 1u);
  EXPECT_TRUE(again.set_changes.empty());
  // A change of more than kMaxSetFileChange prefixes: built afresh too, the unchanged file
  // from its read's prefixes.
  std::string many;
  for (std::size_t i = 0; i <= config::kMaxSetFileChange; ++i) {
    many += "10." + std::to_string(i >> 16) + "." + std::to_string((i >> 8) & 255) + "." +
            std::to_string(i & 255) + "\n";
  }
  (void)dir.write("bogons.txt", many);
  again = reload(aged);
  EXPECT_FALSE(again.sets_kept);
  ASSERT_NE(again.sets, nullptr);
  EXPECT_EQ(again.sets->count(1, rules::Family::ipv4), config::kMaxSetFileChange + 1);
  EXPECT_EQ(again.sets->count(0, rules::Family::ipv4), 1u);
  EXPECT_TRUE(again.set_changes.empty());
  EXPECT_EQ(again.set_files[0].prefixes, aged[0].prefixes);
}

TEST(SetConfigTest, LoadConfigAndRulesErrors) {
  const TempDir dir;
  (void)dir.write("sets/resolvers.txt", "192.0.2.53\n");
  (void)dir.write("rules.yaml", "rules:\n  - {id: r, match: {src_set: bogons}, action: drop}\n");
  const std::string path = write_config(dir, kSets);
  const auto error = [&] { return config_error_of([&] { (void)load_config_and_rules(path); }); };

  // The set file is missing, then a directory.
  EXPECT_EQ(error(), path + ":13:11: sets.bogons.file: no such file: " + dir.file("bogons.txt"));
  dir.mkdir("bogons.txt");
  EXPECT_EQ(error(),
            path + ":13:11: sets.bogons.file: not a regular file: " + dir.file("bogons.txt"));
  std::filesystem::remove(dir.file("bogons.txt"));

  // An error inside a set file names the file and the set.
  (void)dir.write("bogons.txt", "10.0.0.0/8\n# next\n  192.168.0.1/16\n");
  EXPECT_EQ(error(), dir.file("bogons.txt") +
                         ":3:3: sets.bogons: 192.168.0.1/16 has host bits set (did you mean "
                         "192.168.0.0/16?)");
  (void)dir.write("bogons.txt", "10.0.0.0/8 10.1.0.0/16\n");
  EXPECT_EQ(error(), dir.file("bogons.txt") +
                         ":1:12: sets.bogons: one prefix per line: '10.1.0.0/16' follows "
                         "'10.0.0.0/8' (comments start with # or ;)");

  // A rule naming a set the configuration lacks lists the configured ones in slot order.
  (void)dir.write("bogons.txt", "10.0.0.0/8\n");
  (void)dir.write("rules.yaml", "rules:\n  - {id: r, match: {src_set: martians}, action: drop}\n");
  EXPECT_EQ(config_error_of([&] {
              (void)load_config_and_rules(path, {"", "bogons", "", "resolvers"});
            }),
            dir.file("rules.yaml") +
                ":2:30: rules[0].match.src_set: unknown set \"martians\" (sets are: bogons, "
                "resolvers)");
}

}  // namespace
}  // namespace udpsieve::config
