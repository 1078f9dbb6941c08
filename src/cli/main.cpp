// udpsievectl: query and drive udpsieved over its control socket.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "udpsieve/cli/client.hpp"
#include "udpsieve/cli/render.hpp"
#include "udpsieve/common/protocol.hpp"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

const char* const kUsage =
    "usage: udpsievectl [--socket PATH] COMMAND [--json | --field PATH]\n"
    "       udpsievectl [--socket PATH] check FILE... [--json]\n"
    "\n"
    "commands:\n"
    "  stats     counters: totals, drop reasons, ports, workers, rules\n"
    "  ports     ports: device, driver, link, queues, counters\n"
    "  workers   workers: lcore, queues, counters, polls\n"
    "  rules     the loaded rules with their counters\n"
    "  version   daemon and DPDK versions\n"
    "  metrics   the Prometheus text exposition (as served by control.metrics_listen)\n"
    "  reload    re-read the configuration and rule files and swap them in without losing a\n"
    "            packet (exit 1 when refused; the running rules stay in effect)\n"
    "  check FILE...  validate and compile rule files against the running daemon's ports\n"
    "            without applying them; warns about rules that can never match\n"
    "\n"
    "  --socket PATH   control socket (default $UDPSIEVE_SOCKET or /run/udpsieve/control.sock)\n"
    "  --json          print the daemon's JSON reply unchanged\n"
    "  --field PATH    print one value of the reply, e.g. totals.rx_packets or ports.0.name\n"
    "\n"
    "exit status: 0 success, 1 daemon unreachable or request refused, 2 bad usage\n";

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path(udpsieve::protocol::kDefaultSocket);
  if (const char* env = std::getenv("UDPSIEVE_SOCKET"); env != nullptr && *env != '\0') {
    socket_path = env;
  }
  std::string command;
  bool json_output = false;
  std::string field;
  std::vector<std::string> files;
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--socket") {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "udpsievectl: --socket needs a path\n%s", kUsage);
        return kExitUsage;
      }
      socket_path = args[++i];
    } else if (arg.rfind("--socket=", 0) == 0) {
      socket_path = arg.substr(9);
    } else if (arg == "--field" && i + 1 < args.size()) {
      field = args[++i];
    } else if (arg == "--json") {
      json_output = true;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (command.empty() && arg.rfind("--", 0) != 0) {
      command = arg;
    } else if (command == "check" && arg.rfind("--", 0) != 0) {
      files.push_back(arg);
    } else {
      std::fprintf(stderr, "udpsievectl: unexpected argument '%s'\n%s", arg.c_str(), kUsage);
      return kExitUsage;
    }
  }
  bool known = false;
  for (std::string_view name : udpsieve::protocol::kCommands)
    known = known || name == command;
  if (!known) {
    std::fprintf(
        stderr, "udpsievectl: %s\n%s",
        command.empty() ? "a command is required" : ("unknown command '" + command + "'").c_str(),
        kUsage);
    return kExitUsage;
  }

  if (command == "check" && files.empty()) {
    std::fprintf(stderr, "udpsievectl: check needs at least one rule file\n%s", kUsage);
    return kExitUsage;
  }
  std::string line = udpsieve::cli::command_request(command);
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
  if (command == "check") line = udpsieve::cli::check_request(files);
  // Compiling a large rule set takes seconds; the daemon answers when it is done.
  if (command == "reload" || command == "check") timeout = std::chrono::minutes(5);

  std::string reply;
  try {
    reply = udpsieve::cli::request(socket_path, line, timeout);
  } catch (const udpsieve::cli::ClientError& e) {
    std::fprintf(stderr, "udpsievectl: %s\n", e.what());
    return kExitError;
  }
  nlohmann::json parsed = nlohmann::json::parse(reply, nullptr, false);
  if (parsed.is_discarded()) {
    std::fprintf(stderr, "udpsievectl: the daemon sent a reply that is not JSON: %s\n",
                 reply.c_str());
    return kExitError;
  }
  if (parsed.is_object() && parsed.contains("error")) {
    const nlohmann::json& error = parsed["error"];
    std::fprintf(stderr, "udpsievectl: %s\n",
                 error.is_string() ? error.get<std::string>().c_str() : error.dump().c_str());
    if (json_output) std::printf("%s\n", reply.c_str());
    return kExitError;
  }
  if (!field.empty()) {
    std::string pointer;
    for (char c : field)
      pointer += c == '.' ? '/' : c;
    try {
      const nlohmann::json& value = parsed.at(nlohmann::json::json_pointer("/" + pointer));
      std::printf("%s\n",
                  value.is_string() ? value.get<std::string>().c_str() : value.dump().c_str());
    } catch (const nlohmann::json::exception&) {
      std::fprintf(stderr, "udpsievectl: the %s reply has no field '%s'\n", command.c_str(),
                   field.c_str());
      return kExitError;
    }
  } else if (json_output) {
    std::printf("%s\n", reply.c_str());
  } else {
    std::fputs(udpsieve::cli::render(command, parsed).c_str(), stdout);
  }
  return 0;
}
