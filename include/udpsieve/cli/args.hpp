#pragma once
/// Reading one udpsievectl command's arguments: options, flags and operands.

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace udpsieve::cli {

/// A command line udpsievectl cannot act on: main prints what() and the usage, exit status 2.
class UsageError : public std::runtime_error {
 public:
  /// `words` names the command whose usage to show ("rule add", "rule"); empty: all of it.
  explicit UsageError(const std::string& message, std::string words = {})
      : std::runtime_error(message), words_(std::move(words)) {}

  /// The command words whose usage applies, or empty.
  [[nodiscard]] const std::string& words() const noexcept { return words_; }

 private:
  std::string words_;
};

/// If args[i] is the option `name` (`name VALUE` or `name=VALUE`), stores its value, moves `i`
/// past it and returns true. A missing value throws UsageError("PREFIXname needs a value").
[[nodiscard]] bool read_option(std::span<const std::string> args, std::size_t& i,
                               std::string_view name, std::string& value,
                               const std::string& prefix = {});

/// Walks a command's arguments: `--name VALUE` or `--name=VALUE` options, `--name` flags and
/// operands (`-` is an operand: stdin); after `--` every argument is an operand.
class ArgReader {
 public:
  /// `context` names the command in errors, e.g. "rule add".
  ArgReader(std::string context, std::span<const std::string> args);

  /// Moves to the next argument; false when there is none.
  [[nodiscard]] bool next();
  /// The current argument as typed.
  [[nodiscard]] const std::string& current() const { return args_[index_]; }
  /// True when the current argument is an operand rather than an option.
  [[nodiscard]] bool operand() const;
  /// True when the current argument is the flag `name`; `name=VALUE` is a usage error.
  [[nodiscard]] bool flag(std::string_view name) const;
  /// True when the current argument is the option `name`; its value (`name=VALUE`, or the next
  /// argument, which is consumed) goes to `value`. A missing value is a usage error.
  [[nodiscard]] bool option(std::string_view name, std::string& value);
  /// `value`, given to option `name`, as a whole number from `low` to `high`; anything else is
  /// the usage error "NAME: a number from LOW to HIGH, got 'VALUE'".
  [[nodiscard]] uint64_t number(std::string_view name, const std::string& value, uint64_t low,
                                uint64_t high) const;
  /// `value`, given to option `name`, when it is one of `choices`; anything else is the usage
  /// error "NAME: a, b or c, got 'VALUE'".
  [[nodiscard]] const std::string& one_of(std::string_view name, const std::string& value,
                                          std::span<const std::string_view> choices) const;
  /// Throws UsageError for the current argument: an unknown option or an unexpected operand.
  [[noreturn]] void reject() const;
  /// Throws UsageError with "CONTEXT: message".
  [[noreturn]] void fail(const std::string& message) const;

 private:
  std::string context_;
  std::span<const std::string> args_;
  std::size_t index_ = 0;
  bool started_ = false;
  bool options_ended_ = false;
};

}  // namespace udpsieve::cli
