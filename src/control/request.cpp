#include "udpsieve/control/request.hpp"

#include <algorithm>

#include "udpsieve/common/protocol.hpp"

namespace udpsieve::control {
namespace {

using nlohmann::json;

std::string command_list() {
  std::string list;
  for (const protocol::Command& command : protocol::kCommands) {
    if (!list.empty()) list += ", ";
    list += command.name;
  }
  return list;
}

std::string field_list(const protocol::Command& command) {
  std::string list;
  for (const protocol::Field& field : command.fields) {
    if (!list.empty()) list += ", ";
    list += field.name;
  }
  return list.empty() ? "none besides cmd" : list;
}

/// An error for a field the command does not take, or a required one that is missing.
std::optional<std::string> check_fields(const protocol::Command& command, const json& body) {
  for (const auto& [key, value] : body.items()) {
    if (key == protocol::kCommandKey) continue;
    bool known = false;
    for (const protocol::Field& field : command.fields)
      known = known || field.name == key;
    if (!known) {
      return error_line(std::string(command.name) + ": unknown field '" + key +
                        "' (fields: " + field_list(command) + ")");
    }
  }
  for (const protocol::Field& field : command.fields) {
    if (field.required && !body.contains(std::string(field.name))) {
      return error_line(std::string(command.name) + ": the field '" + std::string(field.name) +
                        "' is required (" + std::string(field.type) + ")");
    }
  }
  return std::nullopt;
}

}  // namespace

std::string error_line(const std::string& message) {
  return json{{std::string(protocol::kErrorKey), message}}.dump(-1, ' ', false,
                                                                json::error_handler_t::replace);
}

std::optional<std::size_t> name_field(const json& body, const char* field,
                                      std::span<const std::string_view> names) {
  const auto it = body.find(field);
  if (it == body.end()) return std::nullopt;
  if (!it->is_string()) return names.size();
  const std::string_view text = it->get_ref<const std::string&>();
  return static_cast<std::size_t>(std::find(names.begin(), names.end(), text) - names.begin());
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
  if (const protocol::Command* spec = protocol::find_command(command)) {
    if (std::optional<std::string> error = check_fields(*spec, body)) return std::move(*error);
    return Request{std::move(command), std::move(body)};
  }
  for (std::string_view name : hidden) {
    if (name == command) return Request{std::move(command), std::move(body)};
  }
  return error_line("unknown command '" + command + "' (commands: " + command_list() + ")");
}

}  // namespace udpsieve::control
