-- Least privilege (design promise 8) and secrets (promise 7), as a matrix: every table,
-- view, sequence and function in schema plivo against every role. The lists come from
-- pg_class and pg_proc, so a new object shows up here and forces a review (and an
-- update of README.md's "Privileges" section, which must match this output).
\pset null '(null)'
SET client_min_messages = warning;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'plivo_privileges_login') THEN
        CREATE ROLE plivo_privileges_login LOGIN;
    END IF;
END
$$;
RESET client_min_messages;

-- The matrix is taken on a fresh install (dropped and created again, rolled back at the
-- end), so that grants made by earlier tests cannot hide or add anything.
BEGIN;
SET LOCAL client_min_messages = warning;
DROP EXTENSION pg_plivo CASCADE;
CREATE EXTENSION pg_plivo;
RESET client_min_messages;

CREATE TEMP TABLE matrix_roles (ord int, role name);
INSERT INTO matrix_roles VALUES (1, 'anon'), (2, 'authenticated'), (3, 'service_role'),
                                (4, 'plivo_privileges_login');

-- What one role may do on one relation: table-level privileges, and column-level ones
-- (written with the columns) where the role has no table-level grant.
CREATE FUNCTION pg_temp.relation_rights(role name, rel regclass) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(concat_ws(', ',
        CASE WHEN has_table_privilege(role, rel, 'SELECT') THEN 'SELECT'
             WHEN has_any_column_privilege(role, rel, 'SELECT') THEN 'SELECT(' || (
                 SELECT string_agg(a.attname, ' ' ORDER BY a.attnum) FROM pg_attribute a
                 WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
                   AND has_column_privilege(role, rel, a.attnum, 'SELECT')) || ')' END,
        CASE WHEN has_table_privilege(role, rel, 'INSERT') THEN 'INSERT'
             WHEN has_any_column_privilege(role, rel, 'INSERT') THEN 'INSERT(' || (
                 SELECT string_agg(a.attname, ' ' ORDER BY a.attnum) FROM pg_attribute a
                 WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
                   AND has_column_privilege(role, rel, a.attnum, 'INSERT')) || ')' END,
        CASE WHEN has_table_privilege(role, rel, 'UPDATE') THEN 'UPDATE'
             WHEN has_any_column_privilege(role, rel, 'UPDATE') THEN 'UPDATE(' || (
                 SELECT string_agg(a.attname, ' ' ORDER BY a.attnum) FROM pg_attribute a
                 WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
                   AND has_column_privilege(role, rel, a.attnum, 'UPDATE')) || ')' END,
        CASE WHEN has_table_privilege(role, rel, 'DELETE') THEN 'DELETE' END,
        CASE WHEN has_table_privilege(role, rel, 'TRUNCATE') THEN 'TRUNCATE' END,
        CASE WHEN has_table_privilege(role, rel, 'REFERENCES') THEN 'REFERENCES' END,
        CASE WHEN has_table_privilege(role, rel, 'TRIGGER') THEN 'TRIGGER' END), ''), '-')
$$;

-- Schema USAGE.
SELECT r.role, has_schema_privilege(r.role, 'plivo', 'USAGE') AS usage,
       has_schema_privilege(r.role, 'plivo', 'CREATE') AS "create"
FROM matrix_roles r ORDER BY r.ord;

-- Tables and views: kind, row-level security, and what each role may do.
SELECT c.relname,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'matview' WHEN 'f' THEN 'foreign' END AS kind,
       CASE WHEN c.relkind IN ('r', 'p') THEN c.relrowsecurity::text
            WHEN c.relkind = 'v' THEN 'invoker: ' || coalesce(
                (SELECT o.option_value FROM pg_options_to_table(c.reloptions) o
                 WHERE o.option_name = 'security_invoker'), 'false') END AS rls,
       pg_temp.relation_rights('anon', c.oid) AS anon,
       pg_temp.relation_rights('authenticated', c.oid) AS authenticated,
       pg_temp.relation_rights('service_role', c.oid) AS service_role,
       pg_temp.relation_rights('plivo_privileges_login', c.oid) AS login_role
FROM pg_class c
WHERE c.relnamespace = 'plivo'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY c.relname;

-- Sequences (identity columns): nobody but the owner.
SELECT c.relname,
       (SELECT string_agg(r.role, ', ' ORDER BY r.ord) FROM matrix_roles r
        WHERE has_sequence_privilege(r.role, c.oid, 'USAGE')
           OR has_sequence_privilege(r.role, c.oid, 'SELECT')
           OR has_sequence_privilege(r.role, c.oid, 'UPDATE')) AS roles_with_any_right
FROM pg_class c
WHERE c.relnamespace = 'plivo'::regnamespace AND c.relkind = 'S'
ORDER BY c.relname;

-- Row-level security policies: for whom, and for what.
SELECT tablename, policyname, cmd, roles
FROM pg_policies WHERE schemaname = 'plivo' ORDER BY tablename, policyname;

-- Functions: SECURITY DEFINER or INVOKER, a pinned search_path, and EXECUTE per role.
SELECT p.oid::regprocedure AS function,
       CASE WHEN p.prosecdef THEN 'definer' ELSE 'invoker' END AS security,
       coalesce(array_to_string(p.proconfig, ', '), '-') AS config,
       has_function_privilege('anon', p.oid, 'EXECUTE') AS anon,
       has_function_privilege('authenticated', p.oid, 'EXECUTE') AS authenticated,
       has_function_privilege('service_role', p.oid, 'EXECUTE') AS service_role,
       has_function_privilege('plivo_privileges_login', p.oid, 'EXECUTE') AS login_role
FROM pg_proc p
WHERE p.pronamespace = 'plivo'::regnamespace
ORDER BY p.proname, p.oid::regprocedure::text;

-- The one GRANT the README tells a project to make, and everything it changes.
CREATE TEMP TABLE before_grant AS
SELECT r.role, c.oid::regclass::text AS object, pg_temp.relation_rights(r.role, c.oid) AS rights
FROM matrix_roles r, pg_class c
WHERE c.relnamespace = 'plivo'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
UNION ALL
SELECT r.role, p.oid::regprocedure::text,
       CASE WHEN has_function_privilege(r.role, p.oid, 'EXECUTE') THEN 'EXECUTE' ELSE '-' END
FROM matrix_roles r, pg_proc p WHERE p.pronamespace = 'plivo'::regnamespace;
GRANT EXECUTE ON FUNCTION plivo.send_mms(text, text, text[], text, text, text, timestamptz, interval, text, boolean, text, text),
                          plivo.send_sms(text, text, text, text, text, timestamptz, interval, text, text, text) TO authenticated;
SELECT b.role, b.object, b.rights AS before, a.rights AS after
FROM before_grant b
JOIN (SELECT r.role, c.oid::regclass::text AS object, pg_temp.relation_rights(r.role, c.oid) AS rights
      FROM matrix_roles r, pg_class c
      WHERE c.relnamespace = 'plivo'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      UNION ALL
      SELECT r.role, p.oid::regprocedure::text,
             CASE WHEN has_function_privilege(r.role, p.oid, 'EXECUTE') THEN 'EXECUTE' ELSE '-' END
      FROM matrix_roles r, pg_proc p WHERE p.pronamespace = 'plivo'::regnamespace) a
  USING (role, object)
WHERE a.rights IS DISTINCT FROM b.rights
ORDER BY b.role, b.object;
ROLLBACK;

-------------------------------------------------------------------------------
-- Secrets: with the auth token set, no role but a superuser can read it by any route.
-------------------------------------------------------------------------------
ALTER SYSTEM SET plivo.auth_token = 'regress-token-not-a-secret';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);

-- The token is really in effect (a V2 signature made with it verifies), so the probes
-- below look for something that is there.
CREATE FUNCTION pg_temp.token() RETURNS text LANGUAGE sql IMMUTABLE
AS $$ SELECT 'regress-token-' || 'not-a-secret' $$;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
RESET client_min_messages;
SELECT plivo.verify_plivo_signature('https://hooks.example.com/s', '42',
    encode(hmac('https://hooks.example.com/s' || '42', pg_temp.token(), 'sha256'), 'base64'),
    version => 'v2') AS configured_token_in_effect;

-- Every route to the token, tried as the current role: 'hidden' (reachable, no token),
-- 'refused <SQLSTATE>' (not reachable at all), or 'SHOWN'. The token text is built in
-- the function body, so it is not in any query text pg_stat_activity shows.
CREATE FUNCTION public.plivo_secret_probe(OUT route text, OUT outcome text)
RETURNS SETOF record LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
    token constant text := 'regress-token-' || 'not-a-secret';
    found_text text;
    hits bigint;
    total bigint;
    rel record;
    col record;
    refused text;
    e_message text; e_detail text; e_hint text; e_context text;
BEGIN
    route := 'SHOW plivo.auth_token';
    BEGIN
        EXECUTE 'SHOW plivo.auth_token' INTO found_text;
        outcome := CASE WHEN found_text LIKE '%' || token || '%' THEN 'SHOWN' ELSE 'hidden' END;
    EXCEPTION WHEN OTHERS THEN outcome := 'refused ' || SQLSTATE;
    END;
    RETURN NEXT;

    route := 'current_setting()';
    BEGIN
        found_text := current_setting('plivo.auth_token');
        outcome := CASE WHEN found_text LIKE '%' || token || '%' THEN 'SHOWN' ELSE 'hidden' END;
    EXCEPTION WHEN OTHERS THEN outcome := 'refused ' || SQLSTATE;
    END;
    RETURN NEXT;

    route := 'current_setting(missing_ok)';
    BEGIN
        found_text := current_setting('plivo.auth_token', true);
        outcome := CASE WHEN found_text LIKE '%' || token || '%' THEN 'SHOWN' ELSE 'hidden' END;
    EXCEPTION WHEN OTHERS THEN outcome := 'refused ' || SQLSTATE;
    END;
    RETURN NEXT;

    route := 'pg_settings';
    SELECT count(*) INTO hits FROM pg_settings s
    WHERE concat_ws(' ', s.setting, s.reset_val, s.boot_val) LIKE '%' || token || '%';
    outcome := CASE WHEN hits > 0 THEN 'SHOWN' ELSE 'hidden' END;
    RETURN NEXT;

    route := 'pg_file_settings';
    BEGIN
        SELECT count(*) INTO hits FROM pg_file_settings f WHERE f.setting LIKE '%' || token || '%';
        outcome := CASE WHEN hits > 0 THEN 'SHOWN' ELSE 'hidden' END;
    EXCEPTION WHEN OTHERS THEN outcome := 'refused ' || SQLSTATE;
    END;
    RETURN NEXT;

    route := 'pg_read_file(postgresql.auto.conf)';
    BEGIN
        found_text := pg_read_file('postgresql.auto.conf');
        outcome := CASE WHEN found_text LIKE '%' || token || '%' THEN 'SHOWN' ELSE 'hidden' END;
    EXCEPTION WHEN OTHERS THEN outcome := 'refused ' || SQLSTATE;
    END;
    RETURN NEXT;

    route := 'pg_db_role_setting';
    SELECT count(*) INTO hits FROM pg_db_role_setting d
    WHERE array_to_string(d.setconfig, ' ') LIKE '%' || token || '%';
    outcome := CASE WHEN hits > 0 THEN 'SHOWN' ELSE 'hidden' END;
    RETURN NEXT;

    route := 'pg_stat_activity';
    SELECT count(*) INTO hits FROM pg_stat_activity a
    WHERE concat_ws(' ', a.query, a.application_name) LIKE '%' || token || '%';
    outcome := CASE WHEN hits > 0 THEN 'SHOWN' ELSE 'hidden' END;
    RETURN NEXT;

    -- Every text, text[], json and jsonb column of every relation of ours.
    route := 'plivo.* text/json columns';
    hits := 0; total := 0; refused := NULL;
    FOR rel IN SELECT c.oid::regclass AS name FROM pg_class c
               WHERE c.relnamespace = 'plivo'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
               ORDER BY c.relname
    LOOP
        FOR col IN SELECT a.attname FROM pg_attribute a
                   WHERE a.attrelid = rel.name AND a.attnum > 0 AND NOT a.attisdropped
                     AND a.atttypid IN ('text'::regtype, 'text[]'::regtype, 'json'::regtype,
                                        'jsonb'::regtype, 'varchar'::regtype, 'name'::regtype)
        LOOP
            BEGIN
                EXECUTE format('SELECT count(*) FROM %s WHERE %I::text LIKE $1', rel.name, col.attname)
                    INTO found_text USING '%' || token || '%';
                hits := hits + found_text::bigint;
                total := total + 1;
            EXCEPTION WHEN insufficient_privilege THEN
                refused := 'refused 42501';
            END;
        END LOOP;
    END LOOP;
    outcome := CASE WHEN hits > 0 THEN 'SHOWN'
                    WHEN total = 0 THEN coalesce(refused, 'no columns')
                    ELSE 'hidden (' || total || ' columns searched)' END;
    RETURN NEXT;

    -- Errors raised with the token configured: message, detail, hint and context.
    route := 'error messages';
    hits := 0; total := 0;
    FOR found_text IN VALUES
        ($q$ SELECT plivo.verify_plivo_signature('https://hooks.example.com/s', 'n', 'bad') $q$),
        ($q$ SELECT plivo.verify_plivo_signature('not a url', 'n', 'bad') $q$),
        ($q$ SELECT plivo.verify_plivo_signature('https://hooks.example.com/s', 'n', 'bad', version => 'v9') $q$),
        ($q$ SELECT plivo.handle_status_callback('https://hooks.example.com/s', '{"MessageUUID": "u", "Status": "delivered"}',
                 '{"X-Plivo-Signature-V3": "bad", "X-Plivo-Signature-V3-Nonce": "1"}') $q$),
        ($q$ SELECT plivo.handle_status_callback('https://hooks.example.com/s', '{}',
                 '{"X-Plivo-Signature-V2": "bad", "X-Plivo-Signature-V2-Nonce": "1"}') $q$),
        ($q$ SELECT plivo.send_sms('+14155552672', 'hi', sender_number => 'x') $q$),
        ($q$ SELECT plivo.send_sms('+14155552672', 'hi', callback_url => 'https://u:regress-token-not-a-secret@x.example/') $q$),
        ($q$ SELECT plivo.retry_message(NULL) $q$),
        ($q$ SELECT plivo.purge_message_logs(NULL) $q$),
        ($q$ SELECT * FROM plivo.worker_status() WHERE false $q$),
        ($q$ SELECT plivo._verify_webhook('https://hooks.example.com/s', '{}', '{"X-Plivo-Signature-V3": "bad", "X-Plivo-Signature-V3-Nonce": "1"}', 'POST') $q$)
    LOOP
        BEGIN
            EXECUTE found_text;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS e_message = MESSAGE_TEXT, e_detail = PG_EXCEPTION_DETAIL,
                                    e_hint = PG_EXCEPTION_HINT, e_context = PG_EXCEPTION_CONTEXT;
            total := total + 1;
            IF concat_ws(' ', e_message, e_detail, e_hint, e_context) LIKE '%' || token || '%' THEN
                hits := hits + 1;
            END IF;
        END;
    END LOOP;
    outcome := CASE WHEN hits > 0 THEN 'SHOWN' ELSE 'hidden (' || total || ' errors checked)' END;
    RETURN NEXT;
END
$$;
GRANT EXECUTE ON FUNCTION public.plivo_secret_probe() TO PUBLIC;

-- anon, authenticated (with the GRANT a project may make, and a JWT), the plain login
-- role, and service_role; each in a PostgREST-style transaction, rolled back.
BEGIN;
SET LOCAL ROLE anon;
SELECT set_config('request.jwt.claims', '{"role": "anon"}', true) IS NOT NULL AS claims_set;
SELECT 'anon' AS role, * FROM public.plivo_secret_probe();
ROLLBACK;

BEGIN;
GRANT EXECUTE ON FUNCTION plivo.send_mms(text, text, text[], text, text, text, timestamptz, interval, text, boolean, text, text),
                          plivo.send_sms(text, text, text, text, text, timestamptz, interval, text, text, text) TO authenticated;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "user-p", "role": "authenticated"}', true) IS NOT NULL AS claims_set;
SELECT 'authenticated' AS role, * FROM public.plivo_secret_probe();
ROLLBACK;

BEGIN;
SET LOCAL ROLE plivo_privileges_login;
SELECT 'plivo_privileges_login' AS role, * FROM public.plivo_secret_probe();
ROLLBACK;

BEGIN;
SET LOCAL ROLE service_role;
SELECT set_config('request.jwt.claims', '{"role": "service_role"}', true) IS NOT NULL AS claims_set;
SELECT 'service_role' AS role, * FROM public.plivo_secret_probe();
ROLLBACK;

-- And as a superuser: SHOW, current_setting() and pg_settings still do not print it;
-- pg_file_settings and postgresql.auto.conf do, by design (ALTER SYSTEM writes it
-- there, and only superusers may read them).
SELECT 'superuser' AS role, * FROM public.plivo_secret_probe();

-- Clean up.
ALTER SYSTEM RESET plivo.auth_token;
SELECT pg_reload_conf();
DROP FUNCTION public.plivo_secret_probe();
DROP ROLE plivo_privileges_login;
