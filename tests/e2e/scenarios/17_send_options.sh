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

# Powerpack, SMS fallback and costs need the delivery reports: through the relay.
if [ ! -x "$RELAY" ] || ! start_relay; then
    check "relay is up" 1
    return
fi
# (The messages above had no callback, so no costs: they are cleared, so that the sums
# below cover only messages with reports.)
sql "TRUNCATE plivo.message_logs, plivo.message_events, plivo.delivery_reports" >/dev/null
pack='d1b5a6c2-3e4f-4a5b-8c6d-7e8f9a0b1c2d'
sim_config "{\"powerpacks\": {\"$pack\": [\"14155550601\", \"14155550602\"]},
             \"no_mms_destinations\": [\"14155558020\"]}"
reload_with "plivo.callback_url = '$relay_url'" "plivo.media_preflight = on" \
    "plivo.media_allow_private_addresses = on"
media="$(sim_url)/_sim/media"

# Powerpack: powerpack_uuid and no src reach Plivo; the number it picked comes back.
pack_id="$(sql "SELECT plivo.send_sms('+14155558010', 'from the pack', powerpack_uuid => '$pack')")"
wait_for 20 "(SELECT status FROM plivo.message_logs WHERE id = '$pack_id') = 'delivered'"
check "powerpack: the message is delivered" $?
expect_eq "powerpack: Plivo got powerpack_uuid and no src" "$pack no-src" \
    "$(sim_requests '+14155558010' | python3 -c 'import json, sys
r = json.loads(sys.stdin.readline()); print(r.get("powerpack_uuid"), "src" if "src" in r else "no-src")')"
pack_sender="$(sql "SELECT sender FROM plivo.message_logs WHERE id = '$pack_id'")"
expect_eq "powerpack: the sender is the pack's number Plivo used (from the report)" "+$(curl -sf -u "$SIM_AUTH_ID:$SIM_AUTH_TOKEN" \
    "$(sim_url)/v1/Account/$SIM_AUTH_ID/Message/$(sql "SELECT plivo_message_uuid FROM plivo.message_logs WHERE id = '$pack_id'")/" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["from_number"])')" "$pack_sender"
case "$pack_sender" in +14155550601|+14155550602) check "powerpack: it is one of the pack's numbers" 0 ;;
    *) check "powerpack: it is one of the pack's numbers" 1 "($pack_sender)" ;; esac

# Media checked before the first attempt: too large, wrong type, no answer: failed at
# once, never sent; a campaign with one picture asks for it once.
curl -sf -X DELETE "$(sim_url)/_sim/media_stats" >/dev/null
big_id="$(sql "SELECT plivo.send_mms('+14155558030', 'big', ARRAY['$media/big.jpg?bytes=2500000&type=image/jpeg'])")"
html_id="$(sql "SELECT plivo.send_mms('+14155558031', 'page', ARRAY['$media/page.html?bytes=2000&type=text/html'])")"
gone_id="$(sql "SELECT plivo.send_mms('+14155558032', 'gone', ARRAY['$media/gone.png?status=404'])")"
wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE id IN ('$big_id', '$html_id', '$gone_id') AND status = 'failed') = 3"
check "media: the three MMS with bad media are failed" $?
expect_eq "media: each says why" "big:too-large gone:404 page:type" \
    "$(sql "SELECT string_agg(message_text || ':' || CASE
                WHEN last_error LIKE 'media check: %2 MB%' THEN 'too-large'
                WHEN last_error LIKE 'media check: %text/html%' THEN 'type'
                WHEN last_error LIKE 'media check: %404%' THEN '404' ELSE last_error END, ' ' ORDER BY message_text)
            FROM plivo.message_logs WHERE id IN ('$big_id', '$html_id', '$gone_id')")"
expect_eq "media: none of them reached Plivo, and no attempt counts" "0 0" \
    "$(($(sent_to '+14155558030') + $(sent_to '+14155558031') + $(sent_to '+14155558032'))) $(sql "SELECT sum(attempts) FROM plivo.message_logs WHERE id IN ('$big_id', '$html_id', '$gone_id')")"
sql "INSERT INTO plivo.message_logs (recipient, message_text, media_urls)
     SELECT '+1415556' || (1000 + n), 'campaign', ARRAY['$media/campaign.png?bytes=150000&type=image/png']
     FROM generate_series(1, 200) n" >/dev/null
wait_for 60 "(SELECT count(*) FROM plivo.message_logs WHERE message_text = 'campaign' AND status IN ('sent', 'delivered')) = 200"
check "media: the 200 MMS of a campaign are sent" $?
expect_eq "media: their picture was asked for once (HEAD)" 1 \
    "$(curl -sf "$(sim_url)/_sim/media_stats" | python3 -c 'import json, sys
print(json.load(sys.stdin).get("/_sim/media/campaign.png", {}).get("HEAD", 0))')"

# SMS fallback: an MMS to a line that cannot take MMS (error 50) is followed by one SMS
# with its text and link; both rows point at each other.
fb_id="$(sql "SELECT plivo.send_mms('+14155558020', 'Your ticket', ARRAY['$media/ticket.png?bytes=20000&type=image/png'], sms_fallback => true)")"
wait_for 30 "(SELECT count(*) FROM plivo.message_logs WHERE fallback_of = '$fb_id' AND status = 'delivered') = 1"
check "fallback: the SMS sent instead is delivered" $?
expect_eq "fallback: the MMS is undelivered with error 50 and points at its SMS" "undelivered 50 t" \
    "$(sql "SELECT m.status || ' ' || m.error_code || ' ' || (m.fallback_message_id = f.id)::text
            FROM plivo.message_logs m JOIN plivo.message_logs f ON f.fallback_of = m.id WHERE m.id = '$fb_id'" | sed 's/ true$/ t/')"
expect_eq "fallback: Plivo got the MMS, then exactly one SMS with the text and the link" "mms sms 1" \
    "$(sim_requests '+14155558020' | python3 -c 'import json, sys
rs = [json.loads(l) for l in sys.stdin]
print(" ".join(r["type"] for r in rs), sum(1 for r in rs if r["type"] == "sms" and "ticket.png" in r["text"] and r["text"].startswith("Your ticket")))')"

# Costs: what Plivo reported adds up in delivery_stats, per day and sender.
wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sent') = 0"
expect_eq "cost: delivery_stats' spend is the sum of Plivo's TotalAmount for every message" "t" \
    "$(python3 - "$(sim_url)" "$SIM_AUTH_ID" "$SIM_AUTH_TOKEN" "$(sql "SELECT string_agg(plivo_message_uuid, ',') FROM plivo.message_logs WHERE plivo_message_uuid IS NOT NULL")" \
       "$(sql "SELECT coalesce(sum(spend), 0) FROM plivo.delivery_stats")" <<'PY'
import base64, json, sys, urllib.request
url, auth_id, token, uuids, spend = sys.argv[1:6]
total = 0.0
for uuid in uuids.split(','):
    request = urllib.request.Request(f"{url}/v1/Account/{auth_id}/Message/{uuid}/")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{auth_id}:{token}".encode()).decode())
    total += float(json.load(urllib.request.urlopen(request))["total_amount"])
print(str(abs(total - float(spend)) < 1e-9 and total > 0).lower()[0])
PY
)"
stop_relay
