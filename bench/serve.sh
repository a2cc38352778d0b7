#!/bin/bash
# bench/serve.sh BUILD_DIR: `sealtrain serve --broker` under load from
# bench_serve (N keep-alive mutual-TLS connections; wrk cannot present a
# client certificate): remote key releases per second with sim evidence
# (HELLO -> NONCE -> EVIDENCE -> KEYS, key unwrapped by the client) and
# /v1/healthz as the idle-path baseline, same server, same run.
# Targets: >= 1,000 key releases/s on 2 cores, p99 < 20 ms.
#
#   SERVE_CONNS (16)  SERVE_SECONDS (10)  SERVE_WORKERS (4)
#   SERVE_SOAK=600   additionally a soak of that many seconds of key
#                    releases, sampling the server's RSS and open file
#                    descriptors every 30 s (they must stay flat).
set -eu
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
st=$build/sealtrain
conns=${SERVE_CONNS:-16}
workers=${SERVE_WORKERS:-4}
secs=${SERVE_SECONDS:-10}
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
echo "server: event loop + $workers key-release workers; client: $conns connections, ${secs} s each"
"$build/bench_serve" healthz $args "$conns" "$secs"
"$build/bench_serve" release $args "$conns" "$secs" "$simkey" digits
echo "targets: release >= 1000 req/s, p99 < 20 ms (2 cores shared with the client)"

if [ -n "${SERVE_SOAK:-}" ]; then
    echo "soak: ${SERVE_SOAK} s of key releases; server RSS (kB) and fds:"
    "$build/bench_serve" release $args "$conns" "$SERVE_SOAK" "$simkey" digits \
        >"$T/soak.out" &
    load=$!
    while kill -0 "$load" 2>/dev/null; do
        printf '  t=%5ss rss=%s fds=%s\n' "$(ps -o etimes= -p "$pid" | tr -d ' ')" \
            "$(ps -o rss= -p "$pid" | tr -d ' ')" "$(ls /proc/"$pid"/fd | wc -l)"
        sleep 30
    done
    wait "$load" || true
    cat "$T/soak.out"
else
    echo "soak: skipped (SERVE_SOAK=600 runs the 10-minute soak)"
fi
kill -TERM "$pid"
wait "$pid"
pid=""
