# pg_upgrade from PostgreSQL $PG_PLIVO_UPGRADE_FROM (its server and a pg_plivo built for it
# installed beside this one: scripts/test_version.sh) to this server, of a database with
# messages in every status. The worker stays out of the way while pg_upgrade runs both
# servers; afterwards it starts, the queued and interrupted messages are sent exactly
# once, the sent ones are not sent again, and the audit trail and reports are intact.
# Runs only where an older server is installed for it (the PostgreSQL 17 root).
if [ -n "${PG_PLIVO_UPGRADE_FROM:-}" ]; then
old_major="$PG_PLIVO_UPGRADE_FROM"
old_bin="/usr/lib/postgresql/$old_major/bin"
label="pg_upgrade $old_major to $PG_MAJOR"
main_pghost="$PGHOST"; main_pgport="$PGPORT"
# The clusters in $E2E_DIR/*/pg, which run.sh stops on the way out; pg_upgrade works
# (and leaves its logs) in a folder of the server account's.
old_dir="$E2E_DIR/pg_upgrade_old"; new_dir="$E2E_DIR/pg_upgrade_new"
upgrade_dir="$E2E_DIR/pg_upgrade_work"
mkdir -p "$old_dir" "$new_dir" "$upgrade_dir"
chown "$(server_user)" "$upgrade_dir"
sim_reset

PG_BIN="$old_bin" start_e2e_cluster "$old_dir"
expect_eq "$label: the old server is $old_major" "$old_major" \
    "$(sql "SELECT current_setting('server_version_num')::int / 10000")"

fill_every_status "$label"
before_digest="$(finished_digest)"
before_last_event="$(sql "SELECT max(id) FROM plivo.message_events")"
before_events="$(sql "SELECT count(*) FROM plivo.message_events")"
before_last_id="$(sql "SELECT id FROM plivo.message_logs ORDER BY id DESC LIMIT 1")"
PG_BIN="$old_bin" cluster_stop "$old_dir/pg"
# The pause goes: a worker that ran while pg_upgrade has the servers up would send.
sed -i '/^plivo.paused/d' "$old_dir/pg/data/postgresql.auto.conf"
sim_config '{"latency_ms": 0}'
requests_before="$(sim_stat send_requests)"

# The new cluster, configured as the old one (pg_upgrade carries no configuration).
start_e2e_cluster "$new_dir" >/dev/null
sql "DROP EXTENSION pg_plivo" >/dev/null
new_port="$PGPORT"
cluster_stop "$new_dir/pg"
grep '^plivo\.' "$old_dir/pg/data/postgresql.auto.conf" >>"$new_dir/pg/data/postgresql.auto.conf"
upgrade_args=(-b "$old_bin" -B "$PG_BIN" -d "$old_dir/pg/data" -D "$new_dir/pg/data"
              -s "$upgrade_dir" -p "$(free_port)" -P "$(free_port)" -U postgres)
for step in check upgrade; do
    (cd "$upgrade_dir" && as_server_user "$PG_BIN/pg_upgrade" \
        $([ "$step" = check ] && echo --check) "${upgrade_args[@]}") >"$upgrade_dir/$step.log" 2>&1
    upgrade_status=$?
    check "$label: pg_upgrade ($step)" "$upgrade_status"
    [ "$upgrade_status" -eq 0 ] || tail -30 "$upgrade_dir/$step.log"
done
expect_eq "$label: nothing was sent while pg_upgrade ran the servers" "$requests_before" \
    "$(sim_stat send_requests)"

as_server_user "$PG_BIN/pg_ctl" -D "$new_dir/pg/data" -l "$new_dir/pg/server.log" \
    -w -t 60 start >/dev/null
export PGHOST="$new_dir/pg" PGPORT="$new_port"
expect_eq "$label: the new server is $PG_MAJOR" "$PG_MAJOR" \
    "$(sql "SELECT current_setting('server_version_num')::int / 10000")"
expect_eq "$label: the extension came along" \
    "$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$REPO_ROOT/sql/pg_plivo.control")" \
    "$(sql "SELECT extversion FROM pg_extension WHERE extname = 'pg_plivo'")"
expect_eq "$label: finished messages, their events and every report unchanged" \
    "$before_digest" "$(finished_digest)"
wait_for 30 "(SELECT running FROM plivo.worker_status())"
check "$label: the worker runs on the new server" $?
check_every_status_ends_sent "$label"
expect_eq "$label: the audit trail goes on after the old one: every old event, new ones numbered after them" \
    "t" "$(sql "SELECT count(*) FILTER (WHERE id <= $before_last_event) = $before_events
                   AND count(*) FILTER (WHERE id > $before_last_event) > 0 FROM plivo.message_events")"
sql "SELECT plivo.send_sms('+14155558001', 'after pg_upgrade')" >/dev/null
wait_for 20 "(SELECT status = 'sent' AND id > '$before_last_id' FROM plivo.message_logs WHERE message_text = 'after pg_upgrade')"
check "$label: a new message is sent, its id ordered after the old ones" $?

cluster_stop "$new_dir/pg"
export PGHOST="$main_pghost" PGPORT="$main_pgport"
fi
