# The PostgreSQL major versions other than the host's: each one is Debian's own server
# package in a Debian root made with mmdebstrap from Debian's registry (17 from Debian 13,
# 18 from Debian unstable), entered with chroot. The extension is built in that root
# against that version's headers; the simulator and relay, which do not depend on the
# server, are built once on the host and carried in with the libraries they were linked
# against. Sourced after common.sh.

# Where the roots live; kept between runs on one machine (CI starts without them).
VERSION_ROOTS="${PG_PLIVO_VERSION_ROOTS:-/var/tmp/pg_plivo-roots}"

# debian_suite MAJOR: the Debian suite whose own postgresql-MAJOR is the one tested.
debian_suite() {
    case "$1" in
        15) echo bookworm ;;
        17) echo trixie ;;
        18) echo sid ;;
        *) echo "no Debian suite is known for PostgreSQL $1" >&2; return 1 ;;
    esac
}

# upgrade_source MAJOR: the older server whose clusters the tests pg_upgrade to MAJOR
# (Supabase moves projects from 15 to 17), installed in MAJOR's root from its own suite.
upgrade_source() {
    case "$1" in
        17) echo 15 ;;
    esac
}

# root_packages MAJOR: what a root needs to build the extension and run its server tests.
root_packages() {
    local major="$1" old
    old="$(upgrade_source "$major")"
    [ -z "$old" ] || echo "postgresql-$old postgresql-client-$old postgresql-server-dev-$old"
    echo "build-essential pkg-config ca-certificates python3 procps curl" \
         "postgresql-$major postgresql-server-dev-$major postgresql-client-$major" \
         "libcurl4-openssl-dev libssl-dev nlohmann-json3-dev libphonenumber-dev"
}

version_root() { echo "$VERSION_ROOTS/pg$1"; }

# What makes the roots; scripts/test.sh installs it before it makes them side by side
# (two apt-get installs at once would fight over dpkg's lock).
install_mmdebstrap() {
    command -v mmdebstrap >/dev/null 2>&1 && return 0
    log "installing mmdebstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        mmdebstrap >/dev/null
}

# make_version_root MAJOR: the root for MAJOR, made when missing or when what it should
# hold changed (a stamp records the suite and the package list).
make_version_root() {
    local major="$1" root suite stamp old mirrors
    root="$(version_root "$major")"
    suite="$(debian_suite "$major")"
    stamp="$suite $(root_packages "$major" | paste -sd' ')"
    mirrors=("deb http://deb.debian.org/debian $suite main")
    old="$(upgrade_source "$major")"
    [ -z "$old" ] || mirrors+=("deb http://deb.debian.org/debian $(debian_suite "$old") main")
    if [ -f "$root/.pg_plivo-root" ] && [ "$(cat "$root/.pg_plivo-root")" = "$stamp" ]; then
        return 0
    fi
    install_mmdebstrap
    unmount_version_root "$major"
    rm -rf "$root"
    mkdir -p "$VERSION_ROOTS"
    log "making a Debian $suite root with PostgreSQL $major (mmdebstrap)"
    # Check-Valid-Until off: the registry this runs against may be a snapshot whose
    # unstable Release file is past its validity date. Signatures are still checked.
    # No default cluster: the tests make their own.
    mmdebstrap --variant=apt --mode=root --quiet \
        --aptopt='Acquire::Check-Valid-Until "false"' \
        --include="$(root_packages "$major" | tr ' \n' ',,' | sed 's/,,*/,/g; s/^,//; s/,$//')" \
        --essential-hook='mkdir -p "$1/etc/postgresql-common" && echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.conf"' \
        "$suite" "$root" "${mirrors[@]}"
    echo "$stamp" >"$root/.pg_plivo-root"
}

# carry_host_tools ROOT: the host's build/plivo_simulator and build/plivo_relay into
# ROOT/opt/pg_plivo-tools, each with the host's dynamic loader and the libraries it
# was linked against, behind a wrapper that starts it through that loader.
carry_host_tools() {
    local root="$1" tools="$1/opt/pg_plivo-tools" tool lib loader
    rm -rf "$tools"
    mkdir -p "$tools/bin" "$tools/lib"
    loader="$(readlink -f /lib64/ld-linux-x86-64.so.2)"
    cp "$loader" "$tools/lib/ld-linux-x86-64.so.2"
    for tool in plivo_simulator plivo_relay; do
        cp "$REPO_ROOT/build/$tool" "$tools/bin/$tool"
        for lib in $(ldd "$REPO_ROOT/build/$tool" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'); do
            cp -L "$lib" "$tools/lib/"
        done
        cat >"$tools/$tool" <<EOF
#!/bin/sh
exec /opt/pg_plivo-tools/lib/ld-linux-x86-64.so.2 --library-path /opt/pg_plivo-tools/lib /opt/pg_plivo-tools/bin/$tool "\$@"
EOF
        chmod 755 "$tools/$tool"
    done
}

# copy_sources ROOT: the working tree's tracked and new files into ROOT/src, afresh.
copy_sources() {
    local root="$1"
    rm -rf "$root/src"
    mkdir -p "$root/src"
    (cd "$REPO_ROOT" && git ls-files -z --cached --others --exclude-standard \
        | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$root/src"
}

mount_version_root() {
    local root
    root="$(version_root "$1")"
    mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
    mountpoint -q "$root/dev" || mount --rbind /dev "$root/dev"
    # A shared-memory folder of the root's own, for the servers' dynamic shared memory.
    mountpoint -q "$root/dev/shm" || mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
}

unmount_version_root() {
    local root mounted
    root="$(version_root "$1")"
    [ -d "$root" ] || return 0
    # Innermost first.
    for mounted in $(awk -v r="$root/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do
        umount -l "$mounted" 2>/dev/null || true
    done
}

# in_version_root MAJOR COMMAND...: COMMAND in /src of MAJOR's root, as root, with a
# clean environment naming the version and the carried tools.
in_version_root() {
    local major="$1"
    shift
    chroot "$(version_root "$major")" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 CI="${CI:-}" PG_MAJOR="$major" \
        PLIVO_TOOLS_DIR=/opt/pg_plivo-tools PG_PLIVO_UPGRADE_FROM="$(upgrade_source "$major")" \
        FUZZ_SECONDS="${FUZZ_SECONDS:-}" \
        bash -c 'cd /src && "$@"' bash "$@"
}
