# plivo.retention: the worker purges messages in a final status older than the setting,
# with their events, and leaves the rest alone.
sql "INSERT INTO plivo.message_logs (recipient, message_text, created_at)
     SELECT '+1415555' || (3000 + n), 'old ' || n, now() - interval '2 days'
     FROM generate_series(1, 49) n" >/dev/null
# One old message that is still waiting (scheduled for tomorrow): never purged.
sql "INSERT INTO plivo.message_logs (recipient, message_text, created_at, next_attempt_at)
     VALUES ('+14155553050', 'old waiting', now() - interval '2 days', now() + interval '1 day')" >/dev/null
enqueue 5 recent
wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sent') = 54"
check "retention: old and recent messages sent" $?
sql "UPDATE plivo.message_logs SET status = 'delivered' WHERE message_text LIKE 'old %' AND status = 'sent'" >/dev/null
reload_with "plivo.retention = '1d'"
wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE message_text LIKE 'old %') = 1"
check "retention: the 49 old delivered messages are purged" $?
expect_eq "retention: the old waiting message stays" queued \
    "$(sql "SELECT status FROM plivo.message_logs WHERE message_text = 'old waiting'")"
expect_eq "retention: recent messages stay" 5 "$(sql "SELECT count(*) FROM plivo.message_logs WHERE message_text LIKE 'recent-%'")"
expect_eq "retention: their events went with them" 0 \
    "$(sql "SELECT count(*) FROM plivo.message_events e WHERE NOT EXISTS (SELECT FROM plivo.message_logs m WHERE m.id = e.message_id)")"
reload_with "plivo.retention = 0"
