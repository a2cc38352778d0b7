#!/bin/sh
# bench/txn.sh BUILD_DIR: the fixed cost of the commands that change a
# workspace (small `data import`, `data rewrap`, `key rotate`, `key
# revoke`, `data policy set`, `principal add`, and `job run` of a job that
# trains one epoch on 5000 rows: mostly its fixed cost), which the
# transaction work (src/audit/outbox.c: a change and its audit entry in
# one catalog commit) must not make dearer: target <= 1.1x. Side by side
# with another build of sealtrain when ST_BENCH_BASELINE names its build
# directory or its binary (for example the build before the journal);
# otherwise ours alone. The two builds alternate round by round. Median of
# 7 runs each (BENCH_TXN_ROUNDS), wall time, fresh workspaces on the same disk.
set -eu
build=$(cd "$1" && pwd)
ours="$build/sealtrain"
base=${ST_BENCH_BASELINE:-}
rounds=${BENCH_TXN_ROUNDS:-7}
[ -z "$base" ] || [ ! -d "$base" ] || base=$base/sealtrain
work=$(mktemp -d "$build/txn-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
openssl genpkey -algorithm ed25519 -out "$work/owner.pem" 2>/dev/null
openssl pkey -in "$work/owner.pem" -pubout -out "$work/owner.pub"
python3 - "$work/small.csv" <<'EOF'
import random, sys
random.seed(3)
with open(sys.argv[1], "w") as f:
    f.write(",".join("f%d" % i for i in range(8)) + ",y\n")
    for r in range(5000):
        f.write(",".join("%.3f" % random.random() for _ in range(8)))
        f.write(",%d\n" % (r % 3))
EOF
age-keygen 2>"$work/rcpt.txt" >/dev/null
rcpt=$(awk '{print $NF}' "$work/rcpt.txt")
printf '{"version": 1, "attestation": {"version": 1, "tee": ["sim"]},
 "principals": ["*"], "recipients": ["%s"]}\n' "$rcpt" >"$work/policy.json"
printf '{"version": 1, "name": "bench", "model": {"type": "mlp",
 "hidden": [4]}, "training": {"optimizer": "adam", "epochs": 1, "seed": 1},
 "datasets": {"train": "jd"}, "security": {"tee": "sim"},
 "outputs": {"model": "bench", "recipients": ["%s"]}}\n' "$rcpt" \
    >"$work/spec.json"

# ms since $1 (date +%s%N)
since() { echo $((($(date +%s%N) - $1) / 1000000)); }
# one round on binary $1, workspace $2: appends "import rewrap rotate
# revoke policy principal job" ms to $work/$4
round() {
    bin=$1 ws=$2 i=$3
    s=$(date +%s%N)
    "$bin" --workspace "$ws" --key "$work/owner.pem" -q data import \
        "$work/small.csv" --name "d$i" --label y --owner bench \
        --classification internal >/dev/null
    imp=$(since "$s")
    "$bin" --workspace "$ws" key rotate owner.bench >/dev/null
    s=$(date +%s%N)
    "$bin" --workspace "$ws" --key "$work/owner.pem" -q data rewrap "d$i" \
        >/dev/null
    rew=$(since "$s")
    s=$(date +%s%N)
    "$bin" --workspace "$ws" key rotate k >/dev/null
    rot=$(since "$s")
    s=$(date +%s%N)
    "$bin" --workspace "$ws" key revoke k --version "$i" >/dev/null
    rev=$(since "$s")
    s=$(date +%s%N)
    "$bin" --workspace "$ws" --key "$work/owner.pem" -q data policy set \
        "d$i" "$work/policy.json" >/dev/null
    pol=$(since "$s")
    # principals live in a workspace of their own: once one exists, every
    # command there authenticates
    s=$(date +%s%N)
    "$bin" --workspace "$ws-p" --as admin --key "$work/owner.pem" -q \
        principal add "u$i" --role trainer --signing-key "$work/owner.pub" \
        >/dev/null
    pri=$(since "$s")
    # a job on the admin's dataset there (a job runs for a principal)
    job=$("$bin" --workspace "$ws-p" --as admin --key "$work/owner.pem" -q \
        job submit "$work/spec.json")
    s=$(date +%s%N)
    "$bin" --workspace "$ws-p" --as admin --key "$work/owner.pem" -q \
        job run "$job" >/dev/null
    run=$(since "$s")
    echo "$imp $rew $rot $rev $pol $pri $run" >>"$work/$4"
}
setup() {
    "$1" --workspace "$2" init --protect "file:$work/root-$3.key" >/dev/null
    "$1" --workspace "$2" key create k >/dev/null
    "$1" --workspace "$2-p" init --protect "file:$work/root-$3-p.key" \
        >/dev/null
    "$1" --workspace "$2-p" principal add admin \
        --role admin,data-owner,model-owner,trainer \
        --signing-key "$work/owner.pub" >/dev/null
    "$1" --workspace "$2-p" --as admin --key "$work/owner.pem" -q data \
        import "$work/small.csv" --name jd --label y --owner admin \
        --classification internal >/dev/null
    "$1" --workspace "$2-p" --as admin --key "$work/owner.pem" -q data \
        policy set jd "$work/policy.json" >/dev/null
}
# median of column $2 of file $1 (of $rounds lines)
med() { cut -d' ' -f"$2" "$1" | sort -n | sed -n "$(((rounds + 1) / 2))p"; }

setup "$ours" "$work/ws-ours" ours
[ -z "$base" ] || setup "$base" "$work/ws-base" base
# the two alternate, round by round, so that load on the machine weighs on
# both alike
i=0
while [ "$i" -lt "$rounds" ]; do
    i=$((i + 1))
    round "$ours" "$work/ws-ours" "$i" ours.txt
    [ -z "$base" ] || round "$base" "$work/ws-base" "$i" base.txt
done
if [ -n "$base" ]; then
    printf '%-34s %12s %12s %8s %8s\n' "fixed cost (median of $rounds, ms)" \
        baseline ours ratio target
else
    printf '%-34s %12s\n' "fixed cost (median of $rounds, ms)" ours
fi
col=1
for name in "data import (5000 rows)" "data rewrap" "key rotate" \
    "key revoke" "data policy set" "principal add" "job run (1 epoch)"; do
    o=$(med "$work/ours.txt" "$col")
    if [ -n "$base" ]; then
        b=$(med "$work/base.txt" "$col")
        printf '%-34s %12s %12s %8s %8s\n' "$name" "$b" "$o" \
            "$(awk -v o="$o" -v b="$b" 'BEGIN {printf "%.2f", o / (b ? b : 1)}')" \
            "<= 1.10"
    else
        printf '%-34s %12s\n' "$name" "$o"
    fi
    col=$((col + 1))
done
[ -n "$base" ] ||
    echo "(set ST_BENCH_BASELINE to another build's sealtrain to compare)"
