#pragma once
// Test support: traffic that can be stopped, for daemon tests that need exact counters.
//
// net_pcap's infinite_rx never stops, so counters read while it runs are snapshots of a moving
// stream. Instead tests feed net_pcap through named pipes: rx_pcap= names a FIFO a
// FifoPcapWriter writes a pcap stream into (as fast as the daemon reads it; the pipe is the
// only throttle), and tx_pcap= names a FIFO a FifoPcapReader reads, so every forwarded frame is
// seen in order. Closing the input is end of file for net_pcap: the traffic stops at a packet
// count the test knows, after which every counter is final and exact.
//
// The caveat every user must know: net_pcap's rx burst blocks in read() until it has 32 packets
// or end of file, inside a worker pass that already loaded its table. So while the input is
// paused the worker reports no quiescent state (a change that waits for every worker to move
// past it waits for more input), and the burst that ends a pause is classified with the table
// of before it; tests pad with a burst whose verdict is the same under both tables.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/packet_builder.hpp"
#include "support/temp_dir.hpp"

namespace udpsieve::test {

/// How long tests wait for a condition before giving up.
inline constexpr auto kWaitLimit = std::chrono::seconds(30);

/// Polls `done` every millisecond until it holds or kWaitLimit passes.
inline bool wait_until(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + kWaitLimit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

/// The pcap file header (microsecond timestamps, Ethernet), in host byte order.
inline std::string pcap_header() {
  const std::array<uint32_t, 6> words = {0xa1b2c3d4, 2 | (4u << 16), 0, 0, 65535, 1};
  return std::string(reinterpret_cast<const char*>(words.data()), sizeof words);
}

/// Appends one pcap record holding `frame`.
inline void append_record(std::string& out, const uint8_t* frame, std::size_t size) {
  const std::array<uint32_t, 4> header = {0, 0, static_cast<uint32_t>(size),
                                          static_cast<uint32_t>(size)};
  out.append(reinterpret_cast<const char*>(header.data()), sizeof header);
  out.append(reinterpret_cast<const char*>(frame), size);
}

/// Writes a pcap stream into a FIFO for net_pcap's rx_pcap=. The FIFO is created at
/// construction; start() opens it once the daemon opens its end (so a daemon that never gets
/// that far cannot hang the test) and writes the file header, then writes what `producer`
/// appends to its chunk until it returns false or stop() is called, and closes the FIFO: end of
/// file for net_pcap. A producer that waits must give up once `stopping` is set.
class FifoPcapWriter {
 public:
  using Producer = std::function<bool(std::string& chunk, const std::atomic<bool>& stopping)>;

  explicit FifoPcapWriter(std::string path) : path_(std::move(path)) {
    if (mkfifo(path_.c_str(), 0600) != 0) throw std::runtime_error("mkfifo " + path_);
  }
  ~FifoPcapWriter() {
    stop();
    if (thread_.joinable()) thread_.join();
  }
  FifoPcapWriter(const FifoPcapWriter&) = delete;
  FifoPcapWriter& operator=(const FifoPcapWriter&) = delete;

  void start(Producer producer) {
    thread_ = std::thread([this, producer = std::move(producer)] { run(producer); });
  }
  void stop() { stop_.store(true); }
  /// Waits until the FIFO is closed; false if that did not happen within kWaitLimit.
  bool wait_closed() {
    return wait_until([this] { return closed_.load(); });
  }
  /// Empty, or what went wrong.
  [[nodiscard]] std::string error() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }

 private:
  void run(const Producer& producer) {
    // Writing to a pipe whose reader died raises SIGPIPE: keep it pending on this thread and
    // see EPIPE instead.
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
    int fd = -1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (fd < 0 && !stop_.load()) {
      // Without a reader this fails with ENXIO instead of blocking.
      fd = open(path_.c_str(), O_WRONLY | O_NONBLOCK);
      if (fd < 0) {
        if (std::chrono::steady_clock::now() > deadline) return fail("nobody opened the FIFO");
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    if (fd >= 0) {
      (void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
      (void)fcntl(fd, F_SETFL, 0);  // blocking writes: the daemon's reading paces us
      std::string chunk = pcap_header();
      bool more = true;
      while (write_all(fd, chunk) && more && !stop_.load()) {
        chunk.clear();
        more = producer(chunk, stop_);
      }
      close(fd);
    }
    closed_.store(true);
  }

  bool write_all(int fd, const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = write(fd, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fail(std::string("write: ") + std::strerror(errno));
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  void fail(const std::string& message) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = message;
  }

  std::string path_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> closed_{false};
  mutable std::mutex mutex_;
  std::string error_;
};

/// Reads the pcap stream net_pcap writes into a FIFO named by tx_pcap=, calling `sink` for each
/// frame, until the daemon closes it (end of file). The FIFO is created and opened (without
/// blocking) at construction, before the daemon starts, so the daemon's open does not block;
/// start() once the daemon is up.
class FifoPcapReader {
 public:
  using Sink = std::function<void(const uint8_t* frame, std::size_t size)>;

  explicit FifoPcapReader(const std::string& path) {
    if (mkfifo(path.c_str(), 0600) != 0) throw std::runtime_error("mkfifo " + path);
    fd_ = open(path.c_str(), O_RDONLY | O_NONBLOCK);
    if (fd_ < 0) throw std::runtime_error("open " + path);
    (void)fcntl(fd_, F_SETPIPE_SZ, 1 << 20);
  }
  ~FifoPcapReader() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  FifoPcapReader(const FifoPcapReader&) = delete;
  FifoPcapReader& operator=(const FifoPcapReader&) = delete;

  /// Call once the daemon has opened the FIFO (before that, read() reports end of file).
  void start(Sink sink) {
    thread_ = std::thread([this, sink = std::move(sink)] { run(sink); });
  }
  /// Waits for end of file; false if it did not come within kWaitLimit.
  bool wait_eof() {
    if (!wait_until([this] { return eof_.load(); })) return false;
    thread_.join();
    return true;
  }
  [[nodiscard]] bool stream_ok() const { return stream_ok_.load(); }

 private:
  void run(const Sink& sink) {
    std::vector<uint8_t> buffer;
    std::size_t used = 0;  // bytes of buffer already handed out
    bool header_seen = false;
    std::array<uint8_t, 1 << 16> block{};
    while (!stop_.load()) {
      pollfd waiting{fd_, POLLIN, 0};
      if (poll(&waiting, 1, 100) <= 0) continue;
      const ssize_t n = read(fd_, block.data(), block.size());
      if (n == 0) break;  // the daemon closed its end
      if (n < 0) continue;
      buffer.insert(buffer.end(), block.begin(), block.begin() + n);
      if (!header_seen && buffer.size() >= 24) {
        uint32_t magic = 0;
        std::memcpy(&magic, buffer.data(), 4);
        // net_pcap writes nanosecond timestamps (0xa1b23c4d); records look the same.
        if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) stream_ok_.store(false);
        header_seen = true;
        used = 24;
      }
      while (header_seen && buffer.size() - used >= 16) {
        uint32_t caplen = 0;
        std::memcpy(&caplen, buffer.data() + used + 8, 4);
        if (buffer.size() - used - 16 < caplen) break;
        sink(buffer.data() + used + 16, caplen);
        used += 16 + caplen;
      }
      if (used > (1U << 20)) {
        buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(used));
        used = 0;
      }
    }
    if (buffer.size() != used) stream_ok_.store(false);  // a cut record
    eof_.store(true);
  }

  int fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> eof_{false};
  std::atomic<bool> stream_ok_{true};
};

/// Batches of pcap records handed to a FifoPcapWriter when the test says so.
class BatchQueue {
 public:
  void push(std::string records) {
    std::lock_guard<std::mutex> lock(mutex_);
    batches_.push_back(std::move(records));
    ready_.notify_one();
  }
  /// After the queued batches, the FIFO is closed.
  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    ready_.notify_one();
  }
  /// A FifoPcapWriter producer. Returns with nothing now and then so the writer can be stopped.
  bool next(std::string& chunk) {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait_for(lock, std::chrono::milliseconds(100),
                    [this] { return !batches_.empty() || closed_; });
    if (batches_.empty()) return !closed_;
    chunk = std::move(batches_.front());
    batches_.pop_front();
    return true;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::string> batches_;
  bool closed_ = false;
};

/// Rule id → packets, from a rules/stats reply.
inline std::map<std::string, uint64_t> rule_packets(const nlohmann::json& reply) {
  std::map<std::string, uint64_t> out;
  for (const auto& rule : reply["rules"]) {
    out[rule["id"].get<std::string>()] = rule["packets"].get<uint64_t>();
  }
  return out;
}

/// The entry of rule `id` in a rules/stats reply, or null.
inline nlohmann::json entry_of(const nlohmann::json& reply, const std::string& id) {
  for (const nlohmann::json& entry : reply["rules"]) {
    if (entry["id"] == id) return entry;
  }
  return nullptr;
}

/// Rule ids in reply order, from a rules/stats reply.
inline std::vector<std::string> rule_ids(const nlohmann::json& reply) {
  std::vector<std::string> out;
  for (const auto& rule : reply["rules"])
    out.push_back(rule["id"].get<std::string>());
  return out;
}

/// The pcap records of `bursts` of frames, in order.
inline std::string records_of(const std::vector<std::vector<std::vector<uint8_t>>>& bursts) {
  std::string out;
  for (const auto& burst : bursts) {
    for (const std::vector<uint8_t>& frame : burst)
      append_record(out, frame.data(), frame.size());
  }
  return out;
}

/// Where a frame's big-endian sequence number sits: the start of the UDP payload of an
/// untagged IPv4 frame without options.
inline constexpr std::size_t kSeqOffset = 14 + 20 + 8;

/// Writes `seq` into `frame` at kSeqOffset.
inline void put_seq(uint8_t* frame, uint64_t seq) {
  for (std::size_t i = 0; i < 8; ++i)
    frame[kSeqOffset + i] = static_cast<uint8_t>(seq >> (56 - 8 * i));
}

/// The sequence number put_seq wrote.
inline uint64_t get_seq(const uint8_t* frame) {
  uint64_t seq = 0;
  for (std::size_t i = 0; i < 8; ++i)
    seq = seq << 8 | frame[kSeqOffset + i];
  return seq;
}

/// One UDP flow of numbered frames: IPv4 from `src` to 10.9.9.9, port 40000 to `dst_port`.
struct Flow {
  std::string name;
  Ipv4Address src;
  uint16_t dst_port = 0;
};

/// Numbered frames of a few flows sent in bursts through in.fifo (a FifoPcapWriter) and every
/// forwarded frame read back from out.fifo (a FifoPcapReader), both in `dir`: for a daemon with
/// ports `net_pcap0,rx_pcap=in.fifo` and `net_pcap1,tx_pcap=out.fifo`. Construct it before the
/// daemon starts and call watch_output() once it is up. Each frame is 60 bytes and carries its
/// sequence number (its index among all frames sent) and a phase chosen by the test, so each
/// packet's fate is known from the output alone. Padding (pad()) is ARP, dropped as non_udp by a
/// daemon with `non_udp: drop` whatever its rules, and never numbered.
class FlowTraffic {
 public:
  static constexpr std::size_t kBurst = 32;  ///< net_pcap's rx burst
  static constexpr std::size_t kFrameSize = 60;

  explicit FlowTraffic(const TempDir& dir)
      : output_(dir.file("out.fifo")), input_(dir.file("in.fifo")) {
    input_.start(
        [this](std::string& chunk, const std::atomic<bool>&) { return queue_.next(chunk); });
  }
  ~FlowTraffic() { end(); }
  FlowTraffic(const FlowTraffic&) = delete;
  FlowTraffic& operator=(const FlowTraffic&) = delete;

  /// Starts reading out.fifo (the daemon must have opened it).
  void watch_output() {
    output_.start([this](const uint8_t* frame, std::size_t size) { on_frame(frame, size); });
  }

  /// Sends `per_flow` frames of each flow, interleaved (flow 0, 1, ..., 0, 1, ...), as phase
  /// `phase`. Send whole bursts (flows.size() * per_flow a multiple of kBurst) so that no burst
  /// waits for the next phase.
  void send(int phase, const std::vector<Flow>& flows, std::size_t per_flow) {
    std::string records;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (std::size_t i = 0; i < per_flow; ++i) {
        for (const Flow& flow : flows) {
          Bytes frame = PacketBuilder()
                            .ipv4({.src = flow.src, .dst = {10, 9, 9, 9}})
                            .udp({.src_port = 40000, .dst_port = flow.dst_port, .checksum = 0})
                            .payload(Bytes(kFrameSize - kSeqOffset, 0x5a))
                            .build();
          put_seq(frame.data(), sent_.size());
          append_record(records, frame.data(), frame.size());
          sent_.push_back(Sent{flow.name, phase, std::move(frame), false});
        }
      }
    }
    queue_.push(std::move(records));
  }

  /// One burst of ARP frames.
  void pad() {
    const Bytes arp = PacketBuilder().arp().build();
    queue_.push(records_of({std::vector<Bytes>(kBurst, arp)}));
    padding_ += kBurst;
  }

  /// Closes in.fifo after what was queued: end of file for the daemon.
  void end() { queue_.close(); }
  /// Waits until in.fifo is closed; false (with the reason in input_error()) otherwise.
  bool wait_input_closed() { return input_.wait_closed(); }
  [[nodiscard]] std::string input_error() const { return input_.error(); }
  /// Waits for the daemon to close out.fifo (it does when it stops).
  bool wait_output_closed() { return output_.wait_eof() && output_.stream_ok(); }

  /// Every frame sent: numbered ones plus padding.
  [[nodiscard]] uint64_t total() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return sent_.size() + padding_;
  }
  [[nodiscard]] uint64_t padding() const { return padding_; }
  /// Numbered frames of `flow` in `phase` (any flow / phase when empty / negative).
  [[nodiscard]] uint64_t sent(const std::string& flow = "", int phase = -1) const {
    return count(flow, phase, [](const auto&) { return true; });
  }
  [[nodiscard]] uint64_t forwarded(const std::string& flow = "", int phase = -1) const {
    return count(flow, phase, [](const auto& sent) { return sent.forwarded; });
  }
  [[nodiscard]] uint64_t dropped(const std::string& flow = "", int phase = -1) const {
    return count(flow, phase, [](const auto& sent) { return !sent.forwarded; });
  }
  /// Frames that came out but were not sent as such, or out of order.
  [[nodiscard]] uint64_t bad_frames() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return bad_frames_;
  }
  /// Frames whose fate differs from `forward(flow, phase)`, described (at most 10 of them).
  [[nodiscard]] std::string wrong_fates(
      const std::function<bool(const std::string& flow, int phase)>& forward) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out;
    std::size_t wrong = 0;
    for (std::size_t seq = 0; seq < sent_.size(); ++seq) {
      const Sent& sent = sent_[seq];
      if (sent.forwarded == forward(sent.flow, sent.phase)) continue;
      if (++wrong <= 10) {
        out += "frame " + std::to_string(seq) + " (flow " + sent.flow + ", phase " +
               std::to_string(sent.phase) + ") was " + (sent.forwarded ? "forwarded" : "dropped") +
               "\n";
      }
    }
    if (wrong > 10) out += "... " + std::to_string(wrong) + " frames in all\n";
    return out;
  }

 private:
  struct Sent {
    std::string flow;
    int phase = 0;
    Bytes frame;
    bool forwarded = false;
  };

  void on_frame(const uint8_t* data, std::size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    const uint64_t seq = size == kFrameSize ? get_seq(data) : UINT64_MAX;
    if (seq >= sent_.size() || (seen_any_ && seq <= last_seq_) ||
        std::memcmp(data, sent_[seq].frame.data(), size) != 0) {
      ++bad_frames_;
      return;
    }
    sent_[seq].forwarded = true;
    last_seq_ = seq;
    seen_any_ = true;
  }

  template <typename Predicate>
  uint64_t count(const std::string& flow, int phase, Predicate predicate) const {
    std::lock_guard<std::mutex> lock(mutex_);
    uint64_t n = 0;
    for (const Sent& sent : sent_) {
      if ((flow.empty() || sent.flow == flow) && (phase < 0 || sent.phase == phase) &&
          predicate(sent)) {
        ++n;
      }
    }
    return n;
  }

  mutable std::mutex mutex_;
  std::vector<Sent> sent_;
  uint64_t padding_ = 0;
  uint64_t bad_frames_ = 0;
  uint64_t last_seq_ = 0;
  bool seen_any_ = false;
  BatchQueue queue_;
  FifoPcapReader output_;  // before input_: its FIFO must be open before the daemon starts
  FifoPcapWriter input_;
};

}  // namespace udpsieve::test
