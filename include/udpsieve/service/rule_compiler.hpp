#pragma once
/// Turning configuration and rule files into tables: at start-up, on reload and for checks.

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "udpsieve/config/config.hpp"
#include "udpsieve/control/compile_jobs.hpp"
#include "udpsieve/service/options.hpp"

#include "udpsieve/dataplane/table.hpp"

namespace udpsieve::service {

/// Applies command-line overrides (--no-huge, --file-prefix, --socket, --log-level) to a
/// configuration; a bad value throws std::invalid_argument.
void apply_overrides(const Options& options, config::DaemonConfig& config);

/// What compiling needs to know about the running daemon.
struct CompileEnv {
  Options options;
  config::DaemonConfig running;  ///< the configuration the daemon started with
  uint32_t workers = 1;
  int socket = 0;  ///< NUMA socket for classifier memory
  /// Test hook (UDPSIEVE_TEST_COMPILE_STAGE): each stage of a reload's classifier build takes
  /// this long more, in a sleep a stop interrupts (`stage_pause`) or, like an rte_acl build,
  /// does not (`stage_stuck`).
  std::chrono::milliseconds test_stage_delay{0};
  bool test_stage_stuck = false;
  /// The rule files the last reload (or the start) compiled (config::RuleFileMemo), shared by
  /// the copies of the environment: a reload takes the files whose bytes did not change from
  /// it, and its build the facts of their rules. Only reload jobs read and replace them.
  struct RuleFiles {
    std::mutex lock;
    std::shared_ptr<const config::RuleFileMemo> memo;
    std::shared_ptr<const dataplane::RuleFacts> facts;  ///< of memo->rules
    /// The part built with `facts`, while it lives (it runs, unless its reload was refused and
    /// it is gone): a reload that reads the very same rules keeps it instead of building one.
    std::weak_ptr<const dataplane::RulePart> part;
  };
  std::shared_ptr<RuleFiles> rule_files = std::make_shared<RuleFiles>();
};

/// Reads UDPSIEVE_TEST_COMPILE_STAGE (`pause:MS` or `stuck:MS`) into `env`; a bad value throws
/// std::invalid_argument.
void apply_compile_test_hook(const char* value, CompileEnv& env);

/// Builds the file rules' part of `rules` under `config`'s defaults (the list shares its rules'
/// blocks, so taking it by value copies pointers, not rules). Throws ConfigError for a rule the
/// classifier cannot take, std::runtime_error when DPDK fails.
/// `job`, when given, is asked between stages whether to stop (CompileCancelled).
/// `earlier`, when given, are the facts of a previous build (see PartParams::earlier).
[[nodiscard]] std::shared_ptr<const dataplane::RulePart> make_file_part(
    rules::RuleList rules, const config::DaemonConfig& config, const CompileEnv& env,
    uint64_t generation, const control::JobRequest* job = nullptr,
    std::shared_ptr<const dataplane::RuleFacts> earlier = nullptr);
/// The lookup tables of `loaded`'s prefix sets (null when it declares none). Throws
/// std::runtime_error when DPDK cannot allocate them.
[[nodiscard]] std::shared_ptr<dataplane::SetTables> make_set_tables(
    const config::LoadedConfig& loaded, const CompileEnv& env);
/// Builds a part of `kind` from `rules`; throws like make_file_part.
[[nodiscard]] std::shared_ptr<const dataplane::RulePart> make_part(
    std::shared_ptr<const rules::RuleSet> rules, dataplane::PartKind kind, const CompileEnv& env,
    uint64_t generation, const control::JobRequest* job = nullptr,
    std::shared_ptr<const dataplane::RuleFacts> earlier = nullptr);
/// A runtime build job: the runtime rules' part (on the runtime builder thread).
[[nodiscard]] control::CompileOutcome build_runtime(const control::JobRequest& request,
                                                    const CompileEnv& env);

/// Runs a reload or check job (on the compile thread). Never throws.
[[nodiscard]] control::CompileOutcome compile(const control::JobRequest& request,
                                              const CompileEnv& env);

/// Shadowed and duplicate rules as warning lines, within `budget`; sets `complete`.
[[nodiscard]] std::vector<std::string> unreachable_rule_warnings(const rules::RuleList& rules,
                                                                 bool& complete);

}  // namespace udpsieve::service
