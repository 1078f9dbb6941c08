#include "udpsieve/control/compile_jobs.hpp"

#include <exception>

#include "udpsieve/control/runtime_rules.hpp"
#include "udpsieve/dataplane/table.hpp"

namespace udpsieve::control {

CompileOutcome make_failure(std::string error) {
  CompileOutcome outcome;
  outcome.ok = false;
  outcome.error = std::move(error);
  return outcome;
}

void JobRequest::stop_if_cancelled() const {
  if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) throw CompileCancelled();
}

CompileJobs::CompileJobs(Compiler compiler) : compiler_(std::move(compiler)) {}

CompileJobs::~CompileJobs() {
  if (thread_.joinable()) thread_.join();
}

void CompileJobs::start(JobRequest request) {
  request_ = std::move(request);
  request_.cancel = &cancel_;
  done_.store(false, std::memory_order_relaxed);
  thread_ = std::thread([this] {
    try {
      outcome_ = compiler_(request_);
    } catch (const std::exception& e) {
      outcome_ = make_failure(e.what());
    } catch (...) {
      outcome_ = make_failure("unknown error while compiling rules");
    }
    done_.store(true, std::memory_order_release);
  });
}

bool CompileJobs::cancel(std::chrono::milliseconds patience) {
  cancel_.store(true, std::memory_order_relaxed);
  if (!thread_.joinable()) return true;
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (!done_.load(std::memory_order_acquire)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  thread_.join();
  return true;
}

std::optional<std::pair<JobRequest, CompileOutcome>> CompileJobs::take() {
  if (!thread_.joinable() || !done_.load(std::memory_order_acquire)) return std::nullopt;
  thread_.join();
  return std::make_pair(std::move(request_), std::move(outcome_));
}

}  // namespace udpsieve::control
