// Statements prepared once and kept for the life of the backend (SPI_keepplan).
#pragma once

#include "postgres_headers.hpp"

namespace pg_plivo {

// Generic: planned at the first execution and reused, for statements whose best plan
// does not depend on their parameters. PerExecution: planned for each execution's
// values (PostgreSQL's default for a prepared statement's first runs).
enum class PlanKind { Generic, PerExecution };

// Prepares `sql` into `plan` unless that was done already. Postgres code: it may
// elog(ERROR), so C++ callers run it inside pg_call.
inline SPIPlanPtr prepare_once(SPIPlanPtr& plan, const char* sql, int nargs, Oid* types,
                               PlanKind kind = PlanKind::Generic) {
    if (plan == nullptr) {
        SPIPlanPtr fresh = SPI_prepare_cursor(
            sql, nargs, types, kind == PlanKind::Generic ? CURSOR_OPT_GENERIC_PLAN : 0);
        if (fresh == nullptr) {
            elog(ERROR, "pg_plivo: could not prepare a statement: %s",
                 SPI_result_code_string(SPI_result));
        }
        SPI_keepplan(fresh);
        plan = fresh;
    }
    return plan;
}

}  // namespace pg_plivo
