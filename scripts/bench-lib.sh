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

# write_unmatched_l3fwd_rules N DIR: the rules of write_unmatched_rules N in the rule format of
# DPDK's l3fwd --lookup acl (ClassBench-like: '@' lines are ACL rules, whose matches are dropped;
# 'R' lines route), with a default route of every UDP packet to port 1: DIR/acl4.rules and
# DIR/acl6.rules.
write_unmatched_l3fwd_rules() {
  local count=$1 dir=$2 i
  {
    for i in $(seq 0 $((count - 1))); do
      printf '@10.%d.%d.0/24 0.0.0.0/0 0 : 65535 %d : %d 0x11/0xff\n' \
        $((i / 256 % 256)) $((i % 256)) $((1000 + i % 50000)) $((1000 + i % 50000))
    done
    echo 'R0.0.0.0/0 0.0.0.0/0 0 : 65535 0 : 65535 0x11/0xff 1'
  } >"$dir/acl4.rules"
  echo 'R0:0:0:0:0:0:0:0/0 0:0:0:0:0:0:0:0/0 0 : 65535 0 : 65535 0x11/0xff 1' >"$dir/acl6.rules"
}

# build_l3fwd_acl: DPDK's l3fwd example (Debian's dpdk-doc, /usr/share/dpdk/examples) built once
# into build/bench-l3fwd, changed in three places for virtual devices: no RX checksum offload
# (net_pcap has none, and l3fwd asks for it unconditionally), the pool size from $L3FWD_MBUFS
# (net_pcap infinite_rx holds the whole capture), and the main lcore printing port 0's received
# and port 1's sent packets once a second ("bench-rx RX TX") while the worker lcores forward.
# Prints the binary's path.
build_l3fwd_acl() {
  local src=/usr/share/dpdk/examples out=build/bench-l3fwd
  if [ ! -x "$out/l3fwd/build/l3fwd" ]; then
    [ -d "$src/l3fwd" ] || { echo "DPDK's examples missing (apt-get install dpdk-doc)" >&2; return 1; }
    rm -rf "$out"
    mkdir -p "$out"
    cp -r "$src/l3fwd" "$src/common" "$out/"
    sed -i 's/\.offloads = RTE_ETH_RX_OFFLOAD_CHECKSUM,//' "$out/l3fwd/main.c"
    sed -i '1i #include <unistd.h>' "$out/l3fwd/main.c"
    sed -i 's/(unsigned)8192)/(unsigned)(getenv("L3FWD_MBUFS") ? atoi(getenv("L3FWD_MBUFS")) : 8192))/' \
      "$out/l3fwd/main.c"
    sed -i 's/^\trte_eal_mp_remote_launch(l3fwd_lkp.main_loop, NULL, CALL_MAIN);$/&\n\twhile (!force_quit) { struct rte_eth_stats bench_in, bench_out; sleep(1); if (rte_eth_stats_get(0, \&bench_in) == 0 \&\& rte_eth_stats_get(1, \&bench_out) == 0) { printf("bench-rx %" PRIu64 " %" PRIu64 "\\n", bench_in.ipackets, bench_out.opackets); fflush(stdout); } }/' \
      "$out/l3fwd/main.c"
    grep -q 'bench-rx' "$out/l3fwd/main.c" && grep -q 'L3FWD_MBUFS' "$out/l3fwd/main.c" &&
      ! grep -q 'offloads = RTE_ETH_RX_OFFLOAD_CHECKSUM' "$out/l3fwd/main.c" ||
      { echo "l3fwd's source changed: the bench's edits no longer apply" >&2; return 1; }
    make -C "$out/l3fwd" -j"$(nproc)" >"$out/build.log" 2>&1 ||
      { echo "building l3fwd failed: $out/build.log" >&2; return 1; }
  fi
  echo "$out/l3fwd/build/l3fwd"
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
