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
