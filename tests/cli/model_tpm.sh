#!/usr/bin/env bash
# A model from a tpm job (swtpm) verifies: the quote in its provenance is
# signed by the enrolled attestation key and carries the report data that
# binds the key which signed the provenance; under a sim-only policy the
# same model fails on policy.tee.
. tests/cli/lib.sh
start_swtpm
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
