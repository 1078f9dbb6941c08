#include "udpsieve/control/request.hpp"

#include "udpsieve/common/protocol.hpp"

namespace udpsieve::control {
namespace {

using nlohmann::json;

std::string command_list() {
  std::string list;
  for (std::string_view name : protocol::kCommands) {
    if (!list.empty()) list += ", ";
    list += name;
  }
  return list;
}

}  // namespace

std::string error_line(const std::string& message) {
  return json{{std::string(protocol::kErrorKey), message}}.dump(-1, ' ', false,
                                                                json::error_handler_t::replace);
}

std::variant<Request, std::string> parse_request(std::string_view line,
                                                 std::span<const std::string_view> hidden) {
  json body;
  try {
    body = json::parse(line.begin(), line.end());
  } catch (const json::exception& e) {
    // Not only parse_error: a number too large for a double throws out_of_range (406).
    return error_line(std::string("request is not valid JSON: ") + e.what());
  }
  const std::string key(protocol::kCommandKey);
  if (!body.is_object() || !body.contains(key) || !body[key].is_string()) {
    return error_line(R"(a request is a JSON object like {"cmd": "stats"})");
  }
  std::string command = body[key].get<std::string>();
  bool known = false;
  for (std::string_view name : protocol::kCommands)
    known = known || name == command;
  for (std::string_view name : hidden)
    known = known || name == command;
  if (!known) {
    return error_line("unknown command '" + command + "' (commands: " + command_list() + ")");
  }
  return Request{std::move(command), std::move(body)};
}

}  // namespace udpsieve::control
