# A 4xx is final: failed at once with Plivo's reason, never retried. Wrong credentials
# (changed by SIGHUP) are a 401; right ones again send.
reload_with "plivo.auth_token = 'not-the-simulator-token'"
enqueue 5 unauthorized
wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'failed') = 5"
check "401: all 5 failed" $?
expect_eq "401: one attempt each, never retried" 5 "$(sql "SELECT count(*) FROM plivo.message_logs WHERE attempts = 1 AND last_http_status = 401 AND error_code = 'http_401'")"
expect_eq "401: Plivo's error text kept" 5 "$(sql "SELECT count(*) FROM plivo.message_logs WHERE last_error <> ''")"
expect_eq "401: nothing accepted" 0 "$(sim_stat accepted_messages)"
reload_with "plivo.auth_token = '$SIM_AUTH_TOKEN'"

# A DBA re-drives them in SQL.
expect_eq "retry_failed re-drives all 5" 5 "$(sql "SELECT plivo.retry_failed(now() - interval '1 hour')")"
wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sent') = 5"
check "re-driven messages are sent" $?
check_reconciles "re-drive"
