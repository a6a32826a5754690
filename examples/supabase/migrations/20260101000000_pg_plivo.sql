-- pg_plivo on Supabase: install and configure.
--
-- Assumes the pg_plivo library is already installed in the database image and listed in
-- shared_preload_libraries (see the main README, "Self-hosted Supabase"); without the
-- preload the extension enqueues but nothing is sent.
--
-- Apply with `supabase db push` (or `supabase migration up` locally). Four steps are NOT
-- in this file because they must not be, or cannot be; they are written out below as
-- comments, to run by hand:
--   A. the Plivo credentials (secrets never belong in a file committed to git),
--   B. plivo.callback_url (ALTER SYSTEM: superuser only, and not inside a transaction),
--   C. exposing the `plivo` schema to the API (a project setting, not SQL on hosted projects),
--   D. the optional GRANT that lets signed-in users send.

-- pg_plivo is a superuser-only extension. If this fails with "permission denied to
-- create extension", run it as supabase_admin, or add pg_plivo to
-- supautils.privileged_extensions in the database's configuration.
CREATE EXTENSION IF NOT EXISTS pg_plivo;

-- The default sender for messages that name none: a number of your Plivo account, in
-- E.164 form. REPLACE this placeholder. It applies to new connections only.
ALTER DATABASE postgres SET plivo.sender_number = '+12025550100';

-- A. Credentials, in Supabase Vault, run ONCE BY HAND (pg_plivo reads the Vault secrets
--    named plivo_auth_id and plivo_auth_token when plivo.auth_id / plivo.auth_token are
--    not set). Not in this migration: the token would then live in git, in your CI logs
--    and in every clone of the repository.
--
--    Either in an interactive psql session (\prompt keeps the token out of your shell
--    history and out of `ps`), as the postgres role:
--
--      \prompt 'Plivo auth id: '    plivo_auth_id
--      \prompt 'Plivo auth token: ' plivo_auth_token
--      SELECT vault.create_secret(:'plivo_auth_id',    'plivo_auth_id',    'Plivo auth id for pg_plivo');
--      SELECT vault.create_secret(:'plivo_auth_token', 'plivo_auth_token', 'Plivo auth token for pg_plivo');
--
--    or in the Dashboard's SQL Editor, after replacing the placeholders (and without
--    saving the query):
--
--      SELECT vault.create_secret('REPLACE_WITH_YOUR_PLIVO_AUTH_ID',    'plivo_auth_id');
--      SELECT vault.create_secret('REPLACE_WITH_YOUR_PLIVO_AUTH_TOKEN', 'plivo_auth_token');
--
--    To rotate the token later:
--      SELECT vault.update_secret(id, 'NEW_TOKEN') FROM vault.secrets WHERE name = 'plivo_auth_token';

-- B. The delivery-report URL sent with every message that names none: the public URL of
--    the plivo-status Edge Function. It is a server-wide setting (PGC_SIGHUP), so ALTER
--    DATABASE cannot set it; only a superuser may, with ALTER SYSTEM, which also refuses
--    to run inside a transaction block (as migrations run). By hand, as supabase_admin:
--
--      ALTER SYSTEM SET plivo.callback_url = 'https://YOUR_PROJECT_REF.supabase.co/functions/v1/plivo-status';
--      SELECT pg_reload_conf();
--
--    The plivo-status function must be given the very same URL, byte for byte, in its
--    PLIVO_CALLBACK_URL secret: Plivo signs the URL it was told to call.

-- C. Expose the `plivo` schema to the API, so that supabase-js can call
--    supabase.schema('plivo').rpc(...):
--      Dashboard → Project Settings → API (Data API) → Exposed schemas: add `plivo`.
--    Self-hosted: add it to PGRST_DB_SCHEMAS of the rest service, or in SQL:
--      ALTER ROLE authenticator SET pgrst.db_schemas = 'public, graphql_public, plivo';
--      NOTIFY pgrst, 'reload config';
--    Exposing it opens nothing to `anon`: pg_plivo grants it nothing, and RLS is on
--    every table.

-- D. Optional: let signed-in users send (their rows record their JWT `sub`, and they see
--    only their own). Without it only service_role and SQL callers can send, and the
--    send-mms Edge Function answers 403.
--
-- GRANT EXECUTE ON FUNCTION plivo.send_mms(text, text, text[], text, text, text, timestamptz, interval, text, boolean, text, text),
--                           plivo.send_sms(text, text, text, text, text, timestamptz, interval, text, text, text) TO authenticated;

-- Tell PostgREST about the new functions (after C, so that it sees the `plivo` schema).
NOTIFY pgrst, 'reload schema';
