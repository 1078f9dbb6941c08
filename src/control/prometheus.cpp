#include "udpsieve/control/prometheus.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <span>

namespace udpsieve::control {
namespace {

using nlohmann::json;

/// Which reply a group of metrics is read from.
enum class Reply : uint8_t { stats, rules, version };

/// How a group's values sit in its reply.
enum class Shape : uint8_t {
  object,      ///< one object: each desc.name is a key; no labels
  per_item,    ///< an array of objects: one sample per element, labelled by `label_key`
  by_key,      ///< one object keyed by the label values in `keys`, one metric (descs[0])
  build_info,  ///< the version reply: labels version and dpdk, value 1
};

/// Where each metric's values come from. The only place that maps JSON to metrics.
struct MetricGroup {
  std::span<const StatDesc> descs;
  Reply reply;
  std::string_view path;  ///< JSON pointer to the object or array; "" = the reply itself
  Shape shape;
  std::string_view label = {};          ///< per_item, by_key: the label's name
  std::string_view label_key = {};      ///< per_item: the key in each element holding its value
  std::span<const StatDesc> keys = {};  ///< by_key: the label values, with their meaning
  /// per_item: more labels, each read from the element's key of the same name (left out where
  /// the element has none or an empty one)
  std::span<const std::string_view> more_labels = {};
};

/// A rule's source (file, api, bgp, ...) and note (a FlowSpec rule's route) beside its id.
constexpr std::array<std::string_view, 2> kRuleLabels = {"source", "note"};

const std::array<MetricGroup, 15> kMetricGroups = {{
    {{&kBuildInfo, 1}, Reply::version, "", Shape::build_info},
    {kProcessStats, Reply::stats, "", Shape::object},
    {kPortStats, Reply::stats, "/ports", Shape::per_item, "port", "name"},
    {kWorkerStats, Reply::stats, "/workers", Shape::per_item, "lcore", "lcore"},
    {{&kWorkerDropped, 1}, Reply::stats, "/workers", Shape::per_item, "lcore", "lcore"},
    {{&kDroppedByReason, 1},
     Reply::stats,
     "/totals/drops",
     Shape::by_key,
     "reason",
     "",
     kDropReasons},
    {kOffloadStats, Reply::stats, "/totals", Shape::object},
    {kRuleStats, Reply::stats, "/rules", Shape::per_item, "rule", "id", {}, kRuleLabels},
    {kRuntimeStats, Reply::stats, "/dynamic", Shape::object},
    {kMempoolStats, Reply::stats, "/mempools", Shape::per_item, "socket", "socket"},
    {kSetStats, Reply::stats, "/sets", Shape::per_item, "set", "name"},
    {kSetTableStats, Reply::stats, "/set_tables", Shape::object},
    {kRuleTableStats, Reply::rules, "", Shape::object},
    {kClassifierStats, Reply::rules, "/classifier", Shape::object},
    {kReloadStats, Reply::rules, "/reload", Shape::object},
}};

/// The labels of build_info, read from the version reply.
constexpr std::array<std::string_view, 2> kBuildInfoLabels = {"version", "dpdk"};

std::string_view reply_name(Reply reply) {
  switch (reply) {
    case Reply::stats:
      return "stats";
    case Reply::rules:
      return "rules";
    case Reply::version:
      return "version";
  }
  return "";
}

/// The value at a JSON pointer made of object keys, or nullptr.
const json* find(const json& root, std::string_view path) {
  const json* node = &root;
  while (!path.empty()) {
    path.remove_prefix(1);  // the '/'
    const std::size_t end = path.find('/');
    const std::string key(path.substr(0, end));
    if (!node->is_object()) return nullptr;
    const auto it = node->find(key);
    if (it == node->end()) return nullptr;
    node = &*it;
    path = end == std::string_view::npos ? std::string_view() : path.substr(end);
  }
  return node;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

/// JSON keys in milliseconds or microseconds are exposed in seconds (a base unit).
double seconds_divisor(std::string_view key) {
  if (ends_with(key, "_ms")) return 1e3;
  if (ends_with(key, "_us")) return 1e6;
  return 1.0;
}

std::string format_double(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  std::array<char, 64> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return std::string(buffer.data(), result.ptr);
}

/// A sample value, or "" when the JSON value is not a number.
std::string sample_value(const json& value, std::string_view key) {
  if (value.is_boolean()) return value.get<bool>() ? "1" : "0";
  if (!value.is_number()) return {};
  const double divisor = seconds_divisor(key);
  if (divisor == 1.0 && value.is_number_unsigned()) return std::to_string(value.get<uint64_t>());
  if (divisor == 1.0 && value.is_number_integer()) return std::to_string(value.get<int64_t>());
  return format_double(value.get<double>() / divisor);
}

std::string label_text(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

using Labels = std::vector<std::pair<std::string_view, std::string>>;

void write_header(std::string& out, const StatDesc& desc) {
  const std::string name(desc.metric);
  out += "# HELP " + name + " " + escape_help(desc.help) + "\n";
  out += "# TYPE " + name + (desc.kind == StatKind::counter ? " counter\n" : " gauge\n");
}

void write_sample(std::string& out, const StatDesc& desc, const Labels& labels,
                  const std::string& value) {
  if (value.empty()) return;
  out += desc.metric;
  if (!labels.empty()) {
    out += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i != 0) out += ',';
      out += std::string(labels[i].first) + "=\"" + escape_label_value(labels[i].second) + "\"";
    }
    out += '}';
  }
  out += ' ' + value + '\n';
}

void render_group(std::string& out, const MetricGroup& group, const json& reply) {
  const json* root = find(reply, group.path);
  for (const StatDesc& desc : group.descs) {
    write_header(out, desc);
    if (root == nullptr) continue;
    switch (group.shape) {
      case Shape::object:
        if (root->is_object() && root->contains(desc.name)) {
          write_sample(out, desc, {}, sample_value(root->at(desc.name), desc.name));
        }
        break;
      case Shape::per_item:
        if (!root->is_array()) break;
        for (const json& item : *root) {
          if (!item.is_object() || !item.contains(desc.name)) continue;
          Labels labels = {{group.label, item.contains(group.label_key)
                                             ? label_text(item.at(group.label_key))
                                             : std::string()}};
          for (const std::string_view name : group.more_labels) {
            const auto it = item.find(std::string(name));
            if (it == item.end()) continue;
            std::string value = label_text(*it);
            if (!value.empty()) labels.emplace_back(name, std::move(value));
          }
          write_sample(out, desc, labels, sample_value(item.at(desc.name), desc.name));
        }
        break;
      case Shape::by_key:
        if (!root->is_object()) break;
        for (const StatDesc& key : group.keys) {
          if (!root->contains(key.name)) continue;
          write_sample(out, desc, {{group.label, std::string(key.name)}},
                       sample_value(root->at(key.name), key.name));
        }
        break;
      case Shape::build_info: {
        Labels labels;
        for (std::string_view name : kBuildInfoLabels) {
          const json* value = find(*root, "/" + std::string(name));
          labels.emplace_back(name, value != nullptr ? label_text(*value) : std::string());
        }
        write_sample(out, desc, labels, "1");
        break;
      }
    }
  }
}

std::string dotted(std::string_view path) {
  std::string out(path.empty() ? path : path.substr(1));
  for (char& c : out)
    if (c == '/') c = '.';
  return out;
}

std::string source_of(const MetricGroup& group, const StatDesc& desc) {
  const std::string base = dotted(group.path);
  std::string where;
  switch (group.shape) {
    case Shape::object:
      where = base.empty() ? std::string(desc.name) : base + "." + std::string(desc.name);
      break;
    case Shape::per_item:
      where = base + "[]." + std::string(desc.name);
      break;
    case Shape::by_key:
      where = base + ".<" + std::string(group.label) + ">";
      break;
    case Shape::build_info:
      where = "version, dpdk";
      break;
  }
  return std::string(reply_name(group.reply)) + ": " + where;
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string render_prometheus(const json& stats, const json& rules, const json& version) {
  std::string out;
  for (const MetricGroup& group : kMetricGroups) {
    const json& reply = group.reply == Reply::stats   ? stats
                        : group.reply == Reply::rules ? rules
                                                      : version;
    render_group(out, group, reply);
  }
  return out;
}

std::vector<MetricInfo> metric_catalog() {
  std::vector<MetricInfo> out;
  for (const MetricGroup& group : kMetricGroups) {
    std::string labels(group.label);
    if (group.shape == Shape::build_info) {
      for (std::string_view name : kBuildInfoLabels)
        labels += (labels.empty() ? "" : ",") + std::string(name);
    }
    for (const std::string_view name : group.more_labels)
      labels += "," + std::string(name);
    for (const StatDesc& desc : group.descs)
      out.push_back({&desc, labels, source_of(group, desc)});
  }
  return out;
}

std::string metrics_markdown() {
  std::string out =
      "| Metric | Type | Labels | Meaning | From (`udpsievectl COMMAND --json`: field) |\n"
      "|---|---|---|---|---|\n";
  for (const MetricInfo& info : metric_catalog()) {
    std::string labels;
    std::string_view rest = info.labels;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      labels += (labels.empty() ? "`" : ", `") + std::string(rest.substr(0, comma)) + "`";
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    out += "| `" + std::string(info.desc->metric) + "` | " +
           (info.desc->kind == StatKind::counter ? "counter" : "gauge") + " | " +
           (labels.empty() ? "-" : labels) + " | " + std::string(info.desc->help) + " | `" +
           info.source + "` |\n";
  }
  out += "\nDrop reasons, the values of `reason` on `" + std::string(kDroppedByReason.metric) +
         "`:\n\n| reason | Meaning |\n|---|---|\n";
  for (const StatDesc& reason : kDropReasons)
    out += "| `" + std::string(reason.name) + "` | " + std::string(reason.help) + " |\n";
  return out;
}

}  // namespace udpsieve::control
