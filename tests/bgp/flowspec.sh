#!/usr/bin/env bash
# BGP FlowSpec end to end (ctest: bgp_flowspec): gobgpd in a network namespace plays the route
# reflector / detector; ExaBGP on the host peers with it and runs udpsieve-flowspec, which
# feeds a udpsieved that forwards kernel UDP between the two namespaces of the netns lab
# (scripts/netns-lab.sh). Checks, with real BGP sessions and real traffic:
#   - an IPv4 flow route announced with `gobgp ... then discard` becomes a bgp drop rule: the
#     datagrams it matches stop reaching the server, the others still do, and the rule counts
#     exactly what it dropped;
#   - one with `then rate-limit N` limits: what passes plus what was limited is what was sent,
#     and far less than was sent passes;
#   - an IPv6 flow route likewise drops IPv6 datagrams;
#   - killing the feeder (ExaBGP starts it again; it asks the peer for the routes again) brings
#     back the same rules with their counters, which go on counting;
#   - withdrawing a route removes its rule and lets its traffic through again;
#   - FastNetMon's ban and unban through config/fastnetmon/notify-flowspec.sh (called as
#     FastNetMon calls it) announce and withdraw a discard route for the attacked address;
#   - stopping gobgpd (the session goes down) removes every bgp rule.
# How long each announcement took to be in effect is printed. Needs root (namespaces), gobgpd
# and exabgp (scripts/setup.sh); outside CI it skips (77) without them.
#
#   tests/bgp/flowspec.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
TEST_NAME=bgp-flowspec
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/../lib.sh"
need_root
need_tools gobgpd gobgp exabgp ip ethtool python3

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/udpsieve-bgp.XXXXXX)
ns=usbgp$$
host_if=usb$$a
lab=fs$$
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  pkill -f "udpsieve-flowspec --socket $work/" 2>/dev/null
  sleep 0.3
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
  ip link del "$host_if" 2>/dev/null
  "$here/../../scripts/netns-lab.sh" down "$lab" >/dev/null 2>&1
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

# The lab: client 10.77.0.1 / fd00:77::1 and server 10.77.0.2 / fd00:77::2 in namespaces of
# their own, udpsieved between them on the host ends of the veths.
"$here/../../scripts/netns-lab.sh" up "$lab" >"$work/lab.log" 2>&1 || { fail "netns lab"; exit 1; }

# udpsieved: the bgp rules sit at `dynamic`, after one file rule.
cat >"$work/rules.yaml" <<'YAML'
rules:
  - {id: allow-ntp, match: {src_port: 123}, action: forward}
YAML
cat >"$work/udpsieved.yaml" <<YAML
eal: {lcores: [0, 1], hugepages: auto, memory_mb: 256, file_prefix: bgp$$}
ports:
  - {name: client, device: "net_af_packet0,iface=$lab-hc", forward_to: server}
  - {name: server, device: "net_af_packet1,iface=$lab-hs", forward_to: client}
pipeline: {rules: [rules.yaml, dynamic], non_udp: drop}
control: {socket: $work/ctl.sock, stats_interval_ms: 10}
YAML
"$build/udpsieved" --config "$work/udpsieved.yaml" >"$work/udpsieved.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 300); do "$build/udpsievectl" --socket "$work/ctl.sock" version >/dev/null 2>&1 && break; sleep 0.1; done

# udp FAMILY PORT COUNT SIZE: COUNT datagrams of SIZE bytes from the client to the server's
# PORT (FAMILY 4 or 6), one every millisecond; prints how many the server received.
udp() {
  local family=$1 port=$2 count=$3 size=$4 server=10.77.0.2
  [[ $family == 6 ]] && server=fd00:77::2
  rm -f "$work/ready"
  ip netns exec "$lab-server" python3 -c '
import socket, sys
family = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind((sys.argv[2], int(sys.argv[3])))
open(sys.argv[4], "w").close()
s.settimeout(1.0)
got = 0
try:
    while True:
        s.recv(65535)
        got += 1
except socket.timeout:
    pass
print(got)' "$family" "$server" "$port" "$work/ready" >"$work/received" &
  local receiver=$!
  for _ in $(seq 1 100); do [[ -e $work/ready ]] && break; sleep 0.02; done
  ip netns exec "$lab-client" python3 -c '
import socket, sys, time
family = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
payload = b"x" * int(sys.argv[4])
for _ in range(int(sys.argv[3])):
    s.sendto(payload, (sys.argv[2], int(sys.argv[5])))
    time.sleep(0.001)' "$family" "$server" "$count" "$size" "$port"
  wait "$receiver"
  cat "$work/received"
}

# The counters of the bgp rule whose match has dst $1 (and dst_port $2): "packets passed limited
# added_at".
rule_counts() {
  "$build/udpsievectl" --socket "$work/ctl.sock" rules --source bgp --json |
    python3 -c 'import json,sys
for r in json.load(sys.stdin)["rules"]:
    if r["match"].get("dst") == [sys.argv[1]] and r["match"].get("dst_port") == [sys.argv[2]]:
        print(r["packets"], r.get("passed", "-"), r.get("limited", "-"), r["added_at"])' "$1" "$2"
}

# check WHAT GOT WANT
check() {
  if [[ $2 == "$3" ]]; then say "$1: $2"; else fail "$1: got $2, expected $3"; fi
}

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
    capability { route-refresh; }
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

got=$(udp 4 53 100 100)
check "before any route: datagrams to port 53 received (of 100)" "$got" 100

rr global rib -a ipv4-flowspec add match destination 10.77.0.2/32 protocol udp \
  destination-port '==53' packet-length '>=100' then discard
drop4='{"dst": ["10.77.0.2/32"], "dst_port": ["53"], "length": ["100-65535"]} "drop"'
wait_rules "$drop4" "IPv4 discard route"
check "IPv4 discard route: datagrams to port 53 received (of 100)" "$(udp 4 53 100 100)" 0
check "IPv4 discard route: datagrams to port 54 received (of 100)" "$(udp 4 54 100 100)" 100
read -r packets _ _ added_before < <(rule_counts 10.77.0.2/32 53)
check "IPv4 discard route: the rule's packets" "$packets" 100

# 12,500 bytes/s: a burst of 194,304 bytes, then about 9 datagrams of 1,400 bytes a second.
rr global rib -a ipv4-flowspec add match destination 10.77.0.2/32 destination-port '==5300' \
  then rate-limit 12500
limit4='{"dst": ["10.77.0.2/32"], "dst_port": ["5300"]} "rate_limit:100000bps/194304B"'
wait_rules "$drop4
$limit4" "IPv4 rate-limit route"
got=$(udp 4 5300 600 1400)
read -r packets passed limited _ < <(rule_counts 10.77.0.2/32 5300)
say "IPv4 rate-limit route: $got of 600 datagrams received; the rule: packets $packets, passed $passed, limited $limited"
check "IPv4 rate-limit route: the rule's packets" "$packets" 600
check "IPv4 rate-limit route: passed is what the server received" "$passed" "$got"
((got > 0 && got < 300)) || fail "IPv4 rate-limit route: $got of 600 passed, expected about 140"

rr global rib -a ipv6-flowspec add match destination fd00:77::2/128 protocol udp \
  destination-port '==53' then discard
drop6='{"dst": ["fd00:77::2/128"], "dst_port": ["53"]} "drop"'
wait_rules "$drop4
$limit4
$drop6" "IPv6 discard route"
check "IPv6 discard route: datagrams to port 53 received (of 50)" "$(udp 6 53 50 100)" 0
check "IPv6 discard route: datagrams to port 54 received (of 50)" "$(udp 6 54 50 100)" 50

# The feeder dies; ExaBGP starts it again, it asks the peer for the routes again, and takes
# over the rules it finds (they carry a time to live) without re-adding them.
feeder=$(pgrep -f "udpsieve-flowspec --socket $work/ctl.sock")
kill -9 $feeder
restarted=0
for _ in $(seq 1 300); do
  if grep -q "first sync: 3 route(s) heard" "$work/exabgp.log"; then restarted=1; break; fi
  sleep 0.05
done
((restarted)) || fail "the feeder was not restarted, or did not hear the routes again"
read -r packets _ _ added_after < <(rule_counts 10.77.0.2/32 53)
check "feeder restarted: the IPv4 discard rule's packets" "$packets" 100
check "feeder restarted: the IPv4 discard rule was added at" "$added_after" "$added_before"
wait_rules "$drop4
$limit4
$drop6" "feeder restarted: the same rules"
check "feeder restarted: datagrams to port 53 received (of 100)" "$(udp 4 53 100 100)" 0
read -r packets _ _ _ < <(rule_counts 10.77.0.2/32 53)
check "feeder restarted: the IPv4 discard rule's packets" "$packets" 200
# What the detector's operators see in Prometheus: the route's own words beside its counts.
series=$("$build/udpsievectl" --socket "$work/ctl.sock" metrics |
  grep '^udpsieve_rule_packets_total{rule="bgp-.*source="bgp",note="flow destination-ipv4 10.77.0.2/32 .*destination-port =53 .*"} ')
check "metrics: the IPv4 discard route's packets" "${series##* }" 200
say "metrics: $series"

rr global rib -a ipv4-flowspec del match destination 10.77.0.2/32 protocol udp \
  destination-port '==53' packet-length '>=100'
wait_rules "$limit4
$drop6" "withdraw"
check "withdrawn: datagrams to port 53 received (of 100)" "$(udp 4 53 100 100)" 100

# A detector's ban as FastNetMon hands it to its notify script (config/fastnetmon): the
# script announces a discard route for the attacked address through the reflector's GoBGP,
# and the unban withdraws it.
notify=$here/../../config/fastnetmon/notify-flowspec.sh
echo "attack details" | ip netns exec "$ns" "$notify" 10.77.0.2 incoming 250000 ban ||
  fail "the notify script's ban"
wait_rules '{"dst": ["10.77.0.2/32"]} "drop"
'"$limit4
$drop6" "FastNetMon ban"
check "FastNetMon ban: datagrams to port 54 received (of 50)" "$(udp 4 54 50 100)" 0
ip netns exec "$ns" "$notify" 10.77.0.2 incoming 0 unban </dev/null || fail "the notify script's unban"
wait_rules "$limit4
$drop6" "FastNetMon unban"
check "FastNetMon unban: datagrams to port 54 received (of 50)" "$(udp 4 54 50 100)" 50

kill "$gobgpd_pid"
wait_rules "" "the session going down"

((FAILED)) && exit 1
say "PASS"
