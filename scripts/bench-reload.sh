#!/usr/bin/env bash
# Reload time when one rule file of many changes: udpsieved on net_null with FILES rule files
# of PER_FILE rules each (source /24 + destination port, distinct ids), then
#   - three reloads with nothing changed,
#   - CHANGES reloads each changing one file's bytes (a comment appended: parsed again),
#   - the same CHANGES reloads with that file alone in the configuration (what it costs by
#     itself),
# printing each reply's load / compile / swap / total and the median total of each phase.
# With --set V4,V6 the configuration also has a prefix set of V4 IPv4 and V6 IPv6 prefixes
# (scripts/make-set-file.py), and two more phases change the set file instead: CHANGES reloads
# each taking out 1% of its prefixes and adding as many others (the file read and compared, the
# difference applied to the running set), then two reloads each replacing the whole file (every
# prefix different: the set built afresh, which needs hugepages for both tables, 4096 for --set
# 1000000,200000).
#
#   scripts/bench-reload.sh [--files 10] [--per-file 10000] [--changes 5] [--set V4,V6]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

files=10
per_file=10000
changes=5
set_sizes=""
while [ $# -gt 0 ]; do
  case "$1" in
    --files) files=$2; shift 2 ;;
    --per-file) per_file=$2; shift 2 ;;
    --changes) changes=$2; shift 2 ;;
    --set) set_sizes=$2; shift 2 ;;
    *) sed -n '2,14p' "$0" >&2; exit 2 ;;
  esac
done

bench_build udpsieved udpsievectl
bench_workdir reload
mkdir "$work/rd"
for f in $(seq 0 $((files - 1))); do
  awk -v f="$f" -v n="$per_file" 'BEGIN {
    print "rules:"
    for (i = 0; i < n; i++) {
      r = f * n + i
      printf "  - id: f%dr%d\n    match: {src: 10.%d.%d.0/24, dst_port: %d}\n    action: drop\n",
        f, i, int(r / 256) % 256, r % 256, 1000 + r % 50000
    }
  }' >"$work/rd/part$f.yaml"
done
changed="part$((files / 2)).yaml"
sets=""
if [ -n "$set_sizes" ]; then
  python3 scripts/make-set-file.py "$work/set-a.txt" "${set_sizes%,*}" "${set_sizes#*,}" 1
  python3 scripts/make-set-file.py "$work/set-b.txt" "${set_sizes%,*}" "${set_sizes#*,}" 2
  cp "$work/set-a.txt" "$work/set.txt"
  sets="sets: {feed: {file: $work/set.txt}}"
  # A set file read within 2 s of its last change is read again by the next reload too.
  sleep 2
fi

# config FILE-GLOB: a configuration reading those rule files.
config() {
  cat <<YAML
eal: {lcores: [0, 1], hugepages: auto, file_prefix: bench-reload}
ports:
  - {name: wan, device: net_null0, forward_to: lan}
  - {name: lan, device: "net_null1,no-rx=1", forward_to: wan}
$sets
pipeline: {rules: [$1], dynamic_state: dynamic.json}
control: {socket: $work/ctl.sock}
logging: {level: warn}
YAML
}

# churn_set K: the set file without every 100th line (from line K on), and as many lines of
# the second file (its K-th hundredth) instead, renamed into place.
churn_set() {
  local n
  n=$(($(wc -l <"$work/set-a.txt") / 100))
  awk -v k="$1" 'NR % 100 != k' "$work/set.txt" >"$work/set.new"
  awk -v k="$1" -v n="$n" 'NR > (k - 1) * n && NR <= k * n' "$work/set-b.txt" >>"$work/set.new"
  mv "$work/set.new" "$work/set.txt"
}

# reloads PHASE COUNT CHANGE: COUNT reloads, before each appending a comment to the changed
# rule file when CHANGE is 1, changing 1% of the set file when it is 2, replacing the set file
# with the other one when it is 3; prints each reply's timings and the phase's median total.
reloads() {
  local totals=()
  for k in $(seq 1 "$2"); do
    [ "$3" = 1 ] && echo "# change $k" >>"$work/rd/$changed"
    [ "$3" = 2 ] && churn_set "$k"
    if [ "$3" = 3 ]; then
      cp "$work/set-$([ $((k % 2)) = 1 ] && echo b || echo a).txt" "$work/set.new"
      mv "$work/set.new" "$work/set.txt"
    fi
    local line
    line=$(build/udpsievectl --socket "$work/ctl.sock" reload | head -1)
    [ "$3" -ge 2 ] && echo "$1: ${line#*from }" | sed 's/, generation.*//' 
    echo "$1: ${line#*generation }"
    totals+=("$(echo "$line" | sed -n 's/.*total \([0-9.]*\) ms.*/\1/p')")
  done
  printf '%s\n' "${totals[@]}" | sort -g |
    awk -v p="$1" '{a[NR] = $1} END {printf "%s: median total %.1f ms\n", p, (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

config "rd/*.yaml" >"$work/all.yaml"
start_udpsieved "$work/all.yaml" "$work/daemon.log" "$work/ctl.sock"
reloads "nothing changed" 3 0
reloads "one file of $files changed" "$changes" 1
if [ -n "$set_sizes" ]; then
  reloads "1% of the set file changed" "$changes" 2
  reloads "the set file replaced" 2 3
fi
kill -TERM "$pid"
wait "$pid" || true
pid=""

config "rd/$changed" >"$work/one.yaml"
start_udpsieved "$work/one.yaml" "$work/daemon.log" "$work/ctl.sock"
reloads "that file alone" "$changes" 1
