#!/usr/bin/env bash
# The shipped alerting rules (config/prometheus/udpsieve-alerts.yml): promtool accepts them,
# their unit tests (udpsieve-alerts-test.yml: each alert fires on what should fire it and not
# on a near miss) pass, and every metric they name is one udpsieved exports (the catalog in
# docs/metrics.md, which tests/unit/metrics_test.cpp keeps equal to the code). Needs promtool
# (Debian's prometheus package, scripts/setup.sh); outside CI it skips (77) without it.
#
#   tests/prometheus/alerts_test.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
say() { printf 'prometheus-alerts: %s\n' "$*"; }
in_ci() { [[ -n ${UDPSIEVE_CI:-} && ${UDPSIEVE_CI} != 0 ]]; }
if ! command -v promtool >/dev/null; then
  in_ci && { say "FAIL: promtool missing (apt-get install prometheus)"; exit 1; }
  say "SKIP: promtool missing (apt-get install prometheus)"
  exit 77
fi

failed=0
rules=$root/config/prometheus/udpsieve-alerts.yml
promtool check rules "$rules" || failed=1
(cd "$here" && promtool test rules udpsieve-alerts-test.yml) || failed=1
for metric in $(grep -o 'udpsieve_[a-z0-9_]*' "$rules" | sort -u); do
  if ! grep -q "^| \`$metric\` |" "$root/docs/metrics.md"; then
    say "FAIL: $rules names $metric, which udpsieved does not export"
    failed=1
  fi
done
((failed)) && exit 1
say "ok"
