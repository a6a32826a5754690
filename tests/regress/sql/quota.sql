-- plivo.authenticated_hourly_quota: a signed-in user may enqueue so many messages an hour.
SET plivo.sender_number = '+14155552671';
\pset null '(null)'
TRUNCATE plivo.message_logs;
GRANT EXECUTE ON FUNCTION plivo.send_mms(text, text, text[], text, text, text, timestamptz, interval, text, boolean, text, text),
                          plivo.send_sms(text, text, text, text, text, timestamptz, interval, text, text, text) TO authenticated;
SET plivo.authenticated_hourly_quota = 3;

BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "user-q", "role": "authenticated"}', true) IS NOT NULL AS claims_set;
SELECT count(plivo.send_sms('+14155552672', 'within quota ' || n)) AS sent FROM generate_series(1, 3) n;
\x on
SELECT code, message, detail, hint, rows_changed
FROM expect_error($$ SELECT plivo.send_sms('+14155552672', 'one too many') $$);
\x off
-- the user cannot raise its own quota
\set VERBOSITY terse
SAVEPOINT raise;
SET plivo.authenticated_hourly_quota = 100;
ROLLBACK TO raise;
\set VERBOSITY default
COMMIT;

-- Rows of one multi-row INSERT count one by one.
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "user-r", "role": "authenticated"}', true) IS NOT NULL AS claims_set;
SELECT code, message, rows_changed FROM expect_error($$
    INSERT INTO plivo.message_logs (recipient, message_text)
    SELECT '+14155552672', 'bulk ' || n FROM generate_series(1, 4) n $$);
INSERT INTO plivo.message_logs (recipient, message_text)
SELECT '+14155552672', 'bulk ' || n FROM generate_series(1, 3) n;
COMMIT;

-- Other users, service_role and the server's own roles are not limited by it.
BEGIN;
SET LOCAL ROLE service_role;
SELECT set_config('request.jwt.claims', '{"sub": "user-q", "role": "service_role"}', true) IS NOT NULL AS claims_set;
SELECT plivo.send_sms('+14155552672', 'on behalf of user-q') IS NOT NULL AS service_role_sends;
COMMIT;
SELECT created_by, created_by_role, count(*) FROM plivo.message_logs GROUP BY 1, 2 ORDER BY 1, 2;

RESET plivo.authenticated_hourly_quota;
REVOKE EXECUTE ON FUNCTION plivo.send_mms(text, text, text[], text, text, text, timestamptz, interval, text, boolean, text, text),
                           plivo.send_sms(text, text, text, text, text, timestamptz, interval, text, text, text) FROM authenticated;
TRUNCATE plivo.message_logs;
