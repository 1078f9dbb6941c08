#!/usr/bin/env bash
# A two-namespace lab for running udpsieved on real kernel traffic.
#
#   scripts/netns-lab.sh up   [NAME]    # build the lab (tearing down a half-built one first)
#   scripts/netns-lab.sh down [NAME]    # remove everything `up` created
#   scripts/netns-lab.sh show [NAME]    # print the lab's interfaces, addresses and neighbours
#
# NAME (default uslab, 1-12 of [A-Za-z0-9_], so that interface names stay within Linux's 15
# characters) lets tests run labs of their own side by side:
#
#   netns NAME-client                host (udpsieved)                netns NAME-server
#   ┌──────────────────┐      ┌──────────────────────────┐      ┌──────────────────┐
#   │ NAME-c           │ veth │ NAME-hc ── udpsieved ──  │ veth │           NAME-s │
#   │ 10.77.0.1/24     ├──────┤          NAME-hs         ├──────┤ 10.77.0.2/24     │
#   │ fd00:77::1/64    │      │  (no addresses, no IPv6) │      │ fd00:77::2/64    │
#   │ 10.77.0.129/24   │      │                          │      │                  │
#   │ fd00:77::8001/64 │      │                          │      │                  │
#   │ 02:75:73:00:00:01│      │                          │      │ 02:75:73:00:00:02│
#   └──────────────────┘      └──────────────────────────┘      └──────────────────┘
#
# udpsieved attaches to the two host ends (net_af_packet0,iface=NAME-hc, or net_af_xdp) and is
# a bump in the wire: both namespaces sit on one IPv4 and one IPv6 subnet, and a frame the
# client sends reaches the server only through udpsieved, unchanged.
#
# - The namespace ends have TX checksum offload off: otherwise the kernel hands UDP to the
#   veth with only the pseudo-header checksum filled in, udpsieved transmits it as is, and the
#   receiving kernel drops it for a bad checksum.
# - Neighbour entries are static (ARP and NDP): frames need no resolution to cross, so the lab
#   works whatever udpsieved does with non-UDP (pipeline.non_udp: forward would let ARP/NDP
#   through and resolution would work too, but the first datagrams of every test would then
#   race the resolution, and non_udp: drop would cut the lab off).
# - IPv6 duplicate address detection is off, so the addresses are usable at once.
# - The client has a second address per family (10.77.0.129, fd00:77::8001; sockets must bind
#   to it explicitly) so that tests can exercise rules on source prefixes.
# - GRO is off on all four ends, so every frame crosses as the sender made it.
# - The namespaces still send a few ICMPv6 frames of their own (MLD reports for their
#   multicast groups) shortly after coming up: tests run udpsieved with non_udp: drop and
#   count UDP apart from them.
# - The host ends have no addresses and IPv6 disabled, so the host never transmits on them
#   (udpsieved's packet sockets would see those frames and forward them).
#
# The addresses and MACs are fixed (labs live in separate namespaces, so they never clash);
# tests/e2e/lab.hpp and tests/e2e/make_mixed.py use the same values.
set -Eeuo pipefail   # -E: the ERR trap of `up` also fires inside its helpers

readonly CLIENT_MAC=02:75:73:00:00:01
readonly SERVER_MAC=02:75:73:00:00:02
readonly HOST_CLIENT_MAC=02:75:73:00:01:01
readonly HOST_SERVER_MAC=02:75:73:00:01:02
readonly CLIENT_IP4=10.77.0.1 SERVER_IP4=10.77.0.2 PREFIX4=24
readonly CLIENT_IP6=fd00:77::1 SERVER_IP6=fd00:77::2 PREFIX6=64
readonly CLIENT_ALT_IP4=10.77.0.129 CLIENT_ALT_IP6=fd00:77::8001

usage() {
  echo "usage: $0 up|down|show [NAME]   (NAME: 1-12 of [A-Za-z0-9_], default uslab)" >&2
  exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
action=$1
name=${2:-uslab}
[[ $name =~ ^[A-Za-z0-9_]{1,12}$ ]] || usage
[[ $(id -u) -eq 0 ]] || { echo "$0: needs root (network namespaces, veth)" >&2; exit 1; }
for tool in ip ethtool sysctl; do
  command -v "$tool" >/dev/null || { echo "$0: $tool not found (scripts/setup.sh installs it)" >&2; exit 1; }
done

readonly ns_client=$name-client ns_server=$name-server
readonly host_client=$name-hc host_server=$name-hs   # host ends: udpsieved's ports
readonly if_client=$name-c if_server=$name-s         # namespace ends

say() { echo "netns-lab[$name]: $*"; }

netns_exists() { [[ -e /run/netns/$1 ]]; }
link_exists() { ip link show dev "$1" >/dev/null 2>&1; }

down() {
  local removed=0
  # Deleting a host end removes its pair at once; a namespace's own cleanup of its veth end
  # runs later, asynchronously, and would race a following `up`.
  for link in "$host_client" "$host_server"; do
    if link_exists "$link"; then
      ip link del dev "$link"
      say "deleted veth $link"
      removed=1
    fi
  done
  for ns in "$ns_client" "$ns_server"; do
    if netns_exists "$ns"; then
      ip netns del "$ns"
      say "deleted netns $ns"
      removed=1
    fi
  done
  [[ $removed -eq 1 ]] || say "nothing to remove"
}

# One side: namespace, veth pair, MACs, addresses, offloads.
#   side NS NS_IF HOST_IF NS_MAC HOST_MAC IP4 IP6
side() {
  local ns=$1 ns_if=$2 host_if=$3 ns_mac=$4 host_mac=$5 ip4=$6 ip6=$7
  ip netns add "$ns"
  ip link add "$host_if" address "$host_mac" type veth peer name "$ns_if" address "$ns_mac" \
    netns "$ns"
  # The host end carries no traffic of the host's own (see above) and no GRO, so udpsieved's
  # socket sees exactly the frames the namespace sent.
  sysctl -qw "net.ipv6.conf.$host_if.disable_ipv6=1"
  ethtool -K "$host_if" gro off >/dev/null 2>&1 || true
  ip link set dev "$host_if" up

  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
    net.ipv6.conf.default.accept_dad=0 "net.ipv6.conf.$ns_if.accept_dad=0" \
    "net.ipv6.conf.$ns_if.router_solicitations=0"
  ip netns exec "$ns" ethtool -K "$ns_if" tx off >/dev/null
  ip netns exec "$ns" ethtool -K "$ns_if" gro off >/dev/null 2>&1 || true
  ip -n "$ns" link set dev lo up
  ip -n "$ns" addr add "$ip4/$PREFIX4" dev "$ns_if"
  ip -n "$ns" addr add "$ip6/$PREFIX6" dev "$ns_if" nodad
  ip -n "$ns" link set dev "$ns_if" up
  say "netns $ns: $ns_if $ns_mac $ip4/$PREFIX4 $ip6/$PREFIX6 (tx checksum offload off," \
    "no DAD) <-> host $host_if $host_mac (no addresses, IPv6 off)"
}

neighbour() {
  local ns=$1 ns_if=$2 ip4=$3 ip6=$4 mac=$5
  ip -n "$ns" neigh replace "$ip4" lladdr "$mac" dev "$ns_if" nud permanent
  ip -n "$ns" -6 neigh replace "$ip6" lladdr "$mac" dev "$ns_if" nud permanent
  say "netns $ns: static neighbours $ip4, $ip6 -> $mac"
}

up() {
  if netns_exists "$ns_client" || netns_exists "$ns_server" || link_exists "$host_client" ||
    link_exists "$host_server"; then
    say "tearing down the existing lab first"
    down
  fi
  # A half-built lab is removed again, so `up` either succeeds or leaves nothing behind.
  trap 'say "failed; removing what was built"; down >/dev/null 2>&1 || true' ERR
  side "$ns_client" "$if_client" "$host_client" "$CLIENT_MAC" "$HOST_CLIENT_MAC" "$CLIENT_IP4" \
    "$CLIENT_IP6"
  side "$ns_server" "$if_server" "$host_server" "$SERVER_MAC" "$HOST_SERVER_MAC" "$SERVER_IP4" \
    "$SERVER_IP6"
  ip -n "$ns_client" addr add "$CLIENT_ALT_IP4/$PREFIX4" dev "$if_client"
  ip -n "$ns_client" addr add "$CLIENT_ALT_IP6/$PREFIX6" dev "$if_client" nodad
  say "netns $ns_client: second addresses $CLIENT_ALT_IP4/$PREFIX4 $CLIENT_ALT_IP6/$PREFIX6"
  neighbour "$ns_client" "$if_client" "$SERVER_IP4" "$SERVER_IP6" "$SERVER_MAC"
  neighbour "$ns_server" "$if_server" "$CLIENT_IP4" "$CLIENT_IP6" "$CLIENT_MAC"
  neighbour "$ns_server" "$if_server" "$CLIENT_ALT_IP4" "$CLIENT_ALT_IP6" "$CLIENT_MAC"
  trap - ERR
  say "up: attach udpsieved to $host_client and $host_server" \
    "(e.g. net_af_packet0,iface=$host_client and net_af_packet1,iface=$host_server)"
}

show() {
  for ns in "$ns_client" "$ns_server"; do
    netns_exists "$ns" || { say "no netns $ns"; continue; }
    echo "== netns $ns"
    ip -n "$ns" -br addr
    ip -n "$ns" neigh show nud permanent
  done
  echo "== host"
  ip -br link show dev "$host_client" 2>/dev/null || say "no link $host_client"
  ip -br link show dev "$host_server" 2>/dev/null || say "no link $host_server"
}

case $action in
  up) up ;;
  down) down ;;
  show) show ;;
  *) usage ;;
esac
