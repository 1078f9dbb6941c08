# Shared by the shell tests (sourced): messages, counted failures, and what a test does when it
# cannot run here: skip (exit 77, which ctest reports as skipped) outside CI, fail in CI, which
# must run everything. Set TEST_NAME before sourcing.

say() { printf '%s: %s\n' "$TEST_NAME" "$*"; }
FAILED=0
fail() { say "FAIL: $*"; FAILED=1; }
in_ci() { [[ -n ${UDPSIEVE_CI:-} && ${UDPSIEVE_CI} != 0 ]]; }
cannot_run() {
  if in_ci; then
    say "FAIL: $* (CI must not skip this test)" >&2
    exit 1
  fi
  say "SKIP: $*"
  exit 77
}
need_root() { [[ $(id -u) -eq 0 ]] || cannot_run "needs root"; }
need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || cannot_run "$tool missing (scripts/setup.sh installs it)"
  done
}
