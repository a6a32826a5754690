-- The roles a Supabase database has, created when absent, then the extension.
SET client_min_messages = warning;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'plivo_regress_user') THEN
        CREATE ROLE plivo_regress_user NOLOGIN;
    END IF;
END
$$;
RESET client_min_messages;

CREATE EXTENSION pg_plivo;

-- Shows what an error would tell a user: SQLSTATE, message, detail and hint, and
-- proves the statement changed nothing (the row count of plivo.message_logs is the same).
CREATE FUNCTION public.expect_error(statement text,
    OUT code text, OUT message text, OUT detail text, OUT hint text, OUT rows_changed bigint)
LANGUAGE plpgsql AS $$
DECLARE
    before bigint;
BEGIN
    SELECT count(*) INTO before FROM plivo.message_logs;
    BEGIN
        EXECUTE statement;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                                detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
        SELECT count(*) - before INTO rows_changed FROM plivo.message_logs;
        RETURN;
    END;
    RAISE EXCEPTION 'expected an error from: %', statement;
END
$$;
GRANT EXECUTE ON FUNCTION public.expect_error(text) TO PUBLIC;
