// libFuzzer target: ExaBGP JSON API lines through the FlowSpec feeder's memory (Feed::apply,
// which parses routes and actions and translates them), then the rules it would send.
//
// Bad input is skipped with a log line, never thrown; every rule produced has a bgp- id, ids
// are unique, and the daemon's own rule reader accepts every rule (what rule-sync would do
// with them, short of the worker-count checks).

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "udpsieve/common/config_error.hpp"
#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/flowspec/feed.hpp"
#include "udpsieve/rules/rule_loader.hpp"

namespace {

void check(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using udpsieve::flowspec::Clock;
  udpsieve::flowspec::Feed feed(std::chrono::seconds(5));
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Clock::time_point now{};
  std::size_t start = 0;
  while (start <= input.size()) {
    const std::size_t end = std::min(input.find('\n', start), input.size());
    const udpsieve::flowspec::LineOutcome outcome =
        feed.apply(input.substr(start, end - start), now);
    for (const std::string& line : outcome.log)
      check(!line.empty() && line.find('\n') == std::string::npos);
    now += std::chrono::seconds(2);
    (void)feed.expire(now);
    start = end + 1;
  }
  const std::vector<nlohmann::json> rules = feed.rules();
  std::set<std::string> ids;
  for (const nlohmann::json& rule : rules) {
    const std::string id = rule.at("id").get<std::string>();
    check(id.rfind("bgp-", 0) == 0);
    check(ids.insert(id).second);
  }
  if (!rules.empty()) {
    try {
      const udpsieve::YamlNode root =
          udpsieve::YamlNode::from_json(nlohmann::json{{"rules", rules}}, "");
      const udpsieve::rules::RuleCollector collector({"wan"});
      (void)collector.parse_list(root.require("rules"));
    } catch (const udpsieve::ConfigError&) {
      check(false);  // a translation the daemon would refuse
    }
  }
  return 0;
}
