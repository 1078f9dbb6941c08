#pragma once
/// Turning configuration and rule files into tables: at start-up, on reload and for checks.

#include <memory>
#include <vector>

#include "udpsieve/config/config.hpp"
#include "udpsieve/control/compile_jobs.hpp"
#include "udpsieve/service/options.hpp"

namespace udpsieve::dataplane {
class Table;
}

namespace udpsieve::service {

/// Applies command-line overrides (--no-huge, --file-prefix, --socket, --log-level) to a
/// configuration; a bad value throws std::invalid_argument.
void apply_overrides(const Options& options, config::DaemonConfig& config);

/// What compiling needs to know about the running daemon.
struct CompileEnv {
  Options options;
  config::DaemonConfig running;  ///< the configuration the daemon started with
  uint32_t workers = 1;
  int socket = 0;  ///< NUMA socket for classifier memory
};

/// Builds a table for `loaded` (rules, defaults, routes). Throws ConfigError for a rule the
/// classifier cannot take, std::runtime_error when DPDK fails.
[[nodiscard]] std::unique_ptr<dataplane::Table> make_table(const config::LoadedConfig& loaded,
                                                           const CompileEnv& env,
                                                           uint64_t generation);

/// Runs a reload or check job (on the compile thread). Never throws.
[[nodiscard]] control::CompileOutcome compile(const control::JobRequest& request,
                                              const CompileEnv& env);

/// Shadowed and duplicate rules as warning lines, within `budget`; sets `complete`.
[[nodiscard]] std::vector<std::string> unreachable_rule_warnings(
    const std::vector<rules::Rule>& rules, bool& complete);

}  // namespace udpsieve::service
