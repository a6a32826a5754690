-- The sending options of send_mms/send_sms and INSERT: send_at (scheduled), cancel_message,
-- valid_for/expires_at (expiry), plivo_log, sms_fallback (and its trigger), the costs of
-- delivery reports and the spend in delivery_stats.
\pset null '(null)'
SET plivo.sender_number = '+14155552671';
TRUNCATE plivo.message_logs, plivo.message_events, plivo.delivery_reports;

-- send_at: queued, due at send_at, shown as scheduled; send_at is kept as given.
SELECT plivo.send_sms('+14155552672', 'see you tomorrow',
    send_at => '2030-01-01 09:00:00+00') AS scheduled_id \gset
SELECT status, send_at = '2030-01-01 09:00:00+00' AS send_at_kept,
       next_attempt_at = '2030-01-01 09:00:00+00' AS due_then, expires_at
FROM plivo.message_logs WHERE id = :'scheduled_id';
SELECT queued_due, scheduled FROM plivo.queue_health;
-- As a column: INSERT with send_at does the same.
INSERT INTO plivo.message_logs (recipient, message_text, send_at)
VALUES ('+14155552673', 'inserted for later', '2030-01-01 10:00:00+00') RETURNING status,
    next_attempt_at = '2030-01-01 10:00:00+00' AS due_then;
-- A time in the past means now.
SELECT plivo.send_sms('+14155552674', 'late', send_at => now() - interval '1 day') AS past_id \gset
SELECT next_attempt_at <= now() AS due_now FROM plivo.message_logs WHERE id = :'past_id';

-- cancel_message: a queued message is cancelled, once; events say why.
SELECT plivo.cancel_message(:'scheduled_id') AS cancelled;
SELECT status, last_error LIKE 'cancelled by %' AS says_who FROM plivo.message_logs WHERE id = :'scheduled_id';
SELECT old_status, new_status, cause FROM plivo.message_events
WHERE message_id = :'scheduled_id' ORDER BY id;
\x on
SELECT code, replace(message, :'scheduled_id', '<id>') AS message, detail, hint, rows_changed
FROM expect_error(format('SELECT plivo.cancel_message(%L)', :'scheduled_id'));
SELECT * FROM expect_error($$ SELECT plivo.cancel_message(NULL) $$);
SELECT * FROM expect_error($$ SELECT plivo.cancel_message('00000000-0000-7000-8000-000000000000') $$);
-- Claimed (sending) or possibly at Plivo (unsettled): too late.
SELECT plivo.send_sms('+14155552675', 'in flight') AS flight_id \gset
UPDATE plivo.message_logs SET status = 'sending', lease_expires_at = now() + interval '1 minute'
WHERE id = :'flight_id';
SELECT code, replace(message, :'flight_id', '<id>') AS message, detail, hint, rows_changed
FROM expect_error(format('SELECT plivo.cancel_message(%L)', :'flight_id'));
UPDATE plivo.message_logs SET status = 'retrying', lease_expires_at = NULL, unsettled_since = now()
WHERE id = :'flight_id';
SELECT code, replace(message, :'flight_id', '<id>') AS message, detail, hint, rows_changed
FROM expect_error(format('SELECT plivo.cancel_message(%L)', :'flight_id'));
\x off
SELECT status FROM plivo.message_logs WHERE id = :'flight_id';

-- valid_for: expires_at counts from send_at (or now); at least 5 seconds.
SELECT plivo.send_sms('+14155552676', 'reminder', send_at => '2030-01-01 09:00:00+00',
    valid_for => interval '2 hours') AS expiring_id \gset
SELECT valid_for, expires_at = '2030-01-01 11:00:00+00' AS expires_two_hours_after
FROM plivo.message_logs WHERE id = :'expiring_id';
SELECT plivo.send_sms('+14155552676', 'now-ish', valid_for => interval '10 minutes') AS soon_id \gset
SELECT expires_at - created_at AS from_enqueuing FROM plivo.message_logs WHERE id = :'soon_id';
-- expires_at as a column: valid_for is filled in from it.
INSERT INTO plivo.message_logs (recipient, message_text, send_at, expires_at)
VALUES ('+14155552677', 'until noon', '2030-01-01 09:00:00+00', '2030-01-01 12:00:00+00')
RETURNING valid_for;
\x on
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552676', 'x', valid_for => interval '4 seconds') $$);
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552676', 'x', valid_for => interval '-1 hour') $$);
SELECT * FROM expect_error($$ INSERT INTO plivo.message_logs (recipient, message_text, valid_for, expires_at)
    VALUES ('+14155552676', 'x', interval '1 hour', now() + interval '1 hour') $$);
SELECT * FROM expect_error($$ INSERT INTO plivo.message_logs (recipient, message_text, send_at, expires_at)
    VALUES ('+14155552676', 'x', '2030-01-01 09:00:00+00', '2030-01-01 09:00:02+00') $$);
\x off
-- plivo.default_valid_for applies to messages that give neither.
SET plivo.default_valid_for = '15min';
SELECT plivo.send_sms('+14155552678', 'default validity') AS default_valid_id \gset
SELECT valid_for, expires_at - created_at AS expires_after
FROM plivo.message_logs WHERE id = :'default_valid_id';
SET plivo.default_valid_for = 3;
RESET plivo.default_valid_for;

-- plivo_log: Plivo's log option, lower-cased; plivo.plivo_log is the default.
SELECT plivo.send_sms('+14155552679', 'private', plivo_log => 'Number_Only') AS log_id \gset
SELECT plivo_log FROM plivo.message_logs WHERE id = :'log_id';
SET plivo.plivo_log = 'false';
SELECT plivo.send_sms('+14155552679', 'by default') AS log_default_id \gset
SELECT plivo_log FROM plivo.message_logs WHERE id = :'log_default_id';
SET plivo.plivo_log = 'sometimes';
RESET plivo.plivo_log;
\x on
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552679', 'x', plivo_log => 'never') $$);
-- sms_fallback is for MMS only
SELECT * FROM expect_error($$ INSERT INTO plivo.message_logs (recipient, message_text, sms_fallback)
    VALUES ('+14155552679', 'x', true) $$);
-- consent_override is an argument too, checked as in INSERT
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552679', 'x', consent_override => 'because') $$);
\x off

-- SMS fallback: an MMS that Plivo reports failed with a code of
-- plivo.sms_fallback_error_codes (50, 120) gets one SMS with its text and links.
SELECT plivo.send_mms('+14155552680', 'Your photo', ARRAY['https://example.com/a.jpg',
    'https://example.com/b.png'], sms_fallback => true) AS mms_id \gset
SELECT sms_fallback FROM plivo.message_logs WHERE id = :'mms_id';
UPDATE plivo.message_logs SET status = 'sent', plivo_message_uuid = 'uuid-mms-1' WHERE id = :'mms_id';
SELECT plivo._apply_report('{"MessageUUID": "uuid-mms-1", "Status": "undelivered", "ErrorCode": "50",
    "Units": "1", "TotalRate": "0.0200", "TotalAmount": "0.0200"}') ->> 'result' AS report;
SELECT f.message_type, f.message_text, f.fallback_of = m.id AS points_back,
       m.fallback_message_id = f.id AS linked, f.status
FROM plivo.message_logs m JOIN plivo.message_logs f ON f.fallback_of = m.id
WHERE m.id = :'mms_id';
-- The same report again, and a later one: still one SMS.
SELECT plivo._apply_report('{"MessageUUID": "uuid-mms-1", "Status": "undelivered", "ErrorCode": "50",
    "Units": "1", "TotalRate": "0.0200", "TotalAmount": "0.0200"}') ->> 'result' AS repeated;
SELECT plivo._apply_report('{"MessageUUID": "uuid-mms-1", "Status": "failed", "ErrorCode": "120"}') ->> 'result' AS later;
SELECT count(*) AS fallbacks FROM plivo.message_logs WHERE fallback_of = :'mms_id';
-- A code an SMS would hit too (30, spam): no fallback. Nor without sms_fallback.
SELECT plivo.send_mms('+14155552681', 'spam?', ARRAY['https://example.com/a.jpg'],
    sms_fallback => true) AS spam_id \gset
UPDATE plivo.message_logs SET status = 'sent', plivo_message_uuid = 'uuid-mms-2' WHERE id = :'spam_id';
SELECT plivo._apply_report('{"MessageUUID": "uuid-mms-2", "Status": "failed", "ErrorCode": "30"}') ->> 'result' AS spam;
SELECT plivo.send_mms('+14155552682', 'no fallback', ARRAY['https://example.com/a.jpg']) AS plain_id \gset
SELECT sms_fallback FROM plivo.message_logs WHERE id = :'plain_id';
UPDATE plivo.message_logs SET status = 'sent', plivo_message_uuid = 'uuid-mms-3' WHERE id = :'plain_id';
SELECT plivo._apply_report('{"MessageUUID": "uuid-mms-3", "Status": "undelivered", "ErrorCode": "50"}') ->> 'result' AS plain;
SELECT count(*) AS other_fallbacks FROM plivo.message_logs
WHERE fallback_of IN (:'spam_id', :'plain_id');
-- plivo.sms_fallback turns it on for every MMS that does not say otherwise.
SET plivo.sms_fallback = on;
SELECT plivo.send_mms('+14155552683', 'on', ARRAY['https://example.com/a.jpg']) AS on_id \gset
SELECT plivo.send_mms('+14155552683', 'off', ARRAY['https://example.com/a.jpg'],
    sms_fallback => false) AS off_id \gset
SELECT message_text, sms_fallback FROM plivo.message_logs WHERE id IN (:'on_id', :'off_id')
ORDER BY message_text;
RESET plivo.sms_fallback;
-- A fallback that cannot be made (text and links over 1600 characters) is a WARNING;
-- the report is still applied.
SELECT plivo.send_mms('+14155552684', repeat('x', 1590), ARRAY['https://example.com/a.jpg'],
    sms_fallback => true) AS long_id \gset
UPDATE plivo.message_logs SET status = 'sent', plivo_message_uuid = 'uuid-mms-4' WHERE id = :'long_id';
-- (The WARNING names the message id, which differs from run to run: not shown here.)
SET client_min_messages = error;
SELECT plivo._apply_report('{"MessageUUID": "uuid-mms-4", "Status": "undelivered", "ErrorCode": "50"}') ->> 'result' AS long_report;
RESET client_min_messages;
SELECT status, fallback_message_id FROM plivo.message_logs WHERE id = :'long_id';

-- Costs: Units, TotalRate and TotalAmount of reports, when numbers; spend per day and sender.
SELECT units, total_rate, total_amount FROM plivo.message_logs WHERE id = :'mms_id';
SELECT plivo.send_sms('+14155552685', 'priced') AS priced_id \gset
UPDATE plivo.message_logs SET status = 'sent', plivo_message_uuid = 'uuid-sms-1' WHERE id = :'priced_id';
SELECT plivo._apply_report('{"MessageUUID": "uuid-sms-1", "Status": "delivered", "ErrorCode": "000",
    "Units": "2", "TotalRate": "0.0050", "TotalAmount": "0.0100"}') ->> 'result' AS priced;
SELECT plivo.send_sms('+14155552686', 'odd amounts') AS odd_id \gset
UPDATE plivo.message_logs SET status = 'sent', plivo_message_uuid = 'uuid-sms-2' WHERE id = :'odd_id';
SELECT plivo._apply_report('{"MessageUUID": "uuid-sms-2", "Status": "delivered",
    "Units": "two", "TotalRate": "", "TotalAmount": "1e9"}') ->> 'result' AS odd;
SELECT units, total_rate, total_amount FROM plivo.message_logs WHERE id = :'odd_id';
SELECT count(*) AS messages, count(*) FILTER (WHERE status = 'cancelled') AS cancelled
FROM plivo.message_logs;
SELECT sender, enqueued, cancelled, units, spend, priced FROM plivo.delivery_stats;

-- Powerpack: powerpack_uuid instead of a sender; the sender stays NULL until Plivo
-- names the number it picked (the report's From).
SELECT plivo.send_sms('+14155552687', 'from the pack',
    powerpack_uuid => 'D1B5A6C2-3E4F-4A5B-8C6D-7E8F9A0B1C2D') AS pack_id \gset
SELECT sender, powerpack_uuid FROM plivo.message_logs WHERE id = :'pack_id';
SELECT sender FROM plivo.delivery_stats WHERE sender LIKE 'powerpack %';
UPDATE plivo.message_logs SET status = 'sent', plivo_message_uuid = 'uuid-pack-1' WHERE id = :'pack_id';
SELECT plivo._apply_report('{"MessageUUID": "uuid-pack-1", "Status": "delivered", "ErrorCode": "000",
    "From": "14155550199", "PowerpackUUID": "d1b5a6c2-3e4f-4a5b-8c6d-7e8f9a0b1c2d"}') ->> 'result' AS pack_report;
SELECT sender, powerpack_uuid IS NOT NULL AS via_pack FROM plivo.message_logs WHERE id = :'pack_id';
-- plivo.powerpack_uuid is the default in place of plivo.sender_number; a sender given wins.
SET plivo.powerpack_uuid = 'd1b5a6c2-3e4f-4a5b-8c6d-7e8f9a0b1c2d';
SELECT plivo.send_sms('+14155552688', 'default pack') AS default_pack_id \gset
SELECT plivo.send_sms('+14155552688', 'own number', sender_number => '+14155552671') AS own_id \gset
SELECT message_text, sender, powerpack_uuid FROM plivo.message_logs
WHERE id IN (:'default_pack_id', :'own_id') ORDER BY message_text;
SET plivo.powerpack_uuid = 'not-a-pack';
RESET plivo.powerpack_uuid;
\x on
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552688', 'x', sender_number => '+14155552671',
    powerpack_uuid => 'd1b5a6c2-3e4f-4a5b-8c6d-7e8f9a0b1c2d') $$);
SELECT * FROM expect_error($$ SELECT plivo.send_sms('+14155552688', 'x', powerpack_uuid => 'pack-1') $$);
-- An opt-out from any of our numbers stops a Powerpack message: Plivo may pick that number.
SELECT plivo.opt_out('+14155552689', 'asked', sender_number => '+14155552671') IS NOT NULL AS opted_out;
SELECT code, message, regexp_replace(detail, ' on [0-9-]+ [0-9:]+ UTC', ' on <when>') AS detail,
       rows_changed
FROM expect_error($$ SELECT plivo.send_sms('+14155552689', 'x',
    powerpack_uuid => 'd1b5a6c2-3e4f-4a5b-8c6d-7e8f9a0b1c2d') $$);
SELECT plivo.opt_in('+14155552689', sender_number => '+14155552671') IS NOT NULL AS opted_in;
\x off
