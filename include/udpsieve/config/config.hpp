#pragma once
/// The daemon configuration model and its loader.
///
/// Key names are a contract with operators and tests; docs/configuration.md lists every key.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "udpsieve/common/config_error.hpp"
#include "udpsieve/rules/prefix_set.hpp"
#include "udpsieve/rules/rule.hpp"
#include "udpsieve/rules/rule_set.hpp"

namespace udpsieve::config {

/// Most ports one daemon drives (DPDK's RTE_MAX_ETHPORTS in Debian's build is 32).
inline constexpr std::size_t kMaxPorts = 32;
/// Highest lcore id DPDK accepts (RTE_MAX_LCORE in Debian's build is 128).
inline constexpr unsigned kMaxLcore = 127;

enum class HugepageMode : uint8_t { automatic, required, off };

/// One `eal.lcores` entry: `3` (lcore 3 on CPU 3) or `"3@1"` (lcore 3 on CPU 1).
struct LcoreSpec {
  unsigned lcore = 0;
  unsigned cpu = 0;
  [[nodiscard]] std::string to_string() const;  ///< "3" or "3@1"
};

struct EalConfig {
  std::vector<LcoreSpec> lcores;  ///< first = main/control lcore, the rest = workers
  HugepageMode hugepages = HugepageMode::automatic;
  unsigned memory_mb = 512;  ///< memory when running without hugepages
  /// Mbufs in each NUMA socket's pool (eal.mbufs); 0: computed (config::pool_mbufs).
  unsigned mbufs = 0;
  std::string file_prefix = "udpsieve";
  std::vector<std::string> extra_args;  ///< passed to rte_eal_init verbatim (eal.extra_args)
};

/// Which header fields RSS hashes to spread a port's packets over the workers' queues.
enum class RssFields : uint8_t {
  ip,      ///< source and destination addresses: all of a host pair's traffic on one worker
  ip_udp,  ///< addresses and UDP ports: one flow on one worker, a host's flows spread
};

/// Whether eligible drop rules (and steering rules) go into the NIC (ports[].offload).
enum class OffloadMode : uint8_t {
  automatic,  ///< where the NIC takes them; software covers what it refuses
  off,        ///< never: software does everything
  required,   ///< start and reload are refused when the NIC refuses an eligible rule
};

struct PortConfig {
  std::string name;
  std::string device;  ///< PCI address or vdev string, relative pcap paths made absolute
  std::string forward_to;
  std::size_t forward_to_index = 0;  ///< index of forward_to in DaemonConfig::ports
  unsigned rx_descriptors = 1024;
  unsigned tx_descriptors = 1024;
  /// IP MTU to configure (ports[].mtu, 68-9600); 0 leaves the driver's default (usually 1500).
  unsigned mtu = 0;
  RssFields rss = RssFields::ip_udp;  ///< ports[].rss, with several workers
  /// ports[].rss_symmetric: a symmetric hash key, so both directions of a flow (addresses and
  /// ports swapped) land on the same worker.
  bool rss_symmetric = false;
  OffloadMode offload = OffloadMode::automatic;  ///< ports[].offload
  /// ports[].isolate: rte_flow isolated mode; only what steering (and offloaded) rules match
  /// reaches udpsieve, the kernel keeps the rest (bifurcated drivers).
  bool isolate = false;
  SourceLocation where;  ///< position of the port's list entry
};

/// One `pipeline.rules` entry: a file or a glob, already resolved against the config's
/// directory, or the word `dynamic`: where runtime rules take part in first-match order.
struct RuleSource {
  std::string pattern;  ///< empty for `dynamic`
  SourceLocation where;
  std::string key_path;  ///< "pipeline.rules[2]"
  bool dynamic = false;
};

/// Where runtime rules are persisted when `pipeline.dynamic_state` is not given.
inline constexpr std::string_view kDefaultDynamicState = "/var/lib/udpsieve/dynamic.json";

struct PipelineConfig {
  rules::Verdict default_action = rules::Verdict::forward;
  rules::Verdict non_udp = rules::Verdict::forward;
  std::vector<RuleSource> rules;
  /// Most runtime rules held at once (pipeline.dynamic_max_rules).
  std::size_t dynamic_max_rules = 100'000;
  /// The file runtime rules of source `api` are kept in (pipeline.dynamic_state).
  std::string dynamic_state = std::string(kDefaultDynamicState);
  /// Sources each worker keeps a bucket for, for per-source rate limits
  /// (pipeline.per_source_entries, 64 to 2^28).
  std::size_t per_source_entries = 1'048'576;
  /// One packet in this many is counted in the top-talker summaries (pipeline.talker_sampling,
  /// 0 to 2^20; 0: no summaries).
  uint32_t talker_sampling = 16;
  /// Samples a second each worker counts at most (pipeline.talker_max_sample_rate, 0 or 1,000
  /// to 10^8; 0: no bound): above talker_sampling times this many packets a second a worker
  /// samples fewer, so a flood costs it a bounded amount of work.
  uint32_t talker_max_sample_rate = 100'000;
};

/// A loopback TCP address and port (control.metrics_listen): "127.0.0.1:9917" or "[::1]:9917".
struct ListenAddress {
  std::string host;  ///< the address literal, without brackets
  uint16_t port = 0;
  bool ipv6 = false;
  [[nodiscard]] std::string to_string() const;  ///< "127.0.0.1:9917" or "[::1]:9917"
  friend bool operator==(const ListenAddress&, const ListenAddress&) = default;
};
/// Parses a loopback listen address. Only 127.0.0.0/8 and ::1 are accepted: the metrics
/// endpoint has no authentication, so reaching it from the network goes through a reverse
/// proxy. Throws std::invalid_argument saying what is wrong.
[[nodiscard]] ListenAddress parse_loopback_address(std::string_view text);

struct ControlConfig {
  std::string socket = "/run/udpsieve/control.sock";
  unsigned stats_interval_ms = 100;
  unsigned socket_mode = 0660;        ///< permission bits of the socket file (control.socket_mode)
  std::string socket_group = "root";  ///< its group, which admits operators (control.socket_group)
  uint32_t socket_gid = 0;            ///< socket_group's gid, looked up when the config is loaded
  /// Where the HTTP metrics endpoint listens (control.metrics_listen); absent = off.
  std::optional<ListenAddress> metrics_listen;
  /// Members of this group may change things (control.admin_group); empty = root and the
  /// daemon's own user only.
  std::string admin_group;
  uint32_t admin_gid = 0;  ///< admin_group's gid, looked up when the config is loaded
};

struct LoggingConfig {
  std::string level = "info";  ///< trace | debug | info | warn | error | critical | off
};

/// A prefix set (`sets: {NAME: {file: PATH}}`).
struct SetConfig {
  std::string name;
  std::string file;      ///< absolute, or relative to the config's directory when written so
  SourceLocation where;  ///< of the `file` value
  std::string key_path;  ///< "sets.NAME"
  friend bool operator==(const SetConfig& a, const SetConfig& b) {
    return a.name == b.name && a.file == b.file;
  }
};

struct DaemonConfig {
  std::string path;      ///< the config file as given
  std::string base_dir;  ///< its directory: relative paths resolve against it
  EalConfig eal;
  std::vector<PortConfig> ports;
  /// Prefix sets in config order (at most rules::kMaxSets).
  std::vector<SetConfig> sets;
  PipelineConfig pipeline;
  ControlConfig control;
  LoggingConfig logging;

  /// Port names in config order (rule actions resolve against them).
  [[nodiscard]] std::vector<std::string> port_names() const;
};

/// Reads and validates the daemon configuration (not the rule files). Throws ConfigError.
[[nodiscard]] DaemonConfig load_daemon_config(const std::string& path);
/// Same, from text; `display_name` stands in for the path, `base_dir` resolves relative paths.
[[nodiscard]] DaemonConfig parse_daemon_config(const std::string& text,
                                               const std::string& display_name,
                                               const std::string& base_dir);

/// The rule files named by `pipeline.rules`, with globs expanded (sorted within each glob).
struct RuleFiles {
  std::vector<std::string> files;
  std::vector<std::string> warnings;  ///< e.g. a glob that matched nothing
  /// How many of `files` come before the `dynamic` entry; 0 when it is absent (runtime rules
  /// then come before every file rule).
  std::size_t files_before_dynamic = 0;
};
/// Expands `pipeline.rules`. A plain path that does not exist throws ConfigError at its entry.
[[nodiscard]] RuleFiles resolve_rule_files(const DaemonConfig& config);

/// What stat() said of a file just before a load read it, and when that was (CLOCK_REALTIME,
/// ns). A later stat() that says the same of a file whose last change lay well before that read
/// (vouches_for()) means the same bytes, as make and git's index trust: the next load neither
/// reads nor compares it.
struct FileStamp {
  /// File times come from a coarse clock (a scheduler tick; 2 s on FAT): a file changed less
  /// than this before it was read might change again without its times moving.
  static constexpr int64_t kSettleNs = 2'000'000'000;
  bool valid = false;  ///< false when stat() failed
  uint64_t device = 0;
  uint64_t inode = 0;
  int64_t size = 0;
  int64_t modified_ns = 0;  ///< st_mtim
  int64_t changed_ns = 0;   ///< st_ctim: moves with every write and can not be set back
  int64_t read_at_ns = 0;   ///< when the stat() was taken, before the read

  /// stat() of `path` now (read_at_ns: the clock just before it).
  [[nodiscard]] static FileStamp of(const std::string& path);
  /// Whether this stamp (taken now) says the file holds what it held when `earlier` was taken:
  /// the same file, size and times, last changed at least kSettleNs before that read.
  [[nodiscard]] bool vouches_for(const FileStamp& earlier) const noexcept;
  friend bool operator==(const FileStamp&, const FileStamp&) = default;
};

/// A prefix set's file as a load read it (or, when the load kept the sets, as the load whose
/// sets it kept read it).
struct SetFileRead {
  std::string name;
  std::string path;
  FileStamp stamp;  ///< from just before the read
  /// What the read found, as sort_set_prefixes leaves it (the next reload compares the file
  /// with it when the file changed).
  std::shared_ptr<const std::vector<rules::Prefix>> prefixes;
  /// The same file, read at the same moment (and so holding the same prefixes).
  friend bool operator==(const SetFileRead& a, const SetFileRead& b) {
    return a.name == b.name && a.path == b.path && a.stamp == b.stamp;
  }
};

/// Most prefixes (taken out and added, all set files together) a reload applies to the running
/// sets as their files' change; a larger change builds the sets afresh.
inline constexpr std::size_t kMaxSetFileChange = 100'000;

/// One rule file as a load read it: its bytes (shared with the memo it was found unchanged
/// in), its rules (shared with the load's list), where its steering entries stand in the
/// load's list, and its stamp from before it was read.
struct ParsedRuleFile {
  std::string path;
  std::shared_ptr<const std::string> text;
  FileStamp stamp;
  rules::RuleList::Block rules;  ///< null when the file has none
  std::size_t first_steering = 0;
  std::size_t steering = 0;
};

/// What the last load that was compiled (a reload's, or the start's) parsed, for the next one:
/// a rule file whose bytes are the same (and the ports and set slots too, which parsing
/// resolves) is not parsed again; the new list shares its rules with the running set. Holds
/// the files' bytes. Owned by the reload side of the daemon.
struct RuleFileMemo {
  std::vector<std::string> port_names;
  std::vector<std::string> set_slots;
  /// The rule set built from the load (its id index stands in for the reused files' ids).
  std::shared_ptr<const rules::RuleSet> rules;
  std::vector<rules::SteeringRule> steering;  ///< the steering entries of `files`
  std::vector<ParsedRuleFile> files;
};

/// A configuration with its rules: what the daemon starts from and what --check validates.
struct LoadedConfig {
  DaemonConfig config;
  rules::RuleList rules;
  std::vector<std::string> rule_files;
  std::vector<std::string> warnings;
  /// How many file rules come before the runtime rules in first-match order: the rules of the
  /// files listed before `dynamic` in pipeline.rules, or 0 when `dynamic` is not listed.
  std::size_t dynamic_at = 0;
  /// The rule files' `steering:` entries, and for each the index of its worker (its RX queue
  /// on every port).
  std::vector<rules::SteeringRule> steering;
  std::vector<uint16_t> steering_queues;
  /// The set in each slot (bit) of a set lookup, "" for a free slot: config.sets placed so that
  /// a set keeps its slot across reloads (see assign_set_slots).
  std::vector<std::string> set_slots;
  /// The sets' prefixes from their files (null without sets, and when sets_kept).
  std::shared_ptr<rules::SetModel> sets;
  /// How long reading the set files into `sets` took.
  std::chrono::microseconds sets_load_time{0};
  /// Each set's file, in config.sets order.
  std::vector<SetFileRead> set_files;
  /// The running sets go on (see load_config_and_rules' `running_sets`): `sets` is null until
  /// the control loop puts their model in, after applying `set_changes` to it.
  bool sets_kept = false;
  /// With sets_kept: the reads the running sets must still stand for (`*running_sets`), and
  /// the change of each set file that was read again because its stamp no longer vouched for
  /// its read (none when every file's stamp vouched; a file read again but unchanged gives
  /// none either). At most kMaxSetFileChange prefixes in all. (The control loop clears
  /// sets_base once it has checked it.)
  std::vector<SetFileRead> sets_base;
  std::vector<rules::SetFileChange> set_changes;
  /// Each rule file as read (for the next load's RuleFileMemo), and how many of them a memo
  /// spared parsing.
  std::vector<ParsedRuleFile> parsed_files;
  std::size_t files_reused = 0;
  /// Of the files a memo held unchanged, those whose stamps vouched for them (not read at all).
  std::size_t files_unread = 0;
};

/// Slots for `sets`: each set named in `previous` (a running configuration's slots) keeps its
/// slot, new sets take the free ones in config order. The result has one entry per slot up to
/// the last one used.
[[nodiscard]] std::vector<std::string> assign_set_slots(const std::vector<SetConfig>& sets,
                                                        const std::vector<std::string>& previous);
/// Loads the config, then every rule file and set file it names, validating all of it. Sets
/// keep their slots in `previous_slots` (the running daemon's). A rule file `memo` holds with
/// the same bytes is taken from it, not parsed (the result is the same either way).
/// `running_sets`, when given, are the set files the running sets were read from, given only
/// while the running model holds all they listed (SetModel::files_intact): when the sets, their
/// files and slots are the same, a file whose stamp vouches for its read is not read, the
/// others are read and compared with their reads, and when all of that changes at most
/// kMaxSetFileChange prefixes, the running sets go on with those changes (sets_kept, sets_base,
/// set_changes). Otherwise the sets are built afresh (from the reads' prefixes where a stamp
/// vouched for them). Throws ConfigError.
[[nodiscard]] LoadedConfig load_config_and_rules(
    const std::string& path, const std::vector<std::string>& previous_slots = {},
    const RuleFileMemo* memo = nullptr, const std::vector<SetFileRead>* running_sets = nullptr);
/// The memo of a load (for the next one) whose rules became `rules` (the rule set built from
/// loaded.rules); takes loaded.parsed_files.
[[nodiscard]] std::shared_ptr<RuleFileMemo> memo_of(LoadedConfig& loaded,
                                                    std::shared_ptr<const rules::RuleSet> rules);

/// The keys whose values differ between `running` and `next` and that only a restart can
/// change: everything except pipeline.* (but pipeline.dynamic_state), ports[].forward_to,
/// control.socket_mode/socket_group/admin_group and logging.level, which a reload
/// applies. Empty when a reload can apply `next` whole.
[[nodiscard]] std::vector<std::string> restart_required_changes(const DaemonConfig& running,
                                                                const DaemonConfig& next);

}  // namespace udpsieve::config
