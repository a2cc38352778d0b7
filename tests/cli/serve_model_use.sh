#!/usr/bin/env bash
# model evaluate / model predict over --server (issue 15, docs/predict.md
# "Over --server"): the server runs the job up to attestation; the client
# verifies the runtime's evidence itself, wraps the model's key to the
# runtime and gets metrics, or predictions sealed to it. The attackers: a
# principal with a valid certificate but without `model.decrypt` (even
# holding the owner's stolen identity) or without the dataset's `predict`
# consent; the operator (who holds the workspace, its keyring and the
# server copy of the predictions) opening them or finding the model key;
# the operator answering the client with its own runtime key and another
# job's genuine evidence; a client posting a key for someone else's job.
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh
. tests/serve_lib.sh

for p in runner eve; do
    st identity new "$p" --out "$K" >/dev/null 2>&1
done
admin principal add runner --role trainer --signing-key "$K/runner.pub.pem" >/dev/null
admin principal add eve --role model-owner,trainer --signing-key "$K/eve.pub.pem" \
    --recipient "$(rcpt eve)" >/dev/null
A=$T/ws/audit/log.jsonl

# mo's model, trained locally on digits (the first 1500 rows)
head -n 1501 examples/data/digits.csv >"$T/train.csv"
{ head -n 1 examples/data/digits.csv; tail -n 297 examples/data/digits.csv; } >"$T/eval.csv"
import_digits "$T/train.csv"
policy sim
spec '{"training": {"epochs": 5}, "checkpoint_every": 0}'
expect_exit 0 mo job submit "$SPEC"
expect_exit 0 mo job run "$(cat "$T/stdout")"
dana data import "$T/eval.csv" --name digits-eval --label label --owner dana \
    --classification confidential --recipient "$DANA_RCPT" >/dev/null
dana principal grant mo dataset:digits-eval use >/dev/null
dana principal grant eve dataset:digits-eval use >/dev/null
cat >"$T/eval-policy.json" <<JSON
{"version": 1, "attestation": {"version": 1, "tee": ["sim"]},
 "principals": ["mo"], "recipients": ["$MO_RCPT"],
 "uses": {"evaluate": ["mo", "eve"]}}
JSON
dana data policy set digits-eval "$T/eval-policy.json" >/dev/null

# what the requester trusts: the sim platform's public key and its own
# attestation policy
openssl pkey -in "$T/ws/keys/sim-platform.pem" -pubout -out "$T/platform.pub.pem" 2>/dev/null ||
    fail "the sim platform key"
echo '{"version": 1, "tee": ["sim"]}' >"$T/attest.json"
cert mo eve runner
stop_quietly() {
    kill -TERM "$SERVER_PID" 2>/dev/null || return 0
    local i
    for i in $(seq 150); do
        kill -0 "$SERVER_PID" 2>/dev/null || return 0
        sleep 0.1
    done
}
remote() {
    local who=$1
    shift
    SEALTRAIN_WORKSPACE=$T/nonexistent SEALTRAIN_CERT=$CERTS/$who.crt \
        SEALTRAIN_CACERT=$CERTS/ca.crt \
        "$SEALTRAIN" --server "$API" --key "$K/$who.pem" "$@"
}
use() {
    local who=$1 sub=$2
    shift 2
    remote "$who" model "$sub" digits-mlp --data digits-eval \
        --attest-policy "$T/attest.json" --platform-key "$T/platform.pub.pem" "$@"
}
# the job's status field PYEXPR (on j = the job's status object)
status_field() {
    admin job status "$1" --json | python3 -c "import json,sys; j=json.load(sys.stdin)['status']; print($2)"
}

# ---- the server runs the job; the client holds the model key ----
start_server --runner-as runner --runner-key "$K/runner.pem"
on_exit stop_quietly

# eve holds a certificate, a `use` grant and the dataset's evaluate
# consent, but no right on mo's model: refused at submission, even with
# mo's stolen identity (the gate asks her right, not only the key)
expect_exit 4 use eve evaluate -i "$K/mo.age"
expect_stderr "model.decrypt"
python3 - "$A" <<'PY' || fail "eve's refusal"
import json, sys
es = [json.loads(l) for l in open(sys.argv[1])]
d = [e for e in es if e["actor"] == "eve" and e["outcome"] == "denied"]
assert d and d[-1]["resource"] == "model:digits-mlp", d
PY
# mo may use his model, but the dataset's policy allows him evaluate only
expect_exit 4 use mo predict -i "$K/mo.age" --to "$MO_RCPT" --out "$T/p.age"
expect_stderr "does not allow \`predict\` for \"mo\""
[ ! -e "$T/p.age" ] || fail "predictions were written"
python3 - "$A" <<'PY' || fail "a model key left"
import json, sys
es = [json.loads(l) for l in open(sys.argv[1])]
assert not [e for e in es if e["action"] in ("key.release", "model.key")
            and e["resource"].startswith(("model:", "job:"))], "a model key left"
PY
ok "a client with a certificate but without model.decrypt or the predict consent is refused"

# -- evaluate --
expect_exit 0 use mo evaluate -i "$K/mo.age" --json
cp "$T/stdout" "$T/eval.json"
J1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job"])' "$T/eval.json")
python3 - "$A" "$T/eval.json" "$J1" <<'PY' || fail "evaluate over --server"
import json, sys
es = [json.loads(l) for l in open(sys.argv[1])]
r, job = json.load(open(sys.argv[2])), sys.argv[3]
ev = r["evaluation"]
assert ev["rows"] == 297 and 0.5 < ev["accuracy"] <= 1.0, ev
k = [e for e in es if e["action"] == "key.release" and e["resource"] == "model:digits-mlp@1"
     and e["details"]["job"] == job]
assert len(k) == 1 and k[0]["outcome"] == "success", k
assert k[0]["details"]["wrapped_by"] == "requester", k[0]
assert k[0]["actor"] == "runner", k[0]
m = [e for e in es if e["action"] == "model.key" and e["resource"] == "job:" + job]
assert len(m) == 1 and m[0]["actor"] == "mo" and m[0]["outcome"] == "success", m
u = [e for e in es if e["action"] == "model.evaluate" and e["details"]["job"] == job]
assert len(u) == 1 and u[0]["details"]["metrics_sha256"] == r["metrics_sha256"], u
PY
ok "evaluate over --server: evidence verified by the client, key wrapped by it, metrics back"

# -- predict --
sed -i 's/"uses": {"evaluate": \["mo", "eve"\]}/"uses": {"evaluate": ["mo", "eve"], "predict": ["mo"]}/' "$T/eval-policy.json"
dana data policy set digits-eval "$T/eval-policy.json" >/dev/null
expect_exit 0 use mo predict -i "$K/mo.age" --to "$MO_RCPT" --out "$T/pred.age" \
    --provenance "$T/use.json"
expect_stdout "297 predictions sealed to $MO_RCPT"
# the statement the attested runtime signed about them checks out here
expect_exit 0 st model verify-use "$T/pred.age" --provenance "$T/use.json" \
    --policy "$T/attest.json" --sim-key "$T/platform.pub.pem"
age -d -i "$K/mo.age" "$T/pred.age" >"$T/pred.csv" || fail "mo cannot open the predictions"
[ "$(wc -l <"$T/pred.csv")" -eq 298 ] || fail "not 297 rows"
J2=$(sqlite3 "$T/ws/catalog.db" "SELECT id FROM jobs WHERE name LIKE 'predict-%' ORDER BY created DESC LIMIT 1")
# the operator holds the server's copy, the workspace and its identities:
# none of them opens it
[ -s "$T/ws/jobs/$J2/predictions.age" ] || fail "no server copy in jobs/$J2"
for who in admin runner dana; do
    age -d -i "$K/$who.age" "$T/ws/jobs/$J2/predictions.age" >/dev/null 2>&1 &&
        fail "$who opened the predictions"
done
grep -rqa "prediction,p_0" "$T/ws" && fail "plaintext predictions on the server"
ok "predict over --server: sealed to the requester; the operator cannot open them"

# the sealed copy itself goes to the requester only: another model owner
# and the runner, both with valid certificates, are refused (audited)
for who in eve runner; do
    out=$(as_curl "$who" "$API/v1/jobs/$J2/predictions")
    [ "$(status_of "$out")" = 403 ] || fail "$who fetched mo's predictions: $out"
done
out=$(as_curl mo -o "$T/pred2.age" "$API/v1/jobs/$J2/predictions")
[ "$(status_of "$out")" = 200 ] && cmp -s "$T/pred2.age" "$T/ws/jobs/$J2/predictions.age" ||
    fail "mo could not fetch the predictions: $out"
grep '"actor":"eve"' "$T/ws/audit/log.jsonl" | grep "job:$J2" | grep -q '"outcome":"denied"' ||
    fail "eve's fetch of mo's predictions is not audited"
ok "GET /v1/jobs/ID/predictions: the requester only (another model owner and the runner get 403, audited)"

# the operator never held the model's file key: recovered here with mo's
# identity, it appears nowhere in the workspace (catalog, status, logs,
# audit), in any encoding
python3 - "$T/ws" "$K/mo.age" <<'PY' || fail "the model key is on the server"
import base64, glob, hashlib, hmac, os, sys
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes
B32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
def bech32(s):
    d = [B32.index(c) for c in s.lower().split("1", 1)[1]][:-6]
    acc = bits = 0; out = bytearray()
    for v in d:
        acc = acc << 5 | v; bits += 5
        while bits >= 8:
            bits -= 8; out.append(acc >> bits & 255)
    return bytes(out)
sk = [l for l in open(sys.argv[2]) if l.startswith("AGE-SECRET-KEY-")][0].strip()
priv = X25519PrivateKey.from_private_bytes(bech32(sk))
pub = priv.public_key().public_bytes_raw()
def b64(s): return base64.b64decode(s + "=" * (-len(s) % 4))
fk = None
for f in glob.glob(sys.argv[1] + "/models/*.age"):
    lines = open(f, "rb").read().split(b"\n---")[0].decode("latin1").split("\n")
    for i, l in enumerate(lines):
        if l.startswith("-> X25519 "):
            share = b64(l.split()[2]); body = b64(lines[i + 1])
            secret = priv.exchange(X25519PublicKey.from_public_bytes(share))
            key = HKDF(hashes.SHA256(), 32, share + pub, b"age-encryption.org/v1/X25519").derive(secret)
            try:
                fk = ChaCha20Poly1305(key).decrypt(b"\0" * 12, body, None)
            except Exception:
                pass
assert fk and len(fk) == 16, "mo's identity opened no model file here"
needles = [fk, fk.hex().encode(), base64.b64encode(fk), base64.b64encode(fk).rstrip(b"=")]
for root, _, files in os.walk(sys.argv[1]):
    for n in files:
        data = open(os.path.join(root, n), "rb").read()
        for x in needles:
            assert x not in data, os.path.join(root, n)
PY
ok "the model's file key is nowhere in the server's workspace"

stop_quietly

# ---- the operator, with no job runner: it answers the client itself ----
start_server
# once mo's job is queued, the operator writes a key request into its
# status: python3 PYEXPR builds it from J (the job id), S (its spec
# digest) and R (the genuine request of job $J1)
operator_request() {
    python3 - "$T/ws/catalog.db" "$1" "$J1" <<'PY'
import json, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=10)
for _ in range(200):
    row = db.execute("SELECT id, spec_digest, status FROM jobs WHERE submitter = 'mo' "
                     "AND state = 'queued' ORDER BY created DESC LIMIT 1").fetchone()
    if row:
        break
    time.sleep(0.1)
J, S, st = row
R = json.loads(db.execute("SELECT status FROM jobs WHERE id = ?", (sys.argv[3],)).fetchone()[0])["model_key_request"]
req = eval(sys.argv[2])
st = json.loads(st or "{}")
st["model_key_request"] = req
db.execute("UPDATE jobs SET status = ? WHERE id = ?", (json.dumps(st), J))
db.commit()
print(J)
PY
}

# the genuine evidence of job $J1's runtime, replayed for the new job
# with a key the operator holds: its report data binds another spec and
# another key, so the client refuses and sends nothing
OP_X25519=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
use mo evaluate -i "$K/mo.age" >"$T/a1.out" 2>"$T/a1.err" &
CLIENT=$!
J3=$(operator_request '{**R, "job": J, "spec_sha256": S, "x25519": "'"$OP_X25519"'"}')
rc=0
wait $CLIENT || rc=$?
[ "$rc" = 4 ] || fail "the client accepted the operator's key request (exit $rc): $(cat "$T/a1.err")"
grep -q "fails your attestation policy" "$T/a1.err" || fail "refusal: $(cat "$T/a1.err")"
grep -q "report" "$T/a1.err" || fail "the refusal does not name the report data: $(cat "$T/a1.err")"
[ "$(status_field "$J3" "'model_key' in j")" = False ] || fail "a key was posted for $J3"
grep -q "\"job:$J3\".*model.key\|model.key.*\"job:$J3\"" "$A" && fail "a model.key entry for $J3"
ok "the operator's runtime key, with another job's genuine evidence: the client sends no key"

# another principal's key for mo's job: 403 before the body is read, audited
BODY='{"name":"model:digits-mlp@1","epk":"'"$OP_X25519"'","ct":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}'
out=$(as_curl eve -X POST -H 'Content-Type: application/json' --data "$BODY" \
    "$API/v1/jobs/$J3/model-key")
[ "$(status_of "$out")" = 403 ] || fail "eve's key for mo's job: $out"
grep -q "requester" <<<"$out" || fail "the refusal does not say why: $out"
out=$(as_curl runner -X POST -H 'Content-Type: application/json' --data "$BODY" \
    "$API/v1/jobs/$J1/model-key")
[ "$(status_of "$out")" = 403 ] || fail "the runner's key for mo's job: $out"
python3 - "$A" "$J3" <<'PY' || fail "the refusals are not audited"
import json, sys
es = [json.loads(l) for l in open(sys.argv[1])]
d = [e for e in es if e["action"] == "model.key" and e["outcome"] == "denied"]
assert {e["actor"] for e in d} == {"eve", "runner"}, d
PY
[ "$(status_field "$J3" "'model_key' in j")" = False ] || fail "eve's key was stored"
# mo's own, for a job that waits for none: refused, naming the state
out=$(as_curl mo -X POST -H 'Content-Type: application/json' --data "$BODY" \
    "$API/v1/jobs/$J1/model-key")
[ "$(status_of "$out")" = 400 ] || fail "a key for a finished job: $out"
ok "only the job's requester may post its model key, and only while it waits"

expect_exit 0 admin audit verify
stop_quietly
