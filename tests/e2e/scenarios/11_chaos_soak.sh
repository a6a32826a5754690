# Chaos soak: messages enqueued in waves while the worker is killed with SIGKILL at
# random moments, the server is restarted with -m immediate, and the simulator injects
# ~20% faults of every kind with slow answers. At the end: no duplicate, nothing stuck,
# and every message either accepted by the simulator exactly once or failed with a reason.
# SOAK_MESSAGES (default 1,000 here; tests/e2e/soak.sh runs 20,000) and SOAK_CHAOS
# (default 4 crash events) scale it. The simulator keeps Plivo's list limit (20 requests
# a minute, pages of 20): the unknown outcomes' windows hold most of the messages, so
# settling them reads about one page per 20 messages, 3 s a page.
soak_messages="${SOAK_MESSAGES:-1000}"
soak_chaos="${SOAK_CHAOS:-4}"
waves=5
per_wave=$((soak_messages / waves))
sim_config '{"error_500_rate": 0.03, "error_500_after_store_rate": 0.03, "error_503_rate": 0.02,
             "error_429_retry_after_rate": 0.02, "error_429_rate": 0.02,
             "accept_then_timeout_rate": 0.02, "accept_then_reset_rate": 0.02,
             "reject_timeout_rate": 0.01, "reset_before_body_rate": 0.02,
             "garbage_200_rate": 0.005, "garbage_202_rate": 0.005,
             "retry_after_s": 1, "timeout_ms": 3000, "latency_ms": 2, "jitter_ms": 30}'
RANDOM=42
chaos_done=0
# One crash event: the worker killed with SIGKILL, or the server stopped -m immediate and
# started again, in turn.
chaos_event() {
    if [ $((chaos_done % 2)) -eq 0 ]; then
        pid="$(sql "SELECT pid FROM plivo.worker_status()" 2>/dev/null)"
        [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    else
        as_server_user "$PG_BIN/pg_ctl" -D "$E2E_DIR/pg/data" -m immediate -w restart \
            -l "$E2E_DIR/pg/server.log" >/dev/null 2>&1
    fi
    chaos_done=$((chaos_done + 1))
    wait_for_server 30
}
for wave in $(seq 1 "$waves"); do
    sql "INSERT INTO plivo.message_logs (recipient, message_text)
         SELECT '+1415555' || lpad(((($wave - 1) * $per_wave + n) % 8000 + 1000)::text, 4, '0'),
                'soak-$wave-' || n
         FROM generate_series(1, $per_wave) n" >/dev/null
    sleep "0.$((RANDOM % 9 + 1))"
    [ "$chaos_done" -lt "$soak_chaos" ] && chaos_event
done
# Done when every message is final; stuck when for 60 s none became final and settling
# asked for no list page (a batch's window is decided only once all its pages are read,
# which can take minutes at the list limit). Crash events left over after the waves come
# at random moments, 3 to 12 s apart, while the backlog drains.
soak_started=$(date +%s) last_done=-1 last_progress=$(date +%s)
next_chaos=$(($(date +%s) + RANDOM % 10 + 3))
while :; do
    done_now="$(sql "SELECT count(*) FROM plivo.message_logs WHERE status IN ('sent', 'failed')" 2>/dev/null)"
    [ "$done_now" = "$soak_messages" ] && break
    done_now_and_lists="$done_now/$(sim_stat list_requests)"
    if [ "$chaos_done" -lt "$soak_chaos" ] && [ "$(date +%s)" -ge "$next_chaos" ]; then
        chaos_event
        next_chaos=$(($(date +%s) + RANDOM % 10 + 3)) last_progress=$(date +%s)
    fi
    if [ -n "$done_now" ] && [ "$done_now_and_lists" != "$last_done" ]; then
        last_done="$done_now_and_lists" last_progress=$(date +%s)
    elif [ $(($(date +%s) - last_progress)) -ge 60 ]; then
        break
    fi
    sleep 1
done
check "soak: every message reached a final state" "$([ "$done_now" = "$soak_messages" ]; echo $?)"
echo "  soak: $done_now final in $(($(date +%s) - soak_started)) s after the last wave"
enqueued="$(sql "SELECT count(*) FROM plivo.message_logs")"
sent="$(sql "SELECT count(*) FROM plivo.message_logs WHERE status = 'sent'")"
failed="$(sql "SELECT count(*) FROM plivo.message_logs WHERE status = 'failed'")"
failed_accepted="$(sql "SELECT count(*) FROM plivo.message_logs WHERE status = 'failed' AND unsettled_since IS NOT NULL")"
ambiguous="$(sql "SELECT count(*) FROM plivo.message_logs WHERE status = 'failed' AND last_error LIKE 'outcome ambiguous%'")"
stuck="$(sql "SELECT count(*) FROM plivo.message_logs WHERE status NOT IN ('sent', 'failed')")"
accepted="$(sim_stat distinct_accepted)"
duplicates="$(sim_stat duplicates)"
echo "  soak: enqueued $enqueued, accepted by the simulator $accepted, duplicates $duplicates, failed with reason $failed (of which outcome unknown $failed_accepted, ambiguous after a crash $ambiguous), stuck $stuck, crash events $chaos_done, faults injected $(sim_stat faults_total), list requests $(sim_stat list_requests) ($(sim_stat list_rate_limited) refused)"
expect_eq "soak: $soak_messages enqueued" "$soak_messages" "$enqueued"
expect_eq "soak: no duplicate" 0 "$duplicates"
expect_eq "soak: nothing stuck" 0 "$stuck"
expect_eq "soak: every sent message was accepted once" "$sent" "$(sql "SELECT count(DISTINCT plivo_message_uuid) FROM plivo.message_logs WHERE status = 'sent'")"
python3 -c "import sys; sys.exit(0 if $accepted in range($sent, $sent + $failed_accepted + 1) else 1)"
check "soak: enqueued = accepted + failed ($accepted accepted, $sent sent, $failed failed)" $?
check_attribution "soak"
