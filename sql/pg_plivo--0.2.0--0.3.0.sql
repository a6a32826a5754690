-- pg_plivo 0.2.0 to 0.3.0: inbound messages (plivo.handle_inbound_message,
-- plivo.inbound_messages, plivo.conversations) and the consent ledger (plivo.opt_outs,
-- plivo.consent_events, plivo.opt_out(), plivo.opt_in(), message_logs.consent_override).
-- handle_status_callback's checks move into plivo._check_webhook_request, which both
-- webhooks share; purge_message_logs also purges inbound messages.
\echo Use "ALTER EXTENSION pg_plivo UPDATE TO '0.3.0'" to load this file. \quit

ALTER TABLE plivo.message_logs ADD COLUMN consent_override text;
ALTER TABLE plivo.message_logs ADD CONSTRAINT message_logs_consent_override_check CHECK (
    consent_override IN ('opt_out_confirmation', 'help_reply', 'transactional'));
COMMENT ON COLUMN plivo.message_logs.consent_override IS
    'Sent although the recipient opted out: opt_out_confirmation or help_reply (pg_plivo''s own replies), or transactional (when plivo.allow_transactional_override is on); recorded in plivo.consent_events';
COMMENT ON COLUMN plivo.message_events.cause IS
    'enqueue, claim, plivo_answer, lease_recovery, delivery_report, redrive, opt_out (the recipient opted out while it was queued), cancel (plivo.cancel_message), or manual';

-- Scheduling, expiry, Plivo's log option, the SMS fallback and costs.
ALTER TABLE plivo.message_logs
    ADD COLUMN send_at timestamptz,
    ADD COLUMN valid_for interval,
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN plivo_log text,
    ADD COLUMN sms_fallback boolean,
    ADD COLUMN fallback_of uuid,
    ADD COLUMN fallback_message_id uuid,
    ADD COLUMN units integer,
    ADD COLUMN total_rate numeric,
    ADD COLUMN total_amount numeric,
    ADD COLUMN powerpack_uuid text;
ALTER TABLE plivo.message_logs DROP CONSTRAINT message_logs_status_check;
ALTER TABLE plivo.message_logs ADD CONSTRAINT message_logs_status_check CHECK (status IS NOT NULL AND status IN (
        'queued', 'sending', 'retrying', 'sent', 'delivered', 'undelivered', 'failed', 'rejected',
        'cancelled'));
ALTER TABLE plivo.message_logs ADD CONSTRAINT message_logs_plivo_log_check CHECK (
        plivo_log IN ('true', 'false', 'number_only', 'content_only'));
ALTER TABLE plivo.message_logs ADD CONSTRAINT message_logs_valid_for_check CHECK (valid_for >= interval '5 seconds');
ALTER TABLE plivo.message_logs ADD CONSTRAINT message_logs_sender_or_powerpack_check CHECK (
        sender IS NOT NULL OR powerpack_uuid IS NOT NULL);
ALTER TABLE plivo.message_logs ALTER COLUMN sender DROP NOT NULL;
COMMENT ON COLUMN plivo.message_logs.status IS
    'queued, sending, retrying, sent, delivered, undelivered, failed, rejected or cancelled (see the extension script for the life cycle)';
COMMENT ON COLUMN plivo.message_logs.sender IS 'Sender number in E.164 (defaults to plivo.sender_number); through a Powerpack NULL until Plivo names the number it used (delivery report or settling)';
COMMENT ON COLUMN plivo.message_logs.powerpack_uuid IS
    'Plivo Powerpack the message is sent through instead of a sender number (powerpack_uuid, never src): Plivo picks the number from its pool; defaults to plivo.powerpack_uuid when neither is given';
COMMENT ON COLUMN plivo.message_logs.next_attempt_at IS 'When the dispatcher may take it (up): send_at for a scheduled message, later after a failed attempt; infinity while its outcome waits to be settled (unsettled_since)';
COMMENT ON COLUMN plivo.message_logs.unsettled_since IS 'Set when an attempt may have reached Plivo without a known answer: the dispatcher looks the message up in Plivo (oldest first) and sends it again only if Plivo has no such message';
COMMENT ON COLUMN plivo.message_logs.send_at IS
    'When to send (a scheduled message): the message stays queued with next_attempt_at = send_at, and plivo.cancel_message() can cancel it until the dispatcher claims it; NULL: at once';
COMMENT ON COLUMN plivo.message_logs.valid_for IS
    'How long the message is worth sending, from send_at (or enqueuing); at least 5 seconds. Past it, pg_plivo does not send it (failed), and Plivo is told to drop it (message_expiry) when it cannot deliver in time; NULL: plivo.default_valid_for';
COMMENT ON COLUMN plivo.message_logs.expires_at IS
    'send_at (or the time of enqueuing) + valid_for: a message still queued or retrying then is failed, not sent';
COMMENT ON COLUMN plivo.message_logs.plivo_log IS
    'What Plivo may keep of the message (its log parameter): true, false, number_only or content_only; NULL: plivo.plivo_log, else Plivo''s default (true)';
COMMENT ON COLUMN plivo.message_logs.sms_fallback IS
    'For an MMS: when Plivo reports it failed for a reason an SMS would not hit (plivo.sms_fallback_error_codes), send the text and the media links as one SMS instead; NULL: plivo.sms_fallback';
COMMENT ON COLUMN plivo.message_logs.fallback_of IS 'On a fallback SMS: the MMS it replaces';
COMMENT ON COLUMN plivo.message_logs.fallback_message_id IS 'On an MMS that failed: the fallback SMS sent instead';
COMMENT ON COLUMN plivo.message_logs.units IS 'Units Plivo billed (Units of the delivery report, units of the message record)';
COMMENT ON COLUMN plivo.message_logs.total_rate IS 'Plivo''s rate per unit (TotalRate), in the account''s currency';
COMMENT ON COLUMN plivo.message_logs.total_amount IS 'What Plivo charged for the message (TotalAmount), in the account''s currency';
-- One fallback SMS per MMS, whatever retries or reports come twice.
CREATE UNIQUE INDEX message_logs_fallback_of_key ON plivo.message_logs (fallback_of)
    WHERE fallback_of IS NOT NULL;
-- The one-at-a-time rule goes by the Powerpack of a message sent through one.
DROP INDEX plivo.message_logs_open_idx;
CREATE INDEX message_logs_open_idx
    ON plivo.message_logs (recipient, (coalesce(powerpack_uuid, sender)), message_type)
    WHERE status = 'sending' OR (unsettled_since IS NOT NULL AND status IN ('queued', 'retrying'));

-- The check every webhook from Plivo passes before it may write anything: the fields
-- and headers are JSON objects, the signature is valid (V3, else V2; never a downgrade),
-- and a V2 nonce is not reused with other fields. Raises 22023 or 28000; returns the
-- signature version that passed.
CREATE FUNCTION plivo._check_webhook_request(
    url text, params jsonb, headers jsonb, method text)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    checked record;
    digest text;
    known_digest text;
BEGIN
    IF params IS NULL OR pg_catalog.jsonb_typeof(params) <> 'object' THEN
        RAISE EXCEPTION 'params must be a JSON object' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass the decoded form fields (or query fields for GET) as a JSON object.';
    END IF;
    IF headers IS NULL OR pg_catalog.jsonb_typeof(headers) <> 'object' THEN
        RAISE EXCEPTION 'headers must be a JSON object' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass the request headers as a JSON object of name and value.';
    END IF;

    checked := plivo._verify_webhook(url, params, headers, method);

    -- A V2 nonce signs only the URL: the same nonce with other fields is refused.
    IF checked.version = 'v2' THEN
        digest := pg_catalog.md5(params::text);
        INSERT INTO plivo.webhook_nonces (nonce, body_digest) VALUES (checked.nonce, digest)
        ON CONFLICT (nonce) DO NOTHING;
        IF NOT FOUND THEN
            SELECT n.body_digest INTO known_digest FROM plivo.webhook_nonces n
            WHERE n.nonce = checked.nonce;
            IF known_digest IS DISTINCT FROM digest THEN
                RAISE EXCEPTION 'invalid Plivo signature'
                    USING ERRCODE = 'invalid_authorization_specification',
                    DETAIL = 'This X-Plivo-Signature-V2-Nonce was already used with other fields.',
                    HINT = 'A V2 signature does not cover the fields, so a reused nonce is refused.';
            END IF;
        END IF;
    END IF;
    RETURN checked.version;
END
$$;

CREATE OR REPLACE FUNCTION plivo.handle_status_callback(
    url text,
    params jsonb,
    headers jsonb,
    method text DEFAULT 'POST')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
BEGIN
    PERFORM plivo._check_webhook_request(url, params, headers, method);
    -- Ordered with the worker recording uuids (it holds this lock exclusively meanwhile):
    -- either the worker sees this report when it records the uuid, or this report sees
    -- the recorded uuid. Never neither.
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(1886152054, 1);
    RETURN plivo._apply_report(params);
END
$$;

-------------------------------------------------------------------------------
-- Inbound messages. Plivo sends each message that someone texts to one of our numbers
-- to the message_url of the Application the number is linked to; an Edge Function (or
-- any relay) hands the request to plivo.handle_inbound_message(), which checks it as
-- handle_status_callback() does and stores the message once. Plivo resends a message
-- it got no 2xx for within 8 s, so the same MessageUUID may come again.
-------------------------------------------------------------------------------

-- Numbers as message_logs keeps them (E.164 with its +): Plivo writes From and To as
-- digits alone. Short codes (up to 7 digits) and anything else stay as they came.
CREATE FUNCTION plivo._inbound_number(number text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = ''
AS $$
    SELECT CASE WHEN pg_catalog.btrim(number) ~ '^[0-9]{8,15}$' THEN '+' || pg_catalog.btrim(number)
                ELSE pg_catalog.btrim(number) END
$$;

CREATE TABLE plivo.inbound_messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_uuid    text NOT NULL,
    from_number     text NOT NULL,
    to_number       text NOT NULL,
    message_type    text NOT NULL,
    message_text    text,
    media_urls      text[] NOT NULL DEFAULT '{}',
    units           integer,
    total_rate      numeric,
    total_amount    numeric,
    intent          text,
    powerpack_uuid  text,
    params          jsonb NOT NULL,
    -- The transaction's time, as message_logs.created_at: a reply enqueued with it is
    -- never older than what it answers.
    received_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    consent_action  text,
    reply_message_id uuid,
    CONSTRAINT inbound_messages_message_uuid_key UNIQUE (message_uuid),
    CONSTRAINT inbound_messages_consent_action_check CHECK (
        consent_action IN ('opt_out', 'opt_in', 'help'))
);
COMMENT ON TABLE plivo.inbound_messages IS
    'Every signed inbound message, once per MessageUUID: who wrote (from_number) to which of our numbers (to_number), what, and Plivo''s fields as received (params)';
COMMENT ON COLUMN plivo.inbound_messages.from_number IS
    'The sender, as plivo.message_logs.recipient spells it (E.164 with +)';
COMMENT ON COLUMN plivo.inbound_messages.to_number IS
    'Our number it was sent to, as plivo.message_logs.sender spells it';
COMMENT ON COLUMN plivo.inbound_messages.message_text IS
    'Text (SMS, parts already joined by Plivo) or Body (MMS)';
COMMENT ON COLUMN plivo.inbound_messages.media_urls IS
    'The MediaN fields in order (Plivo numbers them from 0 or from 1; both are read)';
COMMENT ON COLUMN plivo.inbound_messages.intent IS
    'Plivo''s MessageIntent: optout, optin, help, or NULL';
COMMENT ON COLUMN plivo.inbound_messages.consent_action IS
    'What pg_plivo did with it: opt_out, opt_in or help (by its keyword settings or Plivo''s intent), or NULL';
COMMENT ON COLUMN plivo.inbound_messages.reply_message_id IS
    'The reply it got through the queue (opt-out confirmation or HELP answer), in plivo.message_logs';
-- A conversation is a number pair: (to_number, from_number) here is (sender, recipient)
-- in message_logs.
CREATE INDEX inbound_messages_pair_idx
    ON plivo.inbound_messages (to_number, from_number, received_at);
CREATE INDEX inbound_messages_received_at_idx ON plivo.inbound_messages (received_at);
SELECT pg_catalog.pg_extension_config_dump('plivo.inbound_messages', '');

CREATE FUNCTION plivo.handle_inbound_message(
    url text,
    params jsonb,
    headers jsonb,
    method text DEFAULT 'POST')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    missing text[];
    inbound_uuid text;
    stored_id bigint;
    media text[];
    consent record;
    stored record;
BEGIN
    PERFORM plivo._check_webhook_request(url, params, headers, method);

    SELECT pg_catalog.array_agg(field ORDER BY field) INTO missing
    FROM pg_catalog.unnest(ARRAY['From', 'MessageUUID', 'To']) field
    WHERE pg_catalog.btrim(coalesce(params ->> field, '')) = '';
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'params must contain From, To and MessageUUID'
            USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('Missing or empty: %s. The fields were: %s.',
                pg_catalog.array_to_string(missing, ', '),
                coalesce((SELECT pg_catalog.string_agg(k, ', ' ORDER BY k)
                          FROM pg_catalog.jsonb_object_keys(params) k), 'none')),
            HINT = 'Pass every field of the request Plivo sent to the message URL.';
    END IF;
    inbound_uuid := pg_catalog.btrim(params ->> 'MessageUUID');

    SELECT coalesce(pg_catalog.array_agg(m.value ORDER BY m.n), '{}') INTO media
    FROM (SELECT (pg_catalog.substr(f.key, 6))::integer AS n, f.value
          FROM pg_catalog.jsonb_each_text(params) f
          WHERE f.key ~ '^Media[0-9]{1,3}$' AND pg_catalog.btrim(f.value) <> '') m;

    INSERT INTO plivo.inbound_messages (
        message_uuid, from_number, to_number, message_type, message_text, media_urls,
        units, total_rate, total_amount, intent, powerpack_uuid, params)
    VALUES (
        inbound_uuid,
        plivo._inbound_number(params ->> 'From'),
        plivo._inbound_number(params ->> 'To'),
        coalesce(NULLIF(pg_catalog.lower(pg_catalog.btrim(params ->> 'Type')), ''), 'sms'),
        coalesce(NULLIF(params ->> 'Text', ''), NULLIF(params ->> 'Body', '')),
        media,
        CASE WHEN params ->> 'Units' ~ '^[0-9]{1,9}$' THEN (params ->> 'Units')::integer END,
        CASE WHEN params ->> 'TotalRate' ~ '^[0-9]{1,12}(\.[0-9]{1,12})?$'
             THEN (params ->> 'TotalRate')::numeric END,
        CASE WHEN params ->> 'TotalAmount' ~ '^[0-9]{1,12}(\.[0-9]{1,12})?$'
             THEN (params ->> 'TotalAmount')::numeric END,
        NULLIF(pg_catalog.lower(pg_catalog.btrim(params ->> 'MessageIntent')), ''),
        NULLIF(pg_catalog.btrim(params ->> 'PowerpackUUID'), ''),
        params)
    ON CONFLICT ON CONSTRAINT inbound_messages_message_uuid_key DO NOTHING
    RETURNING id, from_number, to_number, message_text, intent INTO stored;
    stored_id := stored.id;

    IF stored_id IS NULL THEN
        -- Plivo's resend of one already stored: answer 2xx again, write nothing.
        SELECT i.id INTO stored_id FROM plivo.inbound_messages i
        WHERE i.message_uuid = inbound_uuid;
        RETURN pg_catalog.jsonb_build_object('result', 'duplicate', 'id', stored_id,
                                             'message_uuid', inbound_uuid);
    END IF;
    consent := plivo._apply_inbound_consent(stored.id, stored.from_number, stored.to_number,
                                            stored.message_text, stored.intent);
    RETURN pg_catalog.jsonb_build_object('result', 'stored', 'id', stored_id,
                                         'message_uuid', inbound_uuid,
                                         'consent', consent.action,
                                         'reply_message_id', consent.reply_message_id);
END
$$;
COMMENT ON FUNCTION plivo.handle_inbound_message(text, jsonb, jsonb, text) IS
    'Checks a Plivo inbound message''s signature (V3, else V2), stores it once in plivo.inbound_messages and applies STOP/START/HELP (plivo.opt_outs): returns {"result": stored|duplicate, "id", "message_uuid", "consent", "reply_message_id"}';

-- Both directions of every conversation, a number pair (our number, theirs), in time
-- order within the pair: what was sent (message_logs) and what came back.
CREATE VIEW plivo.conversations WITH (security_invoker = true) AS
    SELECT m.sender AS our_number, m.recipient AS their_number, 'outbound'::text AS direction,
           m.created_at AS at, m.message_text, m.media_urls, m.status,
           m.id AS message_id, NULL::bigint AS inbound_id
    FROM plivo.message_logs m
    UNION ALL
    SELECT i.to_number, i.from_number, 'inbound', i.received_at, i.message_text,
           i.media_urls, 'received', NULL, i.id
    FROM plivo.inbound_messages i;
COMMENT ON VIEW plivo.conversations IS
    'Messages sent (outbound, from plivo.message_logs) and received (inbound, from plivo.inbound_messages) by number pair; filter on our_number and their_number, order by at, direction (a reply has the time of what it answers)';

-------------------------------------------------------------------------------
-- Consent. plivo.opt_outs holds who must not be texted: one row per recipient (for
-- all our numbers, sender NULL) or per recipient and sender number, as
-- plivo.opt_out_scope says. It is fed by inbound messages (a revocation word, or
-- Plivo's MessageIntent optout), by Plivo's error 200 (Plivo blocked the send because
-- the recipient opted out with Plivo), and by plivo.opt_out() for DBAs and the service
-- role; an opt-in word, Plivo's optin or plivo.opt_in() removes the row. Every change
-- is in plivo.consent_events.
--
-- Sending honours it three times: an INSERT (and so send_mms/send_sms) to a recipient
-- who opted out is refused (SQLSTATE PT451); an opt-out fails the messages to them
-- still queued; and the worker's claim fails any it still finds (one enqueued while
-- the opt-out committed). consent_override lets through only the one confirmation of
-- a new opt-out, the answer to a HELP, and transactional messages where
-- plivo.allow_transactional_override is on; each use on an opted-out recipient is
-- recorded.
-------------------------------------------------------------------------------

-- Numbers as message_logs keeps them (E.164); 22023 naming `field` otherwise.
CREATE FUNCTION plivo._phone_number(number text, field text DEFAULT 'number') RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE
SET search_path = ''
AS 'MODULE_PATHNAME', 'plivo_phone_number';

-- 'opt_out', 'opt_in', 'help' or NULL: whether the whole text is one of the keywords of
-- plivo.opt_out_keywords, plivo.opt_in_keywords or plivo.help_keywords.
CREATE FUNCTION plivo._consent_keyword(message_text text) RETURNS text
LANGUAGE c STABLE PARALLEL SAFE
SET search_path = ''
AS 'MODULE_PATHNAME', 'plivo_consent_keyword';

CREATE TABLE plivo.opt_outs (
    id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient                text NOT NULL,
    sender                   text,
    source                   text NOT NULL,
    reason                   text,
    inbound_message_id       bigint,
    message_id               uuid,
    opted_out_at             timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    recorded_by              text NOT NULL DEFAULT CURRENT_USER,
    confirmation_message_id  uuid,
    CONSTRAINT opt_outs_source_check CHECK (
        source IN ('inbound_keyword', 'plivo_intent', 'plivo_error_200', 'dba', 'api')),
    CONSTRAINT opt_outs_recipient_sender_key UNIQUE NULLS NOT DISTINCT (recipient, sender)
);
COMMENT ON TABLE plivo.opt_outs IS
    'Recipients who must not be texted (by any of our numbers when sender is NULL): when, how and what caused it';
COMMENT ON COLUMN plivo.opt_outs.sender IS
    'Our number the opt-out stops; NULL stops all of them (plivo.opt_out_scope = all_senders)';
COMMENT ON COLUMN plivo.opt_outs.source IS
    'inbound_keyword (a word of plivo.opt_out_keywords), plivo_intent (Plivo''s MessageIntent optout), plivo_error_200 (Plivo refused a send), dba or api (plivo.opt_out())';
COMMENT ON COLUMN plivo.opt_outs.inbound_message_id IS 'The plivo.inbound_messages row that opted them out';
COMMENT ON COLUMN plivo.opt_outs.message_id IS 'The plivo.message_logs row Plivo failed with error 200';
COMMENT ON COLUMN plivo.opt_outs.confirmation_message_id IS
    'The one confirmation sent (plivo.opt_out_reply), when one was';
SELECT pg_catalog.pg_extension_config_dump('plivo.opt_outs', '');

CREATE TABLE plivo.consent_events (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action              text NOT NULL,
    recipient           text NOT NULL,
    sender              text,
    source              text NOT NULL,
    reason              text,
    inbound_message_id  bigint,
    message_id          uuid,
    recorded_at         timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    recorded_by         text NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT consent_events_action_check CHECK (action IN ('opt_out', 'opt_in', 'override'))
);
COMMENT ON TABLE plivo.consent_events IS
    'Every opt-out, opt-in and consent override: who, which of our numbers (NULL: all), how (source), why and by whom';
COMMENT ON COLUMN plivo.consent_events.source IS
    'As plivo.opt_outs.source; for an override, the consent_override used';
CREATE INDEX consent_events_recipient_idx ON plivo.consent_events (recipient, recorded_at);
CREATE INDEX consent_events_recorded_at_idx ON plivo.consent_events (recorded_at);
SELECT pg_catalog.pg_extension_config_dump('plivo.consent_events', '');

-- 'api' through PostgREST (a JWT came with the request), 'dba' otherwise.
CREATE FUNCTION plivo._call_source() RETURNS text
LANGUAGE sql STABLE
SET search_path = ''
AS $$
    SELECT CASE WHEN NULLIF(pg_catalog.current_setting('request.jwt.claims', true), '') IS NULL
                THEN 'dba' ELSE 'api' END
$$;

-- The ledger is written by its owner (SECURITY DEFINER, like the message audit): the
-- roles that may record an opt-out or opt-in need no write access to it.

-- Records an opt-out (sender NULL: from all our numbers) and fails the messages to
-- them still waiting to be sent. opt_out_id is NULL when they had opted out already.
-- The queued rows are locked here: a claim taking one of them at the same moment either
-- waits for this and then skips it, or got it first (it was in flight before the
-- opt-out committed, and failed_messages does not count it).
CREATE FUNCTION plivo._record_opt_out(
    recipient text, sender text, source text, reason text,
    inbound_message_id bigint DEFAULT NULL, message_id uuid DEFAULT NULL,
    OUT opt_out_id bigint, OUT failed_messages bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    failed_messages := 0;
    INSERT INTO plivo.opt_outs AS o (recipient, sender, source, reason, inbound_message_id, message_id)
    VALUES (_record_opt_out.recipient, _record_opt_out.sender, _record_opt_out.source,
            _record_opt_out.reason, _record_opt_out.inbound_message_id, _record_opt_out.message_id)
    ON CONFLICT ON CONSTRAINT opt_outs_recipient_sender_key DO NOTHING
    RETURNING o.id INTO opt_out_id;
    IF opt_out_id IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO plivo.consent_events (action, recipient, sender, source, reason,
                                      inbound_message_id, message_id)
    VALUES ('opt_out', _record_opt_out.recipient, _record_opt_out.sender, _record_opt_out.source,
            _record_opt_out.reason, _record_opt_out.inbound_message_id, _record_opt_out.message_id);

    -- A message whose last attempt may have reached Plivo is settled first (it may have
    -- been sent); the claim fails it after that if it was not.
    PERFORM pg_catalog.set_config('plivo.event_cause', 'opt_out', true);
    UPDATE plivo.message_logs m
    SET status = 'failed', next_attempt_at = pg_catalog.now(),
        last_error = pg_catalog.format('not sent: %s opted out (%s, plivo.opt_outs id %s)',
                                       m.recipient, _record_opt_out.source, opt_out_id)
    WHERE m.recipient = _record_opt_out.recipient
      AND (_record_opt_out.sender IS NULL OR m.sender = _record_opt_out.sender)
      AND m.status IN ('queued', 'retrying') AND m.unsettled_since IS NULL
      AND m.consent_override IS NULL;
    GET DIAGNOSTICS failed_messages = ROW_COUNT;
    PERFORM pg_catalog.set_config('plivo.event_cause', '', true);
END
$$;

-- Removes the opt-outs that stop `sender` (NULL: any of ours) from texting the
-- recipient, with their audit; returns how many.
CREATE FUNCTION plivo._record_opt_in(
    recipient text, sender text, source text, reason text,
    inbound_message_id bigint DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    removed integer;
BEGIN
    WITH gone AS (
        DELETE FROM plivo.opt_outs o
        WHERE o.recipient = _record_opt_in.recipient
          AND (_record_opt_in.sender IS NULL OR o.sender IS NULL OR o.sender = _record_opt_in.sender)
        RETURNING o.recipient, o.sender)
    INSERT INTO plivo.consent_events (action, recipient, sender, source, reason, inbound_message_id)
    SELECT 'opt_in', g.recipient, g.sender, _record_opt_in.source, _record_opt_in.reason,
           _record_opt_in.inbound_message_id
    FROM gone g;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;

CREATE FUNCTION plivo.opt_out(number text, reason text DEFAULT NULL, sender_number text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    their_number text := plivo._phone_number(number, 'number');
    our_number text;
    recorded record;
BEGIN
    IF sender_number IS NOT NULL THEN
        our_number := plivo._phone_number(sender_number, 'sender_number');
    END IF;
    recorded := plivo._record_opt_out(their_number, our_number, plivo._call_source(),
                                      NULLIF(pg_catalog.btrim(reason), ''));
    RETURN pg_catalog.jsonb_build_object(
        'result', CASE WHEN recorded.opt_out_id IS NULL THEN 'already_opted_out' ELSE 'opted_out' END,
        'number', their_number, 'sender_number', our_number,
        'opt_out_id', recorded.opt_out_id, 'failed_messages', recorded.failed_messages);
END
$$;
COMMENT ON FUNCTION plivo.opt_out(text, text, text) IS
    'Records that a number must not be texted (by sender_number only, when given): fails its queued messages and refuses new ones; returns {"result": opted_out|already_opted_out, ...}';

CREATE FUNCTION plivo.opt_in(number text, sender_number text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    their_number text := plivo._phone_number(number, 'number');
    our_number text;
    removed integer;
BEGIN
    IF sender_number IS NOT NULL THEN
        our_number := plivo._phone_number(sender_number, 'sender_number');
    END IF;
    removed := plivo._record_opt_in(their_number, our_number, plivo._call_source(), NULL);
    RETURN pg_catalog.jsonb_build_object(
        'result', CASE WHEN removed = 0 THEN 'not_opted_out' ELSE 'opted_in' END,
        'number', their_number, 'sender_number', our_number, 'removed', removed);
END
$$;
COMMENT ON FUNCTION plivo.opt_in(text, text) IS
    'Removes the opt-outs of a number (those for sender_number and for all numbers, when given; else all): only after they consented again';

-- Called by the enqueue trigger (extension/enqueue.cpp) when the recipient opted out
-- or consent_override is set: refuses the message, or lets it through and records why.
CREATE FUNCTION plivo._consent_gate(
    recipient text, sender text, consent_override text, message_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    found record;
    how text;
    slot bigint;
BEGIN
    SELECT o.id, o.sender, o.source, o.reason, o.opted_out_at, o.confirmation_message_id
    INTO found FROM plivo.opt_outs o
    WHERE o.recipient = _consent_gate.recipient
      -- sender NULL: a Powerpack picks the number, so an opt-out from any of ours counts
      AND (o.sender IS NULL OR _consent_gate.sender IS NULL OR o.sender = _consent_gate.sender)
    ORDER BY o.sender NULLS FIRST LIMIT 1;

    IF consent_override IS NULL THEN
        IF found.id IS NULL THEN
            RETURN;
        END IF;
        how := CASE found.source
            WHEN 'inbound_keyword' THEN 'by texting a revocation word'
            WHEN 'plivo_intent' THEN 'by texting a word Plivo counts as an opt-out'
            WHEN 'plivo_error_200' THEN 'with Plivo (Plivo refused a message with error 200)'
            WHEN 'dba' THEN 'as recorded by plivo.opt_out()'
            ELSE 'as recorded through the API' END;
        -- PT451: PostgREST answers HTTP 451 (unavailable for legal reasons).
        RAISE EXCEPTION 'recipient % opted out', recipient
            USING ERRCODE = 'PT451',
            DETAIL = pg_catalog.format('%s opted out of messages from %s on %s, %s%s. Nothing was enqueued.',
                recipient, coalesce(found.sender, 'all our numbers'),
                pg_catalog.to_char(found.opted_out_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
                how, coalesce(' (' || found.reason || ')', '')),
            HINT = 'They opt in again by texting START (plivo.opt_in_keywords) to the number; '
                   'call plivo.opt_in() only when they consented again another way.';
    END IF;

    IF consent_override = 'opt_out_confirmation' THEN
        UPDATE plivo.opt_outs o SET confirmation_message_id = _consent_gate.message_id
        WHERE o.id = found.id AND o.confirmation_message_id IS NULL
          AND o.opted_out_at > pg_catalog.clock_timestamp() - interval '5 minutes'
        RETURNING o.id INTO slot;
        IF slot IS NULL THEN
            RAISE EXCEPTION 'consent_override ''opt_out_confirmation'' is only for the one confirmation of an opt-out'
                USING ERRCODE = 'invalid_parameter_value',
                DETAIL = pg_catalog.format('%s has no opt-out of the last 5 minutes that is still unconfirmed.', recipient),
                HINT = 'Set plivo.opt_out_reply: pg_plivo sends the confirmation itself.';
        END IF;
    ELSIF consent_override = 'help_reply' THEN
        UPDATE plivo.inbound_messages i SET reply_message_id = _consent_gate.message_id
        WHERE i.id = (SELECT h.id FROM plivo.inbound_messages h
                      WHERE h.from_number = _consent_gate.recipient AND h.to_number = _consent_gate.sender
                        AND h.consent_action = 'help' AND h.reply_message_id IS NULL
                        AND h.received_at > pg_catalog.clock_timestamp() - interval '5 minutes'
                      ORDER BY h.received_at DESC LIMIT 1)
        RETURNING i.id INTO slot;
        IF slot IS NULL THEN
            RAISE EXCEPTION 'consent_override ''help_reply'' is only for the answer to a HELP message'
                USING ERRCODE = 'invalid_parameter_value',
                DETAIL = pg_catalog.format('%s sent %s no HELP in the last 5 minutes that is still unanswered.',
                                           recipient, sender),
                HINT = 'Set plivo.help_reply: pg_plivo answers HELP itself.';
        END IF;
    ELSIF consent_override = 'transactional' THEN
        IF NOT pg_catalog.current_setting('plivo.allow_transactional_override')::boolean THEN
            RAISE EXCEPTION 'consent_override ''transactional'' is not allowed'
                USING ERRCODE = 'insufficient_privilege',
                DETAIL = 'plivo.allow_transactional_override is off.',
                HINT = 'A superuser may turn plivo.allow_transactional_override on for messages that are not marketing (one-time passwords, fraud alerts).';
        END IF;
    ELSE
        RAISE EXCEPTION 'consent_override must be ''opt_out_confirmation'', ''help_reply'' or ''transactional'''
            USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('The value was %L.', consent_override),
            HINT = 'Leave consent_override out (NULL) for ordinary messages.';
    END IF;

    IF found.id IS NOT NULL THEN
        INSERT INTO plivo.consent_events (action, recipient, sender, source, reason, message_id)
        VALUES ('override', recipient, sender, consent_override,
                pg_catalog.format('sent despite plivo.opt_outs id %s (%s)', found.id, found.source),
                message_id);
    END IF;
END
$$;

-- Plivo's error 200: Plivo refused the message because the recipient opted out with
-- Plivo (STOP to that number). Recorded like their own STOP, for the sender or all.
CREATE FUNCTION plivo._opt_out_on_error_200() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
BEGIN
    PERFORM plivo._record_opt_out(
        NEW.recipient,
        CASE WHEN pg_catalog.current_setting('plivo.opt_out_scope') = 'sender' THEN NEW.sender END,
        'plivo_error_200', pg_catalog.format('Plivo error 200 for a message from %s', NEW.sender),
        NULL, NEW.id);
    RETURN NULL;
END
$$;
-- Not for our own replies: Plivo may block the confirmation of an opt-out it knows too,
-- and such a late report must not opt out again someone who has since texted START.
CREATE TRIGGER message_logs_error_200_opt_out AFTER UPDATE OF error_code ON plivo.message_logs
    FOR EACH ROW WHEN (NEW.error_code = '200' AND OLD.error_code IS DISTINCT FROM '200'
                       AND NEW.consent_override IS DISTINCT FROM 'opt_out_confirmation'
                       AND NEW.consent_override IS DISTINCT FROM 'help_reply')
    EXECUTE FUNCTION plivo._opt_out_on_error_200();

-- What an inbound message means for consent, and the reply it gets: called by
-- handle_inbound_message for each message it stores (never for a repeat). Returns the
-- action ('opt_out', 'opt_in', 'help' or NULL) and the reply enqueued, if any.
CREATE FUNCTION plivo._apply_inbound_consent(
    inbound_id bigint, their_number text, our_number text, message_text text, intent text,
    OUT action text, OUT reply_message_id uuid)
RETURNS record
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    keyword text := plivo._consent_keyword(message_text);
    source text;
    scoped_sender text;
    recorded record;
    reply_text text;
    reply_override text;
BEGIN
    action := CASE WHEN intent = 'optout' OR keyword = 'opt_out' THEN 'opt_out'
                   WHEN intent = 'optin' OR keyword = 'opt_in' THEN 'opt_in'
                   WHEN intent = 'help' OR keyword = 'help' THEN 'help' END;
    IF action IS NULL THEN
        RETURN;
    END IF;
    -- Our own list first: it also holds the words Plivo does not know (REVOKE, OPT OUT).
    source := CASE WHEN keyword IS NOT DISTINCT FROM action THEN 'inbound_keyword'
                   ELSE 'plivo_intent' END;
    UPDATE plivo.inbound_messages i SET consent_action = action WHERE i.id = inbound_id;
    scoped_sender := CASE WHEN pg_catalog.current_setting('plivo.opt_out_scope') = 'sender'
                          THEN our_number END;

    IF action = 'opt_out' THEN
        recorded := plivo._record_opt_out(their_number, scoped_sender, source,
                                          pg_catalog.left(pg_catalog.btrim(message_text), 160),
                                          inbound_id);
        IF recorded.opt_out_id IS NULL THEN
            RETURN;  -- opted out already: no second confirmation
        END IF;
        reply_text := pg_catalog.current_setting('plivo.opt_out_reply');
        reply_override := 'opt_out_confirmation';
    ELSIF action = 'opt_in' THEN
        PERFORM plivo._record_opt_in(their_number, our_number, source,
                                     pg_catalog.left(pg_catalog.btrim(message_text), 160),
                                     inbound_id);
        RETURN;
    ELSE
        reply_text := pg_catalog.current_setting('plivo.help_reply');
        reply_override := 'help_reply';
    END IF;

    IF pg_catalog.btrim(reply_text) = '' THEN
        RETURN;
    END IF;
    -- The reply goes through the queue (rate limited, audited, sent once). If it cannot
    -- be enqueued (say, our number is a short code the validation refuses), the inbound
    -- message is still stored: Plivo must get its 2xx.
    BEGIN
        INSERT INTO plivo.message_logs (sender, recipient, message_text, message_type, consent_override)
        VALUES (our_number, their_number, reply_text, 'sms', reply_override)
        RETURNING id INTO reply_message_id;
        UPDATE plivo.inbound_messages i SET reply_message_id = _apply_inbound_consent.reply_message_id
        WHERE i.id = inbound_id;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'pg_plivo: the % reply to inbound message % was not enqueued: %',
            action, inbound_id, SQLERRM;
    END;
END
$$;

-- Opt-outs and opt-ins per day and source, for DBAs.
CREATE VIEW plivo.opt_out_stats WITH (security_invoker = true) AS
    SELECT pg_catalog.date_trunc('day', e.recorded_at) AS day, e.source,
           pg_catalog.count(*) FILTER (WHERE e.action = 'opt_out') AS opt_outs,
           pg_catalog.count(*) FILTER (WHERE e.action = 'opt_in') AS opt_ins,
           pg_catalog.count(*) FILTER (WHERE e.action = 'override') AS overrides
    FROM plivo.consent_events e
    GROUP BY 1, 2;
COMMENT ON VIEW plivo.opt_out_stats IS
    'Opt-outs, opt-ins and consent overrides per day (in the session''s time zone) and source';

CREATE OR REPLACE FUNCTION plivo.purge_message_logs(older_than interval, batch_size integer DEFAULT 10000,
                                         max_batches integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    cutoff       timestamptz;
    resume_from  timestamptz := '-infinity';
    batch_ids    uuid[];
    batch_last   timestamptz;
    deleted      bigint;
    purged       bigint := 0;
    batches      integer := 0;
BEGIN
    IF older_than IS NULL THEN
        RAISE EXCEPTION 'older_than must not be null' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass how old a message must be to be purged, for example interval ''90 days''.';
    END IF;
    IF older_than <= interval '0' THEN
        RAISE EXCEPTION 'older_than must be a positive interval' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('The value was "%s".', older_than),
            HINT = 'Pass how old a message must be to be purged, for example interval ''90 days''.';
    END IF;
    IF batch_size IS NULL THEN
        RAISE EXCEPTION 'batch_size must not be null' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass how many messages one DELETE may remove, for example 10000, or leave it out.';
    END IF;
    IF max_batches IS NOT NULL AND max_batches < 1 THEN
        RAISE EXCEPTION 'max_batches must be at least 1' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('The value was %s.', max_batches),
            HINT = 'Pass how many batches this call may delete, or NULL for all of them.';
    END IF;
    IF batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('The value was %s.', batch_size),
            HINT = 'Pass how many messages one DELETE may remove, for example 10000, or leave it out.';
    END IF;

    BEGIN
        cutoff := pg_catalog.now() - older_than;
    EXCEPTION WHEN datetime_field_overflow THEN
        RAISE EXCEPTION 'older_than is too large' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('The value was "%s".', older_than),
            HINT = 'Pass how old a message must be to be purged, for example interval ''90 days''.';
    END;
    LOOP
        -- Lock one batch, oldest first; rows someone else holds are skipped.
        SELECT pg_catalog.array_agg(b.id), pg_catalog.max(b.created_at)
        INTO batch_ids, batch_last
        FROM (SELECT m.id, m.created_at
              FROM plivo.message_logs m
              WHERE m.created_at >= resume_from
                AND m.created_at < cutoff
                AND m.status IN ('sent', 'delivered', 'undelivered', 'failed', 'rejected', 'cancelled')
              ORDER BY m.created_at
              LIMIT batch_size
              FOR UPDATE SKIP LOCKED) b;
        EXIT WHEN batch_ids IS NULL;

        -- Children first, so a foreign key to message_logs (with or without ON DELETE
        -- CASCADE) never stands in the way.
        DELETE FROM plivo.delivery_reports r WHERE r.message_id = ANY (batch_ids);
        DELETE FROM plivo.message_events e WHERE e.message_id = ANY (batch_ids);
        -- The rows are locked, so their status cannot have changed; checked again anyway.
        DELETE FROM plivo.message_logs m
        WHERE m.id = ANY (batch_ids)
          AND m.status IN ('sent', 'delivered', 'undelivered', 'failed', 'rejected', 'cancelled');
        GET DIAGNOSTICS deleted = ROW_COUNT;
        purged := purged + deleted;

        batches := batches + 1;
        EXIT WHEN pg_catalog.cardinality(batch_ids) < batch_size;
        -- The worker purges one batch per transaction, so that no lock is held long.
        EXIT WHEN max_batches IS NOT NULL AND batches >= max_batches;
        -- >= : messages created at the same instant as the last one may remain.
        resume_from := batch_last;
    END LOOP;

    -- Delivery reports for no message we know (result unknown_message) and V2 webhook
    -- nonces have no message to go with: they go by their own age. Nobody updates
    -- them, so there is no lock to skip.
    resume_from := '-infinity';
    LOOP
        WITH gone AS (
            DELETE FROM plivo.delivery_reports r
            WHERE r.ctid = ANY (ARRAY(
                SELECT o.ctid FROM plivo.delivery_reports o
                WHERE o.message_id IS NULL
                  AND o.received_at >= resume_from AND o.received_at < cutoff
                ORDER BY o.received_at
                LIMIT batch_size))
            RETURNING r.received_at)
        SELECT pg_catalog.count(*), pg_catalog.max(g.received_at) INTO deleted, batch_last
        FROM gone g;
        EXIT WHEN deleted < batch_size;
        resume_from := batch_last;
    END LOOP;
    resume_from := '-infinity';
    LOOP
        WITH gone AS (
            DELETE FROM plivo.webhook_nonces n
            WHERE n.ctid = ANY (ARRAY(
                SELECT o.ctid FROM plivo.webhook_nonces o
                WHERE o.first_seen >= resume_from AND o.first_seen < cutoff
                ORDER BY o.first_seen
                LIMIT batch_size))
            RETURNING n.first_seen)
        SELECT pg_catalog.count(*), pg_catalog.max(g.first_seen) INTO deleted, batch_last
        FROM gone g;
        EXIT WHEN deleted < batch_size;
        resume_from := batch_last;
    END LOOP;
    -- Inbound messages go by their age too. The consent ledger (opt_outs and
    -- consent_events) is kept: it is the record of who said STOP, and when.
    resume_from := '-infinity';
    LOOP
        WITH gone AS (
            DELETE FROM plivo.inbound_messages i
            WHERE i.ctid = ANY (ARRAY(
                SELECT o.ctid FROM plivo.inbound_messages o
                WHERE o.received_at >= resume_from AND o.received_at < cutoff
                ORDER BY o.received_at
                LIMIT batch_size))
            RETURNING i.received_at)
        SELECT pg_catalog.count(*), pg_catalog.max(g.received_at) INTO deleted, batch_last
        FROM gone g;
        EXIT WHEN deleted < batch_size;
        resume_from := batch_last;
    END LOOP;
    RETURN purged;
END
$$;

COMMENT ON FUNCTION plivo.purge_message_logs(interval, integer, integer) IS
    'Deletes messages in a final status (sent, delivered, undelivered, failed, rejected, cancelled) created more than older_than ago, with their events and delivery reports (and unmatched delivery reports, webhook nonces and inbound messages older than that; never opt-outs), batch_size messages per DELETE (at most max_batches batches when given), skipping rows locked by others; returns how many messages were deleted';

-- send_mms and send_sms take the sending options: a new signature, and the EXECUTE
-- rights granted on the old functions go with them. They are not granted again here: a
-- grant made by an extension script counts as the extension's own (pg_init_privs), and
-- pg_dump would then leave it out. The update names each role and the GRANT to run.
DO $grants_to_renew$
DECLARE
    granted record;
BEGIN
    FOR granted IN
        SELECT p.proname::text AS function_name, a.grantee::regrole::text AS grantee
        FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
        WHERE p.pronamespace = 'plivo'::regnamespace AND p.proname IN ('send_mms', 'send_sms')
          AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
          AND a.grantee::regrole::text <> 'service_role'
        ORDER BY 1, 2
    LOOP
        RAISE WARNING 'plivo.% has new arguments: % must be granted EXECUTE again', granted.function_name, granted.grantee
            USING HINT = pg_catalog.format('Run GRANT EXECUTE ON FUNCTION plivo.%s TO %s; after the update.',
                                           granted.function_name, granted.grantee);
    END LOOP;
END
$grants_to_renew$;
DROP FUNCTION plivo.send_mms(text, text, text[], text, text, text);
DROP FUNCTION plivo.send_sms(text, text, text, text, text);
CREATE FUNCTION plivo.send_mms(
    destination_number text,
    message_text text,
    media_urls text[],
    sender_number text DEFAULT NULL,
    callback_url text DEFAULT NULL,
    idempotency_key text DEFAULT NULL,
    send_at timestamptz DEFAULT NULL,
    valid_for interval DEFAULT NULL,
    plivo_log text DEFAULT NULL,
    sms_fallback boolean DEFAULT NULL,
    consent_override text DEFAULT NULL,
    powerpack_uuid text DEFAULT NULL)
RETURNS uuid
LANGUAGE c VOLATILE SECURITY INVOKER PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'plivo_send_mms';
COMMENT ON FUNCTION plivo.send_mms(text, text, text[], text, text, text, timestamptz, interval, text, boolean, text, text) IS
    'Validates and enqueues one MMS (US and Canadian destinations), at once or at send_at; returns its plivo.message_logs id';

CREATE FUNCTION plivo.send_sms(
    destination_number text,
    message_text text,
    sender_number text DEFAULT NULL,
    callback_url text DEFAULT NULL,
    idempotency_key text DEFAULT NULL,
    send_at timestamptz DEFAULT NULL,
    valid_for interval DEFAULT NULL,
    plivo_log text DEFAULT NULL,
    consent_override text DEFAULT NULL,
    powerpack_uuid text DEFAULT NULL)
RETURNS uuid
LANGUAGE c VOLATILE SECURITY INVOKER PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'plivo_send_sms';
COMMENT ON FUNCTION plivo.send_sms(text, text, text, text, text, timestamptz, interval, text, text, text) IS
    'Validates and enqueues one SMS, at once or at send_at; returns its plivo.message_logs id';
REVOKE ALL ON FUNCTION
    plivo.send_mms(text, text, text[], text, text, text, timestamptz, interval, text, boolean, text, text),
    plivo.send_sms(text, text, text, text, text, timestamptz, interval, text, text, text)
    FROM PUBLIC;

-- Cancels a message the dispatcher has not claimed yet: queued (a scheduled one, say),
-- or retrying after an attempt Plivo certainly did not take. The UPDATE waits for a
-- claim that holds the row and then finds it sending: too late, and it says so.
CREATE FUNCTION plivo.cancel_message(id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    found_status text;
    found_unsettled timestamptz;
BEGIN
    IF id IS NULL THEN
        RAISE EXCEPTION 'id must not be null' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass the id of a queued message from plivo.message_logs.';
    END IF;
    PERFORM pg_catalog.set_config('plivo.event_cause', 'cancel', true);
    UPDATE plivo.message_logs m
    SET status = 'cancelled', lease_expires_at = NULL,
        last_error = 'cancelled by ' || CURRENT_USER
    WHERE m.id = cancel_message.id AND m.status IN ('queued', 'retrying')
      AND m.unsettled_since IS NULL;
    IF FOUND THEN
        PERFORM pg_catalog.set_config('plivo.event_cause', '', true);
        RETURN true;
    END IF;
    PERFORM pg_catalog.set_config('plivo.event_cause', '', true);
    SELECT m.status, m.unsettled_since INTO found_status, found_unsettled
    FROM plivo.message_logs m WHERE m.id = cancel_message.id;
    IF found_status IS NULL THEN
        RAISE EXCEPTION 'message % does not exist', id USING ERRCODE = 'no_data_found',
            HINT = 'Pass the id of a message in plivo.message_logs.';
    END IF;
    RAISE EXCEPTION 'message % can no longer be cancelled', id
        USING ERRCODE = 'object_not_in_prerequisite_state',
        DETAIL = CASE WHEN found_unsettled IS NOT NULL
            THEN 'An earlier attempt may have reached Plivo; its outcome is being settled.'
            ELSE pg_catalog.format('Its status is %s.', found_status) END,
        HINT = 'Only a queued message (or one retrying that Plivo never took) can be cancelled.';
END
$$;
COMMENT ON FUNCTION plivo.cancel_message(uuid) IS
    'Cancels a queued (or scheduled) message before the dispatcher claims it; raises 55000 when it is too late';

-- Delivery reports also record what Plivo charged.
CREATE OR REPLACE FUNCTION plivo._apply_report(params jsonb, report_id bigint DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    report_uuid text;
    report_status text;
    report_sequence integer;
    new_status text;
    target_id uuid;
    message_status text;
    message_info jsonb;
    last_sequence integer;
    outcome text;
BEGIN
    report_uuid := params ->> 'MessageUUID';
    report_status := pg_catalog.lower(params ->> 'Status');
    IF report_uuid IS NULL OR report_uuid = '' OR report_status IS NULL THEN
        RAISE EXCEPTION 'params must contain MessageUUID and Status'
            USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('The fields were: %s.',
                (SELECT pg_catalog.string_agg(k, ', ' ORDER BY k) FROM pg_catalog.jsonb_object_keys(params) k)),
            HINT = 'Pass every field of Plivo''s message status callback.';
    END IF;
    IF (params ->> 'Sequence') ~ '^[0-9]{1,9}$' THEN
        report_sequence := (params ->> 'Sequence')::integer;
    END IF;
    -- Plivo's 'queued' means accepted, which is what 'sent' means here.
    new_status := CASE WHEN report_status = 'queued' THEN 'sent' ELSE report_status END;

    SELECT m.id, m.status, m.plivo_status_info INTO target_id, message_status, message_info
    FROM plivo.message_logs m WHERE m.plivo_message_uuid = report_uuid
    FOR UPDATE;

    IF target_id IS NULL THEN
        outcome := 'unknown_message';
    ELSIF EXISTS (SELECT FROM plivo.delivery_reports r
                  WHERE r.message_id = target_id AND r.params = _apply_report.params
                    AND r.id IS DISTINCT FROM report_id) THEN
        outcome := 'duplicate';
    ELSE
        IF (message_info ->> 'Sequence') ~ '^[0-9]{1,9}$' THEN
            last_sequence := (message_info ->> 'Sequence')::integer;
        END IF;
        IF plivo._status_rank(new_status) IS NULL
           OR plivo._status_rank(message_status) >= 2
           OR plivo._status_rank(new_status) < plivo._status_rank(message_status)
           OR (report_sequence IS NOT NULL AND last_sequence IS NOT NULL
               AND report_sequence <= last_sequence) THEN
            outcome := 'stale';
        ELSE
            outcome := 'applied';
            PERFORM pg_catalog.set_config('plivo.event_cause', 'delivery_report', true);
            -- The report's fields join what is known (Plivo's api_id from the send stays),
            -- and what Plivo charged: Units, TotalRate and TotalAmount when they are numbers.
            UPDATE plivo.message_logs m
            SET status = new_status,
                plivo_status_info = coalesce(m.plivo_status_info, '{}'::jsonb) || params,
                error_code = CASE WHEN new_status IN ('undelivered', 'failed', 'rejected')
                                  THEN NULLIF(params ->> 'ErrorCode', '') ELSE m.error_code END,
                units = CASE WHEN (params ->> 'Units') ~ '^[0-9]{1,9}$'
                             THEN (params ->> 'Units')::integer ELSE m.units END,
                total_rate = CASE WHEN (params ->> 'TotalRate') ~ '^[0-9]{1,12}(\.[0-9]{1,12})?$'
                                  THEN (params ->> 'TotalRate')::numeric ELSE m.total_rate END,
                total_amount = CASE WHEN (params ->> 'TotalAmount') ~ '^[0-9]{1,12}(\.[0-9]{1,12})?$'
                                    THEN (params ->> 'TotalAmount')::numeric ELSE m.total_amount END,
                -- through a Powerpack: the number Plivo picked
                sender = coalesce(m.sender, CASE WHEN (params ->> 'From') ~ '^\+?[0-9]{8,15}$'
                    THEN '+' || pg_catalog.ltrim(params ->> 'From', '+') END)
            WHERE m.id = target_id;
            PERFORM pg_catalog.set_config('plivo.event_cause', '', true);
        END IF;
    END IF;

    IF report_id IS NULL THEN
        INSERT INTO plivo.delivery_reports (message_uuid, message_id, status, sequence, result, params)
        VALUES (report_uuid, target_id, report_status, report_sequence, outcome, params);
    ELSE
        UPDATE plivo.delivery_reports r SET message_id = target_id, result = outcome
        WHERE r.id = report_id;
    END IF;

    RETURN pg_catalog.jsonb_build_object(
        'result', outcome,
        'message_id', target_id,
        'status', CASE WHEN outcome = 'applied' THEN new_status ELSE message_status END,
        'previous_status', message_status);
END
$$;

-------------------------------------------------------------------------------
-- SMS fallback. An MMS with sms_fallback set that Plivo reports failed or undelivered
-- with an error an SMS would not hit (plivo.sms_fallback_error_codes: by default 50,
-- the destination cannot take MMS, and 120, media over 5 MB) is sent again as one SMS
-- with its text and media links. The two rows point at each other (fallback_of,
-- fallback_message_id); the unique index on fallback_of keeps it to one SMS, whatever
-- report comes twice.
-------------------------------------------------------------------------------
CREATE FUNCTION plivo._sms_fallback() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    codes text[];
    fallback_id uuid;
BEGIN
    codes := pg_catalog.regexp_split_to_array(pg_catalog.btrim(
        coalesce(pg_catalog.current_setting('plivo.sms_fallback_error_codes', true), '')), '\s*,\s*');
    IF NOT (NEW.error_code = ANY (codes)) THEN
        RETURN NULL;
    END IF;
    BEGIN
        -- As the MMS's caller would have enqueued it; validated and consent-checked by the
        -- same trigger as every message. An SMS that cannot be made (the text and links
        -- are too long, the recipient opted out, the MMS expired) is a WARNING: the
        -- report is still recorded.
        INSERT INTO plivo.message_logs (recipient, sender, message_text, message_type,
            callback_url, created_by, created_by_role, fallback_of, plivo_log, expires_at)
        VALUES (NEW.recipient, NEW.sender,
                pg_catalog.concat_ws(E'\n', NULLIF(NEW.message_text, ''),
                                     pg_catalog.array_to_string(NEW.media_urls, E'\n')),
                'sms', NEW.callback_url, NEW.created_by, NEW.created_by_role, NEW.id,
                NEW.plivo_log, NEW.expires_at)
        ON CONFLICT (fallback_of) WHERE fallback_of IS NOT NULL DO NOTHING
        RETURNING id INTO fallback_id;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'pg_plivo: no SMS fallback for message %: %', NEW.id, SQLERRM
            USING ERRCODE = SQLSTATE;
        RETURN NULL;
    END;
    IF fallback_id IS NOT NULL THEN
        UPDATE plivo.message_logs m SET fallback_message_id = fallback_id WHERE m.id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER message_logs_sms_fallback AFTER UPDATE OF status ON plivo.message_logs
    FOR EACH ROW
    WHEN (NEW.message_type = 'mms' AND NEW.sms_fallback
          AND NEW.status IN ('failed', 'undelivered') AND OLD.status IS DISTINCT FROM NEW.status
          AND NEW.error_code IS NOT NULL AND NEW.fallback_message_id IS NULL)
    EXECUTE FUNCTION plivo._sms_fallback();

-- delivery_stats counts cancelled messages and sums what Plivo charged.
CREATE OR REPLACE VIEW plivo.delivery_stats WITH (security_invoker = true) AS
WITH msg AS NOT MATERIALIZED (
    SELECT (m.created_at AT TIME ZONE 'UTC')::date AS day,
           -- through a Powerpack, until Plivo names the number: the pack
           coalesce(m.sender, 'powerpack ' || m.powerpack_uuid) AS sender,
           m.status,
           m.error_code,
           m.units,
           m.total_amount,
           p.reached_plivo,
           CASE WHEN p.reached_plivo THEN ev.first_sent_at - m.created_at END AS time_to_sent,
           CASE WHEN m.status = 'delivered' THEN ev.first_delivered_at - m.created_at END
               AS time_to_delivered
    FROM plivo.message_logs m
    CROSS JOIN LATERAL (SELECT m.status IN ('sent', 'delivered', 'undelivered')
                               OR (m.status IN ('failed', 'rejected')
                                   AND m.plivo_message_uuid IS NOT NULL) AS reached_plivo) p
    -- one probe of message_events_message_idx per message, for both times
    CROSS JOIN LATERAL (
        SELECT min(e.created_at) FILTER (WHERE e.new_status = 'sent') AS first_sent_at,
               min(e.created_at) FILTER (WHERE e.new_status = 'delivered') AS first_delivered_at
        FROM plivo.message_events e
        WHERE e.message_id = m.id AND e.new_status IN ('sent', 'delivered')) ev
),
totals AS NOT MATERIALIZED (
    SELECT msg.day,
           msg.sender,
           count(*) AS enqueued,
           count(*) FILTER (WHERE msg.reached_plivo) AS sent,
           count(*) FILTER (WHERE msg.status = 'delivered') AS delivered,
           count(*) FILTER (WHERE msg.status = 'undelivered') AS undelivered,
           count(*) FILTER (WHERE msg.status = 'failed') AS failed,
           count(*) FILTER (WHERE msg.status = 'rejected') AS rejected,
           count(*) FILTER (WHERE msg.status = 'cancelled') AS cancelled,
           sum(msg.units) AS units,
           sum(msg.total_amount) AS spend,
           count(*) FILTER (WHERE msg.total_amount IS NOT NULL) AS priced,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY msg.time_to_sent) AS median_time_to_sent,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY msg.time_to_sent) AS p95_time_to_sent,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY msg.time_to_delivered) AS median_time_to_delivered,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY msg.time_to_delivered) AS p95_time_to_delivered
    FROM msg
    GROUP BY msg.day, msg.sender
),
codes AS NOT MATERIALIZED (
    SELECT c.day,
           c.sender,
           jsonb_agg(jsonb_build_object('code', c.error_code, 'count', c.n, 'meaning', ec.meaning)
                     ORDER BY c.n DESC, c.error_code) AS top_error_codes
    FROM (SELECT msg.day, msg.sender, msg.error_code, count(*) AS n,
                 row_number() OVER (PARTITION BY msg.day, msg.sender
                                    ORDER BY count(*) DESC, msg.error_code) AS rank
          FROM msg
          WHERE msg.error_code IS NOT NULL AND msg.error_code <> '000'
          GROUP BY msg.day, msg.sender, msg.error_code) c
    LEFT JOIN plivo.error_codes ec ON ec.code = c.error_code
    WHERE c.rank <= 3
    GROUP BY c.day, c.sender
)
SELECT t.day,
       t.sender,
       t.enqueued,
       t.sent,
       t.delivered,
       t.undelivered,
       t.failed,
       t.rejected,
       round(t.delivered::numeric / NULLIF(t.delivered + t.undelivered, 0), 4) AS delivery_rate,
       t.median_time_to_sent,
       t.p95_time_to_sent,
       t.median_time_to_delivered,
       t.p95_time_to_delivered,
       coalesce(codes.top_error_codes, '[]'::jsonb) AS top_error_codes,
       t.cancelled,
       t.units,
       t.spend,
       t.priced
FROM totals t
LEFT JOIN codes ON codes.day = t.day AND codes.sender = t.sender;
COMMENT ON COLUMN plivo.delivery_stats.cancelled IS 'messages cancelled with plivo.cancel_message() before they were sent';
COMMENT ON COLUMN plivo.delivery_stats.units IS 'sum of the units Plivo billed (from delivery reports); NULL when none reported any';
COMMENT ON COLUMN plivo.delivery_stats.spend IS 'sum of TotalAmount of the delivery reports, in the account''s currency; NULL when none reported any';
COMMENT ON COLUMN plivo.delivery_stats.priced IS 'messages whose charge is known (spend covers these only)';
COMMENT ON VIEW plivo.delivery_stats IS
    'Per UTC day of created_at and sender: messages enqueued, sent (accepted by Plivo), delivered, undelivered, failed, rejected, cancelled; delivery rate; median and 95th percentile time to sent and to delivered; the 3 most frequent error codes; units and spend as Plivo reported them';

-------------------------------------------------------------------------------
-- Row-level security and grants, as 90_security.sql gives a fresh install.
-------------------------------------------------------------------------------
ALTER TABLE plivo.inbound_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE plivo.opt_outs ENABLE ROW LEVEL SECURITY;
ALTER TABLE plivo.consent_events ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON plivo.inbound_messages, plivo.conversations, plivo.opt_outs, plivo.consent_events,
    plivo.opt_out_stats FROM PUBLIC;
REVOKE ALL ON FUNCTION
    plivo._check_webhook_request(text, jsonb, jsonb, text),
    plivo.handle_inbound_message(text, jsonb, jsonb, text),
    plivo._inbound_number(text),
    plivo._phone_number(text, text),
    plivo._consent_keyword(text),
    plivo._call_source(),
    plivo._record_opt_out(text, text, text, text, bigint, uuid),
    plivo._record_opt_in(text, text, text, text, bigint),
    plivo.opt_out(text, text, text),
    plivo.opt_in(text, text),
    plivo._consent_gate(text, text, text, uuid),
    plivo._opt_out_on_error_200(),
    plivo._apply_inbound_consent(bigint, text, text, text, text)
    FROM PUBLIC;

REVOKE ALL ON FUNCTION plivo.cancel_message(uuid), plivo._sms_fallback() FROM PUBLIC;
DO $grants$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        GRANT EXECUTE ON FUNCTION
            plivo.send_mms(text, text, text[], text, text, text, timestamptz, interval, text, boolean, text, text),
            plivo.send_sms(text, text, text, text, text, timestamptz, interval, text, text, text),
            plivo.cancel_message(uuid),
            plivo._check_webhook_request(text, jsonb, jsonb, text),
            plivo.handle_inbound_message(text, jsonb, jsonb, text),
            plivo._inbound_number(text),
            plivo._apply_inbound_consent(bigint, text, text, text, text),
            plivo.opt_out(text, text, text),
            plivo.opt_in(text, text),
            plivo._phone_number(text, text),
            plivo._call_source(),
            plivo._record_opt_out(text, text, text, text, bigint, uuid),
            plivo._record_opt_in(text, text, text, text, bigint)
            TO service_role;
        GRANT SELECT, INSERT ON plivo.inbound_messages TO service_role;
        CREATE POLICY inbound_messages_service_role ON plivo.inbound_messages
            FOR ALL TO service_role USING (true) WITH CHECK (true);
        GRANT SELECT ON plivo.conversations TO service_role;
        GRANT SELECT ON plivo.opt_outs, plivo.consent_events, plivo.opt_out_stats TO service_role;
        CREATE POLICY opt_outs_service_role ON plivo.opt_outs
            FOR SELECT TO service_role USING (true);
        CREATE POLICY consent_events_service_role ON plivo.consent_events
            FOR SELECT TO service_role USING (true);
    END IF;

    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
        GRANT INSERT (recipient, sender, message_text, media_urls, message_type,
                      callback_url, idempotency_key, next_attempt_at, send_at, valid_for,
                      expires_at, plivo_log, sms_fallback, powerpack_uuid)
            ON plivo.message_logs TO authenticated;
        DROP POLICY message_logs_authenticated_insert ON plivo.message_logs;
        CREATE POLICY message_logs_authenticated_insert ON plivo.message_logs
            FOR INSERT TO authenticated
            WITH CHECK (
                created_by = (SELECT plivo.current_subject())
                AND (SELECT pg_catalog.has_function_privilege(
                        'plivo.send_mms(text, text, text[], text, text, text, timestamptz, interval, text, boolean, text, text)', 'EXECUTE')
                     OR pg_catalog.has_function_privilege(
                        'plivo.send_sms(text, text, text, text, text, timestamptz, interval, text, text, text)', 'EXECUTE')));
    END IF;
END
$grants$;

-- Settling in batches (issue: list API limits): rows waiting to be settled are not due
-- by the clock; queue_health counts them apart and shows the oldest.
CREATE OR REPLACE VIEW plivo.queue_health WITH (security_invoker = true) AS
SELECT waiting.queued_due,
       waiting.scheduled,
       waiting.oldest_due_age,
       leased.in_flight,
       waiting.retrying,
       waiting.unsettled + leased.unsettled AS unsettled,
       recent.failed_last_hour,
       recent.sent_last_hour,
       w.preloaded AS worker_preloaded,
       w.running AS worker_running,
       w.paused AS worker_paused,
       w.pid AS worker_pid,
       w.started_at AS worker_started_at,
       w.heartbeat_at AS worker_heartbeat_at,
       pg_catalog.clock_timestamp() - w.heartbeat_at AS worker_heartbeat_age,
       waiting.oldest_unsettled_age
FROM (SELECT count(*) FILTER (WHERE m.unsettled_since IS NULL
                                AND m.next_attempt_at <= pg_catalog.now()) AS queued_due,
             count(*) FILTER (WHERE m.unsettled_since IS NULL
                                AND m.next_attempt_at > pg_catalog.now()) AS scheduled,
             pg_catalog.now() - min(m.next_attempt_at) FILTER (
                 WHERE m.unsettled_since IS NULL
                   AND m.next_attempt_at <= pg_catalog.now()) AS oldest_due_age,
             count(*) FILTER (WHERE m.status = 'retrying') AS retrying,
             count(*) FILTER (WHERE m.unsettled_since IS NOT NULL) AS unsettled,
             pg_catalog.now() - min(m.unsettled_since) AS oldest_unsettled_age
      FROM plivo.message_logs m
      WHERE m.status IN ('queued', 'retrying')) waiting,
     (SELECT count(*) AS in_flight,
             count(*) FILTER (WHERE m.unsettled_since IS NOT NULL) AS unsettled
      FROM plivo.message_logs m
      WHERE m.status = 'sending') leased,
     (SELECT count(DISTINCT e.message_id) FILTER (WHERE e.new_status = 'failed') AS failed_last_hour,
             count(DISTINCT e.message_id) FILTER (WHERE e.new_status = 'sent') AS sent_last_hour
      FROM plivo.message_events e
      WHERE e.created_at >= pg_catalog.now() - interval '1 hour'
        AND e.new_status IN ('failed', 'sent')) recent,
     plivo.worker_status() w;

COMMENT ON VIEW plivo.queue_health IS
    'One row: the queue (due, scheduled, age of the oldest due message, in flight, retrying, unsettled and the age of the oldest of them), messages that became failed or sent in the last hour, and the dispatcher worker';
COMMENT ON COLUMN plivo.queue_health.queued_due IS 'queued or retrying messages whose next_attempt_at has come (not those waiting to be settled)';
COMMENT ON COLUMN plivo.queue_health.scheduled IS 'queued or retrying messages whose next_attempt_at is in the future (not those waiting to be settled)';
COMMENT ON COLUMN plivo.queue_health.oldest_due_age IS 'how long the longest-waiting due message has been due (NULL when none)';
COMMENT ON COLUMN plivo.queue_health.in_flight IS 'messages in status sending (claimed for an attempt)';
COMMENT ON COLUMN plivo.queue_health.retrying IS 'messages in status retrying, due or not';
COMMENT ON COLUMN plivo.queue_health.unsettled IS 'messages not yet final whose last attempt may have reached Plivo (unsettled_since is set): waiting to be settled with Plivo, oldest first within its list API''s limit, and never resent before';
COMMENT ON COLUMN plivo.queue_health.oldest_unsettled_age IS 'how long ago the uncertain attempt of the oldest message waiting to be settled started (NULL when none)';
COMMENT ON COLUMN plivo.queue_health.failed_last_hour IS 'messages that became failed in the last hour (from plivo.message_events)';
COMMENT ON COLUMN plivo.queue_health.sent_last_hour IS 'messages Plivo accepted (became sent) in the last hour (from plivo.message_events)';
COMMENT ON COLUMN plivo.queue_health.worker_paused IS 'true while plivo.paused holds the worker back from starting new attempts (NULL when no worker runs)';
COMMENT ON COLUMN plivo.queue_health.worker_heartbeat_age IS 'time since the worker''s last heartbeat (by the clock, not the transaction start); a large value means it is stuck';
