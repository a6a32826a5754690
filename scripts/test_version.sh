#!/usr/bin/env bash
# scripts/test_version.sh MAJOR: the server tests (pg_regress, isolation, end to end,
# upgrades) on PostgreSQL MAJOR, in a Debian root that has Debian's own package of it.
# Needs the host's build/ (the simulator and relay); ends with "N passed, N failed".
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/versions.sh"
require_root "$@"
cd "$REPO_ROOT"
major="${1:?usage: scripts/test_version.sh MAJOR}"

make_version_root "$major"
root="$(version_root "$major")"
trap 'unmount_version_root "$major"' EXIT
carry_host_tools "$root"
copy_sources "$root"
mount_version_root "$major"
log "PostgreSQL $major: $(in_version_root "$major" "/usr/lib/postgresql/$major/bin/postgres" --version)" \
    "in Debian $(cat "$root/etc/debian_version")"
old="$(upgrade_source "$major")"
if [ -n "$old" ]; then
    log "building pg_plivo for PostgreSQL $old too (the pg_upgrade test's old cluster)"
    in_version_root "$major" bash -c "rm -rf /src-$old && cp -a /src /src-$old &&
        make -C /src-$old -s -j\$(nproc) PG_CONFIG=/usr/lib/postgresql/$old/bin/pg_config >/dev/null &&
        make -C /src-$old -s install PG_CONFIG=/usr/lib/postgresql/$old/bin/pg_config >/dev/null"
fi
in_version_root "$major" bash scripts/test.sh --server-only
