-------------------------------------------------------------------------------
-- Consent. plivo.opt_outs holds who must not be texted: one row per recipient (for
-- all our numbers, sender NULL) or per recipient and sender number, as
-- plivo.opt_out_scope says. It is fed by inbound messages (a revocation word, or
-- Plivo's MessageIntent optout), by Plivo's error 200 (Plivo blocked the send because
-- the recipient opted out with Plivo), and by plivo.opt_out() for DBAs and the service
-- role; an opt-in word, Plivo's optin or plivo.opt_in() removes the row. Every change
-- is in plivo.consent_events.
--
-- Sending honours it three times: an INSERT (and so send_mms/send_sms) to a recipient
-- who opted out is refused (SQLSTATE PT451); an opt-out fails the messages to them
-- still queued; and the worker's claim fails any it still finds (one enqueued while
-- the opt-out committed). consent_override lets through only the one confirmation of
-- a new opt-out, the answer to a HELP, and transactional messages where
-- plivo.allow_transactional_override is on; each use on an opted-out recipient is
-- recorded.
-------------------------------------------------------------------------------

-- Numbers as message_logs keeps them (E.164); 22023 naming `field` otherwise.
CREATE FUNCTION plivo._phone_number(number text, field text DEFAULT 'number') RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE
SET search_path = ''
AS 'MODULE_PATHNAME', 'plivo_phone_number';

-- 'opt_out', 'opt_in', 'help' or NULL: whether the whole text is one of the keywords of
-- plivo.opt_out_keywords, plivo.opt_in_keywords or plivo.help_keywords.
CREATE FUNCTION plivo._consent_keyword(message_text text) RETURNS text
LANGUAGE c STABLE PARALLEL SAFE
SET search_path = ''
AS 'MODULE_PATHNAME', 'plivo_consent_keyword';

CREATE TABLE plivo.opt_outs (
    id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient                text NOT NULL,
    sender                   text,
    source                   text NOT NULL,
    reason                   text,
    inbound_message_id       bigint,
    message_id               uuid,
    opted_out_at             timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    recorded_by              text NOT NULL DEFAULT CURRENT_USER,
    confirmation_message_id  uuid,
    CONSTRAINT opt_outs_source_check CHECK (
        source IN ('inbound_keyword', 'plivo_intent', 'plivo_error_200', 'dba', 'api')),
    CONSTRAINT opt_outs_recipient_sender_key UNIQUE NULLS NOT DISTINCT (recipient, sender)
);
COMMENT ON TABLE plivo.opt_outs IS
    'Recipients who must not be texted (by any of our numbers when sender is NULL): when, how and what caused it';
COMMENT ON COLUMN plivo.opt_outs.sender IS
    'Our number the opt-out stops; NULL stops all of them (plivo.opt_out_scope = all_senders)';
COMMENT ON COLUMN plivo.opt_outs.source IS
    'inbound_keyword (a word of plivo.opt_out_keywords), plivo_intent (Plivo''s MessageIntent optout), plivo_error_200 (Plivo refused a send), dba or api (plivo.opt_out())';
COMMENT ON COLUMN plivo.opt_outs.inbound_message_id IS 'The plivo.inbound_messages row that opted them out';
COMMENT ON COLUMN plivo.opt_outs.message_id IS 'The plivo.message_logs row Plivo failed with error 200';
COMMENT ON COLUMN plivo.opt_outs.confirmation_message_id IS
    'The one confirmation sent (plivo.opt_out_reply), when one was';
SELECT pg_catalog.pg_extension_config_dump('plivo.opt_outs', '');

CREATE TABLE plivo.consent_events (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action              text NOT NULL,
    recipient           text NOT NULL,
    sender              text,
    source              text NOT NULL,
    reason              text,
    inbound_message_id  bigint,
    message_id          uuid,
    recorded_at         timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    recorded_by         text NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT consent_events_action_check CHECK (action IN ('opt_out', 'opt_in', 'override'))
);
COMMENT ON TABLE plivo.consent_events IS
    'Every opt-out, opt-in and consent override: who, which of our numbers (NULL: all), how (source), why and by whom';
COMMENT ON COLUMN plivo.consent_events.source IS
    'As plivo.opt_outs.source; for an override, the consent_override used';
CREATE INDEX consent_events_recipient_idx ON plivo.consent_events (recipient, recorded_at);
CREATE INDEX consent_events_recorded_at_idx ON plivo.consent_events (recorded_at);
SELECT pg_catalog.pg_extension_config_dump('plivo.consent_events', '');

-- 'api' through PostgREST (a JWT came with the request), 'dba' otherwise.
CREATE FUNCTION plivo._call_source() RETURNS text
LANGUAGE sql STABLE
SET search_path = ''
AS $$
    SELECT CASE WHEN NULLIF(pg_catalog.current_setting('request.jwt.claims', true), '') IS NULL
                THEN 'dba' ELSE 'api' END
$$;

-- The ledger is written by its owner (SECURITY DEFINER, like the message audit): the
-- roles that may record an opt-out or opt-in need no write access to it.

-- Records an opt-out (sender NULL: from all our numbers) and fails the messages to
-- them still waiting to be sent. opt_out_id is NULL when they had opted out already.
-- The queued rows are locked here: a claim taking one of them at the same moment either
-- waits for this and then skips it, or got it first (it was in flight before the
-- opt-out committed, and failed_messages does not count it).
CREATE FUNCTION plivo._record_opt_out(
    recipient text, sender text, source text, reason text,
    inbound_message_id bigint DEFAULT NULL, message_id uuid DEFAULT NULL,
    OUT opt_out_id bigint, OUT failed_messages bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    failed_messages := 0;
    INSERT INTO plivo.opt_outs AS o (recipient, sender, source, reason, inbound_message_id, message_id)
    VALUES (_record_opt_out.recipient, _record_opt_out.sender, _record_opt_out.source,
            _record_opt_out.reason, _record_opt_out.inbound_message_id, _record_opt_out.message_id)
    ON CONFLICT ON CONSTRAINT opt_outs_recipient_sender_key DO NOTHING
    RETURNING o.id INTO opt_out_id;
    IF opt_out_id IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO plivo.consent_events (action, recipient, sender, source, reason,
                                      inbound_message_id, message_id)
    VALUES ('opt_out', _record_opt_out.recipient, _record_opt_out.sender, _record_opt_out.source,
            _record_opt_out.reason, _record_opt_out.inbound_message_id, _record_opt_out.message_id);

    -- A message whose last attempt may have reached Plivo is settled first (it may have
    -- been sent); the claim fails it after that if it was not.
    PERFORM pg_catalog.set_config('plivo.event_cause', 'opt_out', true);
    UPDATE plivo.message_logs m
    SET status = 'failed', next_attempt_at = pg_catalog.now(),
        last_error = pg_catalog.format('not sent: %s opted out (%s, plivo.opt_outs id %s)',
                                       m.recipient, _record_opt_out.source, opt_out_id)
    WHERE m.recipient = _record_opt_out.recipient
      AND (_record_opt_out.sender IS NULL OR m.sender = _record_opt_out.sender)
      AND m.status IN ('queued', 'retrying') AND m.unsettled_since IS NULL
      AND m.consent_override IS NULL;
    GET DIAGNOSTICS failed_messages = ROW_COUNT;
    PERFORM pg_catalog.set_config('plivo.event_cause', '', true);
END
$$;

-- Removes the opt-outs that stop `sender` (NULL: any of ours) from texting the
-- recipient, with their audit; returns how many.
CREATE FUNCTION plivo._record_opt_in(
    recipient text, sender text, source text, reason text,
    inbound_message_id bigint DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    removed integer;
BEGIN
    WITH gone AS (
        DELETE FROM plivo.opt_outs o
        WHERE o.recipient = _record_opt_in.recipient
          AND (_record_opt_in.sender IS NULL OR o.sender IS NULL OR o.sender = _record_opt_in.sender)
        RETURNING o.recipient, o.sender)
    INSERT INTO plivo.consent_events (action, recipient, sender, source, reason, inbound_message_id)
    SELECT 'opt_in', g.recipient, g.sender, _record_opt_in.source, _record_opt_in.reason,
           _record_opt_in.inbound_message_id
    FROM gone g;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;

CREATE FUNCTION plivo.opt_out(number text, reason text DEFAULT NULL, sender_number text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    their_number text := plivo._phone_number(number, 'number');
    our_number text;
    recorded record;
BEGIN
    IF sender_number IS NOT NULL THEN
        our_number := plivo._phone_number(sender_number, 'sender_number');
    END IF;
    recorded := plivo._record_opt_out(their_number, our_number, plivo._call_source(),
                                      NULLIF(pg_catalog.btrim(reason), ''));
    RETURN pg_catalog.jsonb_build_object(
        'result', CASE WHEN recorded.opt_out_id IS NULL THEN 'already_opted_out' ELSE 'opted_out' END,
        'number', their_number, 'sender_number', our_number,
        'opt_out_id', recorded.opt_out_id, 'failed_messages', recorded.failed_messages);
END
$$;
COMMENT ON FUNCTION plivo.opt_out(text, text, text) IS
    'Records that a number must not be texted (by sender_number only, when given): fails its queued messages and refuses new ones; returns {"result": opted_out|already_opted_out, ...}';

CREATE FUNCTION plivo.opt_in(number text, sender_number text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    their_number text := plivo._phone_number(number, 'number');
    our_number text;
    removed integer;
BEGIN
    IF sender_number IS NOT NULL THEN
        our_number := plivo._phone_number(sender_number, 'sender_number');
    END IF;
    removed := plivo._record_opt_in(their_number, our_number, plivo._call_source(), NULL);
    RETURN pg_catalog.jsonb_build_object(
        'result', CASE WHEN removed = 0 THEN 'not_opted_out' ELSE 'opted_in' END,
        'number', their_number, 'sender_number', our_number, 'removed', removed);
END
$$;
COMMENT ON FUNCTION plivo.opt_in(text, text) IS
    'Removes the opt-outs of a number (those for sender_number and for all numbers, when given; else all): only after they consented again';

-- Called by the enqueue trigger (extension/enqueue.cpp) when the recipient opted out
-- or consent_override is set: refuses the message, or lets it through and records why.
CREATE FUNCTION plivo._consent_gate(
    recipient text, sender text, consent_override text, message_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    found record;
    how text;
    slot bigint;
BEGIN
    SELECT o.id, o.sender, o.source, o.reason, o.opted_out_at, o.confirmation_message_id
    INTO found FROM plivo.opt_outs o
    WHERE o.recipient = _consent_gate.recipient
      -- sender NULL: a Powerpack picks the number, so an opt-out from any of ours counts
      AND (o.sender IS NULL OR _consent_gate.sender IS NULL OR o.sender = _consent_gate.sender)
    ORDER BY o.sender NULLS FIRST LIMIT 1;

    IF consent_override IS NULL THEN
        IF found.id IS NULL THEN
            RETURN;
        END IF;
        how := CASE found.source
            WHEN 'inbound_keyword' THEN 'by texting a revocation word'
            WHEN 'plivo_intent' THEN 'by texting a word Plivo counts as an opt-out'
            WHEN 'plivo_error_200' THEN 'with Plivo (Plivo refused a message with error 200)'
            WHEN 'dba' THEN 'as recorded by plivo.opt_out()'
            ELSE 'as recorded through the API' END;
        -- PT451: PostgREST answers HTTP 451 (unavailable for legal reasons).
        RAISE EXCEPTION 'recipient % opted out', recipient
            USING ERRCODE = 'PT451',
            DETAIL = pg_catalog.format('%s opted out of messages from %s on %s, %s%s. Nothing was enqueued.',
                recipient, coalesce(found.sender, 'all our numbers'),
                pg_catalog.to_char(found.opted_out_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
                how, coalesce(' (' || found.reason || ')', '')),
            HINT = 'They opt in again by texting START (plivo.opt_in_keywords) to the number; '
                   'call plivo.opt_in() only when they consented again another way.';
    END IF;

    IF consent_override = 'opt_out_confirmation' THEN
        UPDATE plivo.opt_outs o SET confirmation_message_id = _consent_gate.message_id
        WHERE o.id = found.id AND o.confirmation_message_id IS NULL
          AND o.opted_out_at > pg_catalog.clock_timestamp() - interval '5 minutes'
        RETURNING o.id INTO slot;
        IF slot IS NULL THEN
            RAISE EXCEPTION 'consent_override ''opt_out_confirmation'' is only for the one confirmation of an opt-out'
                USING ERRCODE = 'invalid_parameter_value',
                DETAIL = pg_catalog.format('%s has no opt-out of the last 5 minutes that is still unconfirmed.', recipient),
                HINT = 'Set plivo.opt_out_reply: pg_plivo sends the confirmation itself.';
        END IF;
    ELSIF consent_override = 'help_reply' THEN
        UPDATE plivo.inbound_messages i SET reply_message_id = _consent_gate.message_id
        WHERE i.id = (SELECT h.id FROM plivo.inbound_messages h
                      WHERE h.from_number = _consent_gate.recipient AND h.to_number = _consent_gate.sender
                        AND h.consent_action = 'help' AND h.reply_message_id IS NULL
                        AND h.received_at > pg_catalog.clock_timestamp() - interval '5 minutes'
                      ORDER BY h.received_at DESC LIMIT 1)
        RETURNING i.id INTO slot;
        IF slot IS NULL THEN
            RAISE EXCEPTION 'consent_override ''help_reply'' is only for the answer to a HELP message'
                USING ERRCODE = 'invalid_parameter_value',
                DETAIL = pg_catalog.format('%s sent %s no HELP in the last 5 minutes that is still unanswered.',
                                           recipient, sender),
                HINT = 'Set plivo.help_reply: pg_plivo answers HELP itself.';
        END IF;
    ELSIF consent_override = 'transactional' THEN
        IF NOT pg_catalog.current_setting('plivo.allow_transactional_override')::boolean THEN
            RAISE EXCEPTION 'consent_override ''transactional'' is not allowed'
                USING ERRCODE = 'insufficient_privilege',
                DETAIL = 'plivo.allow_transactional_override is off.',
                HINT = 'A superuser may turn plivo.allow_transactional_override on for messages that are not marketing (one-time passwords, fraud alerts).';
        END IF;
    ELSE
        RAISE EXCEPTION 'consent_override must be ''opt_out_confirmation'', ''help_reply'' or ''transactional'''
            USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('The value was %L.', consent_override),
            HINT = 'Leave consent_override out (NULL) for ordinary messages.';
    END IF;

    IF found.id IS NOT NULL THEN
        INSERT INTO plivo.consent_events (action, recipient, sender, source, reason, message_id)
        VALUES ('override', recipient, sender, consent_override,
                pg_catalog.format('sent despite plivo.opt_outs id %s (%s)', found.id, found.source),
                message_id);
    END IF;
END
$$;

-- Plivo's error 200: Plivo refused the message because the recipient opted out with
-- Plivo (STOP to that number). Recorded like their own STOP, for the sender or all.
CREATE FUNCTION plivo._opt_out_on_error_200() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = ''
AS $$
BEGIN
    PERFORM plivo._record_opt_out(
        NEW.recipient,
        CASE WHEN pg_catalog.current_setting('plivo.opt_out_scope') = 'sender' THEN NEW.sender END,
        'plivo_error_200', pg_catalog.format('Plivo error 200 for a message from %s', NEW.sender),
        NULL, NEW.id);
    RETURN NULL;
END
$$;
-- Not for our own replies: Plivo may block the confirmation of an opt-out it knows too,
-- and such a late report must not opt out again someone who has since texted START.
CREATE TRIGGER message_logs_error_200_opt_out AFTER UPDATE OF error_code ON plivo.message_logs
    FOR EACH ROW WHEN (NEW.error_code = '200' AND OLD.error_code IS DISTINCT FROM '200'
                       AND NEW.consent_override IS DISTINCT FROM 'opt_out_confirmation'
                       AND NEW.consent_override IS DISTINCT FROM 'help_reply')
    EXECUTE FUNCTION plivo._opt_out_on_error_200();

-- What an inbound message means for consent, and the reply it gets: called by
-- handle_inbound_message for each message it stores (never for a repeat). Returns the
-- action ('opt_out', 'opt_in', 'help' or NULL) and the reply enqueued, if any.
CREATE FUNCTION plivo._apply_inbound_consent(
    inbound_id bigint, their_number text, our_number text, message_text text, intent text,
    OUT action text, OUT reply_message_id uuid)
RETURNS record
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    keyword text := plivo._consent_keyword(message_text);
    source text;
    scoped_sender text;
    recorded record;
    reply_text text;
    reply_override text;
BEGIN
    action := CASE WHEN intent = 'optout' OR keyword = 'opt_out' THEN 'opt_out'
                   WHEN intent = 'optin' OR keyword = 'opt_in' THEN 'opt_in'
                   WHEN intent = 'help' OR keyword = 'help' THEN 'help' END;
    IF action IS NULL THEN
        RETURN;
    END IF;
    -- Our own list first: it also holds the words Plivo does not know (REVOKE, OPT OUT).
    source := CASE WHEN keyword IS NOT DISTINCT FROM action THEN 'inbound_keyword'
                   ELSE 'plivo_intent' END;
    UPDATE plivo.inbound_messages i SET consent_action = action WHERE i.id = inbound_id;
    scoped_sender := CASE WHEN pg_catalog.current_setting('plivo.opt_out_scope') = 'sender'
                          THEN our_number END;

    IF action = 'opt_out' THEN
        recorded := plivo._record_opt_out(their_number, scoped_sender, source,
                                          pg_catalog.left(pg_catalog.btrim(message_text), 160),
                                          inbound_id);
        IF recorded.opt_out_id IS NULL THEN
            RETURN;  -- opted out already: no second confirmation
        END IF;
        reply_text := pg_catalog.current_setting('plivo.opt_out_reply');
        reply_override := 'opt_out_confirmation';
    ELSIF action = 'opt_in' THEN
        PERFORM plivo._record_opt_in(their_number, our_number, source,
                                     pg_catalog.left(pg_catalog.btrim(message_text), 160),
                                     inbound_id);
        RETURN;
    ELSE
        reply_text := pg_catalog.current_setting('plivo.help_reply');
        reply_override := 'help_reply';
    END IF;

    IF pg_catalog.btrim(reply_text) = '' THEN
        RETURN;
    END IF;
    -- The reply goes through the queue (rate limited, audited, sent once). If it cannot
    -- be enqueued (say, our number is a short code the validation refuses), the inbound
    -- message is still stored: Plivo must get its 2xx.
    BEGIN
        INSERT INTO plivo.message_logs (sender, recipient, message_text, message_type, consent_override)
        VALUES (our_number, their_number, reply_text, 'sms', reply_override)
        RETURNING id INTO reply_message_id;
        UPDATE plivo.inbound_messages i SET reply_message_id = _apply_inbound_consent.reply_message_id
        WHERE i.id = inbound_id;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'pg_plivo: the % reply to inbound message % was not enqueued: %',
            action, inbound_id, SQLERRM;
    END;
END
$$;

-- Opt-outs and opt-ins per day and source, for DBAs.
CREATE VIEW plivo.opt_out_stats WITH (security_invoker = true) AS
    SELECT pg_catalog.date_trunc('day', e.recorded_at) AS day, e.source,
           pg_catalog.count(*) FILTER (WHERE e.action = 'opt_out') AS opt_outs,
           pg_catalog.count(*) FILTER (WHERE e.action = 'opt_in') AS opt_ins,
           pg_catalog.count(*) FILTER (WHERE e.action = 'override') AS overrides
    FROM plivo.consent_events e
    GROUP BY 1, 2;
COMMENT ON VIEW plivo.opt_out_stats IS
    'Opt-outs, opt-ins and consent overrides per day (in the session''s time zone) and source';
