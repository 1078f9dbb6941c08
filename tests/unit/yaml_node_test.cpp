// YamlNode: key paths, positions, and the exact text of every error it raises.
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "support/temp_dir.hpp"
#include "udpsieve/common/config_error.hpp"
#include "udpsieve/common/yaml_node.hpp"

namespace udpsieve {
namespace {

using udpsieve::test::TempDir;

YamlNode load(const std::string& text) {
  return YamlNode::load_string(text, "t.yaml");
}

std::string error_of(const std::function<void()>& action) {
  return udpsieve::test::config_error_of(action);
}

TEST(ConfigErrorTest, Format) {
  EXPECT_EQ(ConfigError(SourceLocation{"a.yaml", 3, 7}, "x.y", "bad").what(),
            std::string("a.yaml:3:7: x.y: bad"));
  EXPECT_EQ(ConfigError(SourceLocation{"a.yaml", 3, 7}, "", "bad").what(),
            std::string("a.yaml:3:7: bad"));
  EXPECT_EQ(ConfigError(SourceLocation{"a.yaml", 0, 0}, "", "bad").what(),
            std::string("a.yaml: bad"));
  // No file and no position (documents built from JSON): the key path leads.
  EXPECT_EQ(ConfigError(SourceLocation{"", 0, 0}, "x.y", "bad").what(), std::string("x.y: bad"));
  EXPECT_EQ(ConfigError(SourceLocation{"", 0, 0}, "", "bad").what(), std::string("bad"));
  const ConfigError error(SourceLocation{"f", 1, 2}, "k", "m");
  EXPECT_EQ(error.where().to_string(), "f:1:2");
  EXPECT_EQ(error.key_path(), "k");
  EXPECT_EQ(error.message(), "m");
}

TEST(YamlNodeTest, PathsAndPositions) {
  const YamlNode root = load("a:\n  b: [x, {c: 5}]\n");
  EXPECT_EQ(root.path(), "");
  EXPECT_EQ(root.file(), "t.yaml");
  EXPECT_EQ(root.location().to_string(), "t.yaml:1:1");
  const YamlNode b = root.require("a").require("b");
  EXPECT_EQ(b.path(), "a.b");
  EXPECT_EQ(b.location().to_string(), "t.yaml:2:6");
  const std::vector<YamlNode> items = b.items();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].path(), "a.b[0]");
  EXPECT_EQ(items[0].as_string(), "x");
  const YamlNode c = items[1].require("c");
  EXPECT_EQ(c.path(), "a.b[1].c");
  EXPECT_EQ(c.location().to_string(), "t.yaml:2:14");
  EXPECT_EQ(c.as_uint(0, 10), 5u);
  EXPECT_EQ(error_of([&] { c.fail("boom"); }), "t.yaml:2:14: a.b[1].c: boom");
  EXPECT_EQ(error_of([&] { root.fail("boom"); }), "t.yaml:1:1: boom");
}

// A byte that is not UTF-8 is reported where it is, not at 1:1 (libyaml gives decoding errors
// as a byte offset); columns count characters.
TEST(YamlNodeTest, NonUtf8BytesAreReportedWhereTheyAre) {
  EXPECT_EQ(error_of([] { (void)load("rules:\n  - id: a # caf\xe9\n"); }),
            "t.yaml:2:16: YAML syntax error: incomplete UTF-8 octet sequence");
  EXPECT_EQ(error_of([] { (void)load("a: 1\nb: \"\xc3\xa9t\xc3\x28\"\n"); }),
            "t.yaml:2:8: YAML syntax error: invalid trailing UTF-8 octet (byte 0x28)");
  EXPECT_EQ(error_of([] { (void)load("a: \xff\n"); }),
            "t.yaml:1:4: YAML syntax error: invalid leading UTF-8 octet (byte 0xFF)");
}

TEST(YamlNodeTest, GetAndRequire) {
  const YamlNode root = load("present: 1\nempty:\ntilde: ~\nlist: []\n");
  EXPECT_TRUE(root.get("present").has_value());
  EXPECT_FALSE(root.get("absent").has_value());
  EXPECT_FALSE(root.get("empty").has_value());
  EXPECT_FALSE(root.get("tilde").has_value());
  ASSERT_TRUE(root.get("list").has_value());
  EXPECT_TRUE(root.get("list")->items().empty());
  EXPECT_EQ(error_of([&] { (void)root.require("absent"); }),
            "t.yaml:1:1: absent: required key is missing");
  EXPECT_EQ(error_of([&] { (void)root.require("empty"); }),
            "t.yaml:1:1: empty: required key is missing");
  const YamlNode inner = load("outer:\n  x: 1\n").require("outer");
  EXPECT_EQ(error_of([&] { (void)inner.require("y"); }),
            "t.yaml:2:3: outer.y: required key is missing");
  const YamlNode list = load("[1, 2]");
  EXPECT_EQ(error_of([&] { (void)list.get("a"); }), "t.yaml:1:1: expected a mapping, got a list");
}

// values_of finds several keys in one pass: absent keys are nullopt, keys without a value are
// kept as null nodes (so a reader can refuse them), a repeated key is its first value as with
// get(), and the values carry their paths.
TEST(YamlNodeTest, ValuesOfSeveralKeys) {
  const YamlNode root = load("m:\n  b: [x]\n  a: 1\n  c:\n  a: 2\n").require("m");
  const auto [a, b, c, d] = root.values_of<4>({"a", "b", "c", "d"});
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->as_view(), "1");
  EXPECT_EQ(a->path(), "m.a");
  EXPECT_EQ(b->items()[0].path(), "m.b[0]");
  EXPECT_TRUE(c->is_null());
  EXPECT_EQ(error_of([&] { c->fail("no value"); }), "t.yaml:4:5: m.c: no value");
  EXPECT_FALSE(d.has_value());
  EXPECT_EQ(error_of([&] { (void)b->as_view(); }),
            "t.yaml:2:6: m.b: expected a single value, got a list");
  EXPECT_EQ(error_of([&] { (void)load("[1]").values_of<1>({"a"}); }),
            "t.yaml:1:1: expected a mapping, got a list");
}

TEST(YamlNodeTest, ExpectMap) {
  const std::string allowed = "unknown key (expected one of: name, device)";
  struct Case {
    const char* yaml;
    std::string error;
  };
  const Case cases[] = {
      {"name: a\ndevice: b\n", "(no error)"},
      {"name: a\n", "(no error)"},
      {"{}", "(no error)"},
      {"name: a\ndevise: b\n", "t.yaml:2:1: devise: " + allowed},
      {"name: a\nname: b\n", "t.yaml:2:1: name: key given twice"},
      {"name: a\n'name': b\n", "t.yaml:2:1: name: key given twice"},
      {"{[a]: 1}", "t.yaml:1:2: mapping keys must be plain words"},
      {"[name]", "t.yaml:1:1: expected a mapping, got a list"},
      {"name", "t.yaml:1:1: expected a mapping, got 'name'"},
      {"", "t.yaml: expected a mapping, got nothing"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(error_of([&] { load(c.yaml).expect_map({"name", "device"}); }), c.error) << c.yaml;
  }
  const YamlNode nested = load("port:\n  name: a\n  speed: 10\n").require("port");
  EXPECT_EQ(error_of([&] {
              nested.expect_map({"name", "device"});
            }),
            "t.yaml:3:3: port.speed: " + allowed);
}

TEST(YamlNodeTest, ItemsAndOneOrList) {
  const YamlNode root = load("one: x\nmany: [a, b]\nmap: {a: 1}\n");
  const std::vector<YamlNode> one = root.require("one").one_or_list();
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].path(), "one");
  const std::vector<YamlNode> many = root.require("many").one_or_list();
  ASSERT_EQ(many.size(), 2u);
  EXPECT_EQ(many[1].path(), "many[1]");
  EXPECT_EQ(many[1].location().to_string(), "t.yaml:2:11");
  EXPECT_EQ(error_of([&] { (void)root.require("one").items(); }),
            "t.yaml:1:6: one: expected a list, got 'x'");
  EXPECT_EQ(error_of([&] { (void)root.require("map").items(); }),
            "t.yaml:3:6: map: expected a list, got a mapping");
  EXPECT_EQ(load("[a]").items()[0].path(), "[0]");
}

TEST(YamlNodeTest, Describe) {
  const YamlNode root = load("s: word\nq: 'quoted'\nl: []\nm: {}\nn: [~]\n");
  EXPECT_EQ(root.require("s").describe(), "'word'");
  EXPECT_EQ(root.require("q").describe(), "'quoted'");
  EXPECT_EQ(root.require("l").describe(), "a list");
  EXPECT_EQ(root.require("m").describe(), "a mapping");
  EXPECT_EQ(root.require("n").items()[0].describe(), "nothing");
}

TEST(YamlNodeTest, Strings) {
  const YamlNode root = load("s: word\ne: ''\nl: [1]\nm: {a: 1}\nn: [~]\nnum: 0053\n");
  EXPECT_EQ(root.require("s").as_string(), "word");
  EXPECT_EQ(root.require("s").as_nonempty_string(), "word");
  EXPECT_EQ(root.require("e").as_string(), "");
  EXPECT_EQ(root.require("num").as_string(), "0053");  // text as written, not a number
  EXPECT_EQ(error_of([&] { (void)root.require("e").as_nonempty_string(); }),
            "t.yaml:2:4: e: must not be empty");
  EXPECT_EQ(error_of([&] { (void)root.require("l").as_string(); }),
            "t.yaml:3:4: l: expected a single value, got a list");
  EXPECT_EQ(error_of([&] { (void)root.require("m").as_string(); }),
            "t.yaml:4:4: m: expected a single value, got a mapping");
  EXPECT_EQ(error_of([&] { (void)root.require("n").items()[0].as_string(); }),
            "t.yaml:5:5: n[0]: expected a single value, got nothing");
}

TEST(YamlNodeTest, UnsignedIntegers) {
  struct Case {
    const char* text;
    uint64_t min, max;
    std::string error;  // empty: parses to `value`
    uint64_t value;
  };
  const Case cases[] = {
      {"12", 0, 100, "", 12},
      {"0", 0, 0, "", 0},
      {"007", 0, 10, "", 7},
      {"18446744073709551615", 0, UINT64_MAX, "", UINT64_MAX},
      {"7", 10, 20, "t.yaml:1:4: v: 7 is out of range 10-20", 0},
      {"21", 10, 20, "t.yaml:1:4: v: 21 is out of range 10-20", 0},
      {"99999999999999999999999", 0, 100,
       "t.yaml:1:4: v: 99999999999999999999999 is out of range 0-100", 0},
      {"x", 0, 100, "t.yaml:1:4: v: expected a whole number, got 'x'", 0},
      {"-1", 0, 100, "t.yaml:1:4: v: expected a whole number, got '-1'", 0},
      {"+1", 0, 100, "t.yaml:1:4: v: expected a whole number, got '+1'", 0},
      {"1.5", 0, 100, "t.yaml:1:4: v: expected a whole number, got '1.5'", 0},
      {"0x10", 0, 100, "t.yaml:1:4: v: expected a whole number, got '0x10'", 0},
      {"1e3", 0, 10000, "t.yaml:1:4: v: expected a whole number, got '1e3'", 0},
      {"''", 0, 100, "t.yaml:1:4: v: expected a whole number, got ''", 0},
  };
  for (const Case& c : cases) {
    const YamlNode node = load(std::string("v: ") + c.text).require("v");
    if (c.error.empty()) {
      EXPECT_EQ(node.as_uint(c.min, c.max), c.value) << c.text;
    } else {
      EXPECT_EQ(error_of([&] { (void)node.as_uint(c.min, c.max); }), c.error) << c.text;
    }
  }
}

TEST(YamlNodeTest, Booleans) {
  for (const char* word : {"true", "yes", "on"}) {
    EXPECT_TRUE(load(std::string("v: ") + word).require("v").as_bool()) << word;
  }
  for (const char* word : {"false", "no", "off"}) {
    EXPECT_FALSE(load(std::string("v: ") + word).require("v").as_bool()) << word;
  }
  EXPECT_EQ(error_of([] { (void)load("v: maybe").require("v").as_bool(); }),
            "t.yaml:1:4: v: expected true or false, got 'maybe'");
}

TEST(YamlNodeTest, Enums) {
  enum class Mode { a, b };
  const YamlNode root = load("good: b\nbad: c\n");
  EXPECT_EQ(root.require("good").as_enum<Mode>({{"a", Mode::a}, {"b", Mode::b}}), Mode::b);
  EXPECT_EQ(error_of([&] {
              (void)root.require("bad").as_enum<Mode>({{"a", Mode::a}, {"b", Mode::b}});
            }),
            "t.yaml:2:6: bad: 'c' is not one of: a | b");
}

TEST(YamlNodeTest, SyntaxErrors) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"a: [1, 2\nb: 3\n",
       "t.yaml:2:2: YAML syntax error: did not find expected ',' or ']' (while parsing a flow "
       "sequence starting at 1:4)"},
      {"a: \"unterminated",
       "t.yaml:1:17: YAML syntax error: found unexpected end of stream (while scanning a quoted "
       "scalar starting at 1:4)"},
      {"rules:\n  - id: a\n  action: drop\n",
       "t.yaml:3:3: YAML syntax error: did not find expected '-' indicator (while parsing a "
       "block collection starting at 2:3)"},
      {"a: *nowhere\n", "t.yaml:1:4: YAML syntax error: found undefined alias"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(error_of([&] { (void)load(c.yaml); }), c.error) << c.yaml;
  }
}

TEST(YamlNodeTest, LoadFile) {
  const TempDir dir;
  const std::string good = dir.write("good.yaml", "# comment\nkey: value\n");
  const YamlNode root = YamlNode::load_file(good);
  EXPECT_EQ(root.file(), good);
  EXPECT_EQ(root.require("key").location().to_string(), good + ":2:6");
  EXPECT_EQ(error_of([&] { root.require("key").fail("nope"); }), good + ":2:6: key: nope");

  EXPECT_TRUE(YamlNode::load_file(dir.write("empty.yaml", "")).is_null());

  const std::string missing = dir.file("missing.yaml");
  EXPECT_EQ(error_of([&] { (void)YamlNode::load_file(missing); }),
            missing + ": cannot open file: No such file or directory");

  // Read whole, whatever the size the file reports: larger than one read, exactly the size
  // of one, and none at all (a /proc file reports 0 bytes and still has some).
  for (const std::size_t size : {std::size_t{200000}, std::size_t{65536}, std::size_t{1}}) {
    std::string text(size, 'x');
    for (std::size_t i = 0; i < size; i += 97)
      text[i] = static_cast<char>('a' + i % 26);
    EXPECT_EQ(YamlNode::read_file(dir.write("big.yaml", text)), text) << size << " bytes";
  }
  const std::string status = YamlNode::read_file("/proc/self/status");
  EXPECT_NE(status.find("Name:"), std::string::npos);
  EXPECT_EQ(status.back(), '\n');

  // A directory must not pass as an empty file.
  EXPECT_EQ(error_of([&] { (void)YamlNode::load_file(dir.path().string()); }),
            dir.path().string() + ": cannot read file: Is a directory");

  const std::string broken = dir.write("broken.yaml", "a: [1\n");
  EXPECT_EQ(error_of([&] { (void)YamlNode::load_file(broken); }),
            broken +
                ":2:1: YAML syntax error: did not find expected ',' or ']' (while parsing a "
                "flow sequence starting at 1:4)");
}

using nlohmann::json;

TEST(YamlNodeFromJsonTest, Scalars) {
  const YamlNode root = YamlNode::from_json(json::parse(R"({
    "word": "x", "empty": "", "null_text": "null", "tilde": "~", "quoted_true": "true",
    "int": 53, "negative": -3, "big": 18446744073709551615, "float": 1.5,
    "yes": true, "no": false, "nothing": null
  })"),
                                            "req");
  // Strings are quoted scalars: "", "null" and "~" are text, not null.
  for (const char* key : {"word", "empty", "null_text", "tilde", "quoted_true"}) {
    ASSERT_TRUE(root.get(key).has_value()) << key;
    EXPECT_TRUE(root.require(key).is_scalar()) << key;
    EXPECT_FALSE(root.require(key).is_null()) << key;
  }
  EXPECT_EQ(root.require("word").as_string(), "x");
  EXPECT_EQ(root.require("empty").as_string(), "");
  EXPECT_EQ(root.require("null_text").as_string(), "null");
  EXPECT_EQ(root.require("tilde").as_string(), "~");
  EXPECT_TRUE(root.require("quoted_true").as_bool());
  EXPECT_EQ(root.require("empty").describe(), "''");

  EXPECT_EQ(root.require("int").as_uint(0, 100), 53u);
  EXPECT_EQ(root.require("negative").as_string(), "-3");
  EXPECT_EQ(root.require("big").as_uint(0, std::numeric_limits<uint64_t>::max()),
            std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(root.require("float").as_string(), "1.5");
  EXPECT_TRUE(root.require("yes").as_bool());
  EXPECT_FALSE(root.require("no").as_bool());

  // JSON null is YAML null: absent for get(), missing for require().
  EXPECT_FALSE(root.get("nothing").has_value());
  EXPECT_EQ(error_of([&] { (void)root.require("nothing"); }),
            "req: nothing: required key is missing");

  EXPECT_TRUE(YamlNode::from_json(nullptr, "").is_null());
  EXPECT_EQ(YamlNode::from_json("just text", "").as_string(), "just text");
  EXPECT_EQ(YamlNode::from_json(7, "").as_uint(0, 10), 7u);
  EXPECT_EQ(YamlNode::from_json(-7, "").as_string(), "-7");
  EXPECT_EQ(YamlNode::from_json(0.25, "").as_string(), "0.25");
  EXPECT_EQ(YamlNode::from_json(1e100, "").as_string(), "1e+100");
}

TEST(YamlNodeFromJsonTest, NestingPathsAndNoPositions) {
  const YamlNode root =
      YamlNode::from_json(json::parse(R"({"a": {"b": ["x", {"c": 5}], "e": []}})"), "req");
  EXPECT_TRUE(root.is_map());
  EXPECT_EQ(root.file(), "req");
  const YamlNode b = root.require("a").require("b");
  EXPECT_TRUE(b.is_sequence());
  EXPECT_EQ(b.path(), "a.b");
  const std::vector<YamlNode> items = b.items();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].as_string(), "x");
  const YamlNode c = items[1].require("c");
  EXPECT_EQ(c.path(), "a.b[1].c");
  EXPECT_TRUE(root.require("a").require("e").items().empty());
  EXPECT_EQ(YamlNode::from_json(json::parse("[1, [2]]"), "").items()[1].items()[0].path(),
            "[1][0]");

  // Every node, present or absent, is at {display_name, 0, 0}.
  for (const YamlNode& node : {root, b, items[0], items[1], c}) {
    EXPECT_EQ(node.location().file, "req");
    EXPECT_EQ(node.location().line, 0);
    EXPECT_EQ(node.location().column, 0);
  }
  EXPECT_EQ(root.location().to_string(), "req");

  EXPECT_EQ(error_of([&] { c.fail("boom"); }), "req: a.b[1].c: boom");
  EXPECT_EQ(error_of([&] { root.fail("boom"); }), "req: boom");
  const YamlNode anonymous = YamlNode::from_json(json::parse(R"({"a": {"b": [1]}})"), "");
  EXPECT_EQ(error_of([&] { anonymous.require("a").require("b").items()[0].fail("boom"); }),
            "a.b[0]: boom");
  EXPECT_EQ(error_of([&] { anonymous.fail("boom"); }), "boom");
  EXPECT_EQ(error_of([&] { (void)anonymous.require("a").require("z"); }),
            "a.z: required key is missing");
  EXPECT_EQ(error_of([&] {
              anonymous.require("a").expect_map({"x", "y"});
            }),
            "a.b: unknown key (expected one of: x, y)");
  EXPECT_EQ(error_of([&] { (void)anonymous.require("a").as_uint(0, 1); }),
            "a: expected a single value, got a mapping");
  EXPECT_EQ(error_of([&] { (void)anonymous.require("a").items(); }),
            "a: expected a list, got a mapping");
}

TEST(YamlNodeFromJsonTest, Errors) {
  json deep = 1;
  for (int i = 0; i < 70; ++i)
    deep = json::array({deep});
  std::string path;
  for (int i = 0; i < 65; ++i)
    path += "[0]";
  EXPECT_EQ(error_of([&] { (void)YamlNode::from_json(deep, ""); }),
            path + ": nested more than 64 levels deep");

  json ok = 1;
  for (int i = 0; i < 64; ++i)
    ok = json::array({ok});
  EXPECT_NO_THROW((void)YamlNode::from_json(ok, ""));

  // A json built in code may hold bytes that are not UTF-8; parsed JSON never does.
  EXPECT_EQ(error_of([] {
              (void)YamlNode::from_json(json{{"s", {"\xff"}}}, "req");
            }),
            "req: s[0]: the text is not valid UTF-8");
  EXPECT_EQ(error_of([] {
              (void)YamlNode::from_json(json{{"a", {{"\xff", 1}}}}, "");
            }),
            "a: a key is not valid UTF-8");
  EXPECT_EQ(error_of([] {
              (void)YamlNode::from_json(json::binary({1, 2}), "req");
            }),
            "req: binary values have no YAML form");
}

TEST(YamlNodeToJsonTest, Shapes) {
  struct Case {
    const char* yaml;
    const char* json;
  };
  const Case cases[] = {
      {"a: 53", R"({"a": 53})"},
      {"a: 0", R"({"a": 0})"},
      {"a: 18446744073709551615", R"({"a": 18446744073709551615})"},
      {"a: 18446744073709551616", R"({"a": "18446744073709551616"})"},
      {"a: 0053", R"({"a": "0053"})"},  // keeps its text: "0011" as hex is not 11
      {"a: '53'", R"({"a": "53"})"},
      {"a: \"53\"", R"({"a": "53"})"},
      {"a: -1", R"({"a": "-1"})"},
      {"a: +1", R"({"a": "+1"})"},
      {"a: 1.5", R"({"a": "1.5"})"},
      {"a: 1024-65535", R"({"a": "1024-65535"})"},
      {"a: true", R"({"a": true})"},
      {"a: false", R"({"a": false})"},
      {"a: 'true'", R"({"a": "true"})"},
      {"a: yes", R"({"a": "yes"})"},
      {"a: True", R"({"a": "True"})"},
      {"a:", R"({"a": null})"},
      {"a: ~", R"({"a": null})"},
      {"a: null", R"({"a": null})"},
      {"a: NULL", R"({"a": null})"},
      {"a: 'null'", R"({"a": "null"})"},
      {"a: ''", R"({"a": ""})"},
      {"a: '~'", R"({"a": "~"})"},
      {"a: [1, x, [], {}]", R"({"a": [1, "x", [], {}]})"},
      {"a: {b: {c: [d]}}", R"({"a": {"b": {"c": ["d"]}}})"},
      {"a: &x [1]\nb: *x", R"({"a": [1], "b": [1]})"},
      {"[1, 2]", "[1, 2]"},
      {"word", R"("word")"},
      {"", "null"},
  };
  for (const Case& c : cases) {
    const YamlNode node = load(c.yaml);
    EXPECT_EQ(node.to_json(), json::parse(c.json)) << c.yaml;
    // Back through from_json, the same JSON and the same texts.
    EXPECT_EQ(YamlNode::from_json(node.to_json(), "").to_json(), node.to_json()) << c.yaml;
  }
  const YamlNode back = YamlNode::from_json(load("a: 0053\nb: 'null'\nc: ''\n").to_json(), "");
  EXPECT_EQ(back.require("a").as_string(), "0053");
  EXPECT_EQ(back.require("b").as_string(), "null");
  EXPECT_EQ(back.require("c").as_string(), "");
}

TEST(YamlNodeToJsonTest, Errors) {
  EXPECT_EQ(error_of([] { (void)load("{[a]: 1}").to_json(); }),
            "t.yaml:1:2: mapping keys must be plain words");
  EXPECT_EQ(error_of([] { (void)load("x:\n  a: 1\n  'a': 2\n").to_json(); }),
            "t.yaml:3:3: x.a: key given twice");
  // libyaml lets an alias refer to the node it is inside of.
  const std::string error = error_of([] { (void)load("a: &x [*x]").to_json(); });
  EXPECT_TRUE(error.starts_with("t.yaml:1:4: a[0][0]")) << error;
  EXPECT_TRUE(error.ends_with(": nested more than 64 levels deep (an alias that contains itself?)"))
      << error;
}

TEST(YamlNodeTest, AnchorsAliasesAndDocuments) {
  const YamlNode root = load("a: &shared {b: 1, c: [x, y]}\nd: *shared\n");
  EXPECT_EQ(root.require("d").require("b").as_uint(0, 9), 1U);
  EXPECT_EQ(root.require("d").require("c").items()[1].as_string(), "y");
  EXPECT_EQ(root.require("d").location().to_string(), "t.yaml:1:4") << "the anchored node's";
  EXPECT_EQ(error_of([] { (void)load("a: &x 1\nb: &x 2\n"); }),
            "t.yaml:2:4: YAML syntax error: anchor 'x' given twice (first at 1:4)");
  // As libyaml's loader: only the first document is read, so what follows is not looked at.
  EXPECT_EQ(load("a: 1\n---\nb: [\n").require("a").as_string(), "1");
  EXPECT_TRUE(load("").is_null());
  EXPECT_TRUE(load("# only a comment\n").is_null());
  EXPECT_FALSE(load("''").is_null()) << "a quoted empty string is a string";
  EXPECT_TRUE(load("~").is_null());
}

// --- differential: the event composer against libyaml's own document loader ------------------

/// What libyaml's document loader makes of `text`, by the rules of YamlNode::to_json; nullopt
/// where it fails to load or to_json would refuse.
std::optional<nlohmann::json> reference_json(const std::string& text) {
  yaml_parser_t parser;
  if (yaml_parser_initialize(&parser) == 0) return std::nullopt;
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  yaml_document_t doc;
  const bool loaded = yaml_parser_load(&parser, &doc) != 0;
  yaml_parser_delete(&parser);
  if (!loaded) return std::nullopt;
  std::size_t budget = 10'000'000;
  const std::function<std::optional<nlohmann::json>(const yaml_node_t*, int)> convert =
      [&](const yaml_node_t* node, int depth) -> std::optional<nlohmann::json> {
    if (depth > 64 || budget == 0) return std::nullopt;
    --budget;
    if (node == nullptr) return nlohmann::json(nullptr);
    switch (node->type) {
      case YAML_SCALAR_NODE: {
        const std::string value(reinterpret_cast<const char*>(node->data.scalar.value),
                                node->data.scalar.length);
        if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return nlohmann::json(value);
        if (value.empty() || value == "~" || value == "null" || value == "Null" || value == "NULL")
          return nlohmann::json(nullptr);
        if (value == "true") return nlohmann::json(true);
        if (value == "false") return nlohmann::json(false);
        const bool digits =
            std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
        uint64_t number = 0;
        const auto [end, error] =
            std::from_chars(value.data(), value.data() + value.size(), number);
        if (digits && !value.empty() && error == std::errc{} &&
            end == value.data() + value.size() && (value.size() == 1 || value[0] != '0'))
          return nlohmann::json(number);
        return nlohmann::json(value);
      }
      case YAML_SEQUENCE_NODE: {
        nlohmann::json out = nlohmann::json::array();
        for (const yaml_node_item_t* item = node->data.sequence.items.start;
             item < node->data.sequence.items.top; ++item) {
          auto value = convert(yaml_document_get_node(&doc, *item), depth + 1);
          if (!value) return std::nullopt;
          out.push_back(std::move(*value));
        }
        return out;
      }
      case YAML_MAPPING_NODE: {
        nlohmann::json out = nlohmann::json::object();
        for (const yaml_node_pair_t* pair = node->data.mapping.pairs.start;
             pair < node->data.mapping.pairs.top; ++pair) {
          const yaml_node_t* key = yaml_document_get_node(&doc, pair->key);
          if (key->type != YAML_SCALAR_NODE) return std::nullopt;
          const std::string name(reinterpret_cast<const char*>(key->data.scalar.value),
                                 key->data.scalar.length);
          if (out.contains(name)) return std::nullopt;
          auto value = convert(yaml_document_get_node(&doc, pair->value), depth + 1);
          if (!value) return std::nullopt;
          out[name] = std::move(*value);
        }
        return out;
      }
      default:
        return std::nullopt;
    }
  };
  auto out = convert(yaml_document_get_root_node(&doc), 0);
  yaml_document_delete(&doc);
  return out;
}

std::optional<nlohmann::json> composed_json(const std::string& text) {
  try {
    return load(text).to_json();
  } catch (const ConfigError&) {
    return std::nullopt;
  }
}

/// Every YAML file of the tree (the fuzz corpus, examples, configs), whole and cut at many
/// points, and hand-written documents of every node style.
std::vector<std::string> every_kind_of_document() {
  std::vector<std::string> texts = {
      "a: &x [1, &y {b: *y}]\n",  // an alias inside the node it names: both refuse to_json
      "? [complex]\n: key\n",
      "key: |\n  block\n  text\nother: >-\n  folded\n  text\n",
      "- 'single'\n- \"double \\u00e9\"\n- plain text\n- 0011\n- 18446744073709551615\n",
      "{a: 1, b: [2, {c: ~}], 'd': null, e: ''}",
      "!!str 5\n",
      "%YAML 1.1\n--- &a\nx: *a\n",
      "a: &x 1\nb: *x\nc: *x\n",
      "---\n...\n---\na: 1\n",
      "[a, b]: 1\n",
      "- - - deep\n",
      "a: &s {b: 1, c: [x, {d: 2}]}\nlist:\n  - *s\n  - e: *s\n",
  };
  std::size_t files = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(std::string(UDPSIEVE_SOURCE_DIR))) {
    const std::string path = entry.path().string();
    if (!entry.is_regular_file() || path.find("/build") != std::string::npos ||
        path.find("/.git/") != std::string::npos)
      continue;
    if (!path.ends_with(".yaml") && !path.ends_with(".yml")) continue;
    const std::string text = YamlNode::read_file(path);
    ++files;
    texts.push_back(text);
    for (std::size_t cut = 1; cut < 24 && text.size() > 1; ++cut)
      texts.push_back(text.substr(0, text.size() * cut / 24));
  }
  EXPECT_GT(files, 50U) << "the tree's YAML files were found";
  return texts;
}

/// The composer reads each document as libyaml's loader does.
TEST(YamlNodeTest, ReadsDocumentsAsLibyamlsLoaderDoes) {
  const std::vector<std::string> texts = every_kind_of_document();
  std::size_t read = 0;
  for (const std::string& text : texts) {
    const std::optional<nlohmann::json> expected = reference_json(text);
    const std::optional<nlohmann::json> got = composed_json(text);
    ASSERT_EQ(expected.has_value(), got.has_value()) << text;
    if (expected) {
      EXPECT_EQ(*got, *expected) << text;
      ++read;
    }
  }
  EXPECT_GT(read, texts.size() / 3) << "most documents read";
  EXPECT_LT(read, texts.size()) << "some cuts fail";
}

// --- differential: the subset reader against libyaml's events ------------------------------

/// Checks the subset reader on `text`: where it reads it, libyaml reads the same nodes at the
/// same positions (and does not fail); returns whether it read it.
bool subset_reads_as_libyaml(const std::string& text) {
  const std::optional<YamlNode> subset = YamlNode::load_subset(text, "t.yaml");
  if (!subset) return false;
  std::string reference;
  try {
    reference = YamlNode::load_with_libyaml(text, "t.yaml").dump_document();
  } catch (const ConfigError& e) {
    ADD_FAILURE() << "the subset reader read what libyaml refuses (" << e.what() << "):\n" << text;
    return true;
  }
  EXPECT_EQ(subset->dump_document(), reference) << text;
  return true;
}

/// Rule files as operators and generators write them, and the nearest things outside the
/// subset.
TEST(YamlNodeTest, SubsetReaderReadsAsLibyamlDoes) {
  const std::vector<std::string> read = {
      "rules:\n  - id: a1\n    match: {src: 10.0.0.0/8, dst_port: 53}\n    action: drop\n",
      "rules:\n- id: a1\n  match: {src: [10.0.0.0/8, 2001:db8::/32], dst_port: 53-60}\n"
      "  action: {rate_limit: {pps: 100, burst: 200}}\nother: x\n",
      "# comment\n\nrules:   # trailing\n  -   id: 'it''s'\n      match:\n        src: ::/0\n"
      "        dst_port: [53, 123]   # ports\n      action: \"drop\"\n\n  - id: b\n"
      "    action: {forward: lan}\n",
      "a: b c  d\ne: ~\nf: {}\ng: []\nh: [[1, 2], {x: y}]\n'q k': \"v: w\"\ni: a:b\n",
      "- a\n- b: 1\n  c: 2\n-\n  - x\n  - y\n- key:\n    - 1\n    - 2\n  other: 3\n",
      "  indented: root\n  next: 1\n",
      "x: -1\ny: (a)\nz: 1.5e3\nw: a,b\nv: [a b, c]\n",
  };
  const std::vector<std::string> declined = {
      "a: &x 1\nb: *x\n",  // anchors and aliases
      "a: !!str 1\n",      // tags
      "a: |\n  text\n",    // block scalars
      "a: b\n  c\n",       // a scalar over two lines
      "a:\nb: 1\n",        // an empty value
      "a: {b: 1,\n  c: 2}\n",
      "a: \"esc\\n\"\n",
      "a: b\r\n",
      "a:\tb\n",
      "a: caf\xc3\xa9\n",
      "---\na: 1\n",
      "a: 1\n...\n",
      "%YAML 1.1\n---\na: 1\n",
      "? a\n: b\n",
      "[a, b]\n",
      "a\n",
      "",
      "# only a comment\n",
      "a: [x, y,]\n",
      "a: {x}\n",
      "a: [x: 1]\n",
      "a: {src: ::/0}\n",
      "a: b#c\n",
      "a : b\n",
      "- - x\n",
      "a: b: c\n",
      "a: 'x' y\n",
      "a: [fe80::]\n",
  };
  std::size_t subset_read = 0;
  for (const std::string& text : read) {
    EXPECT_TRUE(subset_reads_as_libyaml(text)) << "not read:\n" << text;
  }
  for (const std::string& text : declined) {
    EXPECT_FALSE(YamlNode::load_subset(text, "t.yaml").has_value()) << "read:\n" << text;
  }
  // Every YAML file of the tree, whole and cut, and the documents of every node style.
  std::size_t files_read = 0;
  for (const std::string& text : every_kind_of_document()) {
    if (subset_reads_as_libyaml(text)) ++subset_read;
  }
  EXPECT_GT(subset_read, 100U) << "most of the tree's files and their cuts are in the subset";
  // The repository's example rules in full.
  for (const char* file : {"/config/rules.d/10-examples.yaml", "/config/demo/rules.yaml"}) {
    const std::string text = YamlNode::read_file(std::string(UDPSIEVE_SOURCE_DIR) + file);
    if (subset_reads_as_libyaml(text)) ++files_read;
  }
  EXPECT_EQ(files_read, 2U);
}

/// A random document of the subset's shapes, from a few lines of random pieces: keys, list
/// entries, flow brackets, quotes, comments, indentation, and a few characters outside it.
std::string random_document(std::mt19937& rng) {
  static const std::vector<std::string> pieces = {
      "- ",    "-",           "a: ",  "b:", "key: ", "id: r1", "src: ", "10.0.0.0/8",
      "::/0",  "2001:db8::1", ": ",   ":",  "{",     "}",      "[",     "]",
      ", ",    ",",           " ",    "  ", "#c",    " # c",   "'q'",   "'it''s'",
      "\"d\"", "\"\"",        "x y",  "~",  "-5",    "a:b",    "(p)",   "&a ",
      "*a",    "|",           "?",    "!",  "...",   "---",    "\t",    "\\",
      "x",     "53-60",       "drop", "@",  ".5",    "a#b",    "'",     "\"",
  };
  std::uniform_int_distribution<std::size_t> piece(0, pieces.size() - 1);
  std::uniform_int_distribution<int> count(0, 6);
  std::uniform_int_distribution<int> lines(1, 8);
  std::uniform_int_distribution<std::size_t> indent(0, 6);
  std::string text;
  const int n = lines(rng);
  for (int l = 0; l < n; ++l) {
    text.append(indent(rng), ' ');
    // Mostly an entry or a key first, then whatever comes.
    const int k = count(rng);
    if (k % 3 == 0) text += "- ";
    if (k % 2 == 0) text += std::string(1, static_cast<char>('a' + k)) + ": ";
    for (int i = 0; i < k / 2; ++i)
      text += pieces[piece(rng)];
    text += "\n";
  }
  return text;
}

/// A random rule-file-like document in the subset, with one byte changed, added or removed
/// now and then.
std::string random_rule_file(std::mt19937& rng) {
  std::uniform_int_distribution<int> pick(0, 9);
  const auto scalar = [&]() -> std::string {
    switch (pick(rng)) {
      case 0:
        return "10." + std::to_string(pick(rng)) + ".0.0/16";
      case 1:
        return "2001:db8:" + std::to_string(pick(rng)) + "::/48";
      case 2:
        return "'q" + std::to_string(pick(rng)) + "''s'";
      case 3:
        return "\"d " + std::to_string(pick(rng)) + "\"";
      case 4:
        return "a b";
      case 5:
        return "~";
      default:
        return std::to_string(pick(rng) * 7);
    }
  };
  const auto flow = [&](int depth, const auto& self) -> std::string {
    if (depth > 2 || pick(rng) < 5) return scalar();
    const bool map = pick(rng) < 5;
    std::string out = map ? "{" : "[";
    const int n = pick(rng) % 4;
    for (int i = 0; i < n; ++i) {
      if (i > 0) out += pick(rng) < 8 ? ", " : ",";
      if (map) out += "k" + std::to_string(i) + ": ";
      out += self(depth + 1, self);
    }
    return out + (map ? "}" : "]");
  };
  std::string text = pick(rng) < 5 ? "rules:\n" : "# rules\nrules:  # list\n";
  const std::string indent = pick(rng) < 5 ? "" : "  ";
  const int rules = 1 + pick(rng);
  for (int r = 0; r < rules; ++r) {
    text += indent + "- id: r" + std::to_string(r) + "\n";
    text += indent + "  match: " + flow(0, flow) + "\n";
    if (pick(rng) < 3) {
      text += indent + "  list:\n";
      for (int i = 0; i < 1 + pick(rng) % 3; ++i)
        text += indent + "    - " + scalar() + "\n";
    }
    if (pick(rng) < 2) text += "\n" + indent + "  # note\n";
    text += indent + "  action: " + flow(0, flow) + "\n";
  }
  if (pick(rng) < 5) {
    std::uniform_int_distribution<std::size_t> at(0, text.size() - 1);
    const std::string bytes = " -:#{}[],'\"\n\tx&*";
    const char c = bytes[static_cast<std::size_t>(pick(rng)) % bytes.size()];
    const std::size_t where = at(rng);
    switch (pick(rng) % 3) {
      case 0:
        text[where] = c;
        break;
      case 1:
        text.insert(where, 1, c);
        break;
      default:
        text.erase(where, 1);
        break;
    }
  }
  return text;
}

/// The subset reader and libyaml agree on random documents: where the subset reader reads
/// one, libyaml reads the same nodes at the same positions.
TEST(YamlNodeTest, SubsetReaderAgreesWithLibyamlOnRandomDocuments) {
  std::mt19937 rng(20261207);
  std::size_t soup_read = 0;
  std::size_t rules_read = 0;
  // Under AddressSanitizer (CI's sanitizer stage, where it took 41 s) a fifth of the
  // rounds: memory errors show on any document; the release run and the config fuzz target
  // compare the readers on many more.
#if defined(__SANITIZE_ADDRESS__)
  constexpr int kRounds = 2'000;
#else
  constexpr int kRounds = 10'000;
#endif
  for (int i = 0; i < kRounds; ++i) {
    if (subset_reads_as_libyaml(random_document(rng))) ++soup_read;
    if (subset_reads_as_libyaml(random_rule_file(rng))) ++rules_read;
    if (HasFailure()) break;
  }
  std::cout << "read: " << soup_read << " of the random pieces, " << rules_read
            << " of the rule files\n";
  // Enough of each kind is read for the comparison to mean something, and not all.
  EXPECT_GT(soup_read, kRounds / 50U);
  EXPECT_LT(soup_read, kRounds / 2U);
  EXPECT_GT(rules_read, kRounds / 2U);
  EXPECT_LT(rules_read, static_cast<std::size_t>(kRounds));
}

/// Walks `node` `depth` levels down (aliases can make a document endless), checking that every
/// node's path is the route it was reached by, spelled as the readers' errors spell it.
/// Returns the nodes checked.
std::size_t check_paths(const YamlNode& node, const std::string& route, int depth) {
  EXPECT_EQ(node.path(), route);
  std::size_t checked = 1;
  if (depth == 0) return checked;
  if (node.is_sequence()) {
    const std::vector<YamlNode> items = node.items();
    for (std::size_t i = 0; i < items.size(); ++i)
      checked += check_paths(items[i], route + "[" + std::to_string(i) + "]", depth - 1);
  } else if (node.is_map()) {
    std::vector<std::pair<std::string, YamlNode>> members;
    try {
      members = node.members();
    } catch (const ConfigError&) {
      return checked;  // keys that are not plain, or repeat
    }
    for (const auto& [key, value] : members) {
      const std::string path = route.empty() ? key : route + "." + key;
      checked += check_paths(value, path, depth - 1);
      if (const std::optional<YamlNode> got = node.get(key)) {
        EXPECT_EQ(got->path(), path);
      }
    }
  }
  return checked;
}

// Paths are found from the links each node records, not carried as text: the route is the
// one taken, through aliases too (an alias's nodes have the path of where they are used).
TEST(YamlNodeTest, PathsAreTheRouteEachNodeWasReachedBy) {
  const YamlNode root = load("a: &s {b: 1, c: [x, {d: 2}]}\nlist:\n  - *s\n  - e: *s\n");
  const YamlNode first = root.require("list").items()[0];
  EXPECT_EQ(first.require("c").items()[1].require("d").path(), "list[0].c[1].d");
  EXPECT_EQ(root.require("list").items()[1].require("e").require("b").path(), "list[1].e.b");
  EXPECT_EQ(root.require("a").require("c").items()[1].path(), "a.c[1]");
  EXPECT_EQ(error_of([&] { first.require("b").fail("boom"); }), "t.yaml:1:11: list[0].b: boom");
  EXPECT_EQ(error_of([&] { (void)first.require("nope"); }),
            "t.yaml:1:4: list[0].nope: required key is missing");
  EXPECT_EQ(error_of([] { (void)load("x: &k {a: 1, a: 2}\ny: *k\n").require("y").members(); }),
            "t.yaml:1:14: y.a: 'a' is given twice");
  // An alias inside the node it names.
  const YamlNode loop = load("a: &x [1, *x]\n").require("a");
  EXPECT_EQ(loop.items()[1].items()[1].items()[0].path(), "a[1][1][0]");

  std::size_t checked = 0;
  for (const std::string& text : every_kind_of_document()) {
    try {
      const YamlNode document = load(text);
      checked += check_paths(document, "", 12);
      // The same shape from JSON, where paths are found the same way.
      checked += check_paths(YamlNode::from_json(document.to_json(), "j"), "", 12);
    } catch (const ConfigError&) {
    }
  }
  EXPECT_GT(checked, 10'000U);
}

}  // namespace
}  // namespace udpsieve
