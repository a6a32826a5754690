// The audit trail: one plivo.message_events row for every new message ('enqueue',
// written by the AFTER INSERT statement trigger of 20_enqueue_triggers.sql) and for
// every change of a message's status (the AFTER UPDATE statement trigger of
// 40_events.sql), whoever made it. Both read their statement's transition tables and
// write each row through the executor's single-row insert, as logical replication
// applies a row (constraints, indexes and triggers of message_events all apply): for
// the few rows of a call, planning and starting an INSERT ... SELECT cost more than
// the rows themselves. Rows are written as the owner of plivo.message_logs: every role
// that changes a message leaves its events, but only the owner may write the trail.
#include "message_events.hpp"

#include <cstring>
#include <initializer_list>
#include <utility>

#include "pg_compat.hpp"
#include "settings.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(plivo_record_status_events);
}

namespace pg_plivo {
namespace {

// One member of a jsonb object. Omitted members are left out (jsonb_strip_nulls).
struct JsonMember {
    enum class Kind { Omitted, Null, Text, Number };
    const char* key;
    Kind kind;
    const char* text = nullptr;
    int64 number = 0;
};

JsonMember json_text(const char* key, const char* text, bool null_if_missing = false) {
    if (text != nullptr) return {key, JsonMember::Kind::Text, text};
    return {key, null_if_missing ? JsonMember::Kind::Null : JsonMember::Kind::Omitted};
}

// The jsonb object jsonb_build_object would make of the members (keys sorted by jsonb).
Jsonb* jsonb_object(std::initializer_list<JsonMember> members) {
    JsonbParseState* state = nullptr;
    pushJsonbValue(&state, WJB_BEGIN_OBJECT, nullptr);
    for (const JsonMember& member : members) {
        if (member.kind == JsonMember::Kind::Omitted) continue;
        JsonbValue key;
        key.type = jbvString;
        key.val.string.val = const_cast<char*>(member.key);
        key.val.string.len = static_cast<int>(strlen(member.key));
        pushJsonbValue(&state, WJB_KEY, &key);
        JsonbValue value;
        if (member.kind == JsonMember::Kind::Text) {
            value.type = jbvString;
            value.val.string.val = const_cast<char*>(member.text);
            value.val.string.len = static_cast<int>(strlen(member.text));
        } else if (member.kind == JsonMember::Kind::Number) {
            value.type = jbvNumeric;
            value.val.numeric = int64_to_numeric(member.number);
        } else {
            value.type = jbvNull;
        }
        pushJsonbValue(&state, WJB_VALUE, &value);
    }
    return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, nullptr));
}

// The number of column `name`, or an error.
AttrNumber attnum_of(Relation relation, const char* name) {
    int attnum = SPI_fnumber(RelationGetDescr(relation), name);
    if (attnum <= 0)
        elog(ERROR, "pg_plivo: %s has no column %s", RelationGetRelationName(relation), name);
    return static_cast<AttrNumber>(attnum);
}

// Sets each field to the number of its column; PLIVO_COLUMN(columns, name) pairs the
// field `name` of `columns` with the column of the same name.
using ColumnField = std::pair<AttrNumber*, const char*>;
#define PLIVO_COLUMN(columns, name) ColumnField{&(columns).name, #name}
void find_columns(Relation relation, std::initializer_list<ColumnField> fields) {
    for (const ColumnField& field : fields) *field.first = attnum_of(relation, field.second);
}

// What writing events needs to know of the two tables, looked up once per backend
// (finding the identity's sequence reads pg_depend: a fifth of an enqueue event's
// cost). Forgotten when either table changes (relcache invalidation), so a recreated
// extension or an altered table is looked up again.
struct EventTables {
    Oid logs = InvalidOid;  // InvalidOid: not looked up
    Oid events = InvalidOid;
    Oid identity = InvalidOid;
    struct {
        AttrNumber id, status, attempts, plivo_message_uuid, error_code, last_http_status,
            last_error, next_attempt_at, created_by_role, created_by;
    } logs_column{};
    struct {
        AttrNumber id, message_id, old_status, new_status, cause, detail, created_at;
    } events_column{};
};
EventTables event_tables;
bool event_tables_callback_registered = false;

void forget_event_tables(Datum, Oid relid) {
    if (relid == InvalidOid || relid == event_tables.logs || relid == event_tables.events)
        event_tables = EventTables{};
}

// Opens plivo.message_events (RowExclusiveLock) and makes sure event_tables describes
// it and `logs`.
Relation open_event_tables(Relation logs) {
    if (!event_tables_callback_registered) {
        CacheRegisterRelcacheCallback(forget_event_tables, Datum(0));
        event_tables_callback_registered = true;
    }
    Oid events_oid = event_tables.logs == RelationGetRelid(logs)
                         ? event_tables.events
                         : get_relname_relid("message_events", RelationGetNamespace(logs));
    if (!OidIsValid(events_oid)) elog(ERROR, "pg_plivo: plivo.message_events is missing");
    // Opening may process invalidations, which may clear event_tables: fill it after.
    Relation events = table_open(events_oid, RowExclusiveLock);
    if (event_tables.logs != RelationGetRelid(logs) || event_tables.events != events_oid) {
        EventTables known;
        auto& l = known.logs_column;
        find_columns(logs, {PLIVO_COLUMN(l, id), PLIVO_COLUMN(l, status),
                            PLIVO_COLUMN(l, attempts), PLIVO_COLUMN(l, plivo_message_uuid),
                            PLIVO_COLUMN(l, error_code), PLIVO_COLUMN(l, last_http_status),
                            PLIVO_COLUMN(l, last_error), PLIVO_COLUMN(l, next_attempt_at),
                            PLIVO_COLUMN(l, created_by_role), PLIVO_COLUMN(l, created_by)});
        auto& e = known.events_column;
        find_columns(events, {PLIVO_COLUMN(e, id), PLIVO_COLUMN(e, message_id),
                              PLIVO_COLUMN(e, old_status), PLIVO_COLUMN(e, new_status),
                              PLIVO_COLUMN(e, cause), PLIVO_COLUMN(e, detail),
                              PLIVO_COLUMN(e, created_at)});
        known.identity = compat::identity_sequence(events, e.id);
        known.logs = RelationGetRelid(logs);
        known.events = events_oid;
        event_tables = known;
    }
    return events;
}
#undef PLIVO_COLUMN

// One statement's writing of events.
struct EventWriter {
    EventTables known;  // a copy: invalidations may clear event_tables meanwhile
    Relation events;
    EState* estate;
    ResultRelInfo* result;
    TupleTableSlot* row;
    MemoryContext row_memory;  // what one event allocates, emptied before the next
};

// Runs write(EventWriter&) as the owner of `logs`, with message_events open.
template <typename Write>
void write_events(Relation logs, Write&& write) {
    Oid caller = InvalidOid;
    int security_context = 0;
    GetUserIdAndSecContext(&caller, &security_context);
    SetUserIdAndSecContext(logs->rd_rel->relowner,
                           security_context | SECURITY_LOCAL_USERID_CHANGE);
    PG_TRY();
    {
        EventWriter writer;
        writer.events = open_event_tables(logs);
        writer.known = event_tables;
        writer.estate = CreateExecutorState();
        RangeTblEntry* rte = makeNode(RangeTblEntry);
        rte->rtekind = RTE_RELATION;
        rte->relid = writer.known.events;
        rte->relkind = writer.events->rd_rel->relkind;
        rte->rellockmode = RowExclusiveLock;
        compat::init_range_table(writer.estate, rte);
        writer.estate->es_output_cid = GetCurrentCommandId(true);
        writer.result = makeNode(ResultRelInfo);
        InitResultRelInfo(writer.result, writer.events, 1, nullptr, 0);
        ExecOpenIndices(writer.result, false);
        AfterTriggerBeginQuery();
        writer.row = ExecInitExtraTupleSlot(writer.estate, RelationGetDescr(writer.events),
                                            &TTSOpsVirtual);
        writer.row_memory =
            AllocSetContextCreate(CurrentMemoryContext, "pg_plivo audit row", ALLOCSET_SMALL_SIZES);

        write(writer);

        AfterTriggerEndQuery(writer.estate);
        ExecCloseIndices(writer.result);
        ExecResetTupleTable(writer.estate->es_tupleTable, false);
        FreeExecutorState(writer.estate);
        MemoryContextDelete(writer.row_memory);
        table_close(writer.events, NoLock);
    }
    PG_FINALLY();
    { SetUserIdAndSecContext(caller, security_context); }
    PG_END_TRY();
}

// Runs write_row() in the writer's row memory, emptied first: a statement of a million
// rows writes a million events without holding what each one allocated. (The rows
// read from a transition table stay outside it: their slot frees them.)
template <typename WriteRow>
void in_row_memory(EventWriter& writer, WriteRow&& write_row) {
    MemoryContextReset(writer.row_memory);
    MemoryContext outer = MemoryContextSwitchTo(writer.row_memory);
    write_row();
    MemoryContextSwitchTo(outer);
    ResetPerTupleExprContext(writer.estate);
}

// Writes one event; old_status NULL when `old_status_null`.
void add_event(EventWriter& writer, Datum message_id, Datum old_status, bool old_status_null,
               Datum new_status, const char* cause, Jsonb* detail) {
    const auto& column = writer.known.events_column;
    TupleTableSlot* row = writer.row;
    ExecClearTuple(row);
    for (int i = 0; i < row->tts_tupleDescriptor->natts; ++i) row->tts_isnull[i] = true;
    auto set = [row](AttrNumber attnum, Datum value) {
        row->tts_values[attnum - 1] = value;
        row->tts_isnull[attnum - 1] = false;
    };
    set(column.id, Int64GetDatum(nextval_internal(writer.known.identity, false)));
    set(column.message_id, message_id);
    if (!old_status_null) set(column.old_status, old_status);
    set(column.new_status, new_status);
    set(column.cause, CStringGetTextDatum(cause));
    set(column.detail, JsonbPGetDatum(detail));
    set(column.created_at, TimestampTzGetDatum(GetCurrentTimestamp()));
    ExecStoreVirtualTuple(row);
    ExecSimpleRelationInsert(writer.result, writer.estate, row);
}

// Reads a transition table from its start through a read pointer of our own (other
// triggers of the statement read the same table).
void read_from_start(Tuplestorestate* store) {
    tuplestore_select_read_pointer(store, tuplestore_alloc_read_pointer(store, EXEC_FLAG_REWIND));
    tuplestore_rescan(store);
}

// The text of a column as a C string; nullptr for NULL.
const char* text_of(TupleTableSlot* slot, AttrNumber attnum) {
    bool isnull = false;
    Datum value = slot_getattr(slot, attnum, &isnull);
    return isnull ? nullptr : TextDatumGetCString(value);
}

// An integer column as a JSON number; left out when NULL.
JsonMember json_integer(const char* key, TupleTableSlot* slot, AttrNumber attnum) {
    bool isnull = false;
    Datum value = slot_getattr(slot, attnum, &isnull);
    if (isnull) return {key, JsonMember::Kind::Omitted};
    return {key, JsonMember::Kind::Number, nullptr, DatumGetInt32(value)};
}

bool status_shows_error(const char* status) {
    for (const char* with_error : {"retrying", "failed", "undelivered", "rejected"})
        if (strcmp(status, with_error) == 0) return true;
    return false;
}

}  // namespace

void record_enqueue_events(TriggerData* trigger) {
    Relation logs = trigger->tg_relation;
    write_events(logs, [&](EventWriter& writer) {
        const auto& column = writer.known.logs_column;
        TupleTableSlot* inserted =
            MakeSingleTupleTableSlot(RelationGetDescr(logs), &TTSOpsMinimalTuple);
        read_from_start(trigger->tg_newtable);
        while (tuplestore_gettupleslot(trigger->tg_newtable, true, false, inserted)) {
            in_row_memory(writer, [&] {
                bool isnull = false;
                Datum id = slot_getattr(inserted, column.id, &isnull);
                Datum status = slot_getattr(inserted, column.status, &isnull);
                add_event(
                    writer, id, Datum(0), true, status, "enqueue",
                    jsonb_object({json_text("by", text_of(inserted, column.created_by_role), true),
                                  json_text("subject", text_of(inserted, column.created_by), true)}));
            });
        }
        ExecDropSingleTupleTableSlot(inserted);
    });
}

}  // namespace pg_plivo

// AFTER UPDATE FOR EACH STATEMENT REFERENCING OLD TABLE AS old_rows NEW TABLE AS
// new_rows: an event for every row whose status changed. The cause is plivo.event_cause,
// which pg_plivo's own code sets for its statements; any other change is 'manual', and
// its detail names the role that made it.
extern "C" Datum plivo_record_status_events(PG_FUNCTION_ARGS) {
    using namespace pg_plivo;
    auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
    if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigger->tg_event) ||
        TRIGGER_FIRED_FOR_ROW(trigger->tg_event) || !TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) ||
        trigger->tg_oldtable == nullptr || trigger->tg_newtable == nullptr) {
        ereport(ERROR,
                (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                 errmsg("plivo_record_status_events must run AFTER UPDATE FOR EACH STATEMENT "
                        "with REFERENCING OLD TABLE and NEW TABLE")));
    }
    const bool manual = settings.event_cause == nullptr || settings.event_cause[0] == '\0';
    const char* cause = manual ? "manual" : pstrdup(settings.event_cause);
    const char* by = manual ? GetUserNameFromId(GetUserId(), false) : nullptr;

    Relation logs = trigger->tg_relation;
    write_events(logs, [&](EventWriter& writer) {
        const auto& column = writer.known.logs_column;
        TupleTableSlot* before = MakeSingleTupleTableSlot(RelationGetDescr(logs), &TTSOpsMinimalTuple);
        TupleTableSlot* after = MakeSingleTupleTableSlot(RelationGetDescr(logs), &TTSOpsMinimalTuple);
        read_from_start(trigger->tg_oldtable);
        read_from_start(trigger->tg_newtable);
        // An UPDATE adds each row's old and new version to the two tables together, so
        // they pair up in order; the ids say so, or the statement fails rather than
        // write a wrong trail.
        while (tuplestore_gettupleslot(trigger->tg_newtable, true, false, after)) {
            bool isnull = false;
            if (!tuplestore_gettupleslot(trigger->tg_oldtable, true, false, before) ||
                memcmp(DatumGetUUIDP(slot_getattr(before, column.id, &isnull))->data,
                       DatumGetUUIDP(slot_getattr(after, column.id, &isnull))->data,
                       UUID_LEN) != 0) {
                elog(ERROR, "pg_plivo: the old and new rows of an UPDATE do not pair up");
            }
            in_row_memory(writer, [&] {
                // The status is never NULL (message_logs_status_check).
                bool old_null = false, new_null = false;
                Datum old_status = slot_getattr(before, column.status, &old_null);
                Datum new_status = slot_getattr(after, column.status, &new_null);
                if (old_null || new_null) elog(ERROR, "pg_plivo: a message's status cannot be NULL");
                const char* status = TextDatumGetCString(new_status);
                if (strcmp(TextDatumGetCString(old_status), status) == 0) return;
                const char* next_attempt_at = nullptr;
                Datum next_attempt = slot_getattr(after, column.next_attempt_at, &isnull);
                if (!isnull && strcmp(status, "retrying") == 0)
                    next_attempt_at = JsonEncodeDateTime(nullptr, next_attempt, TIMESTAMPTZOID, nullptr);
                Jsonb* detail = jsonb_object(
                    {json_integer("attempts", after, column.attempts),
                     json_text("plivo_message_uuid", text_of(after, column.plivo_message_uuid)),
                     json_text("error_code", text_of(after, column.error_code)),
                     json_integer("http_status", after, column.last_http_status),
                     json_text("error", status_shows_error(status) ? text_of(after, column.last_error)
                                                                   : nullptr),
                     json_text("next_attempt_at", next_attempt_at), json_text("by", by)});
                add_event(writer, slot_getattr(after, column.id, &isnull), old_status, false,
                          new_status, cause, detail);
            });
        }
        ExecDropSingleTupleTableSlot(before);
        ExecDropSingleTupleTableSlot(after);
    });
    return PointerGetDatum(nullptr);
}
