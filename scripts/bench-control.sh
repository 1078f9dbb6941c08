#!/usr/bin/env bash
# The control plane with a large rule set (bench/control_plane.py): udpsieved with RULES file
# rules (default 250,000, each a /32 source and a destination port) on net_null, then
#   - stats, the first rules page, rules --top 10, metrics and version: median and max of 20;
#   - udpsievectl rules listing every rule, and how long version waits meanwhile;
#   - resident memory with the set and after replacing it with one rule;
#   - SIGTERM while a reload of the set compiles: time until the process is gone.
#
#   scripts/bench-control.sh [--rules N]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

rules=250000
while [ $# -gt 0 ]; do
  case "$1" in
    --rules) rules=$2; shift 2 ;;
    *) sed -n '2,9p' "$0" >&2; exit 2 ;;
  esac
done

bench_build udpsieved udpsievectl
bench_workdir control

# Distinct sources 11.0.0.0 upwards, ports 1000-5999.
awk -v n="$rules" 'BEGIN {
  print "rules:"
  for (i = 0; i < n; i++) {
    a = 11 * 16777216 + i
    printf "  - {id: r%d, match: {src: %d.%d.%d.%d, dst_port: %d}, action: drop}\n", i,
      int(a / 16777216), int(a / 65536) % 256, int(a / 256) % 256, a % 256, 1000 + i % 5000
  }
}' >"$work/big.yaml"
cp "$work/big.yaml" "$work/rules.yaml"
cat >"$work/udpsieved.yaml" <<YAML
eal: {lcores: [0, 1], hugepages: auto, memory_mb: 1024, file_prefix: bench-control}
ports:
  - {name: wan, device: net_null0, forward_to: wan}
pipeline: {rules: [rules.yaml]}
control: {socket: $work/ctl.sock}
YAML

start_udpsieved "$work/udpsieved.yaml" "$work/daemon.log" "$work/ctl.sock"
grep -o 'udpsieved running.*' "$work/daemon.log" | head -1
/usr/bin/python3 bench/control_plane.py build "$work" "$work/ctl.sock" "$pid" "$rules"

# SIGTERM while the big set compiles again.
cp "$work/big.yaml" "$work/rules.yaml"
kill -HUP "$pid"
until grep -q 'reload (SIGHUP): reading' "$work/daemon.log"; do sleep 0.05; done
sleep 1
start=$(date +%s.%N)
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
end=$(date +%s.%N)
pid=""
awk -v a="$start" -v b="$end" -v s="$status" \
  'BEGIN {printf "SIGTERM 1 s into a reload of the set: exit status %d after %.2f s\n", s, b - a}'
grep -o 'a rule compile is still inside.*' "$work/daemon.log" || true
