# ALTER EXTENSION pg_plivo UPDATE from every released version, on a server already running
# this library, with messages in every status (fill_every_status in lib.sh).
# Nothing is lost or changed, the worker carries on (each message sent once), and the
# updated schema is the one a fresh install of default_version makes.
main_pghost="$PGHOST"; main_pgport="$PGPORT"
default_version="$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$REPO_ROOT/sql/pg_plivo.control")"
released_versions="$(sed -n 's|.*sql/pg_plivo--\([^-]*\)\.sql$|\1|p' "$REPO_ROOT/sql/released.sha256")"

# The plivo schema as pg_dump --binary-upgrade writes it (every member of the extension,
# which a plain dump leaves to CREATE EXTENSION), without the oids, transaction ids and
# sequence positions it pins.
schema_of() {
    "$PG_BIN/pg_dump" --schema-only --binary-upgrade --no-owner -d "$1" \
        | grep -v -e 'binary_upgrade_' -e '^--' -e '^$' -e '^SET ' -e 'set_config' \
                  -e '^\\restrict' -e '^\\unrestrict' -e '^UPDATE pg_catalog.pg_class$' \
                  -e 'relfrozenxid' -e "^WHERE oid = '" -e 'pg_catalog.setval('
}

for from_version in $released_versions; do
    [ "$from_version" = "$default_version" ] && continue
    label="update $from_version to $default_version"
    sim_reset
    upgrade_dir="$E2E_DIR/update-$from_version"
    mkdir -p "$upgrade_dir"
    start_e2e_cluster "$upgrade_dir" "$from_version"
    expect_eq "$label: installed at $from_version" "$from_version" \
        "$(sql "SELECT extversion FROM pg_extension WHERE extname = 'pg_plivo'")"

    fill_every_status "$label"

    before_digest="$(finished_digest)"
    before_reports="$(sql "SELECT count(*) FROM plivo.delivery_reports")"
    # A role the DBA let send: send_sms gets a new signature, and the update says which
    # grant to renew (it does not renew it itself: pg_dump would then leave it out).
    sql "CREATE ROLE app_sender; GRANT USAGE ON SCHEMA plivo TO app_sender;
         GRANT EXECUTE ON FUNCTION plivo.send_sms TO app_sender" >/dev/null
    update_output="$(psql -X -qAt -v ON_ERROR_STOP=1 -c "ALTER EXTENSION pg_plivo UPDATE" 2>&1)"
    check "$label: ALTER EXTENSION pg_plivo UPDATE" $?
    expect_eq "$label: the update names the grant to renew" \
        "HINT:  Run GRANT EXECUTE ON FUNCTION plivo.send_sms TO app_sender; after the update." \
        "$(echo "$update_output" | grep '^HINT:' | head -1)"
    sql "GRANT EXECUTE ON FUNCTION plivo.send_sms TO app_sender" >/dev/null
    expect_eq "$label: with it the role runs the new send_sms, and nothing more" "true false" \
        "$(sql "SELECT has_function_privilege('app_sender', p.oid, 'EXECUTE')::text FROM pg_proc p
                WHERE p.pronamespace = 'plivo'::regnamespace AND p.proname IN ('send_sms', 'send_mms')
                ORDER BY p.proname DESC" | tr '\n' ' ' | sed 's/ $//')"
    sql "REVOKE ALL ON FUNCTION plivo.send_sms FROM app_sender; REVOKE USAGE ON SCHEMA plivo FROM app_sender;
         DROP ROLE app_sender" >/dev/null
    expect_eq "$label: now at $default_version" "$default_version" \
        "$(sql "SELECT extversion FROM pg_extension WHERE extname = 'pg_plivo'")"
    expect_eq "$label: the 65 messages are all there" 65 "$(sql "SELECT count(*) FROM plivo.message_logs")"
    expect_eq "$label: the 10 queued still wait" 10 \
        "$(sql "SELECT count(*) FROM plivo.message_logs WHERE status = 'queued'")"
    expect_eq "$label: finished messages, their events and reports unchanged" \
        "$before_digest" "$(finished_digest)"
    python3 -c "import sys; sys.exit(0 if int('$before_reports') >= 30 else 1)"
    check "$label: the delivery reports were kept ($before_reports)" $?

    # The worker carries on: each message is sent once.
    sim_config '{"latency_ms": 0}'
    reload_with "plivo.paused = off"
    check_every_status_ends_sent "$label"
    sql "SELECT plivo.send_sms('+14155556001', 'after the update')" >/dev/null
    wait_for 20 "(SELECT status = 'sent' FROM plivo.message_logs WHERE message_text = 'after the update')"
    check "$label: a message enqueued after the update is sent" $?

    # The updated schema is a fresh install's.
    sql "CREATE DATABASE fresh_install" >/dev/null
    psql -X -qAt -v ON_ERROR_STOP=1 -d fresh_install -c "CREATE EXTENSION pg_plivo" >/dev/null
    schema_of postgres >"$upgrade_dir/updated.sql"
    schema_of fresh_install >"$upgrade_dir/fresh.sql"
    schema_difference="$(diff "$upgrade_dir/fresh.sql" "$upgrade_dir/updated.sql")"
    python3 -c "import sys; sys.exit(0 if $(wc -l <"$upgrade_dir/fresh.sql") > 100 else 1)"
    check "$label: pg_dump --binary-upgrade describes the schema ($(wc -l <"$upgrade_dir/fresh.sql") lines)" $?
    expect_eq "$label: the updated schema is a fresh $default_version install's" "" "$schema_difference"

    cluster_stop "$upgrade_dir/pg"
    export PGHOST="$main_pghost" PGPORT="$main_pgport"
done
