#!/bin/sh
# bench/txn.sh BUILD_DIR: the fixed cost of the commands that change a
# workspace (small `data import`, `data rewrap`, `key rotate`, `key
# revoke`, `data policy set`, `principal add`), which the transaction work
# (src/audit/outbox.c: a change and its audit entry in one catalog
# commit) must not make dearer: target <= 1.1x. Side by side with another
# build of sealtrain when ST_BENCH_BASELINE names its binary (for example
# main's build/default/sealtrain); otherwise ours alone. Median of 7 runs
# each, wall time, fresh workspaces on the same disk.
set -eu
build=$(cd "$1" && pwd)
ours="$build/sealtrain"
base=${ST_BENCH_BASELINE:-}
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

# ms since $1 (date +%s%N)
since() { echo $((($(date +%s%N) - $1) / 1000000)); }
# one round on binary $1, workspace $2: appends "import rewrap rotate
# revoke policy principal" ms to $work/$4
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
    echo "$imp $rew $rot $rev $pol $pri" >>"$work/$4"
}
setup() {
    "$1" --workspace "$2" init --protect "file:$work/root-$3.key" >/dev/null
    "$1" --workspace "$2" key create k >/dev/null
    "$1" --workspace "$2-p" init --protect "file:$work/root-$3-p.key" \
        >/dev/null
    "$1" --workspace "$2-p" principal add admin --role admin \
        --signing-key "$work/owner.pub" >/dev/null
}
# median of column $2 of file $1
med() { cut -d' ' -f"$2" "$1" | sort -n | sed -n 4p; }

setup "$ours" "$work/ws-ours" ours
[ -z "$base" ] || setup "$base" "$work/ws-base" base
# the two alternate, round by round, so that load on the machine weighs on
# both alike
for i in 1 2 3 4 5 6 7; do
    round "$ours" "$work/ws-ours" "$i" ours.txt
    [ -z "$base" ] || round "$base" "$work/ws-base" "$i" base.txt
done
if [ -n "$base" ]; then
    printf '%-34s %12s %12s %8s %8s\n' "fixed cost (median of 7, ms)" \
        baseline ours ratio target
else
    printf '%-34s %12s\n' "fixed cost (median of 7, ms)" ours
fi
col=1
for name in "data import (5000 rows)" "data rewrap" "key rotate" \
    "key revoke" "data policy set" "principal add"; do
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
