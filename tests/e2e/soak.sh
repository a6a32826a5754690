#!/usr/bin/env bash
# The long chaos soak, by hand: 20,000 messages and 10 crash events by default.
#   SOAK_MESSAGES=50000 SOAK_CHAOS=20 tests/e2e/soak.sh
export SOAK_MESSAGES="${SOAK_MESSAGES:-20000}" SOAK_CHAOS="${SOAK_CHAOS:-10}" E2E_ONLY=11
exec "$(dirname "$0")/run.sh"
