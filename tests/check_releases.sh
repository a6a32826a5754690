#!/usr/bin/env bash
# Released versions stay as they were released, and sql/src changes only under a version
# still in development:
#   1. every script in sql/released.sha256 is unchanged;
#   2. when the control file's default_version is a released one, sql/src/*.sql still
#      assembles to its install script (else: a schema change needs a new version and
#      an upgrade script);
#   3. every released version has a chain of upgrade scripts to default_version.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
fail() { echo "check_releases: $*" >&2; status=1; }

sha256sum --quiet -c sql/released.sha256 || fail "a released script was edited (sql/released.sha256)"

default="$(sed -n "s/^default_version = '\(.*\)'/\1/p" sql/pg_plivo.control)"
install="sql/pg_plivo--$default.sql"
if awk '{print $2}' sql/released.sha256 | grep -qx "$install"; then
    if ! diff -q <(sql/assemble.sh "$default" | tail -n +2) <(tail -n +2 "$install") >/dev/null; then
        fail "sql/src/ changed after $default was released: set default_version in" \
             "sql/pg_plivo.control to the next version and put the change in" \
             "sql/pg_plivo--$default--NEXT.sql as well"
    fi
fi

python3 - "$default" <<'PY' || status=1
import glob, os, re, sys
default = sys.argv[1]
released = [re.match(r"sql/pg_plivo--([^-]+)\.sql$", line.split()[1]).group(1)
            for line in open("sql/released.sha256")]
steps = {}
for path in glob.glob("sql/pg_plivo--*--*.sql"):
    a, b = re.match(r"pg_plivo--(.+)--(.+)\.sql$", os.path.basename(path)).groups()
    steps.setdefault(a, []).append(b)
for version in released:
    seen, frontier = {version}, [version]
    while frontier:
        for nxt in steps.get(frontier.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    if default not in seen:
        print(f"check_releases: no upgrade path from released {version} to {default}",
              file=sys.stderr)
        sys.exit(1)
PY
exit "$status"
