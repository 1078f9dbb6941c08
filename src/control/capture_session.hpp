#pragma once
// A running verdict capture (private to the control loop: control_loop.cpp, capture.cpp).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "udpsieve/control/control_loop.hpp"
#include "udpsieve/dataplane/capture_tap.hpp"
#include "udpsieve/rules/rule_set.hpp"

namespace udpsieve::control {

struct ControlLoop::CaptureSession {
  SocketServer::ClientId client = 0;
  std::string filter;   ///< "rule ID" or "verdict drop|forward", for the reply and logs
  std::string rule_id;  ///< for a rule capture
  bool by_rule = false;
  std::size_t count = 0;
  uint32_t snaplen = 0;
  std::chrono::steady_clock::time_point deadline;
  std::vector<dataplane::CapturedPacket> packets;
  std::size_t bytes = 0;  ///< captured bytes so far
  /// The rules of every rule part generation seen during the capture, to name each packet's
  /// rule.
  std::map<uint64_t, std::shared_ptr<const rules::RuleSet>> rule_sets;
  /// A TSC reading and the wall-clock time taken together, to date the packets.
  uint64_t tsc_origin = 0;
  int64_t unix_ns_origin = 0;
  double tsc_hz = 1;
};

}  // namespace udpsieve::control
