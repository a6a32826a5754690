// The dispatcher background worker: registration, shared state and wake-up at commit.
#pragma once

namespace pg_plivo {

// Registers the worker when loaded through shared_preload_libraries; otherwise
// enqueuing still works and plivo.worker_status() reports that no worker runs.
void register_worker_if_preloaded();

// Called when messages become due in this transaction: wake the worker when it commits,
// and NOTIFY plivo_message_queued as plivo.notify_on_enqueue says.
void signal_queued_at_commit();

}  // namespace pg_plivo
