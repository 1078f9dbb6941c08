#pragma once
/// A small pcapng writer (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html):
/// one Section Header Block, an Interface Description Block per port (Ethernet, nanosecond
/// timestamps, the port's name), and an Enhanced Packet Block per packet with its direction
/// and a comment (udpsievectl capture writes the rule and verdict there, which Wireshark shows
/// as the packet comment). Little-endian, as the reader expects from the byte-order magic.
///
/// DPDK 22.11's rte_pcapng cannot attach a comment to a packet, and this needs no EAL.

#include <cstdint>
#include <string>
#include <vector>

namespace udpsieve::pcapng {

/// Blocks of a capture file, appended to a byte buffer.
class Writer {
 public:
  /// Starts the section: `application` goes into the shb_userappl option.
  explicit Writer(const std::string& application);

  /// Adds an interface (Ethernet link type, nanosecond resolution); returns its id.
  uint32_t add_interface(const std::string& name, uint32_t snaplen);
  /// Adds a packet received on interface `interface` at `unix_ns`; `original_length` may
  /// exceed `data.size()` when the capture was cut at the snap length.
  void add_packet(uint32_t interface, uint64_t unix_ns, const std::vector<uint8_t>& data,
                  uint32_t original_length, const std::string& comment);

  [[nodiscard]] const std::vector<uint8_t>& bytes() const noexcept { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
  uint32_t interfaces_ = 0;
};

/// One packet read back by read_packets() (for tests and tools).
struct Packet {
  uint32_t interface = 0;
  uint64_t unix_ns = 0;
  uint32_t original_length = 0;
  std::vector<uint8_t> data;
  std::string comment;
};

/// Reads the interface names and packets of a file Writer produced (little-endian, one
/// section). Throws std::runtime_error on anything malformed.
void read(const std::vector<uint8_t>& bytes, std::vector<std::string>& interfaces,
          std::vector<Packet>& packets);

}  // namespace udpsieve::pcapng
