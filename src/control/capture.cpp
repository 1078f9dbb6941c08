// The `capture` command: arm the workers' capture tap, collect what they copy, answer with it.
#include <rte_cycles.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "capture_session.hpp"
#include "udpsieve/dataplane/ports.hpp"
#include "udpsieve/dataplane/table.hpp"
#include "udpsieve/dataplane/worker.hpp"

namespace udpsieve::control {
namespace {

constexpr uint64_t kMaxCount = 10000;
constexpr uint64_t kMaxTimeoutMs = 300'000;
/// Captured bytes per reply: the reply is one JSON line, hex-encoded (twice the size).
constexpr std::size_t kMaxBytes = std::size_t{4} << 20;

std::string hex(const std::vector<uint8_t>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return out;
}

/// Keeps the rules of the table's parts by part generation (how copies name their rule); a
/// reference, not a copy, since runtime changes may publish many parts during one capture.
void note_rule_sets(const dataplane::Table& table,
                    std::map<uint64_t, std::shared_ptr<const rules::RuleSet>>& rule_sets) {
  for (const dataplane::PartKind kind : {dataplane::PartKind::file, dataplane::PartKind::runtime}) {
    const dataplane::RulePart& part = table.part(kind);
    rule_sets.emplace(part.generation(), part.rules_ptr());
  }
}

/// The capture word for the rule `id` of `table`, or nullopt when no part holds it.
std::optional<uint64_t> rule_word(const dataplane::Table& table, const std::string& id) {
  for (const dataplane::PartKind kind : {dataplane::PartKind::file, dataplane::PartKind::runtime}) {
    const dataplane::RulePart& part = table.part(kind);
    if (const std::size_t index = part.rules().position(id); index != rules::RuleSet::npos) {
      return dataplane::CaptureFilter::rule(part.generation(), static_cast<uint32_t>(index));
    }
  }
  return std::nullopt;
}

/// A whole number in [low, high] from `body[key]`, `fallback` when absent; nullopt when bad.
std::optional<uint64_t> number(const nlohmann::json& body, const char* key, uint64_t fallback,
                               uint64_t low, uint64_t high) {
  if (!body.contains(key)) return fallback;
  const nlohmann::json& value = body[key];
  if (!value.is_number_unsigned() || value.get<uint64_t>() < low || value.get<uint64_t>() > high) {
    return std::nullopt;
  }
  return value.get<uint64_t>();
}

}  // namespace

std::optional<std::string> ControlLoop::start_capture(const Request& request,
                                                      SocketServer::ClientId client) {
  if (parts_.tap == nullptr) return error_line("capture is not available in this daemon");
  if (capture_) {
    return error_line("a capture is already running (" + capture_->filter +
                      "); try again when it ends");
  }
  const nlohmann::json& body = request.body;
  auto session = std::make_unique<CaptureSession>();
  session->client = client;
  const bool has_rule = body.contains("rule");
  const bool has_verdict = body.contains("verdict");
  if (has_rule == has_verdict) {
    return error_line(R"(capture needs one of "rule": ID or "verdict": "drop" | "forward")");
  }
  const auto count = number(body, "count", 100, 1, kMaxCount);
  const auto timeout_ms = number(body, "timeout_ms", 10'000, 1, kMaxTimeoutMs);
  const auto snaplen = number(body, "snaplen", 2048, 64, 2048);
  if (!count || !timeout_ms || !snaplen) {
    return error_line("capture: count is 1-" + std::to_string(kMaxCount) + ", timeout_ms 1-" +
                      std::to_string(kMaxTimeoutMs) + ", snaplen 64-2048");
  }
  const dataplane::Table& table = *parts_.tables.current();
  uint64_t word = 0;
  if (has_rule) {
    if (!body["rule"].is_string()) return error_line(R"(capture: "rule" is a rule id)");
    session->rule_id = body["rule"].get<std::string>();
    const std::optional<uint64_t> rule = rule_word(table, session->rule_id);
    if (!rule) return error_line("capture: no rule '" + session->rule_id + "' is loaded");
    session->by_rule = true;
    session->filter = "rule " + session->rule_id;
    word = *rule;
  } else {
    const nlohmann::json& verdict = body["verdict"];
    if (verdict != "drop" && verdict != "forward") {
      return error_line(R"(capture: "verdict" is "drop" or "forward")");
    }
    session->filter = "verdict " + verdict.get<std::string>();
    word = dataplane::CaptureFilter::verdict(verdict == "drop");
  }
  session->count = *count;
  session->snaplen = static_cast<uint32_t>(*snaplen);
  session->deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(*timeout_ms);
  note_rule_sets(table, session->rule_sets);
  session->tsc_hz = static_cast<double>(rte_get_tsc_hz());
  session->tsc_origin = rte_rdtsc();
  session->unix_ns_origin = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  parts_.tap->begin(word, session->snaplen);
  spdlog::info("capture started: {}, up to {} packet(s) within {} ms", session->filter,
               session->count, *timeout_ms);
  capture_ = std::move(session);
  return std::nullopt;
}

void ControlLoop::retarget_capture(std::string_view cause) {
  if (!capture_) return;
  const dataplane::Table& table = *parts_.tables.current();
  note_rule_sets(table, capture_->rule_sets);
  if (!capture_->by_rule) return;
  const std::optional<uint64_t> word = rule_word(table, capture_->rule_id);
  if (!word) {
    finish_capture("rule '" + capture_->rule_id + "' was removed by " + std::string(cause));
    return;
  }
  parts_.tap->retarget(*word);
}

void ControlLoop::service_capture() {
  if (!capture_) return;
  CaptureSession& session = *capture_;
  const std::size_t before = session.packets.size();
  parts_.tap->drain(session.count - session.packets.size(), session.packets);
  for (std::size_t i = before; i < session.packets.size(); ++i)
    session.bytes += session.packets[i].data.size();
  if (session.packets.size() >= session.count) {
    finish_capture("");
  } else if (session.bytes >= kMaxBytes) {
    finish_capture("stopped at " + std::to_string(kMaxBytes >> 20) +
                   " MiB of captured data; use a smaller snaplen or count");
  } else if (std::chrono::steady_clock::now() >= session.deadline) {
    finish_capture("timed out before " + std::to_string(session.count) +
                   " matching packet(s) arrived");
  }
}

void ControlLoop::finish_capture(const std::string& note) {
  CaptureSession& session = *capture_;
  nlohmann::json packets = nlohmann::json::array();
  const std::vector<dataplane::PortInfo>& ports = parts_.ports.ports();
  for (const dataplane::CapturedPacket& packet : session.packets) {
    const dataplane::CaptureMeta& meta = packet.meta;
    const double seconds =
        (static_cast<double>(meta.tsc) - static_cast<double>(session.tsc_origin)) / session.tsc_hz;
    nlohmann::json rule = nullptr;
    if (meta.rule != 0) {
      const auto set = session.rule_sets.find(meta.generation);
      if (set != session.rule_sets.end() && meta.rule <= set->second->rules().size()) {
        rule = set->second->rules()[meta.rule - 1].id;
      }
    }
    const bool dropped = meta.reason < kDropReasonCount;
    packets.push_back(
        {{"t_ns", session.unix_ns_origin + static_cast<int64_t>(seconds * 1e9)},
         {"port", meta.in_port},
         {"lcore",
          meta.worker < parts_.workers.size() ? parts_.workers[meta.worker]->setup().lcore : 0U},
         {"rule", rule},
         {"verdict", dropped ? "drop" : "forward"},
         {"reason", dropped ? std::string(kDropReasons[meta.reason].name) : std::string()},
         {"length", meta.original_length},
         {"data", hex(packet.data)}});
  }
  nlohmann::json port_names = nlohmann::json::array();
  for (const dataplane::PortInfo& port : ports)
    port_names.push_back(port.name);
  const nlohmann::json reply = {{"ok", true},
                                {"filter", session.filter},
                                {"captured", session.packets.size()},
                                {"missed", parts_.tap->missed()},
                                {"complete", session.packets.size() >= session.count},
                                {"note", note},
                                {"snaplen", session.snaplen},
                                {"ports", port_names},
                                {"packets", packets}};
  parts_.tap->end();
  spdlog::info("capture ended: {}: {} packet(s){}", session.filter, session.packets.size(),
               note.empty() ? "" : "; " + note);
  parts_.server.complete(session.client,
                         reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  capture_.reset();
}

}  // namespace udpsieve::control
