// udpsievectl's text rendering of daemon replies.
#include "udpsieve/cli/render.hpp"
#include "udpsieve/common/human_rate.hpp"

#include <gtest/gtest.h>

#include "udpsieve/cli/client.hpp"
#include "udpsieve/common/stats_schema.hpp"

namespace {

using nlohmann::json;
using udpsieve::cli::render;
using udpsieve::cli::TextTable;

TEST(TextTable, AlignsColumnsAndRightAlignsNumbers) {
  TextTable table;
  table.add_row({"name", "packets"});
  table.add_row({"wan", "5"});
  table.add_row({"lan-long", "12345"});
  EXPECT_EQ(table.str(), "name      packets\nwan             5\nlan-long    12345\n");
}

TEST(Render, StatsShowsEveryDropReasonFromTheSchema) {
  const json stats = json::parse(R"({
    "uptime_s": 3.5,
    "totals": {"rx_packets": 10, "rx_bytes": 600, "forwarded_packets": 7, "forwarded_bytes": 420,
               "dropped_packets": 3,
               "drops": {"rule": 1, "default": 0, "non_udp": 1, "malformed": 1, "tx_full": 0}},
    "rates": {"rx_pps": 2500000.0, "forwarded_pps": 0, "dropped_pps": 0, "rx_bps": 0},
    "ports": [{"name": "wan", "rx_packets": 10, "tx_packets": 7, "rx_missed": 0, "rx_errors": 0}],
    "workers": [{"lcore": 1, "rx_packets": 10, "forwarded_packets": 7, "dropped_packets": 3}],
    "rules": [{"id": "drop-ntp", "packets": 1, "bytes": 60}]
  })");
  const std::string text = render("stats", stats);
  for (const udpsieve::StatDesc& reason : udpsieve::kDropReasons) {
    EXPECT_NE(text.find("  " + std::string(reason.name)), std::string::npos) << reason.name;
  }
  EXPECT_NE(text.find("uptime 3.5 s"), std::string::npos) << text;
  EXPECT_NE(text.find("rx 2.50 Mpps"), std::string::npos) << text;
  EXPECT_NE(text.find("drop-ntp"), std::string::npos);
  EXPECT_NE(text.find("wan"), std::string::npos);
  EXPECT_EQ(text.find("more rule(s)"), std::string::npos) << "every rule is shown";

  // stats lists the busiest rules; the text says how many it left out.
  json busy = stats;
  busy["rules_total"] = 25;
  EXPECT_NE(render("stats", busy).find("... and 24 more rule(s) (the busiest are shown"),
            std::string::npos)
      << render("stats", busy);
}

TEST(Render, RulesSaysWhichLookupsAreHashedOrByPrefix) {
  json reply = json::parse(R"({
    "default_action": "forward", "non_udp": "drop", "generation": 3, "rules": [],
    "classifier": {"algorithm": "avx2", "entries_v4": 12000, "entries_v6": 10,
                   "contexts_v4": 3, "contexts_v6": 1, "exact_v4": 1, "exact_v6": 0,
                   "prefix_v4": 1, "prefix_v6": 1, "memory_bytes": 4096, "build_ms": 5.5}
  })");
  std::string text = render("rules", reply);
  EXPECT_NE(text.find("12000 IPv4 entries in 3 lookup(s) (1 hashed, 1 by prefix), 10 IPv6 "
                      "entries in 1 lookup(s) (1 by prefix), 4096 bytes"),
            std::string::npos)
      << text;
  // A daemon from before prefix lookups says how many are hashed only.
  reply["classifier"].erase("prefix_v4");
  reply["classifier"].erase("prefix_v6");
  text = render("rules", reply);
  EXPECT_NE(text.find("in 3 lookup(s) (1 hashed), 10 IPv6 entries in 1 lookup(s), 4096"),
            std::string::npos)
      << text;
}

TEST(Render, UnknownShapesFallBackToJson) {
  const json odd = {{"something", 1}};
  EXPECT_EQ(render("stats", odd), odd.dump(2) + "\n");
  EXPECT_EQ(render("nonsense", odd), odd.dump(2) + "\n");
}

TEST(Render, HumanRates) {
  EXPECT_EQ(udpsieve::human_rate(12'345'678), "12.35 M");
  EXPECT_EQ(udpsieve::human_rate(980'000), "980.0 k");
  EXPECT_EQ(udpsieve::human_rate(17), "17 ");
  EXPECT_EQ(udpsieve::human_rate(2.5e9), "2.50 G");
}

TEST(Client, RequestLine) {
  EXPECT_EQ(udpsieve::cli::command_request("stats"), R"({"cmd":"stats"})");
}

TEST(StatsSchema, NamesAreUniqueAndDescribed) {
  std::vector<std::string_view> names;
  for (const auto& d : udpsieve::kWorkerStats)
    names.push_back(d.name);
  for (const auto& d : udpsieve::kDropReasons)
    names.push_back(d.name);
  for (const auto& d : udpsieve::kPortStats) {
    EXPECT_FALSE(d.help.empty()) << d.name;
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  EXPECT_EQ(udpsieve::stat_name(udpsieve::DropReason::default_action), "default");
  EXPECT_EQ(udpsieve::stat_name(udpsieve::WorkerStat::rx_packets), "rx_packets");
  EXPECT_EQ(udpsieve::stat_name(udpsieve::PortStat::rx_missed), "rx_missed");
}

}  // namespace
