# Issue 18: 500 answers lost after Plivo stored the message (TCP resets) settle through
# the list API, within its limit (20 requests per 60 s, pages of 20, meta.next): each
# ends sent with the uuid Plivo gave it, none is sent twice; meanwhile 2,000 messages to
# other numbers go out at the configured rate, which settling does not slow down.
#
# The simulator cannot aim a fault at some recipients, so the 500 go first, in a burst,
# every send reset, and the fault is switched off once it hit 500 times. The 2,000 are
# enqueued once settling began and the 500's window is past (their last attempt + the
# request timeout + the clock tolerance): they are sent during the settling, not listed
# with it. At the defaults a window of 500 is 25 list pages, one every 3 s: 75 s.
rate=50  # plivo.account_rate_limit for the 2,000: about 40 s
sim_config '{"rate_limit": 1, "rate_limit_count": 100000000, "rate_limit_window_ms": 5000,
             "list_rate_limit_count": 20, "list_rate_limit_window_ms": 60000,
             "accept_then_reset_rate": 1.0}'
reload_with "plivo.account_rate_limit = 100000" "plivo.settle_delay = '1s'" \
    "plivo.request_timeout = '2s'" "plivo.settle_clock_tolerance = '10s'" \
    "plivo.list_requests_per_minute = 20"
scenario_started="$(date +%s)"

sql "INSERT INTO plivo.message_logs (recipient, message_text)
     SELECT '+1415555' || (2000 + n), 'reset-' || n FROM generate_series(1, 500) n" >/dev/null
for _ in $(seq 1 150); do [ "$(sim_stat faults.accept_then_reset)" -ge 500 ] && break; sleep 0.1; done
sim_config '{"accept_then_reset_rate": 0}'
reload_with "plivo.account_rate_limit = $rate"
expect_eq "500 answers lost after acceptance (resets)" 500 "$(sim_stat faults.accept_then_reset)"
wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE message_text LIKE 'reset-%'
              AND status = 'retrying' AND unsettled_since IS NOT NULL) = 500"
check "the 500 wait unsettled (retrying, unsettled_since set)" $?
resets_span="$(sql "SELECT round(extract(epoch FROM max(unsettled_since) - min(unsettled_since))::numeric, 1)
                    FROM plivo.message_logs WHERE message_text LIKE 'reset-%'")"

# Past the window: the last reset + 2 s (request timeout) + 10 s (tolerance) + 1 s.
wait_for 60 "clock_timestamp() > (SELECT max(unsettled_since) FROM plivo.message_logs
             WHERE message_text LIKE 'reset-%') + interval '13 s'"
for _ in $(seq 1 150); do [ "$(sim_stat list_requests)" -ge 1 ] && break; sleep 0.2; done
check "settling began" "$([ "$(sim_stat list_requests)" -ge 1 ]; echo $?)"
lists_before="$(sim_stat list_requests)"
sql "INSERT INTO plivo.message_logs (recipient, message_text)
     SELECT '+1415556' || (2000 + n), 'steady-' || n FROM generate_series(1, 2000) n" >/dev/null
wait_for 90 "(SELECT count(*) FROM plivo.message_logs WHERE message_text LIKE 'steady-%' AND status = 'sent') = 2000"
check "the 2,000 others all sent" $?
lists_during=$(($(sim_stat list_requests) - lists_before))
unsettled_after="$(sql "SELECT count(*) FROM plivo.message_logs WHERE message_text LIKE 'reset-%' AND unsettled_since IS NOT NULL")"
check "settling was still going on when the last of the 2,000 was sent ($unsettled_after of 500 unsettled)" \
    "$([ "$unsettled_after" -gt 0 ]; echo $?)"
check "settling went on while the 2,000 were sent ($lists_during list requests meanwhile)" \
    "$([ "$lists_during" -ge 8 ]; echo $?)"

# The backlog is read as the burst ages: when the first read takes only part of it,
# that part lists the whole window and the rest lists it again (50 pages, 150 s).
wait_for 150 "(SELECT count(*) FROM plivo.message_logs WHERE message_text LIKE 'reset-%' AND status = 'sent') = 500"
check "the 500 all end sent" $?
echo "  (the 500: $(sql "SELECT string_agg(status || '=' || n, ' ' ORDER BY status) FROM (SELECT status, count(*) n
             FROM plivo.message_logs WHERE message_text LIKE 'reset-%' GROUP BY status) s"), unsettled: $(sql "SELECT count(*)
             FROM plivo.message_logs WHERE unsettled_since IS NOT NULL"), $(($(date +%s) - scenario_started)) s in)"

# Each of the 500 has the uuid of the one message the simulator stored for it.
rows_file="$(mktemp)"
sql "SELECT coalesce(json_agg(json_build_object('text', message_text, 'uuid', plivo_message_uuid,
        'attempts', attempts)), '[]') FROM plivo.message_logs WHERE message_text LIKE 'reset-%'" >"$rows_file"
read -r wrong_uuid reattempted stored_resets <<<"$(curl -sf "$(sim_url)/_sim/messages?limit=1000000" | python3 -c '
import json, sys
rows = json.load(open(sys.argv[1]))
stored = {}
for m in json.load(sys.stdin)["messages"]:
    if m["text"].startswith("reset-"):
        stored.setdefault(m["text"], []).append((m["message_uuid"], m["fault"]))
wrong = sum(1 for r in rows if stored.get(r["text"]) != [(r["uuid"], "accept_then_reset")])
print(wrong, sum(1 for r in rows if r["attempts"] != 1), sum(len(v) for v in stored.values()))' "$rows_file")"
rm -f "$rows_file"
expect_eq "each of the 500 has the uuid the simulator holds for it (the reset one)" 0 "$wrong_uuid"
expect_eq "the simulator holds each of the 500 once" 500 "$stored_resets"
expect_eq "none of the 500 attempted again" 0 "$reattempted"
expect_eq "the simulator holds exactly 2,500 messages" 2500 "$(sim_stat accepted_messages)"
check_reconciles "settle backlog"
check_attribution "settle backlog"

# Within the list API's limit, and batched: one window of 500 is 25 pages, twice that
# when the backlog came in two reads (above); one list per message would be 500.
list_requests="$(sim_stat list_requests)"
expect_eq "no list request refused (settling kept to 20 per 60 s)" 0 "$(sim_stat list_rate_limited)"
expect_eq "no 429 at all" 0 "$(sim_stat status_codes.429)"
check "settled in batches: $list_requests list requests for 500 messages ($(sim_stat get_message_requests) uuid lookups)" \
    "$([ "$list_requests" -ge 25 ] && [ "$list_requests" -le 50 ]; echo $?)"

# The send rate, from the simulator's accept times, over the middle of a run (a tenth
# left out at each end): overall and its slowest 5 s. The 2,000 during settling, and for
# comparison 500 more once nothing is left to settle, at the same configured rate.
steady_rate() {  # steady_rate PREFIX: "RATE SLOWEST-5-S"
    curl -sf "$(sim_url)/_sim/messages?limit=1000000" | python3 -c '
import json, sys
times = sorted(m["message_time_us"] / 1e6 for m in json.load(sys.stdin)["messages"]
               if m["text"].startswith(sys.argv[1]))
cut = len(times) // 10
middle = times[cut:-cut]
rate = (len(middle) - 1) / (middle[-1] - middle[0])
slowest = min(sum(1 for t in middle if start <= t < start + 5) / 5.0
              for start in [middle[0] + 5 * k for k in range(int((middle[-1] - middle[0]) // 5))])
print(round(rate, 1), round(slowest, 1))' "$1"
}
read -r measured slowest <<<"$(steady_rate steady-)"
sql "INSERT INTO plivo.message_logs (recipient, message_text)
     SELECT '+1415557' || (2000 + n), 'calm-' || n FROM generate_series(1, 500) n" >/dev/null
wait_for 30 "(SELECT count(*) FROM plivo.message_logs WHERE message_text LIKE 'calm-%' AND status = 'sent') = 500"
check "500 more sent with nothing to settle" $?
read -r calm calm_slowest <<<"$(steady_rate calm-)"
python3 -c "import sys; sys.exit(0 if $measured >= 0.9 * $calm and $slowest >= 0.85 * $calm else 1)"
check "settling did not slow sending (${measured}/s, slowest 5 s ${slowest}/s; without settling ${calm}/s)" $?
# And against the configured rate itself: the pacing reaches it (within 1%, the margin
# of the 5 s window), so 90% leaves room for a slow machine, not for a shortfall.
python3 -c "import sys; sys.exit(0 if 0.9 * $rate <= $measured <= 1.05 * $rate else 1)"
check "the 2,000 went at about the configured rate during settling (${measured}/s of $rate/s)" $?
echo "  (resets within ${resets_span} s; list requests: $list_requests, $lists_during while the 2,000 were sent; send rate ${measured}/s, slowest 5 s ${slowest}/s, without settling ${calm}/s (slowest 5 s ${calm_slowest}/s); $(($(date +%s) - scenario_started)) s)"

for setting in account_rate_limit settle_delay request_timeout settle_clock_tolerance list_requests_per_minute; do
    sql "ALTER SYSTEM RESET plivo.$setting" >/dev/null
done
sql "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
