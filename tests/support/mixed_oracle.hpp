#pragma once
// Test support: the oracle of tests/e2e/mixed.pcap, written by tests/e2e/make_mixed.py from how
// each frame was built (not from parsing it): per frame the rule of mixed-rules.yaml that
// decides it, and each rule's action. Used by the end-to-end replay and the multi-worker
// daemon test.

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace udpsieve::test {

/// mixed.expect: per frame, the rule that decides it ("-": default_action).
inline std::vector<std::string> read_mixed_expect(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> rules;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::size_t index = 0;
    std::string service;
    std::string rule;
    fields >> index >> service >> rule;
    if (index != rules.size() || rule.empty()) {
      throw std::runtime_error(path + ": bad line '" + line + "'");
    }
    rules.push_back(rule);
  }
  return rules;
}

/// Rule id → whether its action forwards, from mixed-rules.yaml.
inline std::map<std::string, bool> read_mixed_actions(const std::string& path) {
  std::map<std::string, bool> out;
  for (const auto& rule : YAML::LoadFile(path)["rules"]) {
    const auto action = rule["action"];
    const bool forwards = !action.IsScalar() || action.as<std::string>() == "forward";
    if (!action.IsScalar() && !action["forward"]) {
      throw std::runtime_error("mixed-rules.yaml: only drop and forward actions are expected");
    }
    out[rule["id"].as<std::string>()] = forwards;
  }
  return out;
}

}  // namespace udpsieve::test
