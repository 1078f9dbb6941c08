# Shared by the rte_flow tests (sourced): running on the host or in the VM, and reading the TC
# filters net_tap makes of rte_flow rules. Set TEST_NAME before sourcing.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly VM=$HERE/../../scripts/vm-rteflow.sh

# shellcheck source=tests/lib.sh
source "$HERE/../lib.sh"

# In the VM: a failed check is counted and the test goes on; a fatal one stops it, showing the
# end of the log the test names in GUEST_LOG (a file under $WORK) and GUEST_LOG_LINES.
FAILURES=0
fail() { say "FAIL: $*" >&2; FAILURES=$((FAILURES + 1)); }
fatal() {
  say "FAIL: $*" >&2
  say "${GUEST_LOG%.log} log (last $GUEST_LOG_LINES lines):" >&2
  tail -n "$GUEST_LOG_LINES" "$WORK/$GUEST_LOG" 2>/dev/null | sed 's/^/  /' >&2
  exit 1
}

# Host side: prepares the VM if needed (root only: it installs packages), then runs SCRIPT
# --in-vm inside it, with the environment variables UDPSIEVE_* passed along.
run_in_vm() {
  local script=$1 tool
  for tool in tc ip; do
    command -v "$tool" >/dev/null || cannot_run "$tool not installed (scripts/setup.sh installs it)"
  done
  if ! "$VM" check >/dev/null 2>&1; then
    if [[ $(id -u) -ne 0 ]]; then
      cannot_run "the VM is not prepared, and preparing it needs root: run 'sudo scripts/vm-rteflow.sh prepare' once"
    fi
    local log
    log=$(mktemp)
    if ! "$VM" prepare >"$log" 2>&1; then
      tail -n 20 "$log" >&2
      rm -f "$log"
      cannot_run "scripts/vm-rteflow.sh prepare failed (no network to install qemu and the kernel?)"
    fi
    rm -f "$log"
  fi
  # The VM's own deadline stays well inside ctest's 600 s.
  exec "$VM" run --timeout 450 -- "$script" --in-vm
}

# The kernel side of a tap: an address and a permanent neighbour, so datagrams to the fake peer
# leave through it at once, with no ARP (IPv6 is off on new interfaces in the VM).
readonly LOCAL_IP=10.99.0.1 PEER_IP=10.99.0.2 PEER_MAC=02:00:00:00:00:02
tap_up() {
  ip addr add "$LOCAL_IP/24" dev "$1"
  ip neigh replace "$PEER_IP" lladdr "$PEER_MAC" dev "$1" nud permanent
}

# Packets counted by the actions of the flower filters on IFACE matching UDP dst PORT, summed
# (a rule without addresses has an IPv4 and an IPv6 filter); empty when there is none.
tc_count() {
  tc -s filter show dev "$1" parent 1: | awk -v port="$2" '
    /^filter / { mine = 0 }
    $1 == "dst_port" && $2 == port { mine = 1; found = 1 }
    mine && /Sent [0-9]+ bytes [0-9]+ pkt/ { for (i = 1; i <= NF; i++) if ($i == "pkt") sum += $(i - 1) }
    END { if (found) print sum + 0 }'
}
# The action line of that filter ("gact action drop", "skbedit queue_mapping 1 pipe").
tc_action() {
  tc filter show dev "$1" parent 1: | awk -v port="$2" '
    /^filter / { mine = 0 }
    $1 == "dst_port" && $2 == port { mine = 1 }
    mine && /action order 1:/ { sub(/.*action order 1: */, ""); print; exit }'
}
# The preferences (tc's priorities) of the flower filters on IFACE matching UDP dst PORT, one
# per line, and how many there are, as "N: PREF...".
tc_prefs() {
  tc filter show dev "$1" parent 1: | awk -v port="$2" '
    /^filter / && /handle/ { for (i = 1; i <= NF; i++) if ($i == "pref") pref = $(i + 1) }
    $1 == "dst_port" && $2 == port { n++; list = list " " pref }
    END { print n + 0 ":" list }'
}
# Flower filters on IFACE (tc also prints a header line per preference, without a handle).
flower_filters() { tc filter show dev "$1" parent 1: 2>/dev/null | grep -c ' flower .*handle ' || true; }

# PORT COUNT: one datagram per socket, out of the tap towards the fake peer.
send_udp() {
  local i
  for ((i = 0; i < $2; i++)); do printf 'udpsieve-rteflow' >"/dev/udp/$PEER_IP/$1"; done
}
