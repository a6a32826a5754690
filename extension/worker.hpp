// The dispatcher background worker: registration, shared state and wake-up at commit.
#pragma once

namespace pg_plivo {

// Registers the worker when loaded through shared_preload_libraries; otherwise
// enqueuing still works and plivo.worker_status() reports that no worker runs.
void register_worker_if_preloaded();

// Called by the enqueue trigger: wake the worker when this transaction commits.
void wake_worker_at_commit();

}  // namespace pg_plivo
