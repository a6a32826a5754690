// Enqueuing: plivo.send_mms(), plivo.send_sms() and INSERT INTO plivo.message_logs all
// end in the same BEFORE INSERT trigger, which validates through dispatcher/'s
// validate_outgoing() — one implementation for every way in.
#include "guard.hpp"

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "input_error.hpp"
#include "json_inputs.hpp"
#include "message_events.hpp"
#include "message_id.hpp"
#include "outgoing_message.hpp"
#include "settings.hpp"
#include "spi_plans.hpp"
#include "sql_arguments.hpp"
#include "worker.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(plivo_validate_message);
PG_FUNCTION_INFO_V1(plivo_after_enqueue);
PG_FUNCTION_INFO_V1(plivo_touch_updated_at);
PG_FUNCTION_INFO_V1(plivo_send_mms);
PG_FUNCTION_INFO_V1(plivo_send_sms);
PG_FUNCTION_INFO_V1(plivo_new_message_id);
}

namespace pg_plivo {
namespace {

// The names errors use for the fields: column names for a plain INSERT, argument names
// while send_mms/send_sms run their INSERT.
const plivo::FieldNames* current_field_names = &plivo::kColumnNames;

class FieldNamesScope {
public:
    explicit FieldNamesScope(const plivo::FieldNames* names) : saved_(current_field_names) {
        current_field_names = names;
    }
    ~FieldNamesScope() { current_field_names = saved_; }

private:
    const plivo::FieldNames* saved_;
};

// Columns the worker owns: an INSERT may leave them out or give their initial value.
struct WorkerColumn {
    const char* name;
    bool may_be_queued;  // status: 'queued' is its initial value
};
constexpr WorkerColumn kWorkerColumns[] = {
    {"status", true},         {"plivo_message_uuid", false}, {"plivo_status_info", false},
    {"error_code", false},    {"lease_expires_at", false},   {"last_attempt_at", false},
    {"last_error", false},    {"last_http_status", false},   {"unsettled_since", false},
    // 0.3.0: filled from Plivo's reports and by the SMS fallback
    {"units", false},         {"total_rate", false},         {"total_amount", false},
    {"fallback_message_id", false},
};

// A column's number, found by name once and checked by name on each use: it changes
// only when the table is altered, and then the check sends us to look it up again.
// (Every row looks up some twenty columns; SPI_fnumber compares each with every name.)
// Keyed by the name's address: the callers pass string literals.
// 0 when there is no such column.
int find_column(TupleDesc desc, const char* name) {
    static std::unordered_map<const char*, int> known;
    if (auto entry = known.find(name); entry != known.end() && entry->second <= desc->natts) {
        Form_pg_attribute column = TupleDescAttr(desc, entry->second - 1);
        if (!column->attisdropped && strcmp(NameStr(column->attname), name) == 0)
            return entry->second;
    }
    int attnum = SPI_fnumber(desc, name);
    if (attnum <= 0) return 0;
    known[name] = attnum;
    return attnum;
}

int column_number(TupleDesc desc, const char* name) {
    int attnum = find_column(desc, name);
    if (attnum <= 0)
        throw std::logic_error(std::string("plivo.message_logs has no column ") + name);
    return attnum;
}

std::optional<std::string> text_column(HeapTuple tuple, TupleDesc desc, int attnum) {
    bool isnull = false;
    Datum value = heap_getattr(tuple, attnum, desc, &isnull);
    if (isnull) return std::nullopt;
    char* cstring = pg_call([&] { return text_to_cstring(DatumGetTextPP(value)); });
    std::string result(cstring);
    pfree(cstring);
    return result;
}

std::optional<std::vector<std::optional<std::string>>> text_array_column(HeapTuple tuple,
                                                                         TupleDesc desc,
                                                                         int attnum) {
    bool isnull = false;
    Datum value = heap_getattr(tuple, attnum, desc, &isnull);
    if (isnull) return std::nullopt;
    Datum* elements = nullptr;
    bool* element_nulls = nullptr;
    int count = 0;
    int dimensions = 0;
    pg_call([&] {
        ArrayType* array = DatumGetArrayTypeP(value);
        dimensions = ARR_NDIM(array);
        deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elements, &element_nulls,
                          &count);
    });
    if (dimensions > 1) {
        throw plivo::InputError(
            plivo::InputErrorKind::InvalidParameter, current_field_names->media_urls,
            current_field_names->media_urls + " must be a one-dimensional array",
            "The array has " + std::to_string(dimensions) + " dimensions.",
            "Pass the URLs as ARRAY['https://…', …].");
    }
    std::vector<std::optional<std::string>> result;
    result.reserve(count);
    for (int i = 0; i < count; ++i) {
        if (element_nulls[i]) {
            result.emplace_back(std::nullopt);
            continue;
        }
        char* cstring = pg_call([&] { return TextDatumGetCString(elements[i]); });
        result.emplace_back(std::string(cstring));
        pfree(cstring);
    }
    return result;
}

// The JWT subject PostgREST put in request.jwt.claims, if any.
std::optional<std::string> request_subject() {
    const char* claims = pg_call([] { return GetConfigOption("request.jwt.claims", true, false); });
    if (claims == nullptr) return std::nullopt;
    return plivo::jwt_subject(claims);
}

void reject_worker_columns(HeapTuple tuple, TupleDesc desc) {
    for (const WorkerColumn& column : kWorkerColumns) {
        int attnum = find_column(desc, column.name);
        if (attnum <= 0) continue;  // a column of a later schema version
        bool isnull = false;
        (void)heap_getattr(tuple, attnum, desc, &isnull);
        if (isnull) continue;
        if (column.may_be_queued) {
            auto text = text_column(tuple, desc, attnum);
            if (text == "queued") continue;
        }
        throw plivo::InputError(
            plivo::InputErrorKind::InvalidParameter, column.name,
            std::string(column.name) + " cannot be set when a message is enqueued",
            std::string("pg_plivo sets ") + column.name + " while it sends the message.",
            std::string("Leave ") + column.name + " out of the INSERT.");
    }
    int attempts_attnum = column_number(desc, "attempts");
    bool isnull = false;
    Datum attempts = heap_getattr(tuple, attempts_attnum, desc, &isnull);
    if (!isnull && DatumGetInt32(attempts) != 0) {
        throw plivo::InputError(plivo::InputErrorKind::InvalidParameter, "attempts",
                                "attempts cannot be set when a message is enqueued",
                                "The value was " + std::to_string(DatumGetInt32(attempts)) + ".",
                                "Leave attempts out of the INSERT.");
    }
}

constexpr const char* kQuotaSql =
    "SELECT pg_catalog.count(*) FROM plivo.message_logs WHERE created_by OPERATOR(pg_catalog.=) $1 "
    "AND created_at OPERATOR(pg_catalog.>) "
    "(pg_catalog.now() OPERATOR(pg_catalog.-) '1 hour'::pg_catalog.interval)";
SPIPlanPtr quota_plan = nullptr;

// plivo.authenticated_hourly_quota: a signed-in user (role authenticated, with a JWT
// subject) may enqueue at most that many messages per hour. Rows inserted earlier in
// the same statement count too (a BEFORE ROW trigger sees them). Concurrent sessions of
// one user can overshoot by a few: it is a guard rail, not an invoice.
void enforce_hourly_quota(const std::optional<std::string>& subject) {
    int quota = settings.authenticated_hourly_quota;
    if (quota <= 0 || !subject) return;
    bool is_authenticated = pg_call([] {
        return strcmp(GetUserNameFromId(GetUserId(), false), "authenticated") == 0;
    });
    if (!is_authenticated) return;
    const std::string& sub = *subject;
    int64 sent = pg_call([&] {
        SPI_connect();
        Oid types[1] = {TEXTOID};
        Datum values[1] = {PointerGetDatum(cstring_to_text_with_len(sub.data(), sub.size()))};
        // read_only = false: a fresh snapshot, which sees the rows this statement inserted.
        int rc = SPI_execute_plan(
            prepare_once(quota_plan, kQuotaSql, 1, types, PlanKind::PerExecution), values,
            nullptr, false, 1);
        if (rc != SPI_OK_SELECT || SPI_processed != 1) elog(ERROR, "quota query failed");
        bool isnull = false;
        int64 count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
        SPI_finish();
        return count;
    });
    if (sent < quota) return;
    std::string detail = "You enqueued " + std::to_string(sent) +
                         " messages in the last hour; the limit is " + std::to_string(quota) + ".";
    pg_call([&] {
        // PT429: PostgREST answers it with HTTP 429 Too Many Requests.
        ereport(ERROR, (errcode(MAKE_SQLSTATE('P', 'T', '4', '2', '9')),
                        errmsg("hourly send quota exceeded"), errdetail_internal("%s", detail.c_str()),
                        errhint("Try again later, or ask an administrator to raise "
                                "plivo.authenticated_hourly_quota.")));
    });
}

constexpr std::size_t kMaxIdempotencyKeyBytes = 255;

// An idempotency key is the caller's name for one message: '' would silently merge
// unrelated messages, and a huge one cannot be indexed.
void check_idempotency_key(const std::optional<std::string>& key) {
    if (!key) return;
    const char* hint =
        "Leave it out (NULL), or pass a short key that names this message, for example an "
        "order id.";
    if (key->empty()) {
        throw plivo::InputError(plivo::InputErrorKind::InvalidParameter, "idempotency_key",
                                "idempotency_key must not be empty",
                                "The value was an empty string.", hint);
    }
    if (key->size() > kMaxIdempotencyKeyBytes) {
        throw plivo::InputError(plivo::InputErrorKind::StringTooLong, "idempotency_key",
                                "idempotency_key is too long",
                                "The key is " + std::to_string(key->size()) +
                                    " bytes long; the limit is " +
                                    std::to_string(kMaxIdempotencyKeyBytes) + ".",
                                hint);
    }
}

// One column the trigger sets in the row it returns.
struct Change {
    int attnum;
    std::optional<std::string> text;
    std::optional<int> number;
    std::optional<Datum> datum;  // a value of another type, as is
};  // none of the three: NULL

std::optional<Datum> datum_column(HeapTuple tuple, TupleDesc desc, int attnum) {
    bool isnull = false;
    Datum value = heap_getattr(tuple, attnum, desc, &isnull);
    if (isnull) return std::nullopt;
    return value;
}

std::string timestamp_text(TimestampTz time) {
    const char* text = pg_call([&] { return timestamptz_to_str(time); });  // static buffer
    return std::string(text);
}

std::string interval_text(Datum interval) {
    char* text = pg_call(
        [&] { return DatumGetCString(DirectFunctionCall1(interval_out, interval)); });
    std::string result(text);
    pfree(text);
    return result;
}

// Plivo takes no message_expiry under 5 seconds.
constexpr int kMinValidSeconds = 5;

Datum seconds_interval(int64 seconds) {
    return pg_call([&] {
        Interval* interval = static_cast<Interval*>(palloc0(sizeof(Interval)));
        interval->time = seconds * USECS_PER_SEC;
        return IntervalPGetDatum(interval);
    });
}

// send_at, valid_for / expires_at, plivo_log and sms_fallback: the sending options of
// schema 0.3.0 (an older schema has none of these columns). Defaults come from the
// settings and are written into the row, which then shows what was asked.
void add_send_options(HeapTuple tuple, TupleDesc desc, const plivo::ValidatedMessage& valid,
                      std::vector<Change>& changes) {
    const int send_at_col = find_column(desc, "send_at");
    if (send_at_col <= 0) return;
    const int valid_for_col = column_number(desc, "valid_for");
    const int expires_at_col = column_number(desc, "expires_at");
    const int log_col = column_number(desc, "plivo_log");
    const int fallback_col = column_number(desc, "sms_fallback");

    TimestampTz now = GetCurrentTransactionStartTimestamp();
    std::optional<Datum> send_at = datum_column(tuple, desc, send_at_col);
    TimestampTz start = now;
    if (send_at) {
        // The dispatcher takes it then (woken by its timer); a time past means now.
        start = std::max(now, DatumGetTimestampTz(*send_at));
        changes.push_back({column_number(desc, "next_attempt_at"), {}, {}, *send_at});
    }

    std::optional<Datum> valid_for = datum_column(tuple, desc, valid_for_col);
    std::optional<Datum> expires_at = datum_column(tuple, desc, expires_at_col);
    if (valid_for && expires_at) {
        throw plivo::InputError(plivo::InputErrorKind::InvalidParameter, "valid_for",
                                "valid_for and expires_at cannot both be given",
                                "expires_at is computed from valid_for.",
                                "Give valid_for (how long from send_at) or expires_at (until "
                                "when), not both.");
    }
    if (!valid_for && !expires_at && settings.default_valid_for_seconds > 0) {
        valid_for = seconds_interval(settings.default_valid_for_seconds);
        changes.push_back({valid_for_col, {}, {}, *valid_for});
    }
    if (valid_for) {
        Datum minimum = seconds_interval(kMinValidSeconds);
        bool too_short = pg_call([&] {
            return DatumGetBool(DirectFunctionCall2(interval_lt, *valid_for, minimum));
        });
        if (too_short) {
            throw plivo::InputError(plivo::InputErrorKind::InvalidParameter, "valid_for",
                                    "valid_for must be at least 5 seconds",
                                    "The value was " + interval_text(*valid_for) + ".",
                                    "Plivo drops a message only after 5 s or more; leave "
                                    "valid_for out (NULL) to keep the message until it is sent.");
        }
        Datum deadline = pg_call([&] {
            return DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(start),
                                       *valid_for);
        });
        changes.push_back({expires_at_col, {}, {}, deadline});
    } else if (expires_at) {
        TimestampTz deadline = DatumGetTimestampTz(*expires_at);
        if (deadline < start + kMinValidSeconds * USECS_PER_SEC) {
            throw plivo::InputError(
                plivo::InputErrorKind::InvalidParameter, "expires_at",
                "expires_at must be at least 5 seconds after send_at (or now)",
                "expires_at is " + timestamp_text(deadline) + "; the message is due at " +
                    timestamp_text(start) + ".",
                "Give a later expires_at, or valid_for (an interval of 5 seconds or more).");
        }
        Datum span = pg_call([&] {
            return DirectFunctionCall2(timestamp_mi, *expires_at, TimestampTzGetDatum(start));
        });
        changes.push_back({valid_for_col, {}, {}, span});
    }

    std::optional<std::string> log = text_column(tuple, desc, log_col);
    if (!log && settings.plivo_log && settings.plivo_log[0]) log = std::string(settings.plivo_log);
    if (log) {
        std::string value = *log;
        for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (value != "true" && value != "false" && value != "number_only" &&
            value != "content_only") {
            throw plivo::InputError(plivo::InputErrorKind::InvalidParameter, "plivo_log",
                                    "plivo_log must be true, false, number_only or content_only",
                                    "The value was " + plivo::quote_for_detail(*log) + ".",
                                    "false keeps neither text nor numbers at Plivo; leave it out "
                                    "(NULL) for plivo.plivo_log or Plivo's default.");
        }
        changes.push_back({log_col, value, {}});
    }

    std::optional<Datum> fallback = datum_column(tuple, desc, fallback_col);
    if (valid.type == plivo::MessageType::Sms) {
        if (fallback && DatumGetBool(*fallback)) {
            throw plivo::InputError(plivo::InputErrorKind::InvalidParameter, "sms_fallback",
                                    "sms_fallback applies to MMS only",
                                    "This message is an SMS.",
                                    "Leave sms_fallback out for an SMS.");
        }
        changes.push_back({fallback_col, {}, {}, {}});
    } else if (!fallback) {
        changes.push_back({fallback_col, {}, {}, BoolGetDatum(settings.sms_fallback)});
    }
}

constexpr const char* kConsentGateSql = "SELECT plivo._consent_gate($1, $2, $3, $4)";
SPIPlanPtr consent_gate_plan = nullptr;

// Whether plivo.opt_outs has a row that stops `sender` from texting `recipient`: a probe
// of its (recipient, sender) key, read directly rather than through SPI (a statement per
// inserted row cost enqueuing a fifth of its speed). With the INSERT's own snapshot: an
// opt-out that commits while the statement runs is the claim's to catch (a fresh snapshot
// per row took ProcArrayLock each time). Postgres code: run in pg_call.
bool opt_out_exists(const std::string& recipient, const std::string& sender) {
    Oid schema = get_namespace_oid("plivo", false);
    Oid table_oid = get_relname_relid("opt_outs", schema);
    Oid index_oid = get_relname_relid("opt_outs_recipient_sender_key", schema);
    if (!OidIsValid(table_oid) || !OidIsValid(index_oid)) {
        elog(ERROR, "pg_plivo: plivo.opt_outs or its key is missing");
    }
    Relation table = table_open(table_oid, AccessShareLock);
    Relation index = index_open(index_oid, AccessShareLock);
    AttrNumber recipient_attnum = SPI_fnumber(RelationGetDescr(table), "recipient");
    AttrNumber sender_attnum = SPI_fnumber(RelationGetDescr(table), "sender");
    if (recipient_attnum <= 0 || sender_attnum <= 0) {
        elog(ERROR, "pg_plivo: plivo.opt_outs has no column recipient or sender");
    }
    // The key is the table's column number: systable_beginscan_ordered maps it to the index.
    ScanKeyData key;
    ScanKeyEntryInitialize(&key, 0, recipient_attnum, BTEqualStrategyNumber, InvalidOid,
                           index->rd_indcollation[0], F_TEXTEQ,
                           PointerGetDatum(cstring_to_text_with_len(recipient.data(),
                                                                    recipient.size())));
    SysScanDesc scan = systable_beginscan_ordered(table, index, GetActiveSnapshot(), 1, &key);
    bool found = false;
    HeapTuple row;
    while (!found && (row = systable_getnext_ordered(scan, ForwardScanDirection)) != nullptr) {
        bool isnull = false;
        Datum row_sender = heap_getattr(row, sender_attnum, RelationGetDescr(table), &isnull);
        if (isnull || sender.empty()) {
            found = true;  // opted out of all our numbers, or any when a Powerpack picks
        } else {
            text* value = DatumGetTextPP(row_sender);
            found = VARSIZE_ANY_EXHDR(value) == sender.size() &&
                    memcmp(VARDATA_ANY(value), sender.data(), sender.size()) == 0;
        }
    }
    systable_endscan_ordered(scan);
    index_close(index, AccessShareLock);
    table_close(table, AccessShareLock);
    return found;
}

// plivo.opt_outs: a recipient who opted out gets nothing (PT451 from _consent_gate),
// unless consent_override lets this one message through. The common case — no
// opt-out, no override — costs one index probe and no PL/pgSQL. _consent_gate runs as
// the owner of message_logs: the roles that enqueue may not read the ledger.
void check_consent(Oid owner, const std::string& recipient, const std::string& sender,
                   const std::optional<std::string>& consent_override, Datum message_id) {
    pg_call([&] {
        if (!consent_override && !opt_out_exists(recipient, sender)) return;
        Oid caller = InvalidOid;
        int security_context = 0;
        GetUserIdAndSecContext(&caller, &security_context);
        SetUserIdAndSecContext(owner, security_context | SECURITY_LOCAL_USERID_CHANGE);
        PG_TRY();
        {
            SPI_connect();
            Datum values[4] = {
                PointerGetDatum(cstring_to_text_with_len(recipient.data(), recipient.size())),
                sender.empty() ? Datum(0)
                               : PointerGetDatum(cstring_to_text_with_len(sender.data(),
                                                                          sender.size())),
                consent_override
                    ? PointerGetDatum(cstring_to_text_with_len(consent_override->data(),
                                                               consent_override->size()))
                    : Datum(0),
                message_id};
            Oid types[4] = {TEXTOID, TEXTOID, TEXTOID, UUIDOID};
            char nulls[4] = {' ', sender.empty() ? 'n' : ' ', consent_override ? ' ' : 'n', ' '};
            int rc = SPI_execute_plan(prepare_once(consent_gate_plan, kConsentGateSql, 4, types),
                                      values, nulls, false, 1);
            if (rc != SPI_OK_SELECT) elog(ERROR, "consent check failed");
            SPI_finish();
        }
        PG_FINALLY();
        { SetUserIdAndSecContext(caller, security_context); }
        PG_END_TRY();
    });
}


}  // namespace
}  // namespace pg_plivo

using namespace pg_plivo;

// BEFORE INSERT FOR EACH ROW on plivo.message_logs: validate and normalise the message.
extern "C" Datum plivo_validate_message(PG_FUNCTION_ARGS) {
    return cpp_entry([&]() -> Datum {
        auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
        if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigger->tg_event) ||
            !TRIGGER_FIRED_FOR_ROW(trigger->tg_event) ||
            !TRIGGER_FIRED_BY_INSERT(trigger->tg_event)) {
            throw std::logic_error("plivo_validate_message must run BEFORE INSERT FOR EACH ROW");
        }
        TupleDesc desc = RelationGetDescr(trigger->tg_relation);
        HeapTuple tuple = trigger->tg_trigtuple;
        const plivo::FieldNames& names = *current_field_names;

        reject_worker_columns(tuple, desc);

        plivo::OutgoingMessage message;
        const int recipient_col = column_number(desc, "recipient");
        const int sender_col = column_number(desc, "sender");
        const int type_col = column_number(desc, "message_type");
        message.recipient = text_column(tuple, desc, recipient_col);
        message.sender = text_column(tuple, desc, sender_col);
        if (settings.sender_number && settings.sender_number[0]) {
            message.default_sender = std::string(settings.sender_number);
        }
        // A schema before 0.3.0 has no powerpack_uuid: every message has a sender there.
        const int powerpack_col = find_column(desc, "powerpack_uuid");
        if (powerpack_col > 0) {
            message.powerpack_uuid = text_column(tuple, desc, powerpack_col);
            if (settings.powerpack_uuid && settings.powerpack_uuid[0]) {
                message.default_powerpack_uuid = std::string(settings.powerpack_uuid);
            }
        }
        message.text = text_column(tuple, desc, column_number(desc, "message_text"));
        message.media_urls = text_array_column(tuple, desc, column_number(desc, "media_urls"));
        message.callback_url = text_column(tuple, desc, column_number(desc, "callback_url"));
        if (auto type = text_column(tuple, desc, type_col)) {
            if (*type == "sms") {
                message.type = plivo::MessageType::Sms;
            } else if (*type == "mms") {
                message.type = plivo::MessageType::Mms;
            } else {
                throw plivo::InputError(plivo::InputErrorKind::InvalidParameter, names.message_type,
                                        names.message_type + " must be 'sms' or 'mms'",
                                        "The value was " + plivo::quote_for_detail(*type) + ".",
                                        "Leave it out to send an MMS when media_urls is given "
                                        "and an SMS otherwise.");
            }
        }

        plivo::ValidatedMessage valid = plivo::validate_outgoing(message, names);
        std::optional<std::string> subject = request_subject();
        enforce_hourly_quota(subject);

        check_idempotency_key(text_column(tuple, desc, column_number(desc, "idempotency_key")));

        // Without consent_override the schema predates the consent ledger (the library
        // was updated, ALTER EXTENSION UPDATE has not run yet): there is nothing to check.
        if (int override_col = find_column(desc, "consent_override"); override_col > 0) {
            bool id_isnull = false;
            Datum message_id = heap_getattr(tuple, column_number(desc, "id"), desc, &id_isnull);
            if (id_isnull) {
                throw plivo::InputError(plivo::InputErrorKind::NullValue, "id",
                                        "id must not be null", "",
                                        "Leave id out of the INSERT: pg_plivo makes one.");
            }
            check_consent(trigger->tg_relation->rd_rel->relowner, valid.recipient, valid.sender,
                          text_column(tuple, desc, override_col), message_id);
        }

        std::vector<Change> changes = {
            {recipient_col, valid.recipient, {}},
            // Through a Powerpack the sender is NULL until Plivo names the number.
            {sender_col, valid.powerpack_uuid ? std::nullopt : std::optional(valid.sender), {}},
            {type_col, std::string(plivo::message_type_name(valid.type)), {}},
            {column_number(desc, "status"), std::string("queued"), {}},
            {column_number(desc, "text_encoding"),
             valid.text
                 ? std::optional<std::string>(plivo::encoding_name(valid.text_stats.encoding))
                 : std::nullopt,
             {}},
            {column_number(desc, "segments"), {}, static_cast<int>(valid.text_stats.segments)},
            // '' is stored as NULL, as validation read it: no text, no callback URL (so
            // plivo.callback_url applies).
            {column_number(desc, "message_text"), valid.text, {}},
            {column_number(desc, "callback_url"), valid.callback_url, {}},
        };
        // next_attempt_at NULL means now, like leaving it out.
        int next_attempt_col = column_number(desc, "next_attempt_at");
        bool next_attempt_null = false;
        (void)heap_getattr(tuple, next_attempt_col, desc, &next_attempt_null);
        if (next_attempt_null) {
            changes.push_back({next_attempt_col, {}, {},
                               TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())});
        }
        if (subject) changes.push_back({column_number(desc, "created_by"), subject, {}});
        if (powerpack_col > 0) changes.push_back({powerpack_col, valid.powerpack_uuid, {}});
        add_send_options(tuple, desc, valid, changes);

        std::vector<int> attnums;
        std::vector<Datum> values;
        std::vector<bool> nulls;
        for (const Change& change : changes) {
            attnums.push_back(change.attnum);
            if (change.text) {
                values.push_back(text_datum(*change.text));
                nulls.push_back(false);
            } else if (change.number) {
                values.push_back(Int32GetDatum(*change.number));
                nulls.push_back(false);
            } else if (change.datum) {
                values.push_back(*change.datum);
                nulls.push_back(false);
            } else {
                values.push_back(Datum(0));
                nulls.push_back(true);
            }
        }
        std::unique_ptr<bool[]> null_flags(new bool[nulls.size()]);
        for (size_t i = 0; i < nulls.size(); ++i) null_flags[i] = nulls[i];
        HeapTuple changed = pg_call([&] {
            return heap_modify_tuple_by_cols(tuple, desc, static_cast<int>(attnums.size()),
                                             attnums.data(), values.data(), null_flags.get());
        });
        return PointerGetDatum(changed);
    });
}

// AFTER INSERT FOR EACH STATEMENT REFERENCING NEW TABLE AS inserted: the 'enqueue'
// events of the new rows, a worker wake-up at commit and, as plivo.notify_on_enqueue
// says, one NOTIFY per transaction (Postgres folds identical notifications of one
// transaction into one). All transactional: a rolled-back transaction leaves and
// signals nothing. One C trigger for all three: a statement trigger's call and its
// transition table are a large part of what an enqueue costs.
extern "C" Datum plivo_after_enqueue(PG_FUNCTION_ARGS) {
    auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
    if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigger->tg_event) ||
        TRIGGER_FIRED_FOR_ROW(trigger->tg_event) || !TRIGGER_FIRED_BY_INSERT(trigger->tg_event) ||
        trigger->tg_newtable == nullptr) {
        ereport(ERROR,
                (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                 errmsg("plivo_after_enqueue must run AFTER INSERT FOR EACH STATEMENT with "
                        "REFERENCING NEW TABLE")));
    }
    record_enqueue_events(trigger);
    signal_queued_at_commit();
    return PointerGetDatum(nullptr);
}

// The default of message_logs.id: a time-ordered UUID (dispatcher/message_id.hpp).
extern "C" Datum plivo_new_message_id(PG_FUNCTION_ARGS) {
    return cpp_entry([&] {
        plivo::UuidBytes id = plivo::new_message_id(std::chrono::system_clock::now());
        auto* uuid = static_cast<pg_uuid_t*>(pg_call([] { return palloc(sizeof(pg_uuid_t)); }));
        memcpy(uuid->data, id.data(), id.size());
        return UUIDPGetDatum(uuid);
    });
}

// BEFORE UPDATE FOR EACH ROW: keep updated_at.
extern "C" Datum plivo_touch_updated_at(PG_FUNCTION_ARGS) {
    auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
    if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) ||
        !TRIGGER_FIRED_FOR_ROW(trigger->tg_event)) {
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("plivo_touch_updated_at must run BEFORE UPDATE FOR EACH ROW")));
    }
    TupleDesc desc = RelationGetDescr(trigger->tg_relation);
    int attnum = SPI_fnumber(desc, "updated_at");
    if (attnum <= 0) elog(ERROR, "plivo.message_logs has no column updated_at");
    Datum value = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
    bool isnull = false;
    return PointerGetDatum(
        heap_modify_tuple_by_cols(trigger->tg_newtuple, desc, 1, &attnum, &value, &isnull));
}

namespace {

// The INSERT every send function runs; ON CONFLICT makes an idempotency key return the
// first message (a concurrent caller with the same key waits for the first to commit).
// (Without a key a plain INSERT is no cheaper: it locks and unlocks every index of the
// table at each execution, which the ON CONFLICT plan's arbiter inference spares.)
// These statements, like the trigger's quota query, run under the caller's search_path
// (the send functions run as their caller and do not pin it: a pinned path costs every
// call a save and restore of the setting), so every name in them is qualified.
constexpr const char* kInsertColumns =
    "INSERT INTO plivo.message_logs (recipient, sender, message_text, media_urls, message_type, "
    "callback_url, idempotency_key";
constexpr const char* kInsertValues = ") VALUES ($1, $2, $3, $4, $5, $6, $7";
constexpr const char* kInsertConflict =
    ") ON CONFLICT (idempotency_key, (coalesce(created_by, ''))) "
    "WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id";

// The sending options of schema 0.3.0, in argument order. The INSERT names only those
// given: a role may insert only the columns it was granted (authenticated has no
// consent_override), and a column named is a column checked, NULL or not.
struct InsertOption {
    const char* column;
    Oid type;
};
constexpr InsertOption kInsertOptions[] = {
    {"send_at", TIMESTAMPTZOID}, {"valid_for", INTERVALOID},     {"plivo_log", TEXTOID},
    {"sms_fallback", BOOLOID},   {"consent_override", TEXTOID},  {"powerpack_uuid", TEXTOID},
};
constexpr int kInsertBaseParams = 7;
constexpr int kInsertOptionCount = sizeof kInsertOptions / sizeof kInsertOptions[0];
constexpr int kInsertParams = kInsertBaseParams + kInsertOptionCount;

// The INSERT for one set of options given (bit i: kInsertOptions[i]).
std::string insert_sql(unsigned options) {
    std::string columns = kInsertColumns, values = kInsertValues;
    int param = kInsertBaseParams;
    for (int i = 0; i < kInsertOptionCount; ++i) {
        if (!(options & (1u << i))) continue;
        columns += std::string(", ") + kInsertOptions[i].column;
        values += ", $" + std::to_string(++param);
    }
    return columns + values + kInsertConflict;
}
constexpr const char* kExistingSql =
    "SELECT id FROM plivo.message_logs WHERE idempotency_key OPERATOR(pg_catalog.=) $1 "
    "AND coalesce(created_by, '') OPERATOR(pg_catalog.=) coalesce($2, '')";

// One plan per set of options given; most calls give none.
SPIPlanPtr insert_plans[1u << kInsertOptionCount] = {};
SPIPlanPtr existing_plan = nullptr;

// Copies the uuid out of SPI's memory into the caller's before SPI_finish frees it.
Datum uuid_result(HeapTuple row, TupleDesc desc) {
    bool isnull = false;
    Datum value = SPI_getbinval(row, desc, 1, &isnull);
    auto* copy = static_cast<pg_uuid_t*>(SPI_palloc(sizeof(pg_uuid_t)));
    memcpy(copy, DatumGetUUIDP(value), sizeof(pg_uuid_t));
    return UUIDPGetDatum(copy);
}

Datum insert_message(Datum* values, char* nulls, unsigned options,
                     const std::optional<std::string>& subject);

// Argument positions; -1: the function has no such argument.
struct SendArguments {
    int destination, text, media, sender, callback, key;
    int send_at, valid_for, plivo_log, sms_fallback, consent_override, powerpack_uuid;
};

// Shared body of send_mms and send_sms: one INSERT through the trigger above.
Datum enqueue(FunctionCallInfo fcinfo, const char* type, const SendArguments& args) {
    return cpp_entry([&]() -> Datum {
        Datum values[kInsertParams];
        char nulls[kInsertParams];
        auto take = [&](int slot, int arg) {
            bool is_null = arg < 0 || arg >= PG_NARGS() || PG_ARGISNULL(arg);
            values[slot] = is_null ? Datum(0) : PG_GETARG_DATUM(arg);
            nulls[slot] = is_null ? 'n' : ' ';
        };
        take(0, args.destination);
        take(1, args.sender);
        take(2, args.text);
        take(3, args.media);
        values[4] = pg_call([&] { return CStringGetTextDatum(type); });
        nulls[4] = ' ';
        take(5, args.callback);
        take(6, args.key);
        // The options given, packed after the base parameters. The functions of a
        // schema before 0.3.0 end at idempotency_key: none is given.
        const int option_args[kInsertOptionCount] = {args.send_at,      args.valid_for,
                                                     args.plivo_log,    args.sms_fallback,
                                                     args.consent_override, args.powerpack_uuid};
        unsigned options = 0;
        int slot = kInsertBaseParams;
        for (int i = 0; i < kInsertOptionCount; ++i) {
            int arg = option_args[i];
            if (arg < 0 || arg >= PG_NARGS() || PG_ARGISNULL(arg)) continue;
            options |= 1u << i;
            take(slot++, arg);
        }

        std::optional<std::string> subject = request_subject();
        FieldNamesScope argument_names(&plivo::kFunctionArgumentNames);
        try {
            return insert_message(values, nulls, options, subject);
        } catch (const PostgresError& error) {
            // A rejected input is about the caller's arguments, not our internal INSERT.
            if (ERRCODE_TO_CATEGORY(error.data()->sqlerrcode) == ERRCODE_DATA_EXCEPTION) {
                error.data()->context = nullptr;
            }
            throw;
        }
    });
}

// Runs the send INSERT (or finds the message an idempotency key already made).
Datum insert_message(Datum* values, char* nulls, unsigned options,
                     const std::optional<std::string>& subject) {
    Oid insert_types[kInsertParams] = {TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID,
                                       TEXTOID, TEXTOID, TEXTOID};
    int count = kInsertBaseParams;
    for (int i = 0; i < kInsertOptionCount; ++i) {
        if (options & (1u << i)) insert_types[count++] = kInsertOptions[i].type;
    }
    SPIPlanPtr& plan_slot = insert_plans[options];
    std::string sql = plan_slot ? std::string() : insert_sql(options);
    Datum id = pg_call([&]() -> Datum {
        SPI_connect();
        SPIPlanPtr plan = prepare_once(plan_slot, sql.c_str(), count, insert_types);
        // No row limit: a limit would stop the statement before its AFTER STATEMENT
        // trigger (the NOTIFY and the worker wake-up) fires.
        int rc = SPI_execute_plan(plan, values, nulls, false, 0);
        if (rc != SPI_OK_INSERT_RETURNING)
            elog(ERROR, "enqueue insert failed: %s", SPI_result_code_string(rc));
        Datum result = Datum(0);
        if (SPI_processed == 1) {
            result = uuid_result(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
        } else {
            // The idempotency key was used before: return that message.
            Oid existing_types[2] = {TEXTOID, TEXTOID};
            Datum lookup[2] = {values[6],
                               subject ? CStringGetTextDatum(subject->c_str()) : Datum(0)};
            char lookup_nulls[2] = {' ', subject ? ' ' : 'n'};
            rc = SPI_execute_plan(prepare_once(existing_plan, kExistingSql, 2, existing_types), lookup,
                                  lookup_nulls, false, 1);
            if (rc != SPI_OK_SELECT || SPI_processed != 1) {
                ereport(ERROR,
                        (errcode(ERRCODE_UNIQUE_VIOLATION),
                         errmsg("idempotency_key is already used by a message you cannot see")));
            }
            result = uuid_result(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
        }
        SPI_finish();
        return result;
    });
    return id;
}

}  // namespace

// plivo.send_mms(destination_number, message_text, media_urls, sender_number, callback_url,
// idempotency_key, send_at, valid_for, plivo_log, sms_fallback, consent_override,
// powerpack_uuid)
extern "C" Datum plivo_send_mms(PG_FUNCTION_ARGS) {
    return enqueue(fcinfo, "mms", SendArguments{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
}

// plivo.send_sms(destination_number, message_text, sender_number, callback_url,
// idempotency_key, send_at, valid_for, plivo_log, consent_override, powerpack_uuid)
extern "C" Datum plivo_send_sms(PG_FUNCTION_ARGS) {
    return enqueue(fcinfo, "sms", SendArguments{0, 1, -1, 2, 3, 4, 5, 6, 7, -1, 8, 9});
}
