#include "udpsieve/cli/command_line.hpp"

#include <algorithm>
#include <random>
#include <string_view>
#include <utility>

#include "udpsieve/cli/args.hpp"
#include "udpsieve/cli/client.hpp"
#include "udpsieve/cli/render.hpp"
#include "udpsieve/cli/top.hpp"
#include "udpsieve/common/decimal.hpp"

namespace udpsieve::cli {
namespace {

using nlohmann::json;

const char* const kOptions =
    "global options (before or after the command):\n"
    "  --socket PATH      control socket (default $UDPSIEVE_SOCKET or "
    "/run/udpsieve/control.sock)\n"
    "  --timeout SECONDS  wait this long for the reply (default 5 s; rule add, rule del and\n"
    "                     block 60 s; reload and check 5 min; capture its --timeout + 30 s;\n"
    "                     for capture give it before the command)\n"
    "  --json             print the daemon's JSON reply unchanged\n"
    "  --field PATH       print one value of the reply, e.g. totals.rx_packets, ports.wan.name\n"
    "                     or rules.ID.packets (list entries by position, id or name)\n"
    "\n"
    "DURATION: a whole number with an optional unit s, m, h or d (90, 90s, 10m, 2h, 7d), at most\n"
    "365 days.\n"
    "\n"
    "exit status: 0 success, 1 daemon unreachable, request refused or bad rule file,\n"
    "2 bad usage\n";

/// One way udpsievectl offers a command, with its literal words ("rule", "add").
struct Form {
  const protocol::Command* command;
  const protocol::CliForm* form;
  std::vector<std::string_view> words;
};

/// The words a form's usage starts with: "rule add [--ttl DURATION] ..." gives rule, add.
std::vector<std::string_view> form_words(std::string_view usage) {
  std::vector<std::string_view> words;
  std::size_t pos = 0;
  while (pos < usage.size()) {
    const std::size_t end = std::min(usage.find_first_of(" \n", pos), usage.size());
    const std::string_view word = usage.substr(pos, end - pos);
    const bool literal = !word.empty() && word.front() != '-' &&
                         std::all_of(word.begin(), word.end(),
                                     [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; });
    if (!literal) break;
    words.push_back(word);
    pos = end + 1;
  }
  return words;
}

/// Every form of every command, from the command table.
std::vector<Form> all_forms() {
  std::vector<Form> forms;
  for (const protocol::Command& command : protocol::kCommands) {
    for (const protocol::CliForm& form : command.cli)
      forms.push_back(Form{&command, &form, form_words(form.usage)});
  }
  return forms;
}

std::string join_words(const std::vector<std::string_view>& words) {
  std::string out;
  for (std::string_view word : words)
    out += (out.empty() ? "" : " ") + std::string(word);
  return out;
}

/// Whether `arg` (`--name` or `--name=VALUE`) is an option the form's usage names.
bool names_option(std::string_view usage, std::string_view arg) {
  if (arg.size() < 3 || arg.substr(0, 2) != "--") return false;
  const std::string_view name = arg.substr(0, arg.find('='));
  for (std::size_t pos = usage.find(name); pos != std::string_view::npos;
       pos = usage.find(name, pos + 1)) {
    const std::size_t end = pos + name.size();
    const bool whole =
        end == usage.size() || !((usage[end] >= 'a' && usage[end] <= 'z') || usage[end] == '-');
    if (whole) return true;
  }
  return false;
}

std::chrono::seconds parse_timeout(const std::string& text) {
  uint64_t seconds = 0;
  if (parse_decimal(text, kMaxTimeoutS, seconds) != DecimalResult::ok || seconds == 0) {
    throw UsageError("--timeout: '" + text + "' is not a whole number of seconds from 1 to " +
                     std::to_string(kMaxTimeoutS));
  }
  return std::chrono::seconds(seconds);
}

/// The forms named by the words at args[i...] (the longest that match); throws UsageError.
std::vector<Form> resolve(std::span<const std::string> args, std::size_t i) {
  std::vector<Form> matched;
  for (Form& form : all_forms()) {
    const std::size_t n = form.words.size();
    if (n == 0 || i + n > args.size() ||
        !std::equal(form.words.begin(), form.words.end(), args.begin() + static_cast<long>(i))) {
      continue;
    }
    if (!matched.empty() && matched.front().words.size() > n) continue;
    if (!matched.empty() && matched.front().words.size() < n) matched.clear();
    matched.push_back(std::move(form));
  }
  if (!matched.empty()) return matched;
  std::vector<std::string_view> next_words;
  for (const Form& form : all_forms()) {
    if (form.words.size() > 1 && form.words[0] == args[i]) next_words.push_back(form.words[1]);
  }
  if (next_words.empty()) throw UsageError("unknown command '" + args[i] + "'");
  std::string list;
  for (std::string_view word : next_words)
    list += (list.empty() ? "" : ", ") + std::string(word);
  throw UsageError("'" + args[i] + "' needs one of: " + list +
                       (i + 1 < args.size() ? " (not '" + args[i + 1] + "')" : std::string()),
                   args[i]);
}

}  // namespace

Invocation parse_command_line(std::span<const std::string> args, std::string socket_path) {
  Invocation invocation;
  invocation.socket_path = std::move(socket_path);
  std::vector<Form> forms;  // the forms the command words name
  bool options_ended = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const bool have_command = invocation.command != nullptr;
    const bool own_option =
        have_command && std::any_of(forms.begin(), forms.end(), [&](const Form& form) {
          return names_option(form.form->usage, arg);
        });
    std::string value;
    if (options_ended || own_option) {
      invocation.args.push_back(arg);
    } else if (have_command && arg == "--") {
      options_ended = true;
      invocation.args.push_back(arg);
    } else if (arg == "--help" || arg == "-h") {
      invocation.help = true;
    } else if (read_option(args, i, "--socket", value)) {
      if (value.empty()) throw UsageError("--socket needs a path");
      invocation.socket_path = value;
    } else if (read_option(args, i, "--field", value)) {
      if (value.empty()) {
        throw UsageError("--field needs a path (totals.rx_packets, rules.ID.packets, ...)");
      }
      invocation.field = value;
    } else if (read_option(args, i, "--timeout", value)) {
      invocation.timeout = parse_timeout(value);
    } else if (arg == "--json") {
      invocation.json_output = true;
    } else if (have_command) {
      invocation.args.push_back(arg);
    } else if (!arg.empty() && arg.front() == '-') {
      throw UsageError("unknown option '" + arg + "'");
    } else {
      forms = resolve(args, i);
      invocation.command = forms.front().command;
      invocation.words = join_words(forms.front().words);
      i += forms.front().words.size() - 1;
    }
  }
  if (invocation.command == nullptr && !invocation.help) {
    throw UsageError("a command is required");
  }
  if (!invocation.field.empty() && invocation.json_output) {
    throw UsageError("--json and --field exclude each other: --json prints the whole reply");
  }
  if (!invocation.field.empty() && invocation.command != nullptr &&
      invocation.command->name == "capture") {
    throw UsageError("capture writes its packets to a file; --field is not offered");
  }
  return invocation;
}

std::optional<nlohmann::json> reply_field(const nlohmann::json& reply, std::string_view path) {
  const nlohmann::json* at = &reply;
  while (!path.empty()) {
    if (at->is_object()) {
      const std::size_t dot = path.find('.');
      const auto it = at->find(std::string(path.substr(0, dot)));
      if (it == at->end()) return std::nullopt;
      at = &*it;
      path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
      continue;
    }
    if (!at->is_array()) return std::nullopt;
    // A list entry by its id or name (the longest that fits: ids may hold dots), or by
    // position.
    const nlohmann::json* found = nullptr;
    std::size_t used = 0;
    for (const nlohmann::json& entry : *at) {
      if (!entry.is_object()) continue;
      for (const char* key : {"id", "name"}) {
        const auto name = entry.find(key);
        if (name == entry.end() || !name->is_string()) continue;
        const std::string& text = name->get_ref<const std::string&>();
        const bool fits = path.substr(0, text.size()) == text &&
                          (path.size() == text.size() || path[text.size()] == '.');
        if (fits && text.size() > used) {
          found = &entry;
          used = text.size();
        }
      }
    }
    if (found == nullptr) {
      const std::size_t dot = path.find('.');
      uint64_t index = 0;
      if (parse_decimal(path.substr(0, dot), UINT32_MAX, index) != DecimalResult::ok ||
          index >= at->size()) {
        return std::nullopt;
      }
      found = &(*at)[static_cast<std::size_t>(index)];
      used = dot == std::string_view::npos ? path.size() : dot;
    }
    at = found;
    path = used == path.size() ? std::string_view() : path.substr(used + 1);
  }
  return *at;
}

json talkers_request(std::span<const std::string> args, const std::string& words) {
  ArgReader reader(words, args);
  json request = json::parse(command_request("talkers"));
  while (reader.next()) {
    std::string value;
    if (reader.option("--by", value)) {
      request["by"] = reader.one_of("--by", value, protocol::kTalkerKinds);
    } else if (reader.option("--verdict", value)) {
      request["verdict"] = reader.one_of("--verdict", value, protocol::kTalkerVerdicts);
    } else if (reader.option("--top", value)) {
      request["top"] = reader.number("--top", value, 1, protocol::kMaxTalkers);
    } else {
      reader.reject();
    }
  }
  return request;
}

std::chrono::milliseconds default_timeout(const std::string& command,
                                          const CaptureOptions& capture) {
  // The daemon answers when the work is done: a capture when it has its packets or its time is
  // up, a reload or check when a large rule set is compiled, a rule change when it is in effect.
  if (command == "capture") return std::chrono::seconds(capture.timeout_s + 30);
  if (command == "reload" || command == "check") return std::chrono::minutes(5);
  if (command.rfind("rule-", 0) == 0 || command.rfind("set-", 0) == 0) {
    return std::chrono::seconds(60);
  }
  return std::chrono::seconds(5);
}

Request build_request(const Invocation& invocation,
                      const std::function<std::string()>& read_stdin) {
  Request request;
  request.command = std::string(invocation.command->name);
  request.words = invocation.words;
  const std::span<const std::string> args(invocation.args);
  if (request.words == "block") {
    std::random_device random;
    request.body = block_request(parse_block(args), std::chrono::system_clock::now(),
                                 static_cast<uint16_t>(random() & 0xffff));
  } else if (request.command == "rule-add") {
    const RuleAddOptions options = parse_rule_add(args);
    request.rule_file = load_rule_file(options.file, read_stdin);
    request.body = rule_add_request(options, request.rule_file->rules);
  } else if (request.command == "rule-del") {
    request.body = rule_del_request(parse_rule_del(args));
  } else if (request.words == "top") {
    (void)parse_top(args);  // checked here; main runs the view
    request.body = json::parse(command_request(request.command));
  } else if (request.command == "rules") {
    request.body = rules_request(args, request.words);
  } else if (request.command == "talkers") {
    request.body = talkers_request(args, request.words);
  } else if (request.command.starts_with("set-")) {
    request.body = set_request(request.command, request.words, args);
  } else if (request.command == "check") {
    ArgReader reader(request.words, args);
    std::vector<std::string> files;
    while (reader.next()) {
      if (!reader.operand()) reader.reject();
      files.push_back(reader.current());
    }
    if (files.empty()) reader.fail("at least one rule file is required (FILE...)");
    request.body = json::parse(check_request(files));
  } else if (request.command == "capture") {
    request.capture = parse_capture(args);
    request.body = json::parse(capture_request(request.capture));
  } else {
    ArgReader reader(request.words, args);
    if (reader.next()) reader.reject();
    request.body = json::parse(command_request(request.command));
  }
  request.timeout = invocation.timeout ? std::chrono::milliseconds(*invocation.timeout)
                                       : default_timeout(request.command, request.capture);
  return request;
}

std::string render_reply(const Request& request, const nlohmann::json& reply) {
  if (request.words == "block") {
    try {
      return render_block(request.body, reply);
    } catch (const json::exception&) {
      return reply.dump(2) + "\n";  // an unexpected shape: show it as it is
    }
  }
  return render(request.command, reply);
}

std::string explain_error(const Request& request, const std::string& error) {
  std::string text =
      request.rule_file ? locate_rule_error(error, request.rule_file->entries) : error;
  // The daemon's hints name request fields; say what the command line offers instead.
  const auto rewrite = [&](std::string_view field, std::string_view hint) {
    if (const std::size_t at = text.find(field); at != std::string::npos) {
      text.replace(at, field.size(), hint);
    }
  };
  if (request.words == "block") {
    rewrite("send \"replace\": true to replace it",
            "give another --id, or delete it first (udpsievectl rule del ID)");
  } else {
    rewrite("send \"replace\": true", "use --replace");
  }
  rewrite("send \"missing_ok\": true", "use --missing-ok");
  return text;
}

std::string usage_text() {
  return "usage: udpsievectl [--socket PATH] [--timeout SECONDS] COMMAND [ARGUMENTS]\n"
         "                   [--json | --field PATH]\n"
         "\n"
         "commands:\n" +
         protocol::cli_commands_text() + "\n" + kOptions;
}

std::string usage_text(const std::string& words) {
  if (words.empty()) return usage_text();
  std::string out;
  for (const Form& form : all_forms()) {
    // "rule" shows every `rule ...` form; "rule add" just that one.
    const std::string named = join_words(form.words);
    if (named != words && named.rfind(words + " ", 0) != 0) continue;
    out += (out.empty() ? "usage: " : "       ") + std::string("udpsievectl ");
    for (char c : form.form->usage)
      out += c == '\n' ? std::string("\n                   ") : std::string(1, c);
    out += "\n";
  }
  if (out.empty()) return usage_text();
  return out + "(udpsievectl --help lists every command and option)\n";
}

}  // namespace udpsieve::cli
