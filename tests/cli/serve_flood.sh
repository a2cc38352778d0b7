#!/usr/bin/env bash
# sealtrain serve against hostile clients at the TCP and TLS level (issue
# 14): 500 idle connections from 127.0.0.2 do not lock out a client on
# 127.0.0.1, the per-address cap is enforced before TLS (an over-cap
# socket is closed without a TLS byte), the server closes the idle
# connections by itself (handshake timeout), no 429 names another
# client's address, and the server issues no TLS session tickets.
# Loopback only; every loop below is bounded.
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh
. tests/serve_lib.sh

cert admin mo
start_server --timeout 2 --max-conns 64 --max-conns-per-ip 8

# the flood: 500 TCP connections from 127.0.0.2 that never send a byte;
# it reports how many the server accepted into TLS (those still open
# after 0.5 s), then how long until the server had closed every one
python3 - "$PORT" "$T/flood" "$T/flooding" <<'PY' &
import select, socket, sys, time
port, out, flag = int(sys.argv[1]), sys.argv[2], sys.argv[3]
socks = []
for _ in range(500):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        socks.append(s)
    except OSError:
        s.close()
t0 = time.time()
open(flag, "w").write("%d\n" % len(socks))
time.sleep(0.5)
def closed(s):
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(1) == b""
    except OSError:
        return True
held = sum(1 for s in socks if not closed(s))
deadline = t0 + 20
while time.time() < deadline and not all(closed(s) for s in socks):
    time.sleep(0.2)
left = sum(1 for s in socks if not closed(s))
open(out, "w").write("%d %d %d %.1f\n" % (len(socks), held, left, time.time() - t0))
PY
flood=$!
on_exit "kill $flood"
for _ in $(seq 200); do [ -s "$T/flooding" ] && break; sleep 0.1; done
[ -s "$T/flooding" ] || fail "the flood did not start"

# while the flood holds its connections, 127.0.0.1 is served
for i in 1 2 3 4 5; do
    out=$(as_curl mo "$API/v1/whoami")
    [ "$(status_of "$out")" = 200 ] || fail "request $i during the flood: $out"
    ! grep -q "127.0.0.2" <<<"$out" || fail "a reply names the flood's address: $out"
done
ok "five requests from 127.0.0.1 are served while 127.0.0.2 floods"

wait $flood
read -r opened held left secs <"$T/flood"
[ "$opened" -ge 100 ] || fail "the flood opened only $opened connections"
[ "$held" -le 8 ] || fail "$held of the flood's connections were kept (cap 8 per address)"
[ "$left" = 0 ] || fail "$left idle connections were still open after ${secs} s"
ok "of $opened idle connections $held were kept (cap 8) and all were closed after ${secs} s"

# no session tickets: a full handshake, then the session must hold no
# ticket (TLS 1.3 sends NewSessionTicket after the handshake)
python3 - "$PORT" "$CERTS" "$K" >"$T/ticket" <<'PY'
import socket, ssl, sys
port, certs, keys = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=certs + "/ca.crt")
ctx.load_cert_chain(certs + "/mo.crt", keys + "/mo.pem")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                    server_hostname="localhost")
s.sendall(b"GET /v1/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    data += d
assert b" 200 " in data, data
print("ticket" if s.session is not None and s.session.has_ticket else "none")
PY
[ "$(cat "$T/ticket")" = none ] || fail "the server issued a TLS session ticket"
ok "the server issues no TLS session tickets"

stop_server
grep -q "GET /v1/whoami principal=mo status=200" "$T/serve.log" ||
    fail "no request line in the server log: $(tail -n5 "$T/serve.log")"
ok "the server logs one line per request"
fp=$(openssl x509 -noout -fingerprint -sha256 -in "$CERTS/ca.crt" | cut -d= -f2)
grep -q "listening on https://127.0.0.1:$PORT" "$T/serve.log" ||
    fail "the server did not say where it listens"
grep -q "workspace CA fingerprint SHA256:$fp" "$T/serve.log" ||
    fail "the start-up log lacks the CA fingerprint $fp: $(head -n3 "$T/serve.log")"
ok "serve says where it listens and the CA's SHA-256 fingerprint"
