-- A DBA re-drives failed messages in SQL: back to queued with a fresh set of attempts.
SET plivo.sender_number = '+14155552671';
\pset null '(null)'
TRUNCATE plivo.message_logs;
SELECT plivo.send_sms('+14155552672', 'will fail') AS failed_id \gset
SELECT plivo.send_sms('+14155552673', 'will fail too') AS other_failed_id \gset
SELECT plivo.send_sms('+14155552674', 'still queued') AS queued_id \gset
-- what the dispatcher would have written after a refusal
UPDATE plivo.message_logs SET status = 'failed', attempts = 1, error_code = 'http_400',
       last_http_status = 400, last_error = 'rejected: HTTP 400: invalid dst'
WHERE id IN (:'failed_id', :'other_failed_id');

SELECT plivo.retry_message(:'failed_id');
SELECT status, attempts, error_code, last_error, next_attempt_at <= now() AS due
FROM plivo.message_logs WHERE id = :'failed_id';

\x on
SELECT * FROM expect_error($$ SELECT plivo.retry_message(NULL) $$);
SELECT code, message ~ '^message [0-9a-f-]{36} is not failed$' AS message_names_it, detail, hint, rows_changed
FROM expect_error(format('SELECT plivo.retry_message(%L)', :'queued_id'));
SELECT code, hint, rows_changed
FROM expect_error($$ SELECT plivo.retry_message('00000000-0000-0000-0000-000000000000') $$);
SELECT * FROM expect_error($$ SELECT plivo.retry_failed(NULL) $$);
\x off

SELECT plivo.retry_failed(now() + interval '1 hour') AS none_that_recent;
SELECT plivo.retry_failed(now() - interval '1 hour') AS redriven;
SELECT status, count(*) FROM plivo.message_logs GROUP BY 1 ORDER BY 1;

-- A message Plivo accepted and then failed keeps its old uuid in plivo_status_info.
UPDATE plivo.message_logs SET status = 'failed', plivo_message_uuid = 'plivo-uuid-1'
WHERE id = :'failed_id';
SELECT plivo.retry_message(:'failed_id');
SELECT status, plivo_message_uuid, plivo_status_info FROM plivo.message_logs WHERE id = :'failed_id';
TRUNCATE plivo.message_logs;
