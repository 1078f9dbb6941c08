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
TEST_NAME=prometheus-alerts
# shellcheck source=tests/lib.sh
source "$here/../lib.sh"
need_tools promtool

rules=$root/config/prometheus/udpsieve-alerts.yml
promtool check rules "$rules" || FAILED=1
(cd "$here" && promtool test rules udpsieve-alerts-test.yml) || FAILED=1
for metric in $(grep -o 'udpsieve_[a-z0-9_]*' "$rules" | sort -u); do
  if ! grep -q "^| \`$metric\` |" "$root/docs/metrics.md"; then
    say "FAIL: $rules names $metric, which udpsieved does not export"
    FAILED=1
  fi
done
((FAILED)) && exit 1
say "ok"
