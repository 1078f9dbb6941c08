#pragma once
/// udpsieved's command line.

#include <optional>
#include <string>
#include <vector>

namespace udpsieve::service {

struct Options {
  std::string config_path;
  bool check = false;                      ///< --check: validate config and rules, then exit
  bool preflight = false;                  ///< --preflight: check the machine, then exit
  bool no_huge = false;                    ///< --no-huge: as eal.hugepages: off
  std::optional<std::string> file_prefix;  ///< --file-prefix overrides eal.file_prefix
  std::optional<std::string> socket;       ///< --socket overrides control.socket
  std::optional<std::string> log_level;    ///< --log-level overrides logging.level
  bool help = false;
  bool version = false;
};

/// Parses argv; throws std::invalid_argument with a one-line reason on bad usage.
[[nodiscard]] Options parse_options(const std::vector<std::string>& args);

/// The --help text.
[[nodiscard]] std::string usage();

}  // namespace udpsieve::service
