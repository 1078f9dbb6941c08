#!/usr/bin/env bash
# How fast FlowSpec changes reach the rules (bench/flowspec_rate.py): udpsieve-flowspec on a
# pipe, fed ExaBGP 4.2's JSON lines as fast as it reads them, in front of udpsieved (net_null,
# one worker). For each ROUTES count: announce that many /32 discard routes (one update each),
# time until every rule is in effect; then withdraw them all, time until none is left. Prints
# routes/s and how many rule-syncs and builds the daemon needed (the feeder sends the whole set
# per sync, so updates arriving during a sync coalesce into the next). No BGP session: what is
# measured is the feeder and the daemon; tests/bgp/fleet.sh measures the sessions' share.
#
#   scripts/bench-flowspec.sh [--routes "100 1000 10000"]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

counts="100 1000 10000"
while [ $# -gt 0 ]; do
  case "$1" in
    --routes) counts=$2; shift 2 ;;
    *) sed -n '2,10p' "$0" >&2; exit 2 ;;
  esac
done

bench_build udpsieved udpsievectl udpsieve-flowspec
bench_workdir flowspec

printf '| routes | announced → all in effect | routes/s | syncs | builds | withdrawn → none left | routes/s |\n'
printf '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
for n in $counts; do
  cat >"$work/udpsieved.yaml" <<YAML
eal: {lcores: [0, 1], hugepages: auto, memory_mb: 512, file_prefix: bench_fs$$}
ports:
  - {name: wan, device: net_null0, forward_to: wan}
pipeline: {rules: [dynamic], dynamic_max_rules: $((n + 10))}
control: {socket: $work/ctl.sock}
YAML
  start_udpsieved "$work/udpsieved.yaml" "$work/udpsieved.log" "$work/ctl.sock"
  python3 bench/flowspec_rate.py build/udpsieve-flowspec "$work/ctl.sock" "$n" "$work/feeder.log"
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
done
