// The runtime-rule state file: atomic replacement, the JSON document, and start-up loading.
#include "udpsieve/control/state_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <utility>

namespace udpsieve::control {
namespace {

using nlohmann::json;

constexpr mode_t kDirMode = 0750;
constexpr mode_t kFileMode = 0640;
// Far more than one start-up can produce; only guards against looping forever.
constexpr int kMaxCorruptSuffix = 1000;

/// Throws the one-line error of write_file_atomically.
[[noreturn]] void write_failed(const std::string& path, const std::string& step, int error) {
  throw std::runtime_error("cannot write " + path + ": " + step + ": " + std::strerror(error));
}

/// The directory holding `path`, "." for a bare file name.
std::string directory_of(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

/// fsync of a directory, so that entries created or renamed in it survive a power loss.
/// Returns 0 or the errno.
int sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int rc = ::fsync(fd);
  const int error = rc == 0 ? 0 : errno;
  ::close(fd);
  return error;
}

/// mkdir -p with kDirMode, syncing each new directory's parent so the new entry is durable.
void make_directories(const std::filesystem::path& dir, const std::string& target) {
  if (dir.empty()) return;
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) write_failed(target, "create directory " + dir.string(), ENOTDIR);
    return;
  }
  // ENOTDIR: an ancestor is a file; the recursion finds it and names it in the error.
  if (errno != ENOENT && errno != ENOTDIR) {
    write_failed(target, "create directory " + dir.string(), errno);
  }
  make_directories(dir.parent_path(), target);
  if (::mkdir(dir.c_str(), kDirMode) != 0 && errno != EEXIST) {
    write_failed(target, "create directory " + dir.string(), errno);
  }
  const std::string parent = dir.parent_path().empty() ? "." : dir.parent_path().string();
  if (const int error = sync_directory(parent); error != 0) {
    write_failed(target, "fsync directory " + parent, error);
  }
}

/// The temporary file of one write: closed and removed on failure.
class Temporary {
 public:
  explicit Temporary(std::string path) : path_(std::move(path)) {}
  ~Temporary() {
    if (fd_ >= 0) ::close(fd_);
    if (!kept_) ::unlink(path_.c_str());
  }
  Temporary(const Temporary&) = delete;
  Temporary& operator=(const Temporary&) = delete;

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  void set_fd(int fd) noexcept { fd_ = fd; }
  /// Closes the descriptor; returns 0 or the errno.
  int close() noexcept {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }
  /// Leaves the file alone at destruction (renamed into place, or never created by us).
  void keep() noexcept { kept_ = true; }

 private:
  std::string path_;
  int fd_ = -1;
  bool kept_ = false;
};

/// Unix seconds from `value` (an integer); `where` and `expected` name it in the error.
int64_t seconds_of(const json& value, const std::string& where, const char* expected) {
  if (value.is_number_integer() && !value.is_number_unsigned()) return value.get<int64_t>();
  if (value.is_number_unsigned()) {
    const uint64_t number = value.get<uint64_t>();
    if (number > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw std::runtime_error(where + ": " + value.dump() + " is out of range");
    }
    return static_cast<int64_t>(number);
  }
  if (value.is_number_float()) {
    throw std::runtime_error(where + ": expected whole seconds, not " + value.dump());
  }
  throw std::runtime_error(where + ": " + expected);
}

/// Throws "WHERE: unknown key "K"" for a key outside `known`.
void reject_unknown_keys(const json& object, std::initializer_list<std::string_view> known,
                         const std::string& where) {
  for (const auto& [key, value] : object.items()) {
    bool found = false;
    for (std::string_view name : known)
      found = found || key == name;
    if (!found) {
      throw std::runtime_error((where.empty() ? "" : where + ": ") + "unknown key \"" + key + "\"");
    }
  }
}

/// "expires_at" (required, null when permanent) and "added_at" of an entry.
void decode_times(const json& entry, const std::string& where, std::optional<int64_t>& expires_at,
                  int64_t& added_at) {
  // Required even when permanent: an explicit null tells a truncated hand edit from intent.
  const auto expires = entry.find("expires_at");
  if (expires == entry.end()) {
    throw std::runtime_error(where + ".expires_at: missing (null if permanent)");
  }
  if (!expires->is_null()) {
    expires_at = seconds_of(*expires, where + ".expires_at", "expected a number or null");
  }
  const auto added = entry.find("added_at");
  if (added == entry.end()) throw std::runtime_error(where + ".added_at: missing");
  added_at = seconds_of(*added, where + ".added_at", "expected a number");
}

std::string times_json(const std::optional<int64_t>& expires_at, int64_t added_at) {
  return "\"expires_at\": " + (expires_at ? std::to_string(*expires_at) : std::string("null")) +
         ", \"added_at\": " + std::to_string(added_at);
}

PersistedRule decode_entry(const json& entry, const std::string& where) {
  if (!entry.is_object()) {
    throw std::runtime_error(where + ": expected an object, not " + entry.type_name());
  }
  reject_unknown_keys(entry, {"rule", "expires_at", "added_at"}, where);
  PersistedRule rule;
  const auto found_rule = entry.find("rule");
  if (found_rule == entry.end()) throw std::runtime_error(where + ".rule: missing");
  if (!found_rule->is_object()) {
    throw std::runtime_error(where + ".rule: expected an object, not " + found_rule->type_name());
  }
  rule.rule = *found_rule;

  decode_times(entry, where, rule.expires_at, rule.added_at);
  return rule;
}

/// PATH.corrupt-YYYYMMDDTHHMMSSZ for `now`.
std::string corrupt_name(const std::string& path, int64_t now) {
  const auto seconds = static_cast<std::time_t>(now);
  std::tm utc{};
  char stamp[32] = "";
  if (::gmtime_r(&seconds, &utc) == nullptr ||
      std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc) == 0) {
    return path + ".corrupt-" + std::to_string(now);  // a year strftime cannot print
  }
  return path + ".corrupt-" + stamp;
}

/// Renames `from` to `to` unless `to` exists: 0, EEXIST, or another errno.
int rename_no_replace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
  // The filesystem cannot refuse to replace; nothing else renames in this directory at start-up,
  // so checking first is enough.
  struct stat st {};
  if (::lstat(to.c_str(), &st) == 0) return EEXIST;
  return ::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

/// Moves a corrupt state file aside under a free timestamped name and returns that name.
std::string move_aside(const std::string& path, int64_t now, const std::string& why) {
  const std::string base = corrupt_name(path, now);
  for (int suffix = 0; suffix <= kMaxCorruptSuffix; ++suffix) {
    std::string target = suffix == 0 ? base : base + "-" + std::to_string(suffix);
    const int error = rename_no_replace(path, target);
    if (error == EEXIST) continue;
    if (error != 0) {
      throw std::runtime_error("cannot move the corrupt state file " + path + " aside (" + why +
                               "): " + std::strerror(error));
    }
    // Best effort: if the move is lost to a power cut, the next start moves the file again.
    (void)sync_directory(directory_of(path));
    return target;
  }
  throw std::runtime_error("cannot move the corrupt state file " + path + " aside (" + why + "): " +
                           base + "-1 to -" + std::to_string(kMaxCorruptSuffix) + " are all taken");
}

/// The whole file at `path`, or nullopt if it does not exist; throws if it cannot be read.
std::optional<std::string> read_whole_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  }
  std::string text;
  int error = 0;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = errno;
  } else if (S_ISDIR(st.st_mode)) {
    error = EISDIR;
  } else if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error("cannot read " + path + ": not a regular file");
  }
  char buffer[65536];
  while (error == 0) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      text.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      error = errno;
    }
  }
  ::close(fd);
  if (error != 0) throw std::runtime_error("cannot read " + path + ": " + std::strerror(error));
  return text;
}

}  // namespace

void write_file_atomically(const std::string& path, std::string_view contents) {
  const std::string dir = directory_of(path);
  make_directories(std::filesystem::path(path).parent_path(), path);

  Temporary temp(path + ".tmp");
  // O_TRUNC: a temporary left by a killed writer is simply reused.
  const int fd =
      ::open(temp.path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, kFileMode);
  if (fd < 0) {
    const int error = errno;
    // Nothing of ours was created, and what stands there (a directory, a symlink) is not ours.
    temp.keep();
    write_failed(path, "open " + temp.path(), error);
  }
  temp.set_fd(fd);

  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n == 0) {
      write_failed(path, "write " + temp.path(), ENOSPC);  // no progress and no errno
    } else if (errno != EINTR) {
      write_failed(path, "write " + temp.path(), errno);
    }
  }
  // Data before name: without this, a power cut after the rename can leave an empty file.
  if (::fsync(fd) != 0) write_failed(path, "fsync " + temp.path(), errno);
  if (const int error = temp.close(); error != 0) {
    write_failed(path, "close " + temp.path(), error);
  }
  if (::rename(temp.path().c_str(), path.c_str()) != 0) {
    write_failed(path, "rename " + temp.path(), errno);
  }
  temp.keep();
  // The rename itself is only durable once the directory is.
  if (const int error = sync_directory(dir); error != 0) {
    write_failed(path, "fsync directory " + dir, error);
  }
}

namespace {

/// The list under `list_key` of a state document of `format` (any version up to kStateVersion),
/// after checking its envelope; throws std::runtime_error saying what is wrong.
json decode_envelope(std::string_view text, std::string_view state_format,
                     std::string_view list_key) {
  // What a writer without fsync leaves after a power cut; worth saying plainly.
  if (text.empty()) throw std::runtime_error("not JSON: the file is empty");
  json document;
  try {
    document = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    // Drop the "[json.exception.parse_error.101] " tag; the rest says where and what.
    std::string detail = e.what();
    if (const std::size_t end = detail.find("] ");
        detail.starts_with("[") && end != std::string::npos) {
      detail.erase(0, end + 2);
    }
    throw std::runtime_error("not JSON: " + detail);
  }

  if (!document.is_object()) {
    throw std::runtime_error(std::string("unknown format: expected an object, not ") +
                             document.type_name());
  }
  const std::string expected_format = json(state_format).dump();
  const auto format = document.find("format");
  if (format == document.end()) {
    throw std::runtime_error("unknown format: no \"format\" key (expected " + expected_format +
                             ")");
  }
  if (!format->is_string() || format->get_ref<const std::string&>() != state_format) {
    throw std::runtime_error("unknown format " + format->dump() + " (expected " + expected_format +
                             ")");
  }
  const auto version = document.find("version");
  if (version == document.end()) throw std::runtime_error("version: missing");
  if (!version->is_number_integer()) throw std::runtime_error("version: expected an integer");
  // Non-negative numbers parse as unsigned; compared as such, a huge one reads as newer.
  const bool newer = version->is_number_unsigned()
                         ? version->get<uint64_t>() > static_cast<uint64_t>(kStateVersion)
                         : version->get<int64_t>() > kStateVersion;
  if (newer) {
    throw std::runtime_error("version " + version->dump() +
                             " is newer than this udpsieved understands (up to " +
                             std::to_string(kStateVersion) + ")");
  }
  if (*version < kStateVersion) {
    throw std::runtime_error("version " + version->dump() + " is not a valid version");
  }
  reject_unknown_keys(document, {"format", "version", "written_at", list_key}, "");
  const auto written = document.find("written_at");
  if (written == document.end()) throw std::runtime_error("written_at: missing");
  (void)seconds_of(*written, "written_at", "expected a number");

  const auto list = document.find(list_key);
  const std::string key(list_key);
  if (list == document.end()) throw std::runtime_error(key + ": missing");
  if (!list->is_array()) {
    throw std::runtime_error(key + ": expected a list, not " + list->type_name());
  }
  return std::move(*list);
}

/// A state document's text: the envelope and one entry per line.
std::string encode_envelope(std::string_view state_format, int64_t now, std::string_view list_key,
                            const std::vector<std::string>& entries) {
  std::string text = "{\n  \"format\": " + json(state_format).dump() +
                     ",\n  \"version\": " + std::to_string(kStateVersion) +
                     ",\n  \"written_at\": " + std::to_string(now) + ",\n  \"" +
                     std::string(list_key) + "\": [";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    text += i == 0 ? "\n    " : ",\n    ";
    text += entries[i];
  }
  text += entries.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return text;
}

/// Reads the state file at `path` with `decode` into `load` (see load_state).
template <class Load, class Decode>
void load_document(const std::string& path, int64_t now, Load& load, Decode decode) {
  // Only write_file_atomically creates it, and a write that never reached its rename was never
  // acknowledged, so its contents are not owed to anyone.
  load.removed_leftover_tmp = ::unlink((path + ".tmp").c_str()) == 0;
  std::optional<std::string> text = read_whole_file(path);
  if (!text) return;
  try {
    decode(*text);
    load.status = StateLoad::Status::loaded;
  } catch (const std::runtime_error& e) {
    load.status = StateLoad::Status::corrupt;
    load.error = e.what();
    load.moved_to = move_aside(path, now, load.error);
  }
}

}  // namespace

std::string encode_state(const std::vector<PersistedRule>& rules, int64_t now) {
  std::vector<std::string> lines;
  lines.reserve(rules.size());
  try {
    for (std::size_t i = 0; i < rules.size(); ++i) {
      const PersistedRule& entry = rules[i];
      // decode_state would refuse it: never write a file this build cannot read back.
      if (!entry.rule.is_object()) {
        throw std::runtime_error("cannot encode the runtime rules: rule " + std::to_string(i) +
                                 " is not an object but " + entry.rule.type_name());
      }
      // Keys in this order (json objects sort theirs) so each line reads rule first.
      lines.push_back("{\"rule\": " + entry.rule.dump() + ", " +
                      times_json(entry.expires_at, entry.added_at) + "}");
    }
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("cannot encode the runtime rules: ") + e.what());
  }
  return encode_envelope(kStateFormat, now, "rules", lines);
}

std::vector<PersistedRule> decode_state(std::string_view text) {
  const json list = decode_envelope(text, kStateFormat, "rules");
  std::vector<PersistedRule> rules;
  rules.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    rules.push_back(decode_entry(list[i], "rules[" + std::to_string(i) + "]"));
  }
  return rules;
}

std::string encode_set_state(const std::vector<PersistedSetEntry>& entries, int64_t now) {
  std::vector<std::string> lines;
  lines.reserve(entries.size());
  try {
    for (const PersistedSetEntry& entry : entries) {
      lines.push_back("{\"set\": " + json(entry.set).dump() +
                      ", \"prefix\": " + json(entry.prefix).dump() + ", " +
                      times_json(entry.expires_at, entry.added_at) + "}");
    }
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("cannot encode the runtime set entries: ") + e.what());
  }
  return encode_envelope(kSetStateFormat, now, "entries", lines);
}

std::vector<PersistedSetEntry> decode_set_state(std::string_view text) {
  const json list = decode_envelope(text, kSetStateFormat, "entries");
  std::vector<PersistedSetEntry> entries;
  entries.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& entry = list[i];
    const std::string where = "entries[" + std::to_string(i) + "]";
    if (!entry.is_object()) {
      throw std::runtime_error(where + ": expected an object, not " + entry.type_name());
    }
    reject_unknown_keys(entry, {"set", "prefix", "expires_at", "added_at"}, where);
    PersistedSetEntry out;
    for (const auto& [key, field] :
         {std::pair{"set", &out.set}, std::pair{"prefix", &out.prefix}}) {
      const auto it = entry.find(key);
      if (it == entry.end() || !it->is_string()) {
        throw std::runtime_error(where + "." + key + ": expected a string");
      }
      *field = it->get<std::string>();
    }
    decode_times(entry, where, out.expires_at, out.added_at);
    entries.push_back(std::move(out));
  }
  return entries;
}

std::string set_state_path(const std::string& rules_path) {
  constexpr std::string_view kJson = ".json";
  if (rules_path.size() > kJson.size() && rules_path.ends_with(kJson)) {
    return rules_path.substr(0, rules_path.size() - kJson.size()) + ".sets.json";
  }
  return rules_path + ".sets";
}

SetStateLoad load_set_state(const std::string& path, int64_t now) {
  SetStateLoad load;
  load_document(path, now, load,
                [&](const std::string& text) { load.entries = decode_set_state(text); });
  return load;
}

StateLoad load_state(const std::string& path, int64_t now) {
  StateLoad load;
  load_document(path, now, load, [&](const std::string& text) { load.rules = decode_state(text); });
  return load;
}

}  // namespace udpsieve::control
