#!/usr/bin/env bash
# sealtrain serve: mutual TLS 1.3 with workspace-CA certificates bound to
# registered principal keys; role checks over HTTPS (403 naming the
# permission, audited); size limits (413), malformed requests (400); a
# slow client is cut off while others are served; per-principal rate
# limits (429); /metrics passes promtool; the docs/api.md examples run;
# SIGTERM stops the server cleanly.
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh
. tests/serve_lib.sh

for p in aud eve flood; do
    st identity new "$p" --out "$K" >/dev/null 2>&1
done
admin principal add aud --role auditor --signing-key "$K/aud.pub.pem" >/dev/null
admin principal add eve --role trainer --signing-key "$K/eve.pub.pem" >/dev/null
admin principal add flood --role trainer --signing-key "$K/flood.pub.pem" >/dev/null
import_digits
cert admin dana mo aud eve flood

openssl x509 -in "$CERTS/dana.crt" -noout -text >"$T/cert.txt"
grep -q "Subject: CN = dana" "$T/cert.txt" &&
    grep -q "URI:sealtrain:principal:dana" "$T/cert.txt" ||
    fail "the certificate does not name the principal"
[ "$(openssl x509 -in "$CERTS/dana.crt" -noout -pubkey)" = "$(cat "$K/dana.pub.pem")" ] ||
    fail "the certificate key is not dana's registered signing key"
openssl verify -CAfile "$CERTS/ca.crt" "$CERTS/dana.crt" >/dev/null
[ "$(stat -c %a "$SEALTRAIN_WORKSPACE/keys/tls/ca.key")" = 600 ] ||
    fail "the CA key is not 0600"
expect_exit 4 st --as dana --key "$K/dana.pem" principal cert mo --out "$CERTS"
expect_stderr "principal.admin"
ok "principal cert: CN/SAN name the principal, the key is its registered key, admins only"

start_server --max-body 4096 --max-headers 2048 --timeout 2

out=$(as_curl mo "$API/v1/healthz")
[ "$(status_of "$out")" = 200 ] || fail "healthz: $out"
out=$(as_curl mo "$API/v1/whoami")
grep -q '"principal":"mo"' <<<"$out" || fail "whoami: $out"
ok "a registered principal's certificate is accepted and names it"

# no certificate / a certificate from another CA / TLS 1.2: no handshake
set +e
curl -sS --max-time 10 --cacert "$CERTS/ca.crt" "$API/v1/healthz" >/dev/null 2>&1
rc_none=$?
openssl req -x509 -new -key "$K/dana.pem" -subj /CN=dana -days 1 \
    -out "$T/self.crt" 2>/dev/null
curl -sS --max-time 10 --cacert "$CERTS/ca.crt" --cert "$T/self.crt" \
    --key "$K/dana.pem" "$API/v1/healthz" >/dev/null 2>&1
rc_self=$?
curl -sS --max-time 10 --tls-max 1.2 --cacert "$CERTS/ca.crt" \
    --cert "$CERTS/dana.crt" --key "$K/dana.pem" "$API/v1/healthz" >/dev/null 2>&1
rc_tls12=$?
curl -sS --max-time 10 "http://127.0.0.1:$PORT/v1/healthz" >/dev/null 2>&1
rc_plain=$?
set -e
for rc in $rc_none $rc_self $rc_tls12 $rc_plain; do
    [ "$rc" -ne 0 ] || fail "a request without a valid client certificate got through"
done
ok "missing certificate, foreign CA, TLS 1.2 and plaintext HTTP all fail"

# a disabled principal's certificate is refused at the application layer
admin principal disable eve >/dev/null
out=$(as_curl eve "$API/v1/healthz")
[ "$(status_of "$out")" = 403 ] || fail "disabled principal: $out"
grep -q "disabled" <<<"$out" || fail "no reason: $out"
ok "a disabled principal's certificate is refused (403)"

# a principal acting outside its role: 403 naming the permission, audited
out=$(as_curl mo "$API/v1/metrics")
[ "$(status_of "$out")" = 403 ] || fail "mo /metrics: $out"
grep -q '"permission":"audit.read"' <<<"$out" || fail "$out"
out=$(as_curl mo -X POST "$API/v1/audit/checkpoint")
[ "$(status_of "$out")" = 403 ] || fail "mo checkpoint: $out"
grep -q '"permission":"audit.checkpoint"' <<<"$out" || fail "$out"
out=$(as_curl mo "$API/v1/datasets/digits")
[ "$(status_of "$out")" = 403 ] || fail "mo dataset show: $out"
grep -q '"action":"audit.checkpoint","actor":"mo".*"outcome":"denied"' \
    "$SEALTRAIN_WORKSPACE/audit/log.jsonl" || fail "denial not audited"
ok "a principal outside its role gets 403 naming the permission, audited"

out=$(as_curl dana "$API/v1/datasets/digits")
[ "$(status_of "$out")" = 200 ] || fail "dana dataset: $out"
grep -q '"owner":"dana"' <<<"$out" || fail "$out"
out=$(as_curl dana "$API/v1/datasets")
grep -q '"name":"digits"' <<<"$out" || fail "$out"
out=$(as_curl aud -X POST "$API/v1/audit/checkpoint")
[ "$(status_of "$out")" = 201 ] || fail "checkpoint: $out"
out=$(as_curl aud "$API/v1/audit/proof?index=0")
grep -q '"tree_size"' <<<"$out" && grep -q '"root_hash"' <<<"$out" || fail "proof: $out"
ok "dataset list/show, audit checkpoint and inclusion proof for allowed roles"

# the API's proofs are the CLI's documents: an auditor saves a checkpoint,
# later fetches a consistency proof from its size and checks it offline
# against the saved one (and an inclusion proof against its embedded one)
out=$(as_curl aud "$API/v1/audit/checkpoint")
[ "$(status_of "$out")" = 200 ] || fail "checkpoint: $out"
printf '%s\n' "$out" | head -n -2 >"$T/saved.note"
N=$(sed -n 2p "$T/saved.note")
as_curl aud -X POST "$API/v1/audit/checkpoint" >/dev/null
out=$(as_curl aud "$API/v1/audit/consistency?from=$N")
[ "$(status_of "$out")" = 200 ] || fail "consistency: $out"
printf '%s\n' "$out" | head -n -1 >"$T/api-consistency.json"
out=$(as_curl aud "$API/v1/audit/inclusion?index=1")
[ "$(status_of "$out")" = 200 ] || fail "inclusion: $out"
printf '%s\n' "$out" | head -n -1 >"$T/api-inclusion.json"
VKEY=$(st --as aud --key "$K/aud.pem" audit vkey)
expect_exit 0 env -u SEALTRAIN_WORKSPACE "$SEALTRAIN" audit check-proof "$T/api-consistency.json" --vkey "$VKEY" --old "$T/saved.note"
expect_stdout "(equal)"
expect_exit 0 env -u SEALTRAIN_WORKSPACE "$SEALTRAIN" audit check-proof "$T/api-inclusion.json" --vkey "$VKEY"
expect_stdout "entry 1 is included"
out=$(as_curl aud "$API/v1/audit/consistency")
[ "$(status_of "$out")" = 400 ] || fail "no from: $out"
ok "the API's consistency and inclusion proofs check offline, the consistency proof against the auditor's saved checkpoint"

# limits: 413 body, 400 headers (libevent answers 400), 400 malformed
head -c 10000 /dev/zero >"$T/big"
out=$(as_curl aud --data-binary "@$T/big" "$API/v1/audit/checkpoint")
[ "$(status_of "$out")" = 413 ] || fail "oversize body: $out"
out=$(as_curl aud -H "X-Pad: $(head -c 3000 /dev/zero | tr '\0' a)" "$API/v1/healthz")
[ "$(status_of "$out")" = 400 ] || fail "oversize headers: $out"
out=$(as_curl aud "$API/v1/audit/entries?limit=abc")
[ "$(status_of "$out")" = 400 ] || fail "bad query: $out"
grep -q "limit" <<<"$out" || fail "$out"
printf 'GARBAGE\r\n\r\n' | timeout 10 openssl s_client -quiet \
    -connect "127.0.0.1:$PORT" -CAfile "$CERTS/ca.crt" -cert "$CERTS/aud.crt" \
    -key "$K/aud.pem" 2>/dev/null | head -n1 >"$T/garbage" || true
grep -q "400" "$T/garbage" || fail "malformed request line: $(cat "$T/garbage")"
ok "oversize body 413, oversize headers and malformed requests 400"

# a slow client (headers never finished) is cut off after --timeout 2 s
# while another client is answered at once
python3 - "$PORT" "$CERTS" "$K" >"$T/slow" <<'PY' &
import socket, ssl, sys, time
port, certs, keys = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=certs + "/ca.crt")
ctx.load_cert_chain(certs + "/aud.crt", keys + "/aud.pem")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                    server_hostname="localhost")
t0 = time.time()
s.sendall(b"GET /v1/healthz HTTP/1.1\r\nHost: x\r\n")
s.settimeout(20)
d = s.recv(100)
print("%.1f %d" % (time.time() - t0, len(d)))
PY
slow=$!
sleep 0.5
out=$(as_curl aud -w '%{time_total}\n' "$API/v1/healthz")
grep -q '"ok"' <<<"$out" || fail "server unresponsive during a slow client"
wait $slow
read -r secs bytes <"$T/slow"
python3 -c "import sys; s=float(sys.argv[1]); sys.exit(0 if 1.5 <= s <= 6 else 1)" "$secs" ||
    fail "slow client closed after $secs s"
[ "$bytes" = 0 ] || fail "slow client got a response"
ok "a slow client is closed after the timeout (${secs} s) while others are served"

# a client dripping one header byte per second (under the 2 s read
# timeout) is still cut off by the request deadline (3 x --timeout)
python3 - "$PORT" "$CERTS" "$K" >"$T/drip" <<'PY'
import socket, ssl, sys, time
port, certs, keys = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=certs + "/ca.crt")
ctx.load_cert_chain(certs + "/aud.crt", keys + "/aud.pem")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                    server_hostname="localhost")
t0 = time.time()
try:
    for b in b"GET /v1/healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60:
        s.sendall(bytes([b]))
        time.sleep(1)
    print("never closed")
except OSError:
    print("%.1f" % (time.time() - t0))
PY
secs=$(cat "$T/drip")
python3 -c "import sys; s=float(sys.argv[1]); sys.exit(0 if 4 <= s <= 12 else 1)" "$secs" ||
    fail "dripping client: closed after $secs"
ok "a client dripping bytes under the read timeout is closed at the request deadline (${secs} s)"

# the docs/api.md examples, as written (each ```sh block after
# <!-- example -->), as the auditor and the data owner
python3 - docs/api.md >"$T/examples.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"<!-- example -->\s*```sh\n(.*?)```", text, re.S)
assert blocks, "no examples"
for b in blocks:
    print("set -euo pipefail\n" + b)
PY
n=$(grep -c '^set -euo' "$T/examples.sh")
CERTS=$CERTS KEYS=$K API=$API bash "$T/examples.sh" >"$T/examples.out" 2>&1 ||
    { cat "$T/examples.out" >&2; fail "a docs/api.md example failed"; }
ok "the $n docs/api.md examples run"

stop_server
ok "SIGTERM: the server stops accepting and exits 0"

# a second server with a tiny per-principal budget (5, one token per 20 s)
start_server --principal-rate 0.05 --principal-burst 5 --max-conns-per-ip 3
# rate limit: flood's bucket empties; mo is still served
codes=""
for _ in $(seq 8); do
    codes="$codes $(status_of "$(as_curl flood "$API/v1/healthz")")"
done
grep -q 429 <<<"$codes" || fail "no 429 in:$codes"
grep -q 200 <<<"$codes" || fail "no 200 in:$codes"
out=$(as_curl mo -D "$T/hdr" "$API/v1/healthz")
[ "$(status_of "$out")" = 200 ] || fail "another principal was limited: $out"
out=$(as_curl flood -D "$T/hdr" "$API/v1/healthz")
[ "$(status_of "$out")" = 429 ] || fail "flood not limited: $out"
grep -qi "^retry-after:" "$T/hdr" || fail "429 without Retry-After"
ok "per-principal rate limit answers 429 with Retry-After; others are served"

# connection cap: three held connections from 127.0.0.1, the fourth is
# closed at accept, before TLS (no handshake, no reply); once they are
# gone, connections work again
python3 - "$PORT" "$CERTS" "$K" "$T/held" <<'PY' &
import os, socket, ssl, sys, time
port, certs, keys, flag = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=certs + "/ca.crt")
ctx.load_cert_chain(certs + "/aud.crt", keys + "/aud.pem")
held = []
for _ in range(3):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                        server_hostname="localhost")
    s.sendall(b"GET /v1/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b" 200 " in s.recv(4096)
    held.append(s)
open(flag, "w").write("ok")
time.sleep(3)
PY
holder=$!
for _ in $(seq 50); do [ -s "$T/held" ] && break; sleep 0.1; done
[ -s "$T/held" ] || fail "could not hold three connections"
if out=$(as_curl mo "$API/v1/healthz" 2>&1); then
    fail "fourth connection was served: $out"
fi
wait $holder
out=$(as_curl mo "$API/v1/healthz")
[ "$(status_of "$out")" = 200 ] || fail "after the holder left: $out"
ok "per-IP connection cap closes the connection before TLS and frees slots when connections close"

# /metrics passes promtool
as_curl aud "$API/v1/metrics" | sed '$d' >"$T/metrics.txt"
grep -q '^sealtrain_server_rate_limited_total [1-9]' "$T/metrics.txt" ||
    fail "rate limiting not counted"
grep -q '^sealtrain_server_connections_refused_total [1-9]' "$T/metrics.txt" ||
    fail "refused connections not counted"
if command -v promtool >/dev/null; then
    promtool check metrics <"$T/metrics.txt" ||
        fail "promtool rejects /metrics"
    ok "/metrics passes promtool check metrics"
else
    fail "promtool missing (scripts/install-deps.sh test)"
fi

stop_server

# per-IP limit: a third server with an IP bucket of 3 (one token per 20 s):
# the fourth request from 127.0.0.1 is refused whichever principal sends it
start_server --rate 0.05 --burst 3
for who in mo aud dana; do
    out=$(as_curl "$who" "$API/v1/healthz")
    [ "$(status_of "$out")" = 200 ] || fail "within the IP budget: $out"
done
out=$(as_curl admin "$API/v1/healthz")
[ "$(status_of "$out")" = 429 ] || fail "over the IP budget: $out"
grep -q "rate limit for 127.0.0.1" <<<"$out" || fail "$out"
stop_server
ok "per-IP rate limit answers 429 across principals"
