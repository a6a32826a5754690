# The sending options through the real worker and the simulator: a message scheduled
# 2 s ahead is sent then and not before; a cancelled one never; one that expired while
# sending was paused is failed, never sent; message_expiry and log reach Plivo.
sim_config '{"report_delay_ms": 20, "delivered_rate": 1, "undelivered_rate": 0, "failed_rate": 0,
             "report_duplicate_rate": 0, "report_out_of_order_rate": 0}'

# sim_requests NUMBER: the bodies the simulator accepted for NUMBER, one JSON per line.
sim_requests() {
    curl -sf "$(sim_url)/_sim/messages?limit=100000&to_number=${1#+}" |
        python3 -c 'import json, sys
for m in json.load(sys.stdin)["messages"]: print(json.dumps(m["request"], sort_keys=True))'
}
sent_to() { sim_requests "$1" | grep -c . ; }

# Scheduled 2 s ahead: queued until then, claimed within a second after, sent once.
scheduled_id="$(sql "SELECT plivo.send_sms('+14155558001', 'at the tone', send_at => clock_timestamp() + interval '2 seconds')")"
sleep 1
expect_eq "schedule: 1 s before send_at it is still queued" "queued" \
    "$(sql "SELECT status FROM plivo.message_logs WHERE id = '$scheduled_id'")"
expect_eq "schedule: and the simulator has nothing for it" 0 "$(sent_to '+14155558001')"
wait_for 10 "(SELECT status FROM plivo.message_logs WHERE id = '$scheduled_id') IN ('sent', 'delivered')"
check "schedule: it is sent once due" $?
expect_eq "schedule: claimed no sooner than send_at, and within 1.5 s of it" "true true" \
    "$(sql "SELECT (min(e.created_at) >= m.send_at)::text || ' ' || (min(e.created_at) < m.send_at + interval '1.5 seconds')::text
            FROM plivo.message_events e JOIN plivo.message_logs m ON m.id = e.message_id
            WHERE e.message_id = '$scheduled_id' AND e.new_status = 'sending' GROUP BY m.send_at")"
expect_eq "schedule: the simulator got it once" 1 "$(sent_to '+14155558001')"

# Cancelled before it was due: never sent.
cancel_id="$(sql "SELECT plivo.send_sms('+14155558002', 'never mind', send_at => now() + interval '2 seconds')")"
expect_eq "cancel: cancel_message says it was cancelled" "t" \
    "$(sql "SELECT plivo.cancel_message('$cancel_id')")"
sleep 3
expect_eq "cancel: still cancelled after send_at" "cancelled" \
    "$(sql "SELECT status FROM plivo.message_logs WHERE id = '$cancel_id'")"
expect_eq "cancel: the simulator never got it" 0 "$(sent_to '+14155558002')"

# Expired while sending was paused (an outage): failed when the worker comes back, never sent.
reload_with "plivo.paused = on"
expired_id="$(sql "SELECT plivo.send_sms('+14155558003', 'only for 5 seconds', valid_for => interval '5 seconds')")"
fresh_id="$(sql "SELECT plivo.send_sms('+14155558004', 'good for an hour', valid_for => interval '1 hour', plivo_log => 'number_only')")"
sleep 6
reload_with "plivo.paused = off"
wait_for 20 "(SELECT status FROM plivo.message_logs WHERE id = '$expired_id') = 'failed'"
check "expiry: the expired message is failed" $?
expect_eq "expiry: last_error says it expired" "t" \
    "$(sql "SELECT last_error LIKE 'not sent: expired at %' FROM plivo.message_logs WHERE id = '$expired_id'")"
expect_eq "expiry: it never reached the simulator" 0 "$(sent_to '+14155558003')"
expect_eq "expiry: no attempt was counted" 0 \
    "$(sql "SELECT attempts FROM plivo.message_logs WHERE id = '$expired_id'")"
wait_for 20 "(SELECT status FROM plivo.message_logs WHERE id = '$fresh_id') IN ('sent', 'delivered')"
check "expiry: the one still valid is sent" $?
expect_eq "expiry: Plivo was told what is left of its hour (message_expiry) and log = number_only" "true number_only" \
    "$(sim_requests '+14155558004' | python3 -c 'import json, sys
r = json.loads(sys.stdin.readline()); print(str(3500 <= r.get("message_expiry", 0) <= 3600).lower(), r.get("log"))')"
expect_eq "expiry: a message without valid_for carries no message_expiry" "absent" \
    "$(sim_requests '+14155558001' | python3 -c 'import json, sys
print("absent" if "message_expiry" not in json.loads(sys.stdin.readline()) else "present")')"
