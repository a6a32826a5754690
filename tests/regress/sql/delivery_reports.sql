-- plivo.handle_status_callback(): signed delivery reports update their message in
-- place, only forward, once; everything else is refused or recorded as such.
\pset null '(null)'
SET plivo.sender_number = '+14155552671';
TRUNCATE plivo.message_logs, plivo.message_events, plivo.delivery_reports, plivo.webhook_nonces;
ALTER SYSTEM SET plivo.auth_token = 'regress-token-not-a-secret';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);

-- An independent signer, written from plivo-api.md §3 with pgcrypto's HMAC.
CREATE EXTENSION pgcrypto;
CREATE FUNCTION sign_v3(url text, params jsonb, nonce text, token text DEFAULT 'regress-token-not-a-secret')
RETURNS text LANGUAGE sql AS $$
    SELECT encode(hmac(url || '?' ||
        (SELECT string_agg(key || value, '' ORDER BY key COLLATE "C") FROM jsonb_each_text(params))
        || '.' || nonce, token, 'sha256'), 'base64')
$$;
CREATE FUNCTION sign_v2(url text, nonce text, token text DEFAULT 'regress-token-not-a-secret')
RETURNS text LANGUAGE sql AS $$ SELECT encode(hmac(url || nonce, token, 'sha256'), 'base64') $$;
CREATE FUNCTION v3_headers(url text, params jsonb, nonce text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('X-Plivo-Signature-V3', sign_v3(url, params, nonce),
                              'X-Plivo-Signature-V3-Nonce', nonce,
                              'Content-Type', 'application/x-www-form-urlencoded')
$$;
CREATE FUNCTION report(uuid text, status text, sequence int, extra jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_build_object('MessageUUID', uuid, 'Status', status, 'Sequence', sequence::text,
        'To', '14155552672', 'From', '14155552671', 'Type', 'sms', 'Units', '1',
        'TotalRate', '0.0050', 'TotalAmount', '0.0050', 'PartInfo', '1 of 1',
        'PowerpackUUID', '', 'ParentMessageUUID', uuid) || extra
$$;
\set hook 'https://hooks.example.com/plivo/status'

-- A message Plivo accepted.
SELECT plivo.send_sms('+14155552672', 'report me') AS message_id \gset
UPDATE plivo.message_logs SET status = 'sent', plivo_message_uuid = 'uuid-1' WHERE id = :'message_id';

-- queued, sent, delivered: applied in order.
SELECT plivo.handle_status_callback(:'hook', report('uuid-1', 'queued', 1),
    v3_headers(:'hook', report('uuid-1', 'queued', 1), '1001')) - 'message_id' AS queued_report;
SELECT plivo.handle_status_callback(:'hook', report('uuid-1', 'sent', 2),
    v3_headers(:'hook', report('uuid-1', 'sent', 2), '1002')) - 'message_id' AS sent_report;
SELECT plivo.handle_status_callback(:'hook', report('uuid-1', 'delivered', 3, '{"ErrorCode": "000"}'),
    v3_headers(:'hook', report('uuid-1', 'delivered', 3, '{"ErrorCode": "000"}'), '1003')) - 'message_id' AS delivered_report;
SELECT status, error_code, plivo_status_info ->> 'Sequence' AS sequence FROM plivo.message_logs WHERE id = :'message_id';
-- the same report again (Plivo retries): duplicate, nothing changes
SELECT plivo.handle_status_callback(:'hook', report('uuid-1', 'delivered', 3, '{"ErrorCode": "000"}'),
    v3_headers(:'hook', report('uuid-1', 'delivered', 3, '{"ErrorCode": "000"}'), '1004')) - 'message_id' AS repeated_report;
-- late or out of order: a final status never moves
SELECT plivo.handle_status_callback(:'hook', report('uuid-1', 'sent', 2, '{"Late": "yes"}'),
    v3_headers(:'hook', report('uuid-1', 'sent', 2, '{"Late": "yes"}'), '1005')) - 'message_id' AS late_sent;
SELECT plivo.handle_status_callback(:'hook', report('uuid-1', 'undelivered', 4, '{"ErrorCode": "30"}'),
    v3_headers(:'hook', report('uuid-1', 'undelivered', 4, '{"ErrorCode": "30"}'), '1006')) - 'message_id' AS after_final;
SELECT status, error_code FROM plivo.message_logs WHERE id = :'message_id';

-- Sequence orders the reports of a message that is not final yet.
SELECT plivo.send_sms('+14155552673', 'out of order') AS second_id \gset
UPDATE plivo.message_logs SET status = 'sent', plivo_message_uuid = 'uuid-2' WHERE id = :'second_id';
SELECT plivo.handle_status_callback(:'hook', report('uuid-2', 'sent', 5),
    v3_headers(:'hook', report('uuid-2', 'sent', 5), '2001')) ->> 'result' AS sequence_5;
SELECT plivo.handle_status_callback(:'hook', report('uuid-2', 'sent', 4, '{"Older": "1"}'),
    v3_headers(:'hook', report('uuid-2', 'sent', 4, '{"Older": "1"}'), '2002')) ->> 'result' AS sequence_4;
SELECT plivo.handle_status_callback(:'hook', report('uuid-2', 'undelivered', 6, '{"ErrorCode": "30"}'),
    v3_headers(:'hook', report('uuid-2', 'undelivered', 6, '{"ErrorCode": "30"}'), '2003')) ->> 'result' AS undelivered;
SELECT status, error_code FROM plivo.message_logs WHERE id = :'second_id';

-- A report for a uuid we do not know is kept, and is not an error to Plivo.
SELECT plivo.handle_status_callback(:'hook', report('uuid-unknown', 'delivered', 1),
    v3_headers(:'hook', report('uuid-unknown', 'delivered', 1), '3001')) AS unknown_report;
SELECT message_uuid, message_id, status, result FROM plivo.delivery_reports WHERE message_uuid = 'uuid-unknown';

-- Header names in any case; the Ma- header alone may carry the valid signature; several
-- comma-separated signatures (token rotation). Accepted (uuid-3 is not one of ours).
SELECT plivo.handle_status_callback(:'hook', report('uuid-3', 'sent', 1),
    jsonb_build_object('x-plivo-signature-v3', 'AAAAbogusAAAA=',
                       'X-PLIVO-SIGNATURE-MA-V3', sign_v3(:'hook', report('uuid-3', 'sent', 1), '4001'),
                       'x-Plivo-Signature-V3-nonce', '4001')) ->> 'result' AS ma_header_and_case;
SELECT plivo.handle_status_callback(:'hook', report('uuid-3', 'sent', 2),
    jsonb_build_object('X-Plivo-Signature-V3',
                       'AAAAbogusAAAA=, ' || sign_v3(:'hook', report('uuid-3', 'sent', 2), '4002'),
                       'X-Plivo-Signature-V3-Nonce', '4002')) ->> 'result' AS rotated_tokens;
-- GET: the fields come as the URL's query.
SELECT plivo.handle_status_callback(:'hook' || '?tenant=7', report('uuid-1', 'sent', 9),
    jsonb_build_object('X-Plivo-Signature-V3',
        encode(hmac(:'hook' || '?' ||
            (SELECT string_agg(key || '=' || value, '&' ORDER BY key COLLATE "C")
             FROM jsonb_each_text(report('uuid-1', 'sent', 9) || '{"tenant": "7"}')) || '.4003',
            'regress-token-not-a-secret', 'sha256'), 'base64'),
        'X-Plivo-Signature-V3-Nonce', '4003'), 'GET') ->> 'result' AS get_report;

-- GET through a relay that passes the fields both in the URL and as params.
SELECT plivo.handle_status_callback(
    :'hook' || '?MessageUUID=uuid-1&Status=sent&Sequence=20',
    '{"MessageUUID": "uuid-1", "Status": "sent", "Sequence": "20"}',
    jsonb_build_object('X-Plivo-Signature-V3',
        encode(hmac(:'hook' || '?MessageUUID=uuid-1&Sequence=20&Status=sent.4004',
                    'regress-token-not-a-secret', 'sha256'), 'base64'),
        'X-Plivo-Signature-V3-Nonce', '4004'), 'GET') ->> 'result' AS get_fields_in_url_and_params;

-- V2 (no V3 headers): the URL and nonce are signed, not the fields.
SELECT plivo.handle_status_callback(:'hook', report('uuid-2', 'sent', 7, '{"V2": "1"}'),
    jsonb_build_object('X-Plivo-Signature-V2', sign_v2(:'hook', '5001'),
                       'X-Plivo-Signature-V2-Nonce', '5001')) ->> 'result' AS v2_report;
-- the same nonce and fields again: a retry, accepted as a duplicate
SELECT plivo.handle_status_callback(:'hook', report('uuid-2', 'sent', 7, '{"V2": "1"}'),
    jsonb_build_object('X-Plivo-Signature-V2', sign_v2(:'hook', '5001'),
                       'X-Plivo-Signature-V2-Nonce', '5001')) ->> 'result' AS v2_retry;

-- Refused, and nothing written: the report count and the messages stay as they are.
SELECT count(*) AS reports_before FROM plivo.delivery_reports \gset
CREATE TEMP TABLE before AS SELECT id, status, plivo_status_info, updated_at FROM plivo.message_logs;
\x on
-- the same V2 nonce with other fields (a forged body)
SELECT code, message, detail, hint, rows_changed FROM expect_error(format(
    'SELECT plivo.handle_status_callback(%L, %L, %L)', :'hook',
    report('uuid-2', 'delivered', 8, '{"V2": "1"}'),
    jsonb_build_object('X-Plivo-Signature-V2', sign_v2(:'hook', '5001'), 'X-Plivo-Signature-V2-Nonce', '5001')));
-- a tampered field
SELECT code, message, detail, rows_changed FROM expect_error(format(
    'SELECT plivo.handle_status_callback(%L, %L, %L)', :'hook',
    report('uuid-1', 'undelivered', 10),
    v3_headers(:'hook', report('uuid-1', 'delivered', 10), '6001')));
-- signed with another token
SELECT code, message FROM expect_error(format(
    'SELECT plivo.handle_status_callback(%L, %L, %L)', :'hook', report('uuid-1', 'sent', 11),
    jsonb_build_object('X-Plivo-Signature-V3', sign_v3(:'hook', report('uuid-1', 'sent', 11), '6002', 'another-token'),
                       'X-Plivo-Signature-V3-Nonce', '6002')));
-- the URL a proxy saw instead of the one Plivo was told to call
SELECT code, message FROM expect_error(format(
    'SELECT plivo.handle_status_callback(%L, %L, %L)', 'http://internal:8000/plivo/status',
    report('uuid-1', 'sent', 12), v3_headers(:'hook', report('uuid-1', 'sent', 12), '6003')));
-- an invalid V3 signature next to a valid V2 one: no fall back to V2
SELECT code, message FROM expect_error(format(
    'SELECT plivo.handle_status_callback(%L, %L, %L)', :'hook', report('uuid-1', 'sent', 13),
    jsonb_build_object('X-Plivo-Signature-V3', 'AAAAbogusAAAA=', 'X-Plivo-Signature-V3-Nonce', '6004',
                       'X-Plivo-Signature-V2', sign_v2(:'hook', '6004'), 'X-Plivo-Signature-V2-Nonce', '6004')));
-- no signature at all; a signature without its nonce
SELECT * FROM expect_error(format(
    'SELECT plivo.handle_status_callback(%L, %L, %L)', :'hook', report('uuid-1', 'sent', 14),
    '{"Content-Type": "application/x-www-form-urlencoded"}'));
SELECT code, message, detail FROM expect_error(format(
    'SELECT plivo.handle_status_callback(%L, %L, %L)', :'hook', report('uuid-1', 'sent', 15),
    jsonb_build_object('X-Plivo-Signature-V3', sign_v3(:'hook', report('uuid-1', 'sent', 15), '6005'))));
-- malformed input
SELECT code, message, hint FROM expect_error(format(
    'SELECT plivo.handle_status_callback(%L, %L, %L)', :'hook', '[1]', '{}'));
SELECT code, message, hint FROM expect_error(format(
    'SELECT plivo.handle_status_callback(%L, %L, %L)', :'hook', '{}', 'null'));
SELECT code, message, hint FROM expect_error(format(
    'SELECT plivo.handle_status_callback(%L, %L, %L, %L)', :'hook', '{}', '{}', 'PUT'));
\x off
SELECT count(*) - :reports_before AS reports_written FROM plivo.delivery_reports;
SELECT count(*) AS messages_changed FROM plivo.message_logs m JOIN before b USING (id)
WHERE (m.status, m.plivo_status_info, m.updated_at) IS DISTINCT FROM (b.status, b.plivo_status_info, b.updated_at);

-- What the trail says about the first message.
SELECT old_status, new_status, cause, detail - 'by' - 'subject' AS detail
FROM plivo.message_events WHERE message_id = :'message_id' ORDER BY id;
SELECT status, sequence, result FROM plivo.delivery_reports WHERE message_id = :'message_id' ORDER BY id;

-- PostgREST: service_role may call it, authenticated and anon may not.
BEGIN;
SET LOCAL ROLE service_role;
SELECT plivo.handle_status_callback(:'hook', report('uuid-3', 'delivered', 3),
    v3_headers(:'hook', report('uuid-3', 'delivered', 3), '7001')) ->> 'result' AS as_service_role;
ROLLBACK;
\set VERBOSITY terse
BEGIN;
SET LOCAL ROLE authenticated;
SELECT plivo.handle_status_callback(:'hook', '{}', '{}');
ROLLBACK;
BEGIN;
SET LOCAL ROLE anon;
SELECT plivo.handle_status_callback(:'hook', '{}', '{}');
ROLLBACK;
\set VERBOSITY default

DROP FUNCTION report, v3_headers, sign_v2, sign_v3;
DROP EXTENSION pgcrypto;
ALTER SYSTEM RESET plivo.auth_token;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
TRUNCATE plivo.message_logs, plivo.message_events, plivo.delivery_reports, plivo.webhook_nonces;
