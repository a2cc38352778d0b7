#!/bin/sh
# bench/run.sh BUILD_DIR: runs every benchmark. Each prints its peer's
# figure and ours side by side, with the ratio and the target.
set -eu
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export ST_BENCH_BUILD="$build"
for b in bench/*.sh; do
    [ "$b" = bench/run.sh ] && continue
    echo "== $(basename "$b" .sh) =="
    sh "$b" "$build" || echo "(benchmark $(basename "$b") failed)"
    echo
done
