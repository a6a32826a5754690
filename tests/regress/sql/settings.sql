-- Settings: the auth token is superuser-only and never shown, even to superusers.
\pset null '(null)'
SELECT name, setting, context FROM pg_settings WHERE name LIKE 'plivo.%' ORDER BY name;

-- A token can only come from postgresql.conf / ALTER SYSTEM (never per database, role or session).
ALTER SYSTEM SET plivo.auth_token = 'regress-token-not-a-secret';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW plivo.auth_token;
SELECT current_setting('plivo.auth_token') AS current_setting;
SELECT setting FROM pg_settings WHERE name = 'plivo.auth_token';
SELECT count(*) AS settings_showing_the_token FROM pg_settings WHERE setting LIKE '%regress-token%';
\set VERBOSITY terse
ALTER DATABASE contrib_regression SET plivo.auth_token = 'regress-token-not-a-secret';
ALTER ROLE plivo_regress_user SET plivo.auth_token = 'regress-token-not-a-secret';
SET plivo.auth_token = 'regress-token-not-a-secret';
CREATE FUNCTION public.leaks_token() RETURNS int LANGUAGE sql
    SET plivo.auth_token = 'regress-token-not-a-secret' AS 'SELECT 1';
\set VERBOSITY default

-- The configured token is used when auth_token is NULL (vector A signed with 'my_auth_token').
SELECT plivo.verify_plivo_signature('https://answer.url', '12345',
    'ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=', version => 'v2') AS with_wrong_configured_token;
ALTER SYSTEM SET plivo.auth_token = 'my_auth_token';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT plivo.verify_plivo_signature('https://answer.url', '12345',
    'ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=', version => 'v2') AS with_configured_token;

-- A non-superuser cannot read it by any route.
GRANT USAGE ON SCHEMA plivo TO plivo_regress_user;
GRANT EXECUTE ON FUNCTION plivo.verify_plivo_signature(text, text, text, text, jsonb, text, text)
    TO plivo_regress_user;
SET ROLE plivo_regress_user;
-- (SHOW and current_setting() refuse it: settings_hidden.)
SELECT count(*) AS visible_in_pg_settings FROM pg_settings WHERE name = 'plivo.auth_token';
SELECT count(*) AS visible_in_db_role_setting FROM pg_db_role_setting
WHERE array_to_string(setconfig, ',') LIKE '%auth_token%';
-- ...but a function of ours can use it, without returning it.
SELECT plivo.verify_plivo_signature('https://answer.url', '12345',
    'ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=', version => 'v2') AS checked_as_plain_role;
RESET ROLE;
-- Even a role allowed to read all settings only learns that the token is set.
GRANT pg_read_all_settings TO plivo_regress_user;
SET ROLE plivo_regress_user;
SHOW plivo.auth_token;
SELECT current_setting('plivo.auth_token') AS current_setting;
RESET ROLE;
REVOKE pg_read_all_settings FROM plivo_regress_user;

-- Supabase Vault: with the setting empty, the secret plivo_auth_token is used. Vault is
-- not readable by the caller; the function reads it with the extension owner's rights.
ALTER SYSTEM RESET plivo.auth_token;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW plivo.auth_token;
CREATE SCHEMA vault;
CREATE TABLE vault.secrets_store (name text, decrypted_secret text, updated_at timestamptz DEFAULT now());
CREATE VIEW vault.decrypted_secrets AS SELECT * FROM vault.secrets_store;
REVOKE ALL ON SCHEMA vault FROM PUBLIC;
INSERT INTO vault.secrets_store (name, decrypted_secret, updated_at) VALUES
    ('plivo_auth_token', 'an-old-token', now() - interval '1 day'),
    ('plivo_auth_token', 'my_auth_token', now()),
    ('unrelated', 'x', now());
SET ROLE plivo_regress_user;
\set VERBOSITY terse
SELECT count(*) FROM vault.decrypted_secrets;
\set VERBOSITY default
SELECT plivo.verify_plivo_signature('https://answer.url', '12345',
    'ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=', version => 'v2') AS checked_with_vault_token;
RESET ROLE;
DELETE FROM vault.secrets_store WHERE name = 'plivo_auth_token';
\x on
SELECT * FROM expect_error($$ SELECT plivo.verify_plivo_signature('https://answer.url', '12345', 'x', version => 'v2') $$);
\x off
DROP SCHEMA vault CASCADE;
REVOKE EXECUTE ON FUNCTION plivo.verify_plivo_signature(text, text, text, text, jsonb, text, text)
    FROM plivo_regress_user;
REVOKE USAGE ON SCHEMA plivo FROM plivo_regress_user;
