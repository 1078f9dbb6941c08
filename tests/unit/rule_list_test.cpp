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

TEST(RuleSetIndex, PositionsOfAListSharingBlocksAreTheIdsPositions) {
  // The set before: three files. The lists after: one file changed (ids kept, dropped and
  // added, a different length), files reordered, one gone, and a plain copy of every rule
  // (no block shared).
  const auto block = [](std::vector<Rule> rules) {
    return std::make_shared<const std::vector<Rule>>(std::move(rules));
  };
  const RuleList::Block a = block(named("a", 40));
  const RuleList::Block b = block(named("b", 30));
  const RuleList::Block c = block(named("c", 50));
  RuleList before;
  for (const auto& file : {a, b, c})
    before.append(file);
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
