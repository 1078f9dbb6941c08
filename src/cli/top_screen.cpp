// udpsievectl top's screen: the full-screen loop (ncurses), or plain frames when stdout is not
// a terminal. The frames themselves are top_frame()'s (top.cpp).
#include "udpsieve/cli/top_screen.hpp"

#include <curses.h>
#include <signal.h>
#include <unistd.h>

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

/// One frame's lines from two requests; throws ClientError (also for an error reply).
std::vector<std::string> fetch_frame(const std::string& socket, const TopOptions& options,
                                     const TopView& view, std::chrono::milliseconds timeout) {
  const auto ask = [&](const json& body) {
    json reply = json::parse(request(socket, body.dump(), timeout), nullptr, false);
    if (reply.is_discarded()) throw ClientError("the daemon sent a reply that is not JSON");
    if (reply.contains("error")) throw ClientError(reply["error"].dump());
    return reply;
  };
  const json stats = ask({{"cmd", "stats"}});
  const json rules = ask(top_rules_request(view, options.rules));
  return top_frame(stats, rules, view, options.rules);
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
  std::vector<std::string> lines;
  try {
    lines = fetch_frame(socket, options, view, timeout);  // unreachable: say so before drawing
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
      print_frame(lines);
      if (options.once) return 0;
      const auto until = std::chrono::steady_clock::now() + options.interval;
      while (!g_stop.load() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (g_stop.load()) return 0;
      try {
        lines = fetch_frame(socket, options, view, timeout);
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
    for (const std::string& line : lines) {
      if (row >= LINES) break;
      mvaddnstr(row++, 0, line.c_str(), COLS);
    }
    refresh();
    const int key = getch();  // a key, or ERR once the interval passed (or a signal came)
    if (g_stop.load()) break;
    if (key != ERR && key != KEY_RESIZE && !top_key(key, view)) break;
    try {
      lines = fetch_frame(socket, options, view, timeout);
      problem.clear();
    } catch (const ClientError& e) {
      problem = e.what();  // keep the last frame and try again
    }
  }
  endwin();
  return 0;
}

}  // namespace udpsieve::cli
