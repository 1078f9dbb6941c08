#include "udpsieve/service/options.hpp"

#include <stdexcept>

namespace udpsieve::service {

std::string usage() {
  return "usage: udpsieved --config FILE [--check | --preflight] [--no-huge]\n"
         "                 [--file-prefix NAME] [--socket PATH] [--log-level LEVEL]\n"
         "       udpsieved --version | --help\n"
         "\n"
         "  --config FILE       daemon configuration (YAML)\n"
         "  --check             validate the configuration and rule files, then exit\n"
         "  --preflight         check hugepages, lcores, memlock, NUMA and each port\n"
         "                      (queues, RSS, rte_flow) against the configuration, explain\n"
         "                      what to change, then exit (0: ready to start, 1: not)\n"
         "  --no-huge           run without hugepages (same as eal.hugepages: off)\n"
         "  --file-prefix NAME  DPDK file prefix (overrides eal.file_prefix)\n"
         "  --socket PATH       control socket (overrides control.socket)\n"
         "  --log-level LEVEL   trace|debug|info|warn|error|critical|off (overrides "
         "logging.level)\n"
         "\n"
         "exit status: 0 clean stop, 1 runtime failure, 2 bad usage, configuration or rules\n";
}

Options parse_options(const std::vector<std::string>& args) {
  Options options;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&](const char* name) -> std::string {
      const std::string prefix = std::string(name) + "=";
      if (arg.rfind(prefix, 0) == 0) return arg.substr(prefix.size());
      if (i + 1 >= args.size()) throw std::invalid_argument(std::string(name) + " needs a value");
      return args[++i];
    };
    auto is = [&](const char* name) {
      return arg == name || arg.rfind(std::string(name) + "=", 0) == 0;
    };
    if (is("--config")) {
      options.config_path = value("--config");
    } else if (arg == "--check") {
      options.check = true;
    } else if (arg == "--preflight") {
      options.preflight = true;
    } else if (arg == "--no-huge") {
      options.no_huge = true;
    } else if (is("--file-prefix")) {
      options.file_prefix = value("--file-prefix");
    } else if (is("--socket")) {
      options.socket = value("--socket");
    } else if (is("--log-level")) {
      options.log_level = value("--log-level");
    } else if (arg == "--help" || arg == "-h") {
      options.help = true;
    } else if (arg == "--version") {
      options.version = true;
    } else {
      throw std::invalid_argument("unknown argument '" + arg + "'");
    }
  }
  if (options.check && options.preflight) {
    throw std::invalid_argument(
        "--check and --preflight do not go together; run one, then the other");
  }
  if (!options.help && !options.version && options.config_path.empty()) {
    throw std::invalid_argument("--config FILE is required");
  }
  return options;
}

}  // namespace udpsieve::service
