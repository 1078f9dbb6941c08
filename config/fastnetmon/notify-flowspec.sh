#!/bin/sh
# FastNetMon notify script that turns its bans into BGP FlowSpec routes through GoBGP, for a
# fleet of udpsieve boxes (docs/fleet.md, "Wiring a detector"). FastNetMon runs it as
#   notify-flowspec.sh IP DIRECTION PPS ACTION      (ACTION: ban, unban or attack_details)
# with the attack's details on stdin for a ban. An incoming attack on IP becomes
#   gobgp global rib -a ipv4-flowspec add match destination IP/32 protocol udp then discard
# (ipv6-flowspec and /128 for an IPv6 address); unban withdraws it. Everything else is ignored.
#
# Settings, from the environment (set them in a wrapper or in the unit's Environment=):
#   FLOWSPEC_THEN   the route's action: "discard" (default) or e.g. "rate-limit 1250000"
#                   (bytes per second, for the whole fleet box by box)
#   FLOWSPEC_MATCH  more match components, e.g. "destination-port '==53'" (default: none)
#   GOBGP           the gobgp command and its connection options (default: "gobgp")
#
# Install: /usr/local/bin/notify-flowspec.sh, `notify_script_path = /usr/local/bin/
# notify-flowspec.sh` in /etc/fastnetmon.conf, and a gobgpd that peers with the route reflector
# (or the boxes) with the ipv4-flowspec and ipv6-flowspec families.
set -eu

ip=${1:-}
direction=${2:-}
action=${4:-}
then_action=${FLOWSPEC_THEN:-discard}
extra=${FLOWSPEC_MATCH:-}
gobgp=${GOBGP:-gobgp}

# FastNetMon writes the details of a ban to stdin; read them so it never blocks on the pipe.
if [ "$action" = ban ]; then cat >/dev/null || true; fi

[ "$direction" = incoming ] || exit 0
case "$action" in
  ban) verb=add ;;
  unban) verb=del ;;
  *) exit 0 ;;
esac
case "$ip" in
  '' | *[!0-9a-fA-F:.]*) echo "notify-flowspec: '$ip' is not an IP address" >&2; exit 2 ;;
  *:*) family=ipv6-flowspec; prefix=$ip/128 ;;
  *.*.*.*) family=ipv4-flowspec; prefix=$ip/32 ;;
  *) echo "notify-flowspec: '$ip' is not an IP address" >&2; exit 2 ;;
esac

# The withdrawal names the same match as the announcement (GoBGP finds the route by it).
match="destination $prefix protocol udp $extra"
if [ "$verb" = add ]; then
  eval "$gobgp global rib -a $family add match $match then $then_action"
  logger -t notify-flowspec "announced $family $match then $then_action" 2>/dev/null || true
else
  eval "$gobgp global rib -a $family del match $match"
  logger -t notify-flowspec "withdrew $family $match" 2>/dev/null || true
fi
