#!/bin/sh
# fuzz/run.sh BUILD_DIR SECONDS: runs every libFuzzer harness built in
# BUILD_DIR for SECONDS each, starting from its seed corpus in
# fuzz/corpus/<name>/ (seeds are kept in git; new finds go to a scratch
# corpus under BUILD_DIR). Fails if any harness finds a crash.
set -eu
build=$1
secs=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
for bin in "$build"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    work="$build/corpus-run/$name"
    mkdir -p "$work" "$build/artifacts"
    seeds="$root/fuzz/corpus/$name"
    [ -d "$seeds" ] || seeds=""
    printf '%-28s ' "$name"
    if (cd "$root" && "$bin" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$build/artifacts/$name-" "$work" $seeds \
        >"$build/$name.log" 2>&1); then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' \
            "$build/$name.log" | grep -o '[0-9]*$' || echo '?')
        echo "ok ($runs runs)"
    else
        echo "FAILED: see $build/$name.log"
        tail -n 30 "$build/$name.log"
        status=1
    fi
done
exit $status
