#!/usr/bin/env bash
# The gate as an attacker meets it (issue "One gate"): every dataset a job
# touches needs its owner's consent, consent is checked again at every use
# (run, resume, release), release policies are the owner's signed words,
# and a policy can require the protections a job runs under. Each case
# plays the attacker and checks that no key was released.
. tests/cli/lib.sh
. tests/job_lib.sh
import_digits
policy sim
spec

# a trainer who is not the submitter runs the jobs, as an operator would
st identity new tr --out "$K" >/dev/null 2>&1
admin principal add tr --role trainer --signing-key "$K/tr.pub.pem" >/dev/null
tr() { st --as tr --key "$K/tr.pem" "$@"; }

LOG=$T/ws/audit/log.jsonl
released() { grep -c "\"action\":\"key.release\".*\"resource\":\"dataset:$1\".*\"outcome\":\"success\"" "$LOG" || true; }
submit() { mo job submit "$SPEC" | grep -o 'j[0-9a-f]\{15\}' | head -n1; }

# ---- a validation dataset needs the same consent as a training one ----
dana data import examples/data/digits.csv --name ed --label label \
    --owner dana --classification confidential --recipient "$DANA_RCPT" >/dev/null
cat >"$T/open.json" <<JSON
{"version": 1, "attestation": {"version": 1, "tee": ["sim"]},
 "principals": ["*"], "recipients": ["$MO_RCPT"]}
JSON
dana data policy set ed "$T/open.json" >/dev/null
spec '{"datasets": {"train": "digits", "validation": "ed"}}'
expect_exit 4 mo job submit "$SPEC"
expect_stderr "dataset:ed"
[ "$(released ed)" = 0 ] || fail "ed released"
ok "submit: a validation dataset without the owner's use grant is refused"

# a job that slipped past submit (signed and queued directly) is stopped
# at run, before any key leaves
dana principal grant mo dataset:ed use >/dev/null
ID=$(submit)
dana principal revoke mo dataset:ed use >/dev/null
expect_exit 4 tr job run "$ID"
expect_stderr "dataset:ed"
[ "$(released ed)" = 0 ] || fail "ed released after its grant was revoked"
[ "$(released digits)" = 0 ] || fail "digits released for a refused job"
ok "run: a grant revoked after submit stops the queued job before release"

# ---- consent at run: a revoked grant or a disabled submitter ----
spec
ID=$(submit)
dana principal revoke mo dataset:digits use >/dev/null
expect_exit 4 tr job run "$ID"
expect_stderr "dataset:digits"
[ "$(released digits)" = 0 ] || fail "digits released after revoke"
ok "run: the training dataset's grant revoked while queued: refused"
dana principal grant mo dataset:digits use >/dev/null

ID=$(submit)
admin principal disable mo >/dev/null
expect_exit 4 tr job run "$ID"
expect_stderr "disabled"
[ "$(released digits)" = 0 ] || fail "digits released for a disabled submitter"
admin principal enable mo >/dev/null
ok "run: a submitter disabled while the job was queued: refused"

# ---- release policies are signed by the dataset's owner ----
# an operator with the catalog adds a recipient of theirs to the policy,
# then has a job sealed to it
OTHER=$(age-keygen 2>/dev/null | grep -o 'age1[0-9a-z]*')
spec
ID=$(submit)
python3 - "$T/ws/catalog.db" "$OTHER" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for (p,) in db.execute("SELECT policy FROM release_policies WHERE dataset='digits'"):
    j = json.loads(p)
    j["recipients"].append(sys.argv[2])
    db.execute("UPDATE release_policies SET policy=? WHERE dataset='digits'",
               (json.dumps(j, sort_keys=True, separators=(",", ":")),))
db.commit()
PY
expect_exit 4 tr job run "$ID"
expect_stderr "release policy"
spec "{\"outputs\": {\"recipients\": [\"$MO_RCPT\", \"$OTHER\"]}}"
expect_exit 4 mo job submit "$SPEC"
expect_stderr "release policy"
[ "$(released digits)" = 0 ] || fail "released under an edited policy"
expect_exit 4 admin check
grep -q "release polic" "$T/stdout" || fail "check does not name the edited policy"
ok "an edited release policy row is refused, and check names it"
policy sim

# ---- a policy can require the job's protections ----
cat >"$T/strict.json" <<JSON
{"version": 1, "attestation": {"version": 1, "tee": ["sim"]},
 "principals": ["mo"], "recipients": ["$MO_RCPT"],
 "requires": {"sandbox": "strict", "memory": "secret"}}
JSON
dana data policy set digits "$T/strict.json" >/dev/null
spec '{"security": {"memory": "locked"}}'
expect_exit 4 mo job run "$SPEC"
expect_stderr "memory"
[ "$(released digits)" = 0 ] || fail "released to a job with locked memory"
ok "a policy that requires secret memory refuses a job asking for locked"
