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

