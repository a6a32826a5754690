-- Row-level security and grants, exercised the way PostgREST calls the database:
-- SET LOCAL ROLE plus request.jwt.claims inside a transaction.
SET plivo.sender_number = '+14155552671';
\pset null '(null)'
\set VERBOSITY terse
TRUNCATE plivo.message_logs, plivo.message_events;
SELECT plivo.send_sms('+14155552672', 'from the server') IS NOT NULL AS server_message;

-- Privileges as the catalog records them.
SELECT r.rolname,
       has_schema_privilege(r.rolname, 'plivo', 'USAGE') AS schema_usage,
       has_table_privilege(r.rolname, 'plivo.message_logs', 'SELECT') AS sel,
       has_table_privilege(r.rolname, 'plivo.message_logs', 'INSERT') AS ins,
       has_any_column_privilege(r.rolname, 'plivo.message_logs', 'INSERT') AS ins_cols,
       has_table_privilege(r.rolname, 'plivo.message_logs', 'UPDATE') AS upd,
       has_table_privilege(r.rolname, 'plivo.message_logs', 'DELETE') AS del,
       has_function_privilege(r.rolname, 'plivo.send_mms(text, text, text[], text, text, text, timestamptz, interval, text, boolean, text, text)', 'EXECUTE') AS send_mms,
       has_function_privilege(r.rolname, 'plivo.send_sms(text, text, text, text, text, timestamptz, interval, text, text, text)', 'EXECUTE') AS send_sms,
       has_function_privilege(r.rolname, 'plivo.verify_plivo_signature(text, text, text, text, jsonb, text, text)', 'EXECUTE') AS verify
FROM pg_roles r WHERE r.rolname IN ('anon', 'authenticated', 'service_role', 'plivo_regress_user')
ORDER BY r.rolname;

-- anon: nothing at all.
BEGIN;
SET LOCAL ROLE anon;
SELECT set_config('request.jwt.claims', '{"role": "anon"}', true) IS NOT NULL AS claims_set;
SELECT count(*) FROM plivo.message_logs;
ROLLBACK;
BEGIN;
SET LOCAL ROLE anon;
SELECT plivo.send_sms('+14155552672', 'anon');
ROLLBACK;

-- authenticated, before the GRANT: sees only its own (none), cannot send either way.
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "user-a", "role": "authenticated"}', true) IS NOT NULL AS claims_set;
SELECT count(*) AS visible FROM plivo.message_logs;
SELECT plivo.send_sms('+14155552672', 'not yet');
ROLLBACK;
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "user-a", "role": "authenticated"}', true) IS NOT NULL AS claims_set;
INSERT INTO plivo.message_logs (recipient, message_text) VALUES ('+14155552672', 'not yet');
ROLLBACK;

-- The one GRANT from the README opens both the functions and the INSERT.
GRANT EXECUTE ON FUNCTION plivo.send_mms(text, text, text[], text, text, text, timestamptz, interval, text, boolean, text, text),
                          plivo.send_sms(text, text, text, text, text, timestamptz, interval, text, text, text) TO authenticated;

BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "user-a", "role": "authenticated"}', true) IS NOT NULL AS claims_set;
SELECT plivo.send_sms('+14155552672', 'from user a') IS NOT NULL AS sent_by_a;
SELECT plivo.send_mms('+14155552672', 'photo from a', ARRAY['https://example.com/a.jpg'],
                      idempotency_key => 'a-1') IS NOT NULL AS mms_by_a;
INSERT INTO plivo.message_logs (recipient, message_text) VALUES ('+14155552673', 'inserted by a');
SELECT message_text, created_by, created_by_role FROM plivo.message_logs ORDER BY message_text;
COMMIT;

-- A caller cannot pass itself off as someone else, nor touch the dispatcher's columns.
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "user-b", "role": "authenticated"}', true) IS NOT NULL AS claims_set;
SELECT count(*) AS visible_to_b FROM plivo.message_logs;
INSERT INTO plivo.message_logs (recipient, message_text, created_by) VALUES ('+14155552673', 'spoof', 'user-a');
ROLLBACK;
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "user-b", "role": "authenticated"}', true) IS NOT NULL AS claims_set;
SELECT plivo.send_sms('+14155552672', 'from user b') IS NOT NULL AS sent_by_b;
SELECT message_text, created_by FROM plivo.message_logs;
-- b reusing a's idempotency key gets a message of its own
SELECT plivo.send_mms('+14155552672', 'photo from b', ARRAY['https://example.com/b.jpg'],
                      idempotency_key => 'a-1') IS NOT NULL AS mms_by_b;
SELECT count(*) AS visible_to_b FROM plivo.message_logs;
COMMIT;

-- Every committed message has its 'enqueue' event, with the role and the subject that
-- enqueued it, though neither role may write the audit trail; the rolled-back attempts
-- above left none.
SELECT coalesce(m.message_text, '(no message)') AS message_text, e.old_status, e.new_status,
       e.cause,
       CASE WHEN e.detail ->> 'by' = current_user THEN '(this session''s user)'
            ELSE e.detail ->> 'by' END AS by_role,
       e.detail ->> 'subject' AS subject
FROM plivo.message_events e LEFT JOIN plivo.message_logs m ON m.id = e.message_id
ORDER BY 1, e.id;
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "user-b", "role": "authenticated"}', true) IS NOT NULL AS claims_set;
INSERT INTO plivo.message_events (message_id, new_status, cause)
SELECT id, 'delivered', 'enqueue' FROM plivo.message_logs;
ROLLBACK;
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "user-b", "role": "authenticated"}', true) IS NOT NULL AS claims_set;
UPDATE plivo.message_logs SET message_text = 'changed';
ROLLBACK;
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "user-b", "role": "authenticated"}', true) IS NOT NULL AS claims_set;
DELETE FROM plivo.message_logs;
ROLLBACK;
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "user-b", "role": "authenticated"}', true) IS NOT NULL AS claims_set;
INSERT INTO plivo.message_logs (recipient, message_text, status) VALUES ('+14155552673', 'sneaky', 'queued');
ROLLBACK;
-- no subject in the JWT: nothing to own, nothing written
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"role": "authenticated"}', true) IS NOT NULL AS claims_set;
SELECT plivo.send_sms('+14155552672', 'who am i');
ROLLBACK;
-- the signature check is for the server side only
BEGIN;
SET LOCAL ROLE authenticated;
SELECT plivo.verify_plivo_signature('https://answer.url', '1', 'x', auth_token => 't');
ROLLBACK;

-- service_role (what Edge Functions use) sees and manages everything.
BEGIN;
SET LOCAL ROLE service_role;
SELECT set_config('request.jwt.claims', '{"role": "service_role"}', true) IS NOT NULL AS claims_set;
SELECT created_by, count(*) FROM plivo.message_logs GROUP BY 1 ORDER BY 1;
SELECT plivo.send_sms('+14155552672', 'from the service') IS NOT NULL AS sent_by_service;
UPDATE plivo.message_logs SET next_attempt_at = next_attempt_at WHERE created_by = 'user-b';
SELECT plivo.verify_plivo_signature('https://answer.url', '12345',
    'ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=', version => 'v2', auth_token => 'my_auth_token') AS verified;
ROLLBACK;

-- A change pg_plivo did not make is recorded as 'manual', with the role that made it
-- (not the owner the audit rows are written as).
BEGIN;
SET LOCAL ROLE service_role;
UPDATE plivo.message_logs SET status = 'failed', last_error = 'cancelled by support'
WHERE message_text = 'from user b';
RESET ROLE;
SELECT e.old_status, e.new_status, e.cause, e.detail
FROM plivo.message_events e JOIN plivo.message_logs m ON m.id = e.message_id
WHERE m.message_text = 'from user b' ORDER BY e.id;
-- The detail holds what the row shows after the change, as jsonb_build_object writes
-- it (numbers, escapes, the time of a retry), without the members that have no value.
CREATE TEMP TABLE detail_check (label text, status text, uuid text, error_code text,
                                http_status integer, error text, next_at timestamptz);
INSERT INTO detail_check VALUES
    ('retry', 'retrying', NULL, NULL, 503, 'Plivo said "busy" \ later', '2026-01-02 03:04:05.678+00'),
    ('accept', 'sent', 'uuid-detail-1', NULL, 202, NULL, NULL),
    ('report', 'undelivered', 'uuid-detail-1', '30', 202, 'carrier refused', NULL);
GRANT SELECT ON detail_check TO service_role;
SET LOCAL ROLE service_role;
UPDATE plivo.message_logs m SET status = c.status, plivo_message_uuid = c.uuid,
    error_code = c.error_code, last_http_status = c.http_status, last_error = c.error,
    next_attempt_at = coalesce(c.next_at, m.next_attempt_at)
FROM detail_check c WHERE c.label = 'retry' AND m.message_text = 'from user b';
-- (the retry's error and time stay on the row: a sent message's detail shows neither)
UPDATE plivo.message_logs m SET status = c.status, plivo_message_uuid = c.uuid,
    error_code = c.error_code, last_http_status = c.http_status
FROM detail_check c WHERE c.label = 'accept' AND m.message_text = 'from user b';
UPDATE plivo.message_logs m SET status = c.status, plivo_message_uuid = c.uuid,
    error_code = c.error_code, last_http_status = c.http_status, last_error = c.error
FROM detail_check c WHERE c.label = 'report' AND m.message_text = 'from user b';
RESET ROLE;
SELECT c.label, e.new_status, e.detail - 'by' AS detail,
       e.detail - 'by' = pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
           'attempts', 0, 'plivo_message_uuid', c.uuid, 'error_code', c.error_code,
           'http_status', c.http_status, 'error', c.error,
           'next_attempt_at', c.next_at)) AS as_jsonb_build_object
FROM plivo.message_events e JOIN plivo.message_logs m ON m.id = e.message_id
JOIN detail_check c ON c.status = e.new_status
WHERE m.message_text = 'from user b' ORDER BY e.id;
ROLLBACK;

-- A plain login role has nothing.
SET ROLE plivo_regress_user;
SELECT count(*) FROM plivo.message_logs;
RESET ROLE;

REVOKE EXECUTE ON FUNCTION plivo.send_mms(text, text, text[], text, text, text, timestamptz, interval, text, boolean, text, text),
                           plivo.send_sms(text, text, text, text, text, timestamptz, interval, text, text, text) FROM authenticated;
TRUNCATE plivo.message_logs;
