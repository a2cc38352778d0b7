#!/usr/bin/env bash
# Job runs that do not start leave nothing behind and nothing failed
# (issue 14): a principal without job.run who runs a spec file leaves no
# queued job; an operator-side failure before the runtime gets keys (the
# keyring cannot be opened) leaves the job queued, and it runs once fixed;
# a stopped job says "resumable" only when its checkpoint is on disk.
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh
import_digits
policy sim

# mona may submit (model-owner) but not run (no trainer role)
st identity new mona --out "$K" >/dev/null 2>&1
admin principal add mona --role model-owner --signing-key "$K/mona.pub.pem" \
    --recipient "$MO_RCPT" >/dev/null
dana principal grant mona dataset:digits use >/dev/null
spec
before=$(admin job list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_exit 4 st --as mona --key "$K/mona.pem" job run "$SPEC"
expect_stderr "job.run"
after=$(admin job list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$before" = "$after" ] || fail "a refused job run left a job behind ($before -> $after)"
ok "a job run refused for lack of job.run leaves no queued job"

# the operator's keyring cannot be opened (its root key file is gone)
spec '{"training": {"epochs": 2}}'
id=$(mo job submit "$SPEC")
mv "$T/root.key" "$T/root.key.away"
set +e
mo job run "$id" >"$T/run.out" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "job run succeeded without the keyring"
state=$(job_field "$id" 'j["state"]')
[ "$state" = queued ] || fail "after an operator-side failure the job is $state: $(job_field "$id" 'j["reason"]')"
job_field "$id" 'j["reason"]' | grep -q "root.key\|keyring" ||
    fail "the reason does not say what failed: $(job_field "$id" 'j["reason"]')"
mv "$T/root.key.away" "$T/root.key"
expect_exit 0 mo job run "$id"
[ "$(job_field "$id" 'j["state"]')" = succeeded ] || fail "the job did not run once fixed"
ok "an operator-side failure before key release leaves the job queued; it runs once fixed"

# SIGTERM before the runtime trained a step: nothing to resume from
spec '{"training": {"epochs": 100000}}'
id=$(mo job submit "$SPEC")
"$SEALTRAIN" --as mo --key "$K/mo.pem" job run "$id" >/dev/null 2>&1 &
runner=$!
on_exit "kill $runner"
for _ in $(seq 300); do
    s=$(sqlite3 "$SEALTRAIN_WORKSPACE/catalog.db" "SELECT state FROM jobs WHERE id='$id'")
    [ "$s" != queued ] && break
    sleep 0.01
done
kill -TERM "$runner"
wait "$runner" || true
state=$(job_field "$id" 'j["state"]')
reason=$(job_field "$id" 'j["reason"]')
# which branch runs depends on where the signal lands (the runtime
# checkpoints on a stop request once it trains); either way the reason
# must agree with the file on disk
if [ -f "$SEALTRAIN_WORKSPACE/jobs/$id/out/checkpoint.enc" ]; then
    grep -q "resumable" <<<"$reason" || fail "a checkpoint exists but the reason does not say resumable: $reason"
    ok "a job stopped after its checkpoint says resumable ($state)"
else
    ! grep -q "resumable" <<<"$reason" || fail "no checkpoint exists, yet the reason says: $reason"
    ok "a job stopped before any checkpoint is not called resumable ($state: $reason)"
fi
