#!/usr/bin/env bash
# The whole test suite, as the README's test command and CI run it:
#   1. install what is missing (Debian 12)
#   2. release build with -Werror, all tests (unit + integration)
#   3. the same suite built with ASan+UBSan
#   4. every libFuzzer target (clang) for OCSF_FUZZ_SECONDS each (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh --test
jobs=2
fuzz_seconds=${OCSF_FUZZ_SECONDS:-20}

echo "== release build"
cmake -S . -B build -DOCSF_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build -j"$jobs" --output-on-failure

echo "== ASan+UBSan build"
cmake -S . -B build-asan -DOCSF_WERROR=ON -DOCSF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  ctest --test-dir build-asan -j"$jobs" --output-on-failure

echo "== libFuzzer targets (${fuzz_seconds}s each)"
CC=clang cmake -S . -B build-fuzz -DOCSF_FUZZ=ON -DOCSF_FUZZ_SECONDS="$fuzz_seconds" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$jobs"
ctest --test-dir build-fuzz -j"$jobs" --output-on-failure
