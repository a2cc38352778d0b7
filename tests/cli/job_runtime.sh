#!/usr/bin/env bash
# A running job that goes wrong ends failed or cancelled with the reason,
# within seconds, with no plaintext or temporary file left: runtime crash,
# hung runtime (no heartbeat for 5 s), time limit, out of memory, key
# revoked during the job, cancel (then resume from the encrypted
# checkpoint).
. tests/cli/lib.sh
. tests/job_lib.sh
import_digits
policy sim
LONG='{"model": {"hidden": [512, 512]}, "training": {"epochs": 400, "validation_split": 0.2}, "checkpoint_every": 1}'

# start_job SPEC_OVERRIDE: runs a job in the background; sets ID, RUN
start_job() {
    spec "$1"
    mo job submit "$SPEC" >"$T/id"
    ID=$(cat "$T/id")
    mo job run "$ID" >"$T/run.out" 2>"$T/run.err" &
    RUN=$!
    on_exit "kill -CONT $RUN; kill -9 $RUN"
}
# wait_state STATE: up to 60 s
wait_state() {
    local now
    for _ in $(seq 300); do
        now=$(job_field "$ID" 'j["state"]')
        [ "$now" = "$1" ] && return 0
        case $now in succeeded | failed | cancelled)
            fail "job $ID ended ($now: $(job_field "$ID" 'j["reason"]')) before $1" ;;
        esac
        sleep 0.1
    done
    fail "job $ID never reached $1 (is $(job_field "$ID" 'j["state"]'))"
}
# wait_epoch N: until the runtime reported epoch N
wait_epoch() {
    for _ in $(seq 600); do
        e=$(job_field "$ID" 'j["status"].get("progress", {}).get("epoch", 0)')
        [ "$e" -ge "$1" ] && return 0
        sleep 0.1
    done
    fail "job $ID never reached epoch $1"
}
finished() { # finished EXIT: the background run ended with EXIT
    set +e; wait "$RUN"; local got=$?; set -e
    [ "$got" -eq "$1" ] || { cat "$T/run.err"; fail "job run exited $got, not $1"; }
}
clean() { # no plaintext, temporaries or model left in the job directory
    local left
    left=$(find "$T/ws/jobs/$ID" -type f ! -name checkpoint.enc 2>/dev/null || true)
    [ -z "$left" ] || fail "left behind: $left"
    [ -z "$(find "$T/ws/models" -name "*$ID*")" ] || fail "a model was kept"
}

start_job "$LONG"
wait_state training
PID=$(job_field "$ID" 'j["runtime_pid"]')
kill -KILL "$PID"
finished 5
grep -q "the runtime ended without a result: killed by signal 9" "$T/run.err" || fail "reason: $(cat $T/run.err)"
[ "$(job_field "$ID" 'j["state"]')" = failed ] || fail "not failed"
clean
ok "runtime crash: failed with the signal as the reason"

start_job "$LONG"
wait_state training
PID=$(job_field "$ID" 'j["runtime_pid"]')
t0=$(date +%s)
kill -STOP "$PID"
finished 5
t1=$(date +%s)
grep -q "no heartbeat for 5 s" "$T/run.err" || fail "reason: $(cat $T/run.err)"
[ $((t1 - t0)) -le 8 ] || fail "hang detected after $((t1 - t0)) s"
clean
ok "hung runtime: detected within 5 s (+1) and failed"

start_job "$(echo "$LONG" | sed 's/"checkpoint_every": 1/"checkpoint_every": 1, "resources": {"time_limit_seconds": 3}/')"
finished 5
grep -q "time limit of 3 s exceeded" "$T/run.err" || fail "reason: $(cat $T/run.err)"
clean
ok "time limit: failed with the limit as the reason"

start_job '{"model": {"hidden": [4096, 4096]}, "resources": {"memory_mb": 64}}'
finished 5
grep -qi "arena exhausted\|out of memory\|cannot allocate\|Cannot allocate" "$T/run.err" || fail "reason: $(cat $T/run.err)"
clean
ok "out of memory: failed with the allowance as the reason"

start_job "$(echo "$LONG" | sed 's/"epochs": 400/"epochs": 30/')"
wait_epoch 2
mo job cancel "$ID" >/dev/null
finished 6
[ "$(job_field "$ID" 'j["state"]')" = cancelled ] || fail "not cancelled"
[ -f "$T/ws/jobs/$ID/out/checkpoint.enc" ] || fail "no checkpoint kept"
! grep -aq "STCKPT" "$T/ws/jobs/$ID/out/checkpoint.enc" || fail "checkpoint in clear"
clean
ok "cancel: stopped at an epoch boundary, encrypted checkpoint kept"

expect_exit 0 mo job resume "$ID"
[ "$(job_field "$ID" 'j["state"]')" = succeeded ] || fail "resume"
grep -q "resumed from the last checkpoint" "$T/ws/logs/job-$ID.log" || fail "log"
ok "resume: the cancelled job continues from its checkpoint and succeeds"

# every epoch is logged (those of the first run, then the resumed run's),
# and the history the report draws covers epochs 1..30, in the status and
# in the model's signed provenance (model show --json)
mo model show digits-mlp --json >"$T/model.json"
mo job status "$ID" --json >"$T/status.json"
python3 - "$T/ws/logs/job-$ID.log" "$T/model.json" "$T/status.json" <<'PY2' || fail "a resumed job's epochs"
import json, re, sys
log = open(sys.argv[1]).read()
before, after = log.split("resumed from the last checkpoint")
e1 = [int(x) for x in re.findall(r"epoch (\d+)/30", before)]
e2 = [int(x) for x in re.findall(r"epoch (\d+)/30", after)]
assert e1 == list(range(1, len(e1) + 1)), e1
assert e2 and e2 == list(range(e2[0], 31)) and e2[0] <= len(e1) + 1, (e1, e2)
st = json.load(open(sys.argv[3]))
for m in (st["status"]["result"]["metrics"], json.load(open(sys.argv[2]))["metrics"]):
    assert [h["epoch"] for h in m["history"]] == list(range(1, 31)), m["history"]
PY2
ok "a resumed job logs every epoch; its history (status and provenance) starts at epoch 1"

start_job "$LONG"
wait_state training
CTL=$(job_field "$ID" 'j["status"]["controller_pid"]')
PID=$(job_field "$ID" 'j["runtime_pid"]')
kill -KILL "$CTL"
for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$PID" 2>/dev/null || fail "the runtime outlived its controller"
mo job status "$ID" | grep -q "is gone" || fail "status does not say the controller is gone"
mo job cancel "$ID" >/dev/null
[ "$(job_field "$ID" 'j["state"]')" = cancelled ] || fail "not cancelled"
ok "a killed controller takes the runtime with it; the orphaned job can be cancelled"

start_job "$LONG"
wait_state training
KEK=$(dana data show digits | awk '/^KEK/{print $2; exit}')
dana key revoke "$KEK" --version 1 >/dev/null
finished 4
grep -q "key revoked during the job" "$T/run.err" || fail "reason: $(cat $T/run.err)"
clean
ok "key revoked during the job: the runtime is stopped and the job fails"
