#!/usr/bin/env bash
# End-to-end throughput: udpsieved against dpdk-testpmd (--forward-mode=io and 5tswap) and
# DPDK's l3fwd --lookup acl (built from Debian's dpdk-doc examples by build_l3fwd_acl in
# bench-lib.sh, with the same rules in its format) on the same worker lcore with the same
# virtual devices: net_pcap replaying a capture of 64-byte UDP frames at full speed
# (infinite_rx=1) into net_null. Runs alternate (A B C A B C ...)
# so drift on a noisy machine hits every contender alike; prints each run's median Mpps over
# its per-second samples, then the median over runs and the ratios.
#
#   scripts/bench-e2e.sh [--seconds N] [--rounds N] [--rules N] [--runtime-rules N]
#                        [--flows N] [--v6 PERCENT] [--sequential] [--per-source]
#                        [--set V4,V6] [--workers N] [--shape 5tuple|mixed]
#                        [--talkers] [--talker-sampling N] [--talker-max-rate N]
#                        [--csv FILE]
#
# The capture holds --flows distinct flows (default 65,536), --v6 percent of them IPv6
# (default 10), with random spoofed source addresses and ports (--sequential: sources counting
# up from 100.64.0.0, as the first versions of this benchmark had). Every contender's pool is
# sized for the whole capture (net_pcap infinite_rx copies it into mbufs at start and refuses
# to start when the pool cannot hold it, so a run that starts replays all of it).
# --per-source adds a per-source rate limit that every frame reaches (after the unmatched
# rules): the cost of one bucket per source.
# --set V4,V6 adds a fourth contender: udpsieved with a prefix set of V4 IPv4 and V6 IPv6 prefixes
# (scripts/make-set-file.py: a threat feed's shape) and a rule matching on it that every
# packet reaches and none matches (its destination port is never sent), beside the same
# daemon without them: the cost of the set lookup, run for run.
# --csv FILE appends one line per contender to FILE (a header first when FILE is new):
# contender,rules,shape,flows,v6,workers,mpps (the median), for scripts/plot-bench.py.
# --talkers adds a contender: udpsieved with pipeline.talker_sampling: 0 (no top-talker
# summaries) beside the default one (1 packet in 16 sampled but at most 100,000 samples a
# second, or --talker-sampling N and --talker-max-rate N, 0 for no bound): the summaries'
# cost, run for run.
# --workers N (default 1) runs every contender with N workers (testpmd: N forwarding cores), on
# lcores 1..N (CPUs 1..N where the machine has them; otherwise they share the last CPU, which
# measures nothing but checks the set-up): net_pcap gets N RX queues, each replaying the whole
# capture (every worker sees all the flows, as RSS over many flows gives each a share of the
# same kinds), net_null N TX queues, and the pools room for N captures.
# l3fwd runs with --shape 5tuple only, and not with --per-source or --runtime-rules (its rule
# format has no equivalent): it drops what its ACL rules match and routes the rest to port 1.
# --rules N gives udpsieved N rules that never match (so every packet walks all of them) plus
# the default action: the cost of the rule stage at that size. --shape picks their fields:
# 5tuple (the default: source prefix + destination port) or mixed (the combinations operators
# write, several contexts; write_unmatched_mixed_rules in bench-lib.sh). --runtime-rules N adds N runtime
# rules that never match either (restored from a state file at start): the cost of the second
# lookup, in the runtime rules' own classifier.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

seconds=8
rounds=3
rules=10
runtime_rules=0
flows=65536
v6=10
sources=random
per_source=0
set_sizes=""
workers=1
shape=5tuple
talkers=0
talker_sampling=""
talker_max_rate=""
csv=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --rules) rules=$2; shift 2 ;;
    --runtime-rules) runtime_rules=$2; shift 2 ;;
    --flows) flows=$2; shift 2 ;;
    --v6) v6=$2; shift 2 ;;
    --sequential) sources=sequential; shift ;;
    --per-source) per_source=1; shift ;;
    --set) set_sizes=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --shape) shape=$2; shift 2 ;;
    --talkers) talkers=1; shift ;;
    --talker-sampling) talker_sampling=$2; shift 2 ;;
    --talker-max-rate) talker_max_rate=$2; shift 2 ;;
    --csv) csv=$2; shift 2 ;;
    *) sed -n '10,14p' "$0" >&2; exit 2 ;;
  esac
done
[[ $workers =~ ^[1-9][0-9]?$ ]] || { echo "--workers: 1-99, not '$workers'" >&2; exit 2; }
[[ $shape == 5tuple || $shape == mixed ]] || { echo "--shape: 5tuple or mixed, not '$shape'" >&2; exit 2; }
# Room for every queue's copy of the capture plus the queues: 2^n - 1 mbufs.
mbufs=$(awk -v n=$((workers * flows + workers * 16384)) 'BEGIN {m = 1; while (m <= n) m *= 2; print m - 1}')
# Lcore w on CPU w where the machine has it, else on the last CPU.
cpus=$(nproc)
lcores_yaml="0"
lcores_eal="0"
for w in $(seq 1 "$workers"); do
  if ((w < cpus)); then
    lcores_yaml+=", $w"
    lcores_eal+=",$w"
  else
    lcores_yaml+=", \"$w@$((cpus - 1))\""
    lcores_eal+=",$w@$((cpus - 1))"
  fi
done

scripts/setup.sh >/dev/null
command -v dpdk-testpmd >/dev/null || { echo "dpdk-testpmd missing (apt-get install dpdk-dev)" >&2; exit 1; }
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target udpsieved udpsievectl bench_make_pcap >/dev/null

work=$(mktemp -d /tmp/udpsieve-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
pcap=$work/udp64.pcap
rx_queues=""  # one RX queue per worker, each replaying the whole capture
for _ in $(seq 1 "$workers"); do rx_queues+=",rx_pcap=$pcap"; done
build/bench_make_pcap "$pcap" "$flows" "$v6" "$sources"

# Rules that never match the capture.
if [[ $shape == mixed ]]; then
  write_unmatched_mixed_rules "$rules" "$work/rules.yaml"
else
  write_unmatched_rules "$rules" "$work/rules.yaml"
fi
if ((per_source)); then
  printf '  - id: per-source\n    match: {dst: [198.51.100.53, "2001:db8::53"]}\n    action: {rate_limit: {pps: 100, burst: 100, per_source: 32}}\n' \
    >>"$work/rules.yaml"
fi
write_unmatched_runtime_state "$runtime_rules" "$work/dynamic.json"
l3fwd=""
l3fwd_failure=""
if [[ $shape == 5tuple ]] && ((per_source == 0 && runtime_rules == 0)); then
  l3fwd=$(build_l3fwd_acl)
  write_unmatched_l3fwd_rules "$rules" "$work"
  # Port 0's queues on the worker lcores, port 1 (no RX) polled by the first.
  l3fwd_config=""
  for q in $(seq 0 $((workers - 1))); do l3fwd_config+="(0,$q,$((q + 1))),"; done
  l3fwd_config+="(1,0,1)"
  # l3fwd opens a TX queue per lcore on every port; net_pcap has one per tx_pcap (port 0 sends
  # nothing here: every packet is routed to port 1).
  l3fwd_tx=""
  for _ in $(seq 0 "$workers"); do l3fwd_tx+=",tx_pcap=/dev/null"; done
fi
write_config() {  # write_config FILE RULES [SETS] [PIPELINE KEY LINE]
cat >"$1" <<EOF
eal:
  lcores: [$lcores_yaml]
  hugepages: auto
  mbufs: $mbufs
  file_prefix: bench-udpsieve
ports:
  - name: wan
    device: "net_pcap0${rx_queues},infinite_rx=1"
    forward_to: lan
  - name: lan
    device: "net_null0,no-rx=1"
    forward_to: wan
${3:-}
pipeline:
  default_action: forward
  rules: [$2]
  dynamic_state: dynamic.json
${4:-}
control:
  socket: $work/ctl.sock
  stats_interval_ms: 100
logging:
  level: warn
EOF
}
write_config "$work/udpsieved.yaml" rules.yaml "" \
  "$([ -z "$talker_sampling" ] || echo "  talker_sampling: $talker_sampling")
$([ -z "$talker_max_rate" ] || echo "  talker_max_sample_rate: $talker_max_rate")"
if [ -n "$set_sizes" ]; then
  scripts/make-set-file.py "$work/set.txt" "${set_sizes%,*}" "${set_sizes#*,}" 1
  cp "$work/rules.yaml" "$work/rules-set.yaml"
  printf '  - id: feed\n    match: {src_set: feed, dst_port: 9}\n    action: drop\n' \
    >>"$work/rules-set.yaml"
  write_config "$work/udpsieved-set.yaml" rules-set.yaml "sets: {feed: {file: set.txt}}"
fi
((talkers == 0)) || write_config "$work/udpsieved-quiet.yaml" rules.yaml "" "  talker_sampling: 0"

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print 0} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }

# One udpsieved run: per-second deltas of rx_packets from the control socket.
run_udpsieve() {
  build/udpsieved --config "$work/${1:-udpsieved.yaml}" >"$work/daemon.log" 2>&1 &
  local pid=$! prev="" samples=()
  for _ in $(seq 1 600); do
    build/udpsievectl --socket "$work/ctl.sock" version >/dev/null 2>&1 && break
    sleep 0.1
  done
  sleep 1  # warm-up
  for _ in $(seq 0 "$seconds"); do
    local now rx
    now=$(date +%s.%N)
    rx=$(build/udpsievectl --socket "$work/ctl.sock" stats --field totals.rx_packets)
    if [ -n "$prev" ]; then
      samples+=("$(awk -v a="$rx" -v b="${prev#* }" -v t1="$now" -v t0="${prev% *}" \
        'BEGIN {printf "%.3f", (a - b) / (t1 - t0) / 1e6}')")
    fi
    prev="$now $rx"
    sleep 1
  done
  kill -TERM "$pid"
  wait "$pid" || { echo "udpsieved failed:" >&2; cat "$work/daemon.log" >&2; exit 1; }
  printf '%s\n' "${samples[@]}" | median
}

# One testpmd run in `mode`: its own per-second Rx-pps for port 0.
run_testpmd() {
  local mode=$1
  timeout -s INT $((seconds + 2)) dpdk-testpmd --lcores "$lcores_eal" --file-prefix bench-testpmd \
    --no-pci --huge-unlink --vdev "net_pcap0${rx_queues},infinite_rx=1" --vdev "net_null0,no-rx=1" -- \
    --forward-mode="$mode" --nb-cores="$workers" --rxq="$workers" --txq="$workers" \
    --no-lsc-interrupt --stats-period 1 -a \
    --total-num-mbufs="$mbufs" \
    >"$work/testpmd.log" 2>&1 || true
  # Port 0's Rx-pps lines; drop the first two (start-up).
  awk '/statistics for port 0/ {p=1} /statistics for port 1/ {p=0} p && /Rx-pps/ {print $2}' \
    "$work/testpmd.log" | tail -n +3 | awk '{printf "%.3f\n", $1 / 1e6}' | median
}

# One l3fwd run: port 0's received packets, printed once a second by the main lcore.
run_l3fwd() {
  L3FWD_MBUFS=$mbufs timeout -s INT $((seconds + 3)) "$l3fwd" --lcores "$lcores_eal" \
    --file-prefix bench-l3fwd --no-pci --huge-unlink \
    --vdev "net_pcap0${rx_queues}${l3fwd_tx},infinite_rx=1" --vdev "net_null0,no-rx=1" -- \
    -p 0x3 --config "$l3fwd_config" --lookup acl --parse-ptype \
    --rule_ipv4 "$work/acl4.rules" --rule_ipv6 "$work/acl6.rules" >"$work/l3fwd.log" 2>&1 || true
  if ! grep -q '^bench-rx' "$work/l3fwd.log"; then
    # It cannot take every rule set (its ACL holds at most 100,000 rules, its route included):
    # say why and leave it out of the remaining rounds.
    l3fwd_failure=$(grep -m1 'Cause:' "$work/l3fwd.log" || tail -1 "$work/l3fwd.log")
    echo "l3fwd failed: $l3fwd_failure" >&2
    l3fwd=""
    return
  fi
  # It must really forward what it receives (no rule matches), not drop it.
  awk '/^bench-rx/ {rx = $2; tx = $3} END {exit !(rx > 0 && tx >= 0.99 * rx)}' "$work/l3fwd.log" ||
    { echo "l3fwd did not forward what it received:" >&2; tail -3 "$work/l3fwd.log" >&2; exit 1; }
  # Per-second deltas; drop the first two (start-up).
  awk '/^bench-rx/ {if (n++) printf "%.3f\n", ($2 - prev) / 1e6; prev = $2}' "$work/l3fwd.log" |
    tail -n +3 | median
}

# One run of a contender, its Mpps appended to results[name].
run_contender() {
  case $1 in
    udpsieve) results[udpsieve]+="$(run_udpsieve) " ;;
    io | 5tswap) results[$1]+="$(run_testpmd "$1") " ;;
    l3fwd)
      if [ -n "$l3fwd" ]; then
        run_l3fwd >"$work/l3fwd.result"
        [ -z "$l3fwd" ] || results[l3fwd]+="$(cat "$work/l3fwd.result") "
      fi
      ;;
    set) results[set]+="$(run_udpsieve udpsieved-set.yaml) " ;;
    quiet) results[quiet]+="$(run_udpsieve udpsieved-quiet.yaml) " ;;
  esac
}

declare -A results
contenders=(udpsieve io 5tswap)
[ -z "$l3fwd" ] || contenders+=(l3fwd)
[ -z "$set_sizes" ] || contenders+=(set)
((talkers == 0)) || contenders+=(quiet)
for round in $(seq 1 "$rounds"); do
  # Each round starts one contender further on, so none is always first or last: a run's
  # place in the round biases it by a few percent on a shared machine (an A/A comparison of
  # two identical daemons, first against last, read 0.97).
  for ((k = 0; k < ${#contenders[@]}; k++)); do
    run_contender "${contenders[(k + round - 1) % ${#contenders[@]}]}"
  done
  echo "round $round: udpsieved $(echo "${results[udpsieve]}" | awk '{print $NF}') Mpps," \
    "testpmd io $(echo "${results[io]}" | awk '{print $NF}') Mpps," \
    "testpmd 5tswap $(echo "${results[5tswap]}" | awk '{print $NF}') Mpps" \
    "$([ -z "$l3fwd" ] || echo ", l3fwd acl $(echo "${results[l3fwd]}" | awk '{print $NF}') Mpps")" \
    "$([ -z "$set_sizes" ] || echo ", udpsieved + set $(echo "${results[set]}" | awk '{print $NF}') Mpps")" \
    "$( ((talkers == 0)) || echo ", udpsieved without talkers $(echo "${results[quiet]}" | awk '{print $NF}') Mpps")" >&2
done

u=$(echo "${results[udpsieve]}" | tr ' ' '\n' | grep . | median)
io=$(echo "${results[io]}" | tr ' ' '\n' | grep . | median)
sw=$(echo "${results[5tswap]}" | tr ' ' '\n' | grep . | median)
echo
echo "net_pcap(64-byte UDP, infinite_rx, $flows $sources flows, $v6% IPv6) -> net_null," \
  "$workers worker lcore(s), $rules $shape rule(s)$( ((per_source)) && echo " + a per-source limit")" \
  "+ $runtime_rules runtime rule(s), median of $rounds x ${seconds}s"
printf '%-28s %8s\n' "contender" "Mpps"
printf '%-28s %8.2f\n' "udpsieved" "$u" "dpdk-testpmd io" "$io" "dpdk-testpmd 5tswap" "$sw"
awk -v u="$u" -v io="$io" -v sw="$sw" \
  'BEGIN {printf "ratio udpsieved/io     %.2f\nratio udpsieved/5tswap %.2f\n", u / io, u / sw}'
if [ -n "$l3fwd" ]; then
  l3=$(echo "${results[l3fwd]}" | tr ' ' '\n' | grep . | median)
  printf '%-28s %8.2f\n' "l3fwd --lookup acl" "$l3"
  awk -v u="$u" -v l3="$l3" 'BEGIN {printf "ratio udpsieved/l3fwd-acl %.2f\n", u / l3}'
elif [ -n "$l3fwd_failure" ]; then
  echo "(l3fwd --lookup acl failed: $l3fwd_failure)"
else
  echo "(l3fwd --lookup acl: only with --shape 5tuple, without --per-source and --runtime-rules)"
fi
if [ -n "$set_sizes" ]; then
  st=$(echo "${results[set]}" | tr ' ' '\n' | grep . | median)
  printf '%-28s %8.2f\n' "udpsieved + set ${set_sizes}" "$st"
  awk -v u="$u" -v st="$st" 'BEGIN {printf "ratio with set/without   %.2f\n", st / u}'
fi
if ((talkers)); then
  q=$(echo "${results[quiet]}" | tr ' ' '\n' | grep . | median)
  printf '%-28s %8.2f\n' "udpsieved without talkers" "$q"
  awk -v u="$u" -v q="$q" 'BEGIN {printf "ratio talkers on/off     %.2f\n", u / q}'
  # Run for run, too: the rounds' ratios.
  paste -d' ' <(echo "${results[udpsieve]}" | tr ' ' '\n' | grep .) \
    <(echo "${results[quiet]}" | tr ' ' '\n' | grep .) |
    awk '{printf "%s%.3f", (NR > 1 ? " " : "round ratios on/off     "), $1 / $2} END {print ""}'
fi
if [ -n "$csv" ]; then
  [ -s "$csv" ] || echo "contender,rules,shape,flows,v6,workers,mpps" >"$csv"
  row() { echo "$1,$rules,$shape,$flows,$v6,$workers,$2" >>"$csv"; }
  row udpsieved "$u"
  row testpmd-io "$io"
  row testpmd-5tswap "$sw"
  [ -z "$l3fwd" ] || row l3fwd-acl "$l3"
fi
