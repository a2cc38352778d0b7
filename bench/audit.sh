#!/bin/sh
# bench/audit.sh BUILD_DIR: durable audit appends/s next to SQLite (same
# records, same durability, same disk, one run) and the time to verify a
# 1,000,000-entry log. Targets: >= 2x SQLite's rate; verification < 2 s.
set -eu
build=$1
dir=$(mktemp -d "$build/bench-audit.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$build/bench_audit" "$dir" "${AUDIT_APPENDS:-4000}" "${AUDIT_ENTRIES:-1000000}" "${AUDIT_ROUNDS:-200}"
