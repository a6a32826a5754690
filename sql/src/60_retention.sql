-------------------------------------------------------------------------------
-- Retention: delete old messages that have reached a final status, with their
-- audit trail. The worker calls this on the schedule set by plivo.retention; a DBA
-- may call it too.
--
-- Final here means delivered, undelivered, failed, rejected, and sent (a message may
-- stay sent forever when the carrier sends no receipt). queued, sending and retrying
-- messages are never deleted, however old.
--
-- Each batch locks up to batch_size messages with FOR UPDATE SKIP LOCKED (a row the
-- dispatcher or a delivery report holds is skipped, never waited for, and taken by a
-- later run), deletes their delivery reports and events, then the messages. Batches
-- walk message_logs_created_at_idx forward from where the previous batch stopped, so
-- the rows already deleted in this transaction are not scanned again. Then delivery
-- reports that matched no message, V2 webhook nonces and inbound messages, older than
-- the same cutoff. The consent ledger is never purged.
-------------------------------------------------------------------------------
-- SECURITY DEFINER: the audit trail (message_events) is not deletable by any role but
-- its owner; this function is the one way to retire it, and only service_role (and
-- superusers) may run it.
CREATE FUNCTION plivo.purge_message_logs(older_than interval, batch_size integer DEFAULT 10000,
                                         max_batches integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    cutoff       timestamptz;
    resume_from  timestamptz := '-infinity';
    batch_ids    uuid[];
    batch_last   timestamptz;
    deleted      bigint;
    purged       bigint := 0;
    batches      integer := 0;
BEGIN
    IF older_than IS NULL THEN
        RAISE EXCEPTION 'older_than must not be null' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass how old a message must be to be purged, for example interval ''90 days''.';
    END IF;
    IF older_than <= interval '0' THEN
        RAISE EXCEPTION 'older_than must be a positive interval' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('The value was "%s".', older_than),
            HINT = 'Pass how old a message must be to be purged, for example interval ''90 days''.';
    END IF;
    IF batch_size IS NULL THEN
        RAISE EXCEPTION 'batch_size must not be null' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass how many messages one DELETE may remove, for example 10000, or leave it out.';
    END IF;
    IF max_batches IS NOT NULL AND max_batches < 1 THEN
        RAISE EXCEPTION 'max_batches must be at least 1' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('The value was %s.', max_batches),
            HINT = 'Pass how many batches this call may delete, or NULL for all of them.';
    END IF;
    IF batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('The value was %s.', batch_size),
            HINT = 'Pass how many messages one DELETE may remove, for example 10000, or leave it out.';
    END IF;

    BEGIN
        cutoff := pg_catalog.now() - older_than;
    EXCEPTION WHEN datetime_field_overflow THEN
        RAISE EXCEPTION 'older_than is too large' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('The value was "%s".', older_than),
            HINT = 'Pass how old a message must be to be purged, for example interval ''90 days''.';
    END;
    LOOP
        -- Lock one batch, oldest first; rows someone else holds are skipped.
        SELECT pg_catalog.array_agg(b.id), pg_catalog.max(b.created_at)
        INTO batch_ids, batch_last
        FROM (SELECT m.id, m.created_at
              FROM plivo.message_logs m
              WHERE m.created_at >= resume_from
                AND m.created_at < cutoff
                AND m.status IN ('sent', 'delivered', 'undelivered', 'failed', 'rejected', 'cancelled')
              ORDER BY m.created_at
              LIMIT batch_size
              FOR UPDATE SKIP LOCKED) b;
        EXIT WHEN batch_ids IS NULL;

        -- Children first, so a foreign key to message_logs (with or without ON DELETE
        -- CASCADE) never stands in the way.
        DELETE FROM plivo.delivery_reports r WHERE r.message_id = ANY (batch_ids);
        DELETE FROM plivo.message_events e WHERE e.message_id = ANY (batch_ids);
        -- The rows are locked, so their status cannot have changed; checked again anyway.
        DELETE FROM plivo.message_logs m
        WHERE m.id = ANY (batch_ids)
          AND m.status IN ('sent', 'delivered', 'undelivered', 'failed', 'rejected', 'cancelled');
        GET DIAGNOSTICS deleted = ROW_COUNT;
        purged := purged + deleted;

        batches := batches + 1;
        EXIT WHEN pg_catalog.cardinality(batch_ids) < batch_size;
        -- The worker purges one batch per transaction, so that no lock is held long.
        EXIT WHEN max_batches IS NOT NULL AND batches >= max_batches;
        -- >= : messages created at the same instant as the last one may remain.
        resume_from := batch_last;
    END LOOP;

    -- Delivery reports for no message we know (result unknown_message) and V2 webhook
    -- nonces have no message to go with: they go by their own age. Nobody updates
    -- them, so there is no lock to skip.
    resume_from := '-infinity';
    LOOP
        WITH gone AS (
            DELETE FROM plivo.delivery_reports r
            WHERE r.ctid = ANY (ARRAY(
                SELECT o.ctid FROM plivo.delivery_reports o
                WHERE o.message_id IS NULL
                  AND o.received_at >= resume_from AND o.received_at < cutoff
                ORDER BY o.received_at
                LIMIT batch_size))
            RETURNING r.received_at)
        SELECT pg_catalog.count(*), pg_catalog.max(g.received_at) INTO deleted, batch_last
        FROM gone g;
        EXIT WHEN deleted < batch_size;
        resume_from := batch_last;
    END LOOP;
    resume_from := '-infinity';
    LOOP
        WITH gone AS (
            DELETE FROM plivo.webhook_nonces n
            WHERE n.ctid = ANY (ARRAY(
                SELECT o.ctid FROM plivo.webhook_nonces o
                WHERE o.first_seen >= resume_from AND o.first_seen < cutoff
                ORDER BY o.first_seen
                LIMIT batch_size))
            RETURNING n.first_seen)
        SELECT pg_catalog.count(*), pg_catalog.max(g.first_seen) INTO deleted, batch_last
        FROM gone g;
        EXIT WHEN deleted < batch_size;
        resume_from := batch_last;
    END LOOP;
    -- Inbound messages go by their age too. The consent ledger (opt_outs and
    -- consent_events) is kept: it is the record of who said STOP, and when.
    resume_from := '-infinity';
    LOOP
        WITH gone AS (
            DELETE FROM plivo.inbound_messages i
            WHERE i.ctid = ANY (ARRAY(
                SELECT o.ctid FROM plivo.inbound_messages o
                WHERE o.received_at >= resume_from AND o.received_at < cutoff
                ORDER BY o.received_at
                LIMIT batch_size))
            RETURNING i.received_at)
        SELECT pg_catalog.count(*), pg_catalog.max(g.received_at) INTO deleted, batch_last
        FROM gone g;
        EXIT WHEN deleted < batch_size;
        resume_from := batch_last;
    END LOOP;
    RETURN purged;
END
$$;

COMMENT ON FUNCTION plivo.purge_message_logs(interval, integer, integer) IS
    'Deletes messages in a final status (sent, delivered, undelivered, failed, rejected, cancelled) created more than older_than ago, with their events and delivery reports (and unmatched delivery reports, webhook nonces and inbound messages older than that; never opt-outs), batch_size messages per DELETE (at most max_batches batches when given), skipping rows locked by others; returns how many messages were deleted';
