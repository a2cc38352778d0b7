#!/usr/bin/env bash
# A secure job end to end with the sim TEE: signed spec, sandboxed runtime
# with every measure in force, attestation-gated key release, training,
# a model sealed to the model owner (opened with the stock age CLI),
# provenance signed by the attested key, every decision in the audit log.
. tests/cli/lib.sh
. tests/job_lib.sh
import_digits
policy sim
spec

expect_exit 0 mo job submit "$SPEC"
ID=$(cat "$T/stdout")
[ "$(job_field "$ID" 'j["state"]')" = queued ] || fail "not queued"
ok "job submit signs and queues the spec"

expect_exit 0 mo job run "$ID" --json
grep -q '"event":"progress"' "$T/stdout" || fail "no progress events"
grep -q '"state":"training"' "$T/stdout" || fail "no training state"
[ "$(job_field "$ID" 'j["state"]')" = succeeded ] || fail "not succeeded"
ok "job run trains and succeeds, streaming JSON progress"

missing=$(job_field "$ID" '[m["name"] for m in j["status"]["sandbox"]["measures"] if m["status"] != "applied"]')
[ "$missing" = "[]" ] || fail "sandbox measures missing: $missing"
[ "$(job_field "$ID" 'j["status"]["sandbox"]["level"]')" = strict ] || fail "not strict"
[ "$(job_field "$ID" 'j["status"]["attestation"]["pass"]')" = True ] || fail "attestation"
ok "every sandbox measure applied (strict); attestation passed"

# each verdict of the key release as an EAR, verifiable with the
# workspace's verifier key
job_field "$ID" '",".join(e["ear"] for e in j["status"]["attestation"]["ears"])' >"$T/ears"
[ -s "$T/ears" ] || fail "job status shows no EAR"
"$SEALTRAIN" attest ear-key >"$T/ear.pem"
/usr/bin/python3 - "$T/ear.pem" "$T/ears" <<'PY' || fail "the job's EARs do not verify"
import sys
import jwt
pem = open(sys.argv[1], "rb").read()
for tok in open(sys.argv[2]).read().strip().split(","):
    c = jwt.decode(tok, pem, algorithms=["EdDSA"])
    assert all("ear.status" in s for s in c["submods"].values()), c
PY
ok "job status --json carries the release's verdicts as EARs that python3-jwt verifies"

MODEL=$(job_field "$ID" 'j["status"]["result"]["model_path"]')
PROV=$(job_field "$ID" 'j["status"]["result"]["provenance_path"]')
age -d -i "$K/mo.age" -o "$T/model.safetensors" "$MODEL" || fail "age -d"
python3 - "$T/model.safetensors" <<'PY' || fail "not safetensors"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
assert "layers.0.weight" in h, h.keys()
PY
if age -d -i "$K/dana.age" "$MODEL" >/dev/null 2>&1; then
    fail "the data owner could open the model"
fi
ok "the sealed model opens with the model owner's identity and the stock age CLI only"

python3 - "$PROV" "$MODEL" <<'PY' || fail "provenance"
import base64, hashlib, json, sys
env = json.load(open(sys.argv[1]))
st = json.loads(base64.b64decode(env["payload"]))
assert st["_type"] == "https://in-toto.io/Statement/v1"
d = hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
assert st["subject"][0]["digest"]["sha256"] == d
p = st["predicate"]
assert p["datasets"][0]["name"] == "digits"
assert p["runtime"]["tee"] == "sim"
acc = p["metrics"]["final_evaluation"]["accuracy"]
assert acc > 0.8, acc
PY
ok "provenance: in-toto statement over the model digest, with datasets, runtime and metrics"

A=$T/ws/audit/log.jsonl
grep -q '"action":"key.release".*"outcome":"success"' "$A" || fail "no key.release in audit"
grep -q '"action":"attest.verify"' "$A" || fail "no attest.verify in audit"
grep -q '"to":"succeeded"' "$A" || fail "no state transition in audit"
ok "attestation verdict, key release and every transition are audited"

expect_exit 0 mo job logs "$ID"
expect_stdout "succeeded"
expect_stdout "epoch 12/12"
expect_exit 0 mo job list
expect_stdout "$ID"
[ ! -e "$T/ws/jobs/$ID" ] || fail "job directory left behind"
ok "logs and list; the job directory is cleaned up"
