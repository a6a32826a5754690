# Two-way messaging and consent, the whole loop: the simulator sends signed inbound
# messages (as Plivo does to an Application's message_url) to plivo_relay, which hands
# them to plivo.handle_inbound_message(). A recipient who texts "Stop" gets no more
# messages (refused at enqueue, a queued one never sent) and one confirmation; "START"
# lets messages through again; HELP gets one answer; the same inbound uuid three times
# is one row; a forged inbound message is refused; Plivo's error 200 opts out too.
if [ ! -x "$RELAY" ]; then
    check "plivo_relay is built ($RELAY)" 1
    return
fi
if ! start_relay; then
    check "relay is up" 1 "($(tail -5 "$E2E_DIR/relay.log"))"
    stop_relay
    return
fi
check "relay is up" 0
inbound_url="http://127.0.0.1:$relay_port/plivo/inbound"
our_number='+14155550100'

# sql_error_code SQL: the SQLSTATE the statement fails with (empty when it succeeds).
sql_error_code() {
    psql -X -qAt -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$1" 2>&1 >/dev/null |
        sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): .*/\1/p' | head -1
}
# texts FROM TEXT [EXTRA_JSON]: the simulator sends an inbound SMS from FROM to our number.
texts() {
    sim_post /_sim/inbound "{\"from\": \"$1\", \"to\": \"$our_number\", \"text\": \"$2\",
                             \"url\": \"$inbound_url\"${3:+, $3}}"
}
# sent_to NUMBER: how many messages the simulator accepted for NUMBER.
sent_to() {
    curl -sf "$(sim_url)/_sim/messages?limit=100000&to_number=${1#+}" |
        python3 -c 'import json, sys; print(len(json.load(sys.stdin)["messages"]))'
}

sim_config '{"report_delay_ms": 20, "delivered_rate": 1, "undelivered_rate": 0, "failed_rate": 0,
             "report_duplicate_rate": 0, "report_out_of_order_rate": 0,
             "report_retry_delays_ms": [100, 200, 400, 800]}'
reload_with "plivo.callback_url = '$relay_url'" \
    "plivo.opt_out_reply = 'You are unsubscribed from Acme alerts. Reply START to resubscribe.'" \
    "plivo.help_reply = 'Acme alerts: up to 4 msgs/month. Reply STOP to cancel.'"

# A recipient gets a message, then one is scheduled for later (queued when the STOP comes).
sql "SELECT plivo.send_sms('+14155557001', 'your order shipped')" >/dev/null
wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE recipient = '+14155557001' AND status = 'delivered') = 1"
check "stop: the first message is delivered" $?
scheduled_id="$(sql "INSERT INTO plivo.message_logs (recipient, message_text, next_attempt_at)
                     VALUES ('+14155557001', 'weekly offer', now() + interval '1 hour') RETURNING id")"

texts '+14155557001' 'Stop' >/dev/null
wait_for 20 "(SELECT count(*) FROM plivo.opt_outs WHERE recipient = '+14155557001') = 1"
check "stop: \"Stop\" opts the recipient out" $?
expect_eq "stop: stored once, from their number to ours" "+14155557001 $our_number Stop opt_out" \
    "$(sql "SELECT string_agg(from_number || ' ' || to_number || ' ' || message_text || ' ' || consent_action, ',')
            FROM plivo.inbound_messages")"
expect_eq "stop: the opt-out says how and for which numbers" "inbound_keyword all" \
    "$(sql "SELECT source || ' ' || coalesce(sender, 'all') FROM plivo.opt_outs WHERE recipient = '+14155557001'")"
expect_eq "stop: the queued message is failed, not sent" "failed" \
    "$(sql "SELECT status FROM plivo.message_logs WHERE id = '$scheduled_id'")"
expect_eq "stop: send_sms to them is refused with PT451" "PT451" \
    "$(sql_error_code "SELECT plivo.send_sms('+14155557001', 'another offer')")"
expect_eq "stop: an INSERT is refused too" "PT451" \
    "$(sql_error_code "INSERT INTO plivo.message_logs (recipient, message_text) VALUES ('+14155557001', 'x')")"
wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE recipient = '+14155557001'
              AND consent_override = 'opt_out_confirmation' AND status IN ('sent', 'delivered', 'failed')) = 1"
check "stop: the confirmation went through the queue" $?
# More STOPs (another spelling, Plivo's resend of the first) confirm nothing again.
texts '+14155557001' 'STOP' >/dev/null
sleep 1
expect_eq "stop: a second STOP sends no second confirmation" 1 \
    "$(sql "SELECT count(*) FROM plivo.message_logs WHERE recipient = '+14155557001' AND consent_override IS NOT NULL")"
expect_eq "stop: the simulator got the first message and the confirmation, nothing else" 2 \
    "$(sent_to '+14155557001')"
expect_eq "stop: the confirmation text is the setting's" \
    "You are unsubscribed from Acme alerts. Reply START to resubscribe." \
    "$(curl -sf "$(sim_url)/_sim/messages?limit=10&to_number=14155557001" | python3 -c '
import json, sys
print([m["request"]["text"] for m in json.load(sys.stdin)["messages"]][-1])')"

# START: sending works again (at the simulator's Plivo too).
texts '+14155557001' 'START' >/dev/null
wait_for 20 "(SELECT count(*) FROM plivo.opt_outs WHERE recipient = '+14155557001') = 0"
check "start: START removes the opt-out" $?
sql "SELECT plivo.send_sms('+14155557001', 'welcome back')" >/dev/null
check "start: send_sms to them is accepted again" $?
wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE message_text = 'welcome back' AND status = 'delivered') = 1"
check "start: and the message is delivered" $?
expect_eq "start: the ledger's history: opt_out, override (the confirmation), opt_in" \
    "opt_out override opt_in" \
    "$(sql "SELECT string_agg(action, ' ' ORDER BY id) FROM plivo.consent_events WHERE recipient = '+14155557001'")"

# HELP: one answer per HELP message, however often Plivo delivers it.
texts '+14155557002' 'help' '"repeat": 3' >/dev/null
wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE recipient = '+14155557002' AND status = 'delivered') = 1"
check "help: HELP is answered" $?
for _ in $(seq 1 100); do [ "$(relay_stat results.inbound_duplicate)" -ge 2 ] && break; sleep 0.1; done
expect_eq "help: three deliveries of one uuid are one row" 1 \
    "$(sql "SELECT count(*) FROM plivo.inbound_messages WHERE from_number = '+14155557002'")"
expect_eq "help: the relay answered the other two duplicate" 2 "$(relay_stat results.inbound_duplicate)"
expect_eq "help: one answer, with the setting's text" "1 Acme alerts: up to 4 msgs/month. Reply STOP to cancel." \
    "$(sent_to '+14155557002') $(sql "SELECT message_text FROM plivo.message_logs WHERE recipient = '+14155557002'")"

# Words Plivo does not know but the FCC counts, and an MMS with media.
texts '+14155557003' 'Revoke' >/dev/null
sim_post /_sim/inbound "{\"from\": \"+14155557004\", \"to\": \"$our_number\", \"text\": \"look\",
    \"media\": [\"https://media.example.com/1.jpg\", \"https://media.example.com/2.jpg\"],
    \"media_start\": 0, \"url\": \"$inbound_url\"}" >/dev/null
wait_for 20 "(SELECT count(*) FROM plivo.inbound_messages WHERE from_number IN ('+14155557003', '+14155557004')) = 2"
check "inbound: a revocation word and an MMS arrive" $?
expect_eq "inbound: \"Revoke\" opts out though Plivo gave no intent" "inbound_keyword" \
    "$(sql "SELECT source FROM plivo.opt_outs WHERE recipient = '+14155557003'")"
expect_eq "inbound: the MMS keeps its text and both media in order" \
    "mms look {https://media.example.com/1.jpg,https://media.example.com/2.jpg}" \
    "$(sql "SELECT message_type || ' ' || message_text || ' ' || media_urls::text
            FROM plivo.inbound_messages WHERE from_number = '+14155557004'")"

# A forged inbound message (a STOP for someone else): 403, nothing stored, no opt-out.
forged_status="$(curl -s -o /dev/null -w '%{http_code}' -X POST "$inbound_url" \
    -H 'X-Plivo-Signature-V3: AAAAforgedAAAA=' -H 'X-Plivo-Signature-V3-Nonce: 12345678901234567890' \
    --data-urlencode 'From=14155557005' --data-urlencode "To=${our_number#+}" \
    --data-urlencode 'Text=STOP' --data-urlencode 'MessageUUID=forged-1' --data-urlencode 'Type=sms')"
expect_eq "forged: the relay answers 403 (SQLSTATE 28000)" 403 "$forged_status"
expect_eq "forged: nothing stored, nobody opted out" "0 0" \
    "$(sql "SELECT (SELECT count(*) FROM plivo.inbound_messages WHERE message_uuid = 'forged-1') || ' ' ||
                   (SELECT count(*) FROM plivo.opt_outs WHERE recipient = '+14155557005')")"

# Error 200: the recipient opted out with Plivo (our webhook never heard of it: the
# simulator's inbound went nowhere). Plivo fails our next message with 200; that report
# opts them out here too.
sim_post /_sim/inbound "{\"from\": \"+14155557006\", \"to\": \"$our_number\", \"text\": \"STOP\",
    \"url\": \"http://127.0.0.1:9/nowhere\"}" >/dev/null
sql "SELECT plivo.send_sms('+14155557006', 'monthly statement')" >/dev/null
wait_for 20 "(SELECT count(*) FROM plivo.opt_outs WHERE recipient = '+14155557006') = 1"
check "error 200: Plivo's refusal opts them out" $?
expect_eq "error 200: the message failed with 200, the opt-out names it" "failed 200 plivo_error_200 true" \
    "$(sql "SELECT m.status || ' ' || m.error_code || ' ' || o.source || ' ' || (o.message_id = m.id)
            FROM plivo.message_logs m JOIN plivo.opt_outs o ON o.recipient = m.recipient
            WHERE m.recipient = '+14155557006'")"
expect_eq "error 200: the next send is refused before it reaches Plivo" "PT451" \
    "$(sql_error_code "SELECT plivo.send_sms('+14155557006', 'again')")"
expect_eq "error 200: Plivo saw one message to them" 1 "$(sent_to '+14155557006')"

# The same, learnt by settling: the answer to the send is lost (a reset after Plivo
# stored it) and no delivery report comes; Plivo's list shows it failed with 200.
sim_post /_sim/inbound "{\"from\": \"+14155557007\", \"to\": \"$our_number\", \"text\": \"STOP\",
    \"url\": \"http://127.0.0.1:9/nowhere\"}" >/dev/null
reload_with "plivo.callback_url = ''"
sim_config '{"fail_next": [{"kind": "accept_then_reset", "count": 1}]}'
sql "INSERT INTO plivo.message_logs (recipient, message_text)
     VALUES ('+14155557007', 'statement, no callback')" >/dev/null
wait_for 30 "(SELECT count(*) FROM plivo.opt_outs WHERE recipient = '+14155557007') = 1"
check "error 200 by settling: the refusal Plivo lists opts them out" $?
expect_eq "error 200 by settling: failed with 200, settled, sent once" "failed 200 found 1" \
    "$(sql "SELECT status || ' ' || error_code || ' ' || (plivo_status_info ->> 'settled')
            FROM plivo.message_logs WHERE recipient = '+14155557007'") $(sent_to '+14155557007')"

expect_eq "relay: no errors" 0 "$(relay_stat errors)"
stop_relay
reload_with "plivo.callback_url = ''" "plivo.opt_out_reply = ''" "plivo.help_reply = ''"
