# job_lib.sh (tests/): a workspace with a data owner (dana), a model owner and
# trainer (mo), the bundled digits dataset imported by dana, a grant for mo
# and a release policy allowing sim runtimes; sourced by the job_*.sh
# scenarios after lib.sh. Sets: $K (keys dir), $MO_RCPT, $SPEC (a job spec
# for mo), and the functions dana / mo / admin (st as that principal).
K=$T/keys
mkdir -p "$K"
# JOB_LIB_PROTECT: the keyring's protection (default: a root key file)
st init --protect "${JOB_LIB_PROTECT:-file:$T/root.key}" >/dev/null
for p in admin dana mo; do
    st identity new "$p" --out "$K" >/dev/null 2>&1
done
rcpt() { grep -o 'age1[0-9a-z]*' "$K/$1.age" | head -n1; }
MO_RCPT=$(rcpt mo)
DANA_RCPT=$(rcpt dana)
st principal add admin --role admin --signing-key "$K/admin.pub.pem" >/dev/null
admin() { st --as admin --key "$K/admin.pem" "$@"; }
dana() { st --as dana --key "$K/dana.pem" "$@"; }
mo() { st --as mo --key "$K/mo.pem" "$@"; }
admin principal add dana --role data-owner --signing-key "$K/dana.pub.pem" \
    --recipient "$DANA_RCPT" >/dev/null
admin principal add mo --role model-owner,trainer \
    --signing-key "$K/mo.pub.pem" --recipient "$MO_RCPT" >/dev/null

# data_csv FILE: the dataset to import (default: the bundled digits)
import_digits() {
    dana data import "${1:-examples/data/digits.csv}" --name digits \
        --label label --owner dana --classification confidential \
        --recipient "$DANA_RCPT" >/dev/null
    dana principal grant mo dataset:digits use >/dev/null
}

# policy TEES...: a release policy for digits allowing those TEEs
policy() {
    local tees
    tees=$(printf '"%s",' "$@")
    cat >"$T/policy.json" <<JSON
{"version": 1,
 "attestation": {"version": 1, "tee": [${tees%,}]},
 "principals": ["mo"],
 "recipients": ["$MO_RCPT"]}
JSON
    dana data policy set digits "$T/policy.json" >/dev/null
}

# spec [EXTRA_JSON_MERGE]: a job spec for mo (python3 merges overrides)
SPEC=$T/spec.json
spec() {
    python3 - "$MO_RCPT" "${1:-{\}}" >"$SPEC" <<'PY'
import json, sys
s = json.load(open("examples/jobs/digits-mlp.json"))
s["outputs"]["recipients"] = [sys.argv[1]]
s["training"]["epochs"] = 12
def merge(a, b):
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            merge(a[k], v)
        else:
            a[k] = v
merge(s, json.loads(sys.argv[2]))
print(json.dumps(s))
PY
}

# job_field ID PYEXPR: a field of `job status --json` (python expression on j)
job_field() {
    mo job status "$1" --json | python3 -c "import json,sys; j=json.load(sys.stdin); print($2)"
}
