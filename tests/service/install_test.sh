#!/usr/bin/env bash
# The install layout and the systemd unit (ctest: service_install):
#   - `cmake --install BUILD --prefix /usr` into a DESTDIR puts every file where
#     docs/operations.md says, with the unit's paths matching the prefix;
#   - the installed configuration and example rules pass `udpsieved --check`;
#   - a second install keeps the operator's edited configuration (ships *.dist beside it);
#   - `systemd-analyze verify` accepts the unit without a single warning (and does flag a
#     broken copy, so this test can fail).
#
#   tests/service/install_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

root=$tmp/root
DESTDIR=$root cmake --install "$build" --prefix /usr >"$tmp/install.log"
for file in usr/sbin/udpsieved usr/bin/udpsievectl usr/bin/udpsieve-flowspec \
  usr/lib/systemd/system/udpsieved.service usr/share/doc/udpsieve/examples/exabgp/exabgp.conf \
  usr/share/doc/udpsieve/examples/fastnetmon/notify-flowspec.sh \
  usr/share/doc/udpsieve/examples/prometheus/udpsieve-alerts.yml \
  usr/share/doc/udpsieve/examples/grafana/udpsieve.json \
  usr/share/doc/udpsieve/docs/img/flood-drops.png \
  usr/lib/sysctl.d/60-udpsieve-hugepages.conf usr/lib/tmpfiles.d/udpsieve.conf \
  etc/udpsieve/udpsieved.yaml etc/udpsieve/rules.d/10-examples.yaml \
  usr/share/doc/udpsieve/README.md usr/share/doc/udpsieve/docs/operations.md \
  usr/share/man/man8/udpsieved.8 usr/share/man/man8/udpsievectl.8 \
  usr/share/man/man5/udpsieve.yaml.5 usr/share/man/man5/udpsieve-rules.5; do
  [[ -e $root/$file ]] || fail "cmake --install did not install /$file"
done
[[ -x $root/usr/sbin/udpsieved && -x $root/usr/bin/udpsievectl ]] || fail "binaries not executable"
unit=$root/usr/lib/systemd/system/udpsieved.service
grep -qx 'ExecStart=/usr/sbin/udpsieved --config /etc/udpsieve/udpsieved.yaml' "$unit" ||
  fail "unexpected ExecStart in the installed unit: $(grep ExecStart= "$unit")"
grep -qx 'vm.nr_hugepages = [0-9]*' "$root/usr/lib/sysctl.d/60-udpsieve-hugepages.conf" ||
  fail "the sysctl.d file reserves no hugepages"
# The installed README's links to documents all resolve in the installed set.
while read -r link; do
  [[ -f $root/usr/share/doc/udpsieve/$link ]] || fail "README.md links $link, which is not installed"
done < <(grep -o '](docs/[a-z_-]*\.md' "$root/usr/share/doc/udpsieve/README.md" | cut -c3- | sort -u)
[[ $(grep -c '](docs/[a-z_-]*\.md' "$root/usr/share/doc/udpsieve/README.md") -gt 5 ]] ||
  fail "README.md's document links were not found"
echo "ok: install layout"

# The shipped configuration is valid (its rules glob pointed at the installed examples).
sed "s#/etc/udpsieve/#$root/etc/udpsieve/#" "$root/etc/udpsieve/udpsieved.yaml" >"$tmp/check.yaml"
out=$("$root/usr/sbin/udpsieved" --check --config "$tmp/check.yaml" 2>&1) ||
  fail "the installed configuration fails --check: $out"
[[ $out == *"OK: 2 port(s), 4 rule(s) from 1 file(s)"* ]] || fail "unexpected --check output: $out"
echo "ok: installed configuration passes --check"

# The shipped ExaBGP configuration parses (exabgp --test checks that the feeder it runs exists:
# point it at the installed one).
if command -v exabgp >/dev/null; then
  sed "s#/usr/bin/udpsieve-flowspec#$root/usr/bin/udpsieve-flowspec#" \
    "$root/usr/share/doc/udpsieve/examples/exabgp/exabgp.conf" >"$tmp/exabgp.conf"
  out=$(cd "$tmp" && env exabgp.daemon.user=root exabgp --test "$tmp/exabgp.conf" 2>&1) ||
    fail "exabgp --test refuses the shipped configuration: $out"
  [[ $out != *"syntax error"* && $out != *"can not locate"* ]] ||
    fail "exabgp --test refuses the shipped configuration: $out"
  echo "ok: the shipped ExaBGP configuration passes exabgp --test"
else
  fail "exabgp is missing (scripts/setup.sh installs it)"
fi

# An upgrade keeps the operator's edits.
echo "# edited by the operator" >>"$root/etc/udpsieve/udpsieved.yaml"
DESTDIR=$root cmake --install "$build" --prefix /usr >"$tmp/install2.log"
grep -q "edited by the operator" "$root/etc/udpsieve/udpsieved.yaml" ||
  fail "a reinstall overwrote the edited configuration"
[[ -f $root/etc/udpsieve/udpsieved.yaml.dist ]] || fail "no udpsieved.yaml.dist beside the kept file"
echo "ok: reinstall keeps the configuration"

# systemd-analyze verify checks that ExecStart's binary exists: point it into the DESTDIR.
mkdir -p "$tmp/verify"
sed "s#^ExecStart=/usr/sbin/udpsieved#ExecStart=$root/usr/sbin/udpsieved#" "$unit" \
  >"$tmp/verify/udpsieved.service"
# It also runs man(1) on the unit's Documentation= pages: the installed ones.
export MANPATH=$root/usr/share/man
if ! out=$(systemd-analyze verify "$tmp/verify/udpsieved.service" 2>&1) || [[ -n $out ]]; then
  fail "systemd-analyze verify: ${out:-non-zero exit}"
fi
echo "ok: systemd-analyze verify (no warnings)"
sed 's/^WatchdogSec=/WatchdogSecs=/' "$tmp/verify/udpsieved.service" >"$tmp/verify/broken.service"
out=$(systemd-analyze verify "$tmp/verify/broken.service" 2>&1 || true)
[[ $out == *"Unknown key"* ]] || fail "systemd-analyze verify did not flag a misspelt key: $out"
echo "ok: systemd-analyze verify flags a broken copy"
