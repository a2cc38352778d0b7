#!/usr/bin/env bash
# demo.sh SEALTRAIN_BINARY: the main job end to end, told as a story.
#
# A data owner (Dana) encrypts the bundled handwritten-digits dataset and
# says who may train on it; a model owner (Mo) submits a training job; the
# job runs in a sandboxed enclave runtime that must prove by attestation
# what it is before the key broker releases Dana's data key; the model
# leaves sealed to Mo, with provenance signed by the attested key; an
# auditor checks the tamper-evident log. Run by `make demo`.
#
# Everything lives under build/demo/ (kept afterwards, so you can look
# around: SEALTRAIN_WORKSPACE=build/demo/workspace build/default/sealtrain
# ...). The workspace's root key is a key file here so the demo runs
# without prompts; `sealtrain init --protect passphrase|tpm` are the
# choices for real use (docs/keys.md).
set -euo pipefail

ST=$(realpath "${1:-build/default/sealtrain}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
D=${DEMO_DIR:-$ROOT/build/demo}
rm -rf "$D"
mkdir -p "$D/keys"
chmod 700 "$D"
export SEALTRAIN_WORKSPACE=$D/workspace
unset SEALTRAIN_AS SEALTRAIN_KEY

if [ -t 1 ]; then
    B=$'\e[1m' G=$'\e[32m' R=$'\e[0m'
else
    B='' G='' R=''
fi
step=0
say() {
    step=$((step + 1))
    printf '\n%s%d. %s%s\n' "$B" "$step" "$1" "$R"
    shift
    for line in "$@"; do printf '   %s\n' "$line"; done
}
run() {
    local shown="$*"
    [ "$1" = st ] && shown="sealtrain ${*:2}"
    printf '   %s$ %s%s\n' "$G" "$shown" "$R"
    "$@" 2>&1 | sed 's/^/     /'
    return "${PIPESTATUS[0]}"
}
st() { "$ST" "$@"; }
as() {
    local who=$1
    shift
    "$ST" --as "$who" --key "$D/keys/$who.pem" "$@"
}
rcpt() { grep -o 'age1[0-9a-z]*' "$D/keys/$1.age" | head -n1; }
show_as() {
    local who=$1
    shift
    printf '   %s$ sealtrain --as %s %s%s\n' "$G" "$who" "$*" "$R"
    as "$who" "$@" 2>&1 | sed 's/^/     /'
    return "${PIPESTATUS[0]}"
}

say "What this machine offers" \
    "sealtrain doctor lists the protections it can detect, and nothing it cannot."
run st doctor | grep -E 'found|missing|unknown' | sed 's/ *->.*//' || true

say "The operator creates a workspace" \
    "A 0700 directory with an SQLite catalog, a content-addressed blob store," \
    "a keyring whose root key protects every key-encryption key, and an audit log."
head -c 32 /dev/urandom >"$D/root.key"
chmod 600 "$D/root.key"
run st init --protect "file:$D/root.key"

say "Three people get identities" \
    "Each has an age X25519 identity (for receiving encrypted files) and an" \
    "Ed25519 signing key (to prove who acts). The first principal is the admin."
for p in admin dana mo; do
    run st identity new "$p" --out "$D/keys"
done
DANA=$(rcpt dana)
MO=$(rcpt mo)
run st principal add admin --role admin --signing-key "$D/keys/admin.pub.pem"
show_as admin principal add dana --role data-owner \
    --signing-key "$D/keys/dana.pub.pem" --recipient "$DANA"
show_as admin principal add mo --role model-owner,trainer \
    --signing-key "$D/keys/mo.pub.pem" --recipient "$MO"

say "Dana imports the digits dataset, encrypted on her side" \
    "1797 handwritten digits (UCI, CC BY 4.0). The CSV is validated, converted" \
    "to float32, encrypted as age v1 under her key-encryption key, plus a" \
    "recovery stanza to her own age identity; the manifest is signed (DSSE)."
show_as dana data import examples/data/digits.csv --name digits --label label \
    --owner dana --classification confidential --recipient "$DANA"
show_as dana data verify digits

say "Dana can always recover her data with the stock age tool" \
    "(no sealtrain needed: the file is standard age v1)"
DSFILE=$(as dana data show digits --json | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["path"])')
run age -d -i "$D/keys/dana.age" -o "$D/digits.recovered" "$DSFILE"
printf '     recovered %s bytes of float32 tensor data\n' \
    "$(stat -c %s "$D/digits.recovered")"
rm -f "$D/digits.recovered"

say "Dana writes the release policy and lets Mo train on the dataset" \
    "Keys are released only to a runtime whose attestation passes this policy," \
    "for jobs submitted by Mo, and models may be sealed only to Mo."
TEES='"sim"'
if command -v swtpm >/dev/null; then TEES='"sim", "tpm"'; fi
cat >"$D/policy.json" <<JSON
{"version": 1,
 "attestation": {"version": 1, "tee": [$TEES], "report_data": "required"},
 "principals": ["mo"],
 "recipients": ["$MO"]}
JSON
show_as dana data policy set digits "$D/policy.json"
show_as dana principal grant mo dataset:digits use

say "Mo submits and runs a training job (sim TEE)" \
    "The job spec is signed by Mo. The runtime starts in a sandbox (namespaces," \
    "seccomp, Landlock, no privileges), makes ephemeral keys, and proves what it" \
    "is; the broker verifies the evidence against Dana's policy, then releases" \
    "the data key wrapped to the runtime's key. The data is decrypted only in" \
    "locked memory inside the runtime."
python3 - "$MO" >"$D/job.json" <<'PY'
import json, sys
s = json.load(open("examples/jobs/digits-mlp.json"))
s["outputs"]["recipients"] = [sys.argv[1]]
print(json.dumps(s, indent=2))
PY
show_as mo job run "$D/job.json"
ID=$(as mo job list --json | python3 -c \
    'import json,sys; print(json.load(sys.stdin)[0]["id"])')
as mo job status "$ID" --json >"$D/status.json"
python3 - "$D/status.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
s = j["status"]
print("     state:", j["state"])
print("     sandbox (%s):" % s["sandbox"]["level"],
      ", ".join(m["name"] for m in s["sandbox"]["measures"]
                if m["status"] == "applied"))
a = s["attestation"]
print("     attestation: tee=%s pass=%s" % (a["tee"], a["pass"]))
PY

say "Mo opens the sealed model with the stock age tool" \
    "The weights left the runtime only as an age file to Mo's recipient."
MODEL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"]["result"]["model_path"])' "$D/status.json")
PROV=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"]["result"]["provenance_path"])' "$D/status.json")
run age -d -i "$D/keys/mo.age" -o "$D/model.safetensors" "$MODEL"
python3 - "$D/model.safetensors" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
for k, v in sorted(h.items()):
    if k != "__metadata__":
        print("     tensor %-18s %s %s" % (k, v["dtype"], v["shape"]))
PY
if age -d -i "$D/keys/dana.age" "$MODEL" >/dev/null 2>&1; then
    echo "     UNEXPECTED: Dana could open the model" >&2
    exit 1
fi
echo "     (Dana's identity cannot open it: only the approved recipient can)"

say "Anyone verifies the provenance with standard tools" \
    "DSSE envelope + in-toto statement: the subject digest must equal the model" \
    "file's SHA-256, and the signature must verify under the runtime's attested" \
    "Ed25519 key, which the attestation evidence bound to this job."
scripts/verify-provenance.sh "$PROV" "$MODEL" | sed 's/^/     /'

say "The auditor verifies the tamper-evident log" \
    "Every step above is a leaf of an RFC 6962 Merkle tree; checkpoints are" \
    "C2SP signed notes. Editing, removing or reordering any entry is detected."
show_as admin audit checkpoint
show_as admin audit verify

if command -v swtpm >/dev/null; then
    say "The same job with a TPM 2.0 quote (swtpm on loopback)" \
        "The platform measures the runtime, the job spec and the dataset into a" \
        "PCR and quotes the runtime's report data; the broker replays the log."
    started=$(scripts/start-swtpm.sh "$D/tpm" "$D/swtpm.log")
    read -r PORT TPM_PID <<<"$started"
    trap 'kill $TPM_PID 2>/dev/null || true' EXIT
    export SEALTRAIN_TPM_TCTI="swtpm:host=127.0.0.1,port=$PORT"
    show_as admin attest enroll --tee tpm
    python3 - "$D/job.json" >"$D/job-tpm.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["security"]["tee"] = "tpm"
s["outputs"]["model"] = "digits-mlp-tpm"
print(json.dumps(s, indent=2))
PY
    show_as mo job run "$D/job-tpm.json"
fi

say "Result"
python3 - "$PROV" <<'PY'
import base64, json, sys
env = json.load(open(sys.argv[1]))
st = json.loads(base64.b64decode(env["payload"]))
m = st["predicate"]["metrics"]
ev = m.get("final_evaluation", m)
print("     final accuracy of Mo's model: %.2f%% on the held-out 20%% "
      "validation split of the digits dataset" % (100 * ev["accuracy"]))
PY
echo "     workspace kept in $SEALTRAIN_WORKSPACE"
