#!/usr/bin/env bash
# The quick start: a local PostgreSQL with pg_plivo and its dispatcher worker, sending
# through the project's Plivo simulator (or through Plivo itself when PLIVO_AUTH_ID,
# PLIVO_AUTH_TOKEN, PLIVO_SENDER and PLIVO_DESTINATION are set). Sends one MMS with
# plivo.send_mms() and shows its row in plivo.message_logs move from queued to sent and,
# with the simulator, on to delivered when the signed delivery report comes back
# (through the project's relay, which stands where the plivo-status Edge Function would).
#
#   scripts/quickstart.sh          run, show, clean up
#   scripts/quickstart.sh --keep   leave the server (and simulator) running to explore
source "$(dirname "$0")/lib/common.sh"
require_root "$@"
cd "$REPO_ROOT"

keep=false
[ "${1:-}" = "--keep" ] && keep=true

install_dependencies
build_all

work_dir="$(mktemp -d /tmp/pg_plivo_quickstart.XXXXXX)"
chmod 755 "$work_dir"
simulator_pid=""
relay_pid=""
cleanup() {
    if [ "$keep" = true ]; then return; fi
    cluster_stop "$work_dir/pg"
    [ -n "$simulator_pid" ] && kill "$simulator_pid" 2>/dev/null || true
    [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null || true
    rm -rf "$work_dir"
}
trap cleanup EXIT

if [ -n "${PLIVO_AUTH_ID:-}" ] && [ -n "${PLIVO_AUTH_TOKEN:-}" ]; then
    : "${PLIVO_SENDER:?set PLIVO_SENDER to your Plivo number, e.g. +14155550100}"
    : "${PLIVO_DESTINATION:?set PLIVO_DESTINATION to a US or Canadian mobile number}"
    api_url="https://api.plivo.com"
    auth_id="$PLIVO_AUTH_ID"
    auth_token="$PLIVO_AUTH_TOKEN"
    sender="$PLIVO_SENDER"
    destination="$PLIVO_DESTINATION"
    media_url="https://upload.wikimedia.org/wikipedia/commons/4/47/PNG_transparency_demonstration_1.png"
    extra_settings=()
    log "sending through Plivo itself (PLIVO_AUTH_ID is set)"
else
    auth_id="MASIMULATOR000000000"
    auth_token="simulator-auth-token"
    sender="+14155550100"
    destination="+14155550111"
    log "starting the Plivo simulator (no PLIVO_AUTH_ID set)"
    # 400 ms per answer, so that the 'sending' state can be seen.
    build/plivo_simulator --host 127.0.0.1 --port 0 --port-file "$work_dir/simulator.port" \
        --auth-id "$auth_id" --auth-token "$auth_token" --latency-ms 400 --quiet \
        >"$work_dir/simulator.log" 2>&1 &
    simulator_pid=$!
    for _ in $(seq 1 100); do [ -s "$work_dir/simulator.port" ] && break; sleep 0.05; done
    api_url="http://127.0.0.1:$(cat "$work_dir/simulator.port")"
    log "simulator listening on $api_url"
    # Every message delivered, its report 1.5 s after Plivo accepted it.
    curl -sf -X POST -H 'Content-Type: application/json' "$api_url/_sim/config" \
        -d '{"report_delay_ms": 1500, "delivered_rate": 1, "undelivered_rate": 0, "failed_rate": 0,
             "report_duplicate_rate": 0, "report_out_of_order_rate": 0}' >/dev/null
    # The picture is the simulator's own (on loopback: the media check is told to allow it).
    media_url="$api_url/_sim/media/hello.png?bytes=48000&type=image/png"
    relay_port="$(free_port)"
    relay_url="http://127.0.0.1:$relay_port/plivo/status"
    extra_settings=("plivo.callback_url = '$relay_url'" "plivo.media_allow_private_addresses = on")
fi

log "starting PostgreSQL ${PG_MAJOR} with pg_plivo preloaded"
# The token goes into postgresql.conf, readable by the server's own account only.
cluster_start "$work_dir/pg" "$(free_port)" \
    "plivo.api_url = '$api_url'" \
    "plivo.auth_id = '$auth_id'" \
    "plivo.auth_token = '$auth_token'" \
    "plivo.sender_number = '$sender'" \
    "${extra_settings[@]}"

if [ -n "${relay_port:-}" ]; then
    # Delivery reports: the simulator posts them, signed, to the relay, which hands them to
    # plivo.handle_status_callback() (PGHOST and PGPORT point it at this server).
    build/plivo_relay --port "$relay_port" --port-file "$work_dir/relay.port" \
        --public-url "$relay_url" --threads 4 --quiet >"$work_dir/relay.log" 2>&1 &
    relay_pid=$!
    for _ in $(seq 1 100); do [ -s "$work_dir/relay.port" ] && break; sleep 0.05; done
    log "delivery reports go to $relay_url"
fi

psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pg_plivo;"
psql -X -q -c "SELECT preloaded, running, pid FROM plivo.worker_status();"

log "enqueueing one MMS with plivo.send_mms(), inside a transaction"
psql -X -q -v ON_ERROR_STOP=1 -v destination="$destination" -v media_url="$media_url" \
    -v id_file="$work_dir/message.id" <<'SQL'
BEGIN;
SELECT plivo.send_mms(
    destination_number => :'destination',
    message_text       => 'Hello from pg_plivo',
    media_urls         => ARRAY[:'media_url'])
    AS id \gset
SELECT id, status, message_type, text_encoding, segments FROM plivo.message_logs WHERE id = :'id';
\echo '(not committed yet: the worker cannot see it, and nothing is sent until COMMIT)'
SELECT pg_sleep(1) \g /dev/null
COMMIT;
\o :id_file
\qecho :id
\o
SQL
message_id="$(cat "$work_dir/message.id")"

log "watching plivo.message_logs (status changes as the worker sends it)"
echo "time          status | attempts | plivo_message_uuid | last_error"
last=""
final="delivered*|undelivered*|failed*|rejected*"
# Without a relay (real Plivo needs a public callback URL) the loop ends at sent.
[ -z "${relay_port:-}" ] && final="sent*|$final"
for _ in $(seq 1 300); do
    row="$(psql -X -qAt -F ' | ' -c "
        SELECT status, attempts, coalesce(plivo_message_uuid, '-'), coalesce(last_error, '')
        FROM plivo.message_logs WHERE id = '$message_id'")"
    if [ "$row" != "$last" ]; then
        printf '%s  %s\n' "$(date +%T.%3N)" "$row"
        last="$row"
    fi
    # shellcheck disable=SC2254
    case "$row" in
        $final) break ;;
    esac
    sleep 0.05
done

psql -X -c "
    SELECT id, sender, recipient, message_type, status, attempts, plivo_message_uuid, units, total_amount,
           plivo_status_info, created_at, updated_at
    FROM plivo.message_logs WHERE id = '$message_id'" -x

if [ "$keep" = true ]; then
    log "left running: PGHOST=$PGHOST PGPORT=$PGPORT psql -U postgres   (simulator: $api_url)"
    log "stop with: runuser -u postgres -- $PG_BIN/pg_ctl -D $work_dir/pg/data stop; kill $simulator_pid"
fi
