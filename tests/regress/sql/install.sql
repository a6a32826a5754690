-- CREATE EXTENSION makes schema plivo and everything in it; DROP EXTENSION removes it all.
SELECT extname, extversion, extrelocatable FROM pg_extension WHERE extname = 'pg_plivo';

SELECT pg_describe_object(classid, objid, 0) AS member
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_plivo')
  AND deptype = 'e'
  -- PostgreSQL 17 also records the row types of the tables and views (and their array
  -- types) as members: they come and go with their relations, so they are left out.
  AND NOT (classid = 'pg_type'::regclass AND EXISTS (
      SELECT FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem
      WHERE t.oid = objid AND (t.typrelid <> 0 OR e.typrelid <> 0)))
ORDER BY 1;

-- The columns of the message log, in order.
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull AS not_null,
       pg_get_expr(adbin, adrelid) AS default
FROM pg_attribute LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum
WHERE attrelid = 'plivo.message_logs'::regclass AND attnum > 0 AND NOT attisdropped
ORDER BY attnum;

SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid) AS definition
FROM pg_index WHERE indrelid = 'plivo.message_logs'::regclass ORDER BY 1::text;

SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'plivo.message_logs'::regclass AND contype = 'c' ORDER BY conname;

-- Every table has row-level security on.
SELECT relname, relrowsecurity FROM pg_class
WHERE relnamespace = 'plivo'::regnamespace AND relkind = 'r' ORDER BY relname;

-- Which functions pin search_path (README, "Privileges").
SELECT proname, prosecdef, proconfig FROM pg_proc
WHERE pronamespace = 'plivo'::regnamespace AND prorettype <> 'trigger'::regtype
ORDER BY proname;

-- An enqueue in this session: the 'enqueue' event is written through what the session
-- has looked up of the two tables (checked again after the extension is recreated).
SET plivo.sender_number = '+14155552671';
INSERT INTO plivo.message_logs (recipient, message_text, message_type)
VALUES ('+14155552672', 'before', 'sms');
SELECT e.old_status, e.new_status, e.cause, e.detail
FROM plivo.message_events e JOIN plivo.message_logs m ON m.id = e.message_id;

DROP EXTENSION pg_plivo;
SELECT count(*) AS plivo_schemas FROM pg_namespace WHERE nspname = 'plivo';
SELECT count(*) AS plivo_functions FROM pg_proc WHERE proname LIKE 'plivo%' OR prosrc LIKE 'plivo_%';

-- A schema named plivo that is not ours is not taken over. (Terse: 18 adds the line of
-- the script as CONTEXT.)
CREATE SCHEMA plivo;
\set VERBOSITY terse
CREATE EXTENSION pg_plivo;
\set VERBOSITY default
DROP SCHEMA plivo;

CREATE EXTENSION pg_plivo;
SELECT count(*) AS messages FROM plivo.message_logs;

-- The same session writes the new tables' events, not the dropped ones'.
INSERT INTO plivo.message_logs (recipient, message_text, message_type)
VALUES ('+14155552673', 'after', 'sms');
SELECT m.message_text, e.old_status, e.new_status, e.cause, e.detail, e.id
FROM plivo.message_events e JOIN plivo.message_logs m ON m.id = e.message_id;
TRUNCATE plivo.message_logs, plivo.message_events;
