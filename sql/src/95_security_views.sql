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
