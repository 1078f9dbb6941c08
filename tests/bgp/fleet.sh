#!/usr/bin/env bash
# A fleet of three driven by BGP FlowSpec (ctest: bgp_fleet; docs/fleet.md): gobgpd in a
# network namespace plays the route reflector / detector and peers with three ExaBGPs on the
# host, each with its own address, its own udpsieve-flowspec and its own udpsieved (net_null).
# Once the three sessions are up, for each of ANNOUNCEMENTS rounds:
#   - a distinct IPv4 discard route announced with `gobgp` must become a bgp rule, with the
#     same id, on all three boxes within 5 s (the time from just before `gobgp` is printed);
#   - withdrawing it must remove the rule from all three within 5 s (timed too).
# Then every box must list the same bgp rules (none), and with an IPv4 and an IPv6 route in
# place, stopping gobgpd (the sessions going down) must empty every box's bgp rules.
# Prints median, min, p90 and max of both times over the rounds. The first route after the
# sessions come up is a warm-up, not counted (the feeders' first sync may take its time).
# Needs root (namespaces), gobgpd and exabgp (scripts/setup.sh); outside CI it skips (77)
# without them.
#
#   tests/bgp/fleet.sh BUILD_DIR [ANNOUNCEMENTS]     (default 20)
set -uo pipefail
TEST_NAME=bgp-fleet
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/../lib.sh"

build=$(cd "${1:?usage: tests/bgp/fleet.sh BUILD_DIR [ANNOUNCEMENTS]}" && pwd) || exit 2
rounds=${2:-20}
[[ $rounds =~ ^[1-9][0-9]{0,3}$ ]] || { say "ANNOUNCEMENTS must be 1-9999, not '$rounds'"; exit 2; }
need_root
need_tools gobgpd gobgp exabgp ip python3

work=$(mktemp -d /tmp/udpsieve-fleet.XXXXXX)
ns=usfleet$$
host_if=usf$$a
boxes=(1 2 3)
pids=()
cleanup() {
  trap '' PIPE # a closed stdout (| head) must not stop the cleanup
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  # Give the daemons time to exit cleanly (DPDK then frees its hugepage files).
  for _ in $(seq 1 30); do kill -0 "${pids[@]}" 2>/dev/null || break; sleep 0.1; done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
  ip link del "$host_if" 2>/dev/null
  if ((FAILED)); then
    for log in "$work"/*.log "$work"/box*/*.log; do say "--- $log"; tail -n 40 "$log"; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The reflector's namespace and one veth to it: reflector 10.96.0.2; on the host one address
# per box, 10.96.0.11-13, each ExaBGP binding its own (so all three can use port 179).
ip netns add "$ns"
ip link add "$host_if" type veth peer name eth0 netns "$ns"
for n in "${boxes[@]}"; do ip addr add "10.96.0.1$n/24" dev "$host_if"; done
ip link set "$host_if" up
ip -n "$ns" addr add 10.96.0.2/24 dev eth0
ip -n "$ns" link set eth0 up
ip -n "$ns" link set lo up

# gobgpd: one neighbor per box, each with both FlowSpec families.
{
  printf '[global.config]\n  as = 65000\n  router-id = "10.96.0.2"\n'
  printf '  local-address-list = ["10.96.0.2"]\n'
  for n in "${boxes[@]}"; do
    printf '[[neighbors]]\n  [neighbors.config]\n    neighbor-address = "10.96.0.1%s"\n' "$n"
    printf '    peer-as = 65000\n'
    for family in ipv4-flowspec ipv6-flowspec; do
      printf '  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n'
      printf '      afi-safi-name = "%s"\n' "$family"
    done
  done
} >"$work/gobgpd.toml"
ip netns exec "$ns" gobgpd -f "$work/gobgpd.toml" -l warn >"$work/gobgpd.log" 2>&1 &
gobgpd_pid=$!
pids+=("$gobgpd_pid")
rr() { ip netns exec "$ns" gobgp "$@"; }

# Three udpsieveds, each in its own directory with its own DPDK file prefix and socket. One
# worker each (three busy-polling workers share CPU 1). hugepages: auto takes about 46 MB of
# hugepages each (scripts/setup.sh reserves 1 GB), else 128 MB of ordinary memory.
for n in "${boxes[@]}"; do
  box=$work/box$n
  mkdir "$box"
  printf 'rules:\n  - {id: allow-ntp, match: {src_port: 123}, action: forward}\n' >"$box/rules.yaml"
  cat >"$box/udpsieved.yaml" <<YAML
eal: {lcores: [0, 1], hugepages: auto, memory_mb: 128, file_prefix: fleet$n$$}
ports:
  - {name: wan, device: net_null0, forward_to: wan}
pipeline: {rules: [rules.yaml, dynamic], dynamic_state: $box/dynamic.json}
control: {socket: $box/ctl.sock}
YAML
  "$build/udpsieved" --config "$box/udpsieved.yaml" >"$box/udpsieved.log" 2>&1 &
  pids+=("$!")
done
ctl() { "$build/udpsievectl" --socket "$work/box$1/ctl.sock" "${@:2}"; }
for n in "${boxes[@]}"; do
  for _ in $(seq 1 300); do ctl "$n" version >/dev/null 2>&1 && break; sleep 0.1; done
  ctl "$n" version >/dev/null 2>&1 || { fail "udpsieved $n did not start"; exit 1; }
done

# Three ExaBGPs. Several on one host need: their own listening address (exabgp.tcp.bind), no
# CLI pipes (exabgp.api.cli=false: they would all use /run/exabgp/exabgp.{in,out}), and
# daemon.user=root (as root ExaBGP otherwise drops to nobody, who cannot reach the sockets).
for n in "${boxes[@]}"; do
  box=$work/box$n
  cat >"$box/exabgp.conf" <<CONF
process udpsieve { run $build/udpsieve-flowspec --socket $box/ctl.sock; encoder json; }
neighbor 10.96.0.2 {
    router-id 10.96.0.1$n;
    local-address 10.96.0.1$n;
    local-as 65000;
    peer-as 65000;
    family { ipv4 flow; ipv6 flow; }
    capability { route-refresh; }
    api { processes [ udpsieve ]; receive { parsed; update; } neighbor-changes; }
}
CONF
  (cd "$box" && exec env exabgp.daemon.user=root exabgp.log.level=INFO \
    exabgp.tcp.bind="10.96.0.1$n" exabgp.api.cli=false exabgp "$box/exabgp.conf") \
    >"$box/exabgp.log" 2>&1 &
  pids+=("$!")
done

up=0
for _ in $(seq 1 600); do
  up=$(rr neighbor 2>/dev/null | grep -c Establ)
  ((up == 3)) && break
  sleep 0.1
done
((up == 3)) || { fail "only $up of 3 BGP sessions came up"; rr neighbor; exit 1; }
say "3 BGP sessions established"

# The rounds, in Python: one connection to each control socket (docs/protocol.md), polled
# every 5 ms (20 ms adds about 15 ms to the medians), not by starting udpsievectl each time.
cat >"$work/rounds.py" <<'PY'
import json, math, socket, statistics, subprocess, sys, time
ns, rounds, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
boxes = []
for path in paths:
    s = socket.socket(socket.AF_UNIX); s.connect(path); boxes.append(s.makefile("rw"))
def ids(dst):  # per box, the ids of the bgp rules matching exactly destination dst
    got = []
    for f in boxes:
        f.write('{"cmd": "rules", "source": "bgp"}\n')
        f.flush()
        got.append(sorted(r["id"] for r in json.loads(f.readline())["rules"]
                          if r["match"].get("dst") == [dst]))
    return got
cmd_times = []
def timed(verb, dst, live, limit):  # seconds from just before `gobgp` to done on every box
    start = time.monotonic()
    rib = ["ip", "netns", "exec", ns, "gobgp", "global", "rib", "-a", "ipv4-flowspec"]
    match = ["match", "destination", dst, "protocol", "udp", "destination-port", "==53"]
    subprocess.run(rib + [verb] + match + (["then", "discard"] if live else []), check=True)
    cmd_times.append(time.monotonic() - start)
    while True:
        got = ids(dst)
        if all(bool(g) == live for g in got):
            if live and any(g != got[0] for g in got):
                sys.exit(f"bgp-fleet: {dst}: the boxes' rule ids differ: {got}")
            return time.monotonic() - start
        if time.monotonic() - start > limit:
            sys.exit(f"bgp-fleet: {dst}: not {'live' if live else 'gone'} on every box after {limit} s: {got}")
        time.sleep(0.005)
warm = timed("add", "198.51.100.1/32", True, 30), timed("del", "198.51.100.1/32", False, 30)
print("bgp-fleet: warm-up route (not counted): live on all 3 after %.3f s, gone after %.3f s" % warm)
live, gone = [], []
for i in range(1, rounds + 1):
    live.append(timed("add", f"192.0.2.{i % 256}/32", True, 5))
    gone.append(timed("del", f"192.0.2.{i % 256}/32", False, 5))
def summary(times):
    t = sorted(times)
    p90 = t[math.ceil(0.9 * len(t)) - 1]
    return "median %.3f s, min %.3f s, p90 %.3f s, max %.3f s" % (
        statistics.median(t), t[0], p90, t[-1])
print(f"fleet: announce -> live on all 3 boxes: {summary(live)} ({rounds} announcements)")
print(f"fleet: withdraw -> gone on all 3 boxes: {summary(gone)} ({rounds} withdrawals)")
print(f"fleet: of which the gobgp command itself: {summary(cmd_times[2:])}")
PY
python3 "$work/rounds.py" "$ns" "$rounds" "$work"/box{1,2,3}/ctl.sock ||
  { fail "the announcement rounds (above)"; exit 1; }

# Each box's bgp rule ids, on one line.
bgp_ids() {
  ctl "$1" rules --source bgp --json |
    python3 -c 'import json,sys; print(*sorted(r["id"] for r in json.load(sys.stdin)["rules"]))'
}
# Waits until every box lists the same $1 bgp rule(s).
wait_same() {
  local want=$1 what=$2 got=()
  for _ in $(seq 1 100); do
    got=("$(bgp_ids 1)" "$(bgp_ids 2)" "$(bgp_ids 3)")
    if [[ ${got[0]} == "${got[1]}" && ${got[1]} == "${got[2]}" ]] &&
       (($(wc -w <<<"${got[0]}") == want)); then
      say "$what: $want bgp rule(s), the same on all 3 boxes"
      return 0
    fi
    sleep 0.1
  done
  fail "$what: expected $want bgp rule(s), the same on every box; got '${got[0]}' / '${got[1]}' / '${got[2]}'"
  return 1
}
wait_same 0 "after the rounds"
rr global rib -a ipv4-flowspec add match destination 203.0.113.0/24 protocol udp then discard
rr global rib -a ipv6-flowspec add match destination 2001:db8::/32 protocol udp then discard
wait_same 2 "an IPv4 and an IPv6 route"
kill "$gobgpd_pid"
wait_same 0 "gobgpd stopped"

((FAILED)) && exit 1
say "PASS"
