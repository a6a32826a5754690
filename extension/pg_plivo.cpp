// Module entry: settings, and (when preloaded) the dispatcher worker.
#include "postgres_headers.hpp"

#include "settings.hpp"
#include "worker.hpp"

extern "C" {
PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);
}

void _PG_init(void) {
    // pg_upgrade loads libraries into a server that must not start workers.
    if (IsBinaryUpgrade) return;
    pg_plivo::define_settings();
    pg_plivo::register_worker_if_preloaded();
}
