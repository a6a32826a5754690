# A rolled-back transaction sends nothing; a committed one is sent without waiting
# for a poll; send_mms carries its media and callback to Plivo.
sql "BEGIN; SELECT plivo.send_sms('+14155552001', 'rolled back'); ROLLBACK;" >/dev/null
psql -X -q -c "BEGIN" -c "INSERT INTO plivo.message_logs (recipient, message_text) VALUES ('+14155552002', 'rolled back too')" -c "ROLLBACK" >/dev/null
sleep 1.5
expect_eq "rollback sends nothing" 0 "$(sim_stat accepted_messages)"
id="$(sql "SELECT plivo.send_mms('+14155552003', 'a picture', ARRAY['https://example.com/a.jpg','https://example.com/b.png'], callback_url => 'https://hooks.example.com/plivo/status')")"
wait_for 10 "(SELECT status = 'sent' FROM plivo.message_logs WHERE id = '$id')"
check "committed MMS is sent" $?
body="$(curl -sf "$(sim_url)/_sim/messages?limit=10")"
echo "$body" | python3 -c '
import json, sys
body = json.load(sys.stdin)
stored = body.get("messages", body) if isinstance(body, dict) else body
m = stored[0]
request = m.get("request") or m.get("body")
if isinstance(request, str): request = json.loads(request)
ok = (request["type"] == "mms" and request["src"] == "14155550100" and request["dst"] == "14155552003"
      and request["media_urls"] == ["https://example.com/a.jpg", "https://example.com/b.png"]
      and request["url"] == "https://hooks.example.com/plivo/status" and request["method"] == "POST")
sys.exit(0 if ok else 1)'
check "request body as plivo-api.md describes (src, dst, type, media_urls, url, method)" $?

# plivo.notify_on_enqueue: with the worker serving this database, 'auto' wakes it
# without a NOTIFY (notifying commits are serialised cluster-wide); 'always' notifies.
quiet="$(psql -X -q -c "LISTEN plivo_message_queued" -c "SELECT plivo.send_sms('+14155552005', 'no notify') IS NOT NULL" 2>&1)"
loud="$(psql -X -q -c "SET plivo.notify_on_enqueue = always" -c "LISTEN plivo_message_queued" -c "SELECT plivo.send_sms('+14155552006', 'notify') IS NOT NULL" 2>&1)"
case "$quiet" in *"Asynchronous notification"*) r=1 ;; *) r=0 ;; esac
check "notify_on_enqueue auto: no NOTIFY while the worker serves the database" "$r" "$quiet"
case "$loud" in *'Asynchronous notification "plivo_message_queued"'*) r=0 ;; *) r=1 ;; esac
check "notify_on_enqueue always: one NOTIFY" "$r" "$loud"
wait_for 10 "(SELECT count(*) = 2 FROM plivo.message_logs WHERE recipient IN ('+14155552005', '+14155552006') AND status = 'sent')"
check "both sent, notified or not" $?
