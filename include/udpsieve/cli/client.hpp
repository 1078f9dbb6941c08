#pragma once
/// The client side of the control socket.

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "udpsieve/common/control_client.hpp"

namespace udpsieve::cli {

using udpsieve::ClientError;
using udpsieve::request;

/// Every rule `rules_body` selects, fetched a page of protocol::kDefaultRulesPage at a time
/// (each page is a request of its own, so other clients are served in between), merged into
/// one reply as if it held them all. A page from a newer rule generation starts the listing
/// again (up to three times). An error reply is returned as it came.
[[nodiscard]] std::string request_all_rules(const std::string& socket_path,
                                            nlohmann::json rules_body,
                                            std::chrono::milliseconds timeout);

/// The request line for a command: {"cmd":"stats"}.
[[nodiscard]] std::string command_request(const std::string& command);
/// The request line for checking rule files: {"cmd":"check","files":[{"name":FILE,"text":
/// CONTENTS}...]}. The files are read here, not by the daemon (which may not see them: a
/// private /tmp, a protected home), and parsed first so a YAML error is reported without a
/// round trip; names stay as the user typed them. Throws ConfigError (`FILE:LINE:COL: ...`).
[[nodiscard]] std::string check_request(const std::vector<std::string>& files);

}  // namespace udpsieve::cli
