# Each fault the simulator can inject, alone: the first three sends of the scenario get
# it; every message still ends sent exactly once (settled, not re-sent, when the fault
# happened after Plivo stored it).
sim_config '{"timeout_ms": 3000}'
for kind in error_500 error_500_after_store error_503 error_429_retry_after error_429 \
            accept_then_timeout accept_then_reset reject_timeout reset_before_body \
            garbage_200 garbage_202; do
    sim_reset
    sim_config "{\"timeout_ms\": 3000, \"retry_after_s\": 1, \"fail_next\": [{\"kind\": \"$kind\", \"count\": 3}]}"
    sql "TRUNCATE plivo.message_logs, plivo.message_events, plivo.delivery_reports, plivo.webhook_nonces" >/dev/null
    enqueue 10 "$kind"
    wait_for 45 "(SELECT count(*) FROM plivo.message_logs WHERE status IN ('sent', 'failed')) = 10"
    check "$kind: all 10 settle into a final state" $?
    expect_eq "$kind: all 10 sent" 10 "$(sql "SELECT count(*) FROM plivo.message_logs WHERE status = 'sent'")"
    expect_eq "$kind: the fault was injected 3 times" 3 "$(sim_stat "faults.$kind")"
    expect_eq "$kind: no duplicate" 0 "$(sim_stat duplicates)"
    expect_eq "$kind: simulator holds exactly 10 messages" 10 "$(sim_stat distinct_accepted)"
    check_attribution "$kind"
done
