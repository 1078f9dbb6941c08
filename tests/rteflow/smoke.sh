#!/usr/bin/env bash
# rte_flow smoke test: proves that scripts/vm-rteflow.sh gives DPDK's net_tap working rte_flow.
# On the host it makes sure the VM is prepared, then reruns itself inside the VM (--in-vm),
# where it drives dpdk-testpmd on net_tap (iface dtap0, 2 RX queues) through a FIFO and checks:
#   - `flow create` of a drop rule (UDP dst 5353) and two queue rules (UDP dst 7000 -> queue 1,
#     UDP dst 9000 -> queue 0) succeeds, and each rule becomes a TC flower filter on dtap0
#     (gact drop, skbedit queue_mapping N);
#   - datagrams the kernel sends out of dtap0 (net_tap's RX) are handled by those filters: the
#     5353 ones are counted by the drop action and never reach testpmd, the 7000 ones arrive on
#     queue 1 only, the 9000 ones on queue 0, with exact counts;
#   - `flow destroy` removes the filters, after which 5353 traffic reaches testpmd again.
# Exit 0 pass, 1 fail, 77 skipped (outside CI only: no root to prepare the VM, or no network).
set -euo pipefail

TEST_NAME=rteflow-smoke
# shellcheck source=tests/rteflow/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------------------------------------
# Host side: prepare if needed, then boot the VM and run the checks there.
host_main() {
  command -v dpdk-testpmd >/dev/null || cannot_run "dpdk-testpmd not installed (scripts/setup.sh installs it)"
  run_in_vm "$HERE/smoke.sh"
}

# ---------------------------------------------------------------------------------------------
# Guest side.

readonly IFACE=dtap0
readonly DROP_PORT=5353 QUEUE_PORT=7000 OTHER_PORT=9000
readonly N_DROP=5 N_QUEUE=4 N_OTHER=3
readonly WAIT_S=60   # generous: TCG is slow, and no result depends on how slow

WORK='' TESTPMD_PID=''
readonly GUEST_LOG=testpmd.log GUEST_LOG_LINES=60

guest_cleanup() {
  exec 3>&-
  if [[ -n $TESTPMD_PID ]] && kill -0 "$TESTPMD_PID" 2>/dev/null; then kill -9 "$TESTPMD_PID" || true; fi
  # Keep the evidence for the host (the VM's own files vanish at power-off).
  if [[ -n ${UDPSIEVE_VM_OUT:-} && -n $WORK ]]; then cp "$WORK"/*.log "$UDPSIEVE_VM_OUT/" 2>/dev/null || true; fi
  if [[ -n $WORK ]]; then rm -rf "$WORK" "/run/dpdk/rteflow_smoke_$$"; fi
}

prompts() { grep -o 'testpmd> ' "$WORK/testpmd.log" | wc -l; }

wait_prompts() {
  local want=$1 deadline=$((SECONDS + WAIT_S))
  while [[ $(prompts) -lt $want ]]; do
    kill -0 "$TESTPMD_PID" 2>/dev/null || fatal "testpmd exited"
    ((SECONDS < deadline)) || fatal "testpmd gave no prompt within ${WAIT_S} s"
    sleep 0.2
  done
}

# Sends one command to testpmd, waits for its next prompt and prints what the command printed.
# testpmd reads the FIFO as its terminal: it echoes the line, runs it, prints a new prompt.
# Commands go one at a time, so the prompts counted now plus one marks this command's end (and
# no state is kept, so tp works inside $(...) too).
tp() {
  local size before
  size=$(stat -c %s "$WORK/testpmd.log")
  before=$(prompts)
  echo "$*" >&3
  wait_prompts $((before + 1))
  tail -c +$((size + 1)) "$WORK/testpmd.log"
}


# RX packets per queue from testpmd (xstats rx_q0_packets, rx_q1_packets): "Q0 Q1".
rx_queues() {
  tp "show port xstats 0" | awk -F': *' '
    $1 == "rx_q0_packets" { q0 = $2 } $1 == "rx_q1_packets" { q1 = $2 }
    END { print q0 + 0, q1 + 0 }'
}


guest_main() {
  [[ -n ${UDPSIEVE_VM:-} ]] || { say "--in-vm is for scripts/vm-rteflow.sh run" >&2; exit 2; }
  WORK=$(mktemp -d /run/rteflow-smoke.XXXXXX)
  trap guest_cleanup EXIT
  mkfifo "$WORK/testpmd.in"

  # Small pools (the VM has 256 x 2 MB hugepages); one forwarding core polling both queues in
  # rxonly mode, so port stats count what net_tap received; no PCI scan (nothing to find).
  stdbuf -o0 dpdk-testpmd -l 0,1 -n 1 --no-pci --file-prefix="rteflow_smoke_$$" \
    --vdev "net_tap0,iface=$IFACE" -- \
    -i --rxq=2 --txq=2 --nb-cores=1 --total-num-mbufs=2048 --forward-mode=rxonly \
    <"$WORK/testpmd.in" >"$WORK/testpmd.log" 2>&1 &
  TESTPMD_PID=$!
  exec 3>"$WORK/testpmd.in"   # held open: testpmd would quit on EOF
  local t0=$SECONDS
  wait_prompts 1
  say "testpmd ready after $((SECONDS - t0)) s"
  if grep -q 'Disabling rte flow support' "$WORK/testpmd.log"; then
    fatal "net_tap disabled rte_flow (TC modules missing in the VM?)"
  fi

  # The kernel side of the tap: an address and a permanent neighbour, so datagrams to the fake
  # peer leave through dtap0 at once, with no ARP. (IPv6 is off on new interfaces in the VM,
  # so nothing else leaves through it.)
  tap_up "$IFACE"
  [[ $(flower_filters "$IFACE") -eq 0 ]] || fatal "flower filters on $IFACE before any flow was created"

  local out
  out=$(tp "flow create 0 ingress pattern eth / ipv4 / udp dst is $DROP_PORT / end actions drop / end")
  grep -q 'Flow rule #0 created' <<<"$out" || fatal "drop rule not created: $out"
  out=$(tp "flow create 0 ingress pattern eth / ipv4 / udp dst is $QUEUE_PORT / end actions queue index 1 / end")
  grep -q 'Flow rule #1 created' <<<"$out" || fatal "queue rule not created: $out"
  # Without a rule, the tap picks the queue of a datagram by a hash of its flow, seeded at boot
  # (tun ignores XPS), so unmatched traffic lands on either queue. Pin the other flow to queue 0
  # to make every count exact.
  out=$(tp "flow create 0 ingress pattern eth / ipv4 / udp dst is $OTHER_PORT / end actions queue index 0 / end")
  grep -q 'Flow rule #2 created' <<<"$out" || fatal "second queue rule not created: $out"
  tc -s filter show dev "$IFACE" parent 1: >"$WORK/tc-after-create.log"
  local action
  action=$(tc_action "$IFACE" "$DROP_PORT")
  [[ $action == "gact action drop"* ]] || fail "no flower drop filter for dst_port $DROP_PORT (action: '$action')"
  action=$(tc_action "$IFACE" "$QUEUE_PORT")
  [[ $action == "skbedit queue_mapping 1"* ]] ||
    fail "no flower queue filter for dst_port $QUEUE_PORT (action: '$action')"
  action=$(tc_action "$IFACE" "$OTHER_PORT")
  [[ $action == "skbedit queue_mapping 0"* ]] ||
    fail "no flower queue filter for dst_port $OTHER_PORT (action: '$action')"
  [[ $(flower_filters "$IFACE") -eq 3 ]] || fail "$(flower_filters "$IFACE") flower filters on $IFACE, expected 3"
  say "flows created: $(flower_filters "$IFACE") flower filters on $IFACE"

  tp start >/dev/null
  local q0 q1 base0 base1
  read -r base0 base1 < <(rx_queues)
  send_udp "$DROP_PORT" "$N_DROP"
  send_udp "$QUEUE_PORT" "$N_QUEUE"
  send_udp "$OTHER_PORT" "$N_OTHER"
  # Wait until everything sent was seen: the drop action's count covers the 5353 datagrams
  # (counted there, they went no further), testpmd's queues the others. Then counts must be exact.
  local deadline=$((SECONDS + WAIT_S)) dropped queued
  while :; do
    read -r q0 q1 < <(rx_queues)
    q0=$((q0 - base0)) q1=$((q1 - base1))
    dropped=$(tc_count "$IFACE" "$DROP_PORT") queued=$(tc_count "$IFACE" "$QUEUE_PORT")
    ((${dropped:-0} >= N_DROP && q0 >= N_OTHER && q1 >= N_QUEUE)) && break
    if ((SECONDS >= deadline)); then
      fail "traffic not all seen within ${WAIT_S} s"
      break
    fi
    sleep 0.5
  done
  tc -s filter show dev "$IFACE" parent 1: >"$WORK/tc-after-traffic.log"
  say "sent $DROP_PORT x$N_DROP, $QUEUE_PORT x$N_QUEUE, $OTHER_PORT x$N_OTHER;" \
    "tc dropped ${dropped:-none}, tc steered ${queued:-none}; testpmd queue 0: $q0, queue 1: $q1"
  [[ ${dropped:-} == "$N_DROP" ]] || fail "tc drop filter counted '${dropped:-}' packets, expected $N_DROP"
  [[ ${queued:-} == "$N_QUEUE" ]] || fail "tc queue filter counted '${queued:-}' packets, expected $N_QUEUE"
  ((q1 == N_QUEUE)) || fail "queue 1 received $q1 packets, expected $N_QUEUE (the UDP $QUEUE_PORT ones)"
  ((q0 == N_OTHER)) ||
    fail "queue 0 received $q0 packets, expected $N_OTHER (UDP $OTHER_PORT only; UDP $DROP_PORT must be dropped)"

  tp stop >/dev/null
  out=$(tp "flow destroy 0 rule 0")
  grep -q 'Flow rule #0 destroyed' <<<"$out" || fail "drop rule not destroyed: $out"
  out=$(tp "flow destroy 0 rule 1")
  grep -q 'Flow rule #1 destroyed' <<<"$out" || fail "queue rule not destroyed: $out"
  out=$(tp "flow destroy 0 rule 2")
  grep -q 'Flow rule #2 destroyed' <<<"$out" || fail "second queue rule not destroyed: $out"
  tc -s filter show dev "$IFACE" parent 1: >"$WORK/tc-after-destroy.log"
  local left
  left=$(flower_filters "$IFACE")
  [[ $left -eq 0 ]] || fail "$left flower filters left on $IFACE after flow destroy"

  # With the drop rule gone, UDP 5353 reaches testpmd (on either queue: nothing steers it now).
  tp start >/dev/null
  read -r base0 base1 < <(rx_queues)
  send_udp "$DROP_PORT" 2
  local got=0
  deadline=$((SECONDS + WAIT_S))
  while read -r q0 q1 < <(rx_queues); got=$((q0 - base0 + q1 - base1)); ((got < 2)); do
    if ((SECONDS >= deadline)); then
      fail "UDP $DROP_PORT still not received after flow destroy (got $got of 2)"
      break
    fi
    sleep 0.5
  done
  say "flows destroyed: $left flower filters left; UDP $DROP_PORT now received ($got of 2)"

  echo quit >&3
  exec 3>&-
  deadline=$((SECONDS + WAIT_S))
  while kill -0 "$TESTPMD_PID" 2>/dev/null; do
    ((SECONDS < deadline)) || { fail "testpmd did not quit"; break; }
    sleep 0.2
  done
  local status=0
  wait "$TESTPMD_PID" || status=$?
  TESTPMD_PID=''
  ((status == 0)) || fail "testpmd exited with status $status"

  if ((FAILURES > 0)); then
    say "testpmd log (last 60 lines; all of it and tc's listings in $UDPSIEVE_VM_OUT):" >&2
    tail -n 60 "$WORK/testpmd.log" | sed 's/^/  /' >&2
    say "tc after traffic:" >&2
    sed 's/^/  /' "$WORK/tc-after-traffic.log" >&2
    say "$FAILURES check(s) failed"
    exit 1
  fi
  say "PASS"
}

if [[ ${1:-} == --in-vm ]]; then guest_main; else host_main; fi
