#!/bin/sh
# bench/serve.sh BUILD_DIR: `sealtrain serve --broker` under load from
# bench_serve (N keep-alive mutual-TLS connections; wrk cannot present a
# client certificate): remote key releases per second with sim evidence
# (HELLO -> NONCE -> EVIDENCE -> KEYS, key unwrapped by the client) and
# /v1/healthz as the idle-path baseline, same server, same run, side by
# side with the ratio and the target (>= 1,000 key releases/s on 2 cores,
# p99 < 20 ms). Then the soak: SERVE_SOAK seconds (600) of mixed load
# (releases, refused nonce replays, /v1/healthz, reconnections), the
# server's RSS and open descriptors sampled every SERVE_SAMPLE seconds
# (30), printed as a table and flagged when they grow beyond noise.
#
#   SERVE_CONNS (16)  SERVE_SECONDS (10)  SERVE_WORKERS (4)
#   SERVE_SOAK (600)  shorter for a quick look while developing; 0 skips
#   SERVE_SAMPLE (30)
#   ST_BENCH_BASELINE=DIR  also measure the key releases of another build
#                     (e.g. the previous release) with this same script, and
#                     print both side by side with the ratio
set -eu
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
st=$build/sealtrain
conns=${SERVE_CONNS:-16}
workers=${SERVE_WORKERS:-4}
secs=${SERVE_SECONDS:-10}
soak=${SERVE_SOAK:-600}
every=${SERVE_SAMPLE:-30}
T=$(mktemp -d "$build/bench-serve.XXXXXX")
export SEALTRAIN_WORKSPACE=$T/ws
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$T"' EXIT

head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
"$st" init --protect "file:$T/root.key" >/dev/null
K=$T/keys
mkdir -p "$K" "$T/certs"
for p in admin dana mo; do "$st" identity new "$p" --out "$K" >/dev/null 2>&1; done
"$st" principal add admin --role admin --signing-key "$K/admin.pub.pem" >/dev/null
admin() { "$st" --as admin --key "$K/admin.pem" "$@"; }
admin principal add dana --role data-owner --signing-key "$K/dana.pub.pem" >/dev/null
admin principal add mo --role model-owner,trainer --signing-key "$K/mo.pub.pem" >/dev/null
"$st" --as dana --key "$K/dana.pem" data import examples/data/digits.csv \
    --name digits --label label --owner dana --classification confidential >/dev/null
rcpt=$(grep -o 'age1[0-9a-z]*' "$K/mo.age" | head -n1)
cat >"$T/policy.json" <<JSON
{"version": 1,
 "attestation": {"version": 1, "tee": ["sim"], "max_age_seconds": 300},
 "principals": ["mo"], "recipients": ["$rcpt"]}
JSON
"$st" --as dana --key "$K/dana.pem" data policy set digits "$T/policy.json" >/dev/null
# the owner's consent: the policy names mo, and mo holds dana's use grant
"$st" --as dana --key "$K/dana.pem" principal grant mo dataset:digits use >/dev/null
# the job spec every HELLO carries, signed by mo (the broker checks the
# signer, the spec digest, the dataset and the recipients)
sed "s/age1[0-9a-z]*/$rcpt/" examples/jobs/digits-mlp.json >"$T/spec.json"
admin principal cert mo --out "$T/certs" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$st" --as admin --key "$K/admin.pem" serve --broker --listen "127.0.0.1:$port" --ready-file "$T/ready" \
    --rate 1000000 --burst 1000000 --principal-rate 1000000 \
    --principal-burst 1000000 --max-conns 1024 --max-conns-per-ip 512 \
    --workers "$workers" \
    >"$T/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$T/ready" ] && break; sleep 0.1; done
[ -s "$T/ready" ] || { cat "$T/serve.log"; exit 1; }

args="$port $T/certs/ca.crt $T/certs/mo.crt $K/mo.pem"
simkey=$SEALTRAIN_WORKSPACE/keys/sim-platform.pem
status=0
echo "server: event loop + $workers key-release workers; client: $conns keep-alive connections, ${secs} s per figure"
"$build/bench_serve" healthz $args "$conns" "$secs" >"$T/healthz.out" || status=1
"$build/bench_serve" release $args "$conns" "$secs" "$simkey" digits "$T/spec.json" \
    >"$T/release.out" || status=1
grep -v '^RESULT' "$T/healthz.out" "$T/release.out" | sed 's/^[^:]*:/  /'
# RESULT mode ok rps p50 p99 max errors
# shellcheck disable=SC2046
set -- $(grep '^RESULT' "$T/healthz.out") - - - - - - -
h_rps=$4 h_p50=$5 h_p99=$6
# shellcheck disable=SC2046
set -- $(grep '^RESULT' "$T/release.out") - - - - - - -
r_rps=$4 r_p50=$5 r_p99=$6
awk -v hr="$h_rps" -v h50="$h_p50" -v h99="$h_p99" \
    -v rr="$r_rps" -v r50="$r_p50" -v r99="$r_p99" 'BEGIN {
    printf "  %-22s %10s %9s %9s\n", "", "req/s", "p50 ms", "p99 ms"
    printf "  %-22s %10.1f %9.2f %9.2f\n", "/v1/healthz (baseline)", hr, h50, h99
    printf "  %-22s %10.1f %9.2f %9.2f\n", "key release", rr, r50, r99
    printf "  %-22s %9.3fx %8.1fx %8.1fx\n", "release / healthz",
        (hr > 0 ? rr / hr : 0), (h50 > 0 ? r50 / h50 : 0), (h99 > 0 ? r99 / h99 : 0)
    printf "  target: >= 1000 releases/s (%s), p99 < 20 ms (%s); 2 cores shared with the client\n",
        (rr >= 1000 ? "met" : "NOT met"), (r99 < 20 ? "met" : "NOT met")
}'

if [ -n "${ST_BENCH_BASELINE:-}" ]; then
    base=$(cd "$ST_BENCH_BASELINE" && pwd)
    echo "baseline: $base (same script, same client, no soak)"
    ST_BENCH_BASELINE= SERVE_SOAK=0 sh "$0" "$base" >"$T/base.out" 2>&1 ||
        { cat "$T/base.out"; status=1; }
    # shellcheck disable=SC2046
    set -- $(awk '$1 == "key" && $2 == "release" {print $3, $4, $5}' "$T/base.out") - - -
    awk -v br="$1" -v b50="$2" -v b99="$3" -v rr="$r_rps" -v r50="$r_p50" \
        -v r99="$r_p99" 'BEGIN {
        printf "  %-22s %10s %9s %9s\n", "key release", "req/s", "p50 ms", "p99 ms"
        printf "  %-22s %10.1f %9.2f %9.2f\n", "baseline build", br, b50, b99
        printf "  %-22s %10.1f %9.2f %9.2f\n", "this build", rr, r50, r99
        printf "  %-22s %9.3fx %8.2fx %8.2fx\n", "this / baseline",
            (br > 0 ? rr / br : 0), (b50 > 0 ? r50 / b50 : 0), (b99 > 0 ? r99 / b99 : 0)
    }'
fi

if [ "$soak" -gt 0 ]; then
    echo "soak: ${soak} s of mixed load ($conns connections: releases, replayed nonces, /v1/healthz, a new connection every 500 operations)"
    "$build/bench_serve" mixed $args "$conns" "$soak" "$simkey" digits "$T/spec.json" \
        >"$T/soak.out" &
    load=$!
    t0=$(date +%s)
    printf '  %6s %10s %6s %12s\n' "t s" "rss kB" "fds" "nonce wal kB" | tee "$T/samples.hdr"
    while :; do
        t=$(($(date +%s) - t0))
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
        fds=$(ls "/proc/$pid/fd" | wc -l)
        # the nonce store's WAL (checkpointed every 1,000 frames, about 4 MB)
        wal=$(($(stat -c %s "$SEALTRAIN_WORKSPACE/gate-nonces.db-wal" 2>/dev/null || echo 0) / 1024))
        printf '  %6d %10d %6d %12d\n' "$t" "$rss" "$fds" "$wal" | tee -a "$T/samples"
        kill -0 "$load" 2>/dev/null || break
        for _ in $(seq "$every"); do
            kill -0 "$load" 2>/dev/null || break
            sleep 1
        done
    done
    wait "$load" || status=1
    grep -v '^RESULT' "$T/soak.out" | sed 's/^/  /'
    # flat: after a warm-up of one interval, the median of the last three
    # samples against the median of the first three; noise allowance:
    # RSS 1 MB or 5 %, descriptors 4 (connections being redialled); the
    # nonce store's WAL must end under 16 MB (a WAL that is never started
    # over grew by 15 MB a second, and the server's RSS with its index)
    awk -v every="$every" '
        function med3(a, b, c) { return a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b)) }
        $1 >= every { n++; r[n] = $2; f[n] = $3; w = $4 }
        END {
            if (n < 6) { print "  flat check: too few samples after warm-up (need 6)"; exit 0 }
            rb = med3(r[1], r[2], r[3]); re = med3(r[n-2], r[n-1], r[n])
            fb = med3(f[1], f[2], f[3]); fe = med3(f[n-2], f[n-1], f[n])
            lim = rb * 0.05 > 1024 ? rb * 0.05 : 1024
            rg = re - rb > lim; fg = fe - fb > 4
            printf "  rss: %d -> %d kB (%+d kB, %+.1f%%): %s\n", rb, re, re - rb,
                (rb ? 100 * (re - rb) / rb : 0), (rg ? "GROWING" : "flat")
            printf "  fds: %d -> %d (%+d): %s\n", fb, fe, fe - fb, (fg ? "GROWING" : "flat")
            wg = w > 16384
            printf "  nonce store WAL at the end: %d kB: %s\n", w, (wg ? "GROWING" : "bounded")
            exit rg || fg || wg
        }' "$T/samples" || status=1
else
    echo "soak: skipped (SERVE_SOAK=0; the default is a 600 s soak)"
fi
kill -TERM "$pid"
wait "$pid"
pid=""
exit "$status"
