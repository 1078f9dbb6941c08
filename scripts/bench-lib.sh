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

# write_unmatched_mixed_rules N FILE: N drop rules cycling through the field combinations
# operators write (source prefix + destination port, destination port + length, destination +
# source port range, destination port + payload bytes, IPv6 source prefix + destination port,
# source prefix + destination port + length), distinct (none shadows another up to about
# 16,000 rules), each missing the replayed capture (64-byte frames
# from ports 1024 and up to 198.51.100.53 / 2001:db8::53 port 53 or 123, zero payload) by one
# field, so every packet is classified against all of them, in several contexts, and none
# matches.
write_unmatched_mixed_rules() {
  local count=$1 file=$2 i match
  {
    echo "rules:"
    for i in $(seq 0 $((count - 1))); do
      case $((i % 6)) in
        0) match=$(printf '{src: 10.%d.%d.0/24, dst_port: %d}' $((i / 256 % 256)) $((i % 256)) $((1000 + i % 50000))) ;;
        1) match=$(printf '{dst_port: %d, length: %d}' $((i / 6 % 2 ? 123 : 53)) $((100 + i / 12 % 1400))) ;;
        2) match=$(printf '{dst: 198.51.100.53, dst_port: %d, src_port: %d}' $((i / 6 % 2 ? 123 : 53)) $((1 + i / 12 % 1023))) ;;
        3) match=$(printf '{dst_port: 123, payload: {offset: 0, value: "ff%06x"}}' "$i") ;;
        4) match=$(printf '{src: "2001:db8:%x::/48", dst_port: %d}' $((i % 65536)) $((2000 + i % 1000))) ;;
        5) match=$(printf '{src: 10.%d.%d.0/24, dst_port: 53, length: 900-999}' $((i / 6 / 256 % 256)) $((i / 6 % 256))) ;;
      esac
      printf '  - id: m%d\n    match: %s\n    action: drop\n' "$i" "$match"
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
