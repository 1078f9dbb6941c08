#include "udpsieve/cli/args.hpp"

#include <algorithm>
#include <utility>

#include "udpsieve/common/decimal.hpp"

namespace udpsieve::cli {

ArgReader::ArgReader(std::string context, std::span<const std::string> args)
    : context_(std::move(context)), args_(args) {}

bool ArgReader::next() {
  if (started_) ++index_;
  started_ = true;
  if (!options_ended_ && index_ < args_.size() && args_[index_] == "--") {
    options_ended_ = true;
    ++index_;
  }
  return index_ < args_.size();
}

bool ArgReader::operand() const {
  const std::string& arg = current();
  return options_ended_ || arg == "-" || arg.empty() || arg.front() != '-';
}

bool ArgReader::flag(std::string_view name) const {
  if (operand()) return false;
  const std::string& arg = current();
  if (arg == name) return true;
  if (arg.size() > name.size() && arg.compare(0, name.size(), name) == 0 &&
      arg[name.size()] == '=') {
    fail(std::string(name) + " takes no value");
  }
  return false;
}

bool read_option(std::span<const std::string> args, std::size_t& i, std::string_view name,
                 std::string& value, const std::string& prefix) {
  const std::string& arg = args[i];
  if (arg == name) {
    if (i + 1 >= args.size()) throw UsageError(prefix + std::string(name) + " needs a value");
    value = args[++i];
    return true;
  }
  if (arg.size() > name.size() && arg.compare(0, name.size(), name) == 0 &&
      arg[name.size()] == '=') {
    value = arg.substr(name.size() + 1);
    return true;
  }
  return false;
}

bool ArgReader::option(std::string_view name, std::string& value) {
  if (operand()) return false;
  try {
    return read_option(args_, index_, name, value);
  } catch (const UsageError& e) {
    fail(e.what());
  }
}

uint64_t ArgReader::number(std::string_view name, const std::string& value, uint64_t low,
                           uint64_t high) const {
  uint64_t n = 0;
  if (parse_decimal(value, high, n) != DecimalResult::ok || n < low) {
    fail(std::string(name) + ": a number from " + std::to_string(low) + " to " +
         std::to_string(high) + ", got '" + value + "'");
  }
  return n;
}

const std::string& ArgReader::one_of(std::string_view name, const std::string& value,
                                     std::span<const std::string_view> choices) const {
  if (std::find(choices.begin(), choices.end(), value) != choices.end()) return value;
  std::string list;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    list += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + std::string(choices[i]);
  }
  fail(std::string(name) + ": " + list + ", got '" + value + "'");
}

void ArgReader::reject() const {
  if (operand()) fail("unexpected argument '" + current() + "'");
  fail("unknown option '" + current() + "'");
}

void ArgReader::fail(const std::string& message) const {
  throw UsageError(context_ + ": " + message, context_);
}

}  // namespace udpsieve::cli
