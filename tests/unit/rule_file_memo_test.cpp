// Reloads that take unchanged rule files from the last load (config::RuleFileMemo): the rules,
// steering entries and errors must be exactly those of reading every file afresh.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/temp_dir.hpp"
#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/config/config.hpp"
#include "udpsieve/rules/rule_json.hpp"

namespace {

using udpsieve::config::FileStamp;
using udpsieve::config::LoadedConfig;
using udpsieve::config::RuleFileMemo;
using udpsieve::test::TempDir;

constexpr const char* kConfigHead =
    "eal:\n  lcores: [0, 1, \"2@1\"]\n"
    "ports:\n"
    "  - {name: wan, device: \"0000:3b:00.0\", forward_to: lan}\n"
    "  - {name: lan, device: \"0000:3b:00.1\", forward_to: wan}\n";

/// Everything a load hands on, as text: each rule with its position, the steering entries,
/// where runtime rules go, and each file's place in the lists.
std::string summary(const LoadedConfig& loaded) {
  nlohmann::json out;
  for (const udpsieve::rules::Rule& rule : loaded.rules) {
    out["rules"].push_back(
        {udpsieve::rules::rule_to_json(rule, loaded.config.port_names()), rule.where.to_string()});
  }
  for (const udpsieve::rules::SteeringRule& rule : loaded.steering) {
    out["steering"].push_back({rule.id, rule.worker, rule.where.to_string(),
                               rule.worker_where.to_string(), rule.worker_path});
  }
  out["steering_queues"] = loaded.steering_queues;
  out["dynamic_at"] = loaded.dynamic_at;
  for (const auto& file : loaded.parsed_files) {
    out["files"].push_back({file.path, file.rules == nullptr ? 0 : file.rules->size(),
                            file.first_steering, file.steering});
  }
  return out.dump();
}

class RuleFileMemoTest : public ::testing::Test {
 protected:
  /// Loads with the memo of the last load (none at first), checks the result against a load
  /// without one, and keeps this load's memo for the next. Returns how many files it reused.
  std::size_t load_and_compare() {
    LoadedConfig fresh = udpsieve::config::load_config_and_rules(config_);
    LoadedConfig loaded = udpsieve::config::load_config_and_rules(config_, {}, memo_.get());
    EXPECT_EQ(summary(loaded), summary(fresh));
    // A reused file's rules are the memo's own block (shared, not copied); a file parsed again
    // has a block of its own.
    // An unchanged file's bytes are the memo's too (compared with the file, not read again).
    std::size_t shared = 0;
    std::size_t unchanged = 0;
    for (const auto& file : loaded.parsed_files) {
      const std::string on_disk = udpsieve::YamlNode::read_file(file.path);
      EXPECT_EQ(*file.text, on_disk) << file.path;
      if (memo_ == nullptr) continue;
      for (const auto& old : memo_->files) {
        const bool same_bytes = old.path == file.path && *old.text == on_disk;
        EXPECT_EQ(old.text == file.text, same_bytes) << file.path;
        if (file.rules == nullptr) continue;
        shared += old.rules == file.rules ? 1U : 0U;
        unchanged += same_bytes ? 1U : 0U;
      }
    }
    EXPECT_EQ(shared, loaded.files_reused == 0 ? 0 : unchanged);
    auto rules = std::make_shared<const udpsieve::rules::RuleSet>(
        loaded.rules, udpsieve::rules::Verdict::forward, udpsieve::rules::Verdict::forward);
    memo_ = udpsieve::config::memo_of(loaded, std::move(rules));
    unread_ = loaded.files_unread;
    return loaded.files_reused;
  }

  /// Pretends the last load read its files `seconds` later than it did.
  void age_memo(int64_t seconds) {
    auto memo = std::make_shared<RuleFileMemo>(*memo_);
    for (udpsieve::config::ParsedRuleFile& file : memo->files)
      file.stamp.read_at_ns += seconds * 1'000'000'000;
    memo_ = std::move(memo);
  }

  void write_config(const std::string& pipeline) {
    config_ = dir_.write("udpsieve.yaml", std::string(kConfigHead) + "pipeline:\n" + pipeline);
  }

  TempDir dir_;
  std::string config_;
  std::shared_ptr<const RuleFileMemo> memo_;
  std::size_t unread_ = 0;  ///< the last load's files_unread
};

TEST_F(RuleFileMemoTest, OnlyChangedFilesAreParsedAndTheResultIsTheSame) {
  (void)dir_.write("a.yaml",
                   "rules:\n  - id: a1\n    match: {src: 10.0.0.0/8, dst_port: 53}\n"
                   "    action: {forward: lan}\n  - id: a2\n    action: drop\n");
  (void)dir_.write("rules.d/10.yaml",
                   "rules:\n  - id: b1\n    match: {in_port: wan, dst_port: [123, 1000-2000]}\n"
                   "    action: {rate_limit: {pps: 100, burst: 10}}\n"
                   "steering:\n  - {id: s1, match: {dst_port: 53}, worker: 2}\n");
  (void)dir_.write("rules.d/20.yaml", "rules:\n  - id: c1\n    action: forward\n");
  write_config("  rules: [a.yaml, dynamic, rules.d/*.yaml]\n");
  EXPECT_EQ(load_and_compare(), 0U) << "no memo yet";
  EXPECT_EQ(load_and_compare(), 3U) << "nothing changed";

  // One file's bytes change (same length): only it is parsed again.
  (void)dir_.write("rules.d/20.yaml", "rules:\n  - id: c2\n    action: forward\n");
  EXPECT_EQ(load_and_compare(), 2U);
  // A file in the middle grows: the files after it move along the lists.
  (void)dir_.write("a.yaml",
                   "rules:\n  - id: a0\n    action: drop\n  - id: a1\n    match: {src: "
                   "10.0.0.0/8, dst_port: 53}\n    action: {forward: lan}\n"
                   "  - id: a2\n    action: drop\n");
  EXPECT_EQ(load_and_compare(), 2U);
  // A new file, and the order of the list changed.
  (void)dir_.write("rules.d/15.yaml", "rules:\n  - id: n1\n    action: drop\n");
  write_config("  rules: [rules.d/*.yaml, dynamic, a.yaml]\n");
  EXPECT_EQ(load_and_compare(), 3U);
  // A file that grows at its end, then shrinks back: its bytes up to there are the memo's.
  const std::string c2 = "rules:\n  - id: c2\n    action: forward\n";
  (void)dir_.write("rules.d/20.yaml", c2 + "# more\n");
  EXPECT_EQ(load_and_compare(), 3U);
  (void)dir_.write("rules.d/20.yaml", c2);
  EXPECT_EQ(load_and_compare(), 3U);
  // A file gone, an empty one.
  std::filesystem::remove(dir_.file("rules.d/15.yaml"));
  (void)dir_.write("rules.d/30.yaml", "# nothing yet\n");
  EXPECT_EQ(load_and_compare(), 3U);
  EXPECT_EQ(load_and_compare(), 4U);
}

TEST_F(RuleFileMemoTest, WhatParsingResolvesChangingMeansParsingAgain) {
  (void)dir_.write("a.yaml", "rules:\n  - id: a1\n    action: {forward: lan}\n");
  write_config("  rules: [a.yaml]\n");
  EXPECT_EQ(load_and_compare(), 0U);
  EXPECT_EQ(load_and_compare(), 1U);
  // The ports' order changes what `forward: lan` resolves to: the file is read afresh.
  config_ =
      dir_.write("udpsieve.yaml", std::string("eal:\n  lcores: [0, 1]\nports:\n") +
                                      "  - {name: lan, device: \"0000:3b:00.1\", forward_to: wan}\n"
                                      "  - {name: wan, device: \"0000:3b:00.0\", forward_to: lan}\n"
                                      "pipeline:\n  rules: [a.yaml]\n");
  EXPECT_EQ(load_and_compare(), 0U);
  EXPECT_EQ(load_and_compare(), 1U);
}

TEST_F(RuleFileMemoTest, ADuplicateIdIsReportedWhereAFreshLoadReportsIt) {
  (void)dir_.write("a.yaml", "rules:\n  - id: x\n    action: drop\n");
  (void)dir_.write("b.yaml", "rules:\n  - id: y\n    action: drop\n");
  (void)dir_.write("c.yaml", "steering:\n  - {id: s, worker: 2}\n");
  write_config("  rules: [a.yaml, b.yaml, c.yaml]\n");
  EXPECT_EQ(load_and_compare(), 0U);
  const auto error_of = [&](const RuleFileMemo* memo) {
    return udpsieve::test::config_error_of(
        [&] { (void)udpsieve::config::load_config_and_rules(config_, {}, memo); });
  };
  // The changed file comes after the unchanged one whose id it takes, and before it.
  for (const auto& [file, text] : std::vector<std::pair<std::string, std::string>>{
           {"b.yaml", "rules:\n  - id: y\n    action: drop\n  - id: x\n    action: drop\n"},
           {"a.yaml", "rules:\n  - id: y\n    action: drop\n"},
           {"a.yaml", "rules:\n  - id: s\n    action: drop\n"},
           {"b.yaml", "steering:\n  - {id: x, worker: 1}\n"}}) {
    (void)dir_.write(file, text);
    const std::string expected = error_of(nullptr);
    EXPECT_NE(expected.find("duplicate rule id"), std::string::npos) << expected;
    EXPECT_EQ(error_of(memo_.get()), expected);
  }
}

TEST_F(RuleFileMemoTest, FilesWhoseStampsVouchForThemAreNotReadAgain) {
  const std::string a = dir_.write("a.yaml", "rules:\n  - id: a1\n    action: drop\n");
  (void)dir_.write("b.yaml", "rules:\n  - id: b1\n    action: forward\n");
  write_config("  rules: [a.yaml, b.yaml]\n");
  EXPECT_EQ(load_and_compare(), 0U);
  // Read just after they were written: their times might not move with the next change, so
  // their bytes are compared.
  EXPECT_EQ(load_and_compare(), 2U);
  EXPECT_EQ(unread_, 0U);
  // Read long after they changed: the same stat() means the same bytes.
  age_memo(3);
  EXPECT_EQ(load_and_compare(), 2U);
  EXPECT_EQ(unread_, 2U);
  EXPECT_EQ(load_and_compare(), 2U) << "the stamp from the read is kept";
  EXPECT_EQ(unread_, 2U);

  // Rewritten in place (the same inode) with the same size, its modification time put back:
  // its change time moved, so it is read again.
  const FileStamp before = FileStamp::of(a);
  (void)dir_.write("a.yaml", "rules:\n  - id: a2\n    action: drop\n");
  const timespec times[2] = {{0, UTIME_OMIT},
                             {static_cast<time_t>(before.modified_ns / 1'000'000'000),
                              static_cast<long>(before.modified_ns % 1'000'000'000)}};
  ASSERT_EQ(utimensat(AT_FDCWD, a.c_str(), times, 0), 0);
  const FileStamp after = FileStamp::of(a);
  ASSERT_EQ(after.inode, before.inode);
  ASSERT_EQ(after.size, before.size);
  ASSERT_EQ(after.modified_ns, before.modified_ns);
  EXPECT_EQ(load_and_compare(), 1U);
  EXPECT_EQ(unread_, 1U) << "b.yaml only";
}

TEST(FileStamp, VouchesOnlyForTheSameFileSizeAndTimesLongAfterItsLastChange) {
  FileStamp earlier;
  earlier.valid = true;
  earlier.device = 1;
  earlier.inode = 2;
  earlier.size = 300;
  earlier.modified_ns = 10'000'000'000;
  earlier.changed_ns = 11'000'000'000;
  earlier.read_at_ns = earlier.changed_ns + FileStamp::kSettleNs;
  FileStamp now = earlier;
  now.read_at_ns += 60'000'000'000;
  EXPECT_TRUE(now.vouches_for(earlier));
  const auto differing = [&](auto change) {
    FileStamp other = now;
    change(other);
    return other.vouches_for(earlier);
  };
  EXPECT_FALSE(differing([](FileStamp& s) { s.valid = false; }));
  EXPECT_FALSE(differing([](FileStamp& s) { s.device = 3; }));
  EXPECT_FALSE(differing([](FileStamp& s) { s.inode = 3; }));
  EXPECT_FALSE(differing([](FileStamp& s) { s.size = 301; }));
  EXPECT_FALSE(differing([](FileStamp& s) { s.modified_ns += 1; }));
  EXPECT_FALSE(differing([](FileStamp& s) { s.changed_ns += 1; }));
  // Read less than kSettleNs after its last change (of either time): not vouched for, however
  // long after that the file is looked at again.
  const auto vouched_if_read = [](auto change) {
    FileStamp read = [] {
      FileStamp s;
      s.valid = true;
      s.size = 300;
      s.modified_ns = 10'000'000'000;
      s.changed_ns = 10'000'000'000;
      s.read_at_ns = 12'000'000'000;
      return s;
    }();
    change(read);
    FileStamp later = read;
    later.read_at_ns += 3600'000'000'000;
    return later.vouches_for(read);
  };
  EXPECT_TRUE(vouched_if_read([](FileStamp&) {}));
  EXPECT_FALSE(vouched_if_read([](FileStamp& s) { s.read_at_ns -= 1; }));
  EXPECT_FALSE(vouched_if_read([](FileStamp& s) { s.modified_ns += 1; }));
  EXPECT_FALSE(vouched_if_read([](FileStamp& s) { s.changed_ns += 1; }));
  EXPECT_FALSE(vouched_if_read([](FileStamp& s) { s.valid = false; }));
}

}  // namespace
