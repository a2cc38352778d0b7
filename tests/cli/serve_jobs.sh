#!/usr/bin/env bash
# sealtrain serve runs jobs: a spec signed on the client (CLI and curl) is
# submitted over HTTPS, verified against the principal's registered key
# and queued; the server's job runner trains it (sim TEE, digits); the
# log streams (chunked) to the end; the sealed model downloads as
# ciphertext that the stock age CLI opens; the model verifies over HTTP;
# a running job is cancelled; a principal outside its role and a spec
# signed by another key are refused (403); SIGTERM during a job leaves it
# cancelled at a checkpoint and `job resume` finishes it.
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh
. tests/serve_lib.sh

for p in runner eve; do
    st identity new "$p" --out "$K" >/dev/null 2>&1
done
admin principal add runner --role trainer --signing-key "$K/runner.pub.pem" >/dev/null
admin principal add eve --role trainer --signing-key "$K/eve.pub.pem" >/dev/null
import_digits
policy sim
spec '{"training": {"epochs": 6}}'
cert mo eve runner
KEYS=$K
start_server --runner-as runner --runner-key "$K/runner.pem" --drain 1 --timeout 2
# on a failure too: the server stops its jobs (SIGTERM) before $T goes
stop_quietly() {
    kill -TERM "$SERVER_PID" 2>/dev/null || return 0
    local i
    for i in $(seq 150); do
        kill -0 "$SERVER_PID" 2>/dev/null || return 0
        sleep 0.1
    done
}
on_exit stop_quietly

# remote commands never touch the local workspace: point it elsewhere
remote() {
    local who=$1
    shift
    SEALTRAIN_WORKSPACE=$T/nonexistent SEALTRAIN_CERT=$CERTS/$who.crt \
        SEALTRAIN_CACERT=$CERTS/ca.crt \
        "$SEALTRAIN" --server "$API" --key "$K/$who.pem" "$@"
}
state_of() { remote mo job status "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }

expect_exit 0 remote mo job submit "$SPEC"
ID=$(cat "$T/stdout")
[[ $ID =~ ^j[0-9a-f]{15}$ ]] || fail "no job id: $ID"
grep -q "\"action\":\"job.submit\",\"actor\":\"mo\".*\"resource\":\"job:$ID\"" \
    "$SEALTRAIN_WORKSPACE/audit/log.jsonl" || fail "submission not audited"
ok "job submit --server: signed with the client's key, queued, audited"

# follow the log while the server runs the job: it streams to the end
timeout 120 env SEALTRAIN_WORKSPACE=$T/nonexistent SEALTRAIN_CERT=$CERTS/mo.crt \
    SEALTRAIN_CACERT=$CERTS/ca.crt "$SEALTRAIN" --server "$API" \
    --key "$K/mo.pem" job logs "$ID" --follow >"$T/follow" ||
    fail "job logs --follow failed: $(cat "$T/follow")"
grep -q "server: job runner started it" "$T/follow" || fail "no runner line: $(cat "$T/follow")"
grep -q "epoch 6/6" "$T/follow" || fail "no epochs streamed: $(cat "$T/follow")"
grep -q "succeeded" "$T/follow" || fail "stream ended before the job: $(cat "$T/follow")"
[ "$(state_of "$ID")" = succeeded ] || fail "job not succeeded"
expect_exit 0 remote mo job status "$ID"
expect_stdout "$ID  succeeded"
[ "$(job_field "$ID" 'j["status"]["runner"]["exit"]')" = "exit status 0" ] ||
    fail "the runner's record: $(job_field "$ID" 'j["status"].get("runner")')"
[ "$(job_field "$ID" 'j["status"]["runner"]["as"]')" = runner ] || fail "runner principal"
ok "the server ran the job; job logs --follow streamed it to the end; succeeded"

expect_exit 0 remote mo model download digits-mlp -o "$T/model.age"
head -c 21 "$T/model.age" | grep -q "age-encryption.org/v1" || fail "not an age file"
age -d -i "$K/mo.age" -o "$T/model.safetensors" "$T/model.age" || fail "age -d"
python3 - "$T/model.safetensors" <<'PY' || fail "not safetensors"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
assert "layers.0.weight" in json.loads(b[8:8 + n])
PY
# the in-toto subject names the model file as the registry keeps it
expect_exit 0 curl -sS --fail --max-time 20 --cacert "$CERTS/ca.crt" \
    --cert "$CERTS/mo.crt" --key "$K/mo.pem" -o "$T/prov.json" \
    "$API/v1/models/digits-mlp/provenance"
python3 - "digits-mlp-$ID.age" "$T/prov.json" <<'PY' ||
import base64, json, sys
env = json.load(open(sys.argv[2]))
stmt = json.loads(base64.b64decode(env["payload"]))
assert stmt["subject"][0]["name"] == sys.argv[1], stmt["subject"]
PY
    fail "the provenance subject is not the model file's name"
[ -f "$SEALTRAIN_WORKSPACE/models/digits-mlp-$ID.age" ] || fail "no models/digits-mlp-$ID.age"
ok "model download --server: ciphertext only, opened by the recipient with age; the in-toto subject is the file's real name"

# decrypt and export on the client: the server checks model.decrypt and
# audits the release; the identity never leaves this process
expect_exit 0 remote mo model decrypt digits-mlp -i "$K/mo.age" -o "$T/plain.safetensors"
cmp -s "$T/plain.safetensors" "$T/model.safetensors" || fail "remote decrypt differs from age -d"
expect_exit 0 remote mo model export digits-mlp -i "$K/mo.age" --format onnx -o "$T/model.onnx"
expect_stdout "exported digits-mlp@1 as ONNX"
[ -s "$T/model.onnx" ] || fail "no ONNX file"
expect_exit 4 remote eve model decrypt digits-mlp -i "$K/eve.age" -o "$T/eve.safetensors"
expect_stderr "permission denied"
out=$(as_curl eve -X POST "$API/v1/models/digits-mlp/decrypt")
[ "$(status_of "$out")" = 403 ] && grep -q '"model.decrypt"' <<<"$out" ||
    fail "POST .../decrypt by a trainer: $out"
[ -e "$T/eve.safetensors" ] && fail "eve got a file"
admin audit export --format jsonl | python3 -c '
import json, sys
es = [json.loads(l) for l in sys.stdin if l.strip()]
assert any(e["action"] == "model.decrypt" and e["actor"] == "mo" and
           e.get("details", {}).get("where") == "client" for e in es)
assert any(e["action"] == "model.export" and e["actor"] == "mo" for e in es)
' || fail "the client-side decrypt/export is not audited"
ok "model decrypt / export --server: opened on the client, model.decrypt checked and audited"

expect_exit 0 remote mo model verify digits-mlp@1
expect_stdout "verdict: PASS"
expect_stdout "provenance.signature"
expect_exit 0 remote mo model verify digits-mlp --json
expect_stdout '"pass": true'
echo '{"version": 1, "tee": ["tpm"]}' >"$T/tpm-only.json"
expect_exit 4 remote mo model verify digits-mlp --policy "$T/tpm-only.json"
expect_stdout "verdict: FAIL"
expect_stderr "model verification failed"
ok "model verify --server: the verdict with its trace; a stricter policy (POST) fails it"

# a client configuration file instead of a URL and three variables
printf '{"server": "%s", "cert": "mo.crt", "cacert": "ca.crt", "key": "../keys/mo.pem"}\n' \
    "$API" >"$CERTS/client.json"
expect_exit 0 env -u SEALTRAIN_CERT -u SEALTRAIN_CACERT \
    SEALTRAIN_WORKSPACE=$T/nonexistent "$SEALTRAIN" --server "$CERTS/client.json" \
    job status "$ID"
expect_stdout "$ID  succeeded"
printf '{"server": "%s", "certificate": "mo.crt"}\n' "$API" >"$T/bad.json"
expect_exit 2 env SEALTRAIN_WORKSPACE=$T/nonexistent "$SEALTRAIN" \
    --server "$T/bad.json" job list
expect_stderr '"certificate"'
ok "--server FILE: a client configuration (URL, certificate, CA, key) works; a wrong key is named"

expect_exit 0 remote mo model list
expect_stdout "NAME                     VERSION"
grep -q "^digits-mlp  *1  *$ID " "$T/stdout" || fail "model list: $(cat "$T/stdout")"
expect_exit 0 remote mo job list
grep -q "^$ID  *digits-mlp  *succeeded " "$T/stdout" || fail "job list: $(cat "$T/stdout")"
ok "model list / job list --server print the local tables"

# a principal outside its role: eve (trainer) may not submit or read models
expect_exit 4 remote eve job submit "$SPEC"
expect_stderr "job.submit"
expect_exit 4 remote eve model verify digits-mlp
expect_stderr "model.read"
ok "a principal outside its role is refused (403, exit 4)"

# curl: the docs/api.md examples (submission signed with openssl, the
# streamed log, the verdict), then a spec signed by another key
python3 - docs/api.md >"$T/examples.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"<!-- example: jobs -->\s*```sh\n(.*?)```", text, re.S)
assert len(blocks) >= 3, "no job examples"
for b in blocks:
    print("set -euo pipefail\n" + b)
PY
mkdir -p "$T/out"
CERTS=$CERTS KEYS=$K API=$API SPEC=$SPEC OUT=$T/out \
    timeout 120 bash "$T/examples.sh" >"$T/examples.out" 2>&1 ||
    { cat "$T/examples.out" >&2; fail "a docs/api.md job example failed"; }
CID=$(cat "$T/out/id")
[ "$(state_of "$CID")" = succeeded ] || fail "the curl-submitted job: $(state_of "$CID")"
ok "docs/api.md job examples run as written (curl submit, follow, verify)"

type=application/vnd.sealtrain.job-spec+json
printf 'DSSEv1 %d %s %d ' ${#type} "$type" "$(wc -c <"$SPEC")" >"$T/pae"
cat "$SPEC" >>"$T/pae"
sig=$(openssl pkeyutl -sign -inkey "$K/dana.pem" -rawin -in "$T/pae" | base64 -w0)
printf '{"payload":"%s","payloadType":"%s","signatures":[{"keyid":"","sig":"%s"}]}' \
    "$(base64 -w0 "$SPEC")" "$type" "$sig" >"$T/forged.json"
out=$(as_curl mo -X POST -H 'Content-Type: application/json' \
    --data-binary "@$T/forged.json" "$API/v1/jobs")
[ "$(status_of "$out")" = 403 ] || fail "a spec signed by another key: $out"
grep -q "signature" <<<"$out" || fail "no reason: $out"
out=$(as_curl mo -X POST --data-binary '{"payload":1}' "$API/v1/jobs")
[ "$(status_of "$out")" = 400 ] || fail "a malformed envelope: $out"
ok "a spec signed by another key is refused (403); a malformed one 400"

# cancel a running job (20000 epochs: minutes, unless cancelled)
spec '{"training": {"epochs": 20000}}'
expect_exit 0 remote mo job submit "$SPEC"
ID2=$(cat "$T/stdout")
for i in $(seq 300); do
    [ "$(state_of "$ID2")" = training ] && break
    sleep 0.2
done
[ "$(state_of "$ID2")" = training ] || fail "the long job did not start: $(state_of "$ID2")"
# a follower that leaves mid-stream: the server drops the stream and
# goes on serving (its state is freed: ASan builds check at exit)
set +e
curl -sS -N --max-time 30 --cacert "$CERTS/ca.crt" --cert "$CERTS/mo.crt" \
    --key "$K/mo.pem" "$API/v1/jobs/$ID2/logs?follow=1" 2>/dev/null |
    head -n 3 >"$T/left"
set -e
grep -q "queued: job" "$T/left" || fail "the stream sent nothing: $(cat "$T/left")"
sleep 0.5
out=$(as_curl mo "$API/v1/healthz")
[ "$(status_of "$out")" = 200 ] || fail "server after a follower left: $out"
expect_exit 0 remote mo job cancel "$ID2"
for i in $(seq 100); do
    [ "$(state_of "$ID2")" = cancelled ] && break
    sleep 0.2
done
[ "$(state_of "$ID2")" = cancelled ] || fail "not cancelled: $(state_of "$ID2")"
ok "a follower may leave mid-stream; job cancel --server stops a job the server is running"

# SIGTERM during a running job: it checkpoints and stops, resumable
# (1500 epochs: several seconds, longer than the 1 s drain)
spec '{"training": {"epochs": 1500}}'
expect_exit 0 remote mo job submit "$SPEC"
ID3=$(cat "$T/stdout")
for i in $(seq 300); do
    grep -q "epoch 2/" "$SEALTRAIN_WORKSPACE/logs/job-$ID3.log" 2>/dev/null && break
    sleep 0.2
done
grep -q "epoch 2/" "$SEALTRAIN_WORKSPACE/logs/job-$ID3.log" || fail "the job did not train"
# a follower sees the stream end when the server shuts down
timeout 60 env SEALTRAIN_WORKSPACE=$T/nonexistent SEALTRAIN_CERT=$CERTS/mo.crt \
    SEALTRAIN_CACERT=$CERTS/ca.crt "$SEALTRAIN" --server "$API" \
    --key "$K/mo.pem" job logs "$ID3" --follow >"$T/follow3" 2>"$T/follow3.err" &
follower=$!
for i in $(seq 200); do
    [ -s "$T/follow3" ] && break # it is connected and streaming
    sleep 0.1
done
[ -s "$T/follow3" ] || fail "the follower got nothing: $(cat "$T/follow3.err")"
stop_server 30
set +e
wait $follower
frc=$?
set -e
[ "$frc" = 5 ] || fail "follower exit $frc: $(cat "$T/follow3.err")"
grep -q "shutting down" "$T/follow3.err" || fail "$(cat "$T/follow3.err")"
grep -q "server: shutting down: the log stream ends before the job" "$T/follow3" ||
    fail "no last line: $(cat "$T/follow3")"
[ "$(job_field "$ID3" 'j["state"]')" = cancelled ] || fail "state: $(job_field "$ID3" 'j["state"]')"
job_field "$ID3" 'j["reason"]' | grep -q "resumable" || fail "reason: $(job_field "$ID3" 'j["reason"]')"
[ "$(job_field "$ID3" 'j["status"]["runner"]["stopped_by"]')" = "server shutdown" ] ||
    fail "status does not say the server stopped it"
[ "$(job_field "$ID3" 'j["status"]["runner"]["resumable"]')" = True ] || fail "not resumable"
grep -q "checkpoint after epoch" "$SEALTRAIN_WORKSPACE/logs/job-$ID3.log" || fail "no checkpoint"
ok "SIGTERM: the server stopped the job at a checkpoint, status says so; the follower learned why"

# resumed over the API: queued again (the trainer audited as actor) and
# continued from its checkpoint by the server's runner
cert dana
start_server --runner-as runner --runner-key "$K/runner.pem" --drain 1 --timeout 2
expect_exit 4 remote dana job resume "$ID3"
expect_stderr "job.run"
expect_exit 0 remote runner job resume "$ID3"
expect_stdout "continues from its checkpoint"
for i in $(seq 120); do
    case $(state_of "$ID3") in succeeded | failed | cancelled) break ;; esac
    sleep 0.5
done
[ "$(job_field "$ID3" 'j["state"]')" = succeeded ] || fail "resume did not finish: $(job_field "$ID3" 'j')"
admin audit export --format jsonl | python3 -c '
import json, sys
es = [json.loads(l) for l in sys.stdin if l.strip()]
assert any(e["action"] == "job.resume" and e["actor"] == "runner" for e in es)
' || fail "the resume is not audited with the remote principal"

python3 - "$SEALTRAIN_WORKSPACE/logs/job-$ID3.log" <<'PY' || fail "the resumed run started over"
import re, sys
log = open(sys.argv[1]).read().split("resumed from the last checkpoint", 1)
assert len(log) == 2, "no resume line"
stopped = max(int(e) for e in re.findall(r"checkpoint after epoch (\d+)", log[0]))
first = int(re.search(r"epoch (\d+)/", log[1]).group(1))
# the runtime checkpointed where the CANCEL stopped it: at or after the
# last checkpoint the controller logged before it stopped reading
assert first > stopped, (stopped, first)
PY
ok "job resume --server: the server's runner continues the job it stopped from its checkpoint, to success"
