-------------------------------------------------------------------------------
-- What a DBA reads: Plivo's error codes, the health of the queue and the worker,
-- and delivery statistics per day and sender. The views are security_invoker
-- (PostgreSQL 15), so they see exactly what the caller's own privileges and RLS
-- policies let it see; grants are in 95_security_views.sql.
-------------------------------------------------------------------------------

-- Plivo's error codes (ErrorCode in delivery reports, error_code on the message
-- object). Reference data that belongs to the extension: not dumped, not edited.
CREATE TABLE plivo.error_codes (
    code      text PRIMARY KEY,
    meaning   text NOT NULL,
    class     text,
    transient boolean NOT NULL GENERATED ALWAYS AS (class IS NOT NULL AND class <> 'permanent') STORED,
    CONSTRAINT error_codes_class_check CHECK (
        class IN ('permanent', 'transient', 'limited_retry', 'resend_allowed', 'retry_once')),
    CONSTRAINT error_codes_success_has_no_class_check CHECK ((class IS NULL) = (code = '000'))
);
COMMENT ON TABLE plivo.error_codes IS
    'Plivo''s message error codes with their meaning and class. A code that is not in this table is treated as permanent.';
COMMENT ON COLUMN plivo.error_codes.code IS
    'Plivo''s ErrorCode as text (''000'' is success); plivo.message_logs.error_code holds these, or http_<status> when Plivo refused the request';
COMMENT ON COLUMN plivo.error_codes.class IS
    'permanent (sending the same again fails again), transient (may succeed later), limited_retry (retry a few times at most), resend_allowed (expired unsent in Plivo''s queue, not charged: may be sent again), retry_once; NULL for 000 (success). Unknown codes: permanent.';
COMMENT ON COLUMN plivo.error_codes.transient IS
    'true when a later attempt may succeed (every class but permanent); false for permanent codes, for 000 and, by rule, for unknown codes';

INSERT INTO plivo.error_codes (code, meaning, class) VALUES
    ('000',  'success', NULL),
    ('10',   'invalid message', 'permanent'),
    ('20',   'carrier network error', 'transient'),
    ('30',   'spam detected (permanent for this content)', 'permanent'),
    ('40',   'invalid source number', 'permanent'),
    ('50',   'invalid destination (bad, landline, not capable)', 'permanent'),
    ('60',   'loop detected', 'permanent'),
    ('70',   'destination permanently unavailable', 'permanent'),
    ('80',   'destination temporarily unavailable', 'transient'),
    ('90',   'no route available', 'limited_retry'),
    ('100',  'prohibited by carrier', 'permanent'),
    ('110',  'message too long', 'permanent'),
    ('120',  'MMS over 5 MB', 'permanent'),
    ('200',  'recipient opted out (STOP)', 'permanent'),
    ('201',  'US toll-free to Canada blocked', 'permanent'),
    ('300',  'failed to dispatch', 'transient'),
    ('420',  'expired in Plivo''s queue (not charged)', 'resend_allowed'),
    ('450',  'country barred by geo permissions', 'permanent'),
    ('900',  'insufficient credit (all sends fail for about 2 minutes after)', 'transient'),
    ('910',  'account disabled', 'permanent'),
    ('1000', 'unknown', 'retry_once');

ALTER TABLE plivo.error_codes ENABLE ROW LEVEL SECURITY;

-------------------------------------------------------------------------------
-- plivo.queue_health: one row, cheap enough to poll. The queue counts come from the
-- partial indexes (message_logs_due_idx for queued/retrying, message_logs_leased_idx
-- for sending), the last hour from message_events' created_at index, the worker from
-- shared memory.
-------------------------------------------------------------------------------
CREATE VIEW plivo.queue_health WITH (security_invoker = true) AS
SELECT waiting.queued_due,
       waiting.scheduled,
       waiting.oldest_due_age,
       leased.in_flight,
       waiting.retrying,
       waiting.unsettled + leased.unsettled AS unsettled,
       recent.failed_last_hour,
       recent.sent_last_hour,
       w.preloaded AS worker_preloaded,
       w.running AS worker_running,
       w.paused AS worker_paused,
       w.pid AS worker_pid,
       w.started_at AS worker_started_at,
       w.heartbeat_at AS worker_heartbeat_at,
       pg_catalog.clock_timestamp() - w.heartbeat_at AS worker_heartbeat_age,
       waiting.oldest_unsettled_age
FROM (SELECT count(*) FILTER (WHERE m.unsettled_since IS NULL
                                AND m.next_attempt_at <= pg_catalog.now()) AS queued_due,
             count(*) FILTER (WHERE m.unsettled_since IS NULL
                                AND m.next_attempt_at > pg_catalog.now()) AS scheduled,
             pg_catalog.now() - min(m.next_attempt_at) FILTER (
                 WHERE m.unsettled_since IS NULL
                   AND m.next_attempt_at <= pg_catalog.now()) AS oldest_due_age,
             count(*) FILTER (WHERE m.status = 'retrying') AS retrying,
             count(*) FILTER (WHERE m.unsettled_since IS NOT NULL) AS unsettled,
             pg_catalog.now() - min(m.unsettled_since) AS oldest_unsettled_age
      FROM plivo.message_logs m
      WHERE m.status IN ('queued', 'retrying')) waiting,
     (SELECT count(*) AS in_flight,
             count(*) FILTER (WHERE m.unsettled_since IS NOT NULL) AS unsettled
      FROM plivo.message_logs m
      WHERE m.status = 'sending') leased,
     (SELECT count(DISTINCT e.message_id) FILTER (WHERE e.new_status = 'failed') AS failed_last_hour,
             count(DISTINCT e.message_id) FILTER (WHERE e.new_status = 'sent') AS sent_last_hour
      FROM plivo.message_events e
      WHERE e.created_at >= pg_catalog.now() - interval '1 hour'
        AND e.new_status IN ('failed', 'sent')) recent,
     plivo.worker_status() w;

COMMENT ON VIEW plivo.queue_health IS
    'One row: the queue (due, scheduled, age of the oldest due message, in flight, retrying, unsettled and the age of the oldest of them), messages that became failed or sent in the last hour, and the dispatcher worker';
COMMENT ON COLUMN plivo.queue_health.queued_due IS 'queued or retrying messages whose next_attempt_at has come (not those waiting to be settled)';
COMMENT ON COLUMN plivo.queue_health.scheduled IS 'queued or retrying messages whose next_attempt_at is in the future (not those waiting to be settled)';
COMMENT ON COLUMN plivo.queue_health.oldest_due_age IS 'how long the longest-waiting due message has been due (NULL when none)';
COMMENT ON COLUMN plivo.queue_health.in_flight IS 'messages in status sending (claimed for an attempt)';
COMMENT ON COLUMN plivo.queue_health.retrying IS 'messages in status retrying, due or not';
COMMENT ON COLUMN plivo.queue_health.unsettled IS 'messages not yet final whose last attempt may have reached Plivo (unsettled_since is set): waiting to be settled with Plivo, oldest first within its list API''s limit, and never resent before';
COMMENT ON COLUMN plivo.queue_health.oldest_unsettled_age IS 'how long ago the uncertain attempt of the oldest message waiting to be settled started (NULL when none)';
COMMENT ON COLUMN plivo.queue_health.failed_last_hour IS 'messages that became failed in the last hour (from plivo.message_events)';
COMMENT ON COLUMN plivo.queue_health.sent_last_hour IS 'messages Plivo accepted (became sent) in the last hour (from plivo.message_events)';
COMMENT ON COLUMN plivo.queue_health.worker_paused IS 'true while plivo.paused holds the worker back from starting new attempts (NULL when no worker runs)';
COMMENT ON COLUMN plivo.queue_health.worker_heartbeat_age IS 'time since the worker''s last heartbeat (by the clock, not the transaction start); a large value means it is stuck';

-------------------------------------------------------------------------------
-- plivo.delivery_stats: per UTC day of created_at and sender. "sent" counts every
-- message Plivo accepted: sent, delivered, undelivered, and failed or rejected with a
-- Plivo uuid (a failure reported by Plivo after it accepted the message). Times are
-- measured from created_at to the message's first event into sent / delivered.
-------------------------------------------------------------------------------
CREATE VIEW plivo.delivery_stats WITH (security_invoker = true) AS
WITH msg AS NOT MATERIALIZED (
    SELECT (m.created_at AT TIME ZONE 'UTC')::date AS day,
           -- through a Powerpack, until Plivo names the number: the pack
           coalesce(m.sender, 'powerpack ' || m.powerpack_uuid) AS sender,
           m.status,
           m.error_code,
           m.units,
           m.total_amount,
           p.reached_plivo,
           CASE WHEN p.reached_plivo THEN ev.first_sent_at - m.created_at END AS time_to_sent,
           CASE WHEN m.status = 'delivered' THEN ev.first_delivered_at - m.created_at END
               AS time_to_delivered
    FROM plivo.message_logs m
    CROSS JOIN LATERAL (SELECT m.status IN ('sent', 'delivered', 'undelivered')
                               OR (m.status IN ('failed', 'rejected')
                                   AND m.plivo_message_uuid IS NOT NULL) AS reached_plivo) p
    -- one probe of message_events_message_idx per message, for both times
    CROSS JOIN LATERAL (
        SELECT min(e.created_at) FILTER (WHERE e.new_status = 'sent') AS first_sent_at,
               min(e.created_at) FILTER (WHERE e.new_status = 'delivered') AS first_delivered_at
        FROM plivo.message_events e
        WHERE e.message_id = m.id AND e.new_status IN ('sent', 'delivered')) ev
),
totals AS NOT MATERIALIZED (
    SELECT msg.day,
           msg.sender,
           count(*) AS enqueued,
           count(*) FILTER (WHERE msg.reached_plivo) AS sent,
           count(*) FILTER (WHERE msg.status = 'delivered') AS delivered,
           count(*) FILTER (WHERE msg.status = 'undelivered') AS undelivered,
           count(*) FILTER (WHERE msg.status = 'failed') AS failed,
           count(*) FILTER (WHERE msg.status = 'rejected') AS rejected,
           count(*) FILTER (WHERE msg.status = 'cancelled') AS cancelled,
           sum(msg.units) AS units,
           sum(msg.total_amount) AS spend,
           count(*) FILTER (WHERE msg.total_amount IS NOT NULL) AS priced,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY msg.time_to_sent) AS median_time_to_sent,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY msg.time_to_sent) AS p95_time_to_sent,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY msg.time_to_delivered) AS median_time_to_delivered,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY msg.time_to_delivered) AS p95_time_to_delivered
    FROM msg
    GROUP BY msg.day, msg.sender
),
codes AS NOT MATERIALIZED (
    SELECT c.day,
           c.sender,
           jsonb_agg(jsonb_build_object('code', c.error_code, 'count', c.n, 'meaning', ec.meaning)
                     ORDER BY c.n DESC, c.error_code) AS top_error_codes
    FROM (SELECT msg.day, msg.sender, msg.error_code, count(*) AS n,
                 row_number() OVER (PARTITION BY msg.day, msg.sender
                                    ORDER BY count(*) DESC, msg.error_code) AS rank
          FROM msg
          WHERE msg.error_code IS NOT NULL AND msg.error_code <> '000'
          GROUP BY msg.day, msg.sender, msg.error_code) c
    LEFT JOIN plivo.error_codes ec ON ec.code = c.error_code
    WHERE c.rank <= 3
    GROUP BY c.day, c.sender
)
SELECT t.day,
       t.sender,
       t.enqueued,
       t.sent,
       t.delivered,
       t.undelivered,
       t.failed,
       t.rejected,
       round(t.delivered::numeric / NULLIF(t.delivered + t.undelivered, 0), 4) AS delivery_rate,
       t.median_time_to_sent,
       t.p95_time_to_sent,
       t.median_time_to_delivered,
       t.p95_time_to_delivered,
       coalesce(codes.top_error_codes, '[]'::jsonb) AS top_error_codes,
       t.cancelled,
       t.units,
       t.spend,
       t.priced
FROM totals t
LEFT JOIN codes ON codes.day = t.day AND codes.sender = t.sender;

COMMENT ON VIEW plivo.delivery_stats IS
    'Per UTC day of created_at and sender: messages enqueued, sent (accepted by Plivo), delivered, undelivered, failed, rejected, cancelled; delivery rate; median and 95th percentile time to sent and to delivered; the 3 most frequent error codes; units and spend as Plivo reported them';
COMMENT ON COLUMN plivo.delivery_stats.day IS 'UTC date of created_at';
COMMENT ON COLUMN plivo.delivery_stats.sent IS 'messages Plivo accepted: status sent, delivered or undelivered, or failed/rejected with a plivo_message_uuid';
COMMENT ON COLUMN plivo.delivery_stats.failed IS 'messages in status failed, whether Plivo refused them, the attempts ran out, or Plivo reported the failure';
COMMENT ON COLUMN plivo.delivery_stats.delivery_rate IS 'delivered / (delivered + undelivered), 4 decimals; NULL when neither';
COMMENT ON COLUMN plivo.delivery_stats.median_time_to_sent IS 'median of (first event into sent) - created_at, over the messages Plivo accepted';
COMMENT ON COLUMN plivo.delivery_stats.p95_time_to_sent IS '95th percentile (interpolated) of (first event into sent) - created_at';
COMMENT ON COLUMN plivo.delivery_stats.median_time_to_delivered IS 'median of (first event into delivered) - created_at, over the delivered messages';
COMMENT ON COLUMN plivo.delivery_stats.p95_time_to_delivered IS '95th percentile (interpolated) of (first event into delivered) - created_at';
COMMENT ON COLUMN plivo.delivery_stats.top_error_codes IS
    'jsonb array of up to 3 {code, count, meaning}, most frequent first (ties by code); meaning is NULL for codes not in plivo.error_codes (such as http_400); 000 is not an error';
COMMENT ON COLUMN plivo.delivery_stats.cancelled IS 'messages cancelled with plivo.cancel_message() before they were sent';
COMMENT ON COLUMN plivo.delivery_stats.units IS 'sum of the units Plivo billed (from delivery reports); NULL when none reported any';
COMMENT ON COLUMN plivo.delivery_stats.spend IS 'sum of TotalAmount of the delivery reports, in the account''s currency; NULL when none reported any';
COMMENT ON COLUMN plivo.delivery_stats.priced IS 'messages whose charge is known (spend covers these only)';
