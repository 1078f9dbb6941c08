#pragma once
/// `udpsievectl capture`: the request, and the daemon's reply written out as pcapng.

#include <nlohmann/json.hpp>
#include <span>
#include <string>

namespace udpsieve::cli {

/// What to capture, from the command line.
struct CaptureOptions {
  std::string rule;     ///< a rule id, or
  std::string verdict;  ///< "drop" or "forward"
  uint64_t count = 100;
  uint64_t timeout_s = 10;
  uint64_t snaplen = 2048;
  std::string out;  ///< the pcapng file to write
};

/// Reads `capture`'s arguments (--rule ID | --verdict drop|forward, --out FILE, --count N,
/// --timeout SECONDS, --snaplen BYTES); throws UsageError.
[[nodiscard]] CaptureOptions parse_capture(std::span<const std::string> args);

/// The request line for the daemon.
[[nodiscard]] std::string capture_request(const CaptureOptions& options);

/// Writes the packets of a capture reply to `path` as pcapng: one interface per port, each
/// packet with the comment "udpsieve: rule=ID verdict=drop reason=rule lcore=N" (rule "-" when
/// no rule decided it). Returns a one-line summary. Throws std::runtime_error when the reply is
/// not a capture reply or the file cannot be written.
[[nodiscard]] std::string write_capture(const nlohmann::json& reply, const std::string& path);

}  // namespace udpsieve::cli
