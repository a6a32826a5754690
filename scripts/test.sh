#!/usr/bin/env bash
# Runs every test: installs what is missing (Debian packages), builds, then
#   1. the dispatcher's GoogleTest suite (ctest),
#   2. pg_regress and isolation tests against a throwaway cluster with the worker preloaded,
#   3. the unit tests again under ASan/UBSan,
#   4. libFuzzer on every parser (FUZZ_SECONDS per target, 20 by default),
#   5. the Plivo simulator's smoke test,
#   6. the type-check of the Supabase Edge Function examples,
#   7. the end-to-end tests (real server + worker + simulator, relay for delivery reports),
#   8. 2 and 7 again on PostgreSQL 17 and 18, each in a Debian root of its own
#      (scripts/lib/versions.sh),
# 7 and 8 run in the background from after 2 on, side by side with 3 to 6 (they mostly
# wait on timeouts and rate limits, not the CPU); their output is shown when they end.
# The run ends with one line "N passed, N failed" over all of them.
#
# --server-only: 2 and 7 alone, on PG_MAJOR, with the simulator and relay already built
# (what 8 runs inside each root; 7 there skips the fault and chaos scenarios).
# PG_PLIVO_VERSIONS="15" skips 8 (default "15 17 18").
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/versions.sh"
require_root "$@"
cd "$REPO_ROOT"

server_only=no
if [ "${1:-}" = --server-only ]; then server_only=yes; fi

if [ "$server_only" = yes ]; then
    build_extension
else
    install_dependencies
    build_all
fi

passed=0
failed=0
suite_failed=()
suite_started=$SECONDS
count() {  # count SUITE PASSED FAILED: with the time since the suite before ended
    passed=$((passed + $2))
    failed=$((failed + $3))
    if [ "$3" -ne 0 ]; then suite_failed+=("$1"); fi
    log "$1: $2 passed, $3 failed ($((SECONDS - suite_started)) s)"
    suite_started=$SECONDS
}

# 1. Unit tests.
if [ "$server_only" = no ]; then
    log "unit tests (GoogleTest)"
    unit_log="$(mktemp)"
    (cd build && ctest --output-on-failure -j"$(nproc)") | tee "$unit_log" | grep -E "tests passed|Failed|\*\*\*" || true
    unit_total="$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$unit_log")"
    unit_failed="$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of.*/\1/p' "$unit_log")"
    if [ -z "$unit_total" ]; then
        count "unit" 0 1
    else
        count "unit" $((unit_total - unit_failed)) "$unit_failed"
    fi
fi

# 2. Regression and isolation tests, in a cluster of their own.
cluster_dir="$(mktemp -d /tmp/pg_plivo_test.XXXXXX)"
trap 'cluster_stop "$cluster_dir"' EXIT
cluster_start "$cluster_dir" "$(free_port)"
log "regression and isolation tests (pg_regress, PostgreSQL $PG_MAJOR) on $cluster_dir"
regress_log="$(mktemp)"
make -s installcheck PG_CONFIG="$PG_CONFIG" >"$regress_log" 2>&1 || true
grep -E "^(test |not ok|ok )|tests (passed|failed)" "$regress_log" || true
# 15 prints "test NAME ... ok"; 16 and later print TAP ("ok N - NAME", "not ok N - NAME").
regress_passed="$(grep -cE '^test .*\.\.\. ok|^ok [0-9]+ +- ' "$regress_log" || true)"
regress_failed="$(grep -cE '^test .*\.\.\. (FAILED|failed)|^not ok [0-9]+ +- ' "$regress_log" || true)"
if ! grep -q "tests passed" "$regress_log" && [ "$regress_failed" -eq 0 ]; then
    cat "$regress_log" >&2
    regress_failed=1
fi
for diffs in tests/regress/regression.diffs tests/isolation/regression.diffs; do
    [ -s "$diffs" ] && { echo "---- $diffs"; head -200 "$diffs"; }
done
count "regression" "$regress_passed" "$regress_failed"
cluster_stop "$cluster_dir"

# run_counted NAME COMMAND...: runs a suite whose last "N passed, N failed" line is
# added to the totals; a suite that prints no such line counts as one failure.
run_counted() {
    local name="$1" suite_log
    shift
    log "$name"
    suite_log="$(mktemp)"
    "$@" 2>&1 | tee "$suite_log" || true
    count_from_log "$name" "$suite_log"
}

# count_from_log NAME LOG: counts the last "N passed, N failed" line of LOG (none: one
# failure).
count_from_log() {
    local line
    line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$2" | tail -1)"
    if [ -n "$line" ]; then
        count "$1" "$(echo "$line" | cut -d' ' -f1)" "$(echo "$line" | cut -d' ' -f3)"
    else
        count "$1" 0 1
    fi
}

# Suites in the background: each one's output goes to a file, shown when it has ended
# (finish_background), counted like run_counted's.
declare -A background_logs background_pids
background_order=()
start_background() {  # start_background NAME COMMAND...
    local name="$1"
    shift
    background_logs[$name]="$(mktemp)"
    background_order+=("$name")
    log "$name: started in the background ($*)"
    (
        started=$SECONDS
        status=0
        "$@" || status=$?
        echo $((SECONDS - started)) >"${background_logs[$name]}.seconds"
        exit $status
    ) >"${background_logs[$name]}" 2>&1 &
    background_pids[$name]=$!
}
finish_background() {  # every suite start_background started, in the order started
    local name
    for name in "${background_order[@]}"; do
        log "$name: waiting for it to end"
        wait "${background_pids[$name]}" || true
        cat "${background_logs[$name]}"
        # Its own time, not the wait's.
        suite_started=$((SECONDS - $(cat "${background_logs[$name]}.seconds" 2>/dev/null || echo 0)))
        count_from_log "$name" "${background_logs[$name]}"
    done
}

# 7. End to end. The other server versions run the scenarios that touch the server
# (worker lifecycle, crashes, SQL API, reports, upgrades); the fault and chaos ones (03,
# 04, 11, 18) exercise dispatcher/ and the simulator, which do not change with the server.
# On the host both halves run in the background, each on a cluster and simulator of
# its own, beside 3 to 6.
fault_scenarios="03 04 11 18"

if [ "$server_only" = no ]; then
    # 8 starts: each other server version in its root.
    for major in ${PG_PLIVO_VERSIONS:-15 17 18}; do
        [ "$major" = "$PG_MAJOR" ] && continue
        install_mmdebstrap
        start_background "PostgreSQL $major" scripts/test_version.sh "$major"
    done
    start_background "end-to-end (PostgreSQL $PG_MAJOR, faults and chaos)" \
        env E2E_SCENARIOS="$fault_scenarios" tests/e2e/run.sh
    start_background "end-to-end (PostgreSQL $PG_MAJOR)" \
        env E2E_EXCEPT="$fault_scenarios" tests/e2e/run.sh

    # 3. The same unit tests under AddressSanitizer and UndefinedBehaviorSanitizer.
    run_counted "unit (ASan/UBSan)" tests/unit/run_sanitized.sh

    # 4. libFuzzer on every parser and validator of dispatcher/, from the committed seeds.
    run_counted "fuzz" tests/fuzz/run.sh "${FUZZ_SECONDS:-20}"

    # 5. The Plivo simulator.
    run_counted "simulator" tests/simulator/smoke_test.sh build/plivo_simulator

    # 6. The Supabase examples type-check (tsc against @supabase/supabase-js from npm).
    run_counted "supabase examples" examples/supabase/check.sh
fi

if [ "$server_only" = yes ]; then
    run_counted "end-to-end (PostgreSQL $PG_MAJOR)" env E2E_EXCEPT="$fault_scenarios" tests/e2e/run.sh
fi

# The background suites (7 on the host, 8), once each has ended.
finish_background

if [ "${#suite_failed[@]}" -ne 0 ]; then
    log "failing suites: ${suite_failed[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
