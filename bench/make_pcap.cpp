// Writes a capture of 64-byte IPv4/UDP frames (with the 4-byte FCS gap: 60 bytes on the wire
// before the FCS) for the end-to-end benchmark: `bench_make_pcap OUT.pcap [FRAMES]`.
// Sources and ports vary so RSS and rules see many flows.
#include <pcap/pcap.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "support/packet_builder.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT.pcap [FRAMES]\n", argv[0]);
    return 2;
  }
  const unsigned long frames = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1024;
  pcap_t* pcap = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* out = pcap_dump_open(pcap, argv[1]);
  if (out == nullptr) {
    std::fprintf(stderr, "cannot write %s: %s\n", argv[1], pcap_geterr(pcap));
    return 1;
  }
  for (unsigned long i = 0; i < frames; ++i) {
    const auto low = static_cast<uint8_t>(i & 0xff);
    const auto high = static_cast<uint8_t>((i >> 8) & 0xff);
    const auto frame = udpsieve::test::PacketBuilder()
                           .ipv4({.src = {100, 64, high, low}, .dst = {198, 51, 100, 53}})
                           .udp({.src_port = static_cast<uint16_t>(1024 + i % 60000),
                                 .dst_port = static_cast<uint16_t>(i % 4 == 0 ? 123 : 53)})
                           .payload_size(18)  // 14 + 20 + 8 + 18 = 60 bytes
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
