#include "udpsieve/cli/args.hpp"

#include <utility>

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

void ArgReader::reject() const {
  if (operand()) fail("unexpected argument '" + current() + "'");
  fail("unknown option '" + current() + "'");
}

void ArgReader::fail(const std::string& message) const {
  throw UsageError(context_ + ": " + message, context_);
}

}  // namespace udpsieve::cli
