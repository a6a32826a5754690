-- Retention: plivo.purge_message_logs(older_than, batch_size) deletes old messages in
-- a final status with their events and delivery reports, batch by batch.
SET plivo.sender_number = '+14155552672';
SET IntervalStyle = 'postgres';
\pset null '(null)'
\set VERBOSITY terse
TRUNCATE plivo.message_logs, plivo.message_events, plivo.delivery_reports, plivo.webhook_nonces;

SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS arguments,
       pg_get_function_result(p.oid) AS result, p.prosecdef, p.proconfig
FROM pg_proc p WHERE p.oid = 'plivo.purge_message_logs(interval, integer, integer)'::regprocedure;
SELECT r.rolname,
       has_function_privilege(r.rolname, 'plivo.purge_message_logs(interval, integer, integer)', 'EXECUTE') AS purge
FROM pg_roles r WHERE r.rolname IN ('anon', 'authenticated', 'service_role', 'plivo_regress_user')
ORDER BY r.rolname;

-- Old messages (2020) in every status, 5 of them delivered; recent ones (now) in
-- final statuses. Old ones are created a minute apart, old1 first.
INSERT INTO plivo.message_logs (recipient, message_text, created_at)
SELECT '+14155552671', label, timestamptz '2020-01-01 00:00:00+00' + n * interval '1 minute'
FROM unnest(ARRAY['old queued', 'old sending', 'old retrying', 'old sent', 'old delivered 1',
                  'old delivered 2', 'old delivered 3', 'old delivered 4', 'old delivered 5',
                  'old undelivered', 'old failed', 'old rejected']) WITH ORDINALITY AS t(label, n);
INSERT INTO plivo.message_logs (recipient, message_text)
VALUES ('+14155552671', 'new delivered'), ('+14155552671', 'new failed'), ('+14155552671', 'new queued');
UPDATE plivo.message_logs SET status = 'sending', attempts = 1, lease_expires_at = now() + interval '1 minute'
WHERE message_text = 'old sending';
UPDATE plivo.message_logs SET status = 'retrying', attempts = 1 WHERE message_text = 'old retrying';
UPDATE plivo.message_logs
SET status = split_part(message_text, ' ', 2), attempts = 1,
    plivo_message_uuid = CASE WHEN message_text NOT LIKE '% failed' THEN 'uuid-' || message_text END
WHERE split_part(message_text, ' ', 2) IN ('sent', 'delivered', 'undelivered', 'failed', 'rejected');
SELECT status, count(*) AS messages, count(*) FILTER (WHERE created_at < '2021-01-01') AS old
FROM plivo.message_logs GROUP BY status ORDER BY status;

-- Delivery reports: one for an old message, one for a new one, and one old and one
-- new that matched no message; V2 webhook nonces, one old and one new.
INSERT INTO plivo.delivery_reports (message_uuid, message_id, status, result, params, received_at)
SELECT 'uuid-' || m.message_text, m.id, 'delivered', 'applied', '{}', m.created_at + interval '1 minute'
FROM plivo.message_logs m WHERE m.message_text IN ('old delivered 1', 'new delivered');
INSERT INTO plivo.delivery_reports (message_uuid, message_id, status, result, params, received_at) VALUES
    ('uuid-unknown-old', NULL, 'delivered', 'unknown_message', '{}', '2020-01-01 00:00:00+00'),
    ('uuid-unknown-new', NULL, 'delivered', 'unknown_message', '{}', now());
INSERT INTO plivo.webhook_nonces (nonce, body_digest, first_seen) VALUES
    ('nonce-old', 'digest', '2020-01-01 00:00:00+00'),
    ('nonce-new', 'digest', now());

-- Bad arguments: one error each, nothing deleted.
\x on
SELECT * FROM expect_error($$ SELECT plivo.purge_message_logs(NULL) $$);
SELECT * FROM expect_error($$ SELECT plivo.purge_message_logs(interval '-1 day') $$);
SELECT * FROM expect_error($$ SELECT plivo.purge_message_logs(interval '0') $$);
SELECT * FROM expect_error($$ SELECT plivo.purge_message_logs(interval '1 day', 0) $$);
SELECT * FROM expect_error($$ SELECT plivo.purge_message_logs(interval '1 day', NULL) $$);
\x off
SELECT count(*) AS messages_left FROM plivo.message_logs;

-- Nothing is that old yet.
SELECT plivo.purge_message_logs(interval '10 years') AS purged;

-- Count the DELETE statements on message_logs, and what each removed.
CREATE TABLE public.purge_batches (n serial, messages bigint, labels text);
GRANT ALL ON public.purge_batches, public.purge_batches_n_seq TO PUBLIC;
CREATE FUNCTION public.log_purge_batch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.purge_batches (messages, labels)
    SELECT count(*), string_agg(o.message_text, ', ' ORDER BY o.created_at) FROM old_rows o;
    RETURN NULL;
END
$$;
CREATE TRIGGER message_logs_log_purge AFTER DELETE ON plivo.message_logs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.log_purge_batch();

-- service_role purges, the way the API calls it: 2 messages per DELETE.
-- 9 old messages are final: old sent, 5 old delivered, old undelivered, failed, rejected.
BEGIN;
SET LOCAL ROLE service_role;
SELECT plivo.purge_message_logs(interval '1 day', 2) AS purged;
COMMIT;
SELECT n, messages, labels FROM public.purge_batches ORDER BY n;

-- What is left: the old queued, sending and retrying messages, and every recent one,
-- with their events; the old message's delivery report, the old unmatched report and
-- the old nonce are gone.
SELECT message_text, status FROM plivo.message_logs ORDER BY created_at, message_text;
SELECT count(*) AS events_left,
       count(*) FILTER (WHERE e.message_id NOT IN (SELECT id FROM plivo.message_logs)) AS orphan_events
FROM plivo.message_events e;
SELECT message_uuid, result FROM plivo.delivery_reports ORDER BY message_uuid;
SELECT nonce FROM plivo.webhook_nonces ORDER BY nonce;

-- Again: nothing more to purge, and no DELETE that removed anything.
TRUNCATE public.purge_batches;
SELECT plivo.purge_message_logs(interval '1 day') AS purged_again;
SELECT n, messages, labels FROM public.purge_batches ORDER BY n;

-- A message is final once it is sent: an old one goes with the default batch size.
UPDATE plivo.message_logs SET status = 'sent', plivo_message_uuid = 'uuid-old-retrying'
WHERE message_text = 'old retrying';
SELECT plivo.purge_message_logs(interval '1 day') AS purged_sent;
SELECT message_text, status FROM plivo.message_logs ORDER BY created_at, message_text;

-- max_batches bounds one call: the worker purges one batch per transaction.
INSERT INTO plivo.message_logs (recipient, message_text, created_at)
SELECT '+14155552671', 'bounded ' || n, timestamptz '2020-06-01 00:00:00+00' + n * interval '1 minute'
FROM generate_series(1, 3) n;
UPDATE plivo.message_logs SET status = 'delivered', plivo_message_uuid = 'uuid-' || message_text
WHERE message_text LIKE 'bounded %';
SELECT plivo.purge_message_logs(interval '1 day', 1, 2) AS two_batches_of_one;
SELECT message_text FROM plivo.message_logs WHERE message_text LIKE 'bounded %';
SELECT plivo.purge_message_logs(interval '1 day', 1, 2) AS the_last_one;
SELECT * FROM expect_error($$ SELECT plivo.purge_message_logs(interval '1 day', 1, 0) $$);

-- Neither authenticated nor anon may run it.
BEGIN;
SET LOCAL ROLE authenticated;
SELECT plivo.purge_message_logs(interval '1 day');
ROLLBACK;
BEGIN;
SET LOCAL ROLE anon;
SELECT plivo.purge_message_logs(interval '1 day');
ROLLBACK;

DROP TRIGGER message_logs_log_purge ON plivo.message_logs;
DROP FUNCTION public.log_purge_batch();
DROP TABLE public.purge_batches;
TRUNCATE plivo.message_logs, plivo.message_events, plivo.delivery_reports, plivo.webhook_nonces;
