#include "udpsieve/service/rule_compiler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>

#include "udpsieve/common/config_error.hpp"
#include "udpsieve/common/decimal.hpp"
#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/control/runtime_rules.hpp"
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

/// The test hook's delay at one stage of a reload's build.
void slow_stage(const control::JobRequest& job, const CompileEnv& env) {
  const auto until = Clock::now() + env.test_stage_delay;
  while (Clock::now() < until) {
    if (!env.test_stage_stuck) job.stop_if_cancelled();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

control::CompileOutcome reload(const control::JobRequest& request, const CompileEnv& env) {
  const auto start = Clock::now();
  std::shared_ptr<const config::RuleFileMemo> memo;
  std::shared_ptr<const dataplane::RuleFacts> facts;
  // The part built with `facts`: looked at only once the files are read, so a stop during
  // the load never leaves this thread holding the running part.
  std::weak_ptr<const dataplane::RulePart> built_last;
  {
    const std::lock_guard<std::mutex> hold(env.rule_files->lock);
    memo = env.rule_files->memo;
    facts = env.rule_files->facts;
    built_last = env.rule_files->part;
  }
  config::LoadedConfig loaded =
      config::load_config_and_rules(env.options.config_path, request.set_slots, memo.get(),
                                    request.set_files.empty() ? nullptr : &request.set_files);
  memo.reset();
  apply_overrides(env.options, loaded.config);
  const std::vector<std::string> changed =
      config::restart_required_changes(env.running, loaded.config);
  if (!changed.empty()) {
    return control::make_failure(
        "reload refused: " + join(changed) +
        " changed, which needs a restart of udpsieved (a reload applies pipeline.* but "
        "pipeline.dynamic_state, per_source_entries, talker_sampling and "
        "talker_max_sample_rate, ports[].forward_to, the control socket's mode and groups and "
        "logging.level)");
  }
  request.stop_if_cancelled();
  control::CompileOutcome outcome;
  outcome.load_time = since(start);
  const auto compile_start = Clock::now();
  outcome.rules = loaded.rules.size();
  outcome.files_unchanged = loaded.files_reused;
  // The part holds the rules; the configuration the control loop keeps needs no second copy.
  rules::RuleList rules = std::exchange(loaded.rules, {});
  // Every file unchanged and the same defaults: the part is what a build would make again
  // (the rest it depends on needs a restart to change), so the one built last is kept, with
  // its counters and rate-limit buckets as they run.
  std::shared_ptr<const dataplane::RulePart> built = built_last.lock();
  const rules::RuleSet* last = built != nullptr ? &built->rules() : nullptr;
  if (last != nullptr && last->rules().same_rules(rules) &&
      last->default_action() == loaded.config.pipeline.default_action &&
      last->non_udp() == loaded.config.pipeline.non_udp) {
    outcome.part = std::move(built);
    outcome.rules_rebuilt = false;
  } else {
    built.reset();
    outcome.part = make_file_part(std::move(rules), loaded.config, env, request.serial, &request,
                                  std::move(facts));
  }
  {
    // The next reload reads these files from the rules just built (a refused reload's too:
    // what a file's bytes parse to does not depend on whether they were applied).
    std::shared_ptr<const config::RuleFileMemo> next =
        config::memo_of(loaded, outcome.part->rules_ptr());
    const std::lock_guard<std::mutex> hold(env.rule_files->lock);
    env.rule_files->memo = std::move(next);
    env.rule_files->facts = outcome.part->facts();
    env.rule_files->part = outcome.part;
  }
  request.stop_if_cancelled();
  outcome.sets = make_set_tables(loaded, env);
  outcome.compile_time = since(compile_start);
  outcome.ok = true;
  outcome.files = loaded.rule_files;
  outcome.warnings = loaded.warnings;
  outcome.classifier = outcome.part->classifier().info();
  outcome.config = std::make_shared<config::LoadedConfig>(std::move(loaded));
  return outcome;
}

control::CompileOutcome check(const control::JobRequest& request, const CompileEnv& env) {
  const auto start = Clock::now();
  rules::RuleCollector collector(env.running.port_names(), request.set_slots);
  for (const control::CheckFile& file : request.files) {
    if (file.text) {
      collector.add_document(YamlNode::load_string(*file.text, file.name));
    } else {
      collector.add_file(file.name);
    }
  }
  config::LoadedConfig loaded;
  loaded.config = env.running;
  loaded.rules = collector.take();
  for (const control::CheckFile& file : request.files)
    loaded.rule_files.push_back(file.name);
  control::CompileOutcome outcome;
  outcome.load_time = since(start);
  const auto compile_start = Clock::now();
  request.stop_if_cancelled();
  const std::shared_ptr<const dataplane::RulePart> part =
      make_file_part(loaded.rules, loaded.config, env, request.serial, &request);
  outcome.compile_time = since(compile_start);
  outcome.classifier = part->classifier().info();
  outcome.warnings = unreachable_rule_warnings(loaded.rules, outcome.analysis_complete);
  outcome.ok = true;
  outcome.rules = loaded.rules.size();
  outcome.files = loaded.rule_files;
  return outcome;
}

}  // namespace

void apply_compile_test_hook(const char* value, CompileEnv& env) {
  if (value == nullptr || *value == '\0') return;
  const std::string_view text(value);
  const std::size_t colon = text.find(':');
  const std::string_view mode = text.substr(0, colon);
  uint64_t ms = 0;
  if (colon == std::string_view::npos || (mode != "pause" && mode != "stuck") ||
      parse_decimal(text.substr(colon + 1), 600000, ms) != DecimalResult::ok) {
    throw std::invalid_argument(
        "UDPSIEVE_TEST_COMPILE_STAGE: expected pause:MS or stuck:MS (a test hook), got '" +
        std::string(text) + "'");
  }
  env.test_stage_delay = std::chrono::milliseconds(ms);
  env.test_stage_stuck = mode == "stuck";
}

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

std::shared_ptr<const dataplane::RulePart> make_file_part(
    rules::RuleList rules, const config::DaemonConfig& config, const CompileEnv& env,
    uint64_t generation, const control::JobRequest* job,
    std::shared_ptr<const dataplane::RuleFacts> earlier) {
  auto rule_set = std::make_shared<const rules::RuleSet>(
      std::move(rules), config.pipeline.default_action, config.pipeline.non_udp,
      earlier != nullptr ? earlier->rule_set().get() : nullptr);
  if (job != nullptr) job->stop_if_cancelled();
  return make_part(std::move(rule_set), dataplane::PartKind::file, env, generation, job,
                   std::move(earlier));
}

std::shared_ptr<dataplane::SetTables> make_set_tables(const config::LoadedConfig& loaded,
                                                      const CompileEnv& env) {
  if (loaded.sets == nullptr) return nullptr;
  const auto start = Clock::now();
  auto tables = std::make_shared<dataplane::SetTables>(*loaded.sets, env.socket);
  const rules::SetModel& model = *loaded.sets;
  std::size_t v4 = 0;
  std::size_t v6 = 0;
  for (unsigned slot = 0; slot < loaded.set_slots.size(); ++slot) {
    v4 += model.count(slot, rules::Family::ipv4);
    v6 += model.count(slot, rules::Family::ipv6);
  }
  spdlog::info(
      "prefix sets: {} set(s), {} IPv4 + {} IPv6 prefixes ({} + {} distinct); files read in "
      "{:.1f} ms, lookup tables built in {:.1f} ms, {:.1f} MiB",
      loaded.config.sets.size(), v4, v6, model.route_count(rules::Family::ipv4),
      model.route_count(rules::Family::ipv6),
      static_cast<double>(loaded.sets_load_time.count()) / 1e3,
      std::chrono::duration<double, std::milli>(Clock::now() - start).count(),
      static_cast<double>(tables->info().memory_bytes) / (1024.0 * 1024.0));
  return tables;
}

std::shared_ptr<const dataplane::RulePart> make_part(
    std::shared_ptr<const rules::RuleSet> rules, dataplane::PartKind kind, const CompileEnv& env,
    uint64_t generation, const control::JobRequest* job,
    std::shared_ptr<const dataplane::RuleFacts> earlier) {
  dataplane::PartParams params;
  params.earlier = std::move(earlier);
  if (job != nullptr) {
    const bool slowed = job->kind == control::JobKind::reload && env.test_stage_delay.count() > 0;
    params.checkpoint = [job, slowed, &env] {
      if (slowed) slow_stage(*job, env);
      job->stop_if_cancelled();
    };
  }
  params.kind = kind;
  params.workers = env.workers;
  params.generation = generation;
  params.socket = env.socket;
  params.per_source_whole =
      !env.running.ports.empty() &&
      std::all_of(env.running.ports.begin(), env.running.ports.end(),
                  [](const config::PortConfig& port) { return port.rss == config::RssFields::ip; });
  return std::make_shared<const dataplane::RulePart>(std::move(rules), params);
}

control::CompileOutcome build_runtime(const control::JobRequest& request, const CompileEnv& env) {
  const auto start = Clock::now();
  control::CompileOutcome outcome;
  auto rules = std::make_shared<const rules::RuleSet>(
      request.runtime_rules->rules(), rules::Verdict::forward, rules::Verdict::forward);
  outcome.rules = rules->rules().size();
  outcome.part =
      make_part(std::move(rules), dataplane::PartKind::runtime, env, request.serial, &request);
  outcome.compile_time = since(start);
  if (request.after_build) request.after_build();
  outcome.classifier = outcome.part->classifier().info();
  outcome.ok = true;
  return outcome;
}

std::vector<std::string> unreachable_rule_warnings(const rules::RuleList& rules, bool& complete) {
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
    switch (request.kind) {
      case control::JobKind::reload:
        return reload(request, env);
      case control::JobKind::check:
        return check(request, env);
      case control::JobKind::runtime:
        return build_runtime(request, env);
    }
    return control::make_failure("unknown job");
  } catch (const ConfigError& e) {
    return control::make_failure(e.what());
  } catch (const std::exception& e) {
    return control::make_failure(e.what());
  }
}

}  // namespace udpsieve::service
