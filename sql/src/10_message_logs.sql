-- Schema plivo and the message log, which is also the queue.

-- The schema belongs to the extension, so DROP EXTENSION removes it with everything in it.
CREATE SCHEMA plivo;
COMMENT ON SCHEMA plivo IS 'pg_plivo: send MMS and SMS through Plivo';

-------------------------------------------------------------------------------
-- The message log. Every message is one row, updated in place as it moves on:
--
--   queued ──▶ sending ──▶ sent ──▶ delivered | undelivered | failed | rejected
--     │           │  ▲
--     │           ▼  │
--     │        retrying ──▶ failed (after plivo.max_attempts, with last_error)
--     ▼
--   cancelled (plivo.cancel_message, before the dispatcher claimed it)
--
-- queued     enqueued, waiting for the dispatcher (next_attempt_at says from when:
--            a scheduled message is queued with a due time in the future, send_at)
-- sending    claimed by the dispatcher for one attempt, until lease_expires_at
-- retrying   an attempt failed in a way that may be retried; waits for next_attempt_at
-- sent       Plivo accepted it (plivo_message_uuid is set)
-- delivered, undelivered, failed, rejected
--            final; failed is also set by pg_plivo when Plivo refuses the request,
--            the attempts run out, or the message expired before it could be sent
-- cancelled  final; never sent
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
    sender             text,
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
    consent_override   text,
    send_at            timestamptz,
    valid_for          interval,
    expires_at         timestamptz,
    plivo_log          text,
    sms_fallback       boolean,
    fallback_of        uuid,
    fallback_message_id uuid,
    units              integer,
    total_rate         numeric,
    total_amount       numeric,
    powerpack_uuid     text,
    CONSTRAINT message_logs_status_check CHECK (status IS NOT NULL AND status IN (
        'queued', 'sending', 'retrying', 'sent', 'delivered', 'undelivered', 'failed', 'rejected',
        'cancelled')),
    CONSTRAINT message_logs_message_type_check CHECK (message_type IN ('sms', 'mms')),
    CONSTRAINT message_logs_text_encoding_check CHECK (text_encoding IN ('GSM-7', 'UCS-2')),
    CONSTRAINT message_logs_attempts_check CHECK (attempts >= 0),
    CONSTRAINT message_logs_sent_has_uuid_check CHECK (
        status NOT IN ('sent', 'delivered', 'undelivered') OR plivo_message_uuid IS NOT NULL),
    CONSTRAINT message_logs_sending_has_lease_check CHECK (
        status <> 'sending' OR lease_expires_at IS NOT NULL),
    CONSTRAINT message_logs_consent_override_check CHECK (
        consent_override IN ('opt_out_confirmation', 'help_reply', 'transactional')),
    CONSTRAINT message_logs_plivo_log_check CHECK (
        plivo_log IN ('true', 'false', 'number_only', 'content_only')),
    CONSTRAINT message_logs_valid_for_check CHECK (valid_for >= interval '5 seconds'),
    CONSTRAINT message_logs_sender_or_powerpack_check CHECK (
        sender IS NOT NULL OR powerpack_uuid IS NOT NULL)
);

COMMENT ON TABLE plivo.message_logs IS
    'One row per message, updated in place from queued to its final status. Insert a row (or call plivo.send_mms / plivo.send_sms) to send.';
COMMENT ON COLUMN plivo.message_logs.status IS
    'queued, sending, retrying, sent, delivered, undelivered, failed, rejected or cancelled (see the extension script for the life cycle)';
COMMENT ON COLUMN plivo.message_logs.plivo_message_uuid IS 'Plivo''s message_uuid, once Plivo accepted the message';
COMMENT ON COLUMN plivo.message_logs.sender IS 'Sender number in E.164 (defaults to plivo.sender_number); through a Powerpack NULL until Plivo names the number it used (delivery report or settling)';
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
COMMENT ON COLUMN plivo.message_logs.next_attempt_at IS 'When the dispatcher may take it (up): send_at for a scheduled message, later after a failed attempt; infinity while its outcome waits to be settled (unsettled_since)';
COMMENT ON COLUMN plivo.message_logs.lease_expires_at IS 'While sending: until when the current attempt holds the message';
COMMENT ON COLUMN plivo.message_logs.unsettled_since IS 'Set when an attempt may have reached Plivo without a known answer: the dispatcher looks the message up in Plivo (oldest first) and sends it again only if Plivo has no such message';
COMMENT ON COLUMN plivo.message_logs.last_error IS 'Why the last attempt did not succeed';
COMMENT ON COLUMN plivo.message_logs.last_http_status IS 'HTTP status of Plivo''s last answer';
COMMENT ON COLUMN plivo.message_logs.consent_override IS
    'Sent although the recipient opted out: opt_out_confirmation or help_reply (pg_plivo''s own replies), or transactional (when plivo.allow_transactional_override is on); recorded in plivo.consent_events';

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
COMMENT ON COLUMN plivo.message_logs.powerpack_uuid IS
    'Plivo Powerpack the message is sent through instead of a sender number (powerpack_uuid, never src): Plivo picks the number from its pool; defaults to plivo.powerpack_uuid when neither is given';

-- The queue: what the dispatcher claims next.
CREATE INDEX message_logs_due_idx ON plivo.message_logs (next_attempt_at)
    WHERE status IN ('queued', 'retrying');
-- Attempts in flight, to take up those whose lease expired (crash recovery).
CREATE INDEX message_logs_leased_idx ON plivo.message_logs (lease_expires_at)
    WHERE status = 'sending';
-- Messages whose outcome is open (in flight, or maybe accepted and not yet settled), by
-- sender (the Powerpack, for a message sent through one), recipient and type: the
-- dispatcher sends one message of such a pair at a time, so that settling an unknown
-- outcome never has to guess which of ours Plivo listed.
CREATE INDEX message_logs_open_idx
    ON plivo.message_logs (recipient, (coalesce(powerpack_uuid, sender)), message_type)
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
-- One fallback SMS per MMS, whatever retries or reports come twice.
CREATE UNIQUE INDEX message_logs_fallback_of_key ON plivo.message_logs (fallback_of)
    WHERE fallback_of IS NOT NULL;

SELECT pg_catalog.pg_extension_config_dump('plivo.message_logs', '');

