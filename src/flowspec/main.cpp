// udpsieve-flowspec: an ExaBGP API process that keeps udpsieved's `bgp` runtime rules equal to
// the FlowSpec routes ExaBGP has learned (docs/fleet.md).
//
// Three threads: one reads ExaBGP's JSON lines from stdin into the Feed (never waiting for the
// daemon, so ExaBGP is never held up), one waits for SIGTERM/SIGINT, and the main one sends
// `rule-sync` whenever the rules changed, re-sending until the daemon has them (it may be
// restarting). The rules carry a time to live (--hold) that the feeder renews, so they outlive
// a feeder or ExaBGP restart with their counters, and go by themselves when no feeder renews
// them. A feeder that starts asks the peers to send their routes again (route refresh) and
// makes its first sync once they have come.
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
/// How often the feeder asks the daemon whether it restarted (and lost the bgp rules).
constexpr auto kProbe = std::chrono::seconds(2);
constexpr auto kProbeTimeout = std::chrono::seconds(5);
/// ExaBGP's API commands asking every peer to send its flow routes again (RFC 2918).
constexpr const char* kRouteRefresh =
    "announce route-refresh ipv4 flow\nannounce route-refresh ipv6 flow\n";

const char* const kUsage =
    "usage: udpsieve-flowspec [--socket PATH] [--stale-after SECONDS] [--hold SECONDS]\n"
    "                         [--withdraw-on-exit]\n"
    "Run by ExaBGP as an API process (encoder json; receive { parsed; update; };\n"
    "neighbor-changes): keeps udpsieved's bgp rules equal to the flow routes ExaBGP learned.\n"
    "  --socket PATH          udpsieved's control socket (default $UDPSIEVE_SOCKET or\n"
    "                         /run/udpsieve/control.sock)\n"
    "  --stale-after SECONDS  keep a neighbor's routes this long after its session goes down\n"
    "                         (default 0: withdraw them at once)\n"
    "  --hold SECONDS         the rules' time to live in the daemon, renewed every quarter of\n"
    "                         it while the feeder runs (10-86400, default 120): how long they\n"
    "                         outlive a feeder that stops or dies\n"
    "  --withdraw-on-exit     withdraw the bgp rules when stopping instead of leaving them to\n"
    "                         a restarted feeder (or to their expiry)\n";

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
  uint64_t lines = 0;  // lines read so far
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

/// One request; the reply, or the daemon's refusal in `error`. Throws ClientError when the
/// daemon cannot be reached.
json ask(const std::string& socket, const json& request, std::chrono::milliseconds timeout,
         std::string& error) {
  const std::string reply = udpsieve::request(
      socket, request.dump(-1, ' ', false, json::error_handler_t::replace), timeout);
  json parsed = json::parse(reply, nullptr, false);
  error.clear();
  if (!parsed.is_object()) {
    error = "a reply that is not JSON: " + reply.substr(0, 200);
  } else if (parsed.contains("error")) {
    error =
        parsed["error"].is_string() ? parsed["error"].get<std::string>() : parsed["error"].dump();
  }
  return parsed;
}

/// One rule-sync of `rules` (with a time to live when `hold` is non-zero); the daemon's error
/// (empty on success). Throws ClientError when the daemon cannot be reached.
std::string sync(const std::string& socket, const std::vector<json>& rules,
                 std::chrono::seconds hold, std::chrono::milliseconds timeout) {
  json request = {{std::string(udpsieve::protocol::kCommandKey), "rule-sync"},
                  {"source", "bgp"},
                  {"rules", rules}};
  if (hold.count() > 0) request["ttl_s"] = hold.count();
  std::string error;
  (void)ask(socket, request, timeout, error);
  return error;
}

/// The daemon's run id (new at each start of udpsieved), "" when it has none. Throws
/// ClientError when the daemon cannot be reached.
std::string run_id(const std::string& socket) {
  std::string error;
  const json reply = ask(socket, {{std::string(udpsieve::protocol::kCommandKey), "version"}},
                         kProbeTimeout, error);
  return error.empty() && reply.contains("run_id") && reply["run_id"].is_string()
             ? reply["run_id"].get<std::string>()
             : std::string();
}

void read_input(Shared& shared) {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::lock_guard lock(shared.mutex);
    const udpsieve::flowspec::LineOutcome outcome = shared.feed.apply(line, Clock::now());
    for (const std::string& text : outcome.log)
      say(text);
    ++shared.lines;
    shared.wake.notify_all();
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
  uint64_t hold_s = 120;
  bool withdraw_on_exit = false;
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--withdraw-on-exit") {
      withdraw_on_exit = true;
      continue;
    }
    if ((arg == "--socket" || arg == "--stale-after" || arg == "--hold") && i + 1 < args.size()) {
      const std::string& value = args[++i];
      if (arg == "--socket") {
        socket = value;
      } else if (arg == "--stale-after" && udpsieve::parse_decimal(value, 86400, stale_after) !=
                                               udpsieve::DecimalResult::ok) {
        std::fprintf(stderr, "udpsieve-flowspec: --stale-after: 0-86400 seconds, got '%s'\n%s",
                     value.c_str(), kUsage);
        return 2;
      } else if (arg == "--hold" &&
                 (udpsieve::parse_decimal(value, 86400, hold_s) != udpsieve::DecimalResult::ok ||
                  hold_s < 10)) {
        std::fprintf(stderr, "udpsieve-flowspec: --hold: 10-86400 seconds, got '%s'\n%s",
                     value.c_str(), kUsage);
        return 2;
      }
      continue;
    }
    std::fprintf(stderr, "udpsieve-flowspec: unknown argument '%s'\n%s", arg.c_str(), kUsage);
    return 2;
  }
  const std::chrono::seconds hold(hold_s);
  const auto renew_every = std::chrono::duration_cast<Clock::duration>(hold) / 4;

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  Shared shared{std::chrono::seconds(stale_after)};
  const auto started = Clock::now();
  // The peers send their routes again: a feeder started alone (ExaBGP respawned it) hears no
  // session come up. ExaBGP answers each line with "done" or "error" on stdin.
  std::fputs(kRouteRefresh, stdout);
  std::fflush(stdout);
  std::thread(read_input, std::ref(shared)).detach();
  std::thread(wait_for_signals, std::ref(shared), signals).detach();
  say("started: daemon socket " + socket + ", rules held " + std::to_string(hold_s) +
      " s unless renewed, stale routes kept " + std::to_string(stale_after) +
      " s; asked the peers for their routes");

  bool settled = false;          // the first sync may be made
  uint64_t synced = UINT64_MAX;  // the feed version the daemon has; UINT64_MAX: sync when due
  bool away = false;             // the daemon was unreachable at the last attempt
  std::string daemon_run;        // the daemon's run id when the feeder last synced
  auto retry_at = Clock::time_point::min();
  auto renew_at = Clock::time_point::max();
  auto probe_at = Clock::time_point::max();
  std::unique_lock lock(shared.mutex);
  for (;;) {
    const auto settle_at =
        settled ? Clock::time_point::max() : shared.feed.settled_at(started, hold / 2);
    const bool changed = settled && synced != shared.feed.version();
    // (at most an hour ahead: some condition-variable clocks overflow on time_point::max())
    const auto deadline =
        std::min({shared.feed.next_expiry(), settle_at, changed ? retry_at : renew_at,
                  synced != UINT64_MAX ? probe_at : Clock::time_point::max(),
                  Clock::now() + std::chrono::hours(1)});
    const uint64_t lines = shared.lines;
    // Every line may move the time to settle or change the rules: look again after each.
    shared.wake.wait_until(lock, deadline,
                           [&] { return shared.stopping || shared.lines != lines; });
    if (shared.stopping) break;
    if (shared.feed.expire(Clock::now())) continue;
    if (!settled) {
      if (Clock::now() < shared.feed.settled_at(started, hold / 2)) continue;
      settled = true;
      say("first sync: " + std::to_string(shared.feed.routes()) + " route(s) heard");
    }
    if (Clock::now() >= probe_at && synced != UINT64_MAX) {
      // A daemon that restarted has no bgp rules: sync again at once.
      probe_at = Clock::now() + kProbe;
      lock.unlock();
      std::string now_run;
      bool reached = true;
      try {
        now_run = run_id(socket);
      } catch (const udpsieve::ClientError&) {
        reached = false;
      }
      lock.lock();
      if (!reached || now_run != daemon_run) {
        synced = UINT64_MAX;
        retry_at = Clock::now();
      }
      continue;
    }
    const bool renewing = synced == shared.feed.version();
    if (renewing && Clock::now() < renew_at) continue;
    if (Clock::now() < retry_at) continue;

    const uint64_t version = shared.feed.version();
    const std::vector<json> rules = shared.feed.rules();
    lock.unlock();  // ExaBGP's lines keep flowing while the daemon answers
    std::string error;
    std::string run;
    bool reached = true;
    try {
      run = run_id(socket);
      error = sync(socket, rules, hold, kSyncTimeout);
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
      synced = UINT64_MAX;
      retry_at = Clock::now() + kRetry;
      continue;
    }
    if (error.empty()) {
      std::string what;
      if (away) {
        what = "daemon back: ";
      } else if (!daemon_run.empty() && run != daemon_run) {
        what = "daemon restarted: ";
      }
      if (!renewing || !what.empty()) {
        say(what + "synced " + std::to_string(rules.size()) + " rule(s) from " +
            std::to_string(shared.feed.routes()) + " route(s)");
      }
      away = false;
      synced = version;
      daemon_run = run;
      renew_at = Clock::now() + renew_every;
      probe_at = Clock::now() + kProbe;
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
  if (!withdraw_on_exit) {
    say("stopping (" + why + "): the bgp rules stay in the daemon for at most " +
        std::to_string(hold_s) + " s unless a feeder renews them");
    std::_Exit(0);  // the reader thread may sit in a read of stdin
  }
  try {
    const std::string error = sync(socket, {}, std::chrono::seconds(0), kFinalTimeout);
    say("stopping (" + why + "): " +
        (error.empty() ? std::string("bgp rules withdrawn") : "withdrawing refused: " + error));
  } catch (const udpsieve::ClientError& e) {
    say("stopping (" + why + "): daemon unreachable, bgp rules not withdrawn (" + e.what() + ")");
  }
  std::_Exit(0);  // the reader thread may sit in a read of stdin
}
