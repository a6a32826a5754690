-- A role that may not read all settings cannot SHOW or current_setting() the auth token.
-- PostgreSQL 17 words the refusal differently: settings_hidden_1.out.
SET ROLE plivo_regress_user;
\set VERBOSITY terse
SHOW plivo.auth_token;
SELECT current_setting('plivo.auth_token');
\set VERBOSITY default
RESET ROLE;
