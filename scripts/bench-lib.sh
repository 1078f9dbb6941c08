# Shared by the benchmark scripts (sourced, not run).

# bench_build TARGET...: installs what the benchmarks need (scripts/setup.sh) and builds the
# targets (RelWithDebInfo, in build/).
bench_build() {
  scripts/setup.sh >/dev/null
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)" --target "$@" >/dev/null
}

# bench_workdir NAME: a new directory in $work, removed on exit, when the udpsieved started by
# start_udpsieved (its pid in $pid) is stopped too.
bench_workdir() {
  work=$(mktemp -d "/tmp/udpsieve-bench-$1.XXXXXX")
  pid=""
  trap 'bench_cleanup' EXIT
}
bench_cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  rm -rf "$work"
}

# write_unmatched_rules N FILE: a rule file of N drop rules of source prefix + destination port
# whose sources (10.0.0.0/8) lie outside the replayed capture's (100.64.0.0/16), so every packet
# walks all of them and none matches.
write_unmatched_rules() {
  local count=$1 file=$2
  {
    echo "rules:"
    for i in $(seq 0 $((count - 1))); do
      printf '  - id: r%d\n    match: {src: 10.%d.%d.0/24, dst_port: %d}\n    action: drop\n' \
        "$i" $((i / 256 % 256)) $((i % 256)) $((1000 + i % 50000))
    done
  } >"$file"
}

# write_unmatched_runtime_state N FILE: a runtime-rule state file (pipeline.dynamic_state) of N
# source api drop rules for /32 sources in 10.128.0.0/9, which the capture never uses.
write_unmatched_runtime_state() {
  local count=$1 file=$2
  {
    printf '{"format": "udpsieve-dynamic-state", "version": 1, "written_at": 0, "rules": [\n'
    for i in $(seq 0 $((count - 1))); do
      [ "$i" -eq 0 ] || printf ',\n'
      printf '{"rule": {"id": "rt%d", "match": {"src": ["10.%d.%d.%d/32"]}, "action": "drop"}, ' \
        "$i" $((128 + i / 65536 % 128)) $((i / 256 % 256)) $((i % 256))
      printf '"expires_at": null, "added_at": 0}'
    done
    printf '\n]}\n'
  } >"$file"
}

# start_udpsieved CONFIG LOG SOCKET: starts build/udpsieved in the background (its pid in $pid)
# and waits until it answers on SOCKET (up to 2 minutes: a large rule set takes a while).
start_udpsieved() {
  build/udpsieved --config "$1" >"$2" 2>&1 &
  pid=$!
  for _ in $(seq 1 1200); do
    build/udpsievectl --socket "$3" version >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "udpsieved did not answer on $3; its log:" >&2
  cat "$2" >&2
  return 1
}
