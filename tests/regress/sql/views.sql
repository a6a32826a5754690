-- What a DBA reads: plivo.error_codes, plivo.queue_health and plivo.delivery_stats,
-- over data made by hand so every number is known in advance.
SET plivo.sender_number = '+14155552672';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
\pset null '(null)'
\set VERBOSITY terse
TRUNCATE plivo.message_logs, plivo.message_events;

-------------------------------------------------------------------------------
-- plivo.error_codes: every row of Plivo's table; unknown codes count as permanent.
-------------------------------------------------------------------------------
SELECT code, meaning, class, transient FROM plivo.error_codes ORDER BY code::integer;
SELECT class, count(*), bool_and(transient) AS all_transient, bool_or(transient) AS any_transient
FROM plivo.error_codes GROUP BY class ORDER BY class;
SELECT obj_description('plivo.error_codes'::regclass, 'pg_class') AS comment;

-- The views run with the caller's privileges and RLS (PostgreSQL 15 security_invoker).
SELECT c.relname, c.relkind, c.reloptions, c.relrowsecurity
FROM pg_class c
WHERE c.relnamespace = 'plivo'::regnamespace
  AND c.relname IN ('error_codes', 'queue_health', 'delivery_stats')
ORDER BY c.relname;
SELECT policyname, cmd, roles, qual FROM pg_policies
WHERE schemaname = 'plivo' AND tablename = 'error_codes';

-- Who may read what: service_role all three, authenticated the error codes only,
-- anon nothing.
SELECT r.rolname,
       has_table_privilege(r.rolname, 'plivo.error_codes', 'SELECT') AS error_codes,
       has_table_privilege(r.rolname, 'plivo.error_codes', 'INSERT')
           OR has_table_privilege(r.rolname, 'plivo.error_codes', 'UPDATE')
           OR has_table_privilege(r.rolname, 'plivo.error_codes', 'DELETE') AS error_codes_write,
       has_table_privilege(r.rolname, 'plivo.queue_health', 'SELECT') AS queue_health,
       has_table_privilege(r.rolname, 'plivo.delivery_stats', 'SELECT') AS delivery_stats
FROM pg_roles r WHERE r.rolname IN ('anon', 'authenticated', 'service_role', 'plivo_regress_user')
ORDER BY r.rolname;

BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "user-a", "role": "authenticated"}', true) IS NOT NULL AS claims_set;
SELECT count(*) AS error_codes_visible FROM plivo.error_codes;
SELECT * FROM plivo.queue_health;
ROLLBACK;
BEGIN;
SET LOCAL ROLE authenticated;
SELECT * FROM plivo.delivery_stats;
ROLLBACK;
BEGIN;
SET LOCAL ROLE anon;
SELECT count(*) FROM plivo.error_codes;
ROLLBACK;

-------------------------------------------------------------------------------
-- plivo.queue_health, inside one transaction so now() is one instant:
--   queued, due 5 min ago and 1 min ago; queued, due in an hour (scheduled)
--   retrying, due 2 min ago, unsettled since 3 min (waits to be settled: not due);
--   retrying, due in 10 min (scheduled)
--   sending, unsettled; sending
--   failed 30 min ago (counts) and 2 hours ago (does not)
--   sent 10 min ago (counts; its stale unsettled_since does not: sent is final here)
--   delivered, sent 3 hours ago (neither)
-- Expected: queued_due 2, scheduled 2, oldest_due_age 00:05:00, in_flight 2,
-- retrying 2, unsettled 2, oldest_unsettled_age 00:03:00, failed_last_hour 1,
-- sent_last_hour 1.
-------------------------------------------------------------------------------
\d plivo.queue_health
BEGIN;
INSERT INTO plivo.message_logs (recipient, message_text, next_attempt_at) VALUES
    ('+14155552671', 'q due 5 min',     now() - interval '5 minutes'),
    ('+14155552671', 'q due 1 min',     now() - interval '1 minute'),
    ('+14155552671', 'q in 1 hour',     now() + interval '1 hour'),
    ('+14155552671', 'r due 2 min',     now() - interval '2 minutes'),
    ('+14155552671', 'r in 10 min',     now() + interval '10 minutes'),
    ('+14155552671', 's unsettled',     now() - interval '3 minutes'),
    ('+14155552671', 's',               now() - interval '3 minutes'),
    ('+14155552671', 'failed 30 min',   now() - interval '40 minutes'),
    ('+14155552671', 'failed 2 hours',  now() - interval '3 hours'),
    ('+14155552671', 'sent 10 min',     now() - interval '20 minutes'),
    ('+14155552671', 'delivered',       now() - interval '4 hours');
UPDATE plivo.message_logs SET status = 'retrying', attempts = 1,
       unsettled_since = CASE WHEN message_text = 'r due 2 min' THEN now() - interval '3 minutes' END
WHERE message_text LIKE 'r %';
UPDATE plivo.message_logs SET status = 'sending', attempts = 1, lease_expires_at = now() + interval '1 minute',
       unsettled_since = CASE WHEN message_text = 's unsettled' THEN now() - interval '1 minute' END
WHERE message_text LIKE 's%';
UPDATE plivo.message_logs SET status = 'failed', attempts = 1, error_code = 'http_400'
WHERE message_text LIKE 'failed%';
UPDATE plivo.message_logs SET status = 'sent', attempts = 1, plivo_message_uuid = 'uuid-' || message_text,
       unsettled_since = now() - interval '15 minutes'
WHERE message_text = 'sent 10 min';
UPDATE plivo.message_logs SET status = 'delivered', attempts = 1, plivo_message_uuid = 'uuid-delivered'
WHERE message_text = 'delivered';
-- The audit trail with chosen times instead of this transaction's clock.
DELETE FROM plivo.message_events;
INSERT INTO plivo.message_events (message_id, old_status, new_status, cause, created_at)
SELECT m.id, e.old_status, e.new_status, e.cause, now() + e.at
FROM plivo.message_logs m
JOIN (VALUES ('failed 30 min',  'sending', 'failed',    'plivo_answer',    interval '-30 minutes'),
             ('failed 2 hours', 'sending', 'failed',    'plivo_answer',    interval '-2 hours'),
             ('sent 10 min',    'sending', 'sent',      'plivo_answer',    interval '-10 minutes'),
             ('delivered',      'sending', 'sent',      'plivo_answer',    interval '-3 hours'),
             ('delivered',      'sent',    'delivered', 'delivery_report', interval '-5 minutes'))
     AS e (label, old_status, new_status, cause, at) ON e.label = m.message_text;

\x on
SELECT queued_due, scheduled, oldest_due_age, in_flight, retrying, unsettled,
       oldest_unsettled_age, failed_last_hour, sent_last_hour,
       worker_preloaded = (SELECT preloaded FROM plivo.worker_status()) AS worker_preloaded_matches,
       worker_running IS NOT NULL AS worker_running_known,
       worker_pid IS NOT DISTINCT FROM (SELECT pid FROM plivo.worker_status()) AS worker_pid_matches,
       worker_started_at IS NOT DISTINCT FROM (SELECT started_at FROM plivo.worker_status()) AS worker_started_at_matches,
       (worker_heartbeat_at IS NULL) = (worker_heartbeat_age IS NULL) AS heartbeat_age_with_heartbeat,
       coalesce(worker_heartbeat_age >= interval '0', true) AS heartbeat_age_not_negative
FROM plivo.queue_health;
\x off

-- service_role reads it the way PostgREST calls it.
SET LOCAL ROLE service_role;
SELECT queued_due, scheduled, in_flight, retrying, unsettled, failed_last_hour, sent_last_hour
FROM plivo.queue_health;
RESET ROLE;
ROLLBACK;

-- An empty queue: zeros, and no oldest age.
SELECT queued_due, scheduled, oldest_due_age, in_flight, retrying, unsettled,
       failed_last_hour, sent_last_hour
FROM plivo.queue_health;

-------------------------------------------------------------------------------
-- plivo.delivery_stats. The session's time zone is not UTC: days are UTC dates.
--
-- +14155552672 on 2024-03-01 (UTC), created 10:00 to 10:09:
--   a1..a3 delivered: sent after 2, 4, 6 s (a1 also a later, second 'sent' event:
--          the first counts), delivered after 10, 20, 30 s; a1 carries error 000
--   a4     undelivered, error 30, sent after 8 s
--   a5     failed after Plivo accepted it (has a uuid), error 30, sent after 10 s
--   a6, a7 failed, Plivo refused them: error http_400, no uuid, never sent
--   a8     still queued
--   a9     rejected by Plivo after it accepted it, error 100, sent after 12 s
--   a10    failed, no uuid, error 9999 (a code Plivo does not list)
-- enqueued 10; sent 6 (a1-a5, a9); delivered 3, undelivered 1, failed 4, rejected 1;
-- delivery rate 3/4 = 0.7500; time to sent over 2,4,6,8,10,12 s: median 7 s,
-- p95 = 10 + 0.75 * 2 = 11.5 s; time to delivered over 10,20,30 s: median 20 s,
-- p95 = 20 + 0.9 * 10 = 29 s; top codes: 30 (2), http_400 (2), 100 (1) — 9999 (1) is
-- fourth, 000 is no error.
--
-- +14155552672 on 2024-03-02: c1 created at 00:00:00 UTC exactly, undelivered with 9999:
-- rate 0.0000, the unknown code without a meaning.
--
-- +14155552673 on 2024-03-02: created 2024-03-01 23:30 in Los Angeles (07:30 UTC):
--   b1 sent after 3 s, no receipt ever (stays sent); b2 queued.
-- enqueued 2, sent 1, nothing delivered or undelivered: rate NULL; no error codes: [].
-------------------------------------------------------------------------------
SET TimeZone = 'America/Los_Angeles';
TRUNCATE plivo.message_logs, plivo.message_events;
CREATE TEMP TABLE spec (label text, sender text, created_at timestamptz, status text,
                        has_uuid boolean, error_code text, sent_after interval,
                        final_after interval);
INSERT INTO spec VALUES
    ('a1',  '+14155552672', '2024-03-01 10:00:00+00', 'delivered',   true,  '000',      '2 s',  '10 s'),
    ('a2',  '+14155552672', '2024-03-01 10:01:00+00', 'delivered',   true,  NULL,       '4 s',  '20 s'),
    ('a3',  '+14155552672', '2024-03-01 10:02:00+00', 'delivered',   true,  NULL,       '6 s',  '30 s'),
    ('a4',  '+14155552672', '2024-03-01 10:03:00+00', 'undelivered', true,  '30',       '8 s',  '60 s'),
    ('a5',  '+14155552672', '2024-03-01 10:04:00+00', 'failed',      true,  '30',       '10 s', '70 s'),
    ('a6',  '+14155552672', '2024-03-01 10:05:00+00', 'failed',      false, 'http_400', NULL,   '2 s'),
    ('a7',  '+14155552672', '2024-03-01 10:06:00+00', 'failed',      false, 'http_400', NULL,   '2 s'),
    ('a8',  '+14155552672', '2024-03-01 10:07:00+00', 'queued',      false, NULL,       NULL,   NULL),
    ('a9',  '+14155552672', '2024-03-01 10:08:00+00', 'rejected',    true,  '100',      '12 s', '90 s'),
    ('a10', '+14155552672', '2024-03-01 10:09:00+00', 'failed',      false, '9999',     NULL,   '2 s'),
    ('c1',  '+14155552672', '2024-03-02 00:00:00+00', 'undelivered', true,  '9999',     '5 s',  '50 s'),
    ('b1',  '+14155552673', '2024-03-01 23:30:00-08', 'sent',        true,  NULL,       '3 s',  NULL),
    ('b2',  '+14155552673', '2024-03-01 23:30:30-08', 'queued',      false, NULL,       NULL,   NULL);

INSERT INTO plivo.message_logs (sender, recipient, message_text, created_at)
SELECT sender, '+14155552671', label, created_at FROM spec;
UPDATE plivo.message_logs m
SET status = s.status, attempts = 1, error_code = s.error_code,
    plivo_message_uuid = CASE WHEN s.has_uuid THEN 'uuid-' || s.label END
FROM spec s
WHERE m.message_text = s.label AND s.status <> 'queued';
-- The audit trail with chosen times: enqueue, sent, final status; a1 gets a second,
-- later 'sent' (as after a settled lookup) that must not count.
DELETE FROM plivo.message_events;
INSERT INTO plivo.message_events (message_id, old_status, new_status, cause, created_at)
SELECT m.id, e.old_status, e.new_status, e.cause, s.created_at + e.after
FROM spec s
JOIN plivo.message_logs m ON m.message_text = s.label
CROSS JOIN LATERAL (VALUES
    (NULL,      'queued',  'enqueue',         interval '0'),
    ('queued',  'sending', 'claim',           interval '1 s'),
    ('sending', 'sent',    'plivo_answer',    s.sent_after),
    ('sent',    s.status,  'delivery_report', CASE WHEN s.sent_after IS NOT NULL THEN s.final_after END),
    ('sending', 'failed',  'plivo_answer',    CASE WHEN s.sent_after IS NULL THEN s.final_after END),
    ('sending', 'sent',    'lease_recovery',  CASE WHEN s.label = 'a1' THEN interval '100 s' END))
    AS e (old_status, new_status, cause, after)
WHERE e.after IS NOT NULL
  AND NOT (s.status = 'queued' AND e.new_status <> 'queued');
SELECT s.label, string_agg(e.new_status || ' +' || (e.created_at - s.created_at), ', ' ORDER BY e.created_at, e.id) AS events
FROM spec s JOIN plivo.message_logs m ON m.message_text = s.label
JOIN plivo.message_events e ON e.message_id = m.id
GROUP BY s.label ORDER BY min(s.created_at), s.label;

\d plivo.delivery_stats
\x on
SELECT * FROM plivo.delivery_stats ORDER BY day, sender;
\x off

-- The same for service_role; nothing for authenticated (above).
BEGIN;
SET LOCAL ROLE service_role;
SELECT day, sender, enqueued, sent, delivery_rate FROM plivo.delivery_stats ORDER BY day, sender;
ROLLBACK;

RESET TimeZone;
DROP TABLE spec;
TRUNCATE plivo.message_logs, plivo.message_events;
