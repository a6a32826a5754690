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
