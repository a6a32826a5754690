-- pg_plivo 0.1.0: schema plivo, the message log that is also the queue, the send
-- functions, webhook signature checks, row-level security and grants.
\echo Use "CREATE EXTENSION pg_plivo" to load this file. \quit

-- The schema belongs to the extension, so DROP EXTENSION removes it with everything in it.
CREATE SCHEMA plivo;
COMMENT ON SCHEMA plivo IS 'pg_plivo: send MMS and SMS through Plivo';

-------------------------------------------------------------------------------
-- The message log. Every message is one row, updated in place as it moves on:
--
--   queued ──▶ sending ──▶ sent ──▶ delivered | undelivered | failed | rejected
--                 │  ▲
--                 ▼  │
--              retrying ──▶ failed (after plivo.max_attempts, with last_error)
--
-- queued     enqueued, waiting for the dispatcher (next_attempt_at says from when)
-- sending    claimed by the dispatcher for one attempt, until lease_expires_at
-- retrying   an attempt failed in a way that may be retried; waits for next_attempt_at
-- sent       Plivo accepted it (plivo_message_uuid is set)
-- delivered, undelivered, failed, rejected
--            final; failed is also set by pg_plivo when Plivo refuses the request
--            or the attempts run out
--
-- The queue is not a second table: it is the partial index message_logs_due_idx
-- over rows in queued/retrying, ordered by next_attempt_at. Enqueuing writes one row.
-------------------------------------------------------------------------------
CREATE TABLE plivo.message_logs (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    plivo_message_uuid text UNIQUE,
    sender             text NOT NULL,
    recipient          text NOT NULL,
    message_text       text,
    media_urls         text[],
    status             text DEFAULT 'queued',
    plivo_status_info  jsonb,
    error_code         text,
    created_at         timestamptz DEFAULT now(),
    updated_at         timestamptz DEFAULT now(),
    -- what sending needs
    message_type       text NOT NULL,
    callback_url       text,
    text_encoding      text,
    segments           integer NOT NULL DEFAULT 0,
    idempotency_key    text,
    created_by         text,
    created_by_role    text NOT NULL DEFAULT current_user,
    attempts           integer NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    lease_expires_at   timestamptz,
    last_attempt_at    timestamptz,
    unsettled_since    timestamptz,
    last_error         text,
    last_http_status   integer,
    CONSTRAINT message_logs_status_check CHECK (status IS NOT NULL AND status IN (
        'queued', 'sending', 'retrying', 'sent', 'delivered', 'undelivered', 'failed', 'rejected')),
    CONSTRAINT message_logs_message_type_check CHECK (message_type IN ('sms', 'mms')),
    CONSTRAINT message_logs_text_encoding_check CHECK (text_encoding IN ('GSM-7', 'UCS-2')),
    CONSTRAINT message_logs_attempts_check CHECK (attempts >= 0),
    CONSTRAINT message_logs_sent_has_uuid_check CHECK (
        status NOT IN ('sent', 'delivered', 'undelivered') OR plivo_message_uuid IS NOT NULL),
    CONSTRAINT message_logs_sending_has_lease_check CHECK (
        status <> 'sending' OR lease_expires_at IS NOT NULL)
);

COMMENT ON TABLE plivo.message_logs IS
    'One row per message, updated in place from queued to its final status. Insert a row (or call plivo.send_mms / plivo.send_sms) to send.';
COMMENT ON COLUMN plivo.message_logs.status IS
    'queued, sending, retrying, sent, delivered, undelivered, failed or rejected (see the extension script for the life cycle)';
COMMENT ON COLUMN plivo.message_logs.plivo_message_uuid IS 'Plivo''s message_uuid, once Plivo accepted the message';
COMMENT ON COLUMN plivo.message_logs.sender IS 'Sender number in E.164 (defaults to plivo.sender_number)';
COMMENT ON COLUMN plivo.message_logs.recipient IS 'Destination number in E.164';
COMMENT ON COLUMN plivo.message_logs.plivo_status_info IS 'Plivo''s last answer or delivery report for this message';
COMMENT ON COLUMN plivo.message_logs.error_code IS 'Plivo error code from a delivery report, or pg_plivo''s HTTP status when Plivo refused the request';
COMMENT ON COLUMN plivo.message_logs.message_type IS 'sms or mms; an INSERT without it sends an MMS when media_urls is given';
COMMENT ON COLUMN plivo.message_logs.text_encoding IS 'GSM-7 or UCS-2, as Plivo will encode the text';
COMMENT ON COLUMN plivo.message_logs.segments IS 'SMS segments the text takes (what Plivo bills for an SMS)';
COMMENT ON COLUMN plivo.message_logs.idempotency_key IS 'Caller''s key: the same key again (by the same caller) returns the first message';
COMMENT ON COLUMN plivo.message_logs.created_by IS 'JWT subject of the caller (request.jwt.claims ->> ''sub''), when it came through PostgREST';
COMMENT ON COLUMN plivo.message_logs.created_by_role IS 'Database role that enqueued the message';
COMMENT ON COLUMN plivo.message_logs.attempts IS 'Requests made to Plivo for this message so far';
COMMENT ON COLUMN plivo.message_logs.next_attempt_at IS 'When the dispatcher may take it (up); set it in the future to schedule a message';
COMMENT ON COLUMN plivo.message_logs.lease_expires_at IS 'While sending: until when the current attempt holds the message';
COMMENT ON COLUMN plivo.message_logs.unsettled_since IS 'Set when an attempt may have reached Plivo without a known answer: the next attempt first looks the message up in Plivo';
COMMENT ON COLUMN plivo.message_logs.last_error IS 'Why the last attempt did not succeed';
COMMENT ON COLUMN plivo.message_logs.last_http_status IS 'HTTP status of Plivo''s last answer';

-- The queue: what the dispatcher claims next.
CREATE INDEX message_logs_due_idx ON plivo.message_logs (next_attempt_at)
    WHERE status IN ('queued', 'retrying');
-- Attempts in flight, to take up those whose lease expired (crash recovery).
CREATE INDEX message_logs_leased_idx ON plivo.message_logs (lease_expires_at)
    WHERE status = 'sending';
-- Idempotency keys are scoped to the caller (the JWT subject, or none).
CREATE UNIQUE INDEX message_logs_idempotency_key_idx
    ON plivo.message_logs (idempotency_key, (coalesce(created_by, '')))
    WHERE idempotency_key IS NOT NULL;
-- DBAs and retention look by time, by caller and by recipient.
CREATE INDEX message_logs_created_at_idx ON plivo.message_logs (created_at);
CREATE INDEX message_logs_created_by_idx ON plivo.message_logs (created_by, created_at)
    WHERE created_by IS NOT NULL;
CREATE INDEX message_logs_recipient_idx ON plivo.message_logs (recipient, created_at);

SELECT pg_catalog.pg_extension_config_dump('plivo.message_logs', '');

-------------------------------------------------------------------------------
-- Triggers: validation on the way in, the wake-up at commit, updated_at.
-------------------------------------------------------------------------------
CREATE FUNCTION plivo._validate_message() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'plivo_validate_message';
CREATE FUNCTION plivo._after_enqueue() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'plivo_after_enqueue';
CREATE FUNCTION plivo._touch_updated_at() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'plivo_touch_updated_at';

CREATE TRIGGER message_logs_validate BEFORE INSERT ON plivo.message_logs
    FOR EACH ROW EXECUTE FUNCTION plivo._validate_message();
-- NOTIFY plivo_message_queued, once per transaction, delivered at commit.
CREATE TRIGGER message_logs_enqueued AFTER INSERT ON plivo.message_logs
    FOR EACH STATEMENT EXECUTE FUNCTION plivo._after_enqueue();
CREATE TRIGGER message_logs_updated_at BEFORE UPDATE ON plivo.message_logs
    FOR EACH ROW EXECUTE FUNCTION plivo._touch_updated_at();

-------------------------------------------------------------------------------
-- The SQL API.
-------------------------------------------------------------------------------
CREATE FUNCTION plivo.send_mms(
    destination_number text,
    message_text text,
    media_urls text[],
    sender_number text DEFAULT NULL,
    callback_url text DEFAULT NULL,
    idempotency_key text DEFAULT NULL)
RETURNS uuid
LANGUAGE c VOLATILE SECURITY INVOKER PARALLEL UNSAFE
SET search_path = ''
AS 'MODULE_PATHNAME', 'plivo_send_mms';
COMMENT ON FUNCTION plivo.send_mms(text, text, text[], text, text, text) IS
    'Validates and enqueues one MMS (US and Canadian destinations); returns its plivo.message_logs id';

CREATE FUNCTION plivo.send_sms(
    destination_number text,
    message_text text,
    sender_number text DEFAULT NULL,
    callback_url text DEFAULT NULL,
    idempotency_key text DEFAULT NULL)
RETURNS uuid
LANGUAGE c VOLATILE SECURITY INVOKER PARALLEL UNSAFE
SET search_path = ''
AS 'MODULE_PATHNAME', 'plivo_send_sms';
COMMENT ON FUNCTION plivo.send_sms(text, text, text, text, text) IS
    'Validates and enqueues one SMS; returns its plivo.message_logs id';

CREATE FUNCTION plivo.verify_plivo_signature(
    url text,
    nonce text,
    signature text,
    method text DEFAULT 'POST',
    params jsonb DEFAULT NULL,
    version text DEFAULT 'v3',
    auth_token text DEFAULT NULL)
RETURNS boolean
LANGUAGE c STABLE SECURITY INVOKER PARALLEL SAFE
SET search_path = ''
AS 'MODULE_PATHNAME', 'plivo_verify_plivo_signature';
COMMENT ON FUNCTION plivo.verify_plivo_signature(text, text, text, text, jsonb, text, text) IS
    'Checks a Plivo webhook signature (V2 or V3; several comma-separated signatures allowed); auth_token NULL uses the configured token';

-- Is the dispatcher running? preloaded is false when pg_plivo is not in
-- shared_preload_libraries: messages are then enqueued but nothing sends them.
CREATE FUNCTION plivo.worker_status(
    OUT preloaded boolean, OUT running boolean, OUT pid integer,
    OUT started_at timestamptz, OUT heartbeat_at timestamptz,
    OUT in_flight integer, OUT attempts_started bigint)
RETURNS record
LANGUAGE c VOLATILE SECURITY INVOKER PARALLEL SAFE
SET search_path = ''
AS 'MODULE_PATHNAME', 'plivo_worker_status';
COMMENT ON FUNCTION plivo.worker_status() IS
    'Whether the dispatcher worker is preloaded and running, its pid, start, last heartbeat and load';

CREATE FUNCTION plivo._wake_dispatcher() RETURNS void
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'plivo_wake_dispatcher';

-- Re-drive a failed message: it goes back to the queue with a fresh set of attempts.
-- If an earlier attempt may have reached Plivo (unsettled_since), that is still
-- settled before it is sent again.
CREATE FUNCTION plivo.retry_message(id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    found_row boolean;
BEGIN
    IF id IS NULL THEN
        RAISE EXCEPTION 'id must not be null' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass the id of a failed message from plivo.message_logs.';
    END IF;
    UPDATE plivo.message_logs m
    SET status = 'queued', attempts = 0, next_attempt_at = pg_catalog.now(),
        error_code = NULL, last_http_status = NULL,
        last_error = 'redriven by ' || CURRENT_USER || ' after: ' || coalesce(m.last_error, 'failure'),
        plivo_status_info = CASE WHEN m.plivo_message_uuid IS NULL THEN m.plivo_status_info
            ELSE coalesce(m.plivo_status_info, '{}'::jsonb)
                 || pg_catalog.jsonb_build_object('redriven_from', m.plivo_message_uuid) END,
        plivo_message_uuid = NULL
    WHERE m.id = retry_message.id AND m.status = 'failed';
    found_row := FOUND;
    IF NOT found_row THEN
        IF NOT EXISTS (SELECT FROM plivo.message_logs m WHERE m.id = retry_message.id) THEN
            RAISE EXCEPTION 'message % does not exist', id USING ERRCODE = 'no_data_found',
                HINT = 'Pass the id of a message in plivo.message_logs.';
        END IF;
        RAISE EXCEPTION 'message % is not failed', id USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'Only failed messages can be re-driven.',
            HINT = 'Check its status in plivo.message_logs.';
    END IF;
    PERFORM plivo._wake_dispatcher();
    RETURN true;
END
$$;
COMMENT ON FUNCTION plivo.retry_message(uuid) IS 'Puts one failed message back in the queue';

-- Re-drive every failed message created since `since`; returns how many.
CREATE FUNCTION plivo.retry_failed(since timestamptz) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    redriven bigint;
BEGIN
    IF since IS NULL THEN
        RAISE EXCEPTION 'since must not be null' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass a time, for example now() - interval ''1 day''.';
    END IF;
    UPDATE plivo.message_logs m
    SET status = 'queued', attempts = 0, next_attempt_at = pg_catalog.now(),
        error_code = NULL, last_http_status = NULL,
        last_error = 'redriven by ' || CURRENT_USER || ' after: ' || coalesce(m.last_error, 'failure'),
        plivo_status_info = CASE WHEN m.plivo_message_uuid IS NULL THEN m.plivo_status_info
            ELSE coalesce(m.plivo_status_info, '{}'::jsonb)
                 || pg_catalog.jsonb_build_object('redriven_from', m.plivo_message_uuid) END,
        plivo_message_uuid = NULL
    WHERE m.status = 'failed' AND m.created_at >= since;
    GET DIAGNOSTICS redriven = ROW_COUNT;
    IF redriven > 0 THEN
        PERFORM plivo._wake_dispatcher();
    END IF;
    RETURN redriven;
END
$$;
COMMENT ON FUNCTION plivo.retry_failed(timestamptz) IS 'Puts every failed message created since a time back in the queue';

-- The caller's JWT subject as PostgREST sets it; NULL outside PostgREST.
CREATE FUNCTION plivo.current_subject() RETURNS text
LANGUAGE sql STABLE SECURITY INVOKER PARALLEL SAFE
SET search_path = ''
AS $$ SELECT NULLIF(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub' $$;

-------------------------------------------------------------------------------
-- Row-level security and grants (Supabase roles, when they exist).
--
-- service_role: everything. authenticated: sees its own messages; may enqueue its
-- own messages only once EXECUTE on the send functions was granted to it (the
-- INSERT policy checks that grant, so one GRANT opens both doors). anon: nothing.
-------------------------------------------------------------------------------
ALTER TABLE plivo.message_logs ENABLE ROW LEVEL SECURITY;

REVOKE ALL ON ALL TABLES IN SCHEMA plivo FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA plivo FROM PUBLIC;
REVOKE ALL ON SCHEMA plivo FROM PUBLIC;

DO $grants$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        GRANT USAGE ON SCHEMA plivo TO service_role;
        GRANT SELECT, INSERT, UPDATE, DELETE ON plivo.message_logs TO service_role;
        GRANT EXECUTE ON FUNCTION
            plivo.send_mms(text, text, text[], text, text, text),
            plivo.send_sms(text, text, text, text, text),
            plivo.verify_plivo_signature(text, text, text, text, jsonb, text, text),
            plivo.current_subject(),
            plivo.worker_status(),
            plivo.retry_message(uuid),
            plivo.retry_failed(timestamptz),
            plivo._wake_dispatcher()
            TO service_role;
        CREATE POLICY message_logs_service_role ON plivo.message_logs
            FOR ALL TO service_role USING (true) WITH CHECK (true);
    END IF;

    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
        GRANT USAGE ON SCHEMA plivo TO authenticated;
        GRANT SELECT ON plivo.message_logs TO authenticated;
        GRANT INSERT (recipient, sender, message_text, media_urls, message_type,
                      callback_url, idempotency_key, next_attempt_at)
            ON plivo.message_logs TO authenticated;
        GRANT EXECUTE ON FUNCTION plivo.current_subject() TO authenticated;
        CREATE POLICY message_logs_authenticated_select ON plivo.message_logs
            FOR SELECT TO authenticated
            USING (created_by = (SELECT plivo.current_subject()));
        CREATE POLICY message_logs_authenticated_insert ON plivo.message_logs
            FOR INSERT TO authenticated
            WITH CHECK (
                created_by = (SELECT plivo.current_subject())
                AND (SELECT pg_catalog.has_function_privilege(
                        'plivo.send_mms(text, text, text[], text, text, text)', 'EXECUTE')
                     OR pg_catalog.has_function_privilege(
                        'plivo.send_sms(text, text, text, text, text)', 'EXECUTE')));
    END IF;
END
$grants$;
