# Every fault at once, at random, with slow answers: nothing lost, nothing doubled.
sim_config '{"error_500_rate": 0.04, "error_500_after_store_rate": 0.04, "error_503_rate": 0.04,
             "error_429_retry_after_rate": 0.03, "error_429_rate": 0.03,
             "accept_then_timeout_rate": 0.02, "accept_then_reset_rate": 0.03,
             "reject_timeout_rate": 0.02, "reset_before_body_rate": 0.03,
             "garbage_200_rate": 0.02, "garbage_202_rate": 0.02,
             "retry_after_s": 1, "timeout_ms": 3000, "latency_ms": 5, "jitter_ms": 40}'
enqueue 400 mixed
# Settling lists at Plivo's 20 requests a minute, pages of 20: the windows of the run's
# unknown outcomes hold most of its 400 messages, some 60 s of listing.
wait_for 240 "(SELECT count(*) FROM plivo.message_logs WHERE status IN ('sent', 'failed')) = 400"
check "mixed faults: all 400 reach a final state" $?
check_reconciles "mixed faults"
check_attribution "mixed faults"
expect_eq "mixed faults: settling kept within the list API's limit (no list request refused)" \
    0 "$(sim_stat list_rate_limited)"
echo "  (sent: $(sql "SELECT count(*) FROM plivo.message_logs WHERE status = 'sent'"), failed: $(sql "SELECT count(*) FROM plivo.message_logs WHERE status = 'failed'"), attempts: $(sql "SELECT sum(attempts) FROM plivo.message_logs"), faults injected: $(sim_stat faults_total), list requests: $(sim_stat list_requests))"
