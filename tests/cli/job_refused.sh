#!/usr/bin/env bash
# Jobs the broker refuses, each failing with a clear reason and nothing
# left behind: evidence rejected by the release policy (with the
# verifier's trace in the audit log), a dataset without a policy, no
# allowed model recipient, a tampered dataset, a revoked key.
. tests/cli/lib.sh
. tests/job_lib.sh
import_digits
spec

expect_exit 4 mo job run "$SPEC"
expect_stderr "has no release policy"
ok "a dataset without a release policy is never released"

policy tpm
expect_exit 4 mo job run "$SPEC"
expect_stderr "attestation rejected: dataset:digits"
expect_stderr "policy.tee"
ID=$(awk '/^job /{print $2; exit}' "$T/stdout")
[ "$(job_field "$ID" 'j["state"]')" = failed ] || fail "not failed"
job_field "$ID" 'j["reason"]' | grep -q "policy.tee" || fail "reason"
grep -q '"action":"key.release".*"outcome":"denied"' "$T/ws/audit/log.jsonl" ||
    fail "denied release not audited"
grep -q '"action":"attest.verify".*"claims".*"outcome":"denied"' "$T/ws/audit/log.jsonl" ||
    fail "verdict with claims not audited"
[ ! -e "$T/ws/jobs/$ID/out/model.age" ] || fail "model left"
ok "sim evidence against a tpm-only policy: denied, reason and claims audited"

policy sim
OTHER=$(age-keygen 2>/dev/null | grep -o 'age1[0-9a-z]*')
spec "{\"outputs\": {\"recipients\": [\"$OTHER\"]}}"
expect_exit 4 mo job run "$SPEC"
expect_stderr "its release policy does not allow model recipient"
grep '"action":"job.submit"' "$T/ws/audit/log.jsonl" | grep '"outcome":"denied"' |
    grep -q "does not allow model recipient" ||
    fail "the refused submission is not audited with its reason"
ok "a model recipient outside the policy: the job is refused before any runtime starts, and the refusal is audited"

spec
# flip one byte of the encrypted payload
F=$(ls "$T"/ws/datasets/*.age | head -n1)
python3 - "$F" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-100] ^= 1
open(sys.argv[1], "wb").write(bytes(b))
PY
# the broker releases on the signed manifest and header; the changed
# payload chunk then fails authentication in the runtime, which fails the job
expect_exit 4 mo job run "$SPEC"
grep -qi "failed authentication\|does not match" "$T/stderr" || {
    cat "$T/stderr"; fail "no integrity reason"; }
python3 - "$F" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-100] ^= 1
open(sys.argv[1], "wb").write(bytes(b))
PY
ok "a tampered dataset is refused"

# a changed header (one MAC character, still valid base64) is refused by
# the broker itself, before any key is released
python3 - "$F" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
i = b.index(b"\n--- ") + 6
b[i] = ord("B") if b[i] != ord("B") else ord("C")
open(sys.argv[1] + ".orig", "wb").write(open(sys.argv[1], "rb").read())
open(sys.argv[1], "wb").write(bytes(b))
PY
expect_exit 4 mo job run "$SPEC"
expect_stderr "does not match the digest in its signed manifest (modified or replaced)"
mv "$F.orig" "$F"
ok "a tampered dataset header is refused before key release"

KEK=$(dana data show digits | awk '/^KEK/{print $2; exit}')
dana key revoke "$KEK" --version 1 >/dev/null
expect_exit 4 mo job run "$SPEC"
expect_stderr "revoked"
ok "a revoked key is never released"
