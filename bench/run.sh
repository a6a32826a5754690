#!/usr/bin/env bash
# The benchmarks: bench/run.sh (or make -C bench). Installs what it needs, builds, starts
# two throwaway clusters (one without the worker, for enqueue and SQL signature figures;
# one with it, pointed at the Plivo simulator), runs bench/bench.py, prints a table and
# writes bench/RESULTS.md and bench/throughput_vs_in_flight.png.
# Sizes: see the BENCH_* variables at the top of bench/bench.py (defaults finish in
# ~10-15 minutes on 2 cores; the issue's full sizes are given there too).
source "$(dirname "$0")/../scripts/lib/common.sh"
BENCH_DIR="$REPO_ROOT/bench"

if [ "$(id -u)" -ne 0 ]; then exec sudo -E bash "$0" "$@"; fi

install_dependencies
for package in python3-matplotlib libbenchmark-dev linux-perf; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || {
        log "installing $package"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null \
            || log "could not install $package (continuing without it)"
    }
done

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    build_all
    log "building bench/signature_bench (Google Benchmark)"
    cmake -S "$BENCH_DIR" -B "$BENCH_DIR/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BENCH_DIR/build" -j"$(nproc)" >/dev/null
fi

WORK="$(mktemp -d /tmp/pg_plivo_bench.XXXXXX)"
chmod 755 "$WORK"
SIM_AUTH_ID="MASIMULATOR000000000"
SIM_AUTH_TOKEN="simulator-auth-token"
cleanup() {
    set +e
    cluster_stop "$WORK/enqueue"
    cluster_stop "$WORK/dispatch"
    [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

log "starting the Plivo simulator"
"$REPO_ROOT/build/plivo_simulator" --host 127.0.0.1 --port 0 --port-file "$WORK/simulator.port" \
    --auth-id "$SIM_AUTH_ID" --auth-token "$SIM_AUTH_TOKEN" --seed 42 --quiet \
    --max-messages 2000000 >"$WORK/simulator.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 1 200); do [ -s "$WORK/simulator.port" ] && break; sleep 0.05; done
SIM_PORT="$(cat "$WORK/simulator.port")"

log "starting a cluster without the worker (enqueue, SQL signatures)"
PG_PLIVO_PRELOAD=no cluster_start "$WORK/enqueue" "$(free_port)" \
    "plivo.sender_number = '+14155550100'" "max_connections = 50"
ENQ_PGHOST="$PGHOST" ENQ_PGPORT="$PGPORT"

log "starting a cluster with the worker (dispatch, wake-up, memory, backlog, idle)"
cluster_start "$WORK/dispatch" "$(free_port)" \
    "shared_preload_libraries = 'pg_plivo, pg_stat_statements'" \
    "pg_stat_statements.track = all" \
    "plivo.api_url = 'http://127.0.0.1:$SIM_PORT'" \
    "plivo.auth_id = '$SIM_AUTH_ID'" \
    "plivo.auth_token = '$SIM_AUTH_TOKEN'" \
    "plivo.sender_number = '+14155550100'" \
    "plivo.max_in_flight = 16" \
    "plivo.account_rate_limit = 100000" \
    "plivo.sender_rate_limit = 100000"

export ENQ_PGHOST ENQ_PGPORT SIM_PID SIM_PORT BENCH_WORK="$WORK"
/usr/bin/python3 "$BENCH_DIR/bench.py"   # Debian's, with python3-matplotlib
