#pragma once
// Test support: a private directory under /tmp, removed with its contents at scope exit
// (kept when UDPSIEVE_KEEP_TMP is set, for debugging), and a helper that captures the one
// line a ConfigError prints.

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>

#include "udpsieve/common/config_error.hpp"

namespace udpsieve::test {

class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/udpsieve-test-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    if (std::getenv("UDPSIEVE_KEEP_TMP") != nullptr) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  /// path()/name as a string.
  [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }
  /// Writes `text` to path()/name (creating parent directories) and returns that path.
  std::string write(const std::string& name, const std::string& text) const {
    const std::filesystem::path target = path_ / name;
    std::filesystem::create_directories(target.parent_path());
    std::ofstream(target, std::ios::binary) << text;
    return target.string();
  }
  void mkdir(const std::string& name) const { std::filesystem::create_directories(path_ / name); }

 private:
  std::filesystem::path path_;
};

/// The `FILE:LINE:COL: key: message` line `action` throws as a ConfigError, or "(no error)".
inline std::string config_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace udpsieve::test
