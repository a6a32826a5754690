#!/usr/bin/env bash
# Fails when a regress or isolation test exists without its schedule entry (it would
# silently never run), or when a schedule names a test that does not exist.
set -euo pipefail
cd "$(dirname "$0")"
status=0
check() {
    local schedule="$1" dir="$2" ext="$3"
    local listed on_disk
    listed="$(sed -n 's/^test: *//p' "$schedule" | tr ' ' '\n' | sed '/^$/d' | sort)"
    on_disk="$(find "$dir" -maxdepth 1 -name "*.$ext" -printf '%f\n' | sed "s/\.$ext\$//" | sort)"
    while read -r name; do
        [ -z "$name" ] && continue
        echo "missing from $schedule: $name" >&2
        status=1
    done < <(comm -13 <(echo "$listed") <(echo "$on_disk"))
    while read -r name; do
        [ -z "$name" ] && continue
        echo "$schedule names $name, but $dir/$name.$ext does not exist" >&2
        status=1
    done < <(comm -23 <(echo "$listed") <(echo "$on_disk"))
}
check regress/schedule regress/sql sql
check isolation/schedule isolation/specs spec
exit "$status"
