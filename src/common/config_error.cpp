#include "udpsieve/common/config_error.hpp"

#include <utility>

namespace udpsieve {

std::string SourceLocation::to_string() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string format_config_error(const SourceLocation& where, const std::string& key_path,
                                const std::string& message) {
  // Documents built from JSON (runtime rules) have no file or position: the key path leads.
  std::string out = where.to_string();
  if (!out.empty()) out += ": ";
  if (!key_path.empty()) {
    out += key_path;
    out += ": ";
  }
  out += message;
  return out;
}

ConfigError::ConfigError(SourceLocation where, std::string key_path, std::string message)
    : std::runtime_error(format_config_error(where, key_path, message)),
      where_(std::move(where)),
      key_path_(std::move(key_path)),
      message_(std::move(message)) {}

}  // namespace udpsieve
