#!/usr/bin/env bash
# Sets up the machine if needed, builds udpsieve, and runs the whole ctest suite; then builds
# the DPDK-free unit tests once more under AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh --no-asan  skip the sanitizer pass
set -euo pipefail
cd "$(dirname "$0")/.."

asan=1
for arg in "$@"; do
  case "$arg" in
    --no-asan) asan=0 ;;
    *) echo "usage: scripts/test.sh [--no-asan]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh
jobs=$(nproc)

echo "== build (warnings are errors)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUDPSIEVE_WERROR=ON >/dev/null
cmake --build build -j"$jobs"

echo "== ctest"
(cd build && ctest --output-on-failure -j2 --timeout 600)

if [ "$asan" -eq 1 ]; then
  echo "== unit tests under ASan + UBSan"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DUDPSIEVE_UNIT_ONLY=ON \
    -DUDPSIEVE_SANITIZE=ON -DUDPSIEVE_WERROR=ON >/dev/null
  cmake --build build-asan -j"$jobs" --target unit_tests
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j2 --timeout 600)
fi
echo "== all tests passed"
