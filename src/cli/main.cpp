// udpsievectl: query and drive udpsieved over its control socket.
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "udpsieve/cli/args.hpp"
#include "udpsieve/cli/capture.hpp"
#include "udpsieve/cli/client.hpp"
#include "udpsieve/cli/command_line.hpp"
#include "udpsieve/cli/top_screen.hpp"
#include "udpsieve/common/config_error.hpp"
#include "udpsieve/common/protocol.hpp"

namespace {

namespace cli = udpsieve::cli;

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

std::string read_stdin() {
  std::string text;
  char buffer[65536];
  while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, stdin))
    text.append(buffer, n);
  return text;
}

/// One value of the reply named by a dotted path (cli::reply_field).
int print_field(const std::string& command, const nlohmann::json& reply, const std::string& field) {
  const std::optional<nlohmann::json> value = cli::reply_field(reply, field);
  if (!value) {
    std::fprintf(stderr, "udpsievectl: the %s reply has no field '%s'\n", command.c_str(),
                 field.c_str());
    return kExitError;
  }
  std::printf("%s\n",
              value->is_string()
                  ? value->get<std::string>().c_str()
                  : value->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path(udpsieve::protocol::kDefaultSocket);
  if (const char* env = std::getenv("UDPSIEVE_SOCKET"); env != nullptr && *env != '\0') {
    socket_path = env;
  }
  const std::vector<std::string> args(argv + 1, argv + argc);
  cli::Invocation invocation;
  cli::Request request;
  try {
    invocation = cli::parse_command_line(args, socket_path);
    if (invocation.help) {
      std::fputs(cli::usage_text().c_str(), stdout);
      return 0;
    }
    request = cli::build_request(invocation, read_stdin);
  } catch (const cli::UsageError& e) {
    std::fprintf(stderr, "udpsievectl: %s\n%s", e.what(), cli::usage_text(e.words()).c_str());
    return kExitUsage;
  } catch (const udpsieve::ConfigError& e) {
    std::fprintf(stderr, "udpsievectl: %s\n", e.what());
    return kExitError;
  }

  if (invocation.words == "top") {
    if (invocation.json_output || !invocation.field.empty()) {
      std::fprintf(stderr, "udpsievectl: top is a view; --json and --field are for stats\n");
      return kExitUsage;
    }
    return cli::run_top(invocation.socket_path, cli::parse_top(invocation.args), request.timeout);
  }

  std::string reply;
  try {
    // Arguments that are not UTF-8 are sent with U+FFFD in their place; the daemon refuses them.
    const std::string line =
        request.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    // `rules` without a page asked for: all of them, a page at a time.
    const bool every_rule = request.command == "rules" && !request.body.contains("limit") &&
                            !request.body.contains("offset");
    reply = every_rule
                ? cli::request_all_rules(invocation.socket_path, request.body, request.timeout)
                : cli::request(invocation.socket_path, line, request.timeout);
  } catch (const cli::ClientError& e) {
    std::fprintf(stderr, "udpsievectl: %s\n", e.what());
    return kExitError;
  }
  const nlohmann::json parsed = nlohmann::json::parse(reply, nullptr, false);
  if (parsed.is_discarded()) {
    std::fprintf(stderr, "udpsievectl: the daemon sent a reply that is not JSON: %s\n",
                 reply.c_str());
    return kExitError;
  }
  if (parsed.is_object() && parsed.contains("error")) {
    const nlohmann::json& error = parsed["error"];
    const std::string text = error.is_string() ? error.get<std::string>() : error.dump();
    std::fprintf(stderr, "udpsievectl: %s\n", cli::explain_error(request, text).c_str());
    if (invocation.json_output) std::printf("%s\n", reply.c_str());
    return kExitError;
  }
  if (request.command == "capture") {
    try {
      const std::string summary = cli::write_capture(parsed, request.capture.out);
      std::fputs(invocation.json_output ? (reply + "\n").c_str() : summary.c_str(), stdout);
    } catch (const std::runtime_error& e) {
      std::fprintf(stderr, "udpsievectl: %s\n", e.what());
      return kExitError;
    }
    return 0;
  }
  if (!invocation.field.empty()) return print_field(request.command, parsed, invocation.field);
  if (invocation.json_output) {
    std::printf("%s\n", reply.c_str());
  } else {
    std::fputs(cli::render_reply(request, parsed).c_str(), stdout);
  }
  return 0;
}
