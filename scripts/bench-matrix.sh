#!/usr/bin/env bash
# Mpps against rule count for every contender of scripts/bench-e2e.sh (udpsieved, testpmd io
# and 5tswap, l3fwd --lookup acl), at each rule count (default 0 1000 10000 100000) and each
# number of flows (default 4096 65536), into one CSV; then scripts/plot-bench.py draws it.
#
#   scripts/bench-matrix.sh CSV [--rules "0 1000 ..."] [--flows "4096 ..."] [--rounds N]
#                               [--seconds N] [--shape 5tuple|mixed]
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n '6,7p' "$0" >&2; exit 2; }
csv=$1
shift
rule_counts="0 1000 10000 100000"
flow_counts="4096 65536"
rounds=3
seconds=5
shape=5tuple
while [ $# -gt 0 ]; do
  case "$1" in
    --rules) rule_counts=$2; shift 2 ;;
    --flows) flow_counts=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --shape) shape=$2; shift 2 ;;
    *) sed -n '6,7p' "$0" >&2; exit 2 ;;
  esac
done
for flows in $flow_counts; do
  for rules in $rule_counts; do
    echo "== $rules rules, $flows flows" >&2
    scripts/bench-e2e.sh --rules "$rules" --flows "$flows" --rounds "$rounds" \
      --seconds "$seconds" --shape "$shape" --csv "$csv" | tail -n +2 >&2 ||
      echo "== failed: $rules rules, $flows flows (the points measured stay in $csv)" >&2
  done
done
