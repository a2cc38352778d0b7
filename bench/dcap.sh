#!/bin/sh
# bench/dcap.sh BUILD_DIR: Intel DCAP quote verification with collateral on
# one core, ours (bench_dcap: st_attest_verify end to end, and with the
# collateral parsed once) next to the peer, Phala's @phala/dcap-qvl 0.3.9
# (pure JavaScript, from npm, installed under BUILD_DIR on first use), on
# the same quotes, collateral and fixed times. Target: TDX under 5 ms.
set -eu
build=$1
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
pin=""
command -v taskset >/dev/null 2>&1 && pin="taskset -c 0"

ours=$($pin "$build/bench_dcap")
echo "$ours"

peer=""
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    npmdir="$build/npm-dcap-qvl"
    if [ ! -d "$npmdir/node_modules/@phala/dcap-qvl" ]; then
        mkdir -p "$npmdir"
        npm install --prefix "$npmdir" --no-audit --no-fund --silent \
            @phala/dcap-qvl@0.3.9 >/dev/null 2>&1 || true
    fi
    if [ -d "$npmdir/node_modules/@phala/dcap-qvl" ]; then
        peer=$(NODE_PATH="$npmdir/node_modules" $pin node bench/dcap_peer.js \
            ../shared/testvectors) || peer=""
        echo "$peer"
    fi
fi
[ -n "$peer" ] || echo "(peer @phala/dcap-qvl not available: node/npm missing or offline)"

echo
printf '%-6s %14s %14s %16s %8s %10s\n' tee "ours full ms" "ours cached ms" \
    "dcap-qvl-js ms" ratio "target ms"
for tee in tdx sgx; do
    full=$(echo "$ours" | awk -v k="$tee.full_ms" '$1 == k {print $2}')
    cached=$(echo "$ours" | awk -v k="$tee.cached_ms" '$1 == k {print $2}')
    p=$(echo "$peer" | awk -v k="peer.${tee}_ms" '$1 == k {print $2}')
    target="-"
    [ "$tee" = tdx ] && target="5.000"
    if [ -n "$p" ]; then
        ratio=$(awk -v a="$p" -v b="$full" 'BEGIN {printf "%.1fx", a / b}')
    else
        p="-"
        ratio="-"
    fi
    printf '%-6s %14s %14s %16s %8s %10s\n' "$tee" "$full" "$cached" "$p" \
        "$ratio" "$target"
done
echo "(ratio: peer time / our full time; medians of 300 runs pinned to one core)"
