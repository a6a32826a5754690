// The audit trail, plivo.message_events: the rows the triggers of plivo.message_logs
// write for every new message and every change of status.
#pragma once

#include "postgres_headers.hpp"

namespace pg_plivo {

// Postgres code only (it may elog). The 'enqueue' event of every row in the INSERT
// statement's transition table.
void record_enqueue_events(TriggerData* trigger);

}  // namespace pg_plivo
