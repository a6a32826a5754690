# Delivery reports end to end: the simulator reports every status change of 1,000
# messages, signed, to plivo_relay (what a Supabase Edge Function does), which hands each
# one to plivo.handle_status_callback(). Some reports come twice, some out of order.
# Every message ends in the simulator's final state with its error code and a complete,
# forward-only history; repeats and late reports change nothing; a forged report is
# refused with 403 and changes nothing either.
if [ ! -x "$RELAY" ]; then
    check "plivo_relay is built ($RELAY)" 1
    return
fi
# Reports are 20 ms apart here, so many reach us before the worker has recorded the uuid
# Plivo answered with: they are kept as unknown_message, answered 200 (as the Edge
# Function does), and applied by the worker when it records the uuid.
if ! start_relay; then
    check "relay is up" 1 "($(tail -5 "$E2E_DIR/relay.log"))"
    stop_relay
    return
fi
check "relay is up" 0

sim_config '{"report_delay_ms": 20, "delivered_rate": 0.8, "undelivered_rate": 0.2,
             "failed_rate": 0, "report_duplicate_rate": 0.1, "report_out_of_order_rate": 0.1,
             "report_timeout_ms": 5000,
             "report_retry_delays_ms": [100, 200, 400, 800, 1600, 3200, 5000, 5000]}'
sql "INSERT INTO plivo.message_logs (recipient, message_text, callback_url)
     SELECT '+1415555' || (2000 + n), 'report-' || n, '$relay_url'
     FROM generate_series(1, 1000) n" >/dev/null
check "1000 messages with a callback_url enqueued in one transaction" $?
wait_for 120 "(SELECT count(*) FROM plivo.message_logs WHERE status IN ('delivered', 'undelivered')) = 1000"
check "reports: all 1000 end delivered or undelivered" $?
# the repeated and held-back reports come after the final ones: let them all arrive
for _ in $(seq 1 300); do [ "$(sim_stat reports.pending)" = 0 ] && break; sleep 0.1; done
expect_eq "reports: the simulator has none left to send" 0 "$(sim_stat reports.pending)"
expect_eq "reports: no message stuck in sent" 0 \
    "$(sql "SELECT count(*) FROM plivo.message_logs WHERE status NOT IN ('delivered', 'undelivered')")"

# Each row against the simulator's own decided outcome for its uuid.
rows="$(sql "SELECT json_agg(json_build_object('uuid', plivo_message_uuid, 'status', status,
                                             'error_code', error_code))
             FROM plivo.message_logs")"
comparison="$(curl -sf "$(sim_url)/_sim/messages?limit=100000" | python3 -c '
import json, sys
rows = json.loads(sys.argv[1])
sim = {m["message_uuid"]: m for m in json.load(sys.stdin)["messages"] if m["callback_url"] == sys.argv[2]}
state_mismatch = sum(1 for r in rows if sim.get(r["uuid"], {}).get("message_state") != r["status"])
code_mismatch = sum(1 for r in rows if r["status"] == "undelivered"
                    and (not r["error_code"] or sim.get(r["uuid"], {}).get("error_code") != r["error_code"]))
count = lambda seq, s: sum(1 for x in seq if x == s)
sim_states = [m["message_state"] for m in sim.values()]
db_states = [r["status"] for r in rows]
print(len(sim), count(sim_states, "delivered"), count(db_states, "delivered"),
      count(sim_states, "undelivered"), count(db_states, "undelivered"), state_mismatch, code_mismatch)
' "$rows" "$relay_url")"
read -r sim_total sim_delivered db_delivered sim_undelivered db_undelivered state_mismatch code_mismatch \
    <<<"$comparison"
expect_eq "reports: the simulator holds the 1000 messages" 1000 "$sim_total"
expect_eq "reports: delivered count is the simulator's" "$sim_delivered" "$db_delivered"
expect_eq "reports: undelivered count is the simulator's" "$sim_undelivered" "$db_undelivered"
python3 -c "import sys; sys.exit(0 if 0 < $sim_undelivered < 1000 else 1)"
check "reports: both outcomes occur ($sim_delivered delivered, $sim_undelivered undelivered)" $?
expect_eq "reports: every row's status is its simulator message's final state" 0 "$state_mismatch"
expect_eq "reports: every undelivered row carries the simulator's error code" 0 "$code_mismatch"

# The history of each message, exactly: enqueue, claim, Plivo's answer, one report.
expect_eq "events: every message has exactly its four steps, in order" 0 "$(sql "
    SELECT count(*) FROM (
        SELECT m.id, m.status,
               string_agg(coalesce(e.old_status, '-') || '>' || e.new_status || ':' || e.cause,
                          ' ' ORDER BY e.id) AS history
        FROM plivo.message_logs m LEFT JOIN plivo.message_events e ON e.message_id = m.id
        GROUP BY m.id, m.status) h
    WHERE history IS DISTINCT FROM
          '->queued:enqueue queued>sending:claim sending>sent:plivo_answer sent>'
          || status || ':delivery_report'")"
expect_eq "events: none leaves a final status" 0 "$(sql "
    SELECT count(*) FROM plivo.message_events e JOIN plivo.message_logs m ON m.id = e.message_id
    WHERE e.old_status IN ('delivered', 'undelivered', 'failed', 'rejected')")"
expect_eq "events: event times never go backwards within a message" 0 "$(sql "
    SELECT count(*) FROM (
        SELECT e.created_at < lag(e.created_at) OVER (PARTITION BY e.message_id ORDER BY e.id) AS back
        FROM plivo.message_events e JOIN plivo.message_logs m ON m.id = e.message_id) t
    WHERE back")"

# What the function answered, as the relay counted it.
duplicates="$(relay_stat results.duplicate)"
stale="$(relay_stat results.stale)"
python3 -c "import sys; sys.exit(0 if $(sim_stat reports.duplicated) > 0 and $(sim_stat reports.out_of_order) > 0 else 1)"
check "reports: the simulator sent repeated and out-of-order reports" $?
python3 -c "import sys; sys.exit(0 if $duplicates > 0 else 1)"
check "reports: repeated reports answered 'duplicate' ($duplicates)" $?
python3 -c "import sys; sys.exit(0 if $stale > 0 else 1)"
check "reports: late reports answered 'stale' ($stale)" $?
expect_eq "reports: one applied final report per message" 1000 "$(sql "
    SELECT count(*) FROM plivo.delivery_reports r JOIN plivo.message_logs m ON m.id = r.message_id
    WHERE r.result = 'applied' AND r.status IN ('delivered', 'undelivered')")"
# Reports that came before their uuid was recorded were answered unknown_message and
# applied later by the worker: none is left unknown, and every request left one row.
expect_eq "reports: every early report was applied later (none left unknown)" 0 \
    "$(sql "SELECT count(*) FROM plivo.delivery_reports WHERE result = 'unknown_message'")"
expect_eq "reports: the function kept one row per report it was handed" "$(relay_stat ok)" \
    "$(sql "SELECT count(*) FROM plivo.delivery_reports")"
expect_eq "relay: no report refused, no error" "0 0" "$(relay_stat forbidden) $(relay_stat errors)"
expect_eq "reports: the simulator gave none up" 0 "$(sim_stat reports.gave_up)"
sim_reports="$(curl -sf "$(sim_url)/_sim/stats" |
               python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["reports"]))')"
echo "  (relay: $(curl -sf "http://127.0.0.1:$relay_port/_relay/stats"); simulator reports: $sim_reports)"

# Forged reports, straight to the relay, for a message that waits in sent (it has no
# callback URL, so the simulator reports nothing for it).
id="$(sql "INSERT INTO plivo.message_logs (recipient, message_text) VALUES ('+14155559999', 'forged') RETURNING id")"
wait_for 20 "(SELECT status = 'sent' FROM plivo.message_logs WHERE id = '$id')"
check "forged: the target message is sent" $?
uuid="$(sql "SELECT plivo_message_uuid FROM plivo.message_logs WHERE id = '$id'")"
events_before="$(sql "SELECT count(*) FROM plivo.message_events WHERE message_id = '$id'")"
# report METHOD TAMPER: sends a delivered report for $uuid signed with V3 (by Plivo's
# rules, plivo-api.md §3) and prints the HTTP status. TAMPER: none | field (ErrorCode
# changed after signing) | unsigned (no signature headers) | token (signed with another token).
report() {
    python3 - "$1" "$2" "$relay_url" "$uuid" "$SIM_AUTH_TOKEN" <<'PY'
import base64, hashlib, hmac, sys, urllib.error, urllib.parse, urllib.request
method, tamper, url, uuid, token = sys.argv[1:]
fields = {"From": "14155550100", "To": "14155559999", "MessageUUID": uuid, "Status": "delivered",
          "ErrorCode": "000", "Units": "1", "Sequence": "3", "PartInfo": "1 of 1", "PowerpackUUID": "",
          "Type": "sms"}
nonce = "12345678901234567890"
if method == "GET":
    signed = url + "?" + "&".join(k + "=" + fields[k] for k in sorted(fields))
else:
    signed = url + "?" + "".join(k + fields[k] for k in sorted(fields))
key = token if tamper != "token" else "not-the-auth-token"
signature = base64.b64encode(hmac.new(key.encode(), (signed + "." + nonce).encode(), hashlib.sha256).digest()).decode()
if tamper == "field":
    fields["ErrorCode"] = "30"
headers = {} if tamper == "unsigned" else {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}
body = urllib.parse.urlencode(fields)
request = (urllib.request.Request(url + "?" + body, headers=headers) if method == "GET" else
           urllib.request.Request(url, data=body.encode(), headers=headers))
try:
    print(urllib.request.urlopen(request, timeout=10).status)
except urllib.error.HTTPError as error:
    print(error.code)
PY
}
expect_eq "forged: a tampered field gets 403" 403 "$(report POST field)"
expect_eq "forged: a tampered GET query gets 403" 403 "$(report GET field)"
expect_eq "forged: no signature gets 403" 403 "$(report POST unsigned)"
expect_eq "forged: another account's signature gets 403" 403 "$(report POST token)"
expect_eq "forged: the relay counted 4 refusals" 4 "$(relay_stat forbidden)"
expect_eq "forged: the message is still sent" sent "$(sql "SELECT status FROM plivo.message_logs WHERE id = '$id'")"
expect_eq "forged: no event written" "$events_before" \
    "$(sql "SELECT count(*) FROM plivo.message_events WHERE message_id = '$id'")"
expect_eq "forged: nothing kept as a received report" 0 \
    "$(sql "SELECT count(*) FROM plivo.delivery_reports WHERE message_uuid = '$uuid'")"
# the same report, correctly signed (and as a GET, Plivo's other method), is applied
expect_eq "signed GET report: 200" 200 "$(report GET none)"
expect_eq "signed GET report: applied" delivered "$(sql "SELECT status FROM plivo.message_logs WHERE id = '$id'")"
expect_eq "signed GET report again: 200, a duplicate" "200 $((duplicates + 1))" \
    "$(report GET none) $(relay_stat results.duplicate)"

stop_relay
check "relay stops cleanly on SIGTERM" $?
