#!/usr/bin/env bash
# Model names cannot be taken over (issue 13): the first registrant owns a
# model name; another model owner's job may not publish to it. Refused at
# submit (exit 4, naming the owner) and, for a job queued before the name
# was taken, at registration: the job fails, the name keeps its owner's
# versions only, and `model verify` still checks the owner's model.
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh
st identity new mal --out "$K" >/dev/null 2>&1
MAL_RCPT=$(rcpt mal)
admin principal add mal --role model-owner --signing-key "$K/mal.pub.pem" \
    --recipient "$MAL_RCPT" >/dev/null
mal() { st --as mal --key "$K/mal.pem" "$@"; }
import_digits
dana principal grant mal dataset:digits use >/dev/null
cat >"$T/policy.json" <<JSON
{"version": 1,
 "attestation": {"version": 1, "tee": ["sim"]},
 "principals": ["mo", "mal"],
 "recipients": ["$MO_RCPT", "$MAL_RCPT"]}
JSON
dana data policy set digits "$T/policy.json" >/dev/null
A=$T/ws/audit/log.jsonl

spec '{"training": {"epochs": 2}}'
cp "$SPEC" "$T/mo.json"
spec "{\"training\": {\"epochs\": 2}, \"outputs\": {\"recipients\": [\"$MAL_RCPT\"]}}"
cp "$SPEC" "$T/mal.json"

# while the name is new, both may submit to it
expect_exit 0 mal job submit "$T/mal.json"
EARLY=$(cat "$T/stdout")
expect_exit 0 mo job submit "$T/mo.json"
MINE=$(cat "$T/stdout")
expect_exit 0 mo job run "$MINE"
expect_exit 0 mo model show digits-mlp --json
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["owner"]=="mo" and m["version"]==1, m' "$T/stdout"
ok "mo's job registers digits-mlp first: the name is mo's"

expect_exit 4 mal job submit "$T/mal.json"
expect_stderr 'model name "digits-mlp" belongs to mo'
grep -q '"action":"job.submit","actor":"mal","category":"access","outcome":"denied"' "$A" ||
    fail "the refused submit is not audited"
ok "another model owner's job cannot be submitted to mo's model name"

# mal's job queued before: it runs, but its model is not registered
expect_exit 4 mo job run "$EARLY"
expect_stderr "belongs to mo"
[ "$(job_field "$EARLY" 'j["state"]')" = failed ] || fail "not failed"
expect_exit 0 mo model show digits-mlp --json
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["owner"]=="mo" and m["version"]==1 and m["job"]==sys.argv[2], m' "$T/stdout" "$MINE"
expect_exit 0 mo model verify digits-mlp
grep -q '"action":"model.register".*"outcome":"denied"' "$A" ||
    fail "the refused registration is not audited"
ok "a job queued before the name was taken does not become mo's latest version"
# no row names its model or provenance, so `cleanup` would never find them
left=$(ls "$T/ws/models" | grep -F "$EARLY" || true)
[ -z "$left" ] || fail "the unregistered job's files are left in models/: $left"
ok "the refused registration leaves neither its model nor its provenance"

# the owner publishes new versions
expect_exit 0 mo job run "$T/mo.json"
expect_exit 0 mo model show digits-mlp --json
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["owner"]=="mo" and m["version"]==2, m' "$T/stdout"
expect_exit 0 admin audit verify
ok "the owner's next job is version 2; the log verifies"
