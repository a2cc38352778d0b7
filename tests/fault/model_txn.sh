#!/usr/bin/env bash
# tests/fault/model_txn.sh: `model share` and `model rm` are each one
# transaction with their audit entry (docs/audit.md). Each flush of a
# clean run is failed in turn (EIO once; the last four also from then
# on); after
# every run, and after the next open:
#   - exit 0: the change is there, with exactly one success entry;
#   - any other exit: no success entry, and either the change is not
#     there or (a COMMIT whose outcome was unknown) it is there with its
#     entry; then a retry without fault succeeds with exactly one entry.
#
# Needs ST_FAULT_SHIM (the LD_PRELOAD shim of tests/fault/shim.c).
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../job_lib.sh"
: "${ST_FAULT_SHIM:?set ST_FAULT_SHIM to st_fault_shim.so}"

import_digits
policy sim
# dana's recipient may receive a shared copy
python3 - "$T/policy.json" "$DANA_RCPT" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["recipients"].append(sys.argv[2])
json.dump(p, open(sys.argv[1], "w"))
PY
dana data policy set digits "$T/policy.json" >/dev/null
spec '{"training": {"epochs": 2}}'
mo job run "$SPEC" >/dev/null 2>&1 || fail "job run $SPEC"
MODEL=$(mo model list --json | python3 -c 'import json,sys; m=json.load(sys.stdin)[0]; print("%s@%d" % (m["name"], m["version"]))')
cp -a "$SEALTRAIN_WORKSPACE" "$T/template"

# as_mo WS ARGS...: sealtrain as mo in workspace WS
as_mo() {
    local ws=$1
    shift
    SEALTRAIN_WORKSPACE=$ws "$SEALTRAIN" --as mo --key "$K/mo.pem" "$@"
}

# successes WS ACTION: success entries of ACTION on the model (the open
# that reads the log appends pending entries first)
successes() {
    SEALTRAIN_WORKSPACE=$1 "$SEALTRAIN" --as admin --key "$K/admin.pem" \
        audit export --format jsonl |
        python3 -c '
import json, sys
print(sum(1 for l in sys.stdin if l.strip() and
          json.loads(l)["action"] == sys.argv[1] and
          json.loads(l)["outcome"] == "success" and
          json.loads(l)["resource"] == sys.argv[2]))' "$2" "model:$MODEL"
}

# changed WS WHAT: 1 if the change of WHAT (rm, share) is in force
changed() {
    local j
    j=$(as_mo "$1" model list --json)
    case $2 in
    rm) python3 -c 'import json,sys; print(0 if json.loads(sys.argv[1]) else 1)' "$j" ;;
    share) python3 -c 'import json,sys; m=json.loads(sys.argv[1]); print(1 if any(sys.argv[2] in x["recipients"] for x in m) else 0)' "$j" "$DANA_RCPT" ;;
    esac
}

sweep() {
    local what=$1 action=$2
    shift 2
    local ws=$T/w
    rm -rf "$ws"
    cp -a "$T/template" "$ws"
    SEALTRAIN_WORKSPACE=$ws LD_PRELOAD=$ST_FAULT_SHIM ST_FAULT=count \
        ST_FAULT_COUNT=$T/count "$SEALTRAIN" --as mo --key "$K/mo.pem" "$@" \
        >/dev/null 2>&1 || fail "clean run of $*"
    local n i mode runs=0
    n=$(awk '$1 == "flush" { print $2 }' "$T/count")
    [ "$n" -gt 0 ] || fail "$*: no flush counted"
    # every flush once; from then on only the last four (the commit and the
    # log's flushes: what comes before fails as its once-case does)
    for mode in once sticky; do
        local first=1
        [ "$mode" = sticky ] && first=$((n > 4 ? n - 3 : 1))
        for ((i = first; i <= n; i++)); do
            rm -rf "$ws"
            cp -a "$T/template" "$ws"
            set +e
            SEALTRAIN_WORKSPACE=$ws LD_PRELOAD=$ST_FAULT_SHIM \
                ST_FAULT=flush:$i:EIO:$mode "$SEALTRAIN" --as mo \
                --key "$K/mo.pem" "$@" >"$T/stdout" 2>"$T/stderr"
            local rc=$?
            set -e
            runs=$((runs + 1))
            local c s
            c=$(changed "$ws" "$what")
            s=$(successes "$ws" "$action")
            if [ "$rc" -eq 0 ]; then
                [ "$c" = 1 ] && [ "$s" = 1 ] ||
                    fail "$* (flush $i $mode): exit 0 but change $c, entries $s"
                continue
            fi
            if grep -qF "may or may not have been committed" "$T/stderr"; then
                [ "$c" = "$s" ] ||
                    fail "$* (flush $i $mode): unknown commit resolved to change $c with $s entries"
            else
                [ "$c" = 0 ] && [ "$s" = 0 ] ||
                    fail "$* (flush $i $mode): exit $rc ($(head -c 200 "$T/stderr")) but change $c, entries $s"
            fi
            [ "$c" = 1 ] && continue
            as_mo "$ws" "$@" >/dev/null 2>"$T/stderr" ||
                fail "$* (flush $i $mode): the retry failed: $(cat "$T/stderr")"
            [ "$(changed "$ws" "$what")" = 1 ] && [ "$(successes "$ws" "$action")" = 1 ] ||
                fail "$* (flush $i $mode): after the retry, not one change with one entry"
        done
    done
    ok "$*: $runs runs over its $n flushes: all or nothing, with its entry"
}

sweep share model.share model share "$MODEL" --to "$DANA_RCPT" -i "$K/mo.age"
sweep rm model.rm model rm "$MODEL"
