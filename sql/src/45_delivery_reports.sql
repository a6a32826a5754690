-------------------------------------------------------------------------------
-- Delivery reports. Plivo calls the message's callback URL once per status change;
-- an Edge Function (or any relay) hands the request to plivo.handle_status_callback(),
-- which checks the signature in the database and updates the message in place.
--
-- Status only moves forward: sent → delivered | undelivered | failed | rejected.
-- A 'queued' or 'sent' report never overwrites a final status, Sequence orders the
-- reports of one message, and the same report twice changes nothing the second time.
-------------------------------------------------------------------------------

-- Every report that passed the signature check, whatever became of it — including
-- reports for a message_uuid we do not know (kept, and not an error to Plivo).
CREATE TABLE plivo.delivery_reports (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_uuid  text,
    message_id    uuid,
    status        text,
    sequence      integer,
    result        text NOT NULL,
    params        jsonb NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    CONSTRAINT delivery_reports_result_check CHECK (
        result IN ('applied', 'duplicate', 'stale', 'unknown_message'))
);
COMMENT ON TABLE plivo.delivery_reports IS
    'Every signed delivery report received, and what it did: applied, duplicate, stale or unknown_message';
CREATE INDEX delivery_reports_message_uuid_idx ON plivo.delivery_reports (message_uuid);
CREATE INDEX delivery_reports_message_id_idx ON plivo.delivery_reports (message_id)
    WHERE message_id IS NOT NULL;
CREATE INDEX delivery_reports_received_at_idx ON plivo.delivery_reports (received_at);
SELECT pg_catalog.pg_extension_config_dump('plivo.delivery_reports', '');

-- V2 signatures do not cover the body: a nonce seen before with a different body is
-- a replay with forged fields. Kept for the nonce's useful life (purged with logs).
CREATE TABLE plivo.webhook_nonces (
    nonce        text PRIMARY KEY,
    body_digest  text NOT NULL,
    first_seen   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE plivo.webhook_nonces IS
    'Nonces of V2-signed webhooks with a digest of their fields, to refuse a reused nonce with another body';
CREATE INDEX webhook_nonces_first_seen_idx ON plivo.webhook_nonces (first_seen);

CREATE FUNCTION plivo._verify_webhook(
    url text, params jsonb, headers jsonb, method text,
    OUT version text, OUT nonce text)
RETURNS record
LANGUAGE c STABLE SECURITY INVOKER
SET search_path = ''
AS 'MODULE_PATHNAME', 'plivo_verify_webhook';

-- Where a status stands in the life of a message: a report may only move it up.
CREATE FUNCTION plivo._status_rank(status text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = ''
AS $$
    SELECT CASE status
        WHEN 'queued' THEN 0 WHEN 'sending' THEN 0 WHEN 'retrying' THEN 0
        WHEN 'sent' THEN 1
        WHEN 'delivered' THEN 2 WHEN 'undelivered' THEN 2 WHEN 'failed' THEN 2
        WHEN 'rejected' THEN 2
        ELSE NULL END
$$;

-- Applies one signed report to its message (or records that it matched none). With
-- report_id, the report is one kept earlier as unknown_message and that row is updated
-- instead of a new one being written.
CREATE FUNCTION plivo._apply_report(params jsonb, report_id bigint DEFAULT NULL)
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

-- A report can arrive before the worker has written down the uuid Plivo gave the
-- message (Plivo may call back before its answer is recorded). Such reports were kept
-- as unknown_message; when the uuid is recorded, the worker applies them, in order.
CREATE FUNCTION plivo._apply_early_reports(uuids text[]) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    early record;
    applied integer := 0;
BEGIN
    FOR early IN
        SELECT r.id, r.params FROM plivo.delivery_reports r
        WHERE r.message_uuid = ANY (uuids) AND r.result = 'unknown_message'
        ORDER BY r.message_uuid, r.sequence NULLS FIRST, r.id
    LOOP
        PERFORM plivo._apply_report(early.params, early.id);
        applied := applied + 1;
    END LOOP;
    RETURN applied;
END
$$;

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

CREATE FUNCTION plivo.handle_status_callback(
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
COMMENT ON FUNCTION plivo.handle_status_callback(text, jsonb, jsonb, text) IS
    'Checks a Plivo delivery report''s signature (V3, else V2) and applies it to its message: returns {"result": applied|duplicate|stale|unknown_message, ...}';
