// The dispatcher worker's registration, shared memory, and the wake-up at commit.
#include "worker.hpp"

#include "worker_shared.hpp"

extern "C" {
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
}

namespace pg_plivo {
namespace {

WorkerShared* shared_state = nullptr;
shmem_request_hook_type previous_shmem_request_hook = nullptr;
shmem_startup_hook_type previous_shmem_startup_hook = nullptr;
bool wake_pending = false;
bool xact_callback_registered = false;

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

}  // namespace

WorkerShared* worker_shared() { return shared_state; }

void wake_worker_at_commit() {
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
}

}  // namespace pg_plivo
