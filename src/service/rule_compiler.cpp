#include "udpsieve/service/rule_compiler.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>

#include "udpsieve/common/config_error.hpp"
#include "udpsieve/dataplane/table.hpp"
#include "udpsieve/rules/analysis.hpp"
#include "udpsieve/rules/rule_loader.hpp"

namespace udpsieve::service {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::array<const char*, 7> kLogLevels = {"trace", "debug",    "info", "warn",
                                                   "error", "critical", "off"};
/// How long `check` may spend looking for shadowed rules.
constexpr auto kAnalysisBudget = std::chrono::seconds(10);

std::chrono::microseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items)
    out += (out.empty() ? "" : ", ") + item;
  return out;
}

control::CompileOutcome reload(const control::JobRequest& request, const CompileEnv& env) {
  const auto start = Clock::now();
  config::LoadedConfig loaded = config::load_config_and_rules(env.options.config_path);
  apply_overrides(env.options, loaded.config);
  const std::vector<std::string> changed =
      config::restart_required_changes(env.running, loaded.config);
  if (!changed.empty()) {
    return control::make_failure(
        "reload refused: " + join(changed) +
        " changed, which needs a restart of udpsieved (a reload applies pipeline.*, "
        "ports[].forward_to and logging.level)");
  }
  control::CompileOutcome outcome;
  outcome.load_time = since(start);
  const auto compile_start = Clock::now();
  outcome.table = make_table(loaded, env, request.serial);
  outcome.compile_time = since(compile_start);
  outcome.ok = true;
  outcome.rules = loaded.rules.size();
  outcome.files = loaded.rule_files;
  outcome.warnings = loaded.warnings;
  outcome.classifier = outcome.table->classifier().info();
  outcome.config = std::make_shared<const config::LoadedConfig>(std::move(loaded));
  return outcome;
}

control::CompileOutcome check(const control::JobRequest& request, const CompileEnv& env) {
  const auto start = Clock::now();
  rules::RuleCollector collector(env.running.port_names());
  for (const std::string& file : request.files)
    collector.add_file(file);
  config::LoadedConfig loaded;
  loaded.config = env.running;
  loaded.rules = collector.take();
  loaded.rule_files = request.files;
  control::CompileOutcome outcome;
  outcome.load_time = since(start);
  const auto compile_start = Clock::now();
  const std::unique_ptr<dataplane::Table> table = make_table(loaded, env, request.serial);
  outcome.compile_time = since(compile_start);
  outcome.classifier = table->classifier().info();
  outcome.warnings = unreachable_rule_warnings(loaded.rules, outcome.analysis_complete);
  outcome.ok = true;
  outcome.rules = loaded.rules.size();
  outcome.files = request.files;
  return outcome;
}

}  // namespace

void apply_overrides(const Options& options, config::DaemonConfig& config) {
  if (options.no_huge) config.eal.hugepages = config::HugepageMode::off;
  if (options.file_prefix) {
    const std::string& prefix = *options.file_prefix;
    const bool valid =
        !prefix.empty() && prefix.size() <= 64 &&
        std::all_of(prefix.begin(), prefix.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
        });
    if (!valid) throw std::invalid_argument("--file-prefix: use 1-64 of [A-Za-z0-9_-]");
    config.eal.file_prefix = prefix;
  }
  if (options.socket) config.control.socket = *options.socket;
  if (options.log_level) {
    if (std::find(kLogLevels.begin(), kLogLevels.end(), *options.log_level) == kLogLevels.end()) {
      throw std::invalid_argument(
          "--log-level: one of trace, debug, info, warn, error, critical, off");
    }
    config.logging.level = *options.log_level;
  }
}

std::unique_ptr<dataplane::Table> make_table(const config::LoadedConfig& loaded,
                                             const CompileEnv& env, uint64_t generation) {
  dataplane::TableParams params;
  for (const config::PortConfig& port : loaded.config.ports) {
    params.forward_to.push_back(static_cast<uint16_t>(port.forward_to_index));
  }
  params.workers = env.workers;
  params.generation = generation;
  params.socket = env.socket;
  auto rule_set = std::make_shared<const rules::RuleSet>(
      loaded.rules, loaded.config.pipeline.default_action, loaded.config.pipeline.non_udp);
  return std::make_unique<dataplane::Table>(std::move(rule_set), params);
}

std::vector<std::string> unreachable_rule_warnings(const std::vector<rules::Rule>& rules,
                                                   bool& complete) {
  const rules::AnalysisResult analysis = rules::find_unreachable_rules(
      rules, std::chrono::duration_cast<std::chrono::milliseconds>(kAnalysisBudget));
  std::vector<std::string> warnings;
  for (const rules::RuleFinding& finding : analysis.findings) {
    warnings.push_back(rules::finding_message(finding, rules));
  }
  complete = analysis.complete;
  if (!complete) {
    warnings.push_back("shadowed-rule analysis stopped after " +
                       std::to_string(kAnalysisBudget.count()) +
                       " s; rules after that point were not checked");
  }
  return warnings;
}

control::CompileOutcome compile(const control::JobRequest& request, const CompileEnv& env) {
  try {
    return request.kind == control::JobKind::reload ? reload(request, env) : check(request, env);
  } catch (const ConfigError& e) {
    return control::make_failure(e.what());
  } catch (const std::exception& e) {
    return control::make_failure(e.what());
  }
}

}  // namespace udpsieve::service
