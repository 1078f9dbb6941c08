#pragma once
/// Errors in configuration and rule files, shown to the user as one line:
/// `FILE:LINE:COL: key.path: what is wrong`.

#include <stdexcept>
#include <string>

namespace udpsieve {

/// Where in a file something was written; line and column are 1-based, 0 when unknown.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;

  /// "file:line:col", or just "file" when the position is unknown.
  [[nodiscard]] std::string to_string() const;
};

/// A configuration or rule-file error with its location and dotted key path.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(SourceLocation where, std::string key_path, std::string message);

  [[nodiscard]] const SourceLocation& where() const noexcept { return where_; }
  [[nodiscard]] const std::string& key_path() const noexcept { return key_path_; }
  [[nodiscard]] const std::string& message() const noexcept { return message_; }

 private:
  SourceLocation where_;
  std::string key_path_;
  std::string message_;
};

/// Formats `where: key_path: message` (the text of ConfigError::what()).
[[nodiscard]] std::string format_config_error(const SourceLocation& where,
                                              const std::string& key_path,
                                              const std::string& message);

}  // namespace udpsieve
