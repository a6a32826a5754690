#!/usr/bin/env bash
# Type-checks the Supabase Edge Function examples with tsc (versions pinned in
# package-lock.json). Ends with one line, "N passed, N failed"; exits non-zero on failure.
set -u
cd "$(dirname "$0")"

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

if ! command -v npm >/dev/null 2>&1; then
    echo "check.sh: npm is not installed (Node.js 20 or later is needed)" >&2
    failed=1
# npm ci prints only on failure; --no-install keeps npx from fetching an unrelated "tsc" package.
elif ! npm ci --no-audit --no-fund --loglevel=error >"$log" 2>&1; then
    cat "$log" >&2
    echo "check.sh: npm ci failed" >&2
    failed=1
elif npx --no-install tsc --noEmit -p .; then
    passed=1
else
    echo "check.sh: tsc found type errors in examples/supabase" >&2
    failed=1
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
