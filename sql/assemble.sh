#!/bin/sh
# sql/assemble.sh VERSION: the install script of VERSION put together from sql/src/*.sql,
# one file per part of the schema, in name order, on standard output. The Makefile
# writes it for the version in development; tests/check_releases.sh compares it with a
# released one.
set -eu
cd "$(dirname "$0")"
echo "-- pg_plivo $1, generated from sql/src/*.sql by the Makefile: edit those."
printf '%s\n' '\echo Use "CREATE EXTENSION pg_plivo" to load this file. \quit'
for part in $(ls src/*.sql | LC_ALL=C sort); do
    echo
    echo "-- sql/$part"
    cat "$part"
done
