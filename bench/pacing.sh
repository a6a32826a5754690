#!/usr/bin/env bash
# The send rate the worker reaches for each plivo.account_rate_limit, against the Plivo
# simulator with its own account limit at exactly rate × 5 s (sliding, as Plivo's): per
# rate, PACING_SECONDS' worth of SMS at once, then from the simulator's accept times the
# rate over the middle of the run (a tenth left out at each end), the busiest 5 s and
# 1 s, and the 429s. PACING_RATES="20 60 200" PACING_SECONDS=15 PACING_LATENCY_MS=0.
# Run after bench/run.sh (or build_all) has built and installed the extension.
source "$(dirname "$0")/../tests/e2e/lib.sh"
if [ "$(id -u)" -ne 0 ]; then exec sudo -E bash "$0" "$@"; fi

WORK="$(mktemp -d /tmp/pg_plivo_pacing.XXXXXX)"
chmod 755 "$WORK"
trap 'cluster_stop "$WORK/pg"; [ -n "${SIM_PID:-}" ] && kill "$SIM_PID"; rm -rf "$WORK"' EXIT
start_simulator "$WORK"
start_e2e_cluster "$WORK" >/dev/null

for rate in ${PACING_RATES:-20 60 200}; do
    sim_reset
    sql "TRUNCATE plivo.message_logs, plivo.message_events" >/dev/null
    limit="$(python3 -c "import math; print(math.ceil($rate * 5))")"
    sim_config "{\"rate_limit\": 1, \"rate_limit_count\": $limit, \"rate_limit_window_ms\": 5000,
                 \"latency_ms\": ${PACING_LATENCY_MS:-0}}"
    sql "ALTER SYSTEM SET plivo.account_rate_limit = $rate" >/dev/null
    sql "SELECT pg_reload_conf()" >/dev/null
    sleep 0.5
    n="$(python3 -c "print(int($rate * ${PACING_SECONDS:-15}))")"
    enqueue "$n" pacing
    wait_for 300 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sent') = $n" ||
        echo "rate $rate: not all $n sent within 300 s"
    curl -sf "$(sim_url)/_sim/messages?limit=1000000" | python3 -c '
import bisect, json, sys
rate, refused = float(sys.argv[1]), sys.argv[2]
times = sorted(m["message_time_us"] / 1e6 for m in json.load(sys.stdin)["messages"])
cut = len(times) // 10
middle = times[cut:len(times) - cut]
steady = (len(middle) - 1) / (middle[-1] - middle[0])
def busiest(window):
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))
print("%6g/s: %6.1f/s (%3.0f%%), busiest 5 s %d (limit %g), busiest 1 s %d, 429s %s" % (
    rate, steady, 100 * steady / rate, busiest(5.0), rate * 5, busiest(1.0), refused))' \
        "$rate" "$(sim_stat status_codes.429)"
done
