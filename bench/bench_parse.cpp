// parse_frame cost per packet. Each iteration parses one burst of 32 frames, as the worker
// does, into 32 PacketInfo slots; items/s in the output is packets per second.

#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "support/packet_builder.hpp"
#include "udpsieve/dataplane/packet_parser.hpp"

namespace {

using udpsieve::dataplane::PacketInfo;
using udpsieve::dataplane::parse_frame;
using udpsieve::test::Bytes;
using udpsieve::test::PacketBuilder;

constexpr std::size_t kBurstSize = 32;

/// The smallest Ethernet frame: 64 bytes on the wire, 60 once the NIC strips the FCS.
Bytes ipv4_udp_64() {
  return PacketBuilder{}.ipv4().udp({.src_port = 40000, .dst_port = 53}).payload_size(18).build();
}

Bytes qinq_ipv4_udp() {
  return PacketBuilder{}
      .vlan(100, udpsieve::test::kTpid8021Ad)
      .vlan(200)
      .ipv4()
      .udp({.src_port = 40000, .dst_port = 53})
      .payload_size(18)
      .build();
}

Bytes ipv6_udp_two_ext_headers() {
  return PacketBuilder{}
      .ipv6({.ext_headers = {udpsieve::test::hop_by_hop(), udpsieve::test::destination_options()}})
      .udp({.src_port = 40000, .dst_port = 53})
      .payload_size(18)
      .build();
}

/// One burst of copies of `frame`, each in its own buffer like separate mbufs.
void parse_burst(benchmark::State& state, const Bytes& frame) {
  std::vector<Bytes> burst(kBurstSize, frame);
  std::array<PacketInfo, kBurstSize> infos{};
  const auto length = static_cast<uint32_t>(frame.size());
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBurstSize; ++i) {
      benchmark::DoNotOptimize(parse_frame(burst[i].data(), length, length, infos[i]));
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kBurstSize));
  state.counters["frame_bytes"] = static_cast<double>(frame.size());
}

void BM_ParseIpv4Udp64(benchmark::State& state) {
  parse_burst(state, ipv4_udp_64());
}
void BM_ParseQinqIpv4Udp(benchmark::State& state) {
  parse_burst(state, qinq_ipv4_udp());
}
void BM_ParseIpv6UdpTwoExtHeaders(benchmark::State& state) {
  parse_burst(state, ipv6_udp_two_ext_headers());
}

BENCHMARK(BM_ParseIpv4Udp64);
BENCHMARK(BM_ParseQinqIpv4Udp);
BENCHMARK(BM_ParseIpv6UdpTwoExtHeaders);

}  // namespace
