# Shared by the scripts in scripts/: dependencies, build, and a throwaway PostgreSQL
# cluster run by a non-root user (the server refuses to run as root).

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# The server version built for and tested: the host's (15 on Debian 12) unless PG_MAJOR
# names another one installed beside it (scripts/lib/versions.sh makes 17 and 18 roots).
PG_MAJOR="${PG_MAJOR:-15}"
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
PG_CONFIG="$PG_BIN/pg_config"
# The simulator and relay: built here, or carried into a version root (versions.sh).
PLIVO_TOOLS_DIR="${PLIVO_TOOLS_DIR:-$REPO_ROOT/build}"

# Debian packages the build, the tests and the quick start need.
DEBIAN_PACKAGES=(
    build-essential cmake pkg-config git ca-certificates curl python3
    "postgresql-${PG_MAJOR}" "postgresql-server-dev-${PG_MAJOR}" postgresql-client-${PG_MAJOR}
    libcurl4-openssl-dev libssl-dev nlohmann-json3-dev libphonenumber-dev
    libcpp-httplib-dev libgtest-dev libpq-dev
    clang-14 libclang-rt-14-dev llvm-14
)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        exec sudo -E bash "$0" "$@"
    fi
}

install_dependencies() {
    local missing=()
    for package in "${DEBIAN_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$package")
    done
    if [ "${#missing[@]}" -eq 0 ] && [ "${CI:-}" != "true" ]; then
        return 0
    fi
    log "installing Debian packages: ${missing[*]:-(refreshing)}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${DEBIAN_PACKAGES[@]}" >/dev/null
    # The Edge Function examples are type-checked with Node.js; the machine image has a
    # current one, Debian's is the fallback.
    if ! command -v npm >/dev/null 2>&1; then
        apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    fi
}

# Builds and installs the extension for PG_MAJOR (PGXS, through its pg_config).
build_extension() {
    log "building and installing the extension for PostgreSQL $PG_MAJOR (PGXS)"
    make -C "$REPO_ROOT" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >/dev/null
    make -C "$REPO_ROOT" -s install PG_CONFIG="$PG_CONFIG" >/dev/null
}

# Builds and installs the extension, and builds the dispatcher tests and simulator.
build_all() {
    build_extension
    log "building the dispatcher library, unit tests and simulator (CMake)"
    cmake -S "$REPO_ROOT" -B "$REPO_ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$REPO_ROOT/build" -j"$(nproc)" >/dev/null
}

# The non-root account that runs the server.
server_user() {
    if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

as_server_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# cluster_start DIR PORT [postgresql.conf lines...]: initdb + start, socket in DIR.
cluster_start() {
    local dir="$1" port="$2"
    shift 2
    mkdir -p "$dir"
    chown "$(server_user)" "$dir"
    chmod 700 "$dir"
    as_server_user "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1
    {
        echo "listen_addresses = ''"
        echo "port = $port"
        echo "unix_socket_directories = '$dir'"
        # PG_PLIVO_PRELOAD=no starts a server without the worker (enqueue only).
        # plivo.database only with the library preloaded: a session that loads pg_plivo
        # later warns about (and drops) a plivo.* setting the library does not define then.
        if [ "${PG_PLIVO_PRELOAD:-yes}" = yes ]; then
            echo "shared_preload_libraries = 'pg_plivo'"
            echo "plivo.database = 'postgres'"
        fi
        echo "fsync = off"
        echo "log_min_messages = info"
        for line in "$@"; do echo "$line"; done
    } >>"$dir/data/postgresql.conf"
    as_server_user "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    export PGHOST="$dir" PGPORT="$port" PGUSER=postgres PGDATABASE=postgres
}

cluster_stop() {
    local dir="$1"
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_server_user "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
}

# A free TCP port on loopback.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
