#!/usr/bin/env bash
# Where send_mms()'s cost over a plain INSERT goes: on a throwaway cluster without the
# worker, the triggers of plivo.message_logs are disabled one after another and each
# step measures, with pgbench (-M prepared, 2 clients), send_mms(), the same row INSERTed
# into plivo.message_logs, and the plain INSERT into a copy of the table without
# pg_plivo. Prints each round's rates and the ratios to the plain INSERT of the same
# round (the machine's speed moves between rounds; ratios within a round do not).
# Then the same steps once more inside the server alone: microseconds per row of a
# PL/pgSQL loop of BREAKDOWN_ROWS rows in one transaction (no client, no commit).
# Run after bench/run.sh has built and installed the extension. BREAKDOWN_SECONDS=6.
source "$(dirname "$0")/../scripts/lib/common.sh"
set +e
if [ "$(id -u)" -ne 0 ]; then exec sudo -E bash "$0" "$@"; fi

SECONDS_PER_RUN="${BREAKDOWN_SECONDS:-6}"
ROWS_PER_LOOP="${BREAKDOWN_ROWS:-20000}"
WORK="$(mktemp -d /tmp/pg_plivo_breakdown.XXXXXX)"
chmod 755 "$WORK"
trap 'cluster_stop "$WORK/pg"; rm -rf "$WORK"' EXIT
PG_PLIVO_PRELOAD=no cluster_start "$WORK/pg" "$(free_port)" \
    "plivo.sender_number = '+14155550100'" >/dev/null
export PGOPTIONS="-c plivo.notify_on_enqueue=never"  # as where a worker serves the database
psql -X -q -v ON_ERROR_STOP=1 \
    -c "CREATE EXTENSION pg_plivo" -c "CREATE SCHEMA plain" \
    -c "CREATE TABLE plain.message_logs (LIKE plivo.message_logs INCLUDING ALL)" || exit 1

# A different recipient on every call, as in bench.py.
cat >"$WORK/send_mms.sql" <<'SQL'
\set n random(2000000, 9999999)
SELECT plivo.send_mms('+1415' || :n, 'Your photos are ready', ARRAY['https://example.com/a.jpg'], '+14155550100');
SQL
for table in plivo plain; do
    cat >"$WORK/insert_$table.sql" <<SQL
\set n random(2000000, 9999999)
INSERT INTO $table.message_logs (sender, recipient, message_text, media_urls, message_type, text_encoding, segments) VALUES ('+14155550100', '+1415' || :n, 'Your photos are ready', ARRAY['https://example.com/a.jpg'], 'mms', 'GSM-7', 1);
SQL
done

rate() {
    pgbench -n -M prepared -c 2 -j 2 -T "$SECONDS_PER_RUN" -f "$WORK/$1.sql" 2>/dev/null |
        awk '/^tps/ {print int($3)}'
}

measure() {
    local label="$1" round mms insert plain
    printf '%s\n' "$label"
    for round in 1 2 3; do
        psql -X -q -c "TRUNCATE plivo.message_logs, plivo.message_events, plain.message_logs" -c "CHECKPOINT"
        mms="$(rate send_mms)"
        insert="$(rate insert_plivo)"
        plain="$(rate insert_plain)"
        awk -v m="$mms" -v i="$insert" -v p="$plain" 'BEGIN {
            printf "  send_mms %6d/s  INSERT into plivo.message_logs %6d/s  plain INSERT %6d/s  ratios to plain: %.2f× %.2f×\n",
                m, i, p, p / m, p / i }'
    done
}

measure "every trigger on"
psql -X -q -c "ALTER TABLE plivo.message_logs DISABLE TRIGGER message_logs_validate"
measure "without the validation trigger (numbers, text, media)"
psql -X -q -c "ALTER TABLE plivo.message_logs DISABLE TRIGGER message_logs_enqueued"
measure "without the statement trigger either ('enqueue' events, wake-up; no trigger left on INSERT)"

# Inside the server: what each step costs a row, without pgbench, the round trip and
# the commit (which a per-call ratio also counts).
psql -X -q -c "ALTER TABLE plivo.message_logs ENABLE TRIGGER USER"
ROW="'+14155550100', '+1415' || (2000000 + (random() * 7999999)::int), 'Your photos are ready', ARRAY['https://example.com/a.jpg'], 'mms', 'GSM-7', 1"
COLUMNS="(sender, recipient, message_text, media_urls, message_type, text_encoding, segments)"
per_row() {
    local label="$1" statement="$2" round ms results=()
    for round in 1 2 3; do
        psql -X -q -c "TRUNCATE plivo.message_logs, plivo.message_events, plain.message_logs" -c "CHECKPOINT"
        ms="$(psql -X -At -c '\timing on' \
            -c "DO \$\$ BEGIN FOR i IN 1..$ROWS_PER_LOOP LOOP $statement; END LOOP; END \$\$" |
            awk '/^Time:/ {print $2}')"
        results+=("$(awk -v ms="$ms" -v n="$ROWS_PER_LOOP" 'BEGIN {printf "%.1f", ms * 1000 / n}')")
    done
    printf '  %-58s %s µs a row\n' "$label" "${results[*]}"
}
printf 'per row, inside one transaction (%d rows, three rounds)\n' "$ROWS_PER_LOOP"
per_row "plain INSERT" "INSERT INTO plain.message_logs $COLUMNS VALUES ($ROW)"
per_row "send_mms()" "PERFORM plivo.send_mms('+1415' || (2000000 + (random() * 7999999)::int), 'Your photos are ready', ARRAY['https://example.com/a.jpg'], '+14155550100')"
per_row "INSERT into plivo.message_logs, every trigger on" "INSERT INTO plivo.message_logs $COLUMNS VALUES ($ROW)"
psql -X -q -c "ALTER TABLE plivo.message_logs DISABLE TRIGGER message_logs_enqueued"
per_row "  without the statement trigger ('enqueue' events, wake-up)" "INSERT INTO plivo.message_logs $COLUMNS VALUES ($ROW)"
psql -X -q -c "ALTER TABLE plivo.message_logs DISABLE TRIGGER message_logs_validate"
per_row "  without the validation trigger either" "INSERT INTO plivo.message_logs $COLUMNS VALUES ($ROW)"
