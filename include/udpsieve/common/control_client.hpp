#pragma once
/// One request over udpsieved's control socket: what udpsievectl and the FlowSpec feeder share.

#include <chrono>
#include <stdexcept>
#include <string>

namespace udpsieve {

/// The daemon could not be reached or did not answer; what() is one line for the user.
class ClientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Sends one request line to the daemon at `socket_path` and returns its one-line reply. A
/// daemon that refuses the connection while the request is being sent (too many clients, too
/// large) has its reason returned like any reply.
[[nodiscard]] std::string request(const std::string& socket_path, const std::string& line,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace udpsieve
