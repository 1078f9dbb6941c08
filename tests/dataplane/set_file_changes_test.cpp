// A reload's set file changes applied to the running sets (SetUpdates::apply_file_changes):
// the model and the real lookup tables end as a build from the new files plus the runtime
// entries would, a runtime entry outlives its prefix leaving the file, undo_file_changes puts
// everything back, and tables that cannot take the change leave the model as it was.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/random_rules.hpp"
#include "udpsieve/control/set_updates.hpp"
#include "udpsieve/dataplane/set_tables.hpp"
#include "udpsieve/rules/prefix_set.hpp"

namespace udpsieve::control {
namespace {

using rules::Family;
using rules::Prefix;
using rules::SetModel;
using rules::SetRoute;
using test::rulegen::Rng;

Prefix prefix_of(const char* text) {
  std::string error;
  const std::optional<Prefix> parsed = Prefix::parse(text, error);
  if (!parsed) throw std::invalid_argument(std::string(text) + ": " + error);
  return *parsed;
}

std::vector<std::string> texts_of(const SetModel& model) {
  std::vector<std::string> out;
  for (const Family family : {Family::ipv4, Family::ipv6}) {
    for (const SetRoute& route : model.routes(family))
      out.push_back(route.prefix.to_string() + "=" + std::to_string(route.bits));
  }
  return out;
}

/// Random prefixes around a few networks, so that they nest: IPv4 lengths 8-32, IPv6 16-128.
std::vector<Prefix> random_prefixes(Rng& rng, std::size_t n) {
  std::vector<Prefix> out;
  for (std::size_t i = 0; i < n; ++i) {
    Prefix p;
    p.family = rng.percent(30) ? Family::ipv6 : Family::ipv4;
    const unsigned width = p.family == Family::ipv4 ? 32 : 128;
    p.addr[0] = p.family == Family::ipv4 ? 10 : 0x20;
    p.addr[1] = static_cast<uint8_t>(rng.below(3));
    for (unsigned b = 2; b < width / 8; ++b)
      p.addr[b] = rng.byte();
    p.length = static_cast<uint8_t>(rng.between(p.family == Family::ipv4 ? 8 : 16, width));
    for (unsigned bit = p.length; bit < width; ++bit)
      p.addr[bit / 8] = static_cast<uint8_t>(p.addr[bit / 8] & ~(0x80u >> (bit % 8)));
    out.push_back(p);
  }
  return out;
}

/// Lookups in the tables against the model's plain definition, at the first, last and a random
/// address of every prefix in `probes`; returns the mismatches.
std::size_t mismatches(const dataplane::SetTables& tables, const SetModel& model,
                       const std::vector<Prefix>& probes, Rng& rng) {
  std::size_t wrong = 0;
  for (const Prefix& p : probes) {
    const unsigned width = p.family == Family::ipv4 ? 32 : 128;
    for (int which = 0; which < 3; ++which) {
      std::array<uint8_t, 16> addr = p.addr;
      for (unsigned bit = p.length; bit < width; ++bit) {
        if (which == 1 || (which == 2 && rng.percent(50)))
          addr[bit / 8] = static_cast<uint8_t>(addr[bit / 8] | (0x80u >> (bit % 8)));
      }
      uint16_t bits = 0;
      if (p.family == Family::ipv4) {
        uint32_t ip =
            uint32_t{addr[0]} << 24 | uint32_t{addr[1]} << 16 | uint32_t{addr[2]} << 8 | addr[3];
        tables.lookup_v4(&ip, &bits, 1);
      } else {
        uint8_t ip[1][16];
        std::copy(addr.begin(), addr.end(), ip[0]);
        tables.lookup_v6(ip, &bits, 1);
      }
      if (bits != model.lookup(p.family, addr)) ++wrong;
    }
  }
  return wrong;
}

struct Fixture {
  std::shared_ptr<SetModel> model = std::make_shared<SetModel>();
  std::shared_ptr<dataplane::SetTables> tables;
  SetUpdates updates{""};
  int rebuilds = 0;
  bool rebuild_fails = false;

  void attach() {
    updates.attach(SetUpdates::Env{
        .model = model,
        .slots = {"feed", "other"},
        .tables = [this] { return tables.get(); },
        .qsbr = nullptr,
        .rebuild =
            [this] {
              ++rebuilds;
              if (rebuild_fails) throw std::runtime_error("no memory for new tables");
              tables = std::make_shared<dataplane::SetTables>(*model, 0);
            },
        .hit_base = {},
    });
  }
  std::string request(const char* command, const nlohmann::json& body) {
    const std::optional<std::string> reply =
        updates.handle(Request{command, body}, 1, std::chrono::system_clock::now());
    return reply.value_or("(queued)");
  }
};

TEST(SetFileChanges, AppliedToTheRunningSetsTheyEqualABuildFromTheNewFiles) {
  for (const uint64_t seed : {uint64_t{31}, uint64_t{32}, uint64_t{33}}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Rng rng(seed);
    std::vector<Prefix> feed = random_prefixes(rng, 3000);
    const std::vector<Prefix> other = random_prefixes(rng, 500);
    rules::sort_set_prefixes(feed);
    Fixture f;
    f.model->add_all(feed, 0);
    f.model->add_all(other, 1);
    f.tables = std::make_shared<dataplane::SetTables>(*f.model, 0);
    f.attach();
    // Runtime entries: one the file lists and will drop, one it will list, one it never lists.
    const Prefix dropped_but_runtime = feed[5];
    const Prefix listed_later = prefix_of("10.200.7.0/24");  // outside the random prefixes
    const Prefix runtime_only = prefix_of("192.0.2.0/24");
    for (const Prefix& p : {dropped_but_runtime, listed_later, runtime_only}) {
      ASSERT_NE(
          f.request("set-add", {{"set", "feed"}, {"prefixes", {p.to_string()}}}).find("\"set\""),
          std::string::npos);
    }
    const std::vector<std::string> before = texts_of(*f.model);

    // The file loses a third of its prefixes (feed[5] among them) and gains new ones.
    std::vector<Prefix> next;
    for (std::size_t i = 0; i < feed.size(); ++i) {
      if (i != 5 && !rng.percent(33)) next.push_back(feed[i]);
    }
    const std::vector<Prefix> more = random_prefixes(rng, 1000);
    next.insert(next.end(), more.begin(), more.end());
    next.erase(std::remove(next.begin(), next.end(), dropped_but_runtime), next.end());
    next.push_back(listed_later);
    rules::sort_set_prefixes(next);
    const rules::SetFileChange change = rules::set_file_change(feed, next, 0);
    ASSERT_GT(change.removed.size(), 500U);
    ASSERT_GT(change.added.size(), 500U);

    const SetUpdates::FileChangeUndo undo = f.updates.apply_file_changes({change});
    SetModel fresh;
    fresh.add_all(next, 0);
    fresh.add_all(other, 1);
    std::vector<SetRoute> ignored;
    for (const Prefix& p : {dropped_but_runtime, listed_later, runtime_only})
      (void)fresh.add(p, 0, ignored);
    EXPECT_EQ(texts_of(*f.model), texts_of(fresh));
    EXPECT_TRUE(f.model->files_intact());
    EXPECT_TRUE(f.model->holds(dropped_but_runtime, 0));
    EXPECT_FALSE(f.model->in_file(dropped_but_runtime, 0));
    EXPECT_TRUE(f.model->in_file(listed_later, 0));
    EXPECT_FALSE(f.model->in_file(runtime_only, 0));
    for (const Prefix& p : change.removed) {
      if (!(p == dropped_but_runtime)) {
        EXPECT_FALSE(f.model->holds(p, 0)) << p.to_string();
      }
    }
    std::vector<Prefix> probes = feed;
    probes.insert(probes.end(), next.begin(), next.end());
    probes.insert(probes.end(), other.begin(), other.end());
    EXPECT_EQ(mismatches(*f.tables, *f.model, probes, rng), 0U);
    EXPECT_EQ(f.rebuilds, 0) << "the tables took the change in place";
    // `set list` tells the prefix the file dropped as a runtime entry only.
    const nlohmann::json list =
        nlohmann::json::parse(f.request("set-list", {{"set", "feed"}, {"limit", 10000U}}));
    const nlohmann::json row = nlohmann::json{{"prefix", dropped_but_runtime.to_string()},
                                              {"file", false},
                                              {"runtime", true},
                                              {"expires_at", nullptr}};
    EXPECT_NE(std::find(list["prefixes"].begin(), list["prefixes"].end(), row),
              list["prefixes"].end())
        << list.dump();

    // Undone (the reload refused after all): as before, tables included.
    f.updates.undo_file_changes(undo);
    EXPECT_EQ(texts_of(*f.model), before);
    EXPECT_TRUE(f.model->in_file(dropped_but_runtime, 0));
    EXPECT_FALSE(f.model->in_file(listed_later, 0));
    EXPECT_TRUE(f.model->holds(listed_later, 0));
    EXPECT_EQ(mismatches(*f.tables, *f.model, probes, rng), 0U);
    EXPECT_TRUE(f.model->files_intact());
  }
}

TEST(SetFileChanges, TablesThatCannotTakeThemLeaveTheModelAsItWas) {
  Rng rng(41);
  std::vector<Prefix> feed = random_prefixes(rng, 200);
  rules::sort_set_prefixes(feed);
  Fixture f;
  f.model->add_all(feed, 0);
  f.attach();  // no tables: every change needs a build, which fails
  f.rebuild_fails = true;
  const std::vector<std::string> before = texts_of(*f.model);
  std::vector<Prefix> next(feed.begin() + 50, feed.end());
  const std::vector<Prefix> more = random_prefixes(rng, 50);
  next.insert(next.end(), more.begin(), more.end());
  rules::sort_set_prefixes(next);
  try {
    (void)f.updates.apply_file_changes({rules::set_file_change(feed, next, 0)});
    ADD_FAILURE() << "applied without tables";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "the prefix set tables could not take the set files' changes: no memory for new "
              "tables");
  }
  EXPECT_EQ(f.rebuilds, 1);
  EXPECT_EQ(texts_of(*f.model), before);
  EXPECT_TRUE(f.model->files_intact());
  for (const Prefix& p : feed)
    EXPECT_TRUE(f.model->in_file(p, 0)) << p.to_string();
  EXPECT_TRUE(f.updates.tables_behind()) << "the next reload builds the tables";
}

}  // namespace
}  // namespace udpsieve::control
