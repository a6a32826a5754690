-------------------------------------------------------------------------------
-- The SQL API.
-------------------------------------------------------------------------------
-- send_mms and send_sms run as their caller and leave search_path as it is: the only
-- statements they run are in C with every name qualified (extension/enqueue.cpp), and
-- a pinned path would cost every call a save and restore of the setting. Every other
-- function pins it.
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
    OUT in_flight integer, OUT attempts_started bigint, OUT paused boolean)
RETURNS record
LANGUAGE c VOLATILE SECURITY INVOKER PARALLEL SAFE
SET search_path = ''
AS 'MODULE_PATHNAME', 'plivo_worker_status';
COMMENT ON FUNCTION plivo.worker_status() IS
    'Whether the dispatcher worker is preloaded and running, its pid, start, last heartbeat and load, and whether it is paused (plivo.paused)';

CREATE FUNCTION plivo._wake_dispatcher() RETURNS void
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'plivo_wake_dispatcher';

-- Re-drive: failed messages go back to the queue with a fresh set of attempts. If an
-- earlier attempt may have reached Plivo (unsettled_since), that is still settled before
-- it is sent again; a uuid Plivo had given it is kept in plivo_status_info.
-- _redrive takes either one id or every failed message created since a time.
CREATE FUNCTION plivo._redrive(only_id uuid, since timestamptz) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    redriven bigint;
BEGIN
    PERFORM pg_catalog.set_config('plivo.event_cause', 'redrive', true);
    UPDATE plivo.message_logs m
    SET status = 'queued', attempts = 0, next_attempt_at = pg_catalog.now(),
        error_code = NULL, last_http_status = NULL,
        last_error = 'redriven by ' || CURRENT_USER || ' after: ' || coalesce(m.last_error, 'failure'),
        plivo_status_info = CASE WHEN m.plivo_message_uuid IS NULL THEN m.plivo_status_info
            ELSE coalesce(m.plivo_status_info, '{}'::jsonb)
                 || pg_catalog.jsonb_build_object('redriven_from', m.plivo_message_uuid) END,
        plivo_message_uuid = NULL
    WHERE m.status = 'failed'
      AND (only_id IS NULL OR m.id = only_id)
      AND (since IS NULL OR m.created_at >= since);
    GET DIAGNOSTICS redriven = ROW_COUNT;
    PERFORM pg_catalog.set_config('plivo.event_cause', '', true);
    IF redriven > 0 THEN
        PERFORM plivo._wake_dispatcher();
    END IF;
    RETURN redriven;
END
$$;

-- Re-drive one failed message.
CREATE FUNCTION plivo.retry_message(id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
BEGIN
    IF id IS NULL THEN
        RAISE EXCEPTION 'id must not be null' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass the id of a failed message from plivo.message_logs.';
    END IF;
    IF plivo._redrive(id, NULL) = 0 THEN
        IF NOT EXISTS (SELECT FROM plivo.message_logs m WHERE m.id = retry_message.id) THEN
            RAISE EXCEPTION 'message % does not exist', id USING ERRCODE = 'no_data_found',
                HINT = 'Pass the id of a message in plivo.message_logs.';
        END IF;
        RAISE EXCEPTION 'message % is not failed', id USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'Only failed messages can be re-driven.',
            HINT = 'Check its status in plivo.message_logs.';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION plivo.retry_message(uuid) IS 'Puts one failed message back in the queue';

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

-- Re-drive every failed message created since `since`; returns how many.
CREATE FUNCTION plivo.retry_failed(since timestamptz) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
BEGIN
    IF since IS NULL THEN
        RAISE EXCEPTION 'since must not be null' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass a time, for example now() - interval ''1 day''.';
    END IF;
    RETURN plivo._redrive(NULL, since);
END
$$;
COMMENT ON FUNCTION plivo.retry_failed(timestamptz) IS 'Puts every failed message created since a time back in the queue';

-- The caller's JWT subject as PostgREST sets it; NULL outside PostgREST.
CREATE FUNCTION plivo.current_subject() RETURNS text
LANGUAGE sql STABLE SECURITY INVOKER PARALLEL SAFE
SET search_path = ''
AS $$ SELECT NULLIF(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub' $$;

