#!/usr/bin/env bash
# udpsieved's flow rules for real: inside the VM (scripts/vm-rteflow.sh), udpsieved runs on a
# net_tap port (whose rte_flow becomes TC flower filters) with two workers, and the kernel sends
# UDP into the tap. Checked, with exact counts:
#   - an eligible drop rule (UDP dst 5353) is in the NIC: a flower drop filter exists, its
#     packets are counted by the filter and never reach a worker (the rule's software count
#     stays 0), and `udpsievectl steering` says it is offloaded;
#   - a drop rule an earlier forward rule overlaps (UDP dst 53-54 after a forward of 53) is not
#     offloaded, with the reason naming the forward rule, and software drops its packets;
#   - a steering rule (UDP dst 7000 to the worker on lcore 2) lands every such packet on that
#     worker's queue;
#   - a reload that changes the drop rule's priority (a new overlapping drop rule before it)
#     replaces its filter with no gap: datagrams sent all through the reload never reach a
#     worker;
#   - a reload that removes the drop rule destroys its filter, and its packets reach the workers;
#   - a runtime drop rule (udpsievectl block) is offloaded, and deleting it removes the filter;
#   - SIGTERM leaves no filter behind (the tap persists, so what is left can be seen);
#   - isolate: true passes only the steered flow to udpsieved;
#   - on a NIC without room for both sets (a test hook caps it), a reload destroys the old
#     flows first and then creates the new one.
# Exit 0 pass, 1 fail, 77 skipped (outside CI only).
set -euo pipefail

TEST_NAME=rteflow-udpsieved
# shellcheck source=tests/rteflow/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

host_main() {
  [[ -n ${UDPSIEVE_BUILD_DIR:-} && -x ${UDPSIEVE_BUILD_DIR}/udpsieved ]] ||
    cannot_run "UDPSIEVE_BUILD_DIR must name a build with udpsieved (ctest sets it)"
  run_in_vm "$HERE/udpsieved.sh"
}

readonly WAIT_S=90  # generous: TCG is slow, and no result depends on how slow
WORK='' DAEMON_PID='' SOCKET='' BIN=''
readonly GUEST_LOG=daemon.log GUEST_LOG_LINES=40

guest_cleanup() {
  if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then kill -9 "$DAEMON_PID" || true; fi
  if [[ -n ${UDPSIEVE_VM_OUT:-} && -n $WORK ]]; then cp "$WORK"/*.log "$UDPSIEVE_VM_OUT/" 2>/dev/null || true; fi
}

ctl() { "$BIN/udpsievectl" --socket "$SOCKET" "$@"; }
field() { ctl stats --field "$1"; }
rule_packets() { ctl rules --json | jq -r --arg id "$1" '.rules[] | select(.id == $id) | .packets'; }
steering_of() {  # ID FIELD: the rule's entry in `steering` for port 0
  ctl steering --json | jq -r --arg id "$1" --arg f "$2" '.ports[0].rules[] | select(.id == $id) | .[$f]'
}

# Polls until `$1` (a command printing a number) prints at least $2; prints the last value.
wait_at_least() {
  local deadline=$((SECONDS + WAIT_S)) value
  while :; do
    value=$(eval "$1" 2>/dev/null || echo 0)
    if ((${value:-0} >= $2)) || ((SECONDS >= deadline)); then
      echo "${value:-0}"
      return
    fi
    sleep 0.3
  done
}

# Starts udpsieved on IFACE with ISOLATE (true|false) and the rules in $WORK/rules.yaml.
start_daemon() {
  local iface=$1 isolate=$2
  cat >"$WORK/config.yaml" <<EOF
eal:
  lcores: [0, 1, "2@1"]
  hugepages: auto
  file_prefix: rteflow_udpsieved_$$
ports:
  - name: wan
    device: "net_tap0,iface=$iface,persist"
    forward_to: wan
    isolate: $isolate
pipeline:
  default_action: forward
  rules: [rules.yaml, dynamic]
  dynamic_state: $WORK/dynamic.json
control:
  socket: $SOCKET
logging:
  level: debug
EOF
  "$BIN/udpsieved" --config "$WORK/config.yaml" >>"$WORK/daemon.log" 2>&1 &
  DAEMON_PID=$!
  local deadline=$((SECONDS + WAIT_S))
  until ctl version >/dev/null 2>&1; do
    kill -0 "$DAEMON_PID" 2>/dev/null || fatal "udpsieved exited at start"
    ((SECONDS < deadline)) || fatal "udpsieved did not answer within ${WAIT_S} s"
    sleep 0.3
  done
  grep -q 'Disabling rte flow support' "$WORK/daemon.log" && fatal "net_tap disabled rte_flow"
  tap_up "$iface"
}

stop_daemon() {
  kill -TERM "$DAEMON_PID"
  local status=0
  wait "$DAEMON_PID" || status=$?
  DAEMON_PID=''
  ((status == 0)) || fail "udpsieved exited with status $status"
  grep -q 'final totals: ' "$WORK/daemon.log" || fail "no final totals line"
}

guest_main() {
  [[ -n ${UDPSIEVE_VM:-} ]] || { say "--in-vm is for scripts/vm-rteflow.sh run" >&2; exit 2; }
  command -v jq >/dev/null || fatal "jq missing in the VM (scripts/setup.sh installs it)"
  BIN=$UDPSIEVE_BUILD_DIR
  WORK=$(mktemp -d /run/rteflow-udpsieved.XXXXXX)
  SOCKET=$WORK/ctl.sock
  trap guest_cleanup EXIT

  cat >"$WORK/rules.yaml" <<'EOF'
rules:
  - {id: allow-53, match: {dst_port: 53}, action: forward}
  - {id: drop-53-54, match: {dst_port: 53-54}, action: drop}
  - {id: drop-5353, match: {dst_port: 5353}, action: drop}
steering:
  - {id: pin-7000, match: {dst_port: 7000}, worker: 2}
EOF
  local t0=$SECONDS
  start_daemon dtap0 false
  say "udpsieved ready after $((SECONDS - t0)) s: $(grep -o 'flow rules: .*' "$WORK/daemon.log" | tail -1)"

  # What is in the NIC, and why not the rest.
  [[ $(steering_of drop-5353 offloaded) == true ]] || fail "drop-5353 not offloaded: $(steering_of drop-5353 reason)"
  [[ $(steering_of drop-5353 hw_packets) == null ]] || fail "drop-5353 has hw_packets $(steering_of drop-5353 hw_packets); net_tap does not count"
  [[ $(steering_of drop-53-54 offloaded) == false ]] || fail "drop-53-54 offloaded despite allow-53"
  [[ $(steering_of drop-53-54 reason) == *allow-53* ]] ||
    fail "drop-53-54's reason does not name allow-53: $(steering_of drop-53-54 reason)"
  [[ $(steering_of pin-7000 offloaded) == true ]] || fail "pin-7000 not in the NIC: $(steering_of pin-7000 reason)"
  [[ $(tc_action dtap0 5353) == "gact action drop"* ]] || fail "no flower drop filter for 5353"
  [[ $(tc_action dtap0 7000) == "skbedit queue_mapping 1"* ]] || fail "no flower queue filter for 7000"
  [[ -z $(tc_action dtap0 54) ]] || fail "a filter for drop-53-54 exists"
  tc -s filter show dev dtap0 parent 1: >"$WORK/tc-start.log"

  # The offloaded drop: counted by the filter, never seen by a worker.
  send_udp 5353 5
  local dropped
  dropped=$(wait_at_least "tc_count dtap0 5353" 5)
  [[ $dropped == 5 ]] || fail "the 5353 filter counted $dropped packets, expected 5"
  sleep 1  # a datagram that escaped the filter would be counted by now
  [[ $(field totals.rx_packets) == 0 ]] || fail "workers received $(field totals.rx_packets) packets; the NIC should have dropped them"
  [[ $(rule_packets drop-5353) == 0 ]] || fail "drop-5353 counted packets in software"

  # Steering: every 7000 datagram on the worker of lcore 2 (queue 1).
  send_udp 7000 4
  local w1
  w1=$(wait_at_least "field workers.1.rx_packets" 4)
  [[ $w1 == 4 ]] || fail "the worker on lcore 2 received $w1 packets, expected 4"
  [[ $(field workers.0.rx_packets) == 0 ]] || fail "the worker on lcore 1 received steered packets"

  # The rule the NIC did not take: dropped in software.
  send_udp 54 3
  local soft
  soft=$(wait_at_least "rule_packets drop-53-54" 3)
  [[ $soft == 3 ]] || fail "drop-53-54 counted $soft packets, expected 3"

  # A runtime drop rule goes into the NIC too, and out again when deleted.
  ctl block "$LOCAL_IP/32" --dst-port 6000 --id rt-6000 >/dev/null || fail "block refused"
  [[ $(tc_action dtap0 6000) == "gact action drop"* ]] || fail "no flower filter for the runtime rule"
  ctl rule del rt-6000 >/dev/null || fail "rule del refused"
  [[ -z $(tc_action dtap0 6000) ]] || fail "the runtime rule's filter outlived the rule"

  # A reload that puts a new overlapping drop rule before drop-5353 moves drop-5353's flow to
  # another priority: the new flow is created before the old one goes, so datagrams sent all
  # through the reload never reach a worker.
  local rx_before prefs_before prefs_after flag
  rx_before=$(field totals.rx_packets)
  prefs_before=$(tc_prefs dtap0 5353)
  sed -i 's/^rules:$/rules:\n  - {id: drop-src-9, match: {src_port: 9}, action: drop}/' "$WORK/rules.yaml"
  flag=$WORK/sending
  touch "$flag"
  (while [[ -e $flag ]]; do printf 'udpsieve-rteflow' >"/dev/udp/$PEER_IP/5353"; done) &
  local sender=$!
  sleep 0.5
  ctl reload >/dev/null || fail "the reload adding drop-src-9 was refused"
  sleep 0.5
  rm -f "$flag"
  wait "$sender" || true
  prefs_after=$(tc_prefs dtap0 5353)
  say "drop-5353's filters before the reload ${prefs_before}, after ${prefs_after}"
  [[ $(steering_of drop-src-9 offloaded) == true ]] || fail "drop-src-9 not offloaded: $(steering_of drop-src-9 reason)"
  [[ ${prefs_after%%:*} == "${prefs_before%%:*}" ]] || fail "drop-5353 has filters ${prefs_after}, before ${prefs_before}"
  [[ $prefs_after != "$prefs_before" ]] || fail "drop-5353's filters kept their priorities (${prefs_after})"
  sleep 1
  [[ $(field totals.rx_packets) == "$rx_before" ]] ||
    fail "$(($(field totals.rx_packets) - rx_before)) datagram(s) reached the workers during the reload"
  [[ $(rule_packets drop-5353) == 0 ]] || fail "drop-5353 counted packets in software during the reload"
  # The order itself, from the debug log: the new flows of drop-5353 before the old ones go.
  local order
  order=$(grep -o 'flow rule \(created\|destroyed\): drop drop-5353 entry 0 .*' "$WORK/daemon.log" |
    tail -n 2 | cut -d: -f1 | tr '\n' ' ')
  [[ $order == "flow rule created flow rule destroyed " ]] ||
    fail "the reload did not create drop-5353's new flow before destroying the old (log order: $order)"

  # A reload without drop-5353: its filter goes, and its packets reach the workers.
  sed -i '/drop-5353/d' "$WORK/rules.yaml"
  ctl reload >/dev/null || fail "reload refused"
  [[ -z $(tc_action dtap0 5353) ]] || fail "drop-5353's filter outlived the reload"
  local before
  before=$(field totals.rx_packets)
  send_udp 5353 2
  local after
  after=$(wait_at_least "field totals.rx_packets" $((before + 2)))
  ((after == before + 2)) || fail "after the reload 5353 traffic reached the workers $((after - before)) times, expected 2"

  stop_daemon
  local left
  left=$(flower_filters dtap0)
  [[ $left == 0 ]] || fail "$left flower filter(s) left on dtap0 after SIGTERM"
  ip link del dtap0 2>/dev/null || true

  # Isolated mode: only what a rule steers reaches udpsieved; the kernel keeps the rest.
  cat >"$WORK/rules.yaml" <<'EOF'
steering:
  - {id: pin-7000, match: {dst_port: 7000}, worker: 2}
EOF
  start_daemon dtap1 true
  send_udp 9000 3
  send_udp 7000 3
  local seen
  seen=$(wait_at_least "field totals.rx_packets" 3)
  sleep 1
  seen=$(field totals.rx_packets)
  [[ $seen == 3 ]] || fail "in isolated mode udpsieved received $seen packets, expected the 3 steered ones"
  stop_daemon
  ip link del dtap1 2>/dev/null || true

  # A NIC without room for the old and the new flows side by side (a test hook caps the port
  # at 2 flow rules): the reload's new flow is refused beside the old ones, so the old ones go
  # first and it is created again.
  cat >"$WORK/rules.yaml" <<'EOF'
rules:
  - {id: drop-5353, match: {dst_port: 5353}, action: drop}
EOF
  UDPSIEVE_TEST_HOOKS=1 UDPSIEVE_TEST_FLOW_CAPACITY=2 start_daemon dtap2 false
  [[ $(steering_of drop-5353 offloaded) == true ]] || fail "with room for 2, drop-5353 not offloaded: $(steering_of drop-5353 reason)"
  sed -i 's/5353/5354/g' "$WORK/rules.yaml"
  ctl reload >/dev/null || fail "the reload replacing drop-5353 was refused"
  grep -q 'flow rules: port wan: 2 new rule(s) refused beside the old ones; removing the old ones first' "$WORK/daemon.log" ||
    fail "no log line saying the old flows made room"
  [[ $(steering_of drop-5354 offloaded) == true ]] || fail "drop-5354 not offloaded after making room: $(steering_of drop-5354 reason)"
  [[ $(tc_action dtap2 5354) == "gact action drop"* ]] || fail "no flower filter for 5354"
  [[ -z $(tc_action dtap2 5353) ]] || fail "the filter of drop-5353 outlived the reload"
  stop_daemon
  ip link del dtap2 2>/dev/null || true

  if ((FAILURES > 0)); then
    say "daemon log (last 60 lines; all of it in $UDPSIEVE_VM_OUT):" >&2
    tail -n 60 "$WORK/daemon.log" | sed 's/^/  /' >&2
    say "$FAILURES check(s) failed"
    exit 1
  fi
  say "PASS"
}

if [[ ${1:-} == --in-vm ]]; then guest_main; else host_main; fi
