#!/usr/bin/env bash
# Who may cancel, resume and read a job, and who the audit log names
# (issue 13): another model owner can neither cancel, read nor resume
# mo's job; admins and trainers cancel any job, trainers and auditors read
# any; cancel is audited with the canceller as actor; a job run or resumed
# by a trainer names the trainer as the actor of its steps.
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh
for p in mal tr aud; do
    st identity new "$p" --out "$K" >/dev/null 2>&1
done
admin principal add mal --role model-owner \
    --signing-key "$K/mal.pub.pem" --recipient "$(rcpt mal)" >/dev/null
admin principal add tr --role trainer --signing-key "$K/tr.pub.pem" >/dev/null
admin principal add aud --role auditor --signing-key "$K/aud.pub.pem" >/dev/null
mal() { st --as mal --key "$K/mal.pem" "$@"; }
tr() { st --as tr --key "$K/tr.pem" "$@"; }
aud() { st --as aud --key "$K/aud.pem" "$@"; }
import_digits
policy sim
spec '{"training": {"epochs": 3}}'
A=$T/ws/audit/log.jsonl

expect_exit 0 mo job submit "$SPEC"
ID=$(cat "$T/stdout")

# another model owner (who may cancel their own jobs) cannot touch mo's
expect_exit 4 mal job cancel "$ID"
expect_stderr "permission denied"
expect_stderr "job:$ID"
[ "$(job_field "$ID" 'j["state"]')" = queued ] || fail "mal cancelled mo's job"
ok "another model owner cannot cancel the job"

expect_exit 4 mal job logs "$ID"
expect_stderr "job:$ID"
expect_exit 4 mal job status "$ID"
expect_exit 0 mal job list
grep -q "$ID" "$T/stdout" && fail "mal's job list shows mo's job"
expect_exit 0 aud job list
expect_stdout "$ID"
expect_exit 0 mo job list --json
expect_stdout "$ID"
ok "another model owner cannot read the job's log or status, nor list it"

# the roles docs/access.md names do
expect_exit 0 aud job logs "$ID"
expect_stdout "queued"
expect_exit 0 tr job logs "$ID"
expect_exit 0 admin job status "$ID"
expect_exit 0 mo job logs "$ID"
expect_exit 4 dana job logs "$ID"
ok "its submitter, admins, trainers and auditors read it; a data owner does not"

# a trainer cancels a running job, another trainer resumes it from its
# checkpoint; the audit log names each
# (long enough that the cancel, polled each second, lands in training
# and not while the finished job is being sealed)
spec '{"model": {"hidden": [256, 256]}, "training": {"epochs": 200}, "checkpoint_every": 1}'
expect_exit 0 mo job submit "$SPEC"
ID=$(cat "$T/stdout")
mo job run "$ID" >"$T/run.out" 2>"$T/run.err" &
RUN=$!
on_exit "kill -9 $RUN"
for _ in $(seq 600); do
    e=$(job_field "$ID" 'j["status"].get("progress", {}).get("epoch", 0)')
    [ "$e" -ge 2 ] && break
    sleep 0.1
done
[ "$e" -ge 2 ] || fail "the job never reached epoch 2"
expect_exit 4 mal job cancel "$ID"
expect_exit 0 tr job cancel "$ID"
set +e
wait "$RUN"
set -e
[ "$(job_field "$ID" 'j["state"]')" = cancelled ] || fail "not cancelled"
python3 - "$A" "$ID" <<'PY' || fail "the cancel is not audited with its actor"
import json, sys
es = [json.loads(l) for l in open(sys.argv[1])]
res = "job:" + sys.argv[2]
c = [e for e in es if e["action"] == "job.cancel" and e["resource"] == res]
assert c and c[-1]["actor"] == "tr" and c[-1]["outcome"] == "success", c
# the run was mo's (model owner and trainer): its steps name mo
s = [e for e in es if e["action"] == "job.state" and e["resource"] == res]
assert s[-1]["details"]["to"] == "cancelled" and s[-1]["actor"] == "mo", s[-1]
PY
ok "cancel is audited with the trainer who cancelled as its actor"

# resuming is running: not another model owner's, a trainer's
expect_exit 4 mal job resume "$ID"
expect_stderr "job.run"
expect_exit 0 tr job resume "$ID"
[ "$(job_field "$ID" 'j["state"]')" = succeeded ] || fail "not resumed"
python3 - "$A" "$ID" <<'PY' || fail "the resume is not audited with its actor"
import json, sys
es = [json.loads(l) for l in open(sys.argv[1])]
res = "job:" + sys.argv[2]
r = [e for e in es if e["action"] == "job.resume" and e["resource"] == res]
assert r and r[-1]["actor"] == "tr" and r[-1]["outcome"] == "success", r
after = es[es.index(r[-1]):]
for a in ("attest.verify", "key.release", "model.seal"):
    x = [e for e in after if e["action"] == a]
    assert x and all(e["actor"] == "tr" for e in x), (a, x)
s = [e for e in after if e["action"] == "job.state" and e["resource"] == res]
assert s and all(e["actor"] == "tr" for e in s), s
PY
ok "a trainer resumes the job; its resume, release, seal and states name the trainer"

# a queued job cancelled by its submitter: audited, and it names mo
expect_exit 0 mo job submit "$SPEC"
ID3=$(cat "$T/stdout")
expect_exit 0 mo job cancel "$ID3"
grep -q "\"action\":\"job.cancel\",\"actor\":\"mo\"" "$A" ||
    fail "mo's cancel is not audited"
ok "the submitter cancels a queued job; audited"

# a run names its runner too, and the submitter stays the job's
expect_exit 0 mo job submit "$SPEC"
ID2=$(cat "$T/stdout")
expect_exit 0 tr job run "$ID2"
python3 - "$A" "$ID2" <<'PY' || fail "the run does not name its runner"
import json, sys
es = [json.loads(l) for l in open(sys.argv[1])]
res = "job:" + sys.argv[2]
sub = [e for e in es if e["action"] == "job.submit" and e["resource"] == res]
assert sub[-1]["actor"] == "mo", sub
s = [e for e in es if e["action"] == "job.state" and e["resource"] == res]
assert s and all(e["actor"] == "tr" for e in s), s
PY
[ "$(job_field "$ID2" 'j["submitter"]')" = mo ] || fail "submitter changed"
[ "$(job_field "$ID2" 'j["runner"]')" = tr ] || fail "runner not shown"
expect_exit 0 admin audit verify
ok "a job run by a trainer names the trainer; the submitter stays mo"
