#!/usr/bin/env bash
# kill -9 during `data import`, `data rewrap` and `data reencrypt` (30 times
# each, at random moments): the catalog and the store always hold the old
# or the new dataset, never a partial one; every dataset and generation
# that exists afterwards has its success entry in the audit log (and every
# such entry its dataset); verification passes whenever the dataset
# exists; files left by a killed run are swept by the next change;
# and the plaintext (whose class names carry a canary) never reaches disk.
. tests/cli/lib.sh

expect_exit 0 st init --protect "file:$T/root.key"
openssl genpkey -algorithm ed25519 -out "$T/alice.pem" 2>/dev/null
export SEALTRAIN_KEY=$T/alice.pem
python3 - "$T/c.csv" <<'EOF'
import random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    f.write(",".join("f%d" % i for i in range(20)) + ",y\n")
    for r in range(20000):
        f.write(",".join("%.3f" % random.random() for _ in range(20)))
        f.write(",CANARY-3c7d-%d\n" % (r % 3))
EOF
# run in the background as the sealtrain process itself (not a subshell),
# so that kill -9 hits it
import() {
    exec "$SEALTRAIN" data import "$T/c.csv" --name "$1" --label y \
        --owner alice --classification internal
}
pause() { sleep "$(printf '0.%03d' $((RANDOM % ${1:-200})))"; }

# the state of dataset $1: its verify exit status (0 ok, 3 absent)
check() {
    set +e
    st data verify "$1" >/dev/null 2>"$T/verr"
    local rc=$?
    set -e
    case $rc in
    0 | 3) echo $rc ;;
    *) cat "$T/verr" >&2; fail "dataset $1 is damaged (verify exit $rc)" ;;
    esac
}

# every dataset has its data.import success entry and every such entry its
# dataset; final's generation is 1 + its rewrap/reencrypt success entries
# (a change and its entry commit together: src/audit/outbox.c)
entries_match() {
    st data list --json >"$T/list.json"
    st audit export --format jsonl >"$T/log.jsonl"
    python3 - "$T/list.json" "$T/log.jsonl" <<'PY'
import json, sys
ds = {d["name"]: d for d in json.load(open(sys.argv[1]))}
log = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
ok = lambda e, a: e["action"] == a and e["outcome"] == "success"
imported = {e["resource"][len("dataset:"):] for e in log if ok(e, "data.import")}
removed = {e["resource"][len("dataset:"):] for e in log if ok(e, "data.rm")}
assert set(ds) == imported - removed, (sorted(ds), sorted(imported))
if "final" in ds:
    moves = sum(1 for e in log if e["resource"] == "dataset:final" and
                (ok(e, "data.rewrap") or ok(e, "data.reencrypt")))
    assert ds["final"]["generation"] == 1 + moves, (ds["final"], moves)
PY
}

present=0
for i in $(seq 1 30); do
    (import "c$i") >/dev/null 2>&1 &
    pid=$!
    pause 250
    kill -9 $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
    [ "$(check "c$i")" = 0 ] && present=$((present + 1))
done
echo "# import: $present of 30 killed imports had completed"
# the next change sweeps what killed runs left behind
expect_exit 0 st data import "$T/c.csv" --name final --label y \
    --owner alice --classification internal
expect_exit 0 st data verify --deep final
n_age=$(ls "$T/ws/datasets" | grep -c '\.age$' || true)
[ "$n_age" = $((present + 1)) ] ||
    fail "$n_age .age files for $((present + 1)) datasets"
ls -A "$T/ws/datasets" | grep -q '\.tmp\.' && fail "temporary files remain"
entries_match || fail "a dataset without its data.import entry, or the reverse"
ok "kill -9 during import: old or new, never partial ($present completed), each with its entry"

old=0
new=0
for i in $(seq 1 30); do
    expect_exit 0 st key rotate owner.alice
    want=$(st key show owner.alice --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["current"])')
    "$SEALTRAIN" data rewrap final >/dev/null 2>&1 &
    pid=$!
    pause 150
    kill -9 $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
    [ "$(check final)" = 0 ] || fail "dataset final vanished"
    st data show final >"$T/show"
    if grep -q "owner.alice version $want\$" "$T/show"; then
        new=$((new + 1))
    else
        old=$((old + 1))
    fi
    [ $((i % 10)) = 0 ] && expect_exit 0 st data verify --deep final
done
echo "# rewrap: $new new, $old old"
expect_exit 0 st data rewrap final
expect_exit 0 st data verify --deep final
entries_match || fail "a generation without its data.rewrap entry, or the reverse"
ok "kill -9 during rewrap: old or new, never partial, each new one with its entry"

for i in $(seq 1 30); do
    "$SEALTRAIN" data reencrypt final >/dev/null 2>&1 &
    pid=$!
    pause 200
    kill -9 $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
    [ "$(check final)" = 0 ] || fail "dataset final vanished"
    [ $((i % 10)) = 0 ] && expect_exit 0 st data verify --deep final
done
expect_exit 0 st data reencrypt final
expect_exit 0 st data verify --deep final
n_age=$(ls "$T/ws/datasets" | grep -c '\.age$' || true)
[ "$n_age" = $((present + 1)) ] || fail "$n_age .age files after sweeps"
entries_match || fail "a generation without its data.reencrypt entry, or the reverse"
ok "kill -9 during reencrypt: old or new, never partial, each new one with its entry"

if grep -r -a -l "CANARY-3c7d" "$T/ws"; then
    fail "plaintext reached the workspace"
fi
ok "no plaintext anywhere in the workspace after 90 kills"
