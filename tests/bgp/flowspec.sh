#!/usr/bin/env bash
# BGP FlowSpec end to end (ctest: bgp_flowspec): gobgpd in a network namespace plays the route
# reflector / detector; ExaBGP on the host peers with it and runs udpsieve-flowspec, which
# feeds a udpsieved (net_null). Checks, with real BGP sessions:
#   - an IPv4 flow route announced with `gobgp ... then discard` becomes a bgp drop rule, and
#     one with `then rate-limit N` a rate limit; how long each took is printed;
#   - an IPv6 flow route likewise;
#   - withdrawing a route removes its rule;
#   - stopping gobgpd (the session goes down) removes every bgp rule.
# Needs root (namespaces), gobgpd and exabgp (scripts/setup.sh); outside CI it skips (77)
# without them.
#
#   tests/bgp/flowspec.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
say() { printf 'bgp-flowspec: %s\n' "$*"; }
skip() { say "SKIP: $*"; exit 77; }
fail() { say "FAIL: $*"; FAILED=1; }
FAILED=0
in_ci() { [[ -n ${UDPSIEVE_CI:-} && ${UDPSIEVE_CI} != 0 ]]; }

if [[ $(id -u) -ne 0 ]]; then in_ci && { say "FAIL: CI must run as root"; exit 1; }; skip "needs root"; fi
for tool in gobgpd gobgp exabgp ip; do
  command -v "$tool" >/dev/null || { in_ci && { say "FAIL: $tool missing"; exit 1; }; skip "$tool missing"; }
done

work=$(mktemp -d /tmp/udpsieve-bgp.XXXXXX)
ns=usbgp$$
host_if=usb$$a
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  sleep 0.3
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
  ip link del "$host_if" 2>/dev/null
  if ((FAILED)); then
    for log in "$work"/*.log; do say "--- $log"; tail -n 40 "$log"; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The reflector's namespace and a veth to it: host 10.98.0.1, reflector 10.98.0.2.
ip netns add "$ns"
ip link add "$host_if" type veth peer name eth0 netns "$ns"
ip addr add 10.98.0.1/24 dev "$host_if"
ip link set "$host_if" up
ip -n "$ns" addr add 10.98.0.2/24 dev eth0
ip -n "$ns" link set eth0 up
ip -n "$ns" link set lo up

cat >"$work/gobgpd.toml" <<TOML
[global.config]
  as = 65000
  router-id = "10.98.0.2"
  local-address-list = ["10.98.0.2"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.98.0.1"
    peer-as = 65000
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-flowspec"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-flowspec"
TOML
ip netns exec "$ns" gobgpd -f "$work/gobgpd.toml" -l warn >"$work/gobgpd.log" 2>&1 &
gobgpd_pid=$!
pids+=("$gobgpd_pid")
rr() { ip netns exec "$ns" gobgp "$@"; }

# udpsieved: the bgp rules sit at `dynamic`, after one file rule.
cat >"$work/rules.yaml" <<'YAML'
rules:
  - {id: allow-ntp, match: {src_port: 123}, action: forward}
YAML
cat >"$work/udpsieved.yaml" <<YAML
eal: {lcores: [0, 1], hugepages: auto, memory_mb: 256, file_prefix: bgp$$}
ports:
  - {name: wan, device: net_null0, forward_to: wan}
pipeline: {rules: [rules.yaml, dynamic], dynamic_state: $work/dynamic.json}
control: {socket: $work/ctl.sock}
YAML
"$build/udpsieved" --config "$work/udpsieved.yaml" >"$work/udpsieved.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 300); do "$build/udpsievectl" --socket "$work/ctl.sock" version >/dev/null 2>&1 && break; sleep 0.1; done

cat >"$work/exabgp.conf" <<CONF
process udpsieve {
    run $build/udpsieve-flowspec --socket $work/ctl.sock;
    encoder json;
}
neighbor 10.98.0.2 {
    router-id 10.98.0.1;
    local-address 10.98.0.1;
    local-as 65000;
    peer-as 65000;
    family { ipv4 flow; ipv6 flow; }
    api {
        processes [ udpsieve ];
        receive { parsed; update; }
        neighbor-changes;
    }
}
CONF
(cd "$work" && exec env exabgp.daemon.user=root exabgp.log.level=INFO exabgp.tcp.bind=10.98.0.1 \
  exabgp.api.cli=false exabgp "$work/exabgp.conf") >"$work/exabgp.log" 2>&1 &
pids+=("$!")

established=0
for _ in $(seq 1 300); do
  if rr neighbor 2>/dev/null | grep -q Establ; then established=1; break; fi
  sleep 0.1
done
((established)) || { fail "the BGP session never came up"; exit 1; }
say "BGP session established"

# The bgp rules as "match action" lines, sorted.
bgp_rules() {
  "$build/udpsievectl" --socket "$work/ctl.sock" rules --source bgp --json |
    python3 -c 'import json,sys
for r in json.load(sys.stdin)["rules"]:
    print(json.dumps(r["match"], sort_keys=True), json.dumps(r["action"], sort_keys=True))'
}
# Waits until bgp_rules equals $1 (lines); prints how long it took.
wait_rules() {
  local want=$1 what=$2 start got
  start=$(date +%s.%N)
  for _ in $(seq 1 300); do
    got=$(bgp_rules)
    if [[ $got == "$want" ]]; then
      say "$what: in effect after $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}') s"
      return 0
    fi
    sleep 0.05
  done
  fail "$what: expected
$want
got
$got"
  return 1
}

rr global rib -a ipv4-flowspec add match destination 192.0.2.0/24 protocol udp \
  destination-port '==53' packet-length '>=512' then discard
wait_rules '{"dst": ["192.0.2.0/24"], "dst_port": ["53"], "length": ["512-65535"]} "drop"' \
  "IPv4 discard route"

rr global rib -a ipv4-flowspec add match destination 198.51.100.7/32 then rate-limit 125000
wait_rules '{"dst": ["192.0.2.0/24"], "dst_port": ["53"], "length": ["512-65535"]} "drop"
{"dst": ["198.51.100.7/32"]} "rate_limit:1000000bps/194304B"' \
  "IPv4 rate-limit route"

rr global rib -a ipv4-flowspec del match destination 192.0.2.0/24 protocol udp \
  destination-port '==53' packet-length '>=512'
wait_rules '{"dst": ["198.51.100.7/32"]} "rate_limit:1000000bps/194304B"' \
  "withdraw"

rr global rib -a ipv6-flowspec add match destination 2001:db8::/32 protocol udp then discard
wait_rules '{"dst": ["198.51.100.7/32"]} "rate_limit:1000000bps/194304B"
{"dst": ["2001:db8::/32"]} "drop"' "IPv6 discard route"

kill "$gobgpd_pid"
wait_rules "" "the session going down"

((FAILED)) && exit 1
say "PASS"
