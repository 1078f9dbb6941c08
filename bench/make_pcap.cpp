// Writes a capture of small UDP frames for the end-to-end benchmarks:
//
//   bench_make_pcap OUT.pcap [FRAMES [V6_PERCENT [random]]]
//
// IPv4 frames are 64 bytes on the wire (60 before the FCS), IPv6 ones 66. Every frame is its
// own flow towards 198.51.100.53 (2001:db8::53), destination port 53 (every fourth 123).
// Without `random` (the default) sources count up from 100.64.0.0 (16 bits) and source ports
// from 1024, as a few thousand clients; with `random` every frame gets a source address and
// port drawn from a fixed-seed generator, as a flood of spoofed sources does (never in
// 10.0.0.0/8, where the benchmarks' unmatched rules are, nor in reserved ranges).
#include <pcap/pcap.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "support/packet_builder.hpp"

namespace {

udpsieve::test::Ipv4Address random_v4(std::mt19937_64& rng) {
  for (;;) {
    const auto value = static_cast<uint32_t>(rng());
    const auto first = static_cast<uint8_t>(value >> 24);
    if (first == 0 || first == 10 || first == 127 || first >= 224) continue;
    return {first, static_cast<uint8_t>(value >> 16), static_cast<uint8_t>(value >> 8),
            static_cast<uint8_t>(value)};
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT.pcap [FRAMES [V6_PERCENT [random]]]\n", argv[0]);
    return 2;
  }
  const unsigned long frames = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1024;
  const unsigned long v6_percent = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 0;
  const bool random = argc > 4 && std::strcmp(argv[4], "random") == 0;
  if (v6_percent > 100) {
    std::fprintf(stderr, "V6_PERCENT is 0-100\n");
    return 2;
  }
  pcap_t* pcap = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* out = pcap_dump_open(pcap, argv[1]);
  if (out == nullptr) {
    std::fprintf(stderr, "cannot write %s: %s\n", argv[1], pcap_geterr(pcap));
    return 1;
  }
  std::mt19937_64 rng(20261205);
  for (unsigned long i = 0; i < frames; ++i) {
    const auto low = static_cast<uint8_t>(i & 0xff);
    const auto high = static_cast<uint8_t>((i >> 8) & 0xff);
    const auto dst_port = static_cast<uint16_t>(i % 4 == 0 ? 123 : 53);
    const auto src_port = static_cast<uint16_t>(random ? 1024 + rng() % 64512 : 1024 + i % 60000);
    // Spread the IPv6 frames evenly: frame i is IPv6 when the running share falls behind.
    const bool v6 = (i + 1) * v6_percent / 100 > i * v6_percent / 100;
    udpsieve::test::PacketBuilder builder;
    if (v6) {
      udpsieve::test::Ipv6Address src{0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0,    0,
                                      0,    0,    0,    0,    0,    0, high, low};
      if (random) {
        for (std::size_t b = 4; b < 16; ++b)
          src[b] = static_cast<uint8_t>(rng());
      }
      udpsieve::test::Ipv6Address dst{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                      0,    0,    0,    0,    0, 0, 0, 0x53};
      builder.ipv6({.src = src, .dst = dst});
    } else {
      builder.ipv4(
          {.src = random ? random_v4(rng) : udpsieve::test::Ipv4Address{100, 64, high, low},
           .dst = {198, 51, 100, 53}});
    }
    const auto frame = builder.udp({.src_port = src_port, .dst_port = dst_port})
                           .payload_size(v6 ? 4 : 18)  // 14 + 20 + 8 + 18 = 60 bytes
                           .build();
    pcap_pkthdr header{};
    header.caplen = static_cast<bpf_u_int32>(frame.size());
    header.len = header.caplen;
    pcap_dump(reinterpret_cast<u_char*>(out), &header, frame.data());
  }
  pcap_dump_close(out);
  pcap_close(pcap);
  return 0;
}
