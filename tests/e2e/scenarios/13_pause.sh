# plivo.paused: the worker starts no new attempt while it is set (enqueuing goes on),
# attempts already on the wire finish and are recorded, messages claimed but not on the
# wire go back to the queue, and turning it off sends the rest.
reload_with "plivo.paused = on"
wait_for 10 "(SELECT worker_paused FROM plivo.queue_health)"
check "paused: queue_health says the worker is paused" $?

worker_pid="$(sql "SELECT pid FROM plivo.worker_status()")"
ticks_before="$(awk '{print $14 + $15}' "/proc/$worker_pid/stat")"
enqueue 20 paused
sleep 3
ticks_after="$(awk '{print $14 + $15}' "/proc/$worker_pid/stat")"
expect_eq "paused: all 20 stay queued, never attempted" 20 \
    "$(sql "SELECT count(*) FROM plivo.message_logs WHERE status = 'queued' AND attempts = 0")"
expect_eq "paused: nothing reached the simulator" 0 "$(sim_stat send_requests)"
# A paused worker sleeps; one that loops on due messages would burn a whole core (300 ticks).
python3 -c "import sys; sys.exit(0 if $ticks_after - $ticks_before < 60 else 1)"
check "paused: the worker sleeps (CPU ticks over 3 s: $((ticks_after - ticks_before)))" $?

reload_with "plivo.paused = off"
wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sent') = 20"
check "resumed: all 20 sent" $?
expect_eq "resumed: queue_health says the worker is not paused" f \
    "$(sql "SELECT worker_paused FROM plivo.queue_health")"
check_reconciles "pause and resume"

# Paused while requests are on the wire: those finish as 'sent'; what was queued waits.
fresh
sim_config '{"latency_ms": 1500}'
enqueue 5 on-the-wire
wait_for 10 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sending') = 5"
check "in flight: 5 claimed before the pause" $?
reload_with "plivo.paused = on"
wait_for 10 "(SELECT worker_paused FROM plivo.queue_health)"
sql "INSERT INTO plivo.message_logs (recipient, message_text)
     SELECT '+1415555' || (3000 + n), 'after-pause-' || n FROM generate_series(1, 5) n" >/dev/null
wait_for 10 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sent') = 5"
check "in flight: the 5 on the wire finish as sent while paused" $?
sleep 1
expect_eq "in flight: the 5 enqueued after the pause wait" 5 \
    "$(sql "SELECT count(*) FROM plivo.message_logs WHERE message_text LIKE 'after-pause-%' AND status = 'queued'")"
expect_eq "in flight: the simulator accepted only the first 5" 5 "$(sim_stat accepted_messages)"
sim_config '{"latency_ms": 0}'
reload_with "plivo.paused = off"
wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sent') = 10"
check "in flight: after resuming, all 10 sent" $?
check_reconciles "pause with requests on the wire"
# Paused with messages claimed ahead of free slots (up to max_in_flight of them wait
# behind the 32 on the wire): those go back to the queue unsent; the 32 finish as sent.
fresh
reload_with "plivo.max_in_flight = 32"  # an earlier scenario may have left another
sim_config '{"latency_ms": 1500}'
enqueue 50 claimed-ahead
wait_for 10 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sending') = 50"
check "claimed ahead: all 50 claimed, 32 of them on the wire" $?
reload_with "plivo.paused = on"
wait_for 10 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'retrying'
               AND attempts = 0 AND last_error = 'sending paused (plivo.paused)') = 18"
check "claimed ahead: the 18 not on the wire go back unsent (retrying, attempts 0)" $?
wait_for 10 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sent') = 32"
check "claimed ahead: the 32 on the wire finish as sent" $?
sleep 1
expect_eq "claimed ahead: the simulator saw only the 32" 32 "$(sim_stat send_requests)"
sim_config '{"latency_ms": 0}'
reload_with "plivo.paused = off"
wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sent') = 50"
check "claimed ahead: after resuming, all 50 sent" $?
check_reconciles "pause with messages claimed ahead"

grep -q "sending paused (plivo.paused)" "$E2E_DIR/pg/server.log"
check "the server log records the pause" $?
sql "ALTER SYSTEM RESET plivo.paused" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
