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
ALTER TABLE plivo.inbound_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE plivo.opt_outs ENABLE ROW LEVEL SECURITY;
ALTER TABLE plivo.consent_events ENABLE ROW LEVEL SECURITY;

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
            plivo.send_mms(text, text, text[], text, text, text, timestamptz, interval, text, boolean, text, text),
            plivo.send_sms(text, text, text, text, text, timestamptz, interval, text, text, text),
            plivo.cancel_message(uuid),
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
            plivo._apply_report(jsonb, bigint),
            plivo._check_webhook_request(text, jsonb, jsonb, text),
            plivo.handle_inbound_message(text, jsonb, jsonb, text),
            plivo._inbound_number(text),
            plivo._apply_inbound_consent(bigint, text, text, text, text),
            plivo.opt_out(text, text, text),
            plivo.opt_in(text, text),
            plivo._phone_number(text, text),
            plivo._call_source(),
            plivo._record_opt_out(text, text, text, text, bigint, uuid),
            plivo._record_opt_in(text, text, text, text, bigint)
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
        -- handle_inbound_message() runs as its caller and stores each message once.
        GRANT SELECT, INSERT ON plivo.inbound_messages TO service_role;
        CREATE POLICY inbound_messages_service_role ON plivo.inbound_messages
            FOR ALL TO service_role USING (true) WITH CHECK (true);
        GRANT SELECT ON plivo.conversations TO service_role;
        -- The consent ledger: read by service_role, written only through opt_out(),
        -- opt_in() and handle_inbound_message() (as the ledger's owner).
        GRANT SELECT ON plivo.opt_outs, plivo.consent_events, plivo.opt_out_stats TO service_role;
        CREATE POLICY opt_outs_service_role ON plivo.opt_outs
            FOR SELECT TO service_role USING (true);
        CREATE POLICY consent_events_service_role ON plivo.consent_events
            FOR SELECT TO service_role USING (true);
    END IF;

    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
        GRANT USAGE ON SCHEMA plivo TO authenticated;
        GRANT SELECT ON plivo.message_logs TO authenticated;
        GRANT INSERT (recipient, sender, message_text, media_urls, message_type,
                      callback_url, idempotency_key, next_attempt_at, send_at, valid_for,
                      expires_at, plivo_log, sms_fallback, powerpack_uuid)
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
                        'plivo.send_mms(text, text, text[], text, text, text, timestamptz, interval, text, boolean, text, text)', 'EXECUTE')
                     OR pg_catalog.has_function_privilege(
                        'plivo.send_sms(text, text, text, text, text, timestamptz, interval, text, text, text)', 'EXECUTE')));
    END IF;
END
$grants$;

