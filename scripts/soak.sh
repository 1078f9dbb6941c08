#!/usr/bin/env bash
# Soak: run udpsieved for SECONDS (default 600) with full-speed traffic (net_pcap replaying
# config/demo/traffic.pcap forever into net_null), a reload every second (alternating SIGHUP
# and `udpsievectl reload` between two valid rule sets, and every seventh an invalid file that
# must be refused), and several clients polling stats all the time. It fails when:
#   - the daemon dies, or a reload is not applied/refused as expected;
#   - any stats reply breaks rx_packets == forwarded_packets + dropped_packets;
#   - the daemon's RSS at the end exceeds its RSS after warm-up by more than SOAK_RSS_SLACK_KB
#     (default 8192 kB): warm-up is the first fifth of the run (at least 10 s), by when the
#     pools, the rule tables and the allocator's arenas have reached their working size;
#   - mbufs leak: the mempools' in_use count (lowest of the last samples) exceeds its value
#     right after start (lowest of the first samples) by more than the mbufs a worker may hold
#     in flight (a burst per port plus the RX burst: 32 x 4), since traffic never pauses;
#   - the final totals do not add up exactly (rx == forwarded + dropped == port rx) or the
#     daemon does not exit 0 on SIGTERM.
#
# Usage: scripts/soak.sh [SECONDS]
# Environment: UDPSIEVE_BUILD_DIR (default: build/) holds udpsieved and udpsievectl;
#              UDPSIEVE_KEEP_TMP=1 keeps the work directory; SOAK_CLIENTS (default 4).
# Needs root (DPDK). Exit 0 pass, 1 fail, 77 skipped (not root, outside CI).
set -euo pipefail

DURATION=${1:-600}
case "$DURATION" in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
(( DURATION >= 10 )) || { echo "soak: SECONDS must be at least 10" >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${UDPSIEVE_BUILD_DIR:-$ROOT/build}
DAEMON=$BUILD/udpsieved
CTL=$BUILD/udpsievectl
CLIENTS=${SOAK_CLIENTS:-4}
RSS_SLACK_KB=${SOAK_RSS_SLACK_KB:-8192}
IN_FLIGHT=128

if [[ $(id -u) -ne 0 ]]; then
  if [[ -n "${UDPSIEVE_CI:-}" && "${UDPSIEVE_CI}" != 0 ]]; then
    echo "soak: needs root for DPDK, and CI must not skip" >&2
    exit 1
  fi
  echo "soak: skipped: needs root for DPDK (runs in CI, which is root)"
  exit 77
fi
for binary in "$DAEMON" "$CTL"; do
  [[ -x $binary ]] || { echo "soak: $binary not built (set UDPSIEVE_BUILD_DIR)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/udpsieve-soak-XXXXXX)
PREFIX=soak_$$
DAEMON_PID=
POLLER_PIDS=()
cleanup() {
  local pid
  for pid in "${POLLER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -9 "$DAEMON_PID" || true
  fi
  rm -rf "/var/run/dpdk/$PREFIX"
  if [[ -z "${UDPSIEVE_KEEP_TMP:-}" ]]; then rm -rf "$WORK"; else echo "soak: kept $WORK"; fi
}
trap cleanup EXIT

FAILURES=0
fail() {
  echo "soak: FAIL: $*" >&2
  FAILURES=$((FAILURES + 1))
}

cp "$ROOT/config/demo/traffic.pcap" "$WORK/traffic.pcap"
cp "$ROOT/config/demo/rules.yaml" "$WORK/rules-a.yaml"
cat > "$WORK/rules-b.yaml" <<'EOF'
# The second valid rule set: other ids and actions, so each reload really changes the table.
rules:
  - id: drop-reflection-sources
    match: {src_port: [123, 1900, 11211]}
    action: drop
  - id: dns-limit
    match: {dst_port: 53}
    action: {rate_limit: {pps: 1000000, burst: 10000}}
  - id: drop-quic-initial-probe
    match:
      dst_port: 443
      payload: {offset: 0, value: "c0", mask: "f0"}
    action: drop
EOF
cat > "$WORK/rules-bad.yaml" <<'EOF'
rules:
  - id: broken
    match: {dst_port: 70000}
    action: drop
EOF
cp "$WORK/rules-a.yaml" "$WORK/rules.yaml"
cat > "$WORK/config.yaml" <<EOF
eal:
  lcores: [0, 1]
  hugepages: auto
  memory_mb: 512
  file_prefix: $PREFIX
ports:
  - name: wan
    device: "net_pcap0,rx_pcap=traffic.pcap,infinite_rx=1"
    forward_to: lan
  - name: lan
    device: "net_null0,no-rx=1"
    forward_to: wan
pipeline:
  default_action: forward
  non_udp: forward
  rules: [rules.yaml]
control:
  socket: ctl.sock
  stats_interval_ms: 100
EOF
SOCKET=$WORK/ctl.sock
LOG=$WORK/daemon.log

ctl() { "$CTL" --socket "$SOCKET" "$@"; }
# Puts a rule file in place atomically, so a reload never reads half a file.
use_rules() {
  cp "$WORK/$1" "$WORK/rules.yaml.new" && mv "$WORK/rules.yaml.new" "$WORK/rules.yaml"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON_PID/status" 2>/dev/null || echo 0; }
# The sum of every mempool's in_use, from one stats reply.
mbufs_in_use() {
  ctl stats --json | grep -o '"in_use":[0-9]*' | awk -F: '{s += $2} END {print s + 0}'
}
# Lowest of 10 in_use samples: the worker's in-flight mbufs vary from one to the next.
min_in_use() {
  local lowest='' value i
  for i in $(seq 10); do
    value=$(mbufs_in_use)
    if [[ -z $lowest || $value -lt $lowest ]]; then lowest=$value; fi
    sleep 0.05
  done
  echo "$lowest"
}

echo "soak: $DURATION s, work dir $WORK, binaries from $BUILD"
"$DAEMON" --config "$WORK/config.yaml" --socket "$SOCKET" > "$LOG" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 600); do
  if ctl version > /dev/null 2>&1; then break; fi
  if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
    cat "$LOG" >&2
    echo "soak: FAIL: daemon exited at start" >&2
    exit 1
  fi
  sleep 0.1
done
ctl version > /dev/null || { cat "$LOG" >&2; echo "soak: FAIL: daemon never answered" >&2; exit 1; }
MBUFS_START=$(min_in_use)

# Stats pollers: every reply must add up. Each writes "replies bad" to its file once the stop
# file appears. (Not on a TERM trap: bash 5.2 can fail to parse a trap's command that runs
# while it is inside a command substitution, "unexpected EOF while looking for matching `)'",
# and that poller then never stops.)
poller() {
  local out=$1 replies=0 bad=0 reply totals rx fwd drop
  set +e
  while [[ ! -e $WORK/stop ]]; do
    if reply=$(ctl stats --json 2>/dev/null); then
      replies=$((replies + 1))
      # The totals object (its only nested object is drops), without drops.
      totals=$(grep -oE '"totals":\{([^{}]|\{[^{}]*\})*\}' <<< "$reply" |
               sed 's/"drops":{[^}]*}//')
      rx=$(grep -oE '"rx_packets":[0-9]+' <<< "$totals" | cut -d: -f2)
      fwd=$(grep -oE '"forwarded_packets":[0-9]+' <<< "$totals" | cut -d: -f2)
      drop=$(grep -oE '"dropped_packets":[0-9]+' <<< "$totals" | cut -d: -f2)
      if [[ -z $rx || -z $fwd || -z $drop || $rx -ne $((fwd + drop)) ]]; then
        bad=$((bad + 1))
        echo "soak: inconsistent stats reply: $totals" >&2
      fi
    elif ! kill -0 "$DAEMON_PID" 2>/dev/null; then
      break
    fi
  done
  echo "$replies $bad" > "$out"
}
for i in $(seq "$CLIENTS"); do
  poller "$WORK/poller-$i" &
  POLLER_PIDS+=($!)
done

WARMUP=$(( DURATION / 5 > 10 ? DURATION / 5 : 10 ))
RSS_WARM=
RSS_START=$(rss_kb)
valid_cli=0 valid_hup=0 refused=0 applied_expected=0
echo "second rss_kb reloads" > "$WORK/rss.txt"
START=$SECONDS
for (( second = 1; second <= DURATION; second++ )); do
  # One reload per second, on the second.
  while (( SECONDS - START < second )); do sleep 0.05; done
  if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
    fail "the daemon died after $second s"
    tail -n 30 "$LOG" >&2
    exit 1
  fi
  if (( second % 7 == 0 )); then
    use_rules rules-bad.yaml
    if out=$(ctl reload 2>&1); then
      fail "an invalid rule file was applied: $out"
    elif [[ $out != *"rules.yaml:"* ]]; then
      fail "an invalid rule file was refused without its location: $out"
    else
      refused=$((refused + 1))
    fi
  else
    if (( second % 2 == 0 )); then use_rules rules-a.yaml; else use_rules rules-b.yaml; fi
    applied_expected=$((applied_expected + 1))
    if (( second % 3 == 0 )); then
      # SIGHUP: wait until the daemon reports it applied (a condition, not a delay).
      kill -HUP "$DAEMON_PID"
      for _ in $(seq 600); do
        (( $(ctl rules --field reload.applied 2>/dev/null || echo 0) >= applied_expected )) && break
        sleep 0.05
      done
      valid_hup=$((valid_hup + 1))
    elif out=$(ctl reload 2>&1); then
      valid_cli=$((valid_cli + 1))
    else
      fail "a valid reload was refused: $out"
    fi
  fi
  rss=$(rss_kb)
  echo "$second $rss $((valid_cli + valid_hup + refused))" >> "$WORK/rss.txt"
  if (( second == WARMUP )); then RSS_WARM=$rss; fi
done
RSS_END=$(rss_kb)
MBUFS_END=$(min_in_use)
applied=$(ctl rules --field reload.applied)
refused_daemon=$(ctl rules --field reload.refused)

touch "$WORK/stop"
for pid in "${POLLER_PIDS[@]}"; do wait "$pid" || true; done
POLLER_PIDS=()
replies=0 bad=0
for i in $(seq "$CLIENTS"); do
  read -r r b < "$WORK/poller-$i" || { r=0; b=1; fail "poller $i left no result"; }
  replies=$((replies + r)) bad=$((bad + b))
done

kill -TERM "$DAEMON_PID"
status=0
wait "$DAEMON_PID" || status=$?
DAEMON_PID=
final=$(grep -o 'final totals: .*' "$LOG" | tail -1 || true)
total() { grep -o " $1=[0-9]*" <<< " ${final#final totals: }" | cut -d= -f2; }
rx=$(total rx_packets) fwd=$(total forwarded_packets) dropped=$(total dropped_packets)
port_rx=$(total port_rx_packets)

echo "soak: packets rx $rx, forwarded $fwd, dropped $dropped (port rx $port_rx)"
echo "soak: reloads applied $applied (expected $applied_expected: $valid_cli by udpsievectl," \
  "$valid_hup by SIGHUP), refused $refused_daemon (expected $refused)"
echo "soak: stats replies $replies from $CLIENTS clients, $bad inconsistent"
echo "soak: RSS start ${RSS_START} kB, after warm-up (${WARMUP} s) ${RSS_WARM:-?} kB," \
  "end ${RSS_END} kB"
echo "soak: mbufs in use: start $MBUFS_START, end $MBUFS_END"

[[ $status -eq 0 ]] || fail "udpsieved exited $status"
[[ -n $final ]] || fail "no final totals line"
if [[ -n $rx && -n $fwd && -n $dropped ]]; then
  (( rx == fwd + dropped )) || fail "final totals: rx $rx != forwarded $fwd + dropped $dropped"
  [[ $rx == "$port_rx" ]] || fail "final totals: rx $rx != port rx $port_rx"
  (( rx > 0 )) || fail "no traffic"
fi
[[ $applied == "$applied_expected" ]] || fail "reloads applied $applied, expected $applied_expected"
[[ $refused_daemon == "$refused" ]] || fail "reloads refused $refused_daemon, expected $refused"
(( refused > 0 )) || fail "no invalid reload was tried"
(( replies > 0 && bad == 0 )) || fail "$bad of $replies stats replies did not add up"
if [[ -n $RSS_WARM ]] && (( RSS_END > RSS_WARM + RSS_SLACK_KB )); then
  fail "RSS grew from $RSS_WARM kB after warm-up to $RSS_END kB (more than $RSS_SLACK_KB kB)"
fi
(( MBUFS_END <= MBUFS_START + IN_FLIGHT )) ||
  fail "mbufs leaked: $MBUFS_START in use at start, $MBUFS_END at the end"
if grep -qiE 'segmentation|abort|terminate called|did not stop' "$LOG"; then
  fail "the log reports a crash or a stuck worker"
fi

if (( FAILURES > 0 )); then
  echo "soak: $FAILURES failure(s); last log lines:" >&2
  tail -n 30 "$LOG" >&2
  exit 1
fi
echo "soak: PASS"
