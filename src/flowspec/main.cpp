// udpsieve-flowspec: an ExaBGP API process that keeps udpsieved's `bgp` runtime rules equal to
// the FlowSpec routes ExaBGP has learned (docs/fleet.md).
//
// Three threads: one reads ExaBGP's JSON lines from stdin into the Feed (never waiting for the
// daemon, so ExaBGP is never held up), one waits for SIGTERM/SIGINT, and the main one sends
// `rule-sync` whenever the rules changed, re-sending until the daemon has them (it may be
// restarting). When ExaBGP goes (end of input, or a signal), the bgp rules are withdrawn.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "udpsieve/common/control_client.hpp"
#include "udpsieve/common/decimal.hpp"
#include "udpsieve/common/protocol.hpp"
#include "udpsieve/flowspec/feed.hpp"

namespace {

using nlohmann::json;
using udpsieve::flowspec::Clock;
using udpsieve::flowspec::Feed;

constexpr auto kRetry = std::chrono::seconds(1);
constexpr auto kSyncTimeout = std::chrono::seconds(60);
constexpr auto kFinalTimeout = std::chrono::seconds(5);

const char* const kUsage =
    "usage: udpsieve-flowspec [--socket PATH] [--stale-after SECONDS]\n"
    "Run by ExaBGP as an API process (encoder json; receive { parsed; update; };\n"
    "neighbor-changes): keeps udpsieved's bgp rules equal to the flow routes ExaBGP learned.\n"
    "  --socket PATH          udpsieved's control socket (default $UDPSIEVE_SOCKET or\n"
    "                         /run/udpsieve/control.sock)\n"
    "  --stale-after SECONDS  keep a neighbor's routes this long after its session goes down\n"
    "                         (default 0: withdraw them at once)\n";

void say(const std::string& text) {
  // ExaBGP logs its processes' stderr; one line each, with a time.
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &local);
  std::fprintf(stderr, "%s udpsieve-flowspec: %s\n", when, text.c_str());
  std::fflush(stderr);
}

struct Shared {
  std::mutex mutex;
  std::condition_variable wake;
  Feed feed;
  bool stopping = false;
  std::string why_stopping;

  explicit Shared(std::chrono::seconds stale_after) : feed(stale_after) {}
};

/// The id of the rule a daemon refusal names ("... rules[3].match...: ..." or "rule ID: ..."),
/// from the rules that were sent.
std::optional<std::string> refused_rule(const std::string& error, const std::vector<json>& sent) {
  if (const std::size_t at = error.find("rules["); at != std::string::npos) {
    const std::size_t close = error.find(']', at);
    uint64_t index = 0;
    if (close != std::string::npos &&
        udpsieve::parse_decimal(std::string_view(error).substr(at + 6, close - at - 6), UINT32_MAX,
                                index) == udpsieve::DecimalResult::ok &&
        index < sent.size()) {
      return sent[index].value("id", "");
    }
  }
  for (const json& rule : sent) {
    const std::string id = rule.value("id", "");
    if (error.find("rule " + id + ":") != std::string::npos) return id;
  }
  return std::nullopt;
}

/// One rule-sync of `rules`; the daemon's error (empty on success). Throws ClientError when the
/// daemon cannot be reached.
std::string sync(const std::string& socket, const std::vector<json>& rules,
                 std::chrono::milliseconds timeout) {
  const json request = {{std::string(udpsieve::protocol::kCommandKey), "rule-sync"},
                        {"source", "bgp"},
                        {"rules", rules}};
  const std::string reply = udpsieve::request(
      socket, request.dump(-1, ' ', false, json::error_handler_t::replace), timeout);
  const json parsed = json::parse(reply, nullptr, false);
  if (!parsed.is_object()) return "a reply that is not JSON: " + reply.substr(0, 200);
  if (parsed.contains("error")) {
    return parsed["error"].is_string() ? parsed["error"].get<std::string>()
                                       : parsed["error"].dump();
  }
  return "";
}

void read_input(Shared& shared) {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::lock_guard lock(shared.mutex);
    const udpsieve::flowspec::LineOutcome outcome = shared.feed.apply(line, Clock::now());
    for (const std::string& text : outcome.log)
      say(text);
    if (outcome.kind == udpsieve::flowspec::LineOutcome::Kind::changed) shared.wake.notify_all();
  }
  std::lock_guard lock(shared.mutex);
  shared.stopping = true;
  shared.why_stopping = "end of input (ExaBGP stopped)";
  shared.wake.notify_all();
}

void wait_for_signals(Shared& shared, sigset_t set) {
  int signal = 0;
  if (sigwait(&set, &signal) != 0) return;
  std::lock_guard lock(shared.mutex);
  shared.stopping = true;
  shared.why_stopping = signal == SIGTERM ? "SIGTERM" : "SIGINT";
  shared.wake.notify_all();
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket(udpsieve::protocol::kDefaultSocket);
  if (const char* env = std::getenv("UDPSIEVE_SOCKET"); env != nullptr && *env != '\0') {
    socket = env;
  }
  uint64_t stale_after = 0;
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if ((arg == "--socket" || arg == "--stale-after") && i + 1 < args.size()) {
      const std::string& value = args[++i];
      if (arg == "--socket") {
        socket = value;
      } else if (udpsieve::parse_decimal(value, 86400, stale_after) !=
                 udpsieve::DecimalResult::ok) {
        std::fprintf(stderr, "udpsieve-flowspec: --stale-after: 0-86400 seconds, got '%s'\n%s",
                     value.c_str(), kUsage);
        return 2;
      }
      continue;
    }
    std::fprintf(stderr, "udpsieve-flowspec: unknown argument '%s'\n%s", arg.c_str(), kUsage);
    return 2;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  Shared shared{std::chrono::seconds(stale_after)};
  std::thread(read_input, std::ref(shared)).detach();
  std::thread(wait_for_signals, std::ref(shared), signals).detach();
  say("started: daemon socket " + socket + ", stale routes kept " + std::to_string(stale_after) +
      " s");

  uint64_t synced = UINT64_MAX;  // the feed version the daemon has; none yet: sync at once
  bool away = false;             // the daemon was unreachable at the last attempt
  auto retry_at = Clock::time_point::min();
  std::unique_lock lock(shared.mutex);
  for (;;) {
    // (at most an hour ahead: some condition-variable clocks overflow on time_point::max())
    const auto deadline =
        std::min({shared.feed.next_expiry(),
                  synced != shared.feed.version() ? retry_at : Clock::time_point::max(),
                  Clock::now() + std::chrono::hours(1)});
    shared.wake.wait_until(lock, deadline, [&] {
      return shared.stopping || Clock::now() >= shared.feed.next_expiry() ||
             (synced != shared.feed.version() && Clock::now() >= retry_at);
    });
    if (shared.stopping) break;
    if (shared.feed.expire(Clock::now())) continue;
    if (synced == shared.feed.version() || Clock::now() < retry_at) continue;

    const uint64_t version = shared.feed.version();
    const std::vector<json> rules = shared.feed.rules();
    lock.unlock();  // ExaBGP's lines keep flowing while the daemon answers
    std::string error;
    bool reached = true;
    try {
      error = sync(socket, rules, kSyncTimeout);
    } catch (const udpsieve::ClientError& e) {
      reached = false;
      error = e.what();
    }
    lock.lock();
    if (!reached) {
      if (!away) {
        say("daemon unreachable (" + error + "); holding " + std::to_string(rules.size()) +
            " rule(s), syncing as soon as it is back");
      }
      away = true;
      retry_at = Clock::now() + kRetry;
      continue;
    }
    if (error.empty()) {
      say(std::string(away ? "daemon back: " : "") + "synced " + std::to_string(rules.size()) +
          " rule(s) from " + std::to_string(shared.feed.routes()) + " route(s)");
      away = false;
      synced = version;
      continue;
    }
    away = false;
    // A refused rule: its route stays held but out of the rules; the rest are sent again.
    if (const std::optional<std::string> id = refused_rule(error, rules)) {
      const std::string route = shared.feed.daemon_refused(*id, error);
      say("the daemon refused rule " + *id + " (" + error + "); route left out: " + route);
      if (!route.empty()) continue;
    } else {
      say("rule-sync refused: " + error);
    }
    retry_at = Clock::now() + kRetry;
  }
  const std::string why = shared.why_stopping;
  lock.unlock();
  // Nobody keeps the routes current any more: take them out.
  try {
    const std::string error = sync(socket, {}, kFinalTimeout);
    say("stopping (" + why + "): " +
        (error.empty() ? std::string("bgp rules withdrawn") : "withdrawing refused: " + error));
  } catch (const udpsieve::ClientError& e) {
    say("stopping (" + why + "): daemon unreachable, bgp rules not withdrawn (" + e.what() + ")");
  }
  std::_Exit(0);  // the reader thread may sit in a read of stdin
}
