-- pg_plivo 0.2.0 to 0.3.0: inbound messages (plivo.handle_inbound_message,
-- plivo.inbound_messages, plivo.conversations). handle_status_callback's checks move
-- into plivo._check_webhook_request, which both webhooks share.
\echo Use "ALTER EXTENSION pg_plivo UPDATE TO '0.3.0'" to load this file. \quit

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
    received_at     timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    CONSTRAINT inbound_messages_message_uuid_key UNIQUE (message_uuid)
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
    RETURNING id INTO stored_id;

    IF stored_id IS NULL THEN
        -- Plivo's resend of one already stored: answer 2xx again, write nothing.
        SELECT i.id INTO stored_id FROM plivo.inbound_messages i
        WHERE i.message_uuid = inbound_uuid;
        RETURN pg_catalog.jsonb_build_object('result', 'duplicate', 'id', stored_id,
                                             'message_uuid', inbound_uuid);
    END IF;
    RETURN pg_catalog.jsonb_build_object('result', 'stored', 'id', stored_id,
                                         'message_uuid', inbound_uuid);
END
$$;
COMMENT ON FUNCTION plivo.handle_inbound_message(text, jsonb, jsonb, text) IS
    'Checks a Plivo inbound message''s signature (V3, else V2) and stores it once in plivo.inbound_messages: returns {"result": stored|duplicate, "id": ..., "message_uuid": ...}';

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
    'Messages sent (outbound, from plivo.message_logs) and received (inbound, from plivo.inbound_messages) by number pair; filter on our_number and their_number, order by at';

-------------------------------------------------------------------------------
-- Row-level security and grants, as 90_security.sql gives a fresh install.
-------------------------------------------------------------------------------
ALTER TABLE plivo.inbound_messages ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON plivo.inbound_messages, plivo.conversations FROM PUBLIC;
REVOKE ALL ON FUNCTION
    plivo._check_webhook_request(text, jsonb, jsonb, text),
    plivo.handle_inbound_message(text, jsonb, jsonb, text),
    plivo._inbound_number(text)
    FROM PUBLIC;

DO $grants$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        GRANT EXECUTE ON FUNCTION
            plivo._check_webhook_request(text, jsonb, jsonb, text),
            plivo.handle_inbound_message(text, jsonb, jsonb, text),
            plivo._inbound_number(text)
            TO service_role;
        GRANT SELECT, INSERT ON plivo.inbound_messages TO service_role;
        CREATE POLICY inbound_messages_service_role ON plivo.inbound_messages
            FOR ALL TO service_role USING (true) WITH CHECK (true);
        GRANT SELECT ON plivo.conversations TO service_role;
    END IF;
END
$grants$;
