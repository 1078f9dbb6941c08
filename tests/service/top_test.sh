#!/usr/bin/env bash
# udpsievectl top against a live daemon (net_null ports, the RX one generating frames at full
# speed), driven in tmux as a person would: the screen shows the rates, ports and rules; s
# changes the sort, d shows only the rules that drop (the forward rule leaves the screen), a
# brings every rule back, q quits. Also --once (and output that is not a terminal): one plain
# frame. Needs tmux (scripts/setup.sh); outside CI it skips (77) without it.
#
#   tests/service/top_test.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
TEST_NAME=top
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/../lib.sh"
need_tools tmux
work=$(mktemp -d /tmp/udpsieve-top.XXXXXX)
session=udpsieve-top-$$
daemon=
cleanup() {
  tmux kill-session -t "$session" 2>/dev/null
  [[ -n $daemon ]] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/rules.yaml" <<'YAML'
rules:
  - {id: ntp-block, match: {dst_port: 123}, action: drop}
  - {id: dns-limit, match: {dst_port: 53}, action: {rate_limit: {pps: 100, burst: 100}}}
  - {id: pass-web, match: {dst_port: 443}, action: forward}
YAML
cat >"$work/udpsieve.yaml" <<'YAML'
eal: {lcores: [0, 1], hugepages: off, memory_mb: 256}
ports:
  - {name: wan, device: net_null0, forward_to: lan}
  - {name: lan, device: "net_null1,no-rx=1", forward_to: wan}
pipeline: {default_action: forward, rules: [rules.yaml]}
YAML
sock=$work/ctl.sock
ctl() { "$build/udpsievectl" --socket "$sock" "$@"; }
"$build/udpsieved" --config "$work/udpsieve.yaml" --file-prefix "top$$" --socket "$sock" \
  >"$work/udpsieved.log" 2>&1 &
daemon=$!
for _ in $(seq 1 100); do ctl version >/dev/null 2>&1 && break; sleep 0.1; done
ctl version >/dev/null 2>&1 || { cat "$work/udpsieved.log"; fail "udpsieved did not start"; exit 1; }

# One plain frame (stdout is a pipe here).
once=$(ctl top --once | cat)
grep -q '^udpsieved up ' <<<"$once" || fail "--once: no header line: $once"
grep -q '^rx .*pps' <<<"$once" || fail "--once: no rates line: $once"
for id in ntp-block dns-limit pass-web; do
  grep -q "^$id " <<<"$once" || fail "--once: rule $id missing: $once"
done

screen() { tmux capture-pane -p -t "$session"; }
wait_screen() {  # PATTERN [ABSENT]: until the screen shows PATTERN (and not ABSENT)
  for _ in $(seq 1 100); do
    local now
    now=$(screen)
    if grep -q -- "$1" <<<"$now" && { [[ -z ${2:-} ]] || ! grep -q -- "$2" <<<"$now"; }; then
      return 0
    fi
    sleep 0.1
  done
  fail "the screen never showed '$1'${2:+ without '$2'}:"
  screen
  return 1
}

tmux new-session -d -s "$session" -x 160 -y 40 \
  "'$build/udpsievectl' --socket '$sock' top --interval 1 2>'$work/top.err'; echo exited \$? >'$work/top.rc'"
wait_screen 'rules by pps, all rules'
wait_screen '^wan '
wait_screen 'Mpps' # the generated traffic's rate, once two samples exist
screen | grep -q '^pass-web ' || fail "the forward rule is not on the screen"
tmux send-keys -t "$session" s
wait_screen 'rules by pps 10s, all rules'
tmux send-keys -t "$session" s
wait_screen 'rules by packets, all rules'
tmux send-keys -t "$session" d
wait_screen 'rules that drop' '^pass-web '
screen | grep -q '^ntp-block ' || fail "the drop rule is not in the drop view"
screen | grep -q '^dns-limit ' || fail "the rate limit is not in the drop view"
tmux send-keys -t "$session" f
wait_screen 'rules that forward' '^ntp-block '
tmux send-keys -t "$session" a
wait_screen 'all rules'
tmux send-keys -t "$session" q
for _ in $(seq 1 50); do [[ -s $work/top.rc ]] && break; sleep 0.1; done
[[ $(cat "$work/top.rc" 2>/dev/null) == "exited 0" ]] ||
  fail "q did not end top with status 0: $(cat "$work/top.rc" 2>/dev/null) $(cat "$work/top.err")"

kill -TERM "$daemon"
wait "$daemon"
rc=$?
daemon=
[[ $rc -eq 0 ]] || fail "udpsieved exited with $rc"
((FAILED)) && exit 1
say "ok"
