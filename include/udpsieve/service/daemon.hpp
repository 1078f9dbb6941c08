#pragma once
/// udpsieved's process lifecycle: configuration, EAL, ports, workers, control loop, shutdown.

#include <string>
#include <vector>

namespace udpsieve::service {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  ///< runtime failure (EAL, device, resources)
inline constexpr int kExitUsage = 2;    ///< bad command line, configuration or rule file

/// Runs the daemon with `args` (argv); returns the process exit status.
[[nodiscard]] int run_daemon(const std::vector<std::string>& args);

}  // namespace udpsieve::service
