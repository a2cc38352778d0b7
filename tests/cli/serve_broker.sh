#!/usr/bin/env bash
# sealtrain serve --broker: the attestation-gated key release over mutual
# TLS with the broker.h frames: HELLO -> NONCE, EVIDENCE (sim, bound to the
# nonce) -> KEYS; a replayed nonce, evidence bound to other report data
# and a principal outside the release policy are refused with reasons; so
# is a HELLO whose signed spec is tampered, is not the spec_digest's, is
# signed by another principal's key, names a model recipient the policy
# does not allow or does not use the dataset, or asks for less protection
# than the policy requires, and so is any HELLO once the policy row was
# edited behind its owner's signature; every decision is in this
# workspace's audit log. Only the broker (and health) endpoints are served.
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh
. tests/serve_lib.sh

import_digits
policy sim
cert mo dana
# one worker: a kept connection always meets the same (warm) cache
start_server --broker --workers 1
SIMKEY=$SEALTRAIN_WORKSPACE/keys/sim-platform.pem
[ -s "$SIMKEY" ] || fail "the broker has no sim platform key"

out=$(as_curl mo "$API/v1/datasets")
[ "$(status_of "$out")" = 404 ] || fail "--broker served the dataset API: $out"
ok "--broker serves only the key release"

# client: python3 speaks the frames over TLS with mo's certificate
cat >"$T/client.py" <<'PY'
import base64, hashlib, http.client, json, os, ssl, struct, subprocess, sys, time
from cryptography.hazmat.primitives import serialization
api_port, certs, keys, who, mode, simkey, st, rcpt, other = sys.argv[1:10]
ctx = ssl.create_default_context(cafile=certs + "/ca.crt")
ctx.load_cert_chain(certs + "/%s.crt" % who, keys + "/%s.pem" % who)
kept = None
def post(path, body):
    global kept
    # keepalive: one connection for everything (authenticated once)
    c = kept or http.client.HTTPSConnection("127.0.0.1", int(api_port),
                                            context=ctx)
    if mode == "keepalive":
        kept = c
    c.request("POST", path, body=body,
              headers={"Content-Type": "application/x-sealtrain-broker"})
    r = c.getresponse()
    global last_ear
    last_ear = r.getheader("Sealtrain-EAR")
    return r.status, r.read()
last_ear = None
def frame(t, payload):
    return struct.pack(">BI", t, len(payload)) + payload
def b64(b):
    return base64.b64encode(b).decode()
def signed_spec(signer, recipient, dataset="digits"):
    # a DSSE envelope over a job spec, as `job submit` signs it
    s = json.load(open("examples/jobs/digits-mlp.json"))
    s["outputs"]["recipients"] = [recipient]
    s["datasets"]["train"] = dataset
    if mode == "locked":  # less than a policy may require
        s["security"]["memory"] = "locked"
    payload = json.dumps(s, sort_keys=True, separators=(",", ":")).encode()
    t = b"application/vnd.sealtrain.job-spec+json"
    pae = b"DSSEv1 %d %s %d " % (len(t), t, len(payload)) + payload
    k = serialization.load_pem_private_key(
        open(keys + "/%s.pem" % signer, "rb").read(), None)
    pub = k.public_key().public_bytes(serialization.Encoding.Raw,
                                      serialization.PublicFormat.Raw)
    sig = {"keyid": hashlib.sha256(pub).hexdigest(), "sig": b64(k.sign(pae))}
    env = {"payload": b64(payload), "payloadType": t.decode(),
           "signatures": [sig]}
    return payload, env
def release():
    x, ed = os.urandom(32), os.urandom(32)
    job = "j" + os.urandom(8).hex()[:15]
    payload, env = signed_spec(other if mode == "other-key" else who,
                               other if mode == "recipient" else rcpt,
                               "beta" if mode == "dataset" else "digits")
    spec = hashlib.sha256(payload).digest()
    if mode == "mismatch":  # a valid spec, but not the one of spec_digest
        spec = hashlib.sha256(payload + b" ").digest()
    if mode == "tamper":  # the payload changed after signing
        env["payload"] = b64(payload.replace(b'"epochs":30', b'"epochs":31'))
    status, body = post("/v1/broker/datasets/digits/hello?job=%s&spec_digest=%s"
                        % (job, spec.hex()),
                        frame(1, bytes([1]) + x + ed) + json.dumps(env).encode())
    if status != 200 and body[:1] == b"\x05":
        print("hello", status, "DENIED", json.loads(body[5:])["reason"]); return
    if status != 200:
        print("hello", status, body.decode(errors="replace")); return
    assert body[0] == 2 and len(body) == 37, body
    nonce = body[5:]
    bound = nonce if mode != "wrong-rd" else os.urandom(32)
    rd = hashlib.sha256(b"sealtrain-key-release-v1" + x + ed + bound + spec).digest()
    rd += bytes(32)
    ev = os.path.join(os.path.dirname(certs), "ev-%s.json" % mode)
    subprocess.run([st, "attest", "evidence", "--tee", "sim", "--report-data",
                    rd.hex(), "--platform-key", simkey, "-o", ev], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    evf = frame(3, open(ev, "rb").read())
    status, body = post("/v1/broker/datasets/digits/evidence?nonce=" + nonce.hex(), evf)
    print("evidence", status, body[0] if body else -1)
    if last_ear:
        open(os.path.join(os.path.dirname(certs), "ear-%s.txt" % mode),
             "w").write(last_ear)
    if body and body[0] == 5:
        print(json.loads(body[5:])["reason"])
    if body and body[0] == 4:
        print("keys", b"dataset:digits" in body, len(body))
    if body and body[:1] == b"{":
        print(json.loads(body)["error"])
    if mode == "replay":
        status, body = post("/v1/broker/datasets/digits/evidence?nonce=" + nonce.hex(), evf)
        print("replay", status, body[0] if body else -1, json.loads(body[5:])["reason"])
release()
if mode == "keepalive":
    # a second release on the same connection once the test says so
    base = os.path.dirname(certs)
    open(os.path.join(base, "ka.ready"), "w").close()
    for _ in range(200):
        if os.path.exists(os.path.join(base, "ka.go")):
            break
        time.sleep(0.1)
    print("second")
    release()
PY
client() {
    python3 "$T/client.py" "$PORT" "$CERTS" "$K" "$1" "$2" "$SIMKEY" \
        "$SEALTRAIN" "$MO_RCPT" "${3:-dana}"
}

out=$(client mo ok)
grep -q "^evidence 200 4$" <<<"$out" || fail "no KEYS frame: $out"
grep -q "^keys True" <<<"$out" || fail "KEYS lacks dataset:digits: $out"
grep '"category":"key-release"' "$SEALTRAIN_WORKSPACE/audit/log.jsonl" |
    grep '"actor":"mo"' | grep -c '"outcome":"success"' >/dev/null ||
    fail "the release is not audited"
ok "sim evidence bound to the nonce releases the dataset key (KEYS frame), audited"

# the verdict comes back as an EAR (Sealtrain-EAR), signed with this
# workspace's verifier key; an independent JWT library checks it, and the
# release's audit entry names its digest
[ -s "$T/ear-ok.txt" ] || fail "no Sealtrain-EAR header on KEYS"
"$SEALTRAIN" attest ear-key >"$T/ear.pem"
/usr/bin/python3 - "$T/ear.pem" "$T/ear-ok.txt" "$SEALTRAIN_WORKSPACE/audit/log.jsonl" <<'PY' ||
import hashlib, sys
import jwt
pem = open(sys.argv[1], "rb").read()
log = open(sys.argv[3]).read()
for tok in open(sys.argv[2]).read().strip().split(","):
    c = jwt.decode(tok, pem, algorithms=["EdDSA"])
    assert c["eat_profile"] == "tag:github.com,2023:veraison/ear", c
    assert "eat_nonce" in c, c
    assert hashlib.sha256(tok.encode()).hexdigest() in log, "digest not audited"
PY
    fail "the EAR does not verify or is not audited"
ok "the verdict comes back as an EAR that python3-jwt verifies with \`attest ear-key\`, its digest audited"

# The broker caches the release policy, the permission and the verified
# file key per worker (one worker here, so a kept connection always meets
# a warm cache): a change made meanwhile applies to the very next request
# on the same connection. between ACTION...: one release on a kept
# connection, ACTION, a second release on it; $second: its output.
between() {
    rm -f "$T/ka.ready" "$T/ka.go"
    client mo keepalive >"$T/ka.out" 2>&1 &
    local ka=$! i
    for i in $(seq 100); do [ -e "$T/ka.ready" ] && break; sleep 0.1; done
    "$@"
    touch "$T/ka.go"
    wait "$ka" || fail "keepalive client failed: $(cat "$T/ka.out")"
    out=$(cat "$T/ka.out")
    [ "$(sed -n 1p "$T/ka.out")" = "evidence 200 4" ] ||
        fail "first release on the kept connection: $out"
    second=$(sed -n '/^second/,$p' "$T/ka.out")
}

between policy tpm
grep -q "^evidence 403 5$" <<<"$second" || fail "stale release policy: $out"
grep -qi "tee" <<<"$second" || fail "no tee reason: $out"
policy sim
ok "a release policy changed while serving applies to the next release"

disable_mo() { admin principal disable mo >/dev/null; }
between disable_mo
admin principal enable mo >/dev/null
grep -q "^hello 403" <<<"$second" ||
    fail "a disabled principal was served on its open connection: $out"
grep -q "disabled" <<<"$second" || fail "no reason naming it disabled: $out"
ok "a principal disabled while its connection is open is refused on its next request"

ENC=$(ls "$SEALTRAIN_WORKSPACE"/datasets/*.age)
cp "$ENC" "$T/enc.orig"
grow() { printf 'x' >>"$ENC"; }
between grow # no catalog change: only the file itself tells
cat "$T/enc.orig" >"$ENC"
grep -q "^evidence 403" <<<"$second" || fail "modified file released: $out"
grep -q "size" <<<"$second" || fail "no reason naming the size: $out"
between true
grep -q "^evidence 200 4$" <<<"$second" || fail "restored file: $out"
ok "an encrypted file modified while serving is checked again before a release"

out=$(client mo replay)
grep -q "^replay 403 5 nonce already used (replay)" <<<"$out" ||
    fail "replayed nonce: $out"
ok "a nonce opens one release only (replay: 403 DENIED)"

out=$(client mo wrong-rd)
grep -q "^evidence 403 5$" <<<"$out" || fail "wrong report data: $out"
grep -qi "report" <<<"$out" || fail "no reason: $out"
grep '"category":"key-release"' "$SEALTRAIN_WORKSPACE/audit/log.jsonl" |
    grep -c '"outcome":"denied"' >/dev/null || fail "the refusal is not audited"
ok "evidence bound to other report data is refused with the verifier's reason, audited"

# the signed spec that comes with HELLO: each refusal is a DENIED frame
# naming why, and an audited denial; no nonce is issued
denials() { grep -c '"action":"key.release".*"outcome":"denied"' \
    "$SEALTRAIN_WORKSPACE/audit/log.jsonl" || true; }
refused() { # refused MODE SIGNER_OR_RECIPIENT REASON...
    local mode=$1 arg=$2 before r
    shift 2
    before=$(denials)
    out=$(client mo "$mode" "$arg")
    grep -q "^hello 403 DENIED" <<<"$out" || fail "$mode: no DENIED: $out"
    for r in "$@"; do
        grep -qF -- "$r" <<<"$out" || fail "$mode: reason lacks '$r': $out"
    done
    [ "$(denials)" = $((before + 1)) ] || fail "$mode: the refusal is not audited"
    grep '"outcome":"denied"' "$SEALTRAIN_WORKSPACE/audit/log.jsonl" | tail -n1 |
        grep -q '"spec_sha256"' || fail "$mode: no spec digest in the audit entry"
}
refused tamper dana "not a job spec signed by the key registered for \"mo\""
refused mismatch dana "is not the job's spec_digest"
refused other-key dana "not a job spec signed by the key registered for \"mo\""
refused recipient "$DANA_RCPT" "does not allow model recipient $DANA_RCPT"
refused dataset dana "dataset \"digits\" is not among the job spec's datasets"
ok "a HELLO's signed spec must be mo's own, the spec_digest's, use the dataset and name only allowed recipients (403 DENIED, audited)"

# the owner's signed policy, read and verified at every HELLO and
# EVIDENCE: the protections it requires, and a row edited behind it
cat >"$T/policy-secret.json" <<JSON
{"version": 1, "attestation": {"version": 1, "tee": ["sim"]},
 "principals": ["mo"], "recipients": ["$MO_RCPT"],
 "requires": {"memory": "secret"}}
JSON
dana data policy set digits "$T/policy-secret.json" >/dev/null
refused locked dana "requires \"secret\" memory"
policy sim
sqlite3 "$SEALTRAIN_WORKSPACE/catalog.db" \
    "UPDATE release_policies SET policy = replace(policy, '\"mo\"', '\"mo\",\"eve\"')
     WHERE dataset = 'digits'"
refused ok dana "differs from the policy its owner signed"
policy sim
out=$(client mo ok)
grep -q "^evidence 200 4$" <<<"$out" || fail "the policy set again: $out"
ok "over HTTPS too, a policy's required protections and an edited policy row are refused (403 DENIED, audited)"

out=$(client dana ok)
grep -q "^hello 403" <<<"$out" || fail "dana got a nonce: $out"
grep -q "job.run" <<<"$out" || fail "no permission named: $out"
ok "a principal without job.run gets 403 naming it"

stop_server
ok "the broker stops on SIGTERM"
