#include "udpsieve/cli/capture.hpp"

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "udpsieve/cli/args.hpp"
#include "udpsieve/common/decimal.hpp"
#include "udpsieve/common/pcapng.hpp"
#include "udpsieve/common/version.hpp"

namespace udpsieve::cli {
namespace {

std::vector<uint8_t> unhex(const std::string& text) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (text.size() % 2 != 0) throw std::runtime_error("capture reply: odd-length packet data");
  std::vector<uint8_t> bytes(text.size() / 2);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int high = digit(text[2 * i]);
    const int low = digit(text[2 * i + 1]);
    if (high < 0 || low < 0) throw std::runtime_error("capture reply: packet data is not hex");
    bytes[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return bytes;
}

}  // namespace

CaptureOptions parse_capture(std::span<const std::string> args) {
  ArgReader reader("capture", args);
  CaptureOptions options;
  const auto number = [&](const std::string& name, const std::string& text) {
    uint64_t value = 0;
    if (parse_decimal(text, 1'000'000, value) != DecimalResult::ok) {
      reader.fail(name + ": '" + text + "' is not a whole number");
    }
    return value;
  };
  while (reader.next()) {
    std::string value;
    if (reader.option("--rule", value)) {
      options.rule = value;
    } else if (reader.option("--verdict", value)) {
      options.verdict = value;
    } else if (reader.option("--out", value)) {
      options.out = value;
    } else if (reader.option("--count", value)) {
      options.count = number("--count", value);
    } else if (reader.option("--timeout", value)) {
      options.timeout_s = number("--timeout", value);
    } else if (reader.option("--snaplen", value)) {
      options.snaplen = number("--snaplen", value);
    } else {
      reader.reject();
    }
  }
  if (options.rule.empty() == options.verdict.empty()) {
    reader.fail("one of --rule ID or --verdict drop|forward is required");
  }
  if (!options.verdict.empty() && options.verdict != "drop" && options.verdict != "forward") {
    reader.fail("--verdict is drop or forward");
  }
  if (options.out.empty()) reader.fail("--out FILE.pcapng is required");
  return options;
}

std::string capture_request(const CaptureOptions& options) {
  nlohmann::json request = {{"cmd", "capture"},
                            {"count", options.count},
                            {"timeout_ms", options.timeout_s * 1000},
                            {"snaplen", options.snaplen}};
  if (!options.rule.empty()) request["rule"] = options.rule;
  if (!options.verdict.empty()) request["verdict"] = options.verdict;
  return request.dump();
}

std::string write_capture(const nlohmann::json& reply, const std::string& path) {
  try {
    pcapng::Writer writer(std::string("udpsievectl ") + kVersion);
    const auto snaplen = reply.at("snaplen").get<uint32_t>();
    const auto& ports = reply.at("ports");
    for (const auto& port : ports)
      (void)writer.add_interface(port.get<std::string>(), snaplen);
    for (const auto& packet : reply.at("packets")) {
      const auto port = packet.at("port").get<uint32_t>();
      const std::string rule =
          packet.at("rule").is_string() ? packet["rule"].get<std::string>() : std::string("-");
      std::string comment =
          "udpsieve: rule=" + rule + " verdict=" + packet.at("verdict").get<std::string>();
      if (const std::string reason = packet.at("reason").get<std::string>(); !reason.empty()) {
        comment += " reason=" + reason;
      }
      comment += " lcore=" + std::to_string(packet.at("lcore").get<unsigned>());
      writer.add_packet(port, packet.at("t_ns").get<uint64_t>(),
                        unhex(packet.at("data").get<std::string>()),
                        packet.at("length").get<uint32_t>(), comment);
    }
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file.write(reinterpret_cast<const char*>(writer.bytes().data()),
               static_cast<std::streamsize>(writer.bytes().size()));
    file.close();
    if (!file) throw std::runtime_error("cannot write " + path);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("not a capture reply: ") + e.what());
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string("not a capture reply: ") + e.what());
  }
  std::string summary = "captured " + std::to_string(reply.value("captured", 0)) + " packet(s) (" +
                        reply.value("filter", std::string()) + ")";
  if (const uint64_t missed = reply.value("missed", uint64_t{0}); missed != 0) {
    summary += ", " + std::to_string(missed) + " more matched while the capture ring was full";
  }
  summary += "; wrote " + path;
  if (const std::string note = reply.value("note", std::string()); !note.empty()) {
    summary += " (" + note + ")";
  }
  return summary + "\n";
}

}  // namespace udpsieve::cli
