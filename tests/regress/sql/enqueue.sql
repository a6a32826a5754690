-- Enqueuing through the functions and through INSERT: one validation, one row each.
SET plivo.sender_number = '+14155552671';
\pset null '(null)'

-- send_mms and send_sms return the id of the row they wrote; numbers come out in E.164.
SELECT plivo.send_mms('+1 (415) 555-2672', 'Your photos',
    ARRAY['https://example.com/a.jpg', 'https://example.com/b.png']) IS NOT NULL AS mms_enqueued;
SELECT plivo.send_sms('14155552673', 'Plain text') IS NOT NULL AS sms_enqueued;
SELECT plivo.send_sms('+442071838750', 'To the UK', sender_number => '+1.415.555.2674',
    callback_url => 'https://hooks.example.com/plivo/status') IS NOT NULL AS sms_abroad;
SELECT plivo.send_mms('+16135550123', NULL, ARRAY['https://example.com/c.gif']) IS NOT NULL AS mms_to_canada_without_text;

SELECT sender, recipient, message_type, message_text, media_urls, callback_url, status,
       text_encoding, segments, attempts, plivo_message_uuid, created_by, created_by_role,
       next_attempt_at <= now() AS due_now, updated_at = created_at AS untouched
FROM plivo.message_logs ORDER BY created_at, recipient;

-- Ids are time-ordered (UUID version 7): they sort in the order messages were enqueued.
SELECT count(*) AS messages, bool_and(substr(id::text, 15, 1) = '7') AS version_7,
       array_agg(id ORDER BY created_at) = array_agg(id ORDER BY id) AS ids_sort_by_enqueue_time
FROM plivo.message_logs;

-- Encoding and segments, as Plivo counts them.
CREATE TEMP TABLE samples (label text, body text);
INSERT INTO samples VALUES
    ('160 GSM-7', repeat('a', 160)),
    ('161 GSM-7', repeat('a', 161)),
    ('306 GSM-7', repeat('a', 306)),
    ('307 GSM-7', repeat('a', 307)),
    ('1600 GSM-7', repeat('a', 1600)),
    ('extension chars count two', repeat('€', 80)),
    ('extension chars over one', repeat('€', 80) || 'a'),
    ('70 UCS-2', repeat('й', 70)),
    ('71 UCS-2', repeat('й', 71)),
    ('737 UCS-2', repeat('й', 737)),
    ('emoji is two units', repeat('😀', 35)),
    ('one emoji makes it UCS-2', repeat('a', 69) || '😀');
CREATE TEMP TABLE sample_ids AS
SELECT label, plivo.send_sms('+14155552675', body) AS id FROM samples;
SELECT s.label, m.text_encoding, m.segments, length(m.message_text) AS characters
FROM sample_ids s JOIN plivo.message_logs m USING (id)
ORDER BY m.created_at, s.label;

TRUNCATE plivo.message_logs;

-- INSERT: one row, many rows, INSERT ... SELECT. No message_type: MMS with media, else SMS.
INSERT INTO plivo.message_logs (recipient, message_text, media_urls)
VALUES ('+14155552672', 'one row', ARRAY['https://example.com/a.jpg']);
INSERT INTO plivo.message_logs (recipient, message_text)
VALUES ('+14155552673', 'first of two'), ('+14155552674', 'second of two');
INSERT INTO plivo.message_logs (recipient, message_text, media_urls)
SELECT '+1415555' || (2680 + n), 'batch ' || n, ARRAY['https://example.com/' || n || '.jpg']
FROM generate_series(1, 100) n;
SELECT message_type, count(*), count(DISTINCT id) AS distinct_ids, min(status), max(status)
FROM plivo.message_logs GROUP BY 1 ORDER BY 1;

-- A rolled-back transaction leaves nothing behind.
BEGIN;
SELECT plivo.send_sms('+14155552690', 'never sent') IS NOT NULL AS enqueued_in_transaction;
INSERT INTO plivo.message_logs (recipient, message_text) VALUES ('+14155552691', 'never sent either');
ROLLBACK;
SELECT count(*) AS rolled_back_rows FROM plivo.message_logs WHERE message_text LIKE 'never sent%';

-- Idempotency keys: the same key returns the first message and writes nothing new,
-- even with different content; another key is another message.
TRUNCATE plivo.message_logs;
SELECT plivo.send_sms('+14155552672', 'pay day', idempotency_key => 'invoice-17') AS first_id \gset
SELECT plivo.send_sms('+14155552672', 'pay day', idempotency_key => 'invoice-17') = :'first_id' AS same_id;
SELECT plivo.send_mms('+14155552672', 'other', ARRAY['https://example.com/a.jpg'], idempotency_key => 'invoice-17') = :'first_id' AS same_id_other_content;
SELECT plivo.send_sms('+14155552672', 'pay day', idempotency_key => 'invoice-18') <> :'first_id' AS other_key_other_id;
SELECT idempotency_key, count(*) FROM plivo.message_logs GROUP BY 1 ORDER BY 1;
-- A direct INSERT with a used key is a unique violation, not a silent duplicate.
SELECT * FROM expect_error($$ INSERT INTO plivo.message_logs (recipient, message_text, idempotency_key) VALUES ('+14155552672', 'x', 'invoice-17') $$);
-- Keys belong to the caller: another JWT subject may use the same key.
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub": "user-b", "role": "service_role"}', true);
SELECT plivo.send_sms('+14155552672', 'pay day', idempotency_key => 'invoice-17') <> :'first_id' AS other_caller_other_id;
SELECT created_by FROM plivo.message_logs WHERE created_by IS NOT NULL;
COMMIT;

-- The send functions run under the caller's search_path (they do not pin it): a path
-- that puts look-alike objects before pg_catalog changes nothing they do.
CREATE SCHEMA lookalike;
CREATE TABLE lookalike.message_logs (id uuid, idempotency_key text, created_by text);
CREATE FUNCTION lookalike.never_equal(text, text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS 'SELECT false';
CREATE OPERATOR lookalike.= (LEFTARG = text, RIGHTARG = text, FUNCTION = lookalike.never_equal);
SET search_path = lookalike, pg_catalog;
SELECT plivo.send_sms('+14155552672', 'pay day', idempotency_key => 'invoice-17') AS again_id \gset
SELECT plivo.send_sms('+14155552672', 'under another path') AS other_path_id \gset
RESET search_path;
SELECT :'again_id' = :'first_id' AS same_id_under_another_path,
       (SELECT message_text FROM plivo.message_logs WHERE id = :'other_path_id') AS enqueued,
       (SELECT count(*) FROM lookalike.message_logs) AS lookalike_rows;
DROP SCHEMA lookalike CASCADE;

-- updated_at follows every change.
SELECT updated_at AS before_update FROM plivo.message_logs WHERE id = :'first_id' \gset
SELECT pg_sleep(0.01);
BEGIN;
UPDATE plivo.message_logs SET next_attempt_at = now() + interval '1 hour' WHERE id = :'first_id';
SELECT updated_at > :'before_update' AS updated_at_moved FROM plivo.message_logs WHERE id = :'first_id';
COMMIT;

-- The constraints keep the status meaningful.
SELECT code, message, rows_changed FROM expect_error($$ UPDATE plivo.message_logs SET status = 'lost' $$);
SELECT code, message, rows_changed FROM expect_error($$ UPDATE plivo.message_logs SET status = 'sent' $$);
SELECT code, message, rows_changed FROM expect_error($$ UPDATE plivo.message_logs SET status = 'sending' $$);
TRUNCATE plivo.message_logs;

-- A column the trigger reads, dropped and added again (so at another position), is
-- still the one it reads and writes.
BEGIN;
ALTER TABLE plivo.message_logs DROP COLUMN idempotency_key CASCADE;
ALTER TABLE plivo.message_logs ADD COLUMN idempotency_key text;
SELECT code, message FROM expect_error($$ INSERT INTO plivo.message_logs (recipient, message_text, idempotency_key) VALUES ('+14155552672', 'x', '') $$);
INSERT INTO plivo.message_logs (recipient, message_text, idempotency_key)
VALUES ('+1 415 555 2672', 'after the change', 'moved-1')
RETURNING recipient, message_text, idempotency_key, status;
ROLLBACK;
