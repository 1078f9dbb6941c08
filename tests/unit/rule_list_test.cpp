// RuleList (rules in shared blocks) and RuleSet's id index.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "udpsieve/rules/rule_list.hpp"
#include "udpsieve/rules/rule_set.hpp"

namespace {

using udpsieve::rules::Rule;
using udpsieve::rules::RuleList;
using udpsieve::rules::RuleSet;
using udpsieve::rules::Verdict;

std::vector<Rule> named(const std::string& prefix, std::size_t count) {
  std::vector<Rule> rules(count);
  for (std::size_t i = 0; i < count; ++i)
    rules[i].id = prefix + std::to_string(i);
  return rules;
}

std::vector<std::string> ids_of(const RuleList& list) {
  std::vector<std::string> ids;
  for (const Rule& rule : list)
    ids.push_back(rule.id);
  return ids;
}

TEST(RuleList, BlocksAreSharedNotCopied) {
  const RuleList::Block a = std::make_shared<const std::vector<Rule>>(named("a", 3));
  const RuleList::Block b = std::make_shared<const std::vector<Rule>>(named("b", 2));
  RuleList list;
  list.append(a);
  list.append(nullptr);  // a file without rules
  list.append(std::make_shared<const std::vector<Rule>>());
  list.append(b);
  ASSERT_EQ(list.size(), 5U);
  EXPECT_EQ(ids_of(list), (std::vector<std::string>{"a0", "a1", "a2", "b0", "b1"}));
  EXPECT_EQ(&list[1], &(*a)[1]) << "the list points into the block";
  EXPECT_EQ(&list.at(4), &(*b)[1]);
  EXPECT_THROW((void)list.at(5), std::out_of_range);
  EXPECT_EQ(list.end() - list.begin(), 5);
  EXPECT_EQ(std::find_if(list.begin(), list.end(), [](const Rule& r) { return r.id == "b0"; }) -
                list.begin(),
            3);

  // A slice keeps the blocks alive after the list it came from is gone.
  RuleList slice;
  {
    RuleList whole = list;
    slice.append(whole, 2, 2);
  }
  EXPECT_EQ(ids_of(slice), (std::vector<std::string>{"a2", "b0"}));
  EXPECT_EQ(&slice[1], &(*b)[0]);
  EXPECT_GE(a.use_count(), 3) << "list, slice and this test hold block a";
  EXPECT_THROW(slice.append(list, 4, 2), std::out_of_range);
  EXPECT_THROW(slice.append(list, 6, 0), std::out_of_range);
  slice.append(list, 5, 0);
  EXPECT_EQ(slice.size(), 2U);

  const std::vector<Rule> copy = list.to_vector();
  ASSERT_EQ(copy.size(), 5U);
  EXPECT_EQ(copy[3].id, "b0");
  EXPECT_NE(&copy[3], &list[3]);
}

TEST(RuleList, PlainListsAndBracesMakeOneBlock) {
  const RuleList from_vector(named("r", 4));
  EXPECT_EQ(ids_of(from_vector), (std::vector<std::string>{"r0", "r1", "r2", "r3"}));
  Rule one;
  one.id = "only";
  const RuleList braces{one};
  ASSERT_EQ(braces.size(), 1U);
  EXPECT_EQ(braces[0].id, "only");
  EXPECT_TRUE(RuleList().empty());
  EXPECT_TRUE(RuleList(std::vector<Rule>{}).empty());
}

TEST(RuleSetIndex, FindsEveryIdAtItsPosition) {
  // Many ids across blocks, in a table that is at most half full: every probe chain is
  // walked, found or not.
  RuleList list;
  std::vector<std::string> ids;
  for (std::size_t block = 0; block < 7; ++block) {
    std::vector<Rule> rules = named("b" + std::to_string(block) + "-", 5000 + block * 13);
    for (const Rule& rule : rules)
      ids.push_back(rule.id);
    list.append(std::make_shared<const std::vector<Rule>>(std::move(rules)));
  }
  const RuleSet set(list, Verdict::forward, Verdict::drop);
  EXPECT_EQ(set.default_action(), Verdict::forward);
  EXPECT_EQ(set.non_udp(), Verdict::drop);
  std::mt19937 random(7);
  std::shuffle(ids.begin(), ids.end(), random);
  for (const std::string& id : ids) {
    const std::size_t at = set.position(id);
    ASSERT_NE(at, RuleSet::npos) << id;
    EXPECT_EQ(set.rules()[at].id, id);
    EXPECT_EQ(set.find(id), &set.rules()[at]);
  }
  for (const char* absent : {"", "b0", "b0-", "b7-0", "b0-5000", "b6-5078", "x"}) {
    EXPECT_EQ(set.position(absent), RuleSet::npos) << absent;
    EXPECT_EQ(set.find(absent), nullptr) << absent;
  }
}

RuleList::Block block(std::vector<Rule> rules) {
  return std::make_shared<const std::vector<Rule>>(std::move(rules));
}

/// Three rule files of 40, 30 and 50 rules (a0..., b0..., c0...) and the list of all three.
struct ThreeFiles {
  RuleList::Block a = block(named("a", 40));
  RuleList::Block b = block(named("b", 30));
  RuleList::Block c = block(named("c", 50));
  RuleList before = [this] {
    RuleList list;
    for (const auto& file : {a, b, c})
      list.append(file);
    return list;
  }();
};

TEST(RuleSetIndex, PositionsOfAListSharingBlocksAreTheIdsPositions) {
  // The set before: three files. The lists after: one file changed (ids kept, dropped and
  // added, a different length), files reordered, one gone, and a plain copy of every rule
  // (no block shared).
  const ThreeFiles files;
  const auto& [a, b, c, before] = files;
  const RuleSet set(before, Verdict::forward, Verdict::forward);

  std::vector<Rule> changed = named("b", 20);  // b0-b19 stay, b20-b29 go
  for (Rule& rule : named("new", 15))
    changed.push_back(std::move(rule));
  std::swap(changed[3], changed[25]);  // an id moved within the file
  std::vector<RuleList> afters(4);
  for (const auto& file : {a, block(std::move(changed)), c})
    afters[0].append(file);
  for (const auto& file : {c, a})
    afters[1].append(file);
  afters[2].append(a);
  afters[2].append(c);
  afters[3] = RuleList(before.to_vector());
  for (std::size_t k = 0; k < afters.size(); ++k) {
    const std::vector<std::size_t> at = set.positions_of(afters[k]);
    ASSERT_EQ(at.size(), afters[k].size());
    for (std::size_t i = 0; i < at.size(); ++i)
      EXPECT_EQ(at[i], set.position(afters[k][i].id)) << "list " << k << " rule " << i;
  }
}

TEST(RuleList, PositionsOfTheSameRuleObjects) {
  // Before: three files. After: one file changed (some of its rules with the same ids), the
  // files reordered, one gone, a slice, and a plain copy of every rule (no block shared).
  const ThreeFiles files;
  const auto& [a, b, c, before] = files;
  std::vector<RuleList> afters(5);
  for (const auto& file : {a, block(named("b", 35)), c})
    afters[0].append(file);
  for (const auto& file : {c, b, a})
    afters[1].append(file);
  afters[2].append(c);
  afters[3].append(before, 35, 60);  // the end of a, all of b, the start of c
  afters[3].append(before, 5, 10);
  afters[4] = RuleList(before.to_vector());
  const std::vector<std::size_t> expected_copied = {90, 120, 50, 70, 0};
  for (std::size_t k = 0; k < afters.size(); ++k) {
    const std::vector<std::size_t> at = before.positions_of_same(afters[k]);
    ASSERT_EQ(at.size(), afters[k].size());
    std::size_t same = 0;
    for (std::size_t i = 0; i < at.size(); ++i) {
      // By brute force: where the very same object stands before, if anywhere.
      std::size_t where = RuleList::npos;
      for (std::size_t j = 0; j < before.size(); ++j) {
        if (&before[j] == &afters[k][i]) where = j;
      }
      EXPECT_EQ(at[i], where) << "list " << k << " rule " << i;
      same += where != RuleList::npos ? 1 : 0;
    }
    EXPECT_EQ(same, expected_copied[k]) << "list " << k;
  }
  EXPECT_TRUE(RuleList().positions_of_same(before) ==
              std::vector<std::size_t>(120, RuleList::npos));
  EXPECT_TRUE(before.positions_of_same(RuleList()).empty());
}

TEST(RuleSetIndex, AnIndexBuiltOnAnEarlierSetFindsWhatAFreshOneFinds) {
  // The ids' hashes of the rules an earlier set shares are taken from it: the index must
  // answer exactly as one built afresh, for files kept, changed, reordered and dropped.
  const ThreeFiles files;
  const auto& [a, b, c, before] = files;
  const RuleSet earlier(before, Verdict::forward, Verdict::forward);
  std::vector<Rule> changed = named("b", 20);
  for (Rule& rule : named("a", 5))  // ids a0..a4 again: given twice, the first one counts
    changed.push_back(std::move(rule));
  std::vector<RuleList> afters(3);
  for (const auto& file : {a, block(std::move(changed)), c})
    afters[0].append(file);
  for (const auto& file : {c, b})
    afters[1].append(file);
  afters[2] = RuleList(before.to_vector());
  for (std::size_t k = 0; k < afters.size(); ++k) {
    const RuleSet fresh(afters[k], Verdict::forward, Verdict::forward);
    const RuleSet built(afters[k], Verdict::forward, Verdict::forward, &earlier);
    for (const char* prefix : {"a", "b", "c", "x"}) {
      for (std::size_t i = 0; i < 60; ++i) {
        const std::string id = prefix + std::to_string(i);
        EXPECT_EQ(built.position(id), fresh.position(id)) << "list " << k << " id " << id;
      }
    }
  }
}

TEST(RuleSetIndex, EmptySetsAndAnIdGivenTwice) {
  const RuleSet empty(RuleList{}, Verdict::forward, Verdict::forward);
  EXPECT_EQ(empty.find("a"), nullptr);
  EXPECT_EQ(empty.position(""), RuleSet::npos);
  // Runtime and file lists are checked for duplicates before a set is built; should one
  // come through, the index answers with its first position, as a map's emplace did.
  std::vector<Rule> rules = named("r", 3);
  rules[2].id = "r0";
  const RuleSet twice(std::move(rules), Verdict::forward, Verdict::forward);
  EXPECT_EQ(twice.position("r0"), 0U);
  EXPECT_EQ(twice.position("r1"), 1U);
  EXPECT_EQ(twice.position("r2"), RuleSet::npos);
}

}  // namespace
