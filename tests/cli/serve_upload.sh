#!/usr/bin/env bash
# Dataset upload to `sealtrain serve --uploads` (docs/api.md "Uploading a
# dataset"): the data owner's CLI encrypts and signs locally and uploads in
# chunks; the docs/api.md curl examples upload a staged dataset; an
# interrupted upload resumes; an oversize upload is refused (413), one over
# the in-flight limit is told to wait (429); a wrong digest, a tampered
# manifest and a principal without the data-owner role are refused; idle
# uploads expire; the uploaded dataset verifies, opens with the owner's own
# age identity, and trains in a job on the server's workspace.
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh
. tests/serve_lib.sh

cert dana mo
start_server --uploads --max-body 262144 --max-upload 2000000 \
    --max-upload-inflight 700000

# remote commands never open a local workspace: point it elsewhere
remote() {
    local who=$1
    shift
    SEALTRAIN_WORKSPACE=$T/nonexistent SEALTRAIN_CERT=$CERTS/$who.crt \
        SEALTRAIN_CACERT=$CERTS/ca.crt SEALTRAIN_STAGING=$T/stage-$who \
        "$SEALTRAIN" --server "$API" --key "$K/$who.pem" "$@"
}
up() { # up NAME [ARGS...]: dana imports digits remotely as NAME
    local name=$1
    shift
    remote dana data import examples/data/digits.csv --name "$name" \
        --label label --classification confidential \
        --recipient "$DANA_RCPT" "$@"
}

# ---- the CLI: encrypt here, upload in chunks, registered there --------
expect_exit 0 up up1 --chunk-size 65536
expect_stdout "imported dataset up1: 1797 rows, 64 features, 10 classes"
[ -z "$(ls -A "$T/stage-dana")" ] || fail "staging not cleared"
expect_exit 0 dana data verify --deep up1
FILE=$(dana data show up1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["path"])')
[ -f "$FILE" ] || fail "no dataset file: $FILE"
grep -q "sealtrain-kek owner.dana" <(head -c 4096 "$FILE" | strings) ||
    fail "no sealtrain-kek stanza under dana's KEK"
age -d -i "$K/dana.age" -o "$T/up1.tensor" "$FILE" || fail "age -d"
ok "CLI upload: encrypted locally, chunked, verifies --deep on the server; the owner's age identity opens it"

expect_exit 0 remote dana data list
expect_stdout "up1"
expect_exit 0 remote dana data show up1 --json
expect_stdout '"manifest_envelope"'
cat >"$T/pol.json" <<JSON
{"version": 1, "attestation": {"version": 1, "tee": ["sim"]},
 "principals": ["mo"], "recipients": ["$MO_RCPT"]}
JSON
dana data policy set up1 "$T/pol.json" >/dev/null
expect_exit 0 remote dana data policy show up1
expect_stdout '"principals"'
ok "data list / show / policy show over --server"

# ---- the docs/api.md upload examples, as written ----------------------
mkdir -p "$T/bin"
mkdir -m 700 "$T/stage"
ln -sf "$SEALTRAIN" "$T/bin/sealtrain"
python3 - docs/api.md >"$T/up-examples.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"<!-- upload-example -->\s*```sh\n(.*?)```", text, re.S)
assert blocks, "no upload examples"
print("set -euo pipefail")
print("\n".join(blocks))
PY
PATH=$T/bin:$PATH CERTS=$CERTS KEYS=$K API=$API STAGE=$T/stage \
    SEALTRAIN_WORKSPACE=$T/nonexistent bash "$T/up-examples.sh" \
    >"$T/up-examples.out" 2>&1 ||
    { cat "$T/up-examples.out" >&2; fail "a docs/api.md upload example failed"; }
grep -q '"name":"digits-curl"' "$T/up-examples.out" || fail "no commit answer"
expect_exit 0 dana data verify digits-curl
ok "the docs/api.md curl upload examples run; the dataset verifies"

# ---- resume ----------------------------------------------------------
expect_exit 0 up up2 --prepare-only
ID=$(cat "$T/stdout")
S=$T/stage-dana
head -c 100000 "$S/up2.age" >"$T/part"
out=$(as_curl dana -X PUT --data-binary @"$T/part" \
    -H "Content-Range: bytes 0-99999/$(stat -c %s "$S/up2.age")" \
    "$API/v1/uploads/$ID")
[ "$(status_of "$out")" = 200 ] || fail "first chunk: $out"
expect_exit 0 up up2
expect_stderr "resuming upload $ID at byte 100000"
expect_stdout "imported dataset up2"
expect_exit 0 dana data verify --deep up2
# the client killed mid-upload (1 KiB chunks: hundreds of requests),
# then run again: it continues from what the server holds
# (exec: $! must be the client itself, not a subshell around it)
(
    export SEALTRAIN_WORKSPACE=$T/nonexistent SEALTRAIN_CERT=$CERTS/dana.crt \
        SEALTRAIN_CACERT=$CERTS/ca.crt SEALTRAIN_STAGING=$S
    exec "$SEALTRAIN" --server "$API" --key "$K/dana.pem" data import \
        examples/data/digits.csv --name up3 --label label \
        --classification confidential --chunk-size 1024
) >"$T/up3.out" 2>&1 &
PID=$!
held=0
for i in $(seq 200); do
    if [ -s "$S/up3.upload.json" ]; then
        ID3=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["upload"])' "$S/up3.upload.json")
        held=$(as_curl dana "$API/v1/uploads/$ID3" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline()).get("received", 0))')
        [ "$held" -gt 0 ] && break
    fi
    sleep 0.05
done
kill -9 "$PID" 2>/dev/null || fail "the upload finished before it could be interrupted"
wait "$PID" 2>/dev/null || true
[ "$held" -gt 0 ] || fail "no chunk arrived before the kill"
expect_exit 0 up up3
expect_stderr "resuming upload $ID3 at byte"
expect_stdout "imported dataset up3"
expect_exit 0 dana data verify up3
ok "an interrupted upload resumes at the byte the server holds (partial send; killed client)"

# ---- limits ----------------------------------------------------------
expect_exit 0 up big --prepare-only
BIG=$(cat "$T/stdout")
out=$(as_curl dana -X PUT --data-binary 0123456789 \
    -H "Content-Range: bytes 0-9/3000000" "$API/v1/uploads/$BIG")
[ "$(status_of "$out")" = 413 ] || fail "oversize: $out"
printf '%s' "$out" | grep -q "at most 2000000 bytes" || fail "413 says why: $out"
head -c 300000 /dev/zero >"$T/big"
out=$(as_curl dana -X PUT --data-binary @"$T/big" \
    -H "Content-Range: bytes 0-299999/300000" "$API/v1/uploads/$BIG")
[ "$(status_of "$out")" = 413 ] || fail "a chunk over --max-body: $out"
ok "an upload over --max-upload and a chunk over --max-body are refused (413)"

# one open upload declares its size; a second one over the in-flight cap
# waits (429) until the first is gone
head -c 1000 "$S/big.age" >"$T/part"
SZ=$(stat -c %s "$S/big.age")
out=$(as_curl dana -X PUT --data-binary @"$T/part" \
    -H "Content-Range: bytes 0-999/$SZ" "$API/v1/uploads/$BIG")
[ "$(status_of "$out")" = 200 ] || fail "first chunk: $out"
expect_exit 0 up busy --prepare-only
BUSY=$(cat "$T/stdout")
out=$(as_curl dana -X PUT --data-binary @"$T/part" \
    -H "Content-Range: bytes 0-999/$SZ" "$API/v1/uploads/$BUSY")
[ "$(status_of "$out")" = 429 ] || fail "in-flight cap: $out"
out=$(as_curl dana -X PUT --data-binary @"$T/part" \
    -H "Content-Range: bytes 5-1004/$SZ" "$API/v1/uploads/$BIG")
[ "$(status_of "$out")" = 409 ] || fail "wrong offset: $out"
printf '%s' "$out" | grep -q '"received":1000' || fail "409 says where: $out"
out=$(as_curl mo "$API/v1/uploads/$BIG")
[ "$(status_of "$out")" = 403 ] || fail "mo sees dana's upload: $out"
out=$(as_curl dana -X DELETE "$API/v1/uploads/$BIG")
[ "$(status_of "$out")" = 200 ] || fail "abandon: $out"
expect_exit 0 up busy
expect_stdout "imported dataset busy"
ok "the in-flight cap answers 429 until an upload is abandoned; a wrong offset is 409 with the resume point"

# ---- refusals ----------------------------------------------------------
expect_exit 0 up bad --prepare-only
python3 - "$S/bad.age" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[-1] ^= 1
open(p, "wb").write(bytes(b))
PY
expect_exit 3 up bad
expect_stderr "does not match the size and digests in its signed manifest"
dana data show bad >/dev/null 2>&1 && fail "a wrong digest was registered"
[ ! -e "$S/bad.age" ] || fail "staging kept after a final refusal"
ok "a file whose digest differs from its signed manifest is refused"

expect_exit 0 up forged --prepare-only
python3 - "$S/forged.manifest.json" <<'PY'
import base64, json, sys
p = sys.argv[1]
env = json.load(open(p))
m = json.loads(base64.b64decode(env["payload"]))
m["classification"] = "public"
env["payload"] = base64.b64encode(
    json.dumps(m, sort_keys=True, separators=(",", ":")).encode()).decode()
json.dump(env, open(p, "w"))
PY
expect_exit 4 up forged
expect_stderr "manifest signature does not verify"
dana data show forged >/dev/null 2>&1 && fail "a forged manifest was registered"
ok "a tampered manifest is refused (403)"

expect_exit 4 remote mo data import examples/data/digits.csv --name nope \
    --label label --classification internal
expect_stderr "data.import"
expect_exit 3 up up1
expect_stderr "exists"
ok "a principal without the data-owner role is refused (403); a taken name is 409"

# ---- the uploaded dataset trains on the server's workspace -------------
dana principal grant mo dataset:up1 use >/dev/null
spec '{"datasets": {"train": "up1"}, "training": {"epochs": 3}}'
expect_exit 0 mo job submit "$SPEC"
JOB=$(cat "$T/stdout")
expect_exit 0 mo job run "$JOB"
[ "$(job_field "$JOB" 'j["state"]')" = succeeded ] || fail "job on up1"
ok "a job trains on the uploaded dataset"

# ---- expiry --------------------------------------------------------------
stop_server
start_server --uploads --upload-ttl 1
expect_exit 0 up stale --prepare-only
STALE=$(cat "$T/stdout")
[ -f "$T/ws/tmp/uploads/$STALE.part" ] && fail "a part file before any chunk"
sleep 2.2
out=$(as_curl dana "$API/v1/uploads/$STALE")
[ "$(status_of "$out")" = 404 ] || fail "expired upload still open: $out"
expect_exit 3 up stale
expect_stderr "no longer holds upload"
[ ! -e "$S/stale.age" ] || fail "stale staging kept"
[ -z "$(ls -A "$T/ws/tmp/uploads")" ] || fail "a swept upload left files"
stop_server
ok "an idle upload expires; the client says so and clears its staging"
