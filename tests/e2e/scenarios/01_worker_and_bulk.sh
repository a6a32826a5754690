# The worker runs, and 1,000 messages enqueued in one transaction all reach Plivo once.
status="$(sql "SELECT preloaded AND running FROM plivo.worker_status()")"
expect_eq "worker is preloaded and running" t "$status"
expect_eq "worker shows in pg_stat_activity" 1 \
    "$(sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_plivo dispatcher'")"

enqueue 1000 bulk
wait_for 60 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sent') = 1000"
check "1000 messages in one transaction all reach sent" $?
expect_eq "simulator accepted exactly 1000" 1000 "$(sim_stat accepted_messages)"
expect_eq "1000 distinct uuids" 1000 "$(sql "SELECT count(DISTINCT plivo_message_uuid) FROM plivo.message_logs")"
expect_eq "each sent with one attempt" 1000 "$(sql "SELECT count(*) FROM plivo.message_logs WHERE attempts = 1")"
expect_eq "api_id kept in plivo_status_info" 1000 \
    "$(sql "SELECT count(*) FROM plivo.message_logs WHERE plivo_status_info ? 'api_id'")"
check_reconciles "bulk"
check_attribution "bulk"
