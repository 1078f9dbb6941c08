// RSS: the hash fields asked for per ports[].rss, and the symmetric key of rss_symmetric, checked
// with DPDK's own software Toeplitz hash (what NICs compute).
#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <rte_thash.h>

#include <cstdint>
#include <random>
#include <vector>

#include "udpsieve/dataplane/ports.hpp"

namespace udpsieve::dataplane {
namespace {

/// The Toeplitz hash of an IPv4/UDP 4-tuple under `key`, as a NIC computes it.
uint32_t hash_v4(const std::vector<uint8_t>& key, uint32_t src, uint32_t dst, uint16_t sport,
                 uint16_t dport) {
  rte_ipv4_tuple tuple{};
  tuple.src_addr = src;
  tuple.dst_addr = dst;
  tuple.sport = sport;
  tuple.dport = dport;
  return rte_softrss(reinterpret_cast<uint32_t*>(&tuple), RTE_THASH_V4_L4_LEN, key.data());
}

TEST(Rss, SymmetricKeyHashesBothDirectionsAlike) {
  const std::vector<uint8_t> symmetric = symmetric_rss_key(40);
  ASSERT_EQ(symmetric.size(), 40U);
  EXPECT_EQ(symmetric[0], 0x6d);
  EXPECT_EQ(symmetric[1], 0x5a);
  // Microsoft's default key (the one most drivers start from) is not symmetric: the test can
  // tell the two apart.
  const std::vector<uint8_t> default_key = {
      0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
      0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
      0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
  std::mt19937 random(2026);
  std::size_t asymmetric_with_default = 0;
  for (int i = 0; i < 10000; ++i) {
    const auto a = static_cast<uint32_t>(random());
    const auto b = static_cast<uint32_t>(random());
    const auto pa = static_cast<uint16_t>(random());
    const auto pb = static_cast<uint16_t>(random());
    ASSERT_EQ(hash_v4(symmetric, a, b, pa, pb), hash_v4(symmetric, b, a, pb, pa)) << i;
    if (hash_v4(default_key, a, b, pa, pb) != hash_v4(default_key, b, a, pb, pa)) {
      ++asymmetric_with_default;
    }
  }
  EXPECT_GT(asymmetric_with_default, 9900U);
  // Longer keys (i40e takes 52 bytes) keep the pattern.
  const std::vector<uint8_t> long_key = symmetric_rss_key(52);
  for (std::size_t i = 0; i < long_key.size(); ++i)
    EXPECT_EQ(long_key[i], i % 2 == 0 ? 0x6d : 0x5a) << i;
}

TEST(Rss, HashFieldsFollowTheSetting) {
  const uint64_t offered = RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP;
  EXPECT_EQ(wanted_rss(offered, config::RssFields::ip_udp), RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
  EXPECT_EQ(wanted_rss(offered, config::RssFields::ip), RTE_ETH_RSS_IP);
  // Only what the driver offers.
  EXPECT_EQ(wanted_rss(RTE_ETH_RSS_IPV4, config::RssFields::ip_udp), RTE_ETH_RSS_IPV4);
  EXPECT_EQ(wanted_rss(RTE_ETH_RSS_TCP, config::RssFields::ip), 0U);
  EXPECT_EQ(rss_text(RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_UDP), "ipv4+ipv4-udp");
}

}  // namespace
}  // namespace udpsieve::dataplane
