#pragma once
/// Durations on udpsievectl's command line (`--ttl 10m`) and in its tables (`9m58s`).

#include <cstdint>
#include <string>
#include <string_view>

namespace udpsieve::cli {

/// The longest duration accepted: 365 days, the daemon's limit for ttl_s.
inline constexpr uint64_t kMaxDurationS = 365ULL * 24 * 3600;

/// Seconds from a whole number with an optional unit s, m, h or d ("90", "90s", "10m", "2h",
/// "7d"), 1 s to 365 days. Anything else throws UsageError naming `option` ("--ttl").
[[nodiscard]] uint64_t parse_duration(std::string_view text, std::string_view option);

/// Seconds in at most two units, the larger first: "0s", "45s", "9m58s", "2h5m", "7d", "3d4h".
[[nodiscard]] std::string format_duration(uint64_t seconds);

}  // namespace udpsieve::cli
