#include "udpsieve/cli/client.hpp"

#include <nlohmann/json.hpp>

#include "udpsieve/common/protocol.hpp"
#include "udpsieve/common/yaml_node.hpp"

namespace udpsieve::cli {

std::string request_all_rules(const std::string& socket_path, nlohmann::json rules_body,
                              std::chrono::milliseconds timeout) {
  constexpr int kAttempts = 3;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    nlohmann::json merged;
    bool restart = false;
    uint64_t offset = 0;
    for (;;) {
      rules_body["offset"] = offset;
      rules_body["limit"] = protocol::kDefaultRulesPage;
      const std::string line = request(
          socket_path, rules_body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
          timeout);
      nlohmann::json page = nlohmann::json::parse(line, nullptr, false);
      if (!page.is_object() || page.contains("error") || !page.contains("rules")) return line;
      const nlohmann::json next = page.value("next_offset", nlohmann::json());
      if (merged.is_null()) {
        merged = std::move(page);
      } else if (page.value("generation", nlohmann::json()) != merged["generation"]) {
        restart = true;  // the rules changed between pages
        break;
      } else {
        for (nlohmann::json& rule : page["rules"])
          merged["rules"].push_back(std::move(rule));
      }
      if (!next.is_number_unsigned() || next.get<uint64_t>() <= offset) break;
      offset = next.get<uint64_t>();
    }
    if (restart) continue;
    merged["offset"] = 0;
    merged["next_offset"] = nullptr;
    return merged.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  throw ClientError("the rules changed while they were being listed, " + std::to_string(kAttempts) +
                    " times; try again, or ask for one page with --limit and --offset");
}

std::string command_request(const std::string& command) {
  return nlohmann::json{{std::string(protocol::kCommandKey), command}}.dump();
}

std::string check_request(const std::vector<std::string>& files) {
  nlohmann::json list = nlohmann::json::array();
  for (const std::string& file : files) {
    std::string text = YamlNode::read_file(file);
    // Syntax (and UTF-8) errors at their line and column, before anything is sent; what
    // passes here is valid UTF-8, so the JSON encoding below cannot fail.
    (void)YamlNode::load_string(text, file);
    list.push_back({{"name", file}, {"text", std::move(text)}});
  }
  return nlohmann::json{{std::string(protocol::kCommandKey), "check"}, {"files", std::move(list)}}
      .dump();
}

}  // namespace udpsieve::cli
