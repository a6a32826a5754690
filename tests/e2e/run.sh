#!/usr/bin/env bash
# End-to-end: a real PostgreSQL with the dispatcher worker preloaded, real libcurl over
# loopback, and the Plivo simulator standing in for Plivo. Ends with "N passed, N failed".
source "$(dirname "$0")/lib.sh"

E2E_DIR="$(mktemp -d /tmp/pg_plivo_e2e.XXXXXX)"
chmod 755 "$E2E_DIR"
cleanup() {
    local cluster
    for cluster in "$E2E_DIR"/pg "$E2E_DIR"/*/pg; do cluster_stop "$cluster"; done
    [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null
    if [ "$E2E_FAILED" -ne 0 ]; then
        echo "---- server log (last 60 lines)"; tail -60 "$E2E_DIR/pg/server.log"
    fi
    rm -rf "$E2E_DIR"
}
trap cleanup EXIT

start_simulator "$E2E_DIR"
start_e2e_cluster "$E2E_DIR"

fresh() {  # every scenario starts from an empty log and a clean simulator
    sim_reset
    # Every table of what the extension's version at hand has, but the reference data.
    sql "DO \$\$ BEGIN EXECUTE (SELECT 'TRUNCATE ' || string_agg(format('%I.%I', schemaname, tablename), ', ')
         FROM pg_tables WHERE schemaname = 'plivo' AND tablename <> 'error_codes'); END \$\$" >/dev/null
}

reload_with() {  # reload_with "setting = value" ...: ALTER SYSTEM, then SIGHUP
    for assignment in "$@"; do
        sql "ALTER SYSTEM SET ${assignment}" >/dev/null
    done
    sql "SELECT pg_reload_conf()" >/dev/null
    sleep 0.5
}

# E2E_ONLY=NN runs the scenarios whose names start with NN; E2E_SCENARIOS="03 04" runs
# those listed, E2E_EXCEPT="03 04" all others (scripts/test.sh splits them so).
for scenario in "$(dirname "$0")"/scenarios/${E2E_ONLY:-}*.sh; do
    number="$(basename "$scenario" | cut -c1-2)"
    if [ -n "${E2E_SCENARIOS:-}" ] && [[ " $E2E_SCENARIOS " != *" $number "* ]]; then
        continue
    fi
    if [[ " ${E2E_EXCEPT:-} " == *" $number "* ]]; then
        continue
    fi
    echo "== $(basename "$scenario" .sh)"
    e2e_scenario_t0=$SECONDS
    fresh
    source "$scenario"
    echo "  ($(basename "$scenario" .sh) took $((SECONDS - e2e_scenario_t0)) s)"
done

# After every scenario (crashes, faults, rejections, reloads): the auth token was never
# written to the server log.
echo "== secrets"
expect_eq "the auth token never appears in the server log" 0 \
    "$(grep -c -- "$SIM_AUTH_TOKEN" "$E2E_DIR/pg/server.log")"

echo "$E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
