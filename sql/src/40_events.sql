-------------------------------------------------------------------------------
-- The audit trail: one row for every change of a message's status, whoever made
-- it. Written by statement-level triggers with transition tables (one INSERT per
-- statement, not one per row): the 'enqueue' events by message_logs_enqueued
-- (20_enqueue_triggers.sql, in C), the status changes by the trigger below. The cause comes from the transaction-local setting
-- plivo.event_cause, which pg_plivo's own code sets ('enqueue', 'claim',
-- 'plivo_answer', 'lease_recovery', 'delivery_report', 'redrive', 'opt_out', 'cancel');
-- any other change
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
    'enqueue, claim, plivo_answer, lease_recovery, delivery_report, redrive, opt_out (the recipient opted out while it was queued), cancel (plivo.cancel_message), or manual';
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
