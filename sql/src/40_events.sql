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

-- SECURITY DEFINER: the audit trail is written for every role that changes a message,
-- but no role other than the owner may write it directly. (_after_enqueue writes the
-- 'enqueue' events as the owner in the same way.)
CREATE FUNCTION plivo._record_status_events() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    INSERT INTO plivo.message_events (message_id, old_status, new_status, cause, detail)
    SELECT n.id, o.status, n.status,
           coalesce(NULLIF(pg_catalog.current_setting('plivo.event_cause', true), ''), 'manual'),
           pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
               'attempts', n.attempts,
               'plivo_message_uuid', n.plivo_message_uuid,
               'error_code', n.error_code,
               'http_status', n.last_http_status,
               'error', CASE WHEN n.status IN ('retrying', 'failed', 'undelivered', 'rejected')
                             THEN n.last_error END,
               'next_attempt_at', CASE WHEN n.status = 'retrying' THEN n.next_attempt_at END,
               'by', CASE WHEN NULLIF(pg_catalog.current_setting('plivo.event_cause', true), '')
                              IS NULL THEN CURRENT_USER END))
    FROM old_rows o JOIN new_rows n USING (id)
    WHERE o.status IS DISTINCT FROM n.status;
    RETURN NULL;
END
$$;

CREATE TRIGGER message_logs_status_events AFTER UPDATE ON plivo.message_logs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION plivo._record_status_events();
