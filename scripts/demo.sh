#!/usr/bin/env bash
# A ten-second tour of udpsieve: sets the machine up if needed, builds, starts udpsieved on
# config/demo/ (net_pcap replaying config/demo/traffic.pcap at full speed into net_null),
# prints `udpsievectl stats` every second, then stops the daemon with SIGTERM.
#
#   scripts/demo.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}

scripts/setup.sh
if [ ! -x build/udpsieved ] || [ ! -x build/udpsievectl ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build build -j"$(nproc)" --target udpsieved udpsievectl >/dev/null

run=$(mktemp -d /tmp/udpsieve-demo.XXXXXX)
socket=$run/control.sock
log=$run/udpsieved.log
build/udpsieved --config config/demo/udpsieved.yaml --socket "$socket" \
  --file-prefix "udpsieve-demo-$$" >"$log" 2>&1 &
pid=$!
cleanup() {
  if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  rm -rf "$run"
}
trap cleanup EXIT

for _ in $(seq 1 300); do
  build/udpsievectl --socket "$socket" version >/dev/null 2>&1 && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "udpsieved exited during start-up:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
cat "$log"
echo

for i in $(seq 1 "$seconds"); do
  sleep 1
  printf '=== %ds ===========================================================\n' "$i"
  build/udpsievectl --socket "$socket" stats
done

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
echo
echo "udpsieved stopped (exit status $status):"
tail -n 3 "$log"
exit "$status"
