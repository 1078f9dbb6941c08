#!/usr/bin/env bash
# Runtime rule updates under full-speed traffic: udpsieved with FILE_RULES file rules replays a
# capture of FLOWS distinct flows (net_pcap, infinite_rx) into net_null on one worker while
# bench/runtime_rules.py adds and deletes runtime rules over the control socket:
#   - single-rule add and delete latency (request to the reply that says it is in effect);
#   - RATE single-rule updates per second sustained for SECONDS;
#   - HOLD runtime rules held, and single-rule updates beside them.
# At the end SIGTERM: the daemon's final totals must show rx == forwarded + dropped exactly.
#
#   scripts/bench-runtime-rules.sh [--file-rules N] [--flows N] [--rate R] [--seconds S]
#                                  [--connections N] [--hold N] [--state-dir DIR]
#
# The sustained updates come from CONNECTIONS clients at once (default 64), as from many ban
# scripts; each client waits for its reply before its next request, and updates that arrive
# while a build runs are built together.
#
# The state file (runtime rules of source api) is written, with its fsyncs, before each reply;
# --state-dir puts it on the filesystem you want to measure (default: a directory under
# /var/tmp, on disk; /dev/shm measures without the disk).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

file_rules=10000
flows=4096
rate=1000
seconds=60
hold=100000
connections=64
state_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --file-rules) file_rules=$2; shift 2 ;;
    --flows) flows=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --hold) hold=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --state-dir) state_dir=$2; shift 2 ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
  esac
done

bench_build udpsieved udpsievectl bench_make_pcap
bench_workdir rt
[ -n "$state_dir" ] || state_dir=$(mktemp -d /var/tmp/udpsieve-bench-state.XXXXXX)
pcap=$work/flows.pcap
build/bench_make_pcap "$pcap" "$flows"

# File rules that never match the capture: every packet walks the whole file rule set, and
# the runtime rules (sources in 100.64.0.0/16) decide.
write_unmatched_rules "$file_rules" "$work/rules.yaml"
cat >"$work/udpsieved.yaml" <<EOF
eal:
  lcores: [0, 1]
  hugepages: auto
  file_prefix: bench-runtime
ports:
  - name: wan
    device: "net_pcap0,rx_pcap=$pcap,infinite_rx=1"
    forward_to: lan
  - name: lan
    device: "net_null0,no-rx=1"
    forward_to: wan
pipeline:
  default_action: forward
  rules: [rules.yaml, dynamic]
  dynamic_max_rules: $((hold + 10000))
  dynamic_state: $state_dir/dynamic.json
control:
  socket: $work/ctl.sock
logging:
  level: info
EOF

start_udpsieved "$work/udpsieved.yaml" "$work/daemon.log" "$work/ctl.sock"
sleep 1
rx0=$(build/udpsievectl --socket "$work/ctl.sock" stats --field totals.rx_packets)
t0=$(date +%s.%N)
echo "udpsieved: $file_rules file rules, $flows flows replayed at full speed on one worker;" \
  "state file in $state_dir ($(stat -f -c %T "$state_dir"))"

python3 bench/runtime_rules.py --socket "$work/ctl.sock" --rate "$rate" --seconds "$seconds" \
  --connections "$connections" --hold "$hold"

rx1=$(build/udpsievectl --socket "$work/ctl.sock" stats --field totals.rx_packets)
t1=$(date +%s.%N)
awk -v a="$rx0" -v b="$rx1" -v t0="$t0" -v t1="$t1" \
  'BEGIN {printf "traffic during the run: %.2f Mpps on average\n", (b - a) / (t1 - t0) / 1e6}'
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo "daemon peak RSS: $((rss / 1024)) MiB"

kill -TERM "$pid"
wait "$pid" || { echo "udpsieved failed:" >&2; cat "$work/daemon.log" >&2; exit 1; }
pid=""
line=$(grep 'final totals' "$work/daemon.log")
echo "${line#*final totals: }" | tr ' ' '\n' | awk -F= '
  {v[$1] = $2}
  END {
    printf "final totals: rx %d = forwarded %d + dropped %d (%s); drop_rule %d\n",
      v["rx_packets"], v["forwarded_packets"], v["dropped_packets"],
      (v["rx_packets"] == v["forwarded_packets"] + v["dropped_packets"]) ? "exact" : "MISMATCH",
      v["drop_rule"]
    exit (v["rx_packets"] == v["forwarded_packets"] + v["dropped_packets"]) ? 0 : 1
  }'
