// libFuzzer target: one control-socket request line through parse_request.
//
// The protocol is one JSON object per line each way, so an error reply must be a single line
// holding a JSON object with a string "error"; an accepted request must name a known command
// and keep the object it came in.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "udpsieve/common/protocol.hpp"
#include "udpsieve/control/request.hpp"

namespace {

void check(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const std::variant<udpsieve::control::Request, std::string> result =
      udpsieve::control::parse_request(line);
  if (const auto* error = std::get_if<std::string>(&result)) {
    check(error->find('\n') == std::string::npos);
    const nlohmann::json reply = nlohmann::json::parse(*error, nullptr, false);
    check(!reply.is_discarded() && reply.is_object());
    const auto key = reply.find(std::string(udpsieve::protocol::kErrorKey));
    check(key != reply.end() && key->is_string());
    return 0;
  }
  const auto& request = std::get<udpsieve::control::Request>(result);
  check(udpsieve::protocol::find_command(request.command) != nullptr);
  check(request.body.is_object());
  const auto cmd = request.body.find(std::string(udpsieve::protocol::kCommandKey));
  check(cmd != request.body.end() && cmd->is_string() && *cmd == request.command);
  return 0;
}
