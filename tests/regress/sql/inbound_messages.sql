-- plivo.handle_inbound_message(): signed inbound messages are stored once; STOP,
-- START and HELP feed the consent ledger (plivo.opt_outs), which sending honours.
\pset null '(null)'
SET plivo.sender_number = '+14155552671';
TRUNCATE plivo.message_logs, plivo.message_events, plivo.delivery_reports, plivo.webhook_nonces,
         plivo.inbound_messages, plivo.opt_outs, plivo.consent_events;
ALTER SYSTEM SET plivo.auth_token = 'regress-token-not-a-secret';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);

-- The same independent signer as delivery_reports.sql (plivo-api.md §3, pgcrypto's HMAC).
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
-- An inbound SMS as Plivo posts it: numbers are digits without '+'.
CREATE FUNCTION inbound(uuid text, from_number text, message_text text, extra jsonb DEFAULT '{}',
                        to_number text DEFAULT '14155552671') RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_build_object('MessageUUID', uuid, 'From', from_number, 'To', to_number,
        'Type', 'sms', 'Text', message_text, 'Units', '1', 'TotalRate', '0.00000',
        'TotalAmount', '0.00000', 'MessageIntent', '', 'PowerpackUUID', '') || extra
$$;
-- Delivers it signed (V3) and returns what handle_inbound_message answered.
CREATE FUNCTION deliver(params jsonb, nonce text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT plivo.handle_inbound_message('https://hooks.example.com/plivo/inbound', params,
        v3_headers('https://hooks.example.com/plivo/inbound', params, nonce))
$$;
\set hook 'https://hooks.example.com/plivo/inbound'

-- An SMS: stored once, numbers as message_logs writes them.
SELECT deliver(inbound('in-1', '14155552672', 'Is my order ready?'), '5001') - 'id' AS sms;
SELECT message_uuid, from_number, to_number, message_type, message_text, media_urls, units,
       total_rate, total_amount, intent, consent_action, reply_message_id
FROM plivo.inbound_messages WHERE message_uuid = 'in-1';

-- Plivo resends when it got no 2xx in time: the same uuid three times is one row.
SELECT deliver(inbound('in-1', '14155552672', 'Is my order ready?'), '5002') ->> 'result' AS second,
       deliver(inbound('in-1', '14155552672', 'Is my order ready?'), '5003') ->> 'result' AS third;
SELECT count(*) AS rows_for_in_1 FROM plivo.inbound_messages WHERE message_uuid = 'in-1';

-- MMS: Body is the text; media in order whether Plivo numbers them from 0 or from 1,
-- Media10 after Media9; MediaCount and empty entries are not media.
SELECT deliver(jsonb_build_object('MessageUUID', 'in-mms-0', 'From', '14155552672', 'To', '14155552671',
        'Type', 'mms', 'Body', 'photo', 'MediaCount', '2',
        'Media0', 'https://media.example.com/a.jpg', 'Media1', 'https://media.example.com/b.png'),
        '5004') ->> 'result' AS mms_from_0;
SELECT deliver(jsonb_build_object('MessageUUID', 'in-mms-1', 'From', '14155552672', 'To', '14155552671',
        'Type', 'MMS', 'MediaCount', '11', 'Media1', 'https://media.example.com/1.jpg',
        'Media2', 'https://media.example.com/2.jpg', 'Media9', 'https://media.example.com/9.jpg',
        'Media10', 'https://media.example.com/10.jpg', 'Media3', ''),
        '5005') ->> 'result' AS mms_from_1;
SELECT message_uuid, message_type, message_text, media_urls
FROM plivo.inbound_messages WHERE message_uuid LIKE 'in-mms-%' ORDER BY message_uuid;

-- GET: the fields are in the query the URL was signed with.
SELECT plivo.handle_inbound_message(
    :'hook' || '?From=14155552673&MessageUUID=in-get&Text=hi&To=14155552671',
    '{"From": "14155552673", "MessageUUID": "in-get", "Text": "hi", "To": "14155552671"}',
    jsonb_build_object('X-Plivo-Signature-V3',
        encode(hmac(:'hook' || '?From=14155552673&MessageUUID=in-get&Text=hi&To=14155552671.5006',
                    'regress-token-not-a-secret', 'sha256'), 'base64'),
        'X-Plivo-Signature-V3-Nonce', '5006'), 'GET') ->> 'result' AS by_get;

-- V2 (no V3 header): accepted once; its nonce with another body is a replay.
SELECT plivo.handle_inbound_message(:'hook', inbound('in-v2', '14155552674', 'v2 hello'),
    jsonb_build_object('X-Plivo-Signature-V2', sign_v2(:'hook', 'nonce-v2-1'),
                       'X-Plivo-Signature-V2-Nonce', 'nonce-v2-1')) ->> 'result' AS v2;
SELECT code, message, detail FROM expect_error($$
    SELECT plivo.handle_inbound_message('https://hooks.example.com/plivo/inbound',
        inbound('in-v2-forged', '14155552674', 'STOP'),
        jsonb_build_object('X-Plivo-Signature-V2', sign_v2('https://hooks.example.com/plivo/inbound', 'nonce-v2-1'),
                           'X-Plivo-Signature-V2-Nonce', 'nonce-v2-1'))$$);

-- Forged, signed with another token, or unsigned: 28000, nothing stored, nobody opted out.
SELECT code, message FROM expect_error($$
    SELECT plivo.handle_inbound_message('https://hooks.example.com/plivo/inbound',
        inbound('in-forged', '14155552675', 'STOP'),
        jsonb_build_object('X-Plivo-Signature-V3', sign_v3('https://hooks.example.com/plivo/inbound',
                               inbound('in-forged', '14155552675', 'STOP'), '5007', 'some-other-token'),
                           'X-Plivo-Signature-V3-Nonce', '5007'))$$);
SELECT code, message FROM expect_error($$
    SELECT plivo.handle_inbound_message('https://hooks.example.com/plivo/inbound',
        inbound('in-forged', '14155552675', 'STOP'), '{}')$$);
-- a valid signature over other fields (the text changed on the way)
SELECT code, message FROM expect_error($$
    SELECT plivo.handle_inbound_message('https://hooks.example.com/plivo/inbound',
        inbound('in-forged', '14155552675', 'STOP'),
        v3_headers('https://hooks.example.com/plivo/inbound', inbound('in-forged', '14155552675', 'hello'), '5008'))$$);
SELECT count(*) AS forged_rows FROM plivo.inbound_messages WHERE message_uuid = 'in-forged';
SELECT count(*) AS opt_outs_after_forgeries FROM plivo.opt_outs;

-- Missing fields: 22023 naming them; not JSON objects: 22023.
SELECT code, message, detail, hint FROM expect_error($$
    SELECT deliver('{"From": "14155552672", "Text": "no uuid", "To": ""}', '5009')$$);
SELECT code, message FROM expect_error($$
    SELECT plivo.handle_inbound_message('https://hooks.example.com/plivo/inbound', '[]', '{}')$$);

-- STOP -------------------------------------------------------------------------------
-- A message queued for +14155552680 before the recipient says STOP is failed, not sent.
SELECT plivo.send_sms('+14155552680', 'your weekly offer') AS queued_id \gset
SET plivo.opt_out_reply = 'You are unsubscribed. Reply START to resubscribe.';
SELECT deliver(inbound('in-stop', '14155552680', ' Stop '), '5010') - 'id' - 'reply_message_id' AS stop;
SELECT recipient, sender, source, reason, inbound_message_id IS NOT NULL AS has_inbound,
       confirmation_message_id IS NOT NULL AS confirmed, recorded_by
FROM plivo.opt_outs WHERE recipient = '+14155552680';
SELECT status, last_error FROM plivo.message_logs WHERE id = :'queued_id';
SELECT new_status, cause FROM plivo.message_events WHERE message_id = :'queued_id' ORDER BY id;
-- The one confirmation, from the number they wrote to, through the queue.
SELECT sender, recipient, message_text, status, consent_override
FROM plivo.message_logs WHERE recipient = '+14155552680' AND id <> :'queued_id';
SELECT consent_action, reply_message_id = (SELECT confirmation_message_id FROM plivo.opt_outs
                                           WHERE recipient = '+14155552680') AS reply_is_the_confirmation
FROM plivo.inbound_messages WHERE message_uuid = 'in-stop';

-- Every way in refuses them: PT451, the number in DETAIL, how to opt in in HINT, no row.
SELECT code, message, regexp_replace(detail, 'on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC', 'on <time>') AS detail,
       hint, rows_changed
FROM expect_error($$SELECT plivo.send_sms('+1 (415) 555-2680', 'another offer')$$);
SELECT code, rows_changed FROM expect_error($$
    SELECT plivo.send_mms('+14155552680', 'pic', ARRAY['https://media.example.com/a.jpg'])$$);
SELECT code, rows_changed FROM expect_error($$
    INSERT INTO plivo.message_logs (recipient, message_text) VALUES ('+14155552680', 'insert')$$);
SELECT code, rows_changed FROM expect_error($$
    INSERT INTO plivo.message_logs (recipient, message_text)
    VALUES ('+14155552681', 'fine'), ('+14155552680', 'not fine')$$);

-- Another STOP (another word, a new uuid) and Plivo's resend of the first: opted out
-- once, confirmed once.
SELECT deliver(inbound('in-stop-2', '14155552680', 'UNSUBSCRIBE'), '5011') - 'id' AS second_stop;
SELECT deliver(inbound('in-stop', '14155552680', ' Stop '), '5012') ->> 'result' AS resent_stop;
SELECT count(*) AS opt_out_rows, (SELECT count(*) FROM plivo.message_logs
    WHERE recipient = '+14155552680' AND consent_override = 'opt_out_confirmation') AS confirmations
FROM plivo.opt_outs WHERE recipient = '+14155552680';

-- The confirmation override is for that one message only.
SELECT code, message, detail FROM expect_error($$
    INSERT INTO plivo.message_logs (recipient, message_text, consent_override)
    VALUES ('+14155552680', 'sneaky', 'opt_out_confirmation')$$);

-- Our revocation words that Plivo does not know, Plivo's intent for words we do not
-- know, and messages that merely contain a keyword.
SELECT deliver(inbound('in-revoke', '14155552682', 'Revoke'), '5013') ->> 'consent' AS revoke,
       deliver(inbound('in-optout', '14155552683', 'opt out.'), '5014') ->> 'consent' AS opt_out_words,
       deliver(inbound('in-intent', '14155552684', 'Arrêtez', '{"MessageIntent": "optout"}'), '5015') ->> 'consent' AS plivo_intent,
       deliver(inbound('in-chat', '14155552685', 'stop by at 5?'), '5016') ->> 'consent' AS chat;
SELECT recipient, source FROM plivo.opt_outs WHERE recipient IN
    ('+14155552682', '+14155552683', '+14155552684', '+14155552685') ORDER BY recipient;

-- START ------------------------------------------------------------------------------
SELECT deliver(inbound('in-start', '14155552680', 'START'), '5017') - 'id' AS start;
SELECT count(*) AS opt_outs_left FROM plivo.opt_outs WHERE recipient = '+14155552680';
SELECT plivo.send_sms('+14155552680', 'welcome back') IS NOT NULL AS sends_again;
SELECT action, recipient, sender, source, reason FROM plivo.consent_events
WHERE recipient = '+14155552680' ORDER BY id;

-- HELP -------------------------------------------------------------------------------
-- Without plivo.help_reply: recorded, no answer.
SELECT deliver(inbound('in-help-0', '14155552686', 'help'), '5018') - 'id' AS help_without_reply;
SET plivo.help_reply = 'Acme alerts: msg&data rates may apply. Reply STOP to cancel.';
SELECT deliver(inbound('in-help', '14155552686', 'HELP'), '5019') ->> 'consent' AS help;
SELECT deliver(inbound('in-help', '14155552686', 'HELP'), '5020') ->> 'result' AS help_resent;
SELECT sender, recipient, message_text, consent_override FROM plivo.message_logs
WHERE recipient = '+14155552686';
-- Someone who opted out still gets the answer to HELP (and the override is recorded).
SELECT deliver(inbound('in-help-2', '14155552682', 'Info'), '5021') ->> 'reply_message_id' IS NOT NULL AS answered_after_stop;
SELECT action, source FROM plivo.consent_events WHERE recipient = '+14155552682' ORDER BY id;
SELECT code, message FROM expect_error($$
    INSERT INTO plivo.message_logs (recipient, message_text, consent_override)
    VALUES ('+14155552682', 'second answer', 'help_reply')$$);

-- Transactional messages: only where a superuser allows it, and recorded.
SELECT code, message, detail, hint FROM expect_error($$
    INSERT INTO plivo.message_logs (recipient, message_text, consent_override)
    VALUES ('+14155552682', 'Your code is 123456', 'transactional')$$);
SET plivo.allow_transactional_override = on;
INSERT INTO plivo.message_logs (recipient, message_text, consent_override)
VALUES ('+14155552682', 'Your code is 123456', 'transactional');
SELECT action, source FROM plivo.consent_events WHERE recipient = '+14155552682' ORDER BY id DESC LIMIT 1;
RESET plivo.allow_transactional_override;
SELECT code, message, detail FROM expect_error($$
    INSERT INTO plivo.message_logs (recipient, message_text, consent_override)
    VALUES ('+14155552681', 'hello', 'because')$$);

-- plivo.opt_out() / plivo.opt_in() ---------------------------------------------------
SELECT plivo.send_sms('+14155552690', 'queued before the DBA acts') AS dba_queued \gset
SELECT plivo.opt_out('+1 415-555-2690', 'asked by phone') AS dba_opt_out;
SELECT plivo.opt_out('14155552690') ->> 'result' AS again;
SELECT status FROM plivo.message_logs WHERE id = :'dba_queued';
SELECT recipient, sender, source, reason FROM plivo.opt_outs WHERE recipient = '+14155552690';
SELECT plivo.opt_in('+14155552690') AS dba_opt_in;
SELECT plivo.opt_in('+14155552690') ->> 'result' AS opt_in_again;
SELECT code, message, hint FROM expect_error($$SELECT plivo.opt_out('12345')$$);
SELECT code, message FROM expect_error($$SELECT plivo.opt_out(NULL)$$);
SELECT code, message FROM expect_error($$SELECT plivo.opt_in('+14155552690', 'not a number')$$);
-- Through PostgREST (a JWT came with the request) the source is 'api'.
BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "service", "role": "service_role"}';
SELECT plivo.opt_out('+14155552691') ->> 'result' AS via_api;
COMMIT;
SELECT source FROM plivo.opt_outs WHERE recipient = '+14155552691';

-- plivo.opt_out_scope = 'sender': a STOP stops only the number it was sent to.
SET plivo.opt_out_scope = 'sender';
SELECT deliver(inbound('in-scoped', '14155552692', 'quit'), '5022') ->> 'consent' AS scoped_stop;
SELECT recipient, sender FROM plivo.opt_outs WHERE recipient = '+14155552692';
SELECT code FROM expect_error($$SELECT plivo.send_sms('+14155552692', 'from the same number')$$);
SELECT plivo.send_sms('+14155552692', 'from another number', '+14155552699') IS NOT NULL AS other_sender_may;
RESET plivo.opt_out_scope;

-- Plivo's error 200 (the recipient opted out with Plivo): recorded, and the rest of
-- their queue is failed.
SELECT plivo.send_sms('+14155552693', 'first') AS e200_id \gset
SELECT plivo.send_sms('+14155552693', 'second') AS e200_next \gset
UPDATE plivo.message_logs SET status = 'sent', plivo_message_uuid = 'out-e200' WHERE id = :'e200_id';
SELECT plivo.handle_status_callback('https://hooks.example.com/plivo/status',
    '{"MessageUUID": "out-e200", "Status": "failed", "ErrorCode": "200", "Sequence": "2"}',
    v3_headers('https://hooks.example.com/plivo/status',
               '{"MessageUUID": "out-e200", "Status": "failed", "ErrorCode": "200", "Sequence": "2"}', '5023')) ->> 'result' AS e200_report;
SELECT recipient, sender, source, message_id = :'e200_id' AS names_the_message
FROM plivo.opt_outs WHERE recipient = '+14155552693';
SELECT status, last_error FROM plivo.message_logs WHERE id = :'e200_next';

-- DBAs' views.
SELECT source, opt_outs, opt_ins, overrides FROM plivo.opt_out_stats ORDER BY source;
SELECT direction, message_text, status FROM plivo.conversations
WHERE our_number = '+14155552671' AND their_number = '+14155552680' ORDER BY at, direction;

-- Roles: only service_role (and superusers) may take inbound messages or change consent.
SET ROLE authenticated;
SELECT code FROM expect_error($$SELECT deliver(inbound('in-auth', '14155552672', 'x'), '5024')$$);
SELECT code FROM expect_error($$SELECT plivo.opt_out('+14155552694')$$);
SELECT code FROM expect_error($$SELECT * FROM plivo.opt_outs$$);
RESET ROLE;
SELECT has_function_privilege('anon', 'plivo.opt_in(text, text)', 'EXECUTE') AS anon_may_opt_in,
       has_function_privilege('anon', 'plivo.handle_inbound_message(text, jsonb, jsonb, text)', 'EXECUTE') AS anon_may_deliver,
       has_table_privilege('anon', 'plivo.inbound_messages', 'SELECT') AS anon_may_read;
SET ROLE service_role;
SELECT deliver(inbound('in-service', '14155552695', 'end'), '5025') ->> 'consent' AS service_role_stop;
SELECT count(*) AS service_role_sees FROM plivo.opt_outs WHERE recipient = '+14155552695';
SELECT code FROM expect_error($$DELETE FROM plivo.opt_outs$$);
SELECT code FROM expect_error($$DELETE FROM plivo.consent_events$$);
RESET ROLE;

-- Retention: old inbound messages go, the consent ledger stays.
UPDATE plivo.inbound_messages SET received_at = now() - interval '100 days' WHERE message_uuid = 'in-revoke';
SELECT plivo.purge_message_logs(interval '90 days') AS messages_purged;
SELECT count(*) AS old_inbound_left FROM plivo.inbound_messages WHERE message_uuid = 'in-revoke';
SELECT count(*) AS opt_out_kept FROM plivo.opt_outs WHERE recipient = '+14155552682';

RESET plivo.opt_out_reply;
RESET plivo.help_reply;
DROP FUNCTION deliver, inbound, v3_headers, sign_v2, sign_v3;
DROP EXTENSION pgcrypto;
ALTER SYSTEM RESET plivo.auth_token;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
TRUNCATE plivo.message_logs, plivo.message_events, plivo.delivery_reports, plivo.webhook_nonces,
         plivo.inbound_messages, plivo.opt_outs, plivo.consent_events;
