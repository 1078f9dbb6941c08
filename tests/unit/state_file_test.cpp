// The runtime-rule state file: the document round-trips, every malformed document is refused with
// its precise reason, writes replace the file atomically (also under SIGKILL at random moments),
// and start-up loading moves a corrupt file aside without losing its bytes.
#include "udpsieve/control/state_file.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.hpp"

namespace {

using nlohmann::json;
using udpsieve::control::decode_state;
using udpsieve::control::encode_state;
using udpsieve::control::load_state;
using udpsieve::control::PersistedRule;
using udpsieve::control::StateLoad;
using udpsieve::control::write_file_atomically;
using udpsieve::test::TempDir;
namespace fs = std::filesystem;

// 2023-11-14T22:13:20Z
constexpr int64_t kNow = 1700000000;
constexpr const char* kStamp = "20231114T221320Z";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// `count` distinct rules named PREFIX-N; every third one expires.
std::vector<PersistedRule> make_rules(int count, const std::string& prefix) {
  std::vector<PersistedRule> rules;
  for (int i = 0; i < count; ++i) {
    PersistedRule rule;
    rule.rule = {{"id", prefix + "-" + std::to_string(i)},
                 {"match", {{"src", "10.0." + std::to_string(i % 256) + ".0/24"}, {"dport", i}}},
                 {"action", "drop"}};
    if (i % 3 == 0) rule.expires_at = kNow + i;
    rule.added_at = kNow - i;
    rules.push_back(rule);
  }
  return rules;
}

/// The message decode_state throws for `text`, or "(decoded)".
std::string decode_error(const std::string& text) {
  try {
    (void)decode_state(text);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(decoded)";
}

/// The message write_file_atomically throws, or "(written)".
std::string write_error(const std::string& path, const std::string& contents) {
  try {
    write_file_atomically(path, contents);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(written)";
}

// --- the document ------------------------------------------------------------------------------

TEST(StateFileCodec, RoundTripKeepsEveryField) {
  std::vector<PersistedRule> rules = make_rules(5, "r");
  rules[1].expires_at = std::nullopt;
  rules[2].expires_at = -1;  // already expired: dropping it is the caller's business
  rules[3].rule["match"]["comment"] = "naïve \"quoted\" \\ text";
  EXPECT_EQ(decode_state(encode_state(rules, kNow)), rules);
}

TEST(StateFileCodec, RoundTripEmptyList) {
  const std::string text = encode_state({}, kNow);
  EXPECT_EQ(text,
            "{\n  \"format\": \"udpsieve-dynamic-state\",\n  \"version\": 1,\n"
            "  \"written_at\": 1700000000,\n  \"rules\": []\n}\n");
  EXPECT_TRUE(decode_state(text).empty());
}

TEST(StateFileCodec, OneRulePerLine) {
  std::vector<PersistedRule> rules(2);
  rules[0].rule = {{"id", "a"}, {"action", "drop"}, {"match", {{"dport", 53}}}};
  rules[0].added_at = 5;
  rules[1].rule = {{"id", "b"}, {"action", "pass"}, {"match", json::object()}};
  rules[1].expires_at = 99;
  rules[1].added_at = 6;
  EXPECT_EQ(encode_state(rules, 7),
            "{\n"
            "  \"format\": \"udpsieve-dynamic-state\",\n"
            "  \"version\": 1,\n"
            "  \"written_at\": 7,\n"
            "  \"rules\": [\n"
            "    {\"rule\": {\"action\":\"drop\",\"id\":\"a\",\"match\":{\"dport\":53}}, "
            "\"expires_at\": null, \"added_at\": 5},\n"
            "    {\"rule\": {\"action\":\"pass\",\"id\":\"b\",\"match\":{}}, "
            "\"expires_at\": 99, \"added_at\": 6}\n"
            "  ]\n"
            "}\n");
}

TEST(StateFileCodec, EncodeRefusesWhatCannotBeReadBack) {
  std::vector<PersistedRule> rules(1);
  rules[0].rule = {{"id", std::string("\xff")}};
  EXPECT_THROW((void)encode_state(rules, kNow), std::runtime_error);
  rules[0].rule = json::array();
  try {
    (void)encode_state(rules, kNow);
    FAIL() << "encoded a rule that is not an object";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "cannot encode the runtime rules: rule 0 is not an object but array");
  }
}

/// A well-formed document whose parts can be replaced one at a time.
std::string document(const std::string& rules,
                     const std::string& head = R"("format": "udpsieve-dynamic-state", )"
                                               R"("version": 1, "written_at": 1)") {
  return "{" + head + ", \"rules\": " + rules + "}";
}

struct DecodeCase {
  const char* what;
  std::string text;
  const char* error;
};

TEST(StateFileCodec, DecodeErrors) {
  const std::string ok_rule = R"({"rule": {"id": "x"}, "expires_at": null, "added_at": 1})";
  const DecodeCase cases[] = {
      {"empty file", "", "not JSON: the file is empty"},
      {"garbage", "garbage",
       "not JSON: parse error at line 1, column 1: syntax error while parsing value - invalid "
       "literal; last read: 'g'"},
      {"truncated", document("[" + ok_rule).substr(0, 70),
       "not JSON: parse error at line 1, column 71: syntax error while parsing object key - "
       "invalid string: missing closing quote; last read: '\"r'; expected string literal"},
      {"not an object", "[]", "unknown format: expected an object, not array"},
      {"no format marker", R"({"version": 1})",
       R"(unknown format: no "format" key (expected "udpsieve-dynamic-state"))"},
      {"another format", R"({"format": "udpsieve-rules", "version": 1})",
       R"(unknown format "udpsieve-rules" (expected "udpsieve-dynamic-state"))"},
      {"format not a string", R"({"format": 1})",
       R"(unknown format 1 (expected "udpsieve-dynamic-state"))"},
      {"no version", R"({"format": "udpsieve-dynamic-state"})", "version: missing"},
      {"version a string", R"({"format": "udpsieve-dynamic-state", "version": "1"})",
       "version: expected an integer"},
      {"newer version", document("[]", R"("format": "udpsieve-dynamic-state", "version": 2)"),
       "version 2 is newer than this udpsieved understands (up to 1)"},
      {"huge version", R"({"format": "udpsieve-dynamic-state", "version": 18446744073709551615})",
       "version 18446744073709551615 is newer than this udpsieved understands (up to 1)"},
      {"version 0", R"({"format": "udpsieve-dynamic-state", "version": 0})",
       "version 0 is not a valid version"},
      {"unknown top-level key",
       document("[]", R"("format": "udpsieve-dynamic-state", "version": 1, "extra": 1)"),
       R"(unknown key "extra")"},
      {"no written_at", document("[]", R"("format": "udpsieve-dynamic-state", "version": 1)"),
       "written_at: missing"},
      {"written_at a string",
       document("[]", R"("format": "udpsieve-dynamic-state", "version": 1, "written_at": "x")"),
       "written_at: expected a number"},
      {"no rules", R"({"format": "udpsieve-dynamic-state", "version": 1, "written_at": 1})",
       "rules: missing"},
      {"rules not a list", document("{}"), "rules: expected a list, not object"},
      {"entry not an object", document("[" + ok_rule + ", 1]"),
       "rules[1]: expected an object, not number"},
      {"missing rule", document(R"([{"expires_at": null, "added_at": 1}])"),
       "rules[0].rule: missing"},
      {"rule not an object", document(R"([{"rule": [], "expires_at": null, "added_at": 1}])"),
       "rules[0].rule: expected an object, not array"},
      {"expires_at missing", document(R"([{"rule": {}, "added_at": 1}])"),
       "rules[0].expires_at: missing (null if permanent)"},
      {"expires_at a string",
       document("[" + ok_rule + R"(, {"rule": {}, "expires_at": "soon", "added_at": 1}])"),
       "rules[1].expires_at: expected a number or null"},
      {"expires_at fractional", document(R"([{"rule": {}, "expires_at": 1.5, "added_at": 1}])"),
       "rules[0].expires_at: expected whole seconds, not 1.5"},
      {"expires_at out of range",
       document(R"([{"rule": {}, "expires_at": 9223372036854775808, "added_at": 1}])"),
       "rules[0].expires_at: 9223372036854775808 is out of range"},
      {"added_at missing", document(R"([{"rule": {}, "expires_at": null}])"),
       "rules[0].added_at: missing"},
      {"added_at null", document(R"([{"rule": {}, "expires_at": null, "added_at": null}])"),
       "rules[0].added_at: expected a number"},
      {"unknown entry key",
       document(R"([{"rule": {}, "expires_at": null, "added_at": 1, "source": "api"}])"),
       R"(rules[0]: unknown key "source")"},
  };
  for (const DecodeCase& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_EQ(decode_error(c.text), c.error);
  }
  // The helper itself builds a valid document.
  EXPECT_EQ(decode_state(document("[" + ok_rule + "]")).size(), 1U);
}

TEST(StateFileCodec, AcceptsNegativeAndLargeSeconds) {
  const auto rules = decode_state(
      document(R"([{"rule": {}, "expires_at": 9223372036854775807, "added_at": -5}])"));
  ASSERT_EQ(rules.size(), 1U);
  EXPECT_EQ(rules[0].expires_at, INT64_MAX);
  EXPECT_EQ(rules[0].added_at, -5);
}

// --- atomic writes -----------------------------------------------------------------------------

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(StateFileWrite, CreatesFileAndMissingDirectories) {
  TempDir dir;
  const std::string path = dir.file("var/lib/udpsieve/dynamic.json");
  const mode_t old_mask = ::umask(022);
  write_file_atomically(path, "first");
  ::umask(old_mask);
  EXPECT_EQ(read_file(path), "first");
  EXPECT_EQ(mode_of(dir.file("var")), 0750U);
  EXPECT_EQ(mode_of(dir.file("var/lib/udpsieve")), 0750U);
  EXPECT_EQ(mode_of(path), 0640U);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(StateFileWrite, ReplacesExistingFile) {
  TempDir dir;
  const std::string path = dir.write("dynamic.json", "old contents, longer than the new ones");
  write_file_atomically(path, "new");
  EXPECT_EQ(read_file(path), "new");
  write_file_atomically(path, "");
  EXPECT_EQ(read_file(path), "");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(StateFileWrite, ReusesATemporaryLeftByAKilledWriter) {
  TempDir dir;
  const std::string path = dir.write("dynamic.json", "old");
  dir.write("dynamic.json.tmp", "half of a document that was never renamed into place");
  write_file_atomically(path, "new");
  EXPECT_EQ(read_file(path), "new");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(StateFileWrite, ParentIsARegularFile) {
  // Fails for root too: no permission can make a file a directory.
  TempDir dir;
  const std::string file = dir.write("file", "not a directory");
  const std::string path = file + "/state/dynamic.json";
  EXPECT_EQ(write_error(path, "x"),
            "cannot write " + path + ": create directory " + file + ": Not a directory");
  EXPECT_EQ(read_file(file), "not a directory");
}

TEST(StateFileWrite, UnwritableDirectoryKeepsOldFile) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root ignores directory permissions (CAP_DAC_OVERRIDE); the rename and write "
                    "failure tests cover the same cleanup";
  }
  TempDir dir;
  dir.mkdir("ro");
  const std::string path = dir.write("ro/dynamic.json", "old");
  fs::permissions(dir.file("ro"), fs::perms::owner_read | fs::perms::owner_exec);
  const std::string error = write_error(path, "new");
  fs::permissions(dir.file("ro"), fs::perms::owner_all);
  EXPECT_EQ(error, "cannot write " + path + ": open " + path + ".tmp: Permission denied");
  EXPECT_EQ(read_file(path), "old");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(StateFileWrite, FailedRenameRemovesTemporary) {
  // A non-empty directory where the file should be: every step succeeds up to the rename.
  TempDir dir;
  const std::string path = dir.file("dynamic.json");
  dir.write("dynamic.json/keep", "old");
  EXPECT_EQ(write_error(path, "new"),
            "cannot write " + path + ": rename " + path + ".tmp: Is a directory");
  EXPECT_EQ(read_file(path + "/keep"), "old");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(StateFileWrite, FailedWriteKeepsOldFileAndRemovesTemporary) {
  // A file size limit makes write() fail half-way, for root too; in a child so the limit and the
  // ignored SIGXFSZ stay there.
  TempDir dir;
  const std::string path = dir.write("dynamic.json", "old");
  const std::string big(100000, 'x');
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(pipe_fds[0]);
    const rlimit limit{4096, 4096};
    ::signal(SIGXFSZ, SIG_IGN);
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(3);
    const std::string error = write_error(path, big);
    const ssize_t n = ::write(pipe_fds[1], error.data(), error.size());
    ::_exit(n == static_cast<ssize_t>(error.size()) ? 0 : 4);
  }
  ::close(pipe_fds[1]);
  std::string error;
  char buffer[512];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    error.append(buffer, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(error, "cannot write " + path + ": write " + path + ".tmp: File too large");
  EXPECT_EQ(read_file(path), "old");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

// --- crash safety ------------------------------------------------------------------------------

/// Kills and reaps a forked writer that a failed assertion left running.
struct ChildGuard {
  pid_t pid = -1;
  ~ChildGuard() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

TEST(StateFileCrash, KilledWriterLeavesOldOrNewDocument) {
  constexpr int kRounds = 200;
  constexpr int kMaxDelayUs = 5000;
  TempDir dir;
  const std::string path = dir.file("lib/dynamic.json");
  // Different sizes, so a torn or mixed file cannot pass for either.
  const std::string a = encode_state(make_rules(100, "a"), kNow);
  const std::string b = encode_state(make_rules(3000, "b"), kNow + 1);
  // Byte equality with A or B below is what "decodes to exactly A or B" comes down to.
  ASSERT_EQ(decode_state(a).size(), 100U);
  ASSERT_EQ(decode_state(b).size(), 3000U);
  write_file_atomically(path, a);  // "never missing" holds from the first completed write on

  std::mt19937 rng(20240611);  // fixed: the kill moments vary anyway, the delays need not
  std::uniform_int_distribution<int> delay_us(0, kMaxDelayUs);
  bool holds_b = false;
  int rounds_ending_in_a = 0;
  int rounds_ending_in_b = 0;
  long completed_writes = 0;  // returned to the child; a kill in the directory fsync is not one
  int rounds_changing_file = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Alternate, starting with the document the file does not hold, so each write changes it.
      ::close(pipe_fds[0]);
      char mark = 's';
      if (::write(pipe_fds[1], &mark, 1) != 1) ::_exit(3);
      for (bool next_b = !holds_b;; next_b = !next_b) {
        if (write_error(path, next_b ? b : a) != "(written)") ::_exit(2);
        mark = 'w';
        if (::write(pipe_fds[1], &mark, 1) != 1) ::_exit(3);
      }
    }
    ChildGuard guard{pid};
    ::close(pipe_fds[1]);
    char mark = 0;
    // Delay from the child's start, not from fork, so the kills spread over the writes.
    ASSERT_EQ(::read(pipe_fds[0], &mark, 1), 1);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    guard.pid = -1;
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer stopped by itself (exit " << WEXITSTATUS(status) << ")";
    char marks[256];
    for (ssize_t n; (n = ::read(pipe_fds[0], marks, sizeof marks)) > 0;)
      completed_writes += n;
    ::close(pipe_fds[0]);

    ASSERT_TRUE(fs::exists(path));
    const std::string text = read_file(path);
    ASSERT_TRUE(text == a || text == b) << "torn file of " << text.size() << " bytes (A has "
                                        << a.size() << ", B " << b.size() << ")";
    rounds_changing_file += (text == b) != holds_b ? 1 : 0;
    holds_b = text == b;
    (holds_b ? rounds_ending_in_b : rounds_ending_in_a)++;
  }
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  // Reported, not asserted: how often a write completed depends on the disk (timing belongs in
  // benchmarks).
  std::cout << "[ info     ] " << kRounds << " kills in " << elapsed.count() << " ms; "
            << completed_writes << " writes returned; the kill changed the file in "
            << rounds_changing_file << " rounds; it held A after " << rounds_ending_in_a
            << ", B after " << rounds_ending_in_b << "\n";
  RecordProperty("completed_writes", std::to_string(completed_writes));
}

// --- loading at start-up -----------------------------------------------------------------------

TEST(StateFileLoad, AbsentFile) {
  TempDir dir;
  const StateLoad load = load_state(dir.file("missing/dynamic.json"), kNow);
  EXPECT_EQ(load.status, StateLoad::Status::absent);
  EXPECT_TRUE(load.rules.empty());
  EXPECT_FALSE(load.removed_leftover_tmp);
}

TEST(StateFileLoad, GoodFile) {
  TempDir dir;
  const std::string path = dir.file("dynamic.json");
  const std::vector<PersistedRule> rules = make_rules(4, "r");
  write_file_atomically(path, encode_state(rules, kNow));
  const StateLoad load = load_state(path, kNow);
  EXPECT_EQ(load.status, StateLoad::Status::loaded);
  EXPECT_EQ(load.rules, rules);
  EXPECT_TRUE(load.error.empty());
  EXPECT_TRUE(load.moved_to.empty());
}

struct CorruptCase {
  const char* what;
  std::string bytes;
  const char* error;
};

TEST(StateFileLoad, CorruptFileIsMovedAsideWithItsBytes) {
  const std::string good = encode_state(make_rules(3, "r"), kNow);
  const CorruptCase cases[] = {
      {"garbage", "\x01garbage\xff",
       "not JSON: parse error at line 1, column 1: syntax error while parsing value - invalid "
       "literal; last read: '<U+0001>'"},
      {"truncated JSON", good.substr(0, good.size() / 2), nullptr},
      {"empty file", "", "not JSON: the file is empty"},
      {"wrong format", R"({"format": "x"})",
       R"(unknown format "x" (expected "udpsieve-dynamic-state"))"},
  };
  for (const CorruptCase& c : cases) {
    SCOPED_TRACE(c.what);
    TempDir dir;
    const std::string path = dir.write("dynamic.json", c.bytes);
    const StateLoad load = load_state(path, kNow);
    EXPECT_EQ(load.status, StateLoad::Status::corrupt);
    EXPECT_TRUE(load.rules.empty());
    if (c.error != nullptr) {
      EXPECT_EQ(load.error, c.error);
    } else {
      EXPECT_EQ(load.error.rfind("not JSON: parse error at line ", 0), 0U) << load.error;
    }
    EXPECT_EQ(load.moved_to, path + ".corrupt-" + kStamp);
    EXPECT_FALSE(fs::exists(path));
    EXPECT_EQ(read_file(load.moved_to), c.bytes);
    // The next start finds no file, as after a first start.
    EXPECT_EQ(load_state(path, kNow + 1).status, StateLoad::Status::absent);
  }
}

TEST(StateFileLoad, CorruptionsInTheSameSecondGetDistinctNames) {
  TempDir dir;
  const std::string path = dir.file("dynamic.json");
  std::vector<std::string> moved;
  for (int i = 0; i < 3; ++i) {
    dir.write("dynamic.json", "garbage " + std::to_string(i));
    const StateLoad load = load_state(path, kNow);
    ASSERT_EQ(load.status, StateLoad::Status::corrupt);
    moved.push_back(load.moved_to);
  }
  const std::string base = path + ".corrupt-" + kStamp;
  EXPECT_EQ(moved, (std::vector<std::string>{base, base + "-1", base + "-2"}));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(read_file(moved[static_cast<size_t>(i)]), "garbage " + std::to_string(i));
}

TEST(StateFileLoad, LeftoverTemporaryIsRemoved) {
  TempDir dir;
  const std::string path = dir.file("dynamic.json");
  const std::vector<PersistedRule> rules = make_rules(2, "r");
  write_file_atomically(path, encode_state(rules, kNow));
  dir.write("dynamic.json.tmp", "{\"format\": \"udpsieve-dyn");  // a write cut short
  const StateLoad load = load_state(path, kNow);
  EXPECT_EQ(load.status, StateLoad::Status::loaded);
  EXPECT_EQ(load.rules, rules);
  EXPECT_TRUE(load.removed_leftover_tmp);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(StateFileLoad, LeftoverTemporaryIsRemovedWhenThereIsNoFile) {
  // The very first write was killed before its rename: nobody was told it succeeded.
  TempDir dir;
  const std::string path = dir.file("dynamic.json");
  dir.write("dynamic.json.tmp", encode_state(make_rules(1, "r"), kNow));
  const StateLoad load = load_state(path, kNow);
  EXPECT_EQ(load.status, StateLoad::Status::absent);
  EXPECT_TRUE(load.removed_leftover_tmp);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(StateFileLoad, DirectoryInsteadOfFileThrows) {
  TempDir dir;
  dir.mkdir("dynamic.json");
  const std::string path = dir.file("dynamic.json");
  try {
    (void)load_state(path, kNow);
    FAIL() << "loaded a directory";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot read " + path + ": Is a directory");
  }
  EXPECT_TRUE(fs::is_directory(path));  // not moved aside: it is not a corrupt state file
}

TEST(StateFileLoad, UnreadableFileThrows) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root reads files without read permission (CAP_DAC_OVERRIDE)";
  }
  TempDir dir;
  const std::string path = dir.write("dynamic.json", encode_state({}, kNow));
  fs::permissions(path, fs::perms::none);
  try {
    (void)load_state(path, kNow);
    FAIL() << "loaded an unreadable file";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot read " + path + ": Permission denied");
  }
}

}  // namespace
