#!/usr/bin/env bash
# Builds the GoogleTest suite with AddressSanitizer + UndefinedBehaviorSanitizer
# (-DPLIVO_SANITIZE=ON, in build-asan/) and runs it through ctest. Leaks are reported
# and fail the test; any UB report aborts the test that triggered it.
# Usage: tests/unit/run_sanitized.sh        Ends with "N passed, N failed".
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$ROOT/build-asan"
JOBS="${JOBS:-2}"

cmake -S "$ROOT" -B "$BUILD" -DPLIVO_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null ||
    { echo "cmake configure failed"; echo "0 passed, 1 failed"; exit 1; }
cmake --build "$BUILD" --target unit_tests -j "$JOBS" ||
    { echo "build of unit_tests failed"; echo "0 passed, 1 failed"; exit 1; }

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
(cd "$BUILD" && ctest --output-on-failure -j "$JOBS" --timeout 120) 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}

# ctest's summary: "100% tests passed, 0 tests failed out of 212"
summary="$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$LOG" | tail -n1)"
if [[ -z "$summary" ]]; then
    echo "ctest gave no summary"
    echo "0 passed, 1 failed"
    exit 1
fi
failed="$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$summary")"
total="$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$summary")"
passed=$((total - failed))
echo "$passed passed, $failed failed"
if [[ $status -ne 0 || $failed -ne 0 || $total -eq 0 ]]; then
    exit 1
fi
exit 0
