// State the dispatcher worker shares with every backend, in shared memory.
#pragma once

#include "postgres_headers.hpp"

extern "C" {
#include "storage/latch.h"
#include "storage/spin.h"
}

namespace pg_plivo {

struct WorkerShared {
    slock_t mutex;
    Latch* latch;  // the running worker's latch; nullptr when none runs
    pid_t pid;     // 0 when none runs
    Oid database_id;  // the database it serves
    TimestampTz started_at;
    TimestampTz heartbeat_at;  // last loop iteration
    uint64 attempts_started;   // messages claimed for an attempt since the worker started
    uint32 in_flight;
    bool paused;  // plivo.paused as the worker last read it
};

}  // namespace pg_plivo
