#!/usr/bin/env bash
# --json on every command (issue 14, "Conventions"): each leaf command that
# `sealtrain help --list` names is run once with valid arguments and
# --json; it either succeeds with JSON on stdout (or nothing at all), or
# refuses with a usage error (exit 2) that names --json. A command that
# ignores --json and prints text fails this test, and so does a leaf this
# table does not cover (a new command must say what --json does).
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh
import_digits
policy sim
# dana's recipient too, for `model share`
sed -i "s|\"recipients\": \[\"$MO_RCPT\"\]|\"recipients\": [\"$MO_RCPT\", \"$DANA_RCPT\"]|" "$T/policy.json"
# and evaluate by mo, for `model evaluate`
python3 - "$T/policy.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["uses"] = {"evaluate": ["mo"]}
json.dump(p, open(sys.argv[1], "w"))
PY
dana data policy set digits "$T/policy.json" >/dev/null
grep -q "$DANA_RCPT" "$T/policy.json" || fail "the policy for model share"
# the model owner's own rows for `model predict --input` (no label column)
python3 - examples/data/digits.csv "$T/rows.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
i = rows[0].index("label")
with open(sys.argv[2], "w", newline="") as f:
    csv.writer(f).writerows([r[:i] + r[i + 1:] for r in rows[:6]])
PY
spec '{"training": {"epochs": 1}, "checkpoint_every": 0}'
# for `model verify-use` (of a file that is not the output: a verdict)
echo '{"version": 1, "tee": ["sim"]}' >"$T/attest.json"
# JOB stays queued; the table's `job run` trains JOB2, whose model the
# model commands after it use
JOB=$(mo job submit "$SPEC")
JOB2=$(mo job submit "$SPEC")
JOB3=$(mo job submit "$SPEC")
mkdir -p "$T/ids"
MODEL=digits-mlp
st identity new eve --out "$K" >/dev/null 2>&1
cp "$T/spec.json" "$T/in.txt"
st age encrypt -r "$MO_RCPT" -o "$T/in.age" "$T/in.txt"
RD=$(printf "0%.0s" $(seq 128))
st attest evidence --tee sim --report-data "$RD" -o "$T/ev.json" >/dev/null
admin audit checkpoint >/dev/null
admin audit prove --index 1 >"$T/proof.json"
admin audit vkey >"$T/log.vkey"
cp examples/data/digits.csv "$T/d2.csv"
dana data show digits --json |
    python3 -c 'import json,sys; json.dump(json.load(sys.stdin)["envelope"], sys.stdout)' >"$T/env.json"
F=$(ls "$T"/ws/datasets/*.age | head -n1)

# who and what: "LEAF|AS|ARGS..." (AS: st = no principal)
cases=(
    "version|st|"
    "init|init|"
    "doctor|admin|"
    "metrics|admin|"
    "check|admin|"
    "cleanup|admin|--dry-run"
    "serve|admin|--listen 127.0.0.1:1"
    "age keygen|st|-o $T/new.key"
    "age encrypt|st|-r $MO_RCPT -o $T/out.age $T/in.txt"
    "age decrypt|st|-i $K/mo.age -o $T/out.txt $T/in.age"
    "age inspect|st|$T/in.age"
    "principal add|admin|eve --role auditor --signing-key $K/eve.pub.pem"
    "principal list|admin|"
    "principal show|admin|mo"
    "principal grant|dana|mo dataset:digits read"
    "principal revoke|dana|mo dataset:digits read"
    "principal disable|admin|eve"
    "principal enable|admin|eve"
    "principal matrix|admin|"
    "principal cert|admin|mo --out $T/certs"
    "audit show|admin|--limit 2"
    "audit verify|admin|"
    "audit checkpoint|admin|"
    "audit prove|admin|--index 1"
    "audit consistency|admin|--from 1"
    "audit check-proof|admin|$T/proof.json --vkey $T/log.vkey"
    "audit export|admin|--format jsonl --output $T/export.jsonl"
    "audit vkey|admin|"
    "audit repair|admin|"
    "attest evidence|st|--tee sim --report-data $RD -o $T/ev2.json"
    "attest verify|st|--evidence $T/ev.json --report-data $RD"
    "attest measure|st|--job $T/spec.json"
    "attest show|st|$T/ev.json"
    "attest enroll|admin|--tee tpm"
    "attest collateral|admin|list"
    "key create|dana|dana.extra"
    "key list|admin|"
    "key show|admin|owner.dana"
    "key rotate|dana|dana.extra"
    "key retire|dana|dana.extra --version 1"
    "key revoke|dana|dana.extra --version 1"
    "identity new|st|zed --out $T/ids"
    "data import|dana|$T/d2.csv --name d2 --label label --owner dana --classification internal --recipient $DANA_RCPT"
    "data import-encrypted|dana|$F --manifest $T/env.json"
    "data set-broker|dana|d2 --none"
    "data list|dana|"
    "data show|dana|digits"
    "data verify|dana|digits"
    "data rewrap|dana|digits"
    "data reencrypt|dana|d2"
    "data rm|dana|d2"
    "data policy set|dana|digits $T/policy.json"
    "data policy show|dana|digits"
    "job submit|mo|$SPEC"
    "job run|mo|$JOB2"
    "job list|mo|"
    "job status|mo|$JOB"
    "job logs|mo|$JOB"
    "job cancel|mo|$JOB3"
    "job resume|mo|$JOB3"
    "job report|mo|$JOB2 --html $T/report.html"
    "model list|mo|"
    "model show|mo|$MODEL"
    "model verify|mo|$MODEL"
    "model decrypt|mo|$MODEL -i $K/mo.age -o $T/model.safetensors"
    "model share|mo|$MODEL --to $DANA_RCPT -i $K/mo.age"
    "model export|mo|$MODEL -i $K/mo.age --format onnx -o $T/model.onnx"
    "model evaluate|mo|$MODEL --data digits -i $K/mo.age --provenance $T/use.json"
    "model verify-use|mo|$T/rows.csv --provenance $T/use.json --policy $T/attest.json"
    "model predict|mo|$MODEL --input $T/rows.csv --out $T/pred.csv -i $K/mo.age"
    "model rm|mo|$MODEL"
)

# expect_any CMD...: JSON on stdout (one document, or one per line) or
# nothing with exit 0; or exit 2 with a message that names --json
json_ok=0
usage_ok=0
problems=
bad() { problems="$problems
  $*"; }
expect_any() {
    set +e
    timeout 60 "$@" >"$T/stdout" 2>"$T/stderr" </dev/null
    local rc=$?
    set -e
    # a command that ends in a verdict (check, attest verify) may exit 4
    # with its JSON report
    [ "$rc" != 2 ] && [ -s "$T/stdout" ] && rc=0
    case $rc in
    0)
        python3 - "$T/stdout" <<'PY' || bad "$leaf: exit 0, text: $(head -c 200 "$T/stdout")"
import json, sys
text = open(sys.argv[1]).read()
try:
    json.loads(text) if text.strip() else None
except ValueError:
    for line in text.splitlines():
        if line.strip():
            json.loads(line)
PY
        json_ok=$((json_ok + 1))
        [ -z "${ST_JSON_TRACE:-}" ] || echo "$leaf: $([ -s "$T/stdout" ] && echo json || echo empty)" >>"$ST_JSON_TRACE" ;;
    2)
        grep -q -- "json" "$T/stderr" ||
            bad "$leaf: a usage error that does not name --json: $(head -c 200 "$T/stderr")"
        usage_ok=$((usage_ok + 1))
        [ -z "${ST_JSON_TRACE:-}" ] || echo "$leaf: usage" >>"$ST_JSON_TRACE" ;;
    *) bad "$leaf: exit $rc: $(head -c 300 "$T/stderr")" ;;
    esac
}

declare -A covered
for c in "${cases[@]}"; do
    IFS='|' read -r leaf who args <<<"$c"
    covered[$leaf]=1
    # shellcheck disable=SC2086
    case $who in
    init) expect_any env SEALTRAIN_WORKSPACE="$T/ws-new" "$SEALTRAIN" init --protect "file:$T/root.key" --json ;;
    st) expect_any "$SEALTRAIN" $leaf $args --json ;;
    *) expect_any "$SEALTRAIN" --as "$who" --key "$K/$who.pem" $leaf $args --json ;;
    esac
done
[ -z "$problems" ] || fail "--json is not handled by:$problems"
ok "--json: $json_ok commands print JSON, $usage_ok refuse it with a usage error naming it"

missing=
while read -r leaf; do
    [ -n "${covered[$leaf]:-}" ] || missing="$missing, $leaf"
done < <(st help --list)
[ -z "$missing" ] || fail "leaf commands this table does not cover: ${missing#, }"
ok "every leaf of help --list is covered"
