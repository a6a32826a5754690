# ALTER EXTENSION pg_plivo UPDATE from every released version, on a server already running
# this library, with messages in every status: delivered and undelivered ones with their
# events and delivery reports, failed ones, five on the wire and ten queued behind a pause.
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

# What must survive the update as it was: the finished messages, their events, reports.
finished_digest() {
    sql "SELECT md5(string_agg(row_text, ',' ORDER BY row_text)) FROM (
           SELECT m::text AS row_text FROM plivo.message_logs m
           WHERE status IN ('delivered', 'undelivered', 'failed')
           UNION ALL SELECT e::text FROM plivo.message_events e JOIN plivo.message_logs m
             ON m.id = e.message_id WHERE m.status IN ('delivered', 'undelivered', 'failed')
           UNION ALL SELECT r::text FROM plivo.delivery_reports r) everything"
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

    # Delivered and undelivered, each with its reports, through the relay.
    if ! start_relay; then check "$label: relay is up" 1; fi
    sim_config '{"report_delay_ms": 20, "delivered_rate": 0.7, "undelivered_rate": 0.3,
                 "failed_rate": 0, "report_duplicate_rate": 0, "report_out_of_order_rate": 0}'
    sql "INSERT INTO plivo.message_logs (recipient, message_text, callback_url)
         SELECT '+1415555' || (2000 + n), 'reported-' || n, '$relay_url'
         FROM generate_series(1, 30) n" >/dev/null
    wait_for 60 "(SELECT count(*) FROM plivo.message_logs
                  WHERE status IN ('delivered', 'undelivered')) = 30"
    check "$label: 30 messages delivered or undelivered before the update" $?
    # Failed: refused with 401 while the token is wrong.
    reload_with "plivo.auth_token = 'not-the-simulator-token'"
    sql "INSERT INTO plivo.message_logs (recipient, message_text)
         SELECT '+1415555' || (3000 + n), 'refused-' || n FROM generate_series(1, 5) n" >/dev/null
    wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'failed') = 5"
    check "$label: 5 failed before the update" $?
    reload_with "plivo.auth_token = '$SIM_AUTH_TOKEN'"
    # Five on the wire (the simulator answers after 1.8 s), ten queued behind a pause.
    sim_config '{"latency_ms": 1800, "report_delay_ms": 0}'
    sql "INSERT INTO plivo.message_logs (recipient, message_text)
         SELECT '+1415555' || (4000 + n), 'on-the-wire-' || n FROM generate_series(1, 5) n" >/dev/null
    wait_for 10 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sending') = 5"
    check "$label: 5 on the wire" $?
    reload_with "plivo.paused = on"
    sql "INSERT INTO plivo.message_logs (recipient, message_text)
         SELECT '+1415555' || (5000 + n), 'queued-' || n FROM generate_series(1, 10) n" >/dev/null

    before_digest="$(finished_digest)"
    before_reports="$(sql "SELECT count(*) FROM plivo.delivery_reports")"
    sql "ALTER EXTENSION pg_plivo UPDATE" >/dev/null
    check "$label: ALTER EXTENSION pg_plivo UPDATE" $?
    expect_eq "$label: now at $default_version" "$default_version" \
        "$(sql "SELECT extversion FROM pg_extension WHERE extname = 'pg_plivo'")"
    expect_eq "$label: the 50 messages are all there" 50 "$(sql "SELECT count(*) FROM plivo.message_logs")"
    expect_eq "$label: the 10 queued still wait" 10 \
        "$(sql "SELECT count(*) FROM plivo.message_logs WHERE status = 'queued'")"
    expect_eq "$label: finished messages, their events and reports unchanged" \
        "$before_digest" "$(finished_digest)"
    python3 -c "import sys; sys.exit(0 if int('$before_reports') >= 30 else 1)"
    check "$label: the delivery reports were kept ($before_reports)" $?

    # The worker carries on: the five on the wire are recorded, the ten are sent.
    wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE message_text LIKE 'on-the-wire-%'
                  AND status = 'sent') = 5"
    check "$label: the 5 on the wire end sent" $?
    sim_config '{"latency_ms": 0}'
    reload_with "plivo.paused = off"
    wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE message_text LIKE 'queued-%'
                  AND status = 'sent') = 10"
    check "$label: the 10 queued are sent after it" $?
    expect_eq "$label: no duplicate at the simulator" 0 "$(sim_stat duplicates)"
    expect_eq "$label: the simulator accepted each message once (30 + 5 + 10)" 45 \
        "$(sim_stat distinct_accepted)"
    expect_eq "$label: every accepted message has its own uuid" 45 \
        "$(sql "SELECT count(DISTINCT plivo_message_uuid) FROM plivo.message_logs")"
    sql "SELECT plivo.send_sms('+14155556001', 'after the update')" >/dev/null
    wait_for 20 "(SELECT status = 'sent' FROM plivo.message_logs WHERE message_text = 'after the update')"
    check "$label: a message enqueued after the update is sent" $?
    stop_relay

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
