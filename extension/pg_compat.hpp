// What differs between the PostgreSQL major versions pg_plivo supports (15, 17, 18), in
// one place: the rest of extension/ calls these and carries no version tests of its own.
#pragma once

#include "postgres_headers.hpp"

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 190000
#error "pg_plivo supports PostgreSQL 15, 17 and 18"
#endif

namespace pg_plivo::compat {

// The sequence behind an identity column. 17 takes the open relation, 15 its oid.
inline Oid identity_sequence(Relation rel, AttrNumber attnum) {
#if PG_VERSION_NUM >= 170000
    return getIdentitySequence(rel, attnum, false);
#else
    return getIdentitySequence(RelationGetRelid(rel), attnum, false);
#endif
}

// Sets up an executor state's range table of one relation, for inserting into it with
// ExecSimpleRelationInsert. Permissions are not checked through it (16 moved them into
// a list of their own: none is given); 18 also wants the relations that survived
// pruning, which is this one.
inline void init_range_table(EState* estate, RangeTblEntry* rte) {
#if PG_VERSION_NUM >= 180000
    ExecInitRangeTable(estate, list_make1(rte), NIL, bms_make_singleton(1));
#elif PG_VERSION_NUM >= 160000
    ExecInitRangeTable(estate, list_make1(rte), NIL);
#else
    ExecInitRangeTable(estate, list_make1(rte));
#endif
}

}  // namespace pg_plivo::compat
