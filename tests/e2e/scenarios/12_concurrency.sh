# Eight sessions enqueue at once (many small transactions each, some sending MMS with
# callbacks) while the worker dispatches and delivery reports stream back through the
# relay: no deadlock, no serialization error reaches a caller, and the counts reconcile.
if [ ! -x "$RELAY" ] || ! start_relay; then
    check "relay is up" 1
    return
fi
sim_config '{"report_delay_ms": 10, "delivered_rate": 0.9, "undelivered_rate": 0.1,
             "report_duplicate_rate": 0.05, "report_out_of_order_rate": 0.05, "latency_ms": 3,
             "jitter_ms": 10, "report_retry_delays_ms": [100, 200, 400, 800, 1600, 3200]}'
session_failures=0
pids=()
for session in $(seq 1 8); do
    (
        for batch in $(seq 1 25); do
            psql -X -q -v ON_ERROR_STOP=1 -c "
                SELECT count(plivo.send_mms('+1415555' || (4000 + $session * 100 + n),
                           'session $session batch $batch ' || n,
                           ARRAY['https://example.com/$session.jpg'],
                           callback_url => '$relay_url',
                           idempotency_key => 's$session-b$batch-' || n))
                FROM generate_series(1, 5) n;
                INSERT INTO plivo.message_logs (recipient, message_text, callback_url)
                SELECT '+1415555' || (4000 + $session * 100 + n), 'session $session insert $batch ' || n, '$relay_url'
                FROM generate_series(1, 5) n;" >/dev/null 2>>"$E2E_DIR/sessions.err" || exit 1
        done
    ) &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || session_failures=$((session_failures + 1)); done
expect_eq "8 sessions enqueued without an error (deadlock, serialization, anything)" 0 "$session_failures"
[ "$session_failures" -eq 0 ] || head -5 "$E2E_DIR/sessions.err"
expect_eq "2,000 messages enqueued" 2000 "$(sql "SELECT count(*) FROM plivo.message_logs")"
wait_for 120 "(SELECT count(*) FROM plivo.message_logs WHERE status IN ('delivered', 'undelivered')) = 2000"
check "every message ends delivered or undelivered" $?
for _ in $(seq 1 200); do [ "$(sim_stat reports.pending)" = 0 ] && break; sleep 0.1; done
expect_eq "no duplicate at the simulator" 0 "$(sim_stat duplicates)"
expect_eq "simulator accepted exactly 2000" 2000 "$(sim_stat distinct_accepted)"
expect_eq "relay: no report refused or failed" "0 0" "$(relay_stat forbidden) $(relay_stat errors)"
expect_eq "no early report left unapplied" 0 \
    "$(sql "SELECT count(*) FROM plivo.delivery_reports WHERE result = 'unknown_message'")"
expect_eq "no deadlock in the server log" 0 "$(grep -c 'deadlock detected' "$E2E_DIR/pg/server.log")"
check_attribution "concurrency" 
stop_relay
