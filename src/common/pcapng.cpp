#include "udpsieve/common/pcapng.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace udpsieve::pcapng {
namespace {

constexpr uint32_t kSectionHeader = 0x0A0D0D0A;
constexpr uint32_t kInterfaceDescription = 0x00000001;
constexpr uint32_t kEnhancedPacket = 0x00000006;
constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr uint16_t kLinkTypeEthernet = 1;
constexpr uint16_t kOptEnd = 0;
constexpr uint16_t kOptComment = 1;
constexpr uint16_t kShbUserAppl = 4;
constexpr uint16_t kIfName = 2;
constexpr uint16_t kIfTsresol = 9;
constexpr uint16_t kEpbFlags = 2;
constexpr uint32_t kInbound = 1;  // epb_flags bits 0-1: direction

void put16(std::vector<uint8_t>& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value));
  out.push_back(static_cast<uint8_t>(value >> 8));
}
void put32(std::vector<uint8_t>& out, uint32_t value) {
  put16(out, static_cast<uint16_t>(value));
  put16(out, static_cast<uint16_t>(value >> 16));
}
void pad(std::vector<uint8_t>& out) {
  while (out.size() % 4 != 0)
    out.push_back(0);
}
void option(std::vector<uint8_t>& out, uint16_t code, const void* value, std::size_t length) {
  put16(out, code);
  put16(out, static_cast<uint16_t>(length));
  const auto* bytes = static_cast<const uint8_t*>(value);
  out.insert(out.end(), bytes, bytes + length);
  pad(out);
}
void option(std::vector<uint8_t>& out, uint16_t code, const std::string& text) {
  option(out, code, text.data(), std::min<std::size_t>(text.size(), 0xFFFC));
}

/// Wraps `body` into a block of `type` (length fields before and after) appended to `out`.
void block(std::vector<uint8_t>& out, uint32_t type, const std::vector<uint8_t>& body) {
  const auto total = static_cast<uint32_t>(12 + body.size());
  put32(out, type);
  put32(out, total);
  out.insert(out.end(), body.begin(), body.end());
  put32(out, total);
}

struct Cursor {
  const std::vector<uint8_t>& bytes;
  std::size_t at = 0;
  [[nodiscard]] uint32_t u32(std::size_t offset) const {
    if (offset + 4 > bytes.size()) throw std::runtime_error("pcapng: truncated block");
    uint32_t value = 0;
    std::memcpy(&value, bytes.data() + offset, 4);  // little-endian host (x86-64, arm64)
    return value;
  }
  [[nodiscard]] uint16_t u16(std::size_t offset) const {
    if (offset + 2 > bytes.size()) throw std::runtime_error("pcapng: truncated option");
    uint16_t value = 0;
    std::memcpy(&value, bytes.data() + offset, 2);
    return value;
  }
};

/// Calls `visit(code, offset, length)` for each option in [begin, end).
template <class Visit>
void options(const Cursor& c, std::size_t begin, std::size_t end, Visit visit) {
  while (begin + 4 <= end) {
    const uint16_t code = c.u16(begin);
    const uint16_t length = c.u16(begin + 2);
    if (code == kOptEnd) return;
    if (begin + 4 + length > end) throw std::runtime_error("pcapng: option past its block");
    visit(code, begin + 4, length);
    begin += 4 + ((length + 3U) & ~3U);
  }
}

std::string text_at(const std::vector<uint8_t>& bytes, std::size_t offset, std::size_t length) {
  return {reinterpret_cast<const char*>(bytes.data()) + offset, length};
}

}  // namespace

Writer::Writer(const std::string& application) {
  std::vector<uint8_t> body;
  put32(body, kByteOrderMagic);
  put16(body, 1);           // major version
  put16(body, 0);           // minor version
  put32(body, 0xFFFFFFFF);  // section length: not given
  put32(body, 0xFFFFFFFF);
  option(body, kShbUserAppl, application);
  option(body, kOptEnd, nullptr, 0);
  block(bytes_, kSectionHeader, body);
}

uint32_t Writer::add_interface(const std::string& name, uint32_t snaplen) {
  std::vector<uint8_t> body;
  put16(body, kLinkTypeEthernet);
  put16(body, 0);
  put32(body, snaplen);
  option(body, kIfName, name);
  const uint8_t nanoseconds = 9;
  option(body, kIfTsresol, &nanoseconds, 1);
  option(body, kOptEnd, nullptr, 0);
  block(bytes_, kInterfaceDescription, body);
  return interfaces_++;
}

void Writer::add_packet(uint32_t interface, uint64_t unix_ns, const std::vector<uint8_t>& data,
                        uint32_t original_length, const std::string& comment) {
  if (interface >= interfaces_) throw std::invalid_argument("pcapng: unknown interface");
  std::vector<uint8_t> body;
  put32(body, interface);
  put32(body, static_cast<uint32_t>(unix_ns >> 32));
  put32(body, static_cast<uint32_t>(unix_ns));
  put32(body, static_cast<uint32_t>(data.size()));
  put32(body, std::max<uint32_t>(original_length, static_cast<uint32_t>(data.size())));
  body.insert(body.end(), data.begin(), data.end());
  pad(body);
  if (!comment.empty()) option(body, kOptComment, comment);
  put16(body, kEpbFlags);
  put16(body, 4);
  put32(body, kInbound);
  option(body, kOptEnd, nullptr, 0);
  block(bytes_, kEnhancedPacket, body);
}

void read(const std::vector<uint8_t>& bytes, std::vector<std::string>& interfaces,
          std::vector<Packet>& packets) {
  const Cursor c{bytes};
  std::size_t at = 0;
  bool section = false;
  while (at < bytes.size()) {
    const uint32_t type = c.u32(at);
    const uint32_t total = c.u32(at + 4);
    if (total < 12 || total % 4 != 0 || at + total > bytes.size() ||
        c.u32(at + total - 4) != total) {
      throw std::runtime_error("pcapng: bad block length at offset " + std::to_string(at));
    }
    const std::size_t body = at + 8;
    const std::size_t end = at + total - 4;
    if (type == kSectionHeader) {
      if (c.u32(body) != kByteOrderMagic) throw std::runtime_error("pcapng: not little-endian");
      section = true;
    } else if (!section) {
      throw std::runtime_error("pcapng: no section header first");
    } else if (type == kInterfaceDescription) {
      std::string name;
      options(c, body + 8, end, [&](uint16_t code, std::size_t offset, uint16_t length) {
        if (code == kIfName) name.assign(text_at(bytes, offset, length));
      });
      interfaces.push_back(name);
    } else if (type == kEnhancedPacket) {
      Packet packet;
      packet.interface = c.u32(body);
      packet.unix_ns = uint64_t{c.u32(body + 4)} << 32 | c.u32(body + 8);
      const uint32_t captured = c.u32(body + 12);
      packet.original_length = c.u32(body + 16);
      const std::size_t data = body + 20;
      if (data + captured > end || packet.interface >= interfaces.size()) {
        throw std::runtime_error("pcapng: bad enhanced packet block");
      }
      packet.data.assign(bytes.data() + data, bytes.data() + data + captured);
      options(c, data + ((captured + 3U) & ~3U), end,
              [&](uint16_t code, std::size_t offset, uint16_t length) {
                if (code == kOptComment) {
                  packet.comment = text_at(bytes, offset, length);
                }
              });
      packets.push_back(std::move(packet));
    }
    at += total;
  }
}

}  // namespace udpsieve::pcapng
