#pragma once
/// udpsievectl's command line: global options and the command words, checked against the
/// command table (protocol::kCommands), then the request to send and how to show its reply.

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "udpsieve/cli/capture.hpp"
#include "udpsieve/cli/rule_commands.hpp"
#include "udpsieve/common/protocol.hpp"

namespace udpsieve::cli {

/// The longest --timeout, in seconds (one day).
inline constexpr uint64_t kMaxTimeoutS = 86400;

/// A command line split into global options and one command with its own arguments.
struct Invocation {
  std::string socket_path;                      ///< --socket
  bool json_output = false;                     ///< --json
  std::string field;                            ///< --field PATH
  std::optional<std::chrono::seconds> timeout;  ///< --timeout: overrides the command's default
  bool help = false;                            ///< --help or -h
  const protocol::Command* command = nullptr;   ///< the command the words name
  std::string words;                            ///< the command words as typed: "rule add"
  std::vector<std::string> args;                ///< the command's own arguments
};

/// A request ready to send, and what is needed to show its reply.
struct Request {
  std::string command;                  ///< the protocol command: "rule-add"
  std::string words;                    ///< the command words: "block"
  nlohmann::json body;                  ///< the request object
  std::chrono::milliseconds timeout{};  ///< how long to wait for the reply
  CaptureOptions capture;               ///< capture: where to write the packets
  std::optional<RuleFile> rule_file;    ///< rule add: to place the daemon's errors in the file
};

/// Splits the arguments (argv without argv[0]); global options may come before or after the
/// command, except those the command's own form names (capture's --timeout). Throws UsageError.
[[nodiscard]] Invocation parse_command_line(std::span<const std::string> args,
                                            std::string socket_path);

/// Reads the command's arguments into its request; `read_stdin` gives `rule add -` its text.
/// Throws UsageError for bad arguments and ConfigError for a bad rule file.
[[nodiscard]] Request build_request(const Invocation& invocation,
                                    const std::function<std::string()>& read_stdin);

/// `talkers [--by KIND] [--verdict V] [--top N]`: {"cmd":"talkers"} with the fields given, each
/// checked against the protocol's lists (`words` names the form in errors). Throws UsageError.
[[nodiscard]] nlohmann::json talkers_request(std::span<const std::string> args,
                                             const std::string& words);

/// How long `command` waits for its reply unless --timeout says otherwise.
[[nodiscard]] std::chrono::milliseconds default_timeout(const std::string& command,
                                                        const CaptureOptions& capture = {});

/// One value of a reply named by a dotted path: object keys, and list entries by position
/// (`ports.0.name`) or by their `id` or `name` (`rules.dns-rl.passed`, `ports.wan.rx_packets`);
/// nullopt when the reply has no such value.
[[nodiscard]] std::optional<nlohmann::json> reply_field(const nlohmann::json& reply,
                                                        std::string_view path);

/// The text shown for a reply that is not an error (capture writes a file instead).
[[nodiscard]] std::string render_reply(const Request& request, const nlohmann::json& reply);
/// The line shown for the daemon's error: errors about a rule file's rules start with the place
/// in the file.
[[nodiscard]] std::string explain_error(const Request& request, const std::string& error);

/// The whole usage text; its "commands:" part is protocol::cli_commands_text().
[[nodiscard]] std::string usage_text();
/// The usage of the forms named `words` ("rule add") and where to find the rest; the whole
/// usage when `words` names none.
[[nodiscard]] std::string usage_text(const std::string& words);

}  // namespace udpsieve::cli
