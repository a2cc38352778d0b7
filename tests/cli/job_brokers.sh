#!/usr/bin/env bash
# A job over the datasets of two owners, each released by the owner's own
# key broker (`serve --broker` in the owner's workspace) over pinned TLS:
# both keys arrive and each broker's audit log holds its own decision; a
# broker that is down fails the job naming it (and the key another broker
# released never reaches the runtime); a manifest pinning another TLS key
# is a denial naming both fingerprints; a broker's policy refusal fails
# the job with the broker's reason. A job's checkpoints are under a key
# the training workspace does not hold; resumed, it continues. The signed
# spec goes to each broker
# with HELLO: a model recipient the owner's policy does not allow, or a
# spec signed by a key other than the one the owner registered for the
# TLS client principal, is refused by that broker, naming it, before any
# key reaches the runtime.
. tests/cli/lib.sh
. tests/serve_lib.sh

K=$T/keys
mkdir -p "$K"
for p in admin alice bob mo carol; do
    st identity new "$p" --out "$K" >/dev/null 2>&1
done
rcpt() { grep -o 'age1[0-9a-z]*' "$K/$1.age" | head -n1; }
MO_RCPT=$(rcpt mo)
WT=$SEALTRAIN_WORKSPACE # the training workspace
WA=$T/ws-alice
WB=$T/ws-bob
as() { # as WS NAME ARGS...: st in WS as NAME
    local ws=$1 who=$2
    shift 2
    st --workspace "$ws" --as "$who" --key "$K/$who.pem" "$@"
}

# init WS PRINCIPAL ROLE...: a workspace with admin and the principals
init_ws() {
    local ws=$1
    shift
    head -c 32 /dev/urandom >"$T/root-${ws##*/}.key"
    chmod 600 "$T/root-${ws##*/}.key"
    st --workspace "$ws" init --protect "file:$T/root-${ws##*/}.key" >/dev/null
    st --workspace "$ws" principal add admin --role admin \
        --signing-key "$K/admin.pub.pem" >/dev/null
    while [ $# -gt 0 ]; do
        as "$ws" admin principal add "$1" --role "$2" \
            --signing-key "$K/$1.pub.pem" --recipient "$(rcpt "$1")" >/dev/null
        shift 2
    done
}
init_ws "$WA" alice data-owner mo trainer
init_ws "$WB" bob data-owner mo trainer
init_ws "$WT" alice data-owner bob data-owner mo model-owner,trainer \
    carol model-owner,trainer

# two halves of the digits: alice's for training, bob's for validation
head -n 1201 examples/data/digits.csv >"$T/alpha.csv"
{ head -n 1 examples/data/digits.csv; tail -n +1202 examples/data/digits.csv; } >"$T/beta.csv"

# each owner's broker: the platform's sim key is the training
# workspace's (a broker accepts sim evidence only under the key it holds)
SEALTRAIN_WORKSPACE=$WA start_server --broker
PA=$PORT API_A=$API PID_A=$SERVER_PID
cp "$WA/keys/sim-platform.pem" "$WT/keys/sim-platform.pem"
cp "$WA/keys/sim-platform.pem" "$WB/keys/sim-platform.pem"
SEALTRAIN_WORKSPACE=$WB start_server --broker
API_B=$API PID_B=$SERVER_PID

# owner OWNER WS DATASET CSV API: import with the broker pinned, a release
# policy for mo under sim, a client certificate for mo, and the dataset
# added to the training workspace
owner() {
    local who=$1 ws=$2 ds=$3 csv=$4 api=$5
    shift 5
    as "$ws" "$who" data import "$csv" --name "$ds" --label label \
        --owner "$who" --classification confidential \
        --recipient "$(rcpt "$who")" --broker "$api" "$@" >/dev/null
    as "$ws" "$who" principal grant mo "dataset:$ds" use >/dev/null
    cat >"$T/policy-$ds.json" <<JSON
{"version": 1, "attestation": {"version": 1, "tee": ["sim"]},
 "principals": ["mo"], "recipients": ["$MO_RCPT"]}
JSON
    as "$ws" "$who" data policy set "$ds" "$T/policy-$ds.json" >/dev/null
    as "$ws" "$who" data show "$ds" --json | python3 -c '
import json, sys
j = json.load(sys.stdin)
json.dump(j["envelope"], open(sys.argv[1], "w"))
print(j["path"])' "$T/$ds.envelope.json" >"$T/$ds.path"
    as "$WT" "$who" data import-encrypted "$(cat "$T/$ds.path")" \
        --manifest "$T/$ds.envelope.json" >/dev/null
}
owner alice "$WA" alpha "$T/alpha.csv" "$API_A" \
    --broker-cert "$WA/keys/tls/server.crt"
owner bob "$WB" beta "$T/beta.csv" "$API_B" \
    --broker-cert "$WB/keys/tls/server.crt"
# the same data pinned to a key the broker does not have
WRONG=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
owner alice "$WA" alpha2 "$T/alpha.csv" "$API_A" --broker-pin "$WRONG"

# mo's client certificates, one from each owner's workspace CA
for o in A B; do
    ws=$WA && [ $o = B ] && ws=$WB
    mkdir -p "$T/certs-$o"
    as "$ws" admin principal cert mo --out "$T/certs-$o" >/dev/null
done
cat >"$WT/brokers.json" <<JSON
{"version": 1, "brokers": [
  {"url": "$API_A", "cert": "$T/certs-A/mo.crt", "key": "$K/mo.pem",
   "connect_timeout_seconds": 2, "timeout_seconds": 10},
  {"url": "$API_B", "cert": "$T/certs-B/mo.crt", "key": "$K/mo.pem",
   "connect_timeout_seconds": 2, "timeout_seconds": 10}]}
JSON
chmod 600 "$WT/brokers.json"
ok "two owners' datasets, each pinned to its owner's broker, added to the training workspace"

SPEC=$T/spec.json
spec() { # spec TRAIN VALIDATION
    python3 - "$MO_RCPT" "$1" "$2" >"$SPEC" <<'PY'
import json, sys
s = json.load(open("examples/jobs/digits-mlp.json"))
s["outputs"]["recipients"] = [sys.argv[1]]
s["training"]["epochs"] = 2
s["training"].pop("validation_split", None)
s["datasets"] = {"train": sys.argv[2], "validation": sys.argv[3]}
print(json.dumps(s))
PY
}
last_job() { # the newest job's id
    as "$WT" mo job list --json | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(j["jobs"][0]["id"] if isinstance(j, dict) else j[0]["id"])'
}
releases() { # releases WS DATASET OUTCOME: matching key.release entries
    grep '"action":"key.release"' "$1/audit/log.jsonl" |
        grep "\"resource\":\"dataset:$2\"" | grep -c "\"outcome\":\"$3\"" || true
}

spec alpha beta
expect_exit 0 as "$WT" mo job run "$SPEC"
[ "$(releases "$WA" alpha success)" = 1 ] || fail "alice's broker did not log its release"
[ "$(releases "$WB" beta success)" = 1 ] || fail "bob's broker did not log its release"
[ "$(releases "$WA" beta success)" = 0 ] || fail "alice's broker logged bob's dataset"
grep '"action":"key.release"' "$WT/audit/log.jsonl" | grep -q "\"broker\":\"$API_B\"" ||
    fail "the training workspace did not audit the remote release"
ok "one job gets both owners' keys; each broker's audit log shows its own decision"

# each owner's verdicts come back as EARs, signed with that owner's
# verifier key, and land in the job's status beside its broker
as "$WT" mo job status "$(last_job)" --json >"$T/status.json"
SEALTRAIN_WORKSPACE=$WA "$SEALTRAIN" attest ear-key >"$T/ear-a.pem"
SEALTRAIN_WORKSPACE=$WB "$SEALTRAIN" attest ear-key >"$T/ear-b.pem"
/usr/bin/python3 - "$T/status.json" "$T/ear-a.pem" "$T/ear-b.pem" <<'PY' ||
import json, sys
import jwt
j = json.load(open(sys.argv[1]))
keys = {"alpha": open(sys.argv[2], "rb").read(),
        "beta": open(sys.argv[3], "rb").read()}
kb = {b["dataset"]: b for b in j["status"]["key_brokers"]}
for name, pem in keys.items():
    for tok in kb[name]["ears"].split(","):
        jwt.decode(tok, pem, algorithms=["EdDSA"])
    other = keys["beta" if name == "alpha" else "alpha"]
    try:
        jwt.decode(kb[name]["ears"].split(",")[0], other, algorithms=["EdDSA"])
        raise SystemExit("an EAR verified under the other owner's key")
    except jwt.InvalidSignatureError:
        pass
PY
    fail "the owners' EARs are not in the job's status, or do not verify"
ok "each owner's broker returns its verdicts as EARs under its own key; the job's status keeps them"

# bob's broker refuses by policy: the job fails with its reason
cat >"$T/policy-tpm.json" <<JSON
{"version": 1, "attestation": {"version": 1, "tee": ["tpm"]},
 "principals": ["mo"], "recipients": ["$MO_RCPT"]}
JSON
as "$WB" bob data policy set beta "$T/policy-tpm.json" >/dev/null
expect_exit 4 as "$WT" mo job run "$SPEC"
expect_stderr "key broker $API_B (dataset \"beta\") denied the release"
expect_stderr "tee"
[ "$(releases "$WB" beta denied)" -ge 1 ] || fail "bob's broker did not log its refusal"
as "$WB" bob data policy set beta "$T/policy-beta.json" >/dev/null
ok "a broker's policy refusal fails the job with the broker's reason, logged by that broker"

# a manifest pinning another key: no request reaches the broker
spec alpha2 beta
before=$(grep -c . "$WA/audit/log.jsonl")
expect_exit 4 as "$WT" mo job run "$SPEC"
expect_stderr "key broker $API_A (dataset \"alpha2\"): TLS key pin mismatch"
expect_stderr "the manifest pins sha256:$WRONG"
expect_stderr "the broker presented sha256:"
[ "$(grep -c . "$WA/audit/log.jsonl")" = "$before" ] ||
    fail "the broker was asked despite the pin mismatch"
ok "a wrong pin is a denial naming the broker and both fingerprints"

# the owner re-pins the manifest (a new generation, re-signed) and adds the
# dataset to the training workspace again: the job runs
as "$WA" alice data set-broker alpha2 --broker "$API_A" \
    --broker-cert "$WA/keys/tls/server.crt" >/dev/null
as "$WA" alice data show alpha2 --json | python3 -c '
import json, sys
j = json.load(sys.stdin)
json.dump(j["envelope"], open(sys.argv[1], "w"))
print(j["path"])' "$T/alpha2.envelope.json" >"$T/alpha2.path"
grep -q -- "-g2.age$" "$T/alpha2.path" || fail "set-broker did not make a new generation"
as "$WT" alice data rm alpha2 >/dev/null
as "$WT" alice data import-encrypted "$(cat "$T/alpha2.path")" \
    --manifest "$T/alpha2.envelope.json" >/dev/null
expect_exit 0 as "$WT" mo job run "$SPEC"
ok "data set-broker re-pins a dataset (new generation, re-signed); the job then gets its key"

# the newest job's id
# no_keys: the newest job failed and its runtime was never keyed
no_keys() {
    local id log
    id=$(last_job)
    log=$WT/logs/job-$id.log
    [ "$(as "$WT" mo job status "$id" --json | python3 -c '
import json, sys
print(json.load(sys.stdin)["state"])')" = failed ] || fail "job $id did not fail"
    grep -q " attesting" "$log" || fail "no job log at $log"
    ! grep -q " keyed" "$log" || fail "the runtime was keyed: $(cat "$log")"
}
# refused_by WHO WS DATASET API REASON: `job run $SPEC` as WHO fails (4)
# with the refusal of DATASET's broker (API, workspace WS) giving REASON,
# logged by that broker; no key reaches the runtime
refused_by() {
    local who=$1 ws=$2 ds=$3 api=$4 reason=$5 before
    before=$(releases "$ws" "$ds" denied)
    expect_exit 4 as "$WT" "$who" job run "$SPEC"
    expect_stderr "key broker $api (dataset \"$ds\") denied the release"
    expect_stderr "$reason"
    [ "$(releases "$ws" "$ds" denied)" = $((before + 1)) ] ||
        fail "the broker of $ds did not log its refusal"
    no_keys
}

# a model recipient alice allows but bob does not: alice's broker
# releases, bob's refuses naming the recipient; the runtime gets nothing
ALICE_RCPT=$(rcpt alice)
cat >"$T/policy-alpha-2.json" <<JSON
{"version": 1, "attestation": {"version": 1, "tee": ["sim"]},
 "principals": ["mo"], "recipients": ["$MO_RCPT", "$ALICE_RCPT"]}
JSON
as "$WA" alice data policy set alpha "$T/policy-alpha-2.json" >/dev/null
spec alpha beta
python3 - "$SPEC" "$ALICE_RCPT" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["outputs"]["recipients"].append(sys.argv[2])
json.dump(s, open(sys.argv[1], "w"))
PY
a_before=$(releases "$WA" alpha success)
refused_by mo "$WB" beta "$API_B" "does not allow model recipient $ALICE_RCPT"
[ "$(releases "$WA" alpha success)" = $((a_before + 1)) ] ||
    fail "alice's broker did not release first"
grep '"action":"key.release"' "$WB/audit/log.jsonl" | tail -n1 |
    grep -q "$ALICE_RCPT" || fail "bob's audit entry does not name the recipient"
as "$WA" alice data policy set alpha "$T/policy-alpha.json" >/dev/null
ok "a recipient an owner's policy does not allow is refused by that broker, naming both; no key reaches the runtime"

# carol submits in the training workspace, but the controller talks to
# the brokers as mo (brokers.json): the owner's broker sees a spec not
# signed by mo's registered key and refuses it (her job publishes to a
# model name of her own: digits-mlp is mo's since his first job)
spec alpha beta
python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); s["outputs"]["model"] = "carol-mlp"; json.dump(s, open(sys.argv[1], "w"))' "$SPEC"
refused_by carol "$WA" alpha "$API_A" \
    "not a job spec signed by the key registered for \"mo\""
ok "a spec signed by a key other than the TLS principal's registered one is refused, audited"

# checkpoints of a job over both owners' data: the training workspace
# holds no key to them (its keyring lacks alice's and bob's KEKs, and the
# controller made and stored none); resumed, the runtime is released the
# same keys by both brokers and derives the checkpoint key again
spec alpha beta
python3 - "$SPEC" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["training"]["epochs"] = 200
s["model"]["hidden"] = [256, 256]
s["checkpoint_every"] = 1
json.dump(s, open(sys.argv[1], "w"))
PY
as "$WT" mo job submit "$SPEC" >"$T/ckid"
CK=$(cat "$T/ckid")
as "$WT" mo job run "$CK" >"$T/ck.out" 2>"$T/ck.err" &
ckrun=$!
on_exit "kill -9 $ckrun 2>/dev/null"
for _ in $(seq 600); do
    grep -q "checkpoint after epoch" "$WT/logs/job-$CK.log" 2>/dev/null && break
    sleep 0.1
done
grep -q "checkpoint after epoch" "$WT/logs/job-$CK.log" || fail "no checkpoint: $(cat "$T/ck.err")"
as "$WT" mo job cancel "$CK" >/dev/null
set +e
wait "$ckrun"
ckrc=$?
set -e
[ "$ckrc" = 6 ] || fail "job run exited $ckrc: $(cat "$T/ck.err")"
[ -f "$WT/jobs/$CK/out/checkpoint.enc" ] || fail "no checkpoint kept"
as "$WT" mo job status "$CK" --json >"$T/ck.json"
python3 - "$T/ck.json" <<'PY' || fail "the training workspace keeps a checkpoint key"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["state"] == "cancelled", j["state"]
assert "checkpoint_key" not in j["status"], j["status"]["checkpoint_key"]
PY
! as "$WT" admin key list | grep -qw jobs || fail "a jobs KEK exists in the training workspace"
a_before=$(releases "$WA" alpha success)
expect_exit 0 as "$WT" mo job resume "$CK"
[ "$(releases "$WA" alpha success)" = $((a_before + 1)) ] || fail "alice's broker was not asked again"
grep -q "resumed from the last checkpoint" "$WT/logs/job-$CK.log" || fail "not resumed"
ok "a job over remote data checkpoints under a key no keyring holds; resumed, both brokers release again and it continues"

# bob's broker is down: the job fails naming it; alice's released key
# never reached the runtime (the controller sent DENIED, not KEYS)
kill -TERM "$PID_B"
wait "$PID_B" || true
spec alpha beta
a_before=$(releases "$WA" alpha success)
expect_exit 5 as "$WT" mo job run "$SPEC"
expect_stderr "key broker $API_B (dataset \"beta\") is unreachable"
[ "$(releases "$WA" alpha success)" = $((a_before + 1)) ] ||
    fail "alice's broker was not asked first"
id=$(last_job)
as "$WT" mo job status "$id" --json >"$T/status.json"
python3 - "$T/status.json" "$API_B" <<'PY' || fail "the failure is not in the job's status"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["state"] == "failed", j["state"]
assert sys.argv[2] in j["reason"], j["reason"]
kb = j["status"]["key_brokers"]
assert [b["outcome"] for b in kb] == ["success", "failure"], kb
PY
grep '"action":"key.release"' "$WT/audit/log.jsonl" | grep '"outcome":"failure"' |
    grep -q "dataset:beta" || fail "the failure is not audited in the training workspace"
ok "a broker that is down fails the job naming it, audited; no key reaches the runtime"

kill -TERM "$PID_A"
wait "$PID_A" || true
