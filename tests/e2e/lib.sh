# End-to-end test helpers: a cluster with the worker preloaded, the Plivo simulator on
# loopback, psql, and checks that count into "N passed, N failed".
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/common.sh"
set +e

E2E_PASSED=0
E2E_FAILED=0
SIMULATOR="$PLIVO_TOOLS_DIR/plivo_simulator"
SIM_AUTH_ID="MASIMULATOR000000000"
SIM_AUTH_TOKEN="simulator-auth-token"

# check NAME CONDITION-EXIT-STATUS [DETAIL]
check() {
    local name="$1" ok="$2" detail="${3:-}"
    if [ "$ok" -eq 0 ]; then
        E2E_PASSED=$((E2E_PASSED + 1))
        printf '  ok    %s\n' "$name"
    else
        E2E_FAILED=$((E2E_FAILED + 1))
        printf '  FAIL  %s %s\n' "$name" "$detail"
    fi
}

# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
    if [ "$2" = "$3" ]; then check "$1" 0; else check "$1" 1 "(expected '$2', got '$3')"; fi
}

sql() { psql -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }

sim_url() { echo "http://127.0.0.1:$SIM_PORT"; }
sim_post() { curl -sf -X POST -H 'Content-Type: application/json' -d "${2:-{\}}" "$(sim_url)$1"; }
# Back to a clean simulator. Plivo's account rate limit is lifted unless a scenario wants
# it; the list API's own (20 requests a minute, pages of 20) stays on, as at Plivo: every
# scenario settles its unknown outcomes within it.
sim_reset() {
    sim_post "/_sim/reset?config=1" >/dev/null &&
        sim_config '{"rate_limit": 1, "rate_limit_count": 100000000}'
}
sim_config() { sim_post "/_sim/config" "$1" >/dev/null; }
# sim_stat KEY[.SUBKEY]: one number from /_sim/stats (0 when absent).
sim_stat() {
    curl -sf "$(sim_url)/_sim/stats" | python3 -c '
import json, sys
value = json.load(sys.stdin)
for part in sys.argv[1].split("."):
    value = value.get(part, 0) if isinstance(value, dict) else 0
print(value)' "$1"
}

start_simulator() {
    local dir="$1"
    "$SIMULATOR" --host 127.0.0.1 --port 0 --port-file "$dir/simulator.port" \
        --auth-id "$SIM_AUTH_ID" --auth-token "$SIM_AUTH_TOKEN" --seed 42 --quiet \
        >"$dir/simulator.log" 2>&1 &
    SIM_PID=$!
    for _ in $(seq 1 200); do [ -s "$dir/simulator.port" ] && break; sleep 0.05; done
    SIM_PORT="$(cat "$dir/simulator.port")"
}

# The settings every e2e cluster starts with: fast retries and settling, lifted limits.
# The simulator shares the server's clock, so settling's clock tolerance can be small: at
# the default (10 s) each round of unknown outcomes waits 13 s before it is listed, and
# 04's chains of faults outlast its wait.
# start_e2e_cluster DIR [VERSION]: the extension at VERSION (default: default_version).
start_e2e_cluster() {
    local dir="$1" version="${2:-}"
    cluster_start "$dir/pg" "$(free_port)" \
        "plivo.api_url = 'http://127.0.0.1:$SIM_PORT'" \
        "plivo.auth_id = '$SIM_AUTH_ID'" \
        "plivo.auth_token = '$SIM_AUTH_TOKEN'" \
        "plivo.sender_number = '+14155550100'" \
        "plivo.max_in_flight = 32" \
        "plivo.max_attempts = 10" \
        "plivo.request_timeout = '2s'" \
        "plivo.retry_base_delay = '50ms'" \
        "plivo.retry_max_delay = '500ms'" \
        "plivo.settle_delay = '1s'" \
        "plivo.settle_clock_tolerance = '1s'" \
        "plivo.lease_time = '5s'" \
        "plivo.account_rate_limit = 100000" \
        "plivo.sender_rate_limit = 100000" \
        "plivo.media_preflight = off"
    # (The scenarios' MMS link to example.com, which a test machine cannot fetch; 17 turns
    # the media check on against the simulator's own media.)
    sql "CREATE EXTENSION pg_plivo${version:+ VERSION '$version'}" >/dev/null
}

# wait_for SECONDS SQL-BOOLEAN: polls until true; returns 1 on timeout.
wait_for() {
    local seconds="$1" condition="$2" deadline
    deadline=$(($(date +%s) + seconds))
    while [ "$(date +%s)" -le "$deadline" ]; do
        [ "$(sql "SELECT ($condition)" 2>/dev/null)" = "t" ] && return 0
        sleep 0.2
    done
    return 1
}

wait_for_server() {
    local seconds="$1" deadline
    deadline=$(($(date +%s) + seconds))
    while [ "$(date +%s)" -le "$deadline" ]; do
        psql -X -qAt -c "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

# enqueue N PREFIX: N SMS in one transaction, each to its own recipient, texts PREFIX-i.
enqueue() {
    sql "INSERT INTO plivo.message_logs (recipient, message_text)
         SELECT '+1415555' || (2000 + n), '$2-' || n FROM generate_series(1, $1) n" >/dev/null
}

final_count() { sql "SELECT count(*) FROM plivo.message_logs WHERE status IN ('sent', 'failed')"; }

# The invariants every scenario ends with: nothing lost, nothing doubled.
check_reconciles() {
    local label="$1" total sent failed_without_reason distinct uuids_known
    total="$(sql "SELECT count(*) FROM plivo.message_logs")"
    sent="$(sql "SELECT count(*) FROM plivo.message_logs WHERE status = 'sent'")"
    failed_without_reason="$(sql "SELECT count(*) FROM plivo.message_logs WHERE status = 'failed' AND last_error IS NULL")"
    distinct="$(sql "SELECT count(DISTINCT plivo_message_uuid) FROM plivo.message_logs WHERE status = 'sent'")"
    expect_eq "$label: nothing stuck (every message sent or failed)" "$total" "$(final_count)"
    expect_eq "$label: no duplicate at the simulator" 0 "$(sim_stat duplicates)"
    expect_eq "$label: every sent row has its own uuid" "$sent" "$distinct"
    expect_eq "$label: simulator accepted exactly the sent messages" "$sent" "$(sim_stat distinct_accepted)"
    expect_eq "$label: every failed message says why" 0 "$failed_without_reason"
}

# Every row with a uuid: the simulator's message with that uuid has its recipient and text.
check_attribution() {
    local label="$1" rows_file mismatches
    # Through a file: thousands of rows are more than one command-line argument may hold.
    rows_file="$(mktemp)"
    sql "SELECT coalesce(json_agg(json_build_object('uuid', plivo_message_uuid,
            'dst', substr(recipient, 2), 'text', message_text)), '[]')
         FROM plivo.message_logs WHERE plivo_message_uuid IS NOT NULL" >"$rows_file"
    mismatches="$(curl -sf "$(sim_url)/_sim/messages?limit=1000000" | python3 -c '
import json, sys
rows = json.load(open(sys.argv[1]))
body = json.load(sys.stdin)
stored = body.get("messages", body.get("objects", body)) if isinstance(body, dict) else body
by_uuid = {}
for m in stored:
    uuid = m.get("message_uuid") or m.get("uuid")
    request = m.get("request") or m.get("body") or {}
    if isinstance(request, str):
        request = json.loads(request)
    by_uuid[uuid] = (str(request.get("dst", m.get("to_number", ""))), request.get("text"))
bad = [r for r in rows if by_uuid.get(r["uuid"]) != (r["dst"], r["text"])]
print(len(bad))' "$rows_file")"
    rm -f "$rows_file"
    expect_eq "$label: every uuid belongs to its own message" 0 "$mismatches"
}

# The relay that stands where the plivo-status Edge Function would (tests/relay):
# start_relay sets RELAY_PID, relay_port and relay_url; returns 1 when it is not up.
RELAY="${PLIVO_RELAY:-$PLIVO_TOOLS_DIR/plivo_relay}"
start_relay() {
    relay_port="$(free_port)"
    relay_url="http://127.0.0.1:$relay_port/plivo/status"
    rm -f "$E2E_DIR/relay.port"
    "$RELAY" --port "$relay_port" --port-file "$E2E_DIR/relay.port" --public-url "$relay_url" \
        --threads 8 --quiet >"$E2E_DIR/relay.log" 2>&1 &
    RELAY_PID=$!
    trap 'kill "$RELAY_PID" 2>/dev/null; cleanup' EXIT
    for _ in $(seq 1 200); do [ -s "$E2E_DIR/relay.port" ] && break; sleep 0.05; done
    curl -sf "http://127.0.0.1:$relay_port/_relay/health" >/dev/null
}

stop_relay() {
    kill "$RELAY_PID" 2>/dev/null
    wait "$RELAY_PID"
    local status=$?
    trap cleanup EXIT
    return "$status"
}

# relay_stat KEY[.SUBKEY]: one number from /_relay/stats (0 when absent).
relay_stat() {
    curl -sf "http://127.0.0.1:$relay_port/_relay/stats" | python3 -c '
import json, sys
value = json.load(sys.stdin)
for part in sys.argv[1].split("."):
    value = value.get(part, 0) if isinstance(value, dict) else 0
print(value)' "$1"
}

# fill_every_status LABEL: on the current cluster, messages in every status, each step
# checked: 30 delivered or undelivered with their reports (through the relay), 10 sent
# with no report yet, 5 failed (refused with 401), 5 retrying (Plivo answered 500; the
# next attempt is an hour away), 5 on the wire (the simulator answers after 3 s) and 10
# queued behind a pause. Leaves the pause on and the simulator slow.
fill_every_status() {
    local label="$1"
    if ! start_relay; then check "$label: relay is up" 1; fi
    sim_config '{"report_delay_ms": 20, "delivered_rate": 0.7, "undelivered_rate": 0.3,
                 "failed_rate": 0, "report_duplicate_rate": 0, "report_out_of_order_rate": 0}'
    sql "INSERT INTO plivo.message_logs (recipient, message_text, callback_url)
         SELECT '+1415555' || (2000 + n), 'reported-' || n, '$relay_url'
         FROM generate_series(1, 30) n" >/dev/null
    wait_for 60 "(SELECT count(*) FROM plivo.message_logs WHERE status IN ('delivered', 'undelivered')) = 30 AND
                 (SELECT count(*) FROM plivo.delivery_reports) >= 30"
    check "$label: 30 delivered or undelivered, with reports" $?
    stop_relay
    sim_config '{"report_delay_ms": 600000}'
    sql "INSERT INTO plivo.message_logs (recipient, message_text)
         SELECT '+1415555' || (3000 + n), 'sent-' || n FROM generate_series(1, 10) n" >/dev/null
    wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE message_text LIKE 'sent-%' AND status = 'sent') = 10"
    check "$label: 10 sent" $?
    reload_with "plivo.auth_token = 'not-the-simulator-token'"
    sql "INSERT INTO plivo.message_logs (recipient, message_text)
         SELECT '+1415555' || (4000 + n), 'refused-' || n FROM generate_series(1, 5) n" >/dev/null
    wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'failed') = 5"
    check "$label: 5 failed" $?
    reload_with "plivo.auth_token = '$SIM_AUTH_TOKEN'"
    reload_with "plivo.retry_base_delay = '1h'" "plivo.retry_max_delay = '1h'"
    sim_config '{"fail_next": [{"kind": "error_500", "count": 5}]}'
    sql "INSERT INTO plivo.message_logs (recipient, message_text)
         SELECT '+1415555' || (5000 + n), 'retrying-' || n FROM generate_series(1, 5) n" >/dev/null
    wait_for 20 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'retrying') = 5"
    check "$label: 5 retrying" $?
    # Longer than the answer takes, so that an unknown outcome does not wait the hour too.
    reload_with "plivo.request_timeout = '10s'"
    sim_config '{"latency_ms": 3000}'
    sql "INSERT INTO plivo.message_logs (recipient, message_text)
         SELECT '+1415555' || (6000 + n), 'on-the-wire-' || n FROM generate_series(1, 5) n" >/dev/null
    wait_for 10 "(SELECT count(*) FROM plivo.message_logs WHERE status = 'sending') = 5"
    check "$label: 5 on the wire" $?
    reload_with "plivo.paused = on"
    sql "INSERT INTO plivo.message_logs (recipient, message_text)
         SELECT '+1415555' || (7000 + n), 'queued-' || n FROM generate_series(1, 10) n" >/dev/null
    expect_eq "$label: messages in every status" \
        "delivered=$(sql "SELECT count(*) FROM plivo.message_logs WHERE status = 'delivered'") failed=5 queued=10 retrying=5 sending=5 sent=10 undelivered=$(sql "SELECT count(*) FROM plivo.message_logs WHERE status = 'undelivered'")" \
        "$(sql "SELECT string_agg(status || '=' || n, ' ' ORDER BY status)
                FROM (SELECT status, count(*) n FROM plivo.message_logs GROUP BY status) s")"
}

# finished_digest: one md5 of what must survive an upgrade as it was: the finished
# messages (delivered, undelivered, failed), their events, and every delivery report.
# Rows as JSON without their NULL members, so that a column a schema update adds (NULL
# in the old rows) leaves the digest alone, while any value changed or lost does not.
finished_digest() {
    sql "SELECT md5(string_agg(row_text, ',' ORDER BY row_text)) FROM (
           SELECT jsonb_strip_nulls(to_jsonb(m))::text AS row_text FROM plivo.message_logs m
           WHERE status IN ('delivered', 'undelivered', 'failed')
           UNION ALL SELECT jsonb_strip_nulls(to_jsonb(e))::text
             FROM plivo.message_events e JOIN plivo.message_logs m
             ON m.id = e.message_id WHERE m.status IN ('delivered', 'undelivered', 'failed')
           UNION ALL SELECT jsonb_strip_nulls(to_jsonb(r))::text
             FROM plivo.delivery_reports r) everything"
}

# check_every_status_ends_sent LABEL: after fill_every_status and an upgrade, with the
# worker running and unpaused: the interrupted, the queued and (when their hour is cut
# short) the retrying end sent, each accepted once, the sent ones not sent again.
check_every_status_ends_sent() {
    local label="$1"
    wait_for 60 "(SELECT count(*) FROM plivo.message_logs WHERE status IN ('queued', 'sending')) = 0 AND
                 (SELECT count(*) FROM plivo.message_logs WHERE message_text LIKE 'on-the-wire-%' AND status = 'sent') = 5 AND
                 (SELECT count(*) FROM plivo.message_logs WHERE message_text LIKE 'queued-%' AND status = 'sent') = 10"
    check "$label: the 5 on the wire and the 10 queued end sent" $?
    sql "UPDATE plivo.message_logs SET next_attempt_at = now() WHERE status = 'retrying'" >/dev/null
    wait_for 30 "(SELECT count(*) FROM plivo.message_logs WHERE message_text LIKE 'retrying-%' AND status = 'sent') = 5"
    check "$label: the 5 retrying end sent" $?
    expect_eq "$label: no duplicate at the simulator" 0 "$(sim_stat duplicates)"
    expect_eq "$label: each message accepted once (30 + 10 + 5 + 5 + 10)" 60 "$(sim_stat distinct_accepted)"
    expect_eq "$label: every accepted message has its own uuid" 60 \
        "$(sql "SELECT count(DISTINCT plivo_message_uuid) FROM plivo.message_logs")"
    expect_eq "$label: the sent ones were not sent again" 0 \
        "$(sql "SELECT count(*) FROM plivo.message_logs WHERE message_text LIKE 'sent-%' AND attempts <> 1")"
}
