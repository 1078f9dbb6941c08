// Verdict capture pieces without DPDK: the workers' filter word, and the pcapng file format.
#include <gtest/gtest.h>

#include "udpsieve/common/pcapng.hpp"
#include "udpsieve/dataplane/capture_tap.hpp"

namespace {

using udpsieve::dataplane::CaptureFilter;

struct FilterCase {
  const char* what;
  uint64_t word;
  uint64_t generation;
  uint32_t hit;  // rule index + 1, 0 for none
  bool dropped;
  bool matches;
};

TEST(CaptureFilter, SelectsByRuleOfItsGenerationOrByVerdict) {
  const FilterCase cases[] = {
      {"no capture", 0, 1, 1, true, false},
      {"the rule", CaptureFilter::rule(7, 2), 7, 3, true, true},
      {"the rule, forwarded", CaptureFilter::rule(7, 2), 7, 3, false, true},
      {"another rule", CaptureFilter::rule(7, 2), 7, 2, true, false},
      {"no rule", CaptureFilter::rule(7, 0), 7, 0, true, false},
      {"rule 0", CaptureFilter::rule(7, 0), 7, 1, false, true},
      {"same index, other generation", CaptureFilter::rule(7, 2), 8, 3, true, false},
      {"generation beyond 30 bits", CaptureFilter::rule((uint64_t{1} << 30) + 5, 0), 5, 1, true,
       true},
      {"drops", CaptureFilter::verdict(true), 3, 0, true, true},
      {"drops, not forwards", CaptureFilter::verdict(true), 3, 4, false, false},
      {"forwards", CaptureFilter::verdict(false), 3, 4, false, true},
      {"forwards, not drops", CaptureFilter::verdict(false), 3, 0, true, false},
  };
  for (const FilterCase& c : cases) {
    EXPECT_EQ(CaptureFilter::matches(c.word, c.generation, c.hit, c.dropped), c.matches) << c.what;
  }
}

TEST(Pcapng, WhatIsWrittenReadsBack) {
  udpsieve::pcapng::Writer writer("udpsievectl test");
  EXPECT_EQ(writer.add_interface("wan", 2048), 0U);
  EXPECT_EQ(writer.add_interface("lan", 2048), 1U);
  const std::vector<uint8_t> odd = {1, 2, 3, 4, 5};  // needs padding
  const std::vector<uint8_t> even(64, 0xab);
  writer.add_packet(1, 1'700'000'000'123'456'789ULL, odd, 1500, "udpsieve: rule=r1 verdict=drop");
  writer.add_packet(0, 1'700'000'001'000'000'000ULL, even, 64, "");
  ASSERT_EQ(writer.bytes().size() % 4, 0U);

  std::vector<std::string> interfaces;
  std::vector<udpsieve::pcapng::Packet> packets;
  udpsieve::pcapng::read(writer.bytes(), interfaces, packets);
  EXPECT_EQ(interfaces, (std::vector<std::string>{"wan", "lan"}));
  ASSERT_EQ(packets.size(), 2U);
  EXPECT_EQ(packets[0].interface, 1U);
  EXPECT_EQ(packets[0].unix_ns, 1'700'000'000'123'456'789ULL);
  EXPECT_EQ(packets[0].data, odd);
  EXPECT_EQ(packets[0].original_length, 1500U);
  EXPECT_EQ(packets[0].comment, "udpsieve: rule=r1 verdict=drop");
  EXPECT_EQ(packets[1].data, even);
  EXPECT_EQ(packets[1].comment, "");
}

TEST(Pcapng, BrokenFilesAreRefused) {
  udpsieve::pcapng::Writer writer("t");
  (void)writer.add_interface("wan", 64);
  writer.add_packet(0, 1, {1, 2, 3}, 3, "c");
  std::vector<uint8_t> bytes = writer.bytes();
  std::vector<std::string> interfaces;
  std::vector<udpsieve::pcapng::Packet> packets;
  std::vector<uint8_t> cut(bytes.begin(), bytes.end() - 4);
  EXPECT_THROW(udpsieve::pcapng::read(cut, interfaces, packets), std::runtime_error);
  bytes[bytes.size() - 1] ^= 1;  // trailing length no longer matches
  EXPECT_THROW(udpsieve::pcapng::read(bytes, interfaces, packets), std::runtime_error);
  EXPECT_THROW(writer.add_packet(3, 1, {1}, 1, ""), std::invalid_argument);
}

}  // namespace
