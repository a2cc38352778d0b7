#!/usr/bin/env bash
# kill -9 during `data import`, `data rewrap` and `data reencrypt` (30 times
# each, at random moments): the catalog and the store always hold the old
# or the new dataset, never a partial one; verification passes whenever the
# dataset exists; files left by a killed run are swept by the next change;
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
ok "kill -9 during import: old or new, never partial ($present completed)"

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
ok "kill -9 during rewrap: old or new, never partial"

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
ok "kill -9 during reencrypt: old or new, never partial"

if grep -r -a -l "CANARY-3c7d" "$T/ws"; then
    fail "plaintext reached the workspace"
fi
ok "no plaintext anywhere in the workspace after 90 kills"
