#pragma once
/// Rule compilation off the control loop: reloads and checks run on a helper thread while the
/// control thread keeps serving the socket and draining the workers' rings.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "udpsieve/config/config.hpp"
#include "udpsieve/dataplane/acl_classifier.hpp"

namespace udpsieve::dataplane {
class RulePart;
class SetTables;
}  // namespace udpsieve::dataplane
namespace udpsieve::control {
class RuntimeRuleSet;
}

namespace udpsieve::control {

/// reload: read the configuration and rule files, build the file rules' part. check: build
/// rule files without applying them. runtime: build the runtime rules' part.
enum class JobKind : uint8_t { reload, check, runtime };

/// A rule file to check: its contents under the name errors use, or a path to read.
struct CheckFile {
  std::string name;
  std::optional<std::string> text;  ///< none: read the file `name`
};

struct JobRequest {
  JobKind kind = JobKind::reload;
  std::vector<CheckFile> files;  ///< check: the rule files to check
  uint64_t serial = 0;  ///< unique per job: the new part's generation (names its classifier)
  std::shared_ptr<const RuntimeRuleSet> runtime_rules;  ///< runtime: the rules to build
  /// reload, check: the prefix set in each slot now (sets keep their slots; rules resolve
  /// set names against them).
  std::vector<std::string> set_slots;
  /// reload: the files the running sets were read from, while the running model holds all
  /// they listed; empty: read the set files (see config::load_config_and_rules).
  std::vector<config::SetFileRead> set_files;
  /// runtime: run on the helper thread once the part is built (saving the state file), so
  /// the control thread never waits for a disk; what it throws fails the job.
  std::function<void()> after_build;
  /// Set by CompileJobs while the job runs: true once the daemon is stopping.
  const std::atomic<bool>* cancel = nullptr;

  /// Throws CompileCancelled when the daemon is stopping: compilers call it between stages,
  /// where nothing is half-built.
  void stop_if_cancelled() const;
};

/// A compile given up because the daemon stops.
struct CompileCancelled : std::runtime_error {
  CompileCancelled()
      : std::runtime_error("the rule compile was cancelled: udpsieved is stopping") {}
};

/// What a compile produced.
struct CompileOutcome {
  bool ok = false;
  std::string error;  ///< one line (`FILE:LINE:COL: key: message` for rule errors) when !ok
  std::vector<std::string> warnings;
  /// reload: the configuration read (its sets put in by the control loop when sets_kept).
  std::shared_ptr<config::LoadedConfig> config;
  std::shared_ptr<const dataplane::RulePart> part;  ///< reload, runtime: ready to publish
  std::shared_ptr<dataplane::SetTables> sets;       ///< reload: the sets' tables, or null
  std::size_t rules = 0;
  std::vector<std::string> files;
  std::size_t files_unchanged = 0;  ///< reload: files the last reload had parsed already
  /// reload: false when nothing the file rules' part depends on changed, so the part built
  /// last (the running one) is kept.
  bool rules_rebuilt = true;
  std::chrono::microseconds load_time{0};     ///< reading and validating YAML
  std::chrono::microseconds compile_time{0};  ///< building the classifier and table
  dataplane::AclBuildInfo classifier;
  bool analysis_complete = true;  ///< check: the shadow analysis finished within its budget
};

CompileOutcome make_failure(std::string error);

/// Turns a request into an outcome; runs on the helper thread.
using Compiler = std::function<CompileOutcome(const JobRequest&)>;

/// Runs one compile at a time on its own thread.
class CompileJobs {
 public:
  explicit CompileJobs(Compiler compiler);
  ~CompileJobs();
  CompileJobs(const CompileJobs&) = delete;
  CompileJobs& operator=(const CompileJobs&) = delete;

  [[nodiscard]] bool busy() const noexcept { return thread_.joinable(); }
  /// Starts `request` (the runner must not be busy).
  void start(JobRequest request);
  /// The finished job and its outcome, once it is done; nullopt while running or idle.
  std::optional<std::pair<JobRequest, CompileOutcome>> take();
  /// At shutdown: asks the running job to stop at its next safe point and waits up to
  /// `patience` for it. True when no job runs any more (it is joined); false when it is still
  /// inside a stage that cannot be interrupted (a classifier build): the caller must then leave
  /// without freeing what the job uses, and this object must not be destroyed.
  [[nodiscard]] bool cancel(std::chrono::milliseconds patience);

 private:
  Compiler compiler_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::atomic<bool> cancel_{false};
  JobRequest request_;
  CompileOutcome outcome_;
};

}  // namespace udpsieve::control
