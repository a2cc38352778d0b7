#!/usr/bin/env bash
# A model from a tpm job (swtpm) verifies: the quote in its provenance is
# signed by the enrolled attestation key and carries the report data that
# binds the key which signed the provenance; under a sim-only policy the
# same model fails on policy.tee.
. tests/cli/lib.sh
command -v swtpm >/dev/null || fail "swtpm is not installed (scripts/install-deps.sh)"
mkdir -p "$T/tpm"
TPM_PORT=$(free_port)
swtpm socket --tpmstate dir="$T/tpm" --tpm2 \
    --server type=tcp,port="$TPM_PORT",bindaddr=127.0.0.1 \
    --ctrl type=tcp,port=$((TPM_PORT + 1)),bindaddr=127.0.0.1 \
    --flags not-need-init,startup-clear &
TPM_PID=$!
on_exit "kill $TPM_PID"
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$TPM_PORT") 2>/dev/null && break
    sleep 0.1
done
export SEALTRAIN_TPM_TCTI="swtpm:host=127.0.0.1,port=$TPM_PORT"
. tests/job_lib.sh
admin attest enroll --tee tpm >/dev/null
import_digits
policy tpm
spec '{"security": {"tee": "tpm"}, "training": {"epochs": 2}, "checkpoint_every": 0}'
expect_exit 0 mo job run "$SPEC"

expect_exit 0 mo model verify digits-mlp --json
jq -e '.pass == true' "$T/stdout" >/dev/null || fail "tpm model does not verify"
jq -e '[.trace[] | select(.claim | test("tpm\\.")) ] | length > 0' "$T/stdout" >/dev/null ||
    fail "no tpm claims in the trace"
jq -e '.claims.tee == "tpm"' "$T/stdout" >/dev/null || fail "claims"
ok "a tpm job's model verifies: quote by the enrolled AK binds the provenance key"

M=$(mo model show digits-mlp --json | jq -r .file.path)
P=$(mo model show digits-mlp --json | jq -r .file.provenance)
echo '{"version": 1, "tee": ["sim"]}' >"$T/simpol.json"
expect_exit 4 st model verify "$M" --provenance "$P" --policy "$T/simpol.json" --json
jq -e '.pass == false' "$T/stdout" >/dev/null || fail "passed under a sim policy"
expect_stderr "policy.tee"
ok "the same model fails a sim-only policy on policy.tee (exit 4, JSON verdict)"
