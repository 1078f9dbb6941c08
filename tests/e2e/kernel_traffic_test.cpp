// Kernel UDP through udpsieved: sockets in the client namespace send allowed and denied flows
// over IPv4 and IPv6 (several ports, sizes and payloads, datagrams the kernel fragments, a
// second source address); the server namespace gets exactly the allowed datagrams, byte for
// byte, and echoes them back through the daemon's other port; every rule's packet and byte
// counters equal what was sent.
//
// Frames are sent in batches, and each batch waits until the daemon has classified all of it:
// no ring on the way (veth, packet socket, XDP socket) ever holds more than a batch, so no
// frame can be lost to scheduling, whatever the load on the machine.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "e2e/fixture.hpp"

namespace {

using udpsieve::test::e2e::Endpoint;
using udpsieve::test::e2e::Fd;
using udpsieve::test::e2e::Pmd;
using udpsieve::test::e2e::RuleCount;
namespace e2e = udpsieve::test::e2e;
using Bytes = std::vector<uint8_t>;

const char* const kRules = R"(rules:
  - id: deny-magic                    # payload match: bytes 4-7 of the UDP payload
    match: {dst_port: 7000-7002, payload: {offset: 4, value: "deadbeef"}}
    action: drop
  - id: deny-alt-sources              # src prefix: the client's second addresses
    match: {src: [10.77.0.128/25, "fd00:77::8000/113"]}
    action: drop
  - id: allow-7000
    match: {dst: [10.77.0.2, "fd00:77::2"], dst_port: 7000}
    action: forward
  - id: allow-7001-from-client        # src prefix: the client's first addresses
    match: {src: [10.77.0.0/25, "fd00:77::/113"], dst_port: 7001}
    action: forward
  - id: allow-7002-large              # L3 length
    match: {dst_port: 7002, length: 1000-65535}
    action: forward
  - id: fragment-tails                # non-first fragments carry no ports
    match: {src: [10.77.0.0/25, "fd00:77::/113"], fragment: non_first}
    action: forward
  - id: replies
    match: {in_port: server, src: [10.77.0.2, "fd00:77::2"], src_port: 7000-7002}
    action: forward
)";
const std::set<std::string> kForwardRules = {"allow-7000", "allow-7001-from-client",
                                             "allow-7002-large", "fragment-tails", "replies"};
constexpr const char* kDefault = "-";
constexpr uint16_t kClientPort = 5000;
constexpr uint16_t kClientAltPort = 5001;
/// At most this many frames are in flight before the test waits for the daemon.
constexpr uint64_t kBatchFrames = 24;

/// The frame lengths the kernel makes of a `payload`-byte datagram on the lab's MTU: one
/// frame, or IP fragments of the largest multiple of 8 bytes that fits.
std::vector<uint64_t> frame_lengths(bool v6, std::size_t payload) {
  const std::size_t ip_header = v6 ? 40 : 20;
  const std::size_t l4 = 8 + payload;
  if (ip_header + l4 <= e2e::kMtu) return {14 + ip_header + l4};
  const std::size_t fragment_header = v6 ? 8 : 0;
  const std::size_t per_fragment = (e2e::kMtu - ip_header - fragment_header) & ~std::size_t{7};
  std::vector<uint64_t> out;
  for (std::size_t offset = 0; offset < l4; offset += per_fragment)
    out.push_back(14 + ip_header + fragment_header + std::min(per_fragment, l4 - offset));
  return out;
}

/// A payload unique to `id` (its first four bytes, when there is room); bytes 4-7 are
/// de ad be ef when `magic`, and never otherwise (the filler steps by 7).
Bytes make_payload(uint32_t id, std::size_t size, bool magic = false) {
  Bytes out(size);
  for (std::size_t i = 0; i < size; ++i)
    out[i] = static_cast<uint8_t>(id * 31U + static_cast<uint32_t>(i) * 7U);
  for (std::size_t i = 0; i < 4 && i < size; ++i)
    out[i] = static_cast<uint8_t>(id >> (24 - 8 * i));
  if (magic) {
    const uint8_t bytes[4] = {0xde, 0xad, 0xbe, 0xef};
    std::copy(bytes, bytes + 4, out.begin() + 4);
  }
  return out;
}

struct Datagram {
  bool v6 = false;
  bool alt_source = false;  ///< from the client's second address (port 5001)
  uint16_t dst_port = 0;
  Bytes payload;
  std::string rule;  ///< the rule that decides its first frame ("-": default_action drop)
};

/// What the daemon must count, built up as the test sends.
struct Expected {
  std::map<std::string, RuleCount> rules;
  uint64_t default_drops = 0;
  uint64_t frames = 0;
  uint64_t forwarded = 0;

  /// Accounts for a datagram decided by `rule`; its fragment tails go to `tail_rule`.
  void add(bool v6, std::size_t payload, const std::string& rule, const std::string& tail_rule) {
    const std::vector<uint64_t> lengths = frame_lengths(v6, payload);
    for (std::size_t i = 0; i < lengths.size(); ++i) {
      const std::string& decided = i == 0 ? rule : tail_rule;
      ++frames;
      if (decided == kDefault) {
        ++default_drops;
        continue;
      }
      rules[decided].packets += 1;
      rules[decided].bytes += lengths[i];
      if (kForwardRules.count(decided) != 0) ++forwarded;
    }
  }
};

class KernelTraffic : public e2e::LabTest {
 protected:
  void SetUp() override {
    start(GetParam() == Pmd::kAfPacket ? "ktp" : "ktx", dir_.write("rules.yaml", kRules));
  }

  /// Waits until the daemon has classified `expected.frames` UDP frames.
  void wait_classified(const Expected& expected) {
    const auto stats = daemon_->wait_stats(
        [&](const nlohmann::json& s) { return e2e::udp_classified(s) >= expected.frames; });
    ASSERT_TRUE(stats.has_value())
        << "the daemon never classified " << expected.frames << " UDP frames; last stats:\n"
        << daemon_->request("stats").dump(2);
  }

  /// Receives exactly `count` datagrams on `socket` (then checks that no more are queued).
  static std::vector<std::pair<Bytes, Endpoint>> receive_exactly(const Fd& socket,
                                                                 std::size_t count,
                                                                 const std::string& what) {
    std::vector<std::pair<Bytes, Endpoint>> out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
      Endpoint from;
      if (auto datagram = e2e::receive_datagram(socket, std::chrono::milliseconds(100), &from)) {
        out.emplace_back(std::move(*datagram), from);
      }
    }
    EXPECT_EQ(out.size(), count) << what << ": datagrams received";
    // Everything the daemon forwarded has been received (its counters said so before this was
    // called and the receiving kernel queues synchronously), so anything more is an extra.
    EXPECT_FALSE(e2e::receive_datagram(socket, std::chrono::milliseconds(0)).has_value())
        << what << ": a datagram beyond the allowed ones arrived";
    return out;
  }
};

bool same_address(const Endpoint& a, const Endpoint& b) {
  if (a.family() != b.family()) return false;
  if (a.family() == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a.address);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b.address);
    return x.sin_addr.s_addr == y.sin_addr.s_addr && x.sin_port == y.sin_port;
  }
  const auto& x = reinterpret_cast<const sockaddr_in6&>(a.address);
  const auto& y = reinterpret_cast<const sockaddr_in6&>(b.address);
  return std::equal(x.sin6_addr.s6_addr, x.sin6_addr.s6_addr + 16, y.sin6_addr.s6_addr) &&
         x.sin6_port == y.sin6_port;
}

std::vector<Bytes> sorted(std::vector<Bytes> payloads) {
  std::sort(payloads.begin(), payloads.end());
  return payloads;
}

TEST_P(KernelTraffic, AllowedFlowsArriveExactlyDeniedOnesNeverAndCountersAgree) {
  const std::string client_ns = lab_->client_ns();
  const std::string server_ns = lab_->server_ns();
  const uint16_t server_ports[] = {7000, 7001, 7002, 7003};

  // Sockets: per family, the client's two addresses and the server's four ports.
  std::map<bool, Fd> client;
  std::map<bool, Fd> client_alt;
  std::map<std::pair<bool, uint16_t>, Fd> server;
  for (const bool v6 : {false, true}) {
    client[v6] = e2e::udp_socket(client_ns, v6 ? e2e::kClientIp6 : e2e::kClientIp4, kClientPort);
    client_alt[v6] =
        e2e::udp_socket(client_ns, v6 ? e2e::kClientAltIp6 : e2e::kClientAltIp4, kClientAltPort);
    for (const uint16_t port : server_ports)
      server[{v6, port}] = e2e::udp_socket(server_ns, v6 ? e2e::kServerIp6 : e2e::kServerIp4, port);
  }

  // The flows, both families: id, size and whether bytes 4-7 are the magic.
  std::vector<Datagram> datagrams;
  uint32_t next_id = 1;
  const auto add = [&](bool v6, bool alt, uint16_t port, std::size_t size, const char* rule,
                       bool magic = false) {
    datagrams.push_back({v6, alt, port, make_payload(next_id++, size, magic), rule});
  };
  for (const bool v6 : {false, true}) {
    const std::size_t largest = e2e::kMtu - (v6 ? 48 : 28);  // the largest unfragmented payload
    for (const std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{64},
                                   std::size_t{512}, std::size_t{1400}, largest}) {
      add(v6, false, 7000, size, "allow-7000");
    }
    // Fragmented by the sending kernel. Not IPv4 on net_af_packet: DPDK 22.11's af_packet PMD
    // joins a PACKET_FANOUT group with PACKET_FANOUT_FLAG_DEFRAG, so the kernel reassembles
    // IPv4 fragments before the PMD sees them, and a datagram longer than the ring's frames
    // arrives truncated (dropped as malformed). IPv6 fragments are not reassembled.
    if (v6 || GetParam() != Pmd::kAfPacket) {
      add(v6, false, 7000, 3000, "allow-7000");
      add(v6, false, 7000, 4000, "allow-7000");
    }
    add(v6, false, 7000, 8, "deny-magic", true);
    add(v6, false, 7000, 300, "deny-magic", true);
    add(v6, false, 7001, 16, "allow-7001-from-client");
    add(v6, false, 7001, 900, "allow-7001-from-client");
    add(v6, false, 7001, 32, "deny-magic", true);
    add(v6, true, 7001, 16, "deny-alt-sources");
    add(v6, true, 7001, 200, "deny-alt-sources");
    add(v6, true, 7000, 64, "deny-alt-sources");
    add(v6, false, 7002, 1100, "allow-7002-large");
    add(v6, false, 7002, 100, kDefault);  // L3 length below 1000: no rule
    add(v6, false, 7003, 50, kDefault);
  }

  // Client → server, in batches the daemon has to catch up with.
  Expected expected;
  uint64_t batch_start = 0;
  std::map<std::pair<bool, uint16_t>, std::vector<Bytes>> allowed;
  for (const Datagram& d : datagrams) {
    const Fd& from = d.alt_source ? client_alt[d.v6] : client[d.v6];
    e2e::send_datagram(from, e2e::endpoint(d.v6 ? e2e::kServerIp6 : e2e::kServerIp4, d.dst_port),
                       d.payload);
    expected.add(d.v6, d.payload.size(), d.rule,
                 d.rule == "allow-7000" ? "fragment-tails" : d.rule);
    if (kForwardRules.count(d.rule) != 0) allowed[{d.v6, d.dst_port}].push_back(d.payload);
    if (expected.frames - batch_start >= kBatchFrames) {
      ASSERT_NO_FATAL_FAILURE(wait_classified(expected));
      batch_start = expected.frames;
    }
  }
  ASSERT_NO_FATAL_FAILURE(wait_classified(expected));

  // The server got exactly the allowed datagrams, from the client's first address, and
  // echoes each back (server → client through the daemon's server port).
  std::map<bool, std::vector<Bytes>> echoed;
  for (const bool v6 : {false, true}) {
    const Endpoint client_address =
        e2e::endpoint(v6 ? e2e::kClientIp6 : e2e::kClientIp4, kClientPort);
    for (const uint16_t port : server_ports) {
      const auto want = allowed[{v6, port}];
      const std::string what =
          std::string(v6 ? "IPv6" : "IPv4") + " server port " + std::to_string(port);
      const auto got = receive_exactly(server[{v6, port}], want.size(), what);
      std::vector<Bytes> payloads;
      for (const auto& [payload, sender] : got) {
        EXPECT_TRUE(same_address(sender, client_address)) << what << ": unexpected sender";
        payloads.push_back(payload);
        e2e::send_datagram(server[{v6, port}], sender, payload);
        expected.add(v6, payload.size(), "replies", "fragment-tails");
        echoed[v6].push_back(payload);
        if (expected.frames - batch_start >= kBatchFrames) {
          ASSERT_NO_FATAL_FAILURE(wait_classified(expected));
          batch_start = expected.frames;
        }
      }
      EXPECT_EQ(sorted(payloads), sorted(want)) << what << ": payloads differ";
    }
    // A reply from a port no rule allows is dropped by default_action.
    const Bytes denied = make_payload(next_id++, 40);
    e2e::send_datagram(server[{v6, 7003}], client_address, denied);
    expected.add(v6, denied.size(), kDefault, kDefault);
  }
  ASSERT_NO_FATAL_FAILURE(wait_classified(expected));

  for (const bool v6 : {false, true}) {
    const std::string what = std::string(v6 ? "IPv6" : "IPv4") + " client";
    std::vector<Bytes> replies;
    for (const auto& [payload, sender] : receive_exactly(client[v6], echoed[v6].size(), what)) {
      (void)sender;
      replies.push_back(payload);
    }
    EXPECT_EQ(sorted(replies), sorted(echoed[v6])) << what << ": replies differ";
    EXPECT_TRUE(receive_exactly(client_alt[v6], 0, what + " second address").empty());
  }

  // Counters: per rule exactly what was sent; totals add up. Non-UDP (the namespaces' own
  // MLD reports) is dropped by non_udp: drop and counted apart.
  const nlohmann::json stats = daemon_->request("stats");
  std::vector<std::pair<std::string, RuleCount>> want_rules;
  for (const auto& [id, count] : e2e::rule_counts(stats)) {
    (void)count;
    want_rules.emplace_back(id, expected.rules[id]);
  }
  EXPECT_EQ(e2e::rule_counts(stats), want_rules) << stats["rules"].dump(2);
  const auto& totals = stats["totals"];
  const auto& drops = totals["drops"];
  EXPECT_EQ(drops["default"].get<uint64_t>(), expected.default_drops);
  EXPECT_EQ(totals["forwarded_packets"].get<uint64_t>(), expected.forwarded);
  EXPECT_EQ(drops["rule"].get<uint64_t>(),
            expected.frames - expected.forwarded - expected.default_drops);
  EXPECT_EQ(totals["rx_packets"].get<uint64_t>() - drops["non_udp"].get<uint64_t>(),
            expected.frames);
  EXPECT_EQ(totals["rx_packets"].get<uint64_t>(), totals["forwarded_packets"].get<uint64_t>() +
                                                      totals["dropped_packets"].get<uint64_t>());
  EXPECT_EQ(drops["malformed"].get<uint64_t>(), 0U);
  EXPECT_EQ(drops["tx_full"].get<uint64_t>(), 0U);
  for (const auto& port : stats["ports"]) {
    EXPECT_EQ(port["rx_missed"].get<uint64_t>(), 0U) << port.dump();
    EXPECT_EQ(port["tx_errors"].get<uint64_t>(), 0U) << port.dump();
  }
  std::cout << "[ COUNTS   ] " << expected.frames << " UDP frames (" << expected.forwarded
            << " forwarded), " << drops["non_udp"].get<uint64_t>() << " non-UDP dropped"
            << std::endl;
}

INSTANTIATE_TEST_SUITE_P(Pmds, KernelTraffic, testing::Values(Pmd::kAfPacket, Pmd::kAfXdp),
                         e2e::pmd_name);

}  // namespace
