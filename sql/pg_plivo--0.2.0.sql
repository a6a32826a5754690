-- pg_plivo 0.2.0, generated from sql/src/*.sql by the Makefile: edit those.
\echo Use "CREATE EXTENSION pg_plivo" to load this file. \quit

-- sql/src/10_message_logs.sql
-- Schema plivo and the message log, which is also the queue.

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
-- Time-ordered ids (UUID version 7): a message's index entries land next to those of
-- messages enqueued with it, not on a random page of a large index.
CREATE FUNCTION plivo._new_message_id() RETURNS uuid
    LANGUAGE c VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'plivo_new_message_id';

CREATE TABLE plivo.message_logs (
    id                 uuid PRIMARY KEY DEFAULT plivo._new_message_id(),
    plivo_message_uuid text,
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
-- Messages whose outcome is open (in flight, or maybe accepted and not yet settled), by
-- sender, recipient and type: the dispatcher sends one message of such a pair at a time,
-- so that settling an unknown outcome never has to guess which of ours Plivo listed.
CREATE INDEX message_logs_open_idx ON plivo.message_logs (recipient, sender, message_type)
    WHERE status = 'sending' OR (unsettled_since IS NOT NULL AND status IN ('queued', 'retrying'));
-- Plivo's uuids are unique. Partial: a queued or sending message has none, and an
-- index of NULLs would take an entry for every status change.
CREATE UNIQUE INDEX message_logs_plivo_message_uuid_key ON plivo.message_logs (plivo_message_uuid)
    WHERE plivo_message_uuid IS NOT NULL;
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


-- sql/src/20_enqueue_triggers.sql
-------------------------------------------------------------------------------
-- Triggers: validation on the way in, the audit events and the wake-up at commit,
-- updated_at.
-------------------------------------------------------------------------------
CREATE FUNCTION plivo._validate_message() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'plivo_validate_message';
CREATE FUNCTION plivo._after_enqueue() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'plivo_after_enqueue';
CREATE FUNCTION plivo._touch_updated_at() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'plivo_touch_updated_at';

CREATE TRIGGER message_logs_validate BEFORE INSERT ON plivo.message_logs
    FOR EACH ROW EXECUTE FUNCTION plivo._validate_message();
-- The 'enqueue' events (plivo.message_events), the worker's wake-up and NOTIFY
-- plivo_message_queued (once per transaction, delivered at commit).
CREATE TRIGGER message_logs_enqueued AFTER INSERT ON plivo.message_logs
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION plivo._after_enqueue();
CREATE TRIGGER message_logs_updated_at BEFORE UPDATE ON plivo.message_logs
    FOR EACH ROW EXECUTE FUNCTION plivo._touch_updated_at();


-- sql/src/30_api.sql
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
    idempotency_key text DEFAULT NULL)
RETURNS uuid
LANGUAGE c VOLATILE SECURITY INVOKER PARALLEL UNSAFE
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


-- sql/src/40_events.sql
-------------------------------------------------------------------------------
-- The audit trail: one row for every change of a message's status, whoever made
-- it. Written by statement-level triggers with transition tables (one INSERT per
-- statement, not one per row): the 'enqueue' events by message_logs_enqueued
-- (20_enqueue_triggers.sql, in C), the status changes by the trigger below. The cause comes from the transaction-local setting
-- plivo.event_cause, which pg_plivo's own code sets ('enqueue', 'claim',
-- 'plivo_answer', 'lease_recovery', 'delivery_report', 'redrive'); any other change
-- (a DBA's UPDATE) is recorded as 'manual'.
-------------------------------------------------------------------------------
CREATE TABLE plivo.message_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  uuid NOT NULL,
    old_status  text,
    new_status  text NOT NULL,
    cause       text NOT NULL,
    detail      jsonb,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE plivo.message_events IS
    'Every status change of every message: old and new status, cause, time and detail';
COMMENT ON COLUMN plivo.message_events.cause IS
    'enqueue, claim, plivo_answer, lease_recovery, delivery_report, redrive, or manual';
CREATE INDEX message_events_message_idx ON plivo.message_events (message_id, id);
CREATE INDEX message_events_created_at_idx ON plivo.message_events (created_at);

SELECT pg_catalog.pg_extension_config_dump('plivo.message_events', '');

-- In C (extension/message_events.cpp), like _after_enqueue: it writes the events as the
-- owner of plivo.message_logs, so the audit trail is written for every role that changes
-- a message but no role other than the owner may write it directly. A 'manual' event's
-- detail names the role that made the change ("by"). Its detail otherwise holds what
-- the message shows after the change: attempts, plivo_message_uuid, error_code,
-- http_status, the error of a retrying/failed/undelivered/rejected message and the
-- next_attempt_at of a retrying one (members without a value are left out).
CREATE FUNCTION plivo._record_status_events() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'plivo_record_status_events';

CREATE TRIGGER message_logs_status_events AFTER UPDATE ON plivo.message_logs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION plivo._record_status_events();

-- sql/src/45_delivery_reports.sql
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
            -- The report's fields join what is known (Plivo's api_id from the send stays).
            UPDATE plivo.message_logs m
            SET status = new_status,
                plivo_status_info = coalesce(m.plivo_status_info, '{}'::jsonb) || params,
                error_code = CASE WHEN new_status IN ('undelivered', 'failed', 'rejected')
                                  THEN NULLIF(params ->> 'ErrorCode', '') ELSE m.error_code END
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

CREATE FUNCTION plivo.handle_status_callback(
    url text,
    params jsonb,
    headers jsonb,
    method text DEFAULT 'POST')
RETURNS jsonb
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

    -- Ordered with the worker recording uuids (it holds this lock exclusively meanwhile):
    -- either the worker sees this report when it records the uuid, or this report sees
    -- the recorded uuid. Never neither.
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(1886152054, 1);
    RETURN plivo._apply_report(params);
END
$$;
COMMENT ON FUNCTION plivo.handle_status_callback(text, jsonb, jsonb, text) IS
    'Checks a Plivo delivery report''s signature (V3, else V2) and applies it to its message: returns {"result": applied|duplicate|stale|unknown_message, ...}';

-- sql/src/50_views.sql
-------------------------------------------------------------------------------
-- What a DBA reads: Plivo's error codes, the health of the queue and the worker,
-- and delivery statistics per day and sender. The views are security_invoker
-- (PostgreSQL 15), so they see exactly what the caller's own privileges and RLS
-- policies let it see; grants are in 95_security_views.sql.
-------------------------------------------------------------------------------

-- Plivo's error codes (ErrorCode in delivery reports, error_code on the message
-- object). Reference data that belongs to the extension: not dumped, not edited.
CREATE TABLE plivo.error_codes (
    code      text PRIMARY KEY,
    meaning   text NOT NULL,
    class     text,
    transient boolean NOT NULL GENERATED ALWAYS AS (class IS NOT NULL AND class <> 'permanent') STORED,
    CONSTRAINT error_codes_class_check CHECK (
        class IN ('permanent', 'transient', 'limited_retry', 'resend_allowed', 'retry_once')),
    CONSTRAINT error_codes_success_has_no_class_check CHECK ((class IS NULL) = (code = '000'))
);
COMMENT ON TABLE plivo.error_codes IS
    'Plivo''s message error codes with their meaning and class. A code that is not in this table is treated as permanent.';
COMMENT ON COLUMN plivo.error_codes.code IS
    'Plivo''s ErrorCode as text (''000'' is success); plivo.message_logs.error_code holds these, or http_<status> when Plivo refused the request';
COMMENT ON COLUMN plivo.error_codes.class IS
    'permanent (sending the same again fails again), transient (may succeed later), limited_retry (retry a few times at most), resend_allowed (expired unsent in Plivo''s queue, not charged: may be sent again), retry_once; NULL for 000 (success). Unknown codes: permanent.';
COMMENT ON COLUMN plivo.error_codes.transient IS
    'true when a later attempt may succeed (every class but permanent); false for permanent codes, for 000 and, by rule, for unknown codes';

INSERT INTO plivo.error_codes (code, meaning, class) VALUES
    ('000',  'success', NULL),
    ('10',   'invalid message', 'permanent'),
    ('20',   'carrier network error', 'transient'),
    ('30',   'spam detected (permanent for this content)', 'permanent'),
    ('40',   'invalid source number', 'permanent'),
    ('50',   'invalid destination (bad, landline, not capable)', 'permanent'),
    ('60',   'loop detected', 'permanent'),
    ('70',   'destination permanently unavailable', 'permanent'),
    ('80',   'destination temporarily unavailable', 'transient'),
    ('90',   'no route available', 'limited_retry'),
    ('100',  'prohibited by carrier', 'permanent'),
    ('110',  'message too long', 'permanent'),
    ('120',  'MMS over 5 MB', 'permanent'),
    ('200',  'recipient opted out (STOP)', 'permanent'),
    ('201',  'US toll-free to Canada blocked', 'permanent'),
    ('300',  'failed to dispatch', 'transient'),
    ('420',  'expired in Plivo''s queue (not charged)', 'resend_allowed'),
    ('450',  'country barred by geo permissions', 'permanent'),
    ('900',  'insufficient credit (all sends fail for about 2 minutes after)', 'transient'),
    ('910',  'account disabled', 'permanent'),
    ('1000', 'unknown', 'retry_once');

ALTER TABLE plivo.error_codes ENABLE ROW LEVEL SECURITY;

-------------------------------------------------------------------------------
-- plivo.queue_health: one row, cheap enough to poll. The queue counts come from the
-- partial indexes (message_logs_due_idx for queued/retrying, message_logs_leased_idx
-- for sending), the last hour from message_events' created_at index, the worker from
-- shared memory.
-------------------------------------------------------------------------------
CREATE VIEW plivo.queue_health WITH (security_invoker = true) AS
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
       pg_catalog.clock_timestamp() - w.heartbeat_at AS worker_heartbeat_age
FROM (SELECT count(*) FILTER (WHERE m.next_attempt_at <= pg_catalog.now()) AS queued_due,
             count(*) FILTER (WHERE m.next_attempt_at > pg_catalog.now()) AS scheduled,
             pg_catalog.now() - min(m.next_attempt_at) FILTER (
                 WHERE m.next_attempt_at <= pg_catalog.now()) AS oldest_due_age,
             count(*) FILTER (WHERE m.status = 'retrying') AS retrying,
             count(*) FILTER (WHERE m.unsettled_since IS NOT NULL) AS unsettled
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
    'One row: the queue (due, scheduled, age of the oldest due message, in flight, retrying, unsettled), messages that became failed or sent in the last hour, and the dispatcher worker';
COMMENT ON COLUMN plivo.queue_health.queued_due IS 'queued or retrying messages whose next_attempt_at has come';
COMMENT ON COLUMN plivo.queue_health.scheduled IS 'queued or retrying messages whose next_attempt_at is in the future';
COMMENT ON COLUMN plivo.queue_health.oldest_due_age IS 'how long the longest-waiting due message has been due (NULL when none)';
COMMENT ON COLUMN plivo.queue_health.in_flight IS 'messages in status sending (claimed for an attempt)';
COMMENT ON COLUMN plivo.queue_health.retrying IS 'messages in status retrying, due or not';
COMMENT ON COLUMN plivo.queue_health.unsettled IS 'messages not yet final whose last attempt may have reached Plivo (unsettled_since is set): looked up in Plivo before any resend';
COMMENT ON COLUMN plivo.queue_health.failed_last_hour IS 'messages that became failed in the last hour (from plivo.message_events)';
COMMENT ON COLUMN plivo.queue_health.sent_last_hour IS 'messages Plivo accepted (became sent) in the last hour (from plivo.message_events)';
COMMENT ON COLUMN plivo.queue_health.worker_paused IS 'true while plivo.paused holds the worker back from starting new attempts (NULL when no worker runs)';
COMMENT ON COLUMN plivo.queue_health.worker_heartbeat_age IS 'time since the worker''s last heartbeat (by the clock, not the transaction start); a large value means it is stuck';

-------------------------------------------------------------------------------
-- plivo.delivery_stats: per UTC day of created_at and sender. "sent" counts every
-- message Plivo accepted: sent, delivered, undelivered, and failed or rejected with a
-- Plivo uuid (a failure reported by Plivo after it accepted the message). Times are
-- measured from created_at to the message's first event into sent / delivered.
-------------------------------------------------------------------------------
CREATE VIEW plivo.delivery_stats WITH (security_invoker = true) AS
WITH msg AS NOT MATERIALIZED (
    SELECT (m.created_at AT TIME ZONE 'UTC')::date AS day,
           m.sender,
           m.status,
           m.error_code,
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
       coalesce(codes.top_error_codes, '[]'::jsonb) AS top_error_codes
FROM totals t
LEFT JOIN codes ON codes.day = t.day AND codes.sender = t.sender;

COMMENT ON VIEW plivo.delivery_stats IS
    'Per UTC day of created_at and sender: messages enqueued, sent (accepted by Plivo), delivered, undelivered, failed, rejected; delivery rate; median and 95th percentile time to sent and to delivered; the 3 most frequent error codes';
COMMENT ON COLUMN plivo.delivery_stats.day IS 'UTC date of created_at';
COMMENT ON COLUMN plivo.delivery_stats.sent IS 'messages Plivo accepted: status sent, delivered or undelivered, or failed/rejected with a plivo_message_uuid';
COMMENT ON COLUMN plivo.delivery_stats.failed IS 'messages in status failed, whether Plivo refused them, the attempts ran out, or Plivo reported the failure';
COMMENT ON COLUMN plivo.delivery_stats.delivery_rate IS 'delivered / (delivered + undelivered), 4 decimals; NULL when neither';
COMMENT ON COLUMN plivo.delivery_stats.median_time_to_sent IS 'median of (first event into sent) - created_at, over the messages Plivo accepted';
COMMENT ON COLUMN plivo.delivery_stats.p95_time_to_sent IS '95th percentile (interpolated) of (first event into sent) - created_at';
COMMENT ON COLUMN plivo.delivery_stats.median_time_to_delivered IS 'median of (first event into delivered) - created_at, over the delivered messages';
COMMENT ON COLUMN plivo.delivery_stats.p95_time_to_delivered IS '95th percentile (interpolated) of (first event into delivered) - created_at';
COMMENT ON COLUMN plivo.delivery_stats.top_error_codes IS
    'jsonb array of up to 3 {code, count, meaning}, most frequent first (ties by code); meaning is NULL for codes not in plivo.error_codes (such as http_400); 000 is not an error';

-- sql/src/60_retention.sql
-------------------------------------------------------------------------------
-- Retention: delete old messages that have reached a final status, with their
-- audit trail. The worker calls this on the schedule set by plivo.retention; a DBA
-- may call it too.
--
-- Final here means delivered, undelivered, failed, rejected, and sent (a message may
-- stay sent forever when the carrier sends no receipt). queued, sending and retrying
-- messages are never deleted, however old.
--
-- Each batch locks up to batch_size messages with FOR UPDATE SKIP LOCKED (a row the
-- dispatcher or a delivery report holds is skipped, never waited for, and taken by a
-- later run), deletes their delivery reports and events, then the messages. Batches
-- walk message_logs_created_at_idx forward from where the previous batch stopped, so
-- the rows already deleted in this transaction are not scanned again. Then delivery
-- reports that matched no message, and V2 webhook nonces, older than the same cutoff.
-------------------------------------------------------------------------------
-- SECURITY DEFINER: the audit trail (message_events) is not deletable by any role but
-- its owner; this function is the one way to retire it, and only service_role (and
-- superusers) may run it.
CREATE FUNCTION plivo.purge_message_logs(older_than interval, batch_size integer DEFAULT 10000,
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
                AND m.status IN ('sent', 'delivered', 'undelivered', 'failed', 'rejected')
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
          AND m.status IN ('sent', 'delivered', 'undelivered', 'failed', 'rejected');
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
    RETURN purged;
END
$$;

COMMENT ON FUNCTION plivo.purge_message_logs(interval, integer, integer) IS
    'Deletes messages in a final status (sent, delivered, undelivered, failed, rejected) created more than older_than ago, with their events and delivery reports (and unmatched delivery reports and webhook nonces older than that), batch_size messages per DELETE (at most max_batches batches when given), skipping rows locked by others; returns how many messages were deleted';

-- sql/src/90_security.sql
-------------------------------------------------------------------------------
-- Row-level security and grants (Supabase roles, when they exist).
--
-- service_role: everything. authenticated: sees its own messages; may enqueue its
-- own messages only once EXECUTE on the send functions was granted to it (the
-- INSERT policy checks that grant, so one GRANT opens both doors). anon: nothing.
-------------------------------------------------------------------------------
ALTER TABLE plivo.message_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE plivo.message_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE plivo.delivery_reports ENABLE ROW LEVEL SECURITY;
ALTER TABLE plivo.webhook_nonces ENABLE ROW LEVEL SECURITY;

REVOKE ALL ON ALL TABLES IN SCHEMA plivo FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA plivo FROM PUBLIC;
REVOKE ALL ON SCHEMA plivo FROM PUBLIC;
-- message_logs.id's default runs as the inserting role; it only makes a uuid.
GRANT EXECUTE ON FUNCTION plivo._new_message_id() TO PUBLIC;

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
            plivo._wake_dispatcher(),
            plivo._redrive(uuid, timestamptz),
            plivo.handle_status_callback(text, jsonb, jsonb, text),
            plivo._verify_webhook(text, jsonb, jsonb, text),
            plivo._status_rank(text),
            plivo._apply_report(jsonb, bigint)
            TO service_role;
        CREATE POLICY message_logs_service_role ON plivo.message_logs
            FOR ALL TO service_role USING (true) WITH CHECK (true);
        -- The audit trail is read-only for everyone but its owner.
        GRANT SELECT ON plivo.message_events TO service_role;
        CREATE POLICY message_events_service_role ON plivo.message_events
            FOR SELECT TO service_role USING (true);
        -- handle_status_callback() runs as its caller and records every report.
        GRANT SELECT, INSERT ON plivo.delivery_reports, plivo.webhook_nonces TO service_role;
        CREATE POLICY delivery_reports_service_role ON plivo.delivery_reports
            FOR ALL TO service_role USING (true) WITH CHECK (true);
        CREATE POLICY webhook_nonces_service_role ON plivo.webhook_nonces
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
        -- The history of its own messages (message_logs' policy applies in the subquery).
        GRANT SELECT ON plivo.message_events TO authenticated;
        CREATE POLICY message_events_authenticated_select ON plivo.message_events
            FOR SELECT TO authenticated
            USING (message_id IN (SELECT m.id FROM plivo.message_logs m));
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


-- sql/src/95_security_views.sql
-------------------------------------------------------------------------------
-- Grants for the DBA views, the error codes and retention (Supabase roles, when
-- they exist).
--
-- service_role: reads queue_health, delivery_stats and error_codes, runs
-- purge_message_logs. authenticated: reads error_codes (reference data, no rows of
-- anyone's). anon: nothing. The views are security_invoker: a caller also needs
-- what they read (message_logs, message_events, worker_status()).
-------------------------------------------------------------------------------
REVOKE ALL ON plivo.error_codes, plivo.queue_health, plivo.delivery_stats FROM PUBLIC;
REVOKE ALL ON FUNCTION plivo.purge_message_logs(interval, integer, integer) FROM PUBLIC;

DO $grants$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        GRANT SELECT ON plivo.queue_health, plivo.delivery_stats, plivo.error_codes TO service_role;
        GRANT EXECUTE ON FUNCTION plivo.purge_message_logs(interval, integer, integer) TO service_role;
    END IF;

    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
        GRANT SELECT ON plivo.error_codes TO authenticated;
        REVOKE ALL ON plivo.queue_health, plivo.delivery_stats FROM authenticated;
        REVOKE ALL ON FUNCTION plivo.purge_message_logs(interval, integer, integer) FROM authenticated;
    END IF;

    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'anon') THEN
        REVOKE ALL ON plivo.error_codes, plivo.queue_health, plivo.delivery_stats FROM anon;
        REVOKE ALL ON FUNCTION plivo.purge_message_logs(interval, integer, integer) FROM anon;
    END IF;

    -- One policy for both roles: a single permissive SELECT policy per role
    -- (splinter 0006), no per-row function call (0003).
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'service_role')
       AND EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
        CREATE POLICY error_codes_read ON plivo.error_codes
            FOR SELECT TO authenticated, service_role USING (true);
    ELSIF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        CREATE POLICY error_codes_read ON plivo.error_codes
            FOR SELECT TO service_role USING (true);
    ELSIF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
        CREATE POLICY error_codes_read ON plivo.error_codes
            FOR SELECT TO authenticated USING (true);
    END IF;
END
$grants$;
