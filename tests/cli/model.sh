#!/usr/bin/env bash
# Model management end to end with real sim jobs on the bundled digits:
# registry versions and lineage, verify (happy path and every refusal:
# tampered model, tampered provenance, provenance of another job),
# decrypt with and without the right, share refused and allowed by the
# datasets' release policy, crypto-shredding rm, all audited.
. tests/cli/lib.sh
if [ -f tests/job_lib.sh ]; then . tests/job_lib.sh; else . tests/cli/job_lib.sh; fi
import_digits
policy sim
spec '{"training": {"epochs": 4}, "checkpoint_every": 0}'

expect_exit 0 mo job run "$SPEC"
expect_exit 0 mo job run "$SPEC"
expect_exit 0 mo model list
expect_stdout "digits-mlp"
[ "$(grep -c '^digits-mlp ' "$T/stdout")" = 2 ] || fail "two versions expected"
expect_exit 0 mo model show digits-mlp@1 --json
python3 - "$T/stdout" <<'PY' || fail "show --json"
import json, sys
m = json.load(open(sys.argv[1]))
assert m["name"] == "digits-mlp" and m["version"] == 1, m
lin = m["lineage"]
assert lin["datasets"][0]["name"] == "digits"
assert len(lin["datasets"][0]["sha256"]) == 64
assert len(lin["job_spec"]["sha256"]) == 64
assert lin["attestation"]["tee"] == "sim", lin["attestation"]
assert m["classification"] == "confidential"
assert m["metrics"]["final_evaluation"]["accuracy"] > 0.5
PY
expect_exit 0 mo model show digits-mlp
expect_stdout "digits-mlp@2"
ok "two jobs register versions 1 and 2; show gives lineage (job, dataset digests, spec digest, claims)"

expect_exit 0 mo model verify digits-mlp@1
expect_stdout "verdict: PASS"
expect_stdout "provenance.key_binding"
expect_stdout "provenance.signature"
expect_stdout "ok    registry.evidence"
ok "verify of a registered model passes with a claim-by-claim trace"

M1=$(mo model show digits-mlp@1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["file"]["path"])')
P1=$(mo model show digits-mlp@1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["file"]["provenance"])')
P2=$(mo model show digits-mlp@2 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["file"]["provenance"])')
cat >"$T/simpol.json" <<'JSON'
{"version": 1, "tee": ["sim"]}
JSON
expect_exit 0 st model verify "$M1" --provenance "$P1" --policy "$T/simpol.json"
expect_stdout "verdict: PASS"
ok "verify FILE --provenance FILE passes with the workspace's sim platform key"

expect_exit 4 st model verify "$M1" --provenance "$P1"
expect_stderr "model verification failed"
ok "the default policy refuses sim evidence (exit 4)"

cp "$M1" "$T/tampered.age"
printf 'x' | dd of="$T/tampered.age" bs=1 seek=300 conv=notrunc 2>/dev/null
expect_exit 4 st model verify "$T/tampered.age" --provenance "$P1" --policy "$T/simpol.json"
expect_stderr "model.digest"
ok "a tampered model file is refused: model.digest"

python3 - "$P1" "$T/prov-tampered.json" <<'PY'
import base64, json, sys
env = json.load(open(sys.argv[1]))
st = json.loads(base64.b64decode(env["payload"]))
st["predicate"]["metrics"]["final_evaluation"]["accuracy"] = 0.999
env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
json.dump(env, open(sys.argv[2], "w"))
PY
expect_exit 4 st model verify "$M1" --provenance "$T/prov-tampered.json" --policy "$T/simpol.json"
expect_stderr "provenance.signature"
ok "a tampered provenance is refused: provenance.signature"

expect_exit 4 st model verify "$M1" --provenance "$P2" --policy "$T/simpol.json"
expect_stderr "model.digest"
cp "$P2" "$P1"
expect_exit 4 mo model verify digits-mlp@1
expect_stderr "model.digest"
grep -q "FAIL  provenance.job" "$T/stdout" || fail "provenance.job not flagged"
ok "a provenance from a different job is refused (model.digest, provenance.job)"

# verification with standard tools only: jq/base64 for the envelope,
# printf for the DSSE PAE, openssl for Ed25519, sha256sum for the subject
M2=$(mo model show digits-mlp@2 --json | jq -r .file.path)
P2=$(mo model show digits-mlp@2 --json | jq -r .file.provenance)
jq -r .payload "$P2" | base64 -d >"$T/statement.json"
TYPE=$(jq -r .payloadType "$P2")
LEN=$(stat -c %s "$T/statement.json")
{ printf 'DSSEv1 %d %s %d ' "${#TYPE}" "$TYPE" "$LEN"; cat "$T/statement.json"; } >"$T/pae.bin"
jq -r '.signatures[0].sig' "$P2" | base64 -d >"$T/sig.bin"
ED=$(jq -r .predicate.runtime.ed25519 "$T/statement.json")
{ printf '302a300506032b6570032100'; printf '%s' "$ED"; } | xxd -r -p >"$T/runtime.der"
openssl pkey -pubin -inform DER -in "$T/runtime.der" -out "$T/runtime.pem"
openssl pkeyutl -verify -pubin -inkey "$T/runtime.pem" -rawin -in "$T/pae.bin" \
    -sigfile "$T/sig.bin" >"$T/ossl.out" || fail "openssl rejected the signature"
grep -q "Signature Verified Successfully" "$T/ossl.out" || fail "openssl output"
[ "$(sha256sum "$M2" | cut -d' ' -f1)" = "$(jq -r '.subject[0].digest.sha256' "$T/statement.json")" ] ||
    fail "subject digest"
# the key binding: report data = SHA-256(domain || x25519 || ed25519 || nonce || spec)
X=$(jq -r .predicate.runtime.x25519 "$T/statement.json")
N=$(jq -r .predicate.attestation.nonce "$T/statement.json")
S=$(jq -r .predicate.job_spec.sha256 "$T/statement.json")
RD=$({ printf 'sealtrain-key-release-v1'; printf '%s%s%s%s' "$X" "$ED" "$N" "$S" | xxd -r -p; } | sha256sum | cut -d' ' -f1)
SIMRD=$(jq -r '.predicate.attestation.evidence.parts.report' "$T/statement.json" | base64 -d | jq -r .report_data)
[ "${SIMRD:0:64}" = "$RD" ] || fail "report data $SIMRD does not bind $RD"
# and tampering is seen by the same tools
printf 'x' | dd of="$T/pae.bin" bs=1 seek=60 conv=notrunc 2>/dev/null
if openssl pkeyutl -verify -pubin -inkey "$T/runtime.pem" -rawin -in "$T/pae.bin" \
    -sigfile "$T/sig.bin" >/dev/null 2>&1; then fail "openssl accepted a tampered PAE"; fi
ok "provenance verified with jq, base64, printf, openssl pkeyutl -rawin and sha256sum (no sealtrain)"

# decrypt: the owner can, another principal cannot
expect_exit 0 mo model decrypt digits-mlp@2 -i "$K/mo.age" -o "$T/m2.safetensors"
age -d -i "$K/mo.age" "$M2" | cmp - "$T/m2.safetensors" || fail "decrypt output differs from age -d"
expect_exit 4 dana model decrypt digits-mlp@2 -i "$K/dana.age" -o "$T/dana.safetensors"
[ ! -e "$T/dana.safetensors" ] || fail "denied decrypt wrote a file"
cp "$T/tampered.age" "$M1"
expect_exit 4 mo model decrypt digits-mlp@1 -i "$K/mo.age" -o "$T/m1.safetensors"
expect_stderr "tampered or replaced"
ok "decrypt writes the safetensors for the owner; refused without the right and for a replaced file"

# share: refused unless every dataset's release policy allows the recipient
st identity new eve --out "$K" >/dev/null 2>&1
EVE=$(rcpt eve)
expect_exit 4 mo model share digits-mlp@2 --to "$EVE" -i "$K/mo.age"
expect_stderr "does not allow recipient"
python3 - "$T/policy.json" "$EVE" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); p["recipients"].append(sys.argv[2])
json.dump(p, open(sys.argv[1], "w"))
PY
dana data policy set digits "$T/policy.json" >/dev/null
expect_exit 0 mo model share digits-mlp@2 --to "$EVE" -i "$K/mo.age"
SHARED=$(sed -n 's/.*: \(\/.*\.age\)$/\1/p' "$T/stdout")
age -d -i "$K/eve.age" "$SHARED" | cmp - "$T/m2.safetensors" || fail "eve cannot open the shared copy"
expect_exit 0 mo model show digits-mlp@2
expect_stdout "$EVE"
A=$T/ws/audit/log.jsonl
grep -q '"action":"model.share".*"outcome":"denied"' "$A" || fail "denied share not audited"
grep -q '"action":"model.share".*"outcome":"success"' "$A" || fail "share not audited"
ok "share refused for a recipient no dataset policy allows (exit 4), allowed once it does; audited"

# export to ONNX (checked by Debian's python3-onnx when installed)
expect_exit 0 mo model export digits-mlp@2 -i "$K/mo.age" --format onnx -o "$T/m2.onnx"
if /usr/bin/python3 -c 'import onnx' 2>/dev/null; then
    /usr/bin/python3 -c 'import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' "$T/m2.onnx" ||
        fail "onnx checker"
fi
expect_exit 4 dana model export digits-mlp@2 -i "$K/dana.age" --format onnx -o "$T/d.onnx"
ok "export --format onnx for the owner (checker accepts it); refused without the right"

# rm: crypto-shred, audited, version numbers never reused
expect_exit 0 mo model rm digits-mlp@2
[ ! -e "$M2" ] && [ ! -e "$SHARED" ] || fail "files left after rm"
expect_exit 3 mo model show digits-mlp@2
grep -q '"action":"model.rm".*"outcome":"success"' "$A" || fail "rm not audited"
expect_exit 0 mo job run "$SPEC"
expect_exit 0 mo model show digits-mlp --json
[ "$(jq -r .version "$T/stdout")" = 3 ] || fail "version reused after rm"
ok "rm shreds the sealed file and shared copies (audited); the next job gets version 3"

# two datasets: the model takes the strictest classification and the
# shortest retention of them, and lists both with their digests
{ head -n1 examples/data/digits.csv; tail -n 300 examples/data/digits.csv; } >"$T/val.csv"
dana data import "$T/val.csv" --name digits-val --label label --owner dana \
    --classification restricted --retention-days 30 --recipient "$DANA_RCPT" >/dev/null
dana principal grant mo dataset:digits-val use >/dev/null
dana data policy set digits-val "$T/policy.json" >/dev/null
spec '{"training": {"epochs": 2}, "checkpoint_every": 0, "datasets": {"validation": "digits-val"}, "outputs": {"model": "digits-two"}}'
expect_exit 0 mo job run "$SPEC"
expect_exit 0 mo model show digits-two --json
jq -e '.classification == "restricted" and .retention_days == 30 and (.expires | type) == "string"' \
    "$T/stdout" >/dev/null || fail "classification/retention: $(cat "$T/stdout")"
jq -e '[.lineage.datasets[].name] == ["digits", "digits-val"]' "$T/stdout" >/dev/null ||
    fail "lineage datasets"
expect_exit 0 mo model verify digits-two
expect_stdout "dataset:digits-val/policy.tee"
ok "a model of two datasets is restricted with 30 days' retention (the strictest); verify applies both policies"
