-- pg_plivo 0.1.0 to 0.2.0.
\echo Use "ALTER EXTENSION pg_plivo UPDATE TO '0.2.0'" to load this file. \quit

-- 0.2.0 builds and runs on PostgreSQL 15, 17 and 18 and follows its database through
-- pg_upgrade; its schema is 0.1.0's, so there is nothing to change here.
