// udpsievectl top's screen: the full-screen loop (ncurses), or plain frames when stdout is not
// a terminal. The frames themselves are top_frame()'s (top.cpp).
#include "udpsieve/cli/top_screen.hpp"

#include <curses.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "udpsieve/cli/client.hpp"

namespace udpsieve::cli {
namespace {

using nlohmann::json;

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) {
  g_stop.store(true);
}

/// The replies a frame is drawn from.
struct Replies {
  json stats;
  json rules;
  json talkers;  ///< may be an error reply: the frame says so in the talkers section
};

/// One frame's replies; throws ClientError (also for an error reply to stats or rules).
Replies fetch_replies(const std::string& socket, const TopOptions& options, const TopView& view,
                      std::chrono::milliseconds timeout) {
  const auto ask = [&](const json& body) {
    json reply = json::parse(request(socket, body.dump(), timeout), nullptr, false);
    if (reply.is_discarded()) throw ClientError("the daemon sent a reply that is not JSON");
    return reply;
  };
  const auto ask_ok = [&](const json& body) {
    json reply = ask(body);
    if (reply.contains("error")) throw ClientError(reply["error"].dump());
    return reply;
  };
  Replies replies;
  replies.stats = ask_ok({{"cmd", "stats"}});
  replies.rules = ask_ok(top_rules_request(view, options.rules));
  replies.talkers = ask(top_talkers_request(view));
  return replies;
}

/// The frame's lines, fitted to `height` lines (0: no limit).
std::vector<std::string> frame(const Replies& replies, const TopOptions& options,
                               const TopView& view, std::size_t height = 0) {
  return top_frame(replies.stats, replies.rules, replies.talkers, view, options.rules, height);
}

void print_frame(const std::vector<std::string>& lines) {
  for (const std::string& line : lines)
    std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace

int run_top(const std::string& socket, const TopOptions& options,
            std::chrono::milliseconds timeout) {
  TopView view;
  Replies replies;
  try {
    replies = fetch_replies(socket, options, view, timeout);  // unreachable: say so before drawing
  } catch (const ClientError& e) {
    std::fprintf(stderr, "udpsievectl: %s\n", e.what());
    return 1;
  }
  struct sigaction stop {};
  stop.sa_handler = on_stop_signal;
  sigaction(SIGINT, &stop, nullptr);
  sigaction(SIGTERM, &stop, nullptr);
  sigaction(SIGHUP, &stop, nullptr);

  if (options.once || isatty(STDOUT_FILENO) == 0) {
    // Plain text: one frame with --once, else one every interval (like top -b) until stopped.
    for (;;) {
      print_frame(frame(replies, options, view));
      if (options.once) return 0;
      const auto until = std::chrono::steady_clock::now() + options.interval;
      while (!g_stop.load() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (g_stop.load()) return 0;
      try {
        replies = fetch_replies(socket, options, view, timeout);
      } catch (const ClientError& e) {
        std::fprintf(stderr, "udpsievectl: %s\n", e.what());
        return 1;
      }
      std::printf("\n");
    }
  }

  initscr();
  cbreak();
  noecho();
  keypad(stdscr, TRUE);
  curs_set(0);
  timeout(static_cast<int>(options.interval.count()));
  std::string problem;
  for (;;) {
    erase();
    int row = 0;
    if (!problem.empty()) mvaddnstr(row++, 0, ("udpsievectl: " + problem).c_str(), COLS);
    // Fitted at each draw, so a resized terminal shows as many rules and talkers as fit.
    const std::vector<std::string> lines =
        frame(replies, options, view, static_cast<std::size_t>(std::max(LINES - row, 1)));
    for (const std::string& line : lines) {
      if (row >= LINES) break;
      mvaddnstr(row++, 0, line.c_str(), COLS);
    }
    refresh();
    const int key = getch();  // a key, or ERR once the interval passed (or a signal came)
    if (g_stop.load()) break;
    if (key != ERR && key != KEY_RESIZE && !top_key(key, view)) break;
    try {
      replies = fetch_replies(socket, options, view, timeout);
      problem.clear();
    } catch (const ClientError& e) {
      problem = e.what();  // keep the last frame and try again
    }
  }
  endwin();
  return 0;
}

}  // namespace udpsieve::cli
