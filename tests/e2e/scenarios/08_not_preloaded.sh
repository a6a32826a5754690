# Without shared_preload_libraries: enqueuing still works, nothing is sent, and the
# health function says that no worker runs.
main_pghost="$PGHOST"; main_pgport="$PGPORT"
PG_PLIVO_PRELOAD=no cluster_start "$E2E_DIR/plain" "$(free_port)" \
    "plivo.api_url = 'http://127.0.0.1:$SIM_PORT'" "plivo.auth_id = '$SIM_AUTH_ID'" \
    "plivo.auth_token = '$SIM_AUTH_TOKEN'"
sql "CREATE EXTENSION pg_plivo" >/dev/null
expect_eq "not preloaded: worker_status says so" "f|f" "$(sql "SELECT preloaded, running FROM plivo.worker_status()")"
id="$(sql "SELECT plivo.send_sms('+14155552004', 'waits', sender_number => '+14155550100')")"
check "not preloaded: send_sms still enqueues" $?
sleep 1.5
expect_eq "not preloaded: the message waits queued" queued "$(sql "SELECT status FROM plivo.message_logs WHERE id = '$id'")"
expect_eq "not preloaded: nothing reached Plivo" 0 "$(sim_stat accepted_messages)"
cluster_stop "$E2E_DIR/plain"
export PGHOST="$main_pghost" PGPORT="$main_pgport"
