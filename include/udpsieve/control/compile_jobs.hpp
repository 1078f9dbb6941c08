#pragma once
/// Rule compilation off the control loop: reloads and checks run on a helper thread while the
/// control thread keeps serving the socket and draining the workers' rings.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "udpsieve/config/config.hpp"
#include "udpsieve/dataplane/acl_classifier.hpp"

namespace udpsieve::dataplane {
class Table;
}

namespace udpsieve::control {

enum class JobKind : uint8_t { reload, check };

struct JobRequest {
  JobKind kind = JobKind::reload;
  std::vector<std::string> files;  ///< check: the rule files to check
  uint64_t serial = 0;  ///< unique per job: the new table's generation (names its classifier)
};

/// What a compile produced.
struct CompileOutcome {
  bool ok = false;
  std::string error;  ///< one line (`FILE:LINE:COL: key: message` for rule errors) when !ok
  std::vector<std::string> warnings;
  std::shared_ptr<const config::LoadedConfig> config;  ///< reload: the configuration read
  std::unique_ptr<dataplane::Table> table;             ///< reload: ready to publish
  std::size_t rules = 0;
  std::vector<std::string> files;
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

 private:
  Compiler compiler_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  JobRequest request_;
  CompileOutcome outcome_;
};

}  // namespace udpsieve::control
