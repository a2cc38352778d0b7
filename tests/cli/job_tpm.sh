#!/usr/bin/env bash
# A secure job with the tpm backend against a real TPM 2.0 (swtpm): the
# platform agent extends the application PCR with the runtime, the job
# spec and the dataset, and quotes the runtime's report data; the broker
# verifies the quote and the measurement log before releasing keys; a
# sim-only policy refuses the same quote.
. tests/cli/lib.sh
start_swtpm
. tests/job_lib.sh
# enrol the platform: pin its attestation key (the same key every time:
# a primary under the endorsement hierarchy) in keys/tpm-ak
admin attest enroll --tee tpm >/dev/null
import_digits
policy tpm
spec '{"security": {"tee": "tpm"}}'

expect_exit 0 mo job run "$SPEC" --json
ID=$(mo job list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
[ "$(job_field "$ID" 'j["state"]')" = succeeded ] || fail "not succeeded"
[ "$(job_field "$ID" 'j["status"]["attestation"]["tee"]')" = tpm ] || fail "not tpm"
job_field "$ID" '[t["claim"] for v in j["status"]["attestation"]["verdicts"] for t in v["trace"] if t["ok"]]' >"$T/claims"
grep -q "tpm.log.replay\|tpm.log.runtime" "$T/claims" || { cat "$T/claims"; fail "no log replay in the trace"; }
MODEL=$(job_field "$ID" 'j["status"]["result"]["model_path"]')
age -d -i "$K/mo.age" -o "$T/model.safetensors" "$MODEL" || fail "age -d"
ok "tpm job: quote and measurement log verified, keys released, model sealed"

policy sim
expect_exit 4 mo job run "$SPEC"
expect_stderr "policy.tee"
ok "a sim-only policy refuses tpm evidence"
