#pragma once
/// udpsievectl top's screen loop (ncurses; only udpsievectl links it).

#include <chrono>
#include <string>

#include "udpsieve/cli/top.hpp"

namespace udpsieve::cli {

/// Shows top against the daemon at `socket` until q or a signal: full screen on a terminal,
/// plain frames otherwise (one with --once). Returns the exit status (1 when the daemon cannot
/// be asked at start, or stops answering in plain mode).
int run_top(const std::string& socket, const TopOptions& options,
            std::chrono::milliseconds timeout);

}  // namespace udpsieve::cli
