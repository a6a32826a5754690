# Crashes with messages in flight: kill -9 of the worker (Postgres restarts every
# backend after it) and an immediate server restart. Afterwards every message is sent
# exactly once or failed with a reason: interrupted attempts are settled with Plivo's
# list API before anything is sent again.
sim_config '{"latency_ms": 300}'
enqueue 300 killed
wait_for 10 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sending') > 0"
check "kill -9: messages are in flight" $?
worker_pid="$(sql "SELECT pid FROM plivo.worker_status()")"
kill -9 "$worker_pid"
sleep 1
wait_for_server 30
check "kill -9: server is back" $?
# Settling the interrupted attempts reads a window that holds all 300 messages: 15 pages
# at Plivo's 20 list requests a minute, some 45 s.
wait_for 150 "(SELECT count(*) FROM plivo.message_logs WHERE status IN ('sent', 'failed')) = 300"
check "kill -9: all 300 reach a final state" $?
expect_eq "kill -9: a new worker runs" t "$(sql "SELECT running AND pid <> $worker_pid FROM plivo.worker_status()")"
check_reconciles "kill -9"
check_attribution "kill -9"

sim_reset
sql "TRUNCATE plivo.message_logs, plivo.message_events, plivo.delivery_reports, plivo.webhook_nonces" >/dev/null
sim_config '{"latency_ms": 300}'
enqueue 300 restarted
wait_for 10 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sending') > 0"
check "restart -m immediate: messages are in flight" $?
as_server_user "$PG_BIN/pg_ctl" -D "$E2E_DIR/pg/data" -m immediate -w restart \
    -l "$E2E_DIR/pg/server.log" >/dev/null 2>&1
wait_for_server 30
check "restart -m immediate: server is back" $?
wait_for 150 "(SELECT count(*) FROM plivo.message_logs WHERE status IN ('sent', 'failed')) = 300"
check "restart -m immediate: all 300 reach a final state" $?
check_reconciles "restart -m immediate"
check_attribution "restart -m immediate"
