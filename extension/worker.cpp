// The dispatcher background worker: registration, shared memory, the wake-up at
// commit, and the loop that claims due messages, hands them to the DispatchEngine
// (dispatcher/), and writes the outcomes back — each step its own short transaction,
// never one open across HTTP.
#include "worker.hpp"

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <curl/curl.h>

#include "dispatch_engine.hpp"
#include "guard.hpp"
#include "input_error.hpp"
#include "sender_rates.hpp"
#include "settings.hpp"
#include "spi_plans.hpp"
#include "worker_shared.hpp"

extern "C" {
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PGDLLEXPORT void plivo_dispatcher_main(Datum argument);
PG_FUNCTION_INFO_V1(plivo_worker_status);
PG_FUNCTION_INFO_V1(plivo_wake_dispatcher);
}

namespace pg_plivo {
namespace {

constexpr const char* kVersion = "0.1.0";
constexpr long kHousekeepingMs = 5000;  // expired leases, credentials, heartbeat
constexpr long kCredentialRefreshMs = 60000;
constexpr auto kPerformSlice = std::chrono::milliseconds(5);
constexpr auto kMaxWriteDelay = std::chrono::milliseconds(10);  // outcome → visible in the row
// How late the loop may come for a token without losing it: the buckets hold what their
// rate gives in this time beyond a burst of 1 (any one second may see 1.1 × rate + 1).
constexpr auto kTokenLateness = std::chrono::milliseconds(100);
constexpr auto kPlivoRateWindow = std::chrono::seconds(5);  // 300 requests in any 5 s
// What a request's time on the way to Plivo may vary by: counted over 5.05 s, the account
// sends 1% below its rate once the window is what holds it back.
constexpr auto kPlivoWindowMargin = std::chrono::milliseconds(50);
// With a quarter of the slots free, how long a claim waits for half of them.
constexpr auto kClaimGather = std::chrono::milliseconds(1);
constexpr std::size_t kWriteBatch = 16;  // outcomes written together while busy

WorkerShared* shared_state = nullptr;
shmem_request_hook_type previous_shmem_request_hook = nullptr;
shmem_startup_hook_type previous_shmem_startup_hook = nullptr;
bool wake_pending = false;
bool xact_callback_registered = false;
volatile sig_atomic_t shutdown_requested = false;

void request_shared_memory() {
    if (previous_shmem_request_hook) previous_shmem_request_hook();
    RequestAddinShmemSpace(MAXALIGN(sizeof(WorkerShared)));
}

void attach_shared_memory() {
    if (previous_shmem_startup_hook) previous_shmem_startup_hook();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found = false;
    shared_state = static_cast<WorkerShared*>(
        ShmemInitStruct("pg_plivo worker", sizeof(WorkerShared), &found));
    if (!found) {
        memset(shared_state, 0, sizeof(WorkerShared));
        SpinLockInit(&shared_state->mutex);
    }
    LWLockRelease(AddinShmemInitLock);
}

// Sets the worker's latch once the enqueuing transaction has committed, never before
// and never on rollback, so the worker cannot look before the rows are visible.
void on_transaction_end(XactEvent event, void*) {
    switch (event) {
        case XACT_EVENT_COMMIT:
        case XACT_EVENT_PARALLEL_COMMIT:
            if (wake_pending && shared_state) {
                SpinLockAcquire(&shared_state->mutex);
                Latch* latch = shared_state->latch;
                SpinLockRelease(&shared_state->mutex);
                if (latch) SetLatch(latch);
            }
            wake_pending = false;
            break;
        case XACT_EVENT_ABORT:
        case XACT_EVENT_PARALLEL_ABORT:
        case XACT_EVENT_PREPARE:
            wake_pending = false;
            break;
        default:
            break;
    }
}

void handle_sigterm(SIGNAL_ARGS) {
    int saved_errno = errno;
    shutdown_requested = true;
    SetLatch(MyLatch);
    errno = saved_errno;
}

void leave_shared_state(int, Datum) {
    if (!shared_state) return;
    SpinLockAcquire(&shared_state->mutex);
    if (shared_state->pid == MyProcPid) {
        shared_state->latch = nullptr;
        shared_state->pid = 0;
        shared_state->in_flight = 0;
        shared_state->paused = false;
    }
    SpinLockRelease(&shared_state->mutex);
}

void publish_heartbeat(std::size_t in_flight, uint64 claimed_now) {
    if (!shared_state) return;
    TimestampTz now = GetCurrentTimestamp();
    SpinLockAcquire(&shared_state->mutex);
    shared_state->heartbeat_at = now;
    shared_state->in_flight = static_cast<uint32>(in_flight);
    shared_state->attempts_started += claimed_now;
    SpinLockRelease(&shared_state->mutex);
}


using SteadyClock = std::chrono::steady_clock;

std::string copy_and_free(char* value) {
    if (value == nullptr) return std::string();
    std::string result(value);
    pfree(value);
    return result;
}

// ---------------------------------------------------------------------------------
// SQL the worker runs. Every name is qualified; the worker's search_path is not trusted.

// The condition of message_logs_open_idx: this row's outcome is open.
#define PLIVO_OUTCOME_OPEN(r)                                                                   \
    "(" r ".status = 'sending' OR (" r ".unsettled_since IS NOT NULL AND " r ".status IN "  \
    "('queued', 'retrying')))"

// Claims due messages: FOR UPDATE SKIP LOCKED, a lease, and the attempt counted. A message
// waits while another of the same sender, recipient and type is open (one at a time, see
// message_logs_open_idx). One whose own outcome is open is never claimed: settling takes
// it from the backlog (kUnsettledBacklogSql), and its next_attempt_at is 'infinity' until
// then (one that an older version left due is skipped here all the same).
// Of several due together for one pair only the earliest is taken; the others stay
// queued, and the next claim skips them while it is open.
// The rival check is a LATERAL probe of one pair's entries in message_logs_open_idx per
// candidate. Written as NOT EXISTS, the planner may instead read all open rows once
// through a bitmap scan, which also reads the dead index entries of every message sent
// since the last vacuum and never prunes them (25,000 entries for 212 rows in a
// 50,000-message run: the claim took 4 ms).
// The sender a pair goes by (message_logs_open_idx): the Powerpack of a message sent
// through one (schema 0.3.0), else the sender number.
#define PLIVO_PAIR_SENDER(r) "coalesce(" r ".powerpack_uuid, " r ".sender)"
#define PLIVO_SENDER_BEFORE_030(r) r ".sender"
// The claim's candidates: `columns` are more of each due row's columns to carry along;
// `sender_of` is one of the two macros above. `sender` in the CTEs is the pair's sender.
#define PLIVO_CLAIM_DUE(columns, sender_of)                                                 \
    "WITH due AS ("                                                                         \
    "  SELECT m.id, m.recipient, " sender_of("m") " AS sender, m.message_type,"             \
    "    m.next_attempt_at" columns                                                         \
    "  FROM plivo.message_logs m"                                                           \
    "  LEFT JOIN LATERAL (SELECT true AS found FROM plivo.message_logs o"                   \
    "      WHERE o.recipient = m.recipient AND " sender_of("o") " = " sender_of("m")         \
    "        AND o.message_type = m.message_type AND " PLIVO_OUTCOME_OPEN("o")              \
    "        AND o.id <> m.id AND (o.status = 'sending' OR m.unsettled_since IS NULL)"      \
    "      LIMIT 1) rival ON true"                                                          \
    "  WHERE m.status IN ('queued', 'retrying') AND m.next_attempt_at <= pg_catalog.now()" \
    "    AND m.unsettled_since IS NULL AND rival.found IS NULL"                             \
    "  ORDER BY m.next_attempt_at LIMIT $1 FOR UPDATE OF m SKIP LOCKED),"
#define PLIVO_CLAIM_SET                                                                     \
    " UPDATE plivo.message_logs m SET status = 'sending', attempts = m.attempts + 1,"       \
    "   last_attempt_at = pg_catalog.clock_timestamp(),"                                   \
    "   lease_expires_at = pg_catalog.clock_timestamp() + $2 * interval '1 millisecond'"
// `options`: the sending options of schema 0.3.0 (plivo_log, the seconds left to
// expires_at as Plivo's message_expiry, whether it goes through a Powerpack), or NULLs
// for an older schema.
#define PLIVO_CLAIM_RETURNING(sender_of, options)                                           \
    " RETURNING m.id::text, " sender_of("m") ", m.recipient, m.message_type, m.message_text," \
    "   pg_catalog.array_to_string(m.media_urls, E'\\n'), m.callback_url, m.attempts,"    \
    "   pg_catalog.date_part('epoch', m.unsettled_since), " options

constexpr const char* kClaimSql =
    PLIVO_CLAIM_DUE(", m.consent_override, m.unsettled_since, m.created_at, m.expires_at,"
                    " m.valid_for, m.powerpack_uuid", PLIVO_PAIR_SENDER)
    " first_of_pair AS ("
    "  SELECT DISTINCT ON (recipient, sender, message_type) id, recipient, sender,"
    "    consent_override, unsettled_since, created_at, expires_at, valid_for, powerpack_uuid"
    "  FROM due"
    "  ORDER BY recipient, sender, message_type, next_attempt_at, id),"
    // A message past its expires_at (or with less than Plivo's 5 s of message_expiry
    // left) is failed here instead of sent: a reminder held up by an outage is not sent
    // hours late. An opt-out that committed after the message was enqueued
    // (plivo.opt_outs): the message is failed too. One whose earlier attempt may have
    // reached Plivo is settled first. The confirmation of an opt-out may only go out
    // within 5 minutes of it (47 CFR 64.1200): later, it is failed too.
    " consent AS ("
    "  SELECT f.id, CASE WHEN f.unsettled_since IS NULL AND f.expires_at IS NOT NULL"
    "      AND f.expires_at < pg_catalog.now() + interval '5 seconds'"
    "    THEN pg_catalog.format('not sent: expired at %s (valid_for %s)', f.expires_at,"
    "      f.valid_for)"
    "    WHEN opt_out.id IS NOT NULL THEN pg_catalog.format("
    "      'not sent: %s opted out (%s, plivo.opt_outs id %s)', f.recipient, opt_out.source,"
    "      opt_out.id)"
    "    WHEN f.consent_override = 'opt_out_confirmation' AND f.unsettled_since IS NULL"
    "      AND f.created_at < pg_catalog.now() - interval '5 minutes'"
    "    THEN 'not sent: an opt-out confirmation may only be sent within 5 minutes' END"
    "    AS refusal"
    "  FROM first_of_pair f"
    "  LEFT JOIN LATERAL (SELECT o.id, o.source FROM plivo.opt_outs o"
    "      WHERE f.consent_override IS NULL AND f.unsettled_since IS NULL"
    "        AND o.recipient = f.recipient"
    // through a Powerpack any of our numbers may be picked: any opt-out counts
    "        AND (o.sender IS NULL OR f.powerpack_uuid IS NOT NULL OR o.sender = f.sender)"
    "      LIMIT 1) opt_out ON true),"
    " refused AS ("
    "  UPDATE plivo.message_logs m SET status = 'failed', last_error = c.refusal"
    "  FROM consent c WHERE m.id = c.id AND c.refusal IS NOT NULL)"
    PLIVO_CLAIM_SET
    " FROM consent due WHERE m.id = due.id AND due.refusal IS NULL"
    PLIVO_CLAIM_RETURNING(
        PLIVO_PAIR_SENDER,
        "m.plivo_log, pg_catalog.floor(pg_catalog.date_part('epoch',"
        "   m.expires_at - pg_catalog.clock_timestamp()))::integer,"
        " m.powerpack_uuid IS NOT NULL");

// The schema of pg_plivo before 0.3.0 has no consent ledger; the worker runs this claim
// until ALTER EXTENSION pg_plivo UPDATE has run.
constexpr const char* kClaimBefore030Sql =
    PLIVO_CLAIM_DUE("", PLIVO_SENDER_BEFORE_030)
    " first_of_pair AS ("
    "  SELECT DISTINCT ON (recipient, sender, message_type) id FROM due"
    "  ORDER BY recipient, sender, message_type, next_attempt_at, id)"
    PLIVO_CLAIM_SET
    " FROM first_of_pair due WHERE m.id = due.id"
    PLIVO_CLAIM_RETURNING(PLIVO_SENDER_BEFORE_030, "NULL::text, NULL::integer, false");

// Writes the engine's decisions back, in place, in one statement. Each row is found by
// its primary key: $3 lists the ids, so that the rows are read through the key whatever
// the join. Without it, once the table's statistics say it is small (after an ANALYZE of
// a few thousand rows), the generic plan hash-joins the JSON's estimated 100 rows with a
// full scan of the key (3.7 ms a batch at 10,000 rows, five times the probes' cost). The
// status is compared with $2 ('sending'), not a literal: a literal lets the planner take
// all sending rows from a partial index instead, through a bitmap scan that never prunes
// the index's dead entries, and those grow with every message sent (24,000 index entries
// read for 256 rows in a 50,000-message run).
// `costs` and `cost_columns`: what Plivo charged, from a settled record, where the
// schema (0.3.0) has the columns for it.
#define PLIVO_APPLY_UPDATES(costs, cost_columns, which)                                     \
    "UPDATE plivo.message_logs m SET"                                                       \
    "  status = u.status,"                                                                  \
    "  attempts = CASE WHEN u.not_attempted THEN m.attempts - 1 ELSE m.attempts END,"       \
    "  plivo_message_uuid = coalesce(u.plivo_message_uuid, m.plivo_message_uuid),"          \
    "  sender = coalesce(m.sender, u.sender)," costs                                        \
    "  plivo_status_info = coalesce(u.plivo_status_info, m.plivo_status_info),"             \
    "  error_code = coalesce(u.error_code, m.error_code),"                                  \
    "  last_error = CASE WHEN u.clear_last_error THEN NULL"                                 \
    "                    ELSE coalesce(u.last_error, m.last_error) END,"                    \
    "  last_http_status = coalesce(u.last_http_status, m.last_http_status),"                \
    "  next_attempt_at = CASE WHEN u.await_settlement THEN 'infinity'::timestamptz"         \
    "                         ELSE coalesce(u.next_attempt_at, m.next_attempt_at) END,"     \
    "  unsettled_since = CASE WHEN u.clear_unsettled THEN NULL"                             \
    "                         ELSE coalesce(u.unsettled_since, m.unsettled_since) END,"     \
    "  lease_expires_at = NULL"                                                             \
    " FROM pg_catalog.jsonb_to_recordset($1::jsonb) AS u(id uuid, status text,"             \
    "   plivo_message_uuid text, sender text, plivo_status_info jsonb, error_code text,"    \
    "   last_error text, clear_last_error boolean, last_http_status integer,"               \
    "   next_attempt_at timestamptz, unsettled_since timestamptz, clear_unsettled boolean," \
    "   not_attempted boolean, await_settlement boolean, settle_guard timestamptz"           \
    cost_columns ")"                                                                        \
    " WHERE m.id = u.id AND m.id = ANY ($3::uuid[]) AND " which
#define PLIVO_COSTS                                                                         \
    "  units = coalesce(u.units, m.units), total_rate = coalesce(u.total_rate, m.total_rate),"\
    "  total_amount = coalesce(u.total_amount, m.total_amount),"
#define PLIVO_COST_COLUMNS ", units integer, total_rate numeric, total_amount numeric"
// Claimed rows: still in the attempt this worker claimed ($2 = 'sending').
#define PLIVO_CLAIMED "m.status = $2"
// Rows settling decided, which are not claimed: only while still unsettled since the
// attempt the backlog showed ($2 = 'retrying'); a row changed meanwhile is left alone.
#define PLIVO_STILL_UNSETTLED                                                               \
    "m.status IN ('queued', $2) AND m.unsettled_since = u.settle_guard"
constexpr const char* kApplyUpdatesSql =
    PLIVO_APPLY_UPDATES(PLIVO_COSTS, PLIVO_COST_COLUMNS, PLIVO_CLAIMED);
constexpr const char* kApplyUpdatesBefore030Sql = PLIVO_APPLY_UPDATES("", "", PLIVO_CLAIMED);
constexpr const char* kApplySettledSql =
    PLIVO_APPLY_UPDATES(PLIVO_COSTS, PLIVO_COST_COLUMNS, PLIVO_STILL_UNSETTLED);
constexpr const char* kApplySettledBefore030Sql =
    PLIVO_APPLY_UPDATES("", "", PLIVO_STILL_UNSETTLED);

// Messages whose outcome is unknown, oldest first, once their attempt is older than $1
// ms (DispatchEngine::settle_cutoff): settling's backlog. Read, not claimed. The
// condition of message_logs_open_idx is repeated so that the index serves it.
#define PLIVO_UNSETTLED_BACKLOG(sender_of, via_powerpack)                                   \
    "SELECT m.id::text, m.unsettled_since::text, " sender_of("m") ", " via_powerpack ","   \
    "  m.recipient, m.message_type, pg_catalog.date_part('epoch', m.unsettled_since),"     \
    "  m.plivo_message_uuid"                                                                \
    " FROM plivo.message_logs m"                                                            \
    " WHERE " PLIVO_OUTCOME_OPEN("m") " AND m.status IN ('queued', 'retrying')"             \
    "   AND m.unsettled_since IS NOT NULL"                                                  \
    "   AND m.unsettled_since <= pg_catalog.clock_timestamp() - $1 * interval '1 millisecond'"\
    " ORDER BY m.unsettled_since, m.id LIMIT $2"

// The oldest attempt of the unsettled rows still too recent for the backlog ($1 ms, as
// above): settling waits for it when it would fall in the batch's window.
constexpr const char* kNextUnsettledSql =
    "SELECT pg_catalog.date_part('epoch', min(m.unsettled_since))"
    " FROM plivo.message_logs m"
    " WHERE " PLIVO_OUTCOME_OPEN("m") " AND m.status IN ('queued', 'retrying')"
    "   AND m.unsettled_since > pg_catalog.clock_timestamp() - $1 * interval '1 millisecond'";

// Attempts whose lease ran out were interrupted (a crash): their outcome is unknown.
// On start-up every 'sending' row is such an orphan — there is only one worker.
constexpr const char* kRecoverLeasesSql =
    "UPDATE plivo.message_logs SET status = 'retrying', lease_expires_at = NULL,"
    "  unsettled_since = coalesce(unsettled_since, last_attempt_at, pg_catalog.now()),"
    "  next_attempt_at = 'infinity',"
    "  last_error = 'attempt interrupted (worker or server stopped); its outcome is settled "
    "with Plivo before any resend'"
    " WHERE status = 'sending' AND ($1 OR lease_expires_at < pg_catalog.now())";

constexpr const char* kNextDueSql =
    "SELECT pg_catalog.date_part('epoch', min(next_attempt_at) - pg_catalog.clock_timestamp())"
    " FROM plivo.message_logs WHERE status IN ('queued', 'retrying')"
    "   AND next_attempt_at < 'infinity'";  // waiting to be settled: not due by the clock

// Taken exclusively while recording uuids; handle_status_callback() takes it shared.
constexpr const char* kReportLockSql = "SELECT pg_catalog.pg_advisory_xact_lock(1886152054, 1)";

// Reports Plivo sent before the uuid they name was recorded (see _apply_early_reports).
constexpr const char* kEarlyReportsSql = "SELECT plivo._apply_early_reports($1)";

constexpr const char* kOwnedUuidsSql =
    "SELECT plivo_message_uuid FROM plivo.message_logs WHERE plivo_message_uuid = ANY($1)";

// Other messages of the same pair whose outcome is unknown too (only after a crash took
// several of them in flight): Plivo's list cannot tell theirs from ours.
#define PLIVO_UNSETTLED_RIVALS(sender_of)                                                   \
    "SELECT count(*) FROM plivo.message_logs o"                                             \
    " WHERE o.recipient = $1 AND " sender_of("o") " = $2 AND o.message_type = $3"           \
    "   AND o.id <> $4::uuid AND " PLIVO_OUTCOME_OPEN("o") " AND o.unsettled_since IS NOT NULL"
constexpr const char* kUnsettledRivalsSql = PLIVO_UNSETTLED_RIVALS(PLIVO_PAIR_SENDER);
constexpr const char* kUnsettledBacklogSql =
    PLIVO_UNSETTLED_BACKLOG(PLIVO_PAIR_SENDER, "m.powerpack_uuid IS NOT NULL");
constexpr const char* kUnsettledBacklogBefore030Sql =
    PLIVO_UNSETTLED_BACKLOG(PLIVO_SENDER_BEFORE_030, "false");
constexpr const char* kUnsettledRivalsBefore030Sql =
    PLIVO_UNSETTLED_RIVALS(PLIVO_SENDER_BEFORE_030);

// The worker's plans are generic (planning the claim at each execution cost the worker
// 15-20% of its throughput). Their shape does not depend on the parameters once the
// worker's session has ruled out sequential and bitmap scans (see plivo_dispatcher_main),
// except lease recovery's ($1 OR ...), which runs seldom and is planned per execution.
// The prepared statements, kept across transactions.
struct Plans {
    SPIPlanPtr claim = nullptr;
    bool schema_030 = false;  // claim and unsettled_rivals are those of schema 0.3.0
    SPIPlanPtr apply_updates = nullptr;
    SPIPlanPtr recover = nullptr;
    SPIPlanPtr next_due = nullptr;
    SPIPlanPtr owned_uuids = nullptr;
    SPIPlanPtr unsettled_rivals = nullptr;
    SPIPlanPtr apply_settled = nullptr;
    SPIPlanPtr unsettled_backlog = nullptr;
    SPIPlanPtr next_unsettled = nullptr;
    SPIPlanPtr early_reports = nullptr;
    SPIPlanPtr report_lock = nullptr;
};
Plans plans;

void forget_plans() {
    // Plans hold references to the table; after an error (the extension may have been
    // dropped) start afresh. Freeing a kept plan is safe outside SPI.
    for (SPIPlanPtr* plan : {&plans.claim, &plans.apply_updates, &plans.recover, &plans.next_due,
                             &plans.owned_uuids, &plans.unsettled_rivals, &plans.early_reports,
                             &plans.report_lock, &plans.apply_settled,
                             &plans.unsettled_backlog, &plans.next_unsettled}) {
        if (*plan) SPI_freeplan(*plan);
        *plan = nullptr;
    }
}

// ---------------------------------------------------------------------------------
// One transaction of the loop.

// Catalog lookups need a transaction of their own.
bool extension_installed() {
    return pg_call([] {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        Oid schema = get_namespace_oid("plivo", true);
        bool installed = OidIsValid(schema) && OidIsValid(get_relname_relid("message_logs", schema));
        CommitTransactionCommand();
        return installed;
    });
}

// The lease must outlast the longest time the engine may hold a message (waiting for
// a sender's tokens, then up to five list pages and the send, each up to the request
// timeout); otherwise housekeeping would take up a message the worker still handles.
int effective_lease_ms() {
    long engine_ms = 20000L + 7L * settings.request_timeout_ms;
    long lease_ms = static_cast<long>(settings.lease_seconds) * 1000L;
    return static_cast<int>(std::min<long>(std::max(lease_ms, engine_ms), INT32_MAX));
}

// What plivo.message_events records as the cause of the next statement's changes.
void set_event_cause(const char* cause) {
    (void)set_config_option("plivo.event_cause", cause, PGC_USERSET, PGC_S_SESSION,
                            GUC_ACTION_LOCAL, true, 0, false);
}

// A text Datum, in the current memory context.
Datum text_datum(const std::string& text) {
    return PointerGetDatum(cstring_to_text_with_len(text.data(), text.size()));
}

// A text[] Datum of the given strings, in the current memory context.
Datum text_array(const std::vector<std::string>& strings) {
    int count = static_cast<int>(strings.size());
    Datum* elements = static_cast<Datum*>(palloc(sizeof(Datum) * std::max(count, 1)));
    for (int i = 0; i < count; ++i) {
        elements[i] = PointerGetDatum(cstring_to_text_with_len(strings[i].data(), strings[i].size()));
    }
    return PointerGetDatum(construct_array(elements, count, TEXTOID, -1, false, TYPALIGN_INT));
}

struct StepInput {
    std::string updates_json;  // empty: none
    std::vector<std::string> updated_ids;     // the rows these updates are for
    std::string settled_json;  // settling's updates (rows not claimed); empty: none
    std::vector<std::string> settled_ids;
    std::vector<std::string> recorded_uuids;  // uuids these updates record
    std::vector<plivo::SettleCheck> settle_checks;
    std::size_t claim_limit = 0;
    std::size_t backlog_limit = 0;  // unsettled rows to read for settling (0: none)
    long backlog_cutoff_ms = 0;
    bool recover_leases = false;
    bool recover_all = false;
};

// The engine's outcomes as one step writes them back.
void add_updates(StepInput& input, const std::vector<plivo::RowUpdate>& updates) {
    std::vector<plivo::RowUpdate> claimed, settled;
    for (const plivo::RowUpdate& update : updates) {
        (update.settle_guard ? settled : claimed).push_back(update);
        (update.settle_guard ? input.settled_ids : input.updated_ids).push_back(update.id);
        if (update.plivo_message_uuid) input.recorded_uuids.push_back(*update.plivo_message_uuid);
    }
    if (!claimed.empty()) input.updates_json = plivo::row_updates_json(claimed);
    if (!settled.empty()) input.settled_json = plivo::row_updates_json(settled);
}

struct StepOutput {
    std::vector<plivo::ClaimedMessage> claimed;
    std::vector<plivo::UnsettledMessage> unsettled;  // the backlog, when asked for
    std::optional<plivo::SystemTime> next_unsettled;  // with it: the oldest too recent
    std::vector<std::pair<std::string, plivo::SettleAnswer>> settle_answers;
    std::optional<double> next_due_seconds;
    uint64 recovered = 0;
};

// Reads column `column` of result row `row` as text; nullopt for NULL.
std::optional<std::string> result_text(uint64 row, int column) {
    char* value = pg_call(
        [&] { return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column); });
    if (value == nullptr) return std::nullopt;
    return copy_and_free(value);
}

plivo::ClaimedMessage claimed_from_row(uint64 row) {
    plivo::ClaimedMessage message;
    message.id = result_text(row, 1).value_or("");
    message.params.sender = result_text(row, 2).value_or("");
    message.params.recipient = result_text(row, 3).value_or("");
    message.params.type = result_text(row, 4) == std::optional<std::string>("mms")
                              ? plivo::MessageType::Mms
                              : plivo::MessageType::Sms;
    message.params.text = result_text(row, 5);
    if (auto media = result_text(row, 6)) {
        std::size_t start = 0;
        while (start <= media->size()) {
            std::size_t end = media->find('\n', start);
            std::string url =
                media->substr(start, end == std::string::npos ? std::string::npos : end - start);
            if (!url.empty()) message.params.media_urls.push_back(url);
            if (end == std::string::npos) break;
            start = end + 1;
        }
    }
    message.params.callback_url = result_text(row, 7);
    message.attempts = std::atoi(result_text(row, 8).value_or("1").c_str());
    if (auto unsettled = result_text(row, 9)) {
        double epoch = std::strtod(unsettled->c_str(), nullptr);
        message.unsettled_since =
            plivo::SystemTime(std::chrono::duration_cast<plivo::SystemTime::duration>(
                std::chrono::duration<double>(epoch)));
    }
    message.params.via_powerpack = result_text(row, 12) == std::optional<std::string>("t");
    message.params.log = result_text(row, 10);
    if (auto seconds = result_text(row, 11))
        message.params.message_expiry_seconds = std::atoi(seconds->c_str());
    return message;
}

// A date_part('epoch', ...) as text.
plivo::SystemTime time_from_epoch(const std::string& epoch) {
    return plivo::SystemTime(std::chrono::duration_cast<plivo::SystemTime::duration>(
        std::chrono::duration<double>(std::strtod(epoch.c_str(), nullptr))));
}

plivo::UnsettledMessage unsettled_from_row(uint64 row) {
    plivo::UnsettledMessage message;
    message.id = result_text(row, 1).value_or("");
    message.guard = result_text(row, 2).value_or("");
    message.sender = result_text(row, 3).value_or("");
    message.via_powerpack = result_text(row, 4) == std::optional<std::string>("t");
    message.recipient = result_text(row, 5).value_or("");
    message.type = result_text(row, 6) == std::optional<std::string>("mms") ? plivo::MessageType::Mms
                                                                            : plivo::MessageType::Sms;
    message.unsettled_since = time_from_epoch(result_text(row, 7).value_or("0"));
    message.known_uuid = result_text(row, 8);
    return message;
}

// Runs one short transaction: write back outcomes, answer settle checks, recover
// expired leases, claim new work. Commits before any of the claimed rows is sent.
StepOutput run_step(const StepInput& input) {
    StepOutput output;
    pg_call([] {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        SPI_connect();
        PushActiveSnapshot(GetTransactionSnapshot());
        pgstat_report_activity(STATE_RUNNING, "pg_plivo dispatcher: claiming and recording");
    });

    // ALTER EXTENSION UPDATE may have brought schema 0.3.0 (its consent ledger, the
    // Powerpack, the cost columns) in since the last step: the statements that differ
    // are prepared again.
    pg_call([] {
        Oid schema = get_namespace_oid("plivo", true);
        bool is_030 = OidIsValid(schema) && OidIsValid(get_relname_relid("opt_outs", schema));
        if (is_030 != plans.schema_030) {
            for (SPIPlanPtr* plan : {&plans.claim, &plans.unsettled_rivals, &plans.apply_updates,
                                     &plans.apply_settled, &plans.unsettled_backlog}) {
                if (*plan) SPI_freeplan(*plan);
                *plan = nullptr;
            }
            plans.schema_030 = is_030;
        }
    });

    if (!input.recorded_uuids.empty()) {
        // The lock handle_status_callback() takes shared: a report cannot slip between
        // recording a uuid and applying the reports that came before it.
        pg_call([] {
            int rc = SPI_execute_plan(prepare_once(plans.report_lock, kReportLockSql, 0, nullptr),
                                      nullptr, nullptr, false, 1);
            if (rc != SPI_OK_SELECT) elog(ERROR, "pg_plivo: report lock failed: %d", rc);
        });
    }
    if (!input.updates_json.empty()) {
        const std::string& json = input.updates_json;
        const std::vector<std::string>& ids = input.updated_ids;
        pg_call([&] {
            Oid types[3] = {TEXTOID, TEXTOID, TEXTARRAYOID};
            set_event_cause("plivo_answer");
            Datum values[3] = {PointerGetDatum(cstring_to_text_with_len(json.data(), json.size())),
                               CStringGetTextDatum("sending"), text_array(ids)};
            int rc = SPI_execute_plan(
                prepare_once(plans.apply_updates,
                             plans.schema_030 ? kApplyUpdatesSql : kApplyUpdatesBefore030Sql, 3,
                             types),
                values, nullptr, false, 0);
            if (rc != SPI_OK_UPDATE) elog(ERROR, "pg_plivo: recording outcomes failed: %d", rc);
        });
    }
    if (!input.settled_json.empty()) {
        const std::string& json = input.settled_json;
        const std::vector<std::string>& ids = input.settled_ids;
        pg_call([&] {
            Oid types[3] = {TEXTOID, TEXTOID, TEXTARRAYOID};
            set_event_cause("plivo_answer");
            Datum values[3] = {PointerGetDatum(cstring_to_text_with_len(json.data(), json.size())),
                               CStringGetTextDatum("retrying"), text_array(ids)};
            int rc = SPI_execute_plan(
                prepare_once(plans.apply_settled,
                             plans.schema_030 ? kApplySettledSql : kApplySettledBefore030Sql, 3,
                             types),
                values, nullptr, false, 0);
            if (rc != SPI_OK_UPDATE) elog(ERROR, "pg_plivo: recording settled outcomes failed: %d", rc);
        });
    }
    if (!input.recorded_uuids.empty()) {
        const std::vector<std::string>& uuids = input.recorded_uuids;
        pg_call([&] {
            Oid types[1] = {TEXTARRAYOID};
            Datum values[1] = {text_array(uuids)};
            int rc = SPI_execute_plan(prepare_once(plans.early_reports, kEarlyReportsSql, 1, types),
                                      values, nullptr, false, 1);
            if (rc != SPI_OK_SELECT) elog(ERROR, "pg_plivo: applying early reports failed: %d", rc);
        });
    }

    // read_only = false below: a fresh snapshot that sees this step's own updates.
    for (const plivo::SettleCheck& check : input.settle_checks) {
        const std::vector<std::string>& candidates = check.candidate_uuids;
        uint64 rows = pg_call([&] {
            Oid types[1] = {TEXTARRAYOID};
            Datum values[1] = {text_array(candidates)};
            int rc = SPI_execute_plan(prepare_once(plans.owned_uuids, kOwnedUuidsSql, 1, types),
                                      values, nullptr, false, 0);
            if (rc != SPI_OK_SELECT) elog(ERROR, "pg_plivo: settle lookup failed: %d", rc);
            return SPI_processed;
        });
        plivo::SettleAnswer answer;
        for (uint64 row = 0; row < rows; ++row) {
            if (auto uuid = result_text(row, 1)) answer.owned_uuids.insert(*uuid);
        }
        answer.unsettled_rivals = pg_call([&] {
            Oid types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
            Datum values[4] = {text_datum(check.recipient), text_datum(check.sender),
                               text_datum(check.message_type), text_datum(check.id)};
            int rc = SPI_execute_plan(
                prepare_once(plans.unsettled_rivals,
                             plans.schema_030 ? kUnsettledRivalsSql : kUnsettledRivalsBefore030Sql,
                             4, types),
                values,
                nullptr, false, 1);
            if (rc != SPI_OK_SELECT || SPI_processed != 1)
                elog(ERROR, "pg_plivo: settle rival lookup failed: %d", rc);
            bool isnull = false;
            return static_cast<int>(DatumGetInt64(
                SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
        });
        output.settle_answers.emplace_back(check.id, std::move(answer));
    }

    if (input.recover_leases) {
        bool all = input.recover_all;
        output.recovered = pg_call([&] {
            Oid types[1] = {BOOLOID};
            set_event_cause("lease_recovery");
            Datum values[1] = {BoolGetDatum(all)};
            int rc = SPI_execute_plan(prepare_once(plans.recover, kRecoverLeasesSql, 1, types,
                                                    PlanKind::PerExecution),
                                      values, nullptr, false, 0);
            if (rc != SPI_OK_UPDATE) elog(ERROR, "pg_plivo: lease recovery failed: %d", rc);
            return SPI_processed;
        });
    }

    if (input.backlog_limit > 0) {
        const Datum cutoff_ms =
            Int32GetDatum(static_cast<int32>(std::min<long>(input.backlog_cutoff_ms, INT32_MAX)));
        uint64 rows = pg_call([&] {
            Oid types[2] = {INT4OID, INT4OID};
            Datum values[2] = {cutoff_ms, Int32GetDatum(static_cast<int32>(input.backlog_limit))};
            int rc = SPI_execute_plan(
                prepare_once(plans.unsettled_backlog,
                             plans.schema_030 ? kUnsettledBacklogSql : kUnsettledBacklogBefore030Sql,
                             2, types),
                values, nullptr, false, 0);
            if (rc != SPI_OK_SELECT) elog(ERROR, "pg_plivo: reading the unsettled backlog failed: %d", rc);
            return SPI_processed;
        });
        output.unsettled.reserve(rows);
        for (uint64 row = 0; row < rows; ++row) output.unsettled.push_back(unsettled_from_row(row));
        uint64 next_rows = pg_call([&] {
            Oid types[1] = {INT4OID};
            Datum values[1] = {cutoff_ms};
            int rc = SPI_execute_plan(prepare_once(plans.next_unsettled, kNextUnsettledSql, 1, types),
                                      values, nullptr, true, 1);
            if (rc != SPI_OK_SELECT) elog(ERROR, "pg_plivo: reading the next unsettled failed: %d", rc);
            return SPI_processed;
        });
        if (next_rows == 1) {
            if (auto epoch = result_text(0, 1)) output.next_unsettled = time_from_epoch(*epoch);
        }
    }

    if (input.claim_limit > 0) {
        std::size_t limit = input.claim_limit;
        uint64 rows = pg_call([&] {
            Oid types[2] = {INT4OID, INT4OID};
            set_event_cause("claim");
            Datum values[2] = {Int32GetDatum(static_cast<int32>(limit)),
                               Int32GetDatum(effective_lease_ms())};
            int rc = SPI_execute_plan(
                prepare_once(plans.claim, plans.schema_030 ? kClaimSql : kClaimBefore030Sql, 2,
                             types),
                values, nullptr, false, 0);
            if (rc != SPI_OK_UPDATE_RETURNING) elog(ERROR, "pg_plivo: claim failed: %d", rc);
            return SPI_processed;
        });
        output.claimed.reserve(rows);
        for (uint64 row = 0; row < rows; ++row) output.claimed.push_back(claimed_from_row(row));
    }

    uint64 due_rows = pg_call([] {
        int rc = SPI_execute_plan(prepare_once(plans.next_due, kNextDueSql, 0, nullptr), nullptr,
                                  nullptr, true, 1);
        if (rc != SPI_OK_SELECT) elog(ERROR, "pg_plivo: next-due lookup failed: %d", rc);
        return SPI_processed;
    });
    if (due_rows == 1) {
        if (auto seconds = result_text(0, 1))
            output.next_due_seconds = std::strtod(seconds->c_str(), nullptr);
    }

    pg_call([] {
        SPI_finish();
        PopActiveSnapshot();
        CommitTransactionCommand();
        pgstat_report_activity(STATE_IDLE, nullptr);
    });
    return output;
}

void log_message(int level, const std::string& text) {
    pg_call([&] { ereport(level, (errmsg_internal("pg_plivo dispatcher: %s", text.c_str()))); });
}

// After a Postgres error inside a step: roll back, forget plans, go on.
// plivo.paused as the worker applies it: shown by worker_status(), and in the log.
void publish_paused(bool paused) {
    if (!shared_state) return;
    SpinLockAcquire(&shared_state->mutex);
    shared_state->paused = paused;
    SpinLockRelease(&shared_state->mutex);
}

void log_paused(bool paused) {
    log_message(LOG, paused ? "sending paused (plivo.paused): attempts already started "
                              "finish, queued messages wait"
                            : "sending resumed");
}

void recover_from_step_error(const PostgresError& error) {
    ErrorData* data = error.data();
    pg_call([&] {
        ereport(WARNING,
                (errcode(data->sqlerrcode),
                 errmsg("pg_plivo dispatcher: %s", data->message ? data->message : "error"),
                 data->detail ? errdetail_internal("%s", data->detail) : 0));
        AbortCurrentTransaction();
    });
    forget_plans();
}

constexpr long kRetentionIntervalMs = 60000;
constexpr int kPurgeBatch = 5000;
constexpr int kPurgeBatchesPerRound = 20;  // then back to sending; the rest next round
constexpr const char* kPurgeSql =
    "SELECT plivo.purge_message_logs($1 * interval '1 minute', $2, 1)";
SPIPlanPtr purge_plan = nullptr;

// plivo.retention: purge messages in a final status older than the setting, one batch
// per short transaction so that no lock is held long.
void purge_old_messages() {
    if (settings.retention_minutes <= 0) return;
    for (int round = 0; round < kPurgeBatchesPerRound && !shutdown_requested; ++round) {
        int64 purged = 0;
        try {
            purged = pg_call([] {
                SetCurrentStatementStartTimestamp();
                StartTransactionCommand();
                SPI_connect();
                PushActiveSnapshot(GetTransactionSnapshot());
                pgstat_report_activity(STATE_RUNNING, "pg_plivo dispatcher: purging old messages");
                Oid types[2] = {INT4OID, INT4OID};
                Datum values[2] = {Int32GetDatum(settings.retention_minutes),
                                   Int32GetDatum(kPurgeBatch)};
                int rc = SPI_execute_plan(prepare_once(purge_plan, kPurgeSql, 2, types), values,
                                          nullptr, false, 1);
                if (rc != SPI_OK_SELECT) elog(ERROR, "pg_plivo: purge failed: %d", rc);
                bool isnull = false;
                int64 count = DatumGetInt64(
                    SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
                SPI_finish();
                PopActiveSnapshot();
                CommitTransactionCommand();
                pgstat_report_activity(STATE_IDLE, nullptr);
                return count;
            });
        } catch (const PostgresError& error) {
            recover_from_step_error(error);
            if (purge_plan) {
                SPI_freeplan(purge_plan);
                purge_plan = nullptr;
            }
            return;
        }
        if (purged < kPurgeBatch) return;
    }
}

// When a batch of outcomes cannot be written (one bad row fails the whole UPDATE), each
// is written on its own; one that still fails is dropped with a WARNING: its row stays
// 'sending' until the lease runs out and is then settled with Plivo like a crash.
void apply_updates_one_by_one(std::vector<plivo::RowUpdate>& updates) {
    for (const plivo::RowUpdate& update : updates) {
        StepInput single;
        add_updates(single, {update});
        try {
            run_step(single);
        } catch (const PostgresError& error) {
            recover_from_step_error(error);
            log_message(WARNING, "could not record the outcome of message " + update.id +
                                     " (status " + update.status +
                                     "); it will be settled with Plivo when its lease expires");
        }
    }
    updates.clear();
}

// ---------------------------------------------------------------------------------
// Settings → engine configuration.

struct Credentials {
    std::optional<std::string> auth_id;
    std::optional<std::string> auth_token;
};

Credentials read_credentials() {
    Credentials credentials;
    pg_call([] {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        PushActiveSnapshot(GetTransactionSnapshot());
    });
    try {
        credentials.auth_id = configured_auth_id();
        credentials.auth_token = configured_auth_token();
    } catch (const PostgresError& error) {
        recover_from_step_error(error);
        return credentials;
    }
    pg_call([] {
        PopActiveSnapshot();
        CommitTransactionCommand();
    });
    return credentials;
}

plivo::EngineConfig engine_config(const Credentials& credentials) {
    plivo::EngineConfig config;
    config.account.api_url = settings.api_url ? settings.api_url : "";
    config.account.auth_id = credentials.auth_id.value_or("");
    config.account.auth_token = credentials.auth_token.value_or("");
    config.account.version = kVersion;
    config.http.max_in_flight = static_cast<std::size_t>(settings.max_in_flight);
    // One batch ready behind the requests on the wire (claims are capped by the
    // account's rate all the same).
    config.claim_ahead = config.http.max_in_flight;
    // With few slots and quick answers, up to a write batch's worth, as many as are
    // answered while an outcome may wait to be written.
    config.claim_ahead_max = std::max(config.claim_ahead, kWriteBatch);
    config.claim_ahead_window = kMaxWriteDelay;
    config.http.request_timeout = std::chrono::milliseconds(settings.request_timeout_ms);
    config.http.connect_timeout =
        std::chrono::milliseconds(std::min(5000, settings.request_timeout_ms));
    config.retry.base = std::chrono::milliseconds(settings.retry_base_ms);
    config.retry.cap =
        std::chrono::milliseconds(std::max(settings.retry_cap_ms, settings.retry_base_ms));
    config.retry.max_attempts = settings.max_attempts;
    config.limits.account_rate = settings.account_rate_limit;
    // Burst 1: requests are paced evenly. Plus what the rate gives in kTokenLateness, so
    // that a loop late for its tokens (a step, a wake-up rounded to the millisecond)
    // catches up instead of sending below the rate; the account's sliding window keeps
    // any 5 s of Plivo's within rate × 5 s all the same.
    config.limits.account_burst = 1.0;
    config.limits.sender_rate = settings.sender_rate_limit;
    config.limits.sender_burst = 1.0;
    config.limits.catch_up = kTokenLateness;
    config.limits.window = kPlivoRateWindow;
    config.limits.window_margin = kPlivoWindowMargin;
    try {
        config.limits.sender_rates = plivo::parse_sender_rates(
            settings.sender_rate_limits ? settings.sender_rate_limits : "");
    } catch (const plivo::InputError&) {
        // The GUC check hook rejects malformed values; this keeps the defaults if one slips by.
        config.limits.sender_rates.clear();
    }
    config.settle_delay = std::chrono::milliseconds(settings.settle_delay_ms);
    config.list_requests_per_minute = settings.list_requests_per_minute;
    config.settle_clock_tolerance = std::chrono::milliseconds(settings.settle_clock_tolerance_ms);
    config.media.enabled = settings.media_preflight;
    config.media.allow_private_addresses = settings.media_allow_private;
    if (settings.callback_url && settings.callback_url[0]) {
        config.default_callback_url = std::string(settings.callback_url);
    }
    return config;
}

bool credentials_complete(const Credentials& credentials) {
    return credentials.auth_id && !credentials.auth_id->empty() && credentials.auth_token &&
           !credentials.auth_token->empty();
}

// Settling that keeps failing (the list API refusing or broken) holds messages back
// without failing them: say so in the server log, at most once a minute.
constexpr auto kSettleWarningInterval = std::chrono::seconds(60);
struct SettleWarnings {
    std::uint64_t failures_warned = 0;
    SteadyClock::time_point last{};
};

void warn_if_settling_held_up(const plivo::DispatchEngine& engine, SettleWarnings& warned,
                              SteadyClock::time_point now) {
    plivo::DispatchEngine::SettleProgress progress = engine.settle_progress();
    if (progress.failures <= warned.failures_warned || now - warned.last < kSettleWarningInterval)
        return;
    log_message(WARNING,
                "settling unknown outcomes is held up: " + progress.last_error + " (" +
                    std::to_string(progress.failures - warned.failures_warned) +
                    " failed settling request(s) since the last warning; " +
                    std::to_string(progress.list_requests) + " list requests, " +
                    std::to_string(progress.list_rate_limited) +
                    " refused by the list API's limit); those messages wait, none is resent "
                    "before its outcome is known");
    warned.failures_warned = progress.failures;
    warned.last = now;
}

// ---------------------------------------------------------------------------------
// The loop.

void run_dispatcher() {
    Credentials credentials = read_credentials();
    auto engine = std::make_unique<plivo::DispatchEngine>(engine_config(credentials));
    bool warned_no_credentials = false;
    bool warned_no_extension = false;
    bool first_recovery = true;
    bool claim_wanted = true;
    std::vector<plivo::RowUpdate> pending_updates;
    auto last_housekeeping = SteadyClock::now() - std::chrono::hours(1);
    auto last_credentials = SteadyClock::now();
    auto last_retention = SteadyClock::now() - std::chrono::hours(1);
    auto last_step = SteadyClock::now();
    auto oldest_pending = SteadyClock::now();
    SteadyClock::time_point next_due = SteadyClock::time_point::max();  // max: none known
    SettleWarnings settle_warnings;
    bool paused = settings.paused;
    publish_paused(paused);
    if (paused) log_paused(paused);

    while (!shutdown_requested) {
        pg_call([] { CHECK_FOR_INTERRUPTS(); });
        auto now = SteadyClock::now();

        bool reload = false;
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            pg_call([] { ProcessConfigFile(PGC_SIGHUP); });
            reload = true;
        }
        if (reload || now - last_credentials > std::chrono::milliseconds(kCredentialRefreshMs)) {
            credentials = read_credentials();
            last_credentials = now;
            engine->configure(engine_config(credentials));
            if (reload) {
                log_message(LOG, "settings reloaded");
                last_retention = SteadyClock::now() - std::chrono::hours(1);  // apply it now
                if (settings.paused != paused) {
                    paused = settings.paused;
                    publish_paused(paused);
                    log_paused(paused);
                    // Claimed messages not yet on the wire go back unsent.
                    if (paused) engine->release_held("sending paused (plivo.paused)");
                    claim_wanted = true;
                }
            }
        }

        if (!extension_installed()) {
            if (!warned_no_extension) {
                log_message(LOG,
                            std::string("waiting for CREATE EXTENSION pg_plivo in database \"") +
                                settings.database + "\"");
                warned_no_extension = true;
            }
            pg_call([] {
                int rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
                                   kHousekeepingMs, PG_WAIT_EXTENSION);
                (void)rc;
                ResetLatch(MyLatch);
            });
            continue;
        }
        warned_no_extension = false;

        bool can_send = credentials_complete(credentials);
        if (!can_send && !warned_no_credentials) {
            log_message(WARNING,
                        "no Plivo credentials: set plivo.auth_id and plivo.auth_token (or the "
                        "Vault secrets plivo_auth_id and plivo_auth_token); messages wait queued");
            warned_no_credentials = true;
        }
        if (can_send) warned_no_credentials = false;

        for (plivo::RowUpdate& update : engine->take_updates()) {
            if (pending_updates.empty()) oldest_pending = now;
            pending_updates.push_back(std::move(update));
        }
        StepInput input;
        input.settle_checks = engine->take_settle_checks();
        bool housekeeping = now - last_housekeeping >= std::chrono::milliseconds(kHousekeepingMs);
        if (now >= next_due) claim_wanted = true;
        std::size_t capacity = 0;
        if (can_send && !paused && (claim_wanted || housekeeping))
            capacity = engine->claim_capacity(now);

        // While requests are in flight, steps are batched: each is a transaction, and a
        // transaction per handful of results is what limits throughput. Outcomes are
        // written once enough have gathered or the oldest has waited kMaxWriteDelay;
        // claims wait for half of the slots, or a quarter that has waited kClaimGather
        // (answers that come back together, as after a slow Plivo, are not held up
        // long), or kMaxWriteDelay. With nothing in flight, at once.
        // Claim thresholds count the claim-ahead beyond max_in_flight too, so that with
        // few slots and quick answers a claim is a batch, not one message.
        const bool busy = engine->in_flight() > 0;
        const std::size_t slots = static_cast<std::size_t>(settings.max_in_flight);
        const std::size_t window = engine->claim_window();
        const std::size_t gather = std::max(slots, window > slots ? window - slots : 0);
        const bool write_now =
            !pending_updates.empty() &&
            (!busy || pending_updates.size() >= std::max(kWriteBatch, slots / 2) ||
             now - oldest_pending >= kMaxWriteDelay);
        const bool claim_now =
            capacity > 0 &&
            (!busy || capacity >= std::max<std::size_t>(1, gather / 2) ||
             (capacity >= std::max<std::size_t>(1, gather / 4) && !pending_updates.empty() &&
              now - oldest_pending >= kClaimGather) ||
             now - last_step >= kMaxWriteDelay);
        // Settling reads its backlog (it goes on while paused: it sends nothing). Decisions
        // not yet written go first, so that the backlog does not bring those rows again.
        const std::size_t backlog = can_send ? engine->settle_backlog_wanted(now) : 0;
        if (write_now || ((claim_now || backlog > 0) && !pending_updates.empty())) {
            add_updates(input, pending_updates);
        }
        if (claim_now) input.claim_limit = capacity;
        if (backlog > 0) {
            input.backlog_limit = backlog;
            input.backlog_cutoff_ms = engine->settle_cutoff().count();
        }
        input.recover_leases = housekeeping || first_recovery;
        input.recover_all = first_recovery;

        bool work = !input.updates_json.empty() || !input.settled_json.empty() ||
                    !input.settle_checks.empty() || input.claim_limit > 0 ||
                    input.backlog_limit > 0 || input.recover_leases;
        if (work) {
            try {
                StepOutput output = run_step(input);
                last_step = now;
                if (!input.updates_json.empty() || !input.settled_json.empty()) {
                    engine->uuids_recorded(pending_updates);
                    pending_updates.clear();
                }
                if (input.backlog_limit > 0)
                    engine->add_unsettled(std::move(output.unsettled), now, output.next_unsettled);
                for (auto& [id, answer] : output.settle_answers)
                    engine->resolve_settle_check(id, answer, now);
                if (input.recover_leases) {
                    last_housekeeping = now;
                    warn_if_settling_held_up(*engine, settle_warnings, now);
                    if (output.recovered > 0) {
                        log_message(LOG,
                                    std::to_string(output.recovered) +
                                        " interrupted attempt(s) taken up again; their outcome "
                                        "is settled with Plivo before any resend");
                    }
                    first_recovery = false;
                }
                std::size_t claimed = output.claimed.size();
                if (claimed > 0) engine->add_claimed(std::move(output.claimed), now);
                // A full batch means more may be due right now.
                claim_wanted = input.claim_limit > 0 && claimed == input.claim_limit;
                if (output.next_due_seconds) {
                    double seconds = std::max(0.0, *output.next_due_seconds);
                    // Due rows this claim could not take are locked by someone else:
                    // look again shortly rather than spin on them.
                    if (seconds == 0.0 && input.claim_limit > 0 && claimed < input.claim_limit) {
                        seconds = 0.25;
                    }
                    next_due = now + std::chrono::duration_cast<SteadyClock::duration>(
                                         std::chrono::duration<double>(seconds));
                } else {
                    next_due = SteadyClock::time_point::max();
                }
                publish_heartbeat(engine->in_flight(), claimed);
            } catch (const PostgresError& error) {
                // Outcomes not written stay in pending_updates for the next step.
                // Unanswered settle checks go back to the queue, still unsettled: answering
                // them without the owned uuids could take another row's uuid.
                for (plivo::SettleCheck& check : input.settle_checks) {
                    engine->cancel_settle_check(check.id, now);
                }
                recover_from_step_error(error);
                if (!pending_updates.empty()) apply_updates_one_by_one(pending_updates);
                pg_call([] {
                    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000,
                                    PG_WAIT_EXTENSION);
                    ResetLatch(MyLatch);
                });
                continue;
            }
        }

        if (now - last_retention >= std::chrono::milliseconds(kRetentionIntervalMs)) {
            last_retention = now;
            purge_old_messages();
        }

        if (engine->in_flight() > 0) {
            engine->perform(kPerformSlice);
            if (pg_call([] { return MyLatch->is_set; })) {
                pg_call([] { ResetLatch(MyLatch); });
                claim_wanted = true;
            }
            continue;
        }
        // Nothing on the wire: sleep until woken, the next due message, the engine's
        // next timer (a held message), or housekeeping. Timed from the clock now, not
        // from the top of the round: the step may have taken milliseconds.
        const auto sleep_from = SteadyClock::now();
        long timeout = kHousekeepingMs;
        // Paused, a due message is no reason to wake: nothing will claim it.
        if (!paused && next_due != SteadyClock::time_point::max()) {
            auto until =
                std::chrono::duration_cast<std::chrono::milliseconds>(next_due - sleep_from)
                    .count();
            timeout = std::min<long>(timeout, std::max<long>(until, 0));
        }
        if (!pending_updates.empty()) timeout = std::min<long>(timeout, 100);
        // Never spin: when this round did nothing, sleep at least a little (due rows the
        // claim cannot take yet: the account paused by a 429, or every slot held).
        if (!work) timeout = std::max<long>(timeout, 10);
        // The engine's timer is exact (a held message's tokens, a hold running out) and
        // not held to that floor: raised to 10 ms, a token due in 4 ms came 6 ms late,
        // token after token (45 requests a second sent for 60).
        if (auto wake = engine->next_wakeup(sleep_from))
            timeout = std::min<long>(timeout, wake->count());
        if (timeout > 0) {
            bool woken = pg_call([&] {
                int rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
                                   timeout, PG_WAIT_EXTENSION);
                ResetLatch(MyLatch);
                return (rc & WL_LATCH_SET) != 0;
            });
            if (woken) claim_wanted = true;
        }
    }

    // SIGTERM: stop the transfers; every claimed message gets an honest update.
    engine->abort_all();
    for (plivo::RowUpdate& update : engine->take_updates())
        pending_updates.push_back(std::move(update));
    if (!pending_updates.empty()) {
        StepInput input;
        add_updates(input, pending_updates);
        try {
            run_step(input);
        } catch (const PostgresError& error) {
            // The rows stay 'sending'; the next worker treats them as interrupted.
            recover_from_step_error(error);
        }
    }
}

}  // namespace

bool worker_serves_this_database() {
    if (!shared_state) return false;
    SpinLockAcquire(&shared_state->mutex);
    bool serves = shared_state->pid != 0 && shared_state->database_id == MyDatabaseId;
    SpinLockRelease(&shared_state->mutex);
    return serves;
}

void signal_queued_at_commit() {
    if (settings.notify_on_enqueue == kNotifyAlways ||
        (settings.notify_on_enqueue == kNotifyAuto && !worker_serves_this_database())) {
        Async_Notify(kQueueChannel, "");
    }
    if (!xact_callback_registered) {
        RegisterXactCallback(on_transaction_end, nullptr);
        xact_callback_registered = true;
    }
    wake_pending = true;
}

void register_worker_if_preloaded() {
    if (!process_shared_preload_libraries_in_progress) return;
    previous_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = request_shared_memory;
    previous_shmem_startup_hook = shmem_startup_hook;
    shmem_startup_hook = attach_shared_memory;

    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    snprintf(worker.bgw_name, BGW_MAXLEN, "pg_plivo dispatcher");
    snprintf(worker.bgw_type, BGW_MAXLEN, "pg_plivo dispatcher");
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = 1;  // seconds: a crashed worker is back almost at once
    snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_plivo");
    snprintf(worker.bgw_function_name, BGW_MAXLEN, "plivo_dispatcher_main");
    worker.bgw_main_arg = Datum(0);
    worker.bgw_notify_pid = 0;
    RegisterBackgroundWorker(&worker);
}

}  // namespace pg_plivo

using namespace pg_plivo;

// The worker process's entry point (registered in _PG_init).
void plivo_dispatcher_main(Datum) {
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, handle_sigterm);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection(settings.database, nullptr, 0);
    pgstat_report_appname("pg_plivo dispatcher");
    // Every statement the worker runs walks an index for a few rows, whatever the
    // statistics say. A generic plan reads the claim's LIMIT $1 as a tenth of the queue,
    // and just after a bulk enqueue the statistics still describe an empty table: with
    // sequential or bitmap scans allowed, the planner then scans and sorts the whole queue
    // (100 ms a claim at 50,000 queued) instead of taking its head from
    // message_logs_due_idx. A bitmap scan also reads every dead entry of a partial index
    // without pruning it, where a plain index scan marks them dead. JIT would compile
    // such plans first because of their large estimates.
    SetConfigOption("enable_seqscan", "off", PGC_USERSET, PGC_S_OVERRIDE);
    SetConfigOption("enable_bitmapscan", "off", PGC_USERSET, PGC_S_OVERRIDE);
    SetConfigOption("jit", "off", PGC_USERSET, PGC_S_OVERRIDE);

    if (shared_state) {
        SpinLockAcquire(&shared_state->mutex);
        shared_state->latch = MyLatch;
        shared_state->pid = MyProcPid;
        shared_state->database_id = MyDatabaseId;
        shared_state->started_at = GetCurrentTimestamp();
        shared_state->heartbeat_at = shared_state->started_at;
        shared_state->attempts_started = 0;
        SpinLockRelease(&shared_state->mutex);
    }
    on_shmem_exit(leave_shared_state, Datum(0));

    CURLcode curl_status = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (curl_status != CURLE_OK) {
        ereport(ERROR, (errmsg("pg_plivo dispatcher: curl_global_init failed: %s",
                               curl_easy_strerror(curl_status))));
    }
    ereport(LOG, (errmsg("pg_plivo dispatcher started in database \"%s\"", settings.database)));

    BoundaryError error;
    bool failed = false;
    try {
        run_dispatcher();
    } catch (...) {
        capture_current_exception(error);
        failed = true;
    }
    curl_global_cleanup();
    if (failed) raise_boundary_error(error);  // ERROR in a worker exits it; it is restarted

    ereport(LOG, (errmsg("pg_plivo dispatcher stopping")));
    // Exit code 1: restarted after bgw_restart_time unless the server is shutting down,
    // so a stray pg_terminate_backend() cannot stop sending for good.
    proc_exit(1);
}

// plivo.worker_status(): is a dispatcher running, since when, and how busy.
extern "C" Datum plivo_worker_status(PG_FUNCTION_ARGS) {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE) {
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("plivo.worker_status() must return a record")));
    }
    desc = BlessTupleDesc(desc);
    Datum values[8];
    bool nulls[8] = {false, false, false, false, false, false, false, false};
    WorkerShared snapshot;
    memset(&snapshot, 0, sizeof snapshot);
    bool preloaded = shared_state != nullptr;
    if (preloaded) {
        SpinLockAcquire(&shared_state->mutex);
        snapshot = *shared_state;
        SpinLockRelease(&shared_state->mutex);
    }
    bool running = preloaded && snapshot.pid != 0;
    values[0] = BoolGetDatum(preloaded);
    values[1] = BoolGetDatum(running);
    values[2] = Int32GetDatum(snapshot.pid);
    nulls[2] = !running;
    values[3] = TimestampTzGetDatum(snapshot.started_at);
    nulls[3] = !running;
    values[4] = TimestampTzGetDatum(snapshot.heartbeat_at);
    nulls[4] = !running;
    values[5] = Int32GetDatum(static_cast<int32>(snapshot.in_flight));
    values[6] = Int64GetDatum(static_cast<int64>(snapshot.attempts_started));
    values[7] = BoolGetDatum(snapshot.paused);
    nulls[7] = !running;
    HeapTuple tuple = heap_form_tuple(desc, values, nulls);
    PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

// plivo._wake_dispatcher(): wake the worker (and NOTIFY, see signal_queued_at_commit)
// when this transaction commits; for the re-drive functions, whose UPDATE does not fire
// the INSERT trigger.
extern "C" Datum plivo_wake_dispatcher(PG_FUNCTION_ARGS) {
    signal_queued_at_commit();
    PG_RETURN_VOID();
}
