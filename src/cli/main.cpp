// udpsievectl: query and drive udpsieved over its control socket.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "udpsieve/cli/capture.hpp"
#include "udpsieve/cli/client.hpp"
#include "udpsieve/cli/render.hpp"
#include "udpsieve/common/decimal.hpp"
#include "udpsieve/common/protocol.hpp"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

const char* const kUsage =
    "usage: udpsievectl [--socket PATH] COMMAND [--json | --field PATH]\n"
    "       udpsievectl [--socket PATH] check FILE... [--json]\n"
    "       udpsievectl [--socket PATH] capture (--rule ID | --verdict drop|forward)\n"
    "                   --out FILE.pcapng [--count N] [--timeout S] [--snaplen B] [--json]\n"
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
    "  capture (--rule ID | --verdict drop|forward) --out FILE.pcapng [--count N]\n"
    "          [--timeout SECONDS] [--snaplen BYTES]\n"
    "            sample packets the workers decide, as they are decided, into a pcapng file;\n"
    "            each packet's comment names its rule and verdict (defaults: 100 packets,\n"
    "            10 s, 2048 bytes; at most 10000 packets, 300 s)\n"
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
  udpsieve::cli::CaptureOptions capture;
  const std::vector<std::string> args(argv + 1, argv + argc);
  // A capture option's value; exits with usage on a missing or bad one.
  auto capture_value = [&](std::size_t& i, const std::string& name) -> std::string {
    if (i + 1 >= args.size()) {
      std::fprintf(stderr, "udpsievectl: %s needs a value\n%s", name.c_str(), kUsage);
      std::exit(kExitUsage);
    }
    return args[++i];
  };
  auto capture_number = [&](std::size_t& i, const std::string& name) -> uint64_t {
    const std::string text = capture_value(i, name);
    uint64_t value = 0;
    if (udpsieve::parse_decimal(text, 1'000'000, value) != udpsieve::DecimalResult::ok) {
      std::fprintf(stderr, "udpsievectl: %s: '%s' is not a whole number\n", name.c_str(),
                   text.c_str());
      std::exit(kExitUsage);
    }
    return value;
  };
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
    } else if (command == "capture" && arg == "--rule") {
      capture.rule = capture_value(i, arg);
    } else if (command == "capture" && arg == "--verdict") {
      capture.verdict = capture_value(i, arg);
    } else if (command == "capture" && arg == "--out") {
      capture.out = capture_value(i, arg);
    } else if (command == "capture" && arg == "--count") {
      capture.count = capture_number(i, arg);
    } else if (command == "capture" && arg == "--timeout") {
      capture.timeout_s = capture_number(i, arg);
    } else if (command == "capture" && arg == "--snaplen") {
      capture.snaplen = capture_number(i, arg);
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
  if (command == "capture") {
    const char* problem = nullptr;
    if (capture.rule.empty() == capture.verdict.empty()) {
      problem = "capture needs one of --rule ID or --verdict drop|forward";
    } else if (!capture.verdict.empty() && capture.verdict != "drop" &&
               capture.verdict != "forward") {
      problem = "--verdict is drop or forward";
    } else if (capture.out.empty()) {
      problem = "capture needs --out FILE.pcapng";
    }
    if (problem != nullptr) {
      std::fprintf(stderr, "udpsievectl: %s\n%s", problem, kUsage);
      return kExitUsage;
    }
  }
  std::string line = udpsieve::cli::command_request(command);
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
  if (command == "check") line = udpsieve::cli::check_request(files);
  if (command == "capture") {
    line = udpsieve::cli::capture_request(capture);
    timeout = std::chrono::seconds(capture.timeout_s + 30);
  }
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
  if (command == "capture") {
    try {
      const std::string summary = udpsieve::cli::write_capture(parsed, capture.out);
      if (json_output) {
        std::printf("%s\n", reply.c_str());
      } else {
        std::fputs(summary.c_str(), stdout);
      }
    } catch (const std::runtime_error& e) {
      std::fprintf(stderr, "udpsievectl: %s\n", e.what());
      return kExitError;
    }
    return 0;
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
