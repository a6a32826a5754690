# Plivo's own rate limit (scaled down: 40 requests per second) with the dispatcher's
# limit set just under it: a burst draws no 429 and takes as long as the limit implies.
sim_config '{"rate_limit": 1, "rate_limit_count": 40, "rate_limit_window_ms": 1000}'
reload_with "plivo.account_rate_limit = 35"
started="$(date +%s.%N)"
enqueue 350 burst
wait_for 60 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sent') = 350"
check "burst: all 350 sent" $?
elapsed="$(python3 -c "import time; print(round(time.time() - $started, 1))")"
expect_eq "burst: no 429 from the simulator" 0 "$(sim_stat status_codes.429)"
python3 -c "import sys; sys.exit(0 if $elapsed >= 350 / 35.0 - 1.5 else 1)"
check "burst: paced by the limit (350 at 35/s, took ${elapsed}s)" $?
check_reconciles "burst"

# SIGHUP: max_in_flight follows the setting.
sim_reset
sql "TRUNCATE plivo.message_logs, plivo.message_events, plivo.delivery_reports, plivo.webhook_nonces" >/dev/null
reload_with "plivo.account_rate_limit = 100000" "plivo.max_in_flight = 2"
sim_config '{"latency_ms": 200}'
enqueue 20 narrow
wait_for 30 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sent') = 20"
check "max_in_flight 2: all 20 sent" $?
expect_eq "max_in_flight 2: at most 2 requests at once" 2 "$(sim_stat max_concurrent_requests)"
sim_reset
sql "TRUNCATE plivo.message_logs, plivo.message_events, plivo.delivery_reports, plivo.webhook_nonces" >/dev/null
reload_with "plivo.max_in_flight = 16"
sim_config '{"latency_ms": 200}'
enqueue 64 wide
wait_for 30 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sent') = 64"
check "max_in_flight 16: all 64 sent" $?
expect_eq "max_in_flight 16: 16 requests at once" 16 "$(sim_stat max_concurrent_requests)"
