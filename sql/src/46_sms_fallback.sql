-------------------------------------------------------------------------------
-- SMS fallback. An MMS with sms_fallback set that Plivo reports failed or undelivered
-- with an error an SMS would not hit (plivo.sms_fallback_error_codes: by default 50,
-- the destination cannot take MMS, and 120, media over 5 MB) is sent again as one SMS
-- with its text and media links. The two rows point at each other (fallback_of,
-- fallback_message_id); the unique index on fallback_of keeps it to one SMS, whatever
-- report comes twice.
-------------------------------------------------------------------------------
CREATE FUNCTION plivo._sms_fallback() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    codes text[];
    fallback_id uuid;
BEGIN
    codes := pg_catalog.regexp_split_to_array(pg_catalog.btrim(
        coalesce(pg_catalog.current_setting('plivo.sms_fallback_error_codes', true), '')), '\s*,\s*');
    IF NOT (NEW.error_code = ANY (codes)) THEN
        RETURN NULL;
    END IF;
    BEGIN
        -- As the MMS's caller would have enqueued it; validated and consent-checked by the
        -- same trigger as every message. An SMS that cannot be made (the text and links
        -- are too long, the recipient opted out, the MMS expired) is a WARNING: the
        -- report is still recorded.
        INSERT INTO plivo.message_logs (recipient, sender, message_text, message_type,
            callback_url, created_by, created_by_role, fallback_of, plivo_log, expires_at)
        VALUES (NEW.recipient, NEW.sender,
                pg_catalog.concat_ws(E'\n', NULLIF(NEW.message_text, ''),
                                     pg_catalog.array_to_string(NEW.media_urls, E'\n')),
                'sms', NEW.callback_url, NEW.created_by, NEW.created_by_role, NEW.id,
                NEW.plivo_log, NEW.expires_at)
        ON CONFLICT (fallback_of) WHERE fallback_of IS NOT NULL DO NOTHING
        RETURNING id INTO fallback_id;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'pg_plivo: no SMS fallback for message %: %', NEW.id, SQLERRM
            USING ERRCODE = SQLSTATE;
        RETURN NULL;
    END;
    IF fallback_id IS NOT NULL THEN
        UPDATE plivo.message_logs m SET fallback_message_id = fallback_id WHERE m.id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER message_logs_sms_fallback AFTER UPDATE OF status ON plivo.message_logs
    FOR EACH ROW
    WHEN (NEW.message_type = 'mms' AND NEW.sms_fallback
          AND NEW.status IN ('failed', 'undelivered') AND OLD.status IS DISTINCT FROM NEW.status
          AND NEW.error_code IS NOT NULL AND NEW.fallback_message_id IS NULL)
    EXECUTE FUNCTION plivo._sms_fallback();
