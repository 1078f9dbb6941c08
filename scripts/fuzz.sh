#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang into build-fuzz/ and runs each one:
# first once over its committed seed corpus alone (regression), then for SECONDS (default 60)
# of fuzzing over a temporary copy of that corpus, so the committed corpus never changes.
# The fuzzing runs as many targets at once as there are CPUs (each target is one process on
# one CPU, so each still gets its SECONDS); reports come out in target order.
# Fails on any crash, leak, timeout, out-of-memory or sanitizer report and prints the
# reproducer. docs/testing.md, "Fuzzing", says how to reproduce and minimise one.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#     TARGET: packet | config | request | runtime_request | flowspec (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [packet|config|request|runtime_request|flowspec...]" >&2
  exit 2
fi
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(packet config request runtime_request flowspec)

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found (scripts/setup.sh installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi

build=build-fuzz
echo "== fuzz: build (clang, libFuzzer + ASan + UBSan) in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUDPSIEVE_UNIT_ONLY=ON \
  -DUDPSIEVE_FUZZ=ON -DUDPSIEVE_WERROR=ON -DUDPSIEVE_BUILD_BENCH=OFF \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$build" -j2 --target "${targets[@]/#/fuzz_}"

# Leaks are reported (libFuzzer checks each input whose run allocated more than it freed); UB
# aborts (the targets are built with -fno-sanitize-recover=undefined).
export ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

work=$(mktemp -d /tmp/udpsieve-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
artifacts="$PWD/$build/artifacts"
mkdir -p "$artifacts"

# Per target: largest input, memory and time per input (a slow input is a finding too).
max_len() {
  case "$1" in
    packet) echo 2048 ;;   # a full-size frame plus some
    config) echo 8192 ;;
    request) echo 4096 ;;
    runtime_request) echo 4096 ;;
    flowspec) echo 8192 ;;
  esac
}
common_flags=(-rss_limit_mb=2048 -timeout=10 -detect_leaks=1 -print_final_stats=1)

failed=0
report_failure() {  # target, phase, log
  local target=$1 phase=$2 log=$3
  failed=1
  echo "!! fuzz_$target: $phase FAILED; last lines of $log:" >&2
  tail -n 40 "$log" >&2
  local unit seed
  unit=$(grep -o "Test unit written to .*" "$log" | tail -n 1 | sed 's/Test unit written to //' || true)
  if [ -n "$unit" ]; then
    echo "!! reproducer: $unit" >&2
    echo "!! reproduce:  $build/fuzz_$target $unit" >&2
    for seed in "tests/fuzz/corpus/$target"/*; do
      if cmp -s "$seed" "$unit"; then echo "!! (it is the committed seed $seed)" >&2; fi
    done
  fi
}

flags_of() {  # target: its libFuzzer flags, one per line
  printf '%s\n' "${common_flags[@]}" -max_len="$(max_len "$1")" -dict="tests/fuzz/$1.dict" \
    -artifact_prefix="$artifacts/$1-"
}

# Regressions, one target after another (seconds each).
fuzzed=()
for target in "${targets[@]}"; do
  binary="$PWD/$build/fuzz_$target"
  seeds="tests/fuzz/corpus/$target"
  mapfile -t flags < <(flags_of "$target")

  echo "== fuzz_$target: regression over $(find "$seeds" -type f | wc -l) seeds"
  log="$artifacts/$target-regression.log"
  start=$SECONDS
  # -runs=0 runs every seed once and stops; over a copy, with libFuzzer's per-input leak check,
  # so a failure names the one input that caused it.
  cp -r "$seeds" "$work/$target-seeds"
  if "$binary" "${flags[@]}" -runs=0 "$work/$target-seeds" >"$log" 2>&1; then
    grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)" "$log" | tail -n 1 | sed 's/^/   /' || true
    echo "   ok ($((SECONDS - start)) s)"
    fuzzed+=("$target")
  else
    report_failure "$target" regression "$log"
  fi
done

# fuzz_one TARGET: fuzzes it for $seconds, writing its report to $work/TARGET.report and its
# outcome (0 clean, 1 a finding) to $work/TARGET.rc.
fuzz_one() {
  local target=$1 binary="$PWD/$build/fuzz_$1" corpus="$work/$1" log="$artifacts/$1-fuzz.log"
  local flags
  mapfile -t flags < <(flags_of "$target")
  cp -r "tests/fuzz/corpus/$target" "$corpus"
  {
    echo "== fuzz_$target: fuzzing for $seconds s"
    if "$binary" "${flags[@]}" -max_total_time="$seconds" "$corpus" >"$log" 2>&1; then
      grep -E "^#[0-9]+[[:space:]]+DONE" "$log" | tail -n 1 | sed 's/^/   /' || true
      grep -E "stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)" \
        "$log" | sed 's/^/   /' || true
      echo 0 >"$work/$target.rc"
    else
      report_failure "$target" fuzzing "$log" 2>&1
      echo 1 >"$work/$target.rc"
    fi
  } >"$work/$target.report"
}

if [ "$seconds" -gt 0 ] && [ ${#fuzzed[@]} -gt 0 ]; then
  parallel=$(nproc)
  for target in "${fuzzed[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
    fuzz_one "$target" &
  done
  wait
  for target in "${fuzzed[@]}"; do
    cat "$work/$target.report" || true
    [ "$(cat "$work/$target.rc" 2>/dev/null)" = 0 ] || failed=1
  done
fi

if [ "$failed" -ne 0 ]; then
  echo "== fuzz: FAILED (logs and reproducers in $artifacts)" >&2
  exit 1
fi
echo "== fuzz: all targets clean"
