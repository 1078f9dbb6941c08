// The daemon configuration: YAML into a validated DaemonConfig, plus the rule files it names.
#include <arpa/inet.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <new>
#include <set>
#include <span>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>

#include "udpsieve/common/decimal.hpp"
#include "udpsieve/common/yaml_node.hpp"
#include "udpsieve/config/config.hpp"
#include "udpsieve/config/eal_args.hpp"
#include "udpsieve/rules/rule_loader.hpp"

namespace udpsieve::config {
namespace {

namespace fs = std::filesystem;

/// DPDK pins threads with cpu_set_t, whose size (CPU_SETSIZE) is 1024 on glibc.
constexpr unsigned kMaxCpu = 1023;
constexpr std::size_t kMaxPortNameLength = 32;
constexpr std::size_t kMaxFilePrefixLength = 64;
/// pipeline.talker_max_sample_rate: 0 (no bound), or samples a second within these.
constexpr uint64_t kMinTalkerSampleRate = 1000;
constexpr uint64_t kMaxTalkerSampleRate = 100000000;

/// Letters, digits, '_' and '-': safe in file names, log lines and Prometheus labels.
bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

/// A non-empty string of word characters, at most `max_length` long.
std::string word(const YamlNode& node, std::string_view what, std::size_t max_length) {
  std::string text = node.as_nonempty_string();
  for (char c : text) {
    if (!is_word_char(c)) {
      node.fail(std::string(what) + " \"" + text + "\" contains '" + std::string(1, c) +
                "'; use only letters, digits, _ and -");
    }
  }
  if (text.size() > max_length) {
    node.fail(std::string(what) + " is " + std::to_string(text.size()) +
              " characters long; at most " + std::to_string(max_length) + " are allowed");
  }
  return text;
}

std::string resolve_path(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  return (fs::path(base_dir) / path).lexically_normal().string();
}

std::string absolute_dir(const std::string& dir) {
  if (dir.empty()) return fs::current_path().string();
  return fs::absolute(dir).lexically_normal().string();
}

/// "name1, name2": for "unknown port" messages.
std::string port_list(const std::vector<PortConfig>& ports) {
  std::string out;
  for (const PortConfig& port : ports)
    out += (out.empty() ? "" : ", ") + port.name;
  return out;
}

/// Makes relative `rx_pcap=` / `tx_pcap=` values in a vdev string absolute; the rest is verbatim.
std::string absolutize_pcap_paths(const std::string& device, const std::string& base_dir) {
  std::string out;
  std::size_t start = 0;
  bool first = true;
  while (start <= device.size()) {
    std::size_t end = device.find(',', start);
    if (end == std::string::npos) end = device.size();
    std::string part = device.substr(start, end - start);
    if (!first) {
      for (std::string_view key : {"rx_pcap=", "tx_pcap="}) {
        if (part.starts_with(key)) {
          part = std::string(key) + resolve_path(base_dir, part.substr(key.size()));
        }
      }
      out += ',';
    }
    out += part;
    first = false;
    start = end + 1;
  }
  return out;
}

/// The device's identity for duplicate checks: the PCI address or vdev name before any ','.
std::string device_name(const std::string& device) {
  return device.substr(0, device.find(','));
}

LcoreSpec parse_lcore(const YamlNode& node) {
  const std::string text = node.as_string();
  const std::size_t at = text.find('@');
  const std::string_view whole(text);
  const std::string_view lcore_text = whole.substr(0, at);
  const std::string_view cpu_text = at == std::string::npos ? lcore_text : whole.substr(at + 1);
  const auto number = [&](std::string_view part, unsigned max, const char* what) {
    uint64_t value = 0;
    switch (parse_decimal(part, max, value)) {
      case DecimalResult::ok:
        return static_cast<unsigned>(value);
      case DecimalResult::too_big:
        node.fail(std::string(what) + " " + std::string(part) + " is out of range 0-" +
                  std::to_string(max));
      case DecimalResult::malformed:
        break;
    }
    node.fail("'" + text + "' is not an lcore; write N, or \"L@C\" for lcore L on CPU C");
  };
  LcoreSpec spec;
  spec.lcore = number(lcore_text, kMaxLcore, "lcore");
  spec.cpu = number(cpu_text, kMaxCpu, "CPU");
  return spec;
}

EalConfig parse_eal(const YamlNode& node) {
  node.expect_map({"lcores", "hugepages", "memory_mb", "mbufs", "file_prefix", "extra_args"});
  EalConfig eal;
  const YamlNode lcores = node.require("lcores");
  const std::vector<YamlNode> entries = lcores.one_or_list();
  if (entries.size() < 2) {
    lcores.fail(
        "needs at least two lcores: the first runs the control thread, each further one a "
        "worker");
  }
  std::map<unsigned, SourceLocation> seen;
  for (const YamlNode& entry : entries) {
    const LcoreSpec spec = parse_lcore(entry);
    const auto [it, fresh] = seen.emplace(spec.lcore, entry.location());
    if (!fresh) {
      entry.fail("lcore " + std::to_string(spec.lcore) + " is listed twice (first at " +
                 it->second.to_string() + ")");
    }
    eal.lcores.push_back(spec);
  }
  if (auto mode = node.get("hugepages")) {
    eal.hugepages = mode->as_enum<HugepageMode>({{"auto", HugepageMode::automatic},
                                                 {"required", HugepageMode::required},
                                                 {"off", HugepageMode::off}});
  }
  if (auto memory = node.get("memory_mb")) {
    eal.memory_mb = static_cast<unsigned>(memory->as_uint(64, 65536));
  }
  if (auto mbufs = node.get("mbufs")) {
    eal.mbufs = static_cast<unsigned>(mbufs->as_uint(kMinPoolMbufs, kMaxPoolMbufs));
  }
  if (auto prefix = node.get("file_prefix")) {
    eal.file_prefix = word(*prefix, "file prefix", kMaxFilePrefixLength);
  }
  if (auto args = node.get("extra_args")) {
    for (const YamlNode& arg : args->items())
      eal.extra_args.push_back(arg.as_nonempty_string());
  }
  return eal;
}

unsigned parse_descriptors(const YamlNode& node) {
  const auto count = static_cast<unsigned>(node.as_uint(64, 16384));
  if ((count & (count - 1)) != 0) node.fail(std::to_string(count) + " is not a power of two");
  return count;
}

PortConfig parse_port(const YamlNode& node, const std::string& base_dir) {
  node.expect_map({"name", "device", "forward_to", "rx_descriptors", "tx_descriptors", "mtu", "rss",
                   "rss_symmetric", "offload", "isolate"});
  PortConfig port;
  port.where = node.location();
  port.name = word(node.require("name"), "port name", kMaxPortNameLength);
  port.device = absolutize_pcap_paths(node.require("device").as_nonempty_string(), base_dir);
  port.forward_to = node.require("forward_to").as_nonempty_string();
  if (auto rx = node.get("rx_descriptors")) port.rx_descriptors = parse_descriptors(*rx);
  if (auto tx = node.get("tx_descriptors")) port.tx_descriptors = parse_descriptors(*tx);
  if (auto mtu = node.get("mtu")) port.mtu = static_cast<unsigned>(mtu->as_uint(68, 9600));
  if (auto rss = node.get("rss")) {
    port.rss = rss->as_enum<RssFields>({{"ip", RssFields::ip}, {"ip_udp", RssFields::ip_udp}});
  }
  if (auto symmetric = node.get("rss_symmetric")) port.rss_symmetric = symmetric->as_bool();
  if (auto offload = node.get("offload")) {
    port.offload = offload->as_enum<OffloadMode>({{"auto", OffloadMode::automatic},
                                                  {"off", OffloadMode::off},
                                                  {"required", OffloadMode::required}});
  }
  if (auto isolate = node.get("isolate")) port.isolate = isolate->as_bool();
  return port;
}

std::vector<PortConfig> parse_ports(const YamlNode& node, const std::string& base_dir) {
  const std::vector<YamlNode> entries = node.items();
  if (entries.empty()) node.fail("at least one port is required");
  if (entries.size() > kMaxPorts) {
    node.fail(std::to_string(entries.size()) + " ports given; at most " +
              std::to_string(kMaxPorts) + " are supported");
  }
  std::vector<PortConfig> ports;
  std::map<std::string, SourceLocation> names;
  std::map<std::string, std::pair<std::string, SourceLocation>> devices;
  for (const YamlNode& entry : entries) {
    PortConfig port = parse_port(entry, base_dir);
    const YamlNode name_node = entry.require("name");
    const auto [name_it, fresh_name] = names.emplace(port.name, name_node.location());
    if (!fresh_name) {
      name_node.fail("duplicate port name \"" + port.name + "\" (first defined at " +
                     name_it->second.to_string() + ")");
    }
    const YamlNode device_node = entry.require("device");
    const auto [device_it, fresh_device] =
        devices.emplace(device_name(port.device), std::pair{port.name, device_node.location()});
    if (!fresh_device) {
      device_node.fail("device \"" + device_it->first + "\" is already used by port \"" +
                       device_it->second.first + "\" (at " + device_it->second.second.to_string() +
                       ")");
    }
    ports.push_back(std::move(port));
  }
  for (std::size_t i = 0; i < ports.size(); ++i) {
    const auto target = std::find_if(ports.begin(), ports.end(), [&](const PortConfig& p) {
      return p.name == ports[i].forward_to;
    });
    if (target == ports.end()) {
      entries[i]
          .require("forward_to")
          .fail("unknown port \"" + ports[i].forward_to + "\" (ports are: " + port_list(ports) +
                ")");
    }
    ports[i].forward_to_index = static_cast<std::size_t>(target - ports.begin());
  }
  return ports;
}

rules::Verdict parse_verdict(const YamlNode& node) {
  return node.as_enum<rules::Verdict>(
      {{"forward", rules::Verdict::forward}, {"drop", rules::Verdict::drop}});
}

PipelineConfig parse_pipeline(const YamlNode& node, const std::string& base_dir) {
  node.expect_map({"default_action", "non_udp", "rules", "dynamic_max_rules", "dynamic_state",
                   "per_source_entries", "talker_sampling", "talker_max_sample_rate"});
  PipelineConfig pipeline;
  if (auto action = node.get("default_action")) pipeline.default_action = parse_verdict(*action);
  if (auto non_udp = node.get("non_udp")) pipeline.non_udp = parse_verdict(*non_udp);
  if (auto list = node.get("rules")) {
    std::string dynamic_at;  // key path of the `dynamic` entry, once seen
    for (const YamlNode& entry : list->one_or_list()) {
      const std::string text = entry.as_nonempty_string();
      if (text == "dynamic") {
        // A file really called "dynamic" is still reachable as ./dynamic.
        if (!dynamic_at.empty()) {
          entry.fail("dynamic is listed twice (first at " + dynamic_at +
                     "); runtime rules have one place in first-match order");
        }
        dynamic_at = entry.path();
        pipeline.rules.push_back(RuleSource{"", entry.location(), entry.path(), true});
        continue;
      }
      pipeline.rules.push_back(
          RuleSource{resolve_path(base_dir, text), entry.location(), entry.path(), false});
    }
  }
  if (auto max = node.get("dynamic_max_rules")) {
    pipeline.dynamic_max_rules = static_cast<std::size_t>(max->as_uint(1, 1'000'000));
  }
  if (auto state = node.get("dynamic_state")) {
    pipeline.dynamic_state = resolve_path(base_dir, state->as_nonempty_string());
  }
  if (auto entries = node.get("per_source_entries")) {
    pipeline.per_source_entries = static_cast<std::size_t>(entries->as_uint(64, 1U << 28));
  }
  if (auto sampling = node.get("talker_sampling")) {
    pipeline.talker_sampling = static_cast<uint32_t>(sampling->as_uint(0, 1U << 20));
  }
  if (auto rate = node.get("talker_max_sample_rate")) {
    const uint64_t value = rate->as_uint(0, kMaxTalkerSampleRate);
    if (value != 0 && value < kMinTalkerSampleRate) {
      rate->fail(std::to_string(value) + " is too low: 0 (no bound) or " +
                 std::to_string(kMinTalkerSampleRate) + " to " +
                 std::to_string(kMaxTalkerSampleRate) + " samples a second");
    }
    pipeline.talker_max_sample_rate = static_cast<uint32_t>(value);
  }
  return pipeline;
}

/// `control.socket_mode`: permission bits in octal, "0660" or "660".
unsigned parse_socket_mode(const YamlNode& node) {
  const std::string text = node.as_string();
  const std::string_view digits =
      text.size() == 4 && text.front() == '0' ? std::string_view(text).substr(1) : text;
  const bool octal = digits.size() == 3 && std::all_of(digits.begin(), digits.end(),
                                                       [](char c) { return c >= '0' && c <= '7'; });
  if (!octal) {
    node.fail("'" + text + "' is not a file mode; write three octal digits, e.g. \"0660\"");
  }
  unsigned mode = 0;
  for (char c : digits)
    mode = mode * 8 + static_cast<unsigned>(c - '0');
  return mode;
}

/// `control.socket_group`: a group name this system knows; returns its gid.
uint32_t lookup_group(const YamlNode& node, const std::string& name) {
  std::vector<char> buffer(16384);
  group entry{};
  group* found = nullptr;
  int rc = 0;
  while ((rc = getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found)) == ERANGE &&
         buffer.size() < (std::size_t{1} << 20)) {
    buffer.resize(buffer.size() * 4);
  }
  if (found == nullptr) {
    node.fail("no group named '" + name + "' on this system" +
              (rc != 0 ? std::string(" (") + std::strerror(rc) + ")" : std::string()) +
              "; create it (groupadd " + name + ") or name another");
  }
  return static_cast<uint32_t>(found->gr_gid);
}

ControlConfig parse_control(const YamlNode& node, const std::string& base_dir) {
  node.expect_map({"socket", "stats_interval_ms", "socket_mode", "socket_group", "metrics_listen",
                   "admin_group"});
  ControlConfig control;
  if (auto socket = node.get("socket")) {
    control.socket = resolve_path(base_dir, socket->as_nonempty_string());
  }
  if (auto interval = node.get("stats_interval_ms")) {
    control.stats_interval_ms = static_cast<unsigned>(interval->as_uint(10, 60000));
  }
  if (auto mode = node.get("socket_mode")) control.socket_mode = parse_socket_mode(*mode);
  if (auto group = node.get("socket_group")) {
    control.socket_group = group->as_nonempty_string();
    control.socket_gid = lookup_group(*group, control.socket_group);
  }
  if (auto group = node.get("admin_group")) {
    control.admin_group = group->as_nonempty_string();
    control.admin_gid = lookup_group(*group, control.admin_group);
  }
  if (auto listen = node.get("metrics_listen")) {
    try {
      control.metrics_listen = parse_loopback_address(listen->as_nonempty_string());
    } catch (const std::invalid_argument& e) {
      listen->fail(e.what());
    }
  }
  return control;
}

LoggingConfig parse_logging(const YamlNode& node) {
  node.expect_map({"level"});
  LoggingConfig logging;
  if (auto level = node.get("level")) {
    logging.level = std::string(level->as_enum<std::string_view>({{"trace", "trace"},
                                                                  {"debug", "debug"},
                                                                  {"info", "info"},
                                                                  {"warn", "warn"},
                                                                  {"error", "error"},
                                                                  {"critical", "critical"},
                                                                  {"off", "off"}}));
  }
  return logging;
}

/// Set names appear in rules and metrics labels: a short, safe alphabet.
constexpr std::size_t kMaxSetNameLength = 32;

/// `sets: {NAME: {file: PATH}, ...}`.
std::vector<SetConfig> parse_sets(const YamlNode& node, const std::string& base_dir) {
  std::vector<SetConfig> sets;
  for (const auto& [name, value] : node.members()) {
    const bool valid = !name.empty() && name.size() <= kMaxSetNameLength &&
                       std::all_of(name.begin(), name.end(), [](char c) {
                         return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
                       });
    if (!valid) {
      value.fail("a set name is 1-" + std::to_string(kMaxSetNameLength) +
                 " letters, digits, '_', '-' or '.'");
    }
    if (sets.size() == rules::kMaxSets) {
      value.fail("at most " + std::to_string(rules::kMaxSets) +
                 " sets may be declared (a set lookup returns one bit per set)");
    }
    value.expect_map({"file"});
    const YamlNode file = value.require("file");
    sets.push_back(SetConfig{name, resolve_path(base_dir, file.as_nonempty_string()),
                             file.location(), value.path()});
  }
  return sets;
}

void parse_root(const YamlNode& root, DaemonConfig& config) {
  if (root.is_null()) root.fail("the configuration is empty; eal and ports are required");
  root.expect_map({"eal", "ports", "sets", "pipeline", "control", "logging"});
  config.eal = parse_eal(root.require("eal"));
  config.ports = parse_ports(root.require("ports"), config.base_dir);
  if (auto sets = root.get("sets")) config.sets = parse_sets(*sets, config.base_dir);
  if (auto pipeline = root.get("pipeline")) {
    config.pipeline = parse_pipeline(*pipeline, config.base_dir);
  }
  if (auto control = root.get("control")) config.control = parse_control(*control, config.base_dir);
  if (auto logging = root.get("logging")) config.logging = parse_logging(*logging);
}

bool is_glob(const std::string& pattern) {
  return pattern.find_first_of("*?[") != std::string::npos;
}

/// Paths matching `pattern`, byte-wise sorted so the order does not depend on the locale.
std::vector<std::string> expand_glob(const RuleSource& source) {
  glob_t found{};
  const int rc = glob(source.pattern.c_str(), GLOB_NOSORT, nullptr, &found);
  std::vector<std::string> paths;
  if (rc == 0) {
    paths.reserve(found.gl_pathc);
    for (std::size_t i = 0; i < found.gl_pathc; ++i)
      paths.emplace_back(found.gl_pathv[i]);
  }
  globfree(&found);
  if (rc == GLOB_NOSPACE) throw std::bad_alloc();
  if (rc != 0 && rc != GLOB_NOMATCH) {
    throw ConfigError(source.where, source.key_path,
                      "cannot read directories for " + source.pattern);
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

}  // namespace

std::string ListenAddress::to_string() const {
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

ListenAddress parse_loopback_address(std::string_view text) {
  const std::string quoted = "'" + std::string(text) + "'";
  const std::string shape =
      quoted + " is not ADDRESS:PORT; write e.g. \"127.0.0.1:9917\" or \"[::1]:9917\"";
  ListenAddress out;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      throw std::invalid_argument(shape);
    }
    out.host = std::string(text.substr(1, close - 1));
    out.ipv6 = true;
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) throw std::invalid_argument(shape);
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) {
      throw std::invalid_argument(quoted +
                                  ": an IPv6 address goes in brackets, e.g. \"[::1]:9917\"");
    }
    port = text.substr(colon + 1);
  }
  uint32_t number = 0;
  const bool digits =
      !port.empty() && port.size() <= 5 &&
      std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
  for (char c : digits ? port : std::string_view())
    number = number * 10 + static_cast<uint32_t>(c - '0');
  if (!digits || number == 0 || number > 65535) {
    throw std::invalid_argument("port '" + std::string(port) + "' is not a number in 1-65535");
  }
  out.port = static_cast<uint16_t>(number);
  const char* const why =
      " is not a loopback address; only 127.0.0.0/8 and ::1 are accepted (the endpoint has no "
      "authentication: publish it further through a reverse proxy)";
  if (out.ipv6) {
    in6_addr address{};
    if (inet_pton(AF_INET6, out.host.c_str(), &address) != 1) {
      throw std::invalid_argument("'" + out.host + "' is not an IPv6 address");
    }
    if (std::memcmp(&address, &in6addr_loopback, sizeof address) != 0) {
      throw std::invalid_argument(out.host + why);
    }
  } else {
    in_addr address{};
    if (inet_pton(AF_INET, out.host.c_str(), &address) != 1) {
      throw std::invalid_argument("'" + out.host +
                                  "' is not an IPv4 address; write the address, e.g. 127.0.0.1");
    }
    if ((ntohl(address.s_addr) >> 24) != 127) throw std::invalid_argument(out.host + why);
  }
  return out;
}

std::string LcoreSpec::to_string() const {
  if (lcore == cpu) return std::to_string(lcore);
  return std::to_string(lcore) + "@" + std::to_string(cpu);
}

std::vector<std::string> DaemonConfig::port_names() const {
  std::vector<std::string> names;
  names.reserve(ports.size());
  for (const PortConfig& port : ports)
    names.push_back(port.name);
  return names;
}

DaemonConfig load_daemon_config(const std::string& path) {
  const YamlNode root = YamlNode::load_file(path);
  DaemonConfig config;
  config.path = path;
  config.base_dir = fs::absolute(path).parent_path().lexically_normal().string();
  parse_root(root, config);
  return config;
}

DaemonConfig parse_daemon_config(const std::string& text, const std::string& display_name,
                                 const std::string& base_dir) {
  const YamlNode root = YamlNode::load_string(text, display_name);
  DaemonConfig config;
  config.path = display_name;
  config.base_dir = absolute_dir(base_dir);
  parse_root(root, config);
  return config;
}

RuleFiles resolve_rule_files(const DaemonConfig& config) {
  RuleFiles out;
  std::set<std::string> seen;  // canonical paths, so a file reached twice loads once
  const auto add = [&](const std::string& file) {
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(file, ec);
    if (seen.insert(ec ? file : canonical.string()).second) out.files.push_back(file);
  };
  bool dynamic_seen = false;
  for (const RuleSource& source : config.pipeline.rules) {
    if (!dynamic_seen) out.files_before_dynamic = out.files.size();
    if (source.dynamic) {
      dynamic_seen = true;
      continue;
    }
    if (is_glob(source.pattern)) {
      std::size_t files = 0;
      for (const std::string& path : expand_glob(source)) {
        std::error_code ec;
        if (!fs::is_regular_file(path, ec)) continue;  // e.g. a subdirectory of rules.d
        add(path);
        ++files;
      }
      if (files == 0) {
        out.warnings.push_back(
            format_config_error(source.where, source.key_path, "no files match " + source.pattern));
      }
      continue;
    }
    std::error_code ec;
    const fs::file_status status = fs::status(source.pattern, ec);
    if (!fs::exists(status)) {
      throw ConfigError(source.where, source.key_path, "no such file: " + source.pattern);
    }
    if (!fs::is_regular_file(status)) {
      throw ConfigError(source.where, source.key_path, "not a regular file: " + source.pattern);
    }
    add(source.pattern);
  }
  if (!dynamic_seen) out.files_before_dynamic = 0;  // runtime rules come before every file rule
  return out;
}

std::vector<std::string> assign_set_slots(const std::vector<SetConfig>& sets,
                                          const std::vector<std::string>& previous) {
  std::vector<std::string> slots(rules::kMaxSets);
  std::vector<const SetConfig*> newcomers;
  for (const SetConfig& set : sets) {
    const auto it = std::find(previous.begin(), previous.end(), set.name);
    if (it != previous.end() && static_cast<std::size_t>(it - previous.begin()) < slots.size()) {
      slots[static_cast<std::size_t>(it - previous.begin())] = set.name;
    } else {
      newcomers.push_back(&set);
    }
  }
  std::size_t free = 0;
  for (const SetConfig* set : newcomers) {
    while (!slots[free].empty())
      ++free;
    slots[free] = set->name;
  }
  while (!slots.empty() && slots.back().empty())
    slots.pop_back();
  return slots;
}

namespace {

/// Whether the file at `path` holds exactly `bytes`: read a piece at a time and compared, so an
/// unchanged rule file costs no copy of its own (the fresh pages of a copy of a few MB took
/// most of a reload's load when nothing changed). A regular file of another size is not read.
/// False on any error: the caller reads the file itself and reports it.
bool file_holds(const std::string& path, std::string_view bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat status {};
  if (fstat(fd, &status) == 0 && S_ISREG(status.st_mode) &&
      static_cast<std::size_t>(status.st_size) != bytes.size()) {
    close(fd);
    return false;
  }
  constexpr std::size_t kPiece = 64 * 1024;
  auto piece = std::make_unique_for_overwrite<char[]>(kPiece);
  std::size_t offset = 0;
  bool same = true;
  for (;;) {
    const ssize_t n = read(fd, piece.get(), kPiece);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      same = n == 0 && offset == bytes.size();
      break;
    }
    const auto got = static_cast<std::size_t>(n);
    if (got > bytes.size() - offset || std::memcmp(piece.get(), bytes.data() + offset, got) != 0) {
      same = false;
      break;
    }
    offset += got;
  }
  close(fd);
  return same;
}

int64_t nanoseconds(const timespec& time) {
  return static_cast<int64_t>(time.tv_sec) * 1'000'000'000 + time.tv_nsec;
}

}  // namespace

FileStamp FileStamp::of(const std::string& path) {
  FileStamp stamp;
  timespec now{};
  (void)clock_gettime(CLOCK_REALTIME, &now);
  stamp.read_at_ns = nanoseconds(now);
  struct stat status {};
  if (stat(path.c_str(), &status) != 0 || !S_ISREG(status.st_mode)) return stamp;
  stamp.valid = true;
  stamp.device = status.st_dev;
  stamp.inode = status.st_ino;
  stamp.size = status.st_size;
  stamp.modified_ns = nanoseconds(status.st_mtim);
  stamp.changed_ns = nanoseconds(status.st_ctim);
  return stamp;
}

bool FileStamp::vouches_for(const FileStamp& earlier) const noexcept {
  return valid && earlier.valid && device == earlier.device && inode == earlier.inode &&
         size == earlier.size && modified_ns == earlier.modified_ns &&
         changed_ns == earlier.changed_ns &&
         std::max(earlier.modified_ns, earlier.changed_ns) <= earlier.read_at_ns - kSettleNs;
}

namespace {

/// The rule files into `loaded` (rules, steering, dynamic_at, parsed_files), each from `memo`
/// where it holds the file's bytes (its rules only where the ports and set slots, which
/// parsing resolves, are the same too). A memo's file whose stamp the file's stat() now
/// vouches for is not read; another is compared with the memo's bytes, and read when they
/// differ. Each file's stamp is taken before it is read or compared, so a change during the
/// read moves the file's times past the stamp and the next load reads it again.
void collect_rules(LoadedConfig& loaded, const RuleFiles& files, const RuleFileMemo* memo) {
  rules::RuleCollector collector(loaded.config.port_names(), loaded.set_slots);
  const bool rules_reusable = memo != nullptr && memo->rules != nullptr &&
                              memo->port_names == loaded.config.port_names() &&
                              memo->set_slots == loaded.set_slots;
  loaded.parsed_files.clear();
  loaded.files_reused = 0;
  loaded.files_unread = 0;
  for (std::size_t i = 0; i < files.files.size(); ++i) {
    if (i == files.files_before_dynamic) loaded.dynamic_at = collector.rules().size();
    ParsedRuleFile file{files.files[i],
                        nullptr,
                        FileStamp::of(files.files[i]),
                        nullptr,
                        collector.steering().size(),
                        0};
    const ParsedRuleFile* same = nullptr;
    if (memo != nullptr) {
      for (const ParsedRuleFile& known : memo->files) {
        if (known.path != file.path) continue;
        if (file.stamp.vouches_for(known.stamp)) {
          file.stamp = known.stamp;  // when the bytes were read
          ++loaded.files_unread;
        } else if (!file_holds(file.path, *known.text)) {
          continue;
        }
        same = &known;
        file.text = known.text;
        break;
      }
    }
    if (same == nullptr) {
      file.text = std::make_shared<const std::string>(YamlNode::read_file(file.path));
    }
    bool reused = false;
    if (same != nullptr && rules_reusable) {
      reused = collector.add_parsed(
          same->rules, std::span(memo->steering).subspan(same->first_steering, same->steering),
          memo->rules);
    }
    if (reused) {
      ++loaded.files_reused;
      file.rules = same->rules;
    } else {
      file.rules = collector.add_document(YamlNode::load_string(*file.text, file.path));
    }
    file.steering = collector.steering().size() - file.first_steering;
    loaded.parsed_files.push_back(std::move(file));
  }
  if (files.files_before_dynamic == files.files.size())
    loaded.dynamic_at = collector.rules().size();
  loaded.rules = collector.take();
  loaded.steering = collector.take_steering();
}

/// Whether the sets of `loaded` are the ones `running` were read for: the same names and
/// files, in the same slots.
bool same_sets(const LoadedConfig& loaded, const std::vector<std::string>& previous_slots,
               const std::vector<SetFileRead>& running) {
  if (loaded.set_slots != previous_slots || running.size() != loaded.config.sets.size()) {
    return false;
  }
  for (std::size_t i = 0; i < running.size(); ++i) {
    const SetConfig& set = loaded.config.sets[i];
    if (running[i].name != set.name || running[i].path != set.file) return false;
  }
  return true;
}

/// Reads `set`'s file; `stamp` is its stamp from just before the read.
SetFileRead read_set_file(const SetConfig& set, const FileStamp& stamp) {
  std::error_code ec;
  if (!fs::is_regular_file(set.file, ec)) {
    throw ConfigError(
        set.where, set.key_path + ".file",
        (fs::exists(set.file, ec) ? "not a regular file: " : "no such file: ") + set.file);
  }
  SetFileRead read{set.name, set.file, stamp, nullptr};
  std::vector<rules::Prefix> prefixes = rules::load_set_file(set.file, set.key_path);
  rules::sort_set_prefixes(prefixes);
  read.prefixes = std::make_shared<const std::vector<rules::Prefix>>(std::move(prefixes));
  return read;
}

unsigned slot_of(const LoadedConfig& loaded, const std::string& set) {
  return static_cast<unsigned>(std::find(loaded.set_slots.begin(), loaded.set_slots.end(), set) -
                               loaded.set_slots.begin());
}

/// The sets of `loaded`, kept running with their files' changes or built afresh (see
/// load_config_and_rules).
void load_sets(LoadedConfig& loaded, const std::vector<std::string>& previous_slots,
               const std::vector<SetFileRead>* running) {
  const auto start = std::chrono::steady_clock::now();
  const bool same = running != nullptr && same_sets(loaded, previous_slots, *running);
  std::size_t changed = 0;
  for (std::size_t i = 0; i < loaded.config.sets.size(); ++i) {
    const SetConfig& set = loaded.config.sets[i];
    const SetFileRead* before = same ? &(*running)[i] : nullptr;
    const FileStamp stamp = FileStamp::of(set.file);
    if (before != nullptr && before->prefixes != nullptr && stamp.vouches_for(before->stamp)) {
      loaded.set_files.push_back(*before);
      continue;
    }
    loaded.set_files.push_back(read_set_file(set, stamp));
    if (before == nullptr || before->prefixes == nullptr) {
      changed = kMaxSetFileChange + 1;  // nothing to compare with: built afresh
      continue;
    }
    if (changed > kMaxSetFileChange) continue;  // built afresh: no more comparing needed
    // (A comparison stops once the changes pass the limit: a file replaced by another.)
    rules::SetFileChange change =
        rules::set_file_change(*before->prefixes, *loaded.set_files.back().prefixes,
                               slot_of(loaded, set.name), kMaxSetFileChange - changed);
    changed += change.size();
    if (change.size() != 0) loaded.set_changes.push_back(std::move(change));
  }
  if (same && changed <= kMaxSetFileChange) {
    loaded.sets_kept = true;
    loaded.sets_base = *running;
  } else {
    loaded.set_changes.clear();
    auto model = std::make_shared<rules::SetModel>();
    for (const SetFileRead& read : loaded.set_files)
      model->add_all(*read.prefixes, slot_of(loaded, read.name));
    loaded.sets = std::move(model);
  }
  loaded.sets_load_time = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
}

}  // namespace

std::shared_ptr<RuleFileMemo> memo_of(LoadedConfig& loaded,
                                      std::shared_ptr<const rules::RuleSet> rules) {
  auto memo = std::make_shared<RuleFileMemo>();
  memo->port_names = loaded.config.port_names();
  memo->set_slots = loaded.set_slots;
  memo->rules = std::move(rules);
  memo->steering = loaded.steering;
  memo->files = std::move(loaded.parsed_files);
  return memo;
}

LoadedConfig load_config_and_rules(const std::string& path,
                                   const std::vector<std::string>& previous_slots,
                                   const RuleFileMemo* memo,
                                   const std::vector<SetFileRead>* running_sets) {
  LoadedConfig loaded;
  loaded.config = load_daemon_config(path);
  RuleFiles files = resolve_rule_files(loaded.config);
  loaded.set_slots = assign_set_slots(loaded.config.sets, previous_slots);
  if (!loaded.config.sets.empty()) load_sets(loaded, previous_slots, running_sets);
  try {
    collect_rules(loaded, files, memo);
  } catch (const rules::RuleCollector::ParsedIdConflict&) {
    // A file gave an id a memo's file gave too: read them all afresh, for the error's positions.
    collect_rules(loaded, files, nullptr);
  }
  // A steering rule names a worker by lcore; its queue on every port is the worker's index.
  const auto& lcores = loaded.config.eal.lcores;
  std::string workers;
  for (std::size_t w = 1; w < lcores.size(); ++w)
    workers += (workers.empty() ? "" : ", ") + std::to_string(lcores[w].lcore);
  for (const rules::SteeringRule& rule : loaded.steering) {
    const auto it = std::find_if(lcores.begin() + 1, lcores.end(),
                                 [&](const LcoreSpec& l) { return l.lcore == rule.worker; });
    if (it == lcores.end()) {
      throw ConfigError(rule.worker_where, rule.worker_path,
                        "lcore " + std::to_string(rule.worker) +
                            " runs no worker (workers run on lcores " + workers +
                            ", eal.lcores after the first)");
    }
    loaded.steering_queues.push_back(static_cast<uint16_t>(it - lcores.begin() - 1));
  }
  loaded.rule_files = std::move(files.files);
  loaded.warnings = std::move(files.warnings);
  return loaded;
}

}  // namespace udpsieve::config
