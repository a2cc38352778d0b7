#!/bin/sh
# bench/txn.sh BUILD_DIR: the fixed cost of the commands that change a
# workspace (small `data import`, `data rewrap`, `key rotate`), which the
# transaction work (src/audit/outbox.c: a change and its audit entry in
# one catalog commit) must not make dearer: target <= 1.1x. Side by side
# with another build of sealtrain when ST_BENCH_BASELINE names its binary
# (for example main's build/default/sealtrain); otherwise ours alone.
# Median of 7 runs each, wall time, fresh workspaces on the same disk.
set -eu
build=$(cd "$1" && pwd)
ours="$build/sealtrain"
base=${ST_BENCH_BASELINE:-}
work=$(mktemp -d "$build/txn-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
openssl genpkey -algorithm ed25519 -out "$work/owner.pem" 2>/dev/null
python3 - "$work/small.csv" <<'EOF'
import random, sys
random.seed(3)
with open(sys.argv[1], "w") as f:
    f.write(",".join("f%d" % i for i in range(8)) + ",y\n")
    for r in range(5000):
        f.write(",".join("%.3f" % random.random() for _ in range(8)))
        f.write(",%d\n" % (r % 3))
EOF

# one round on binary $1, workspace $2: appends "import rewrap rotate" ms
round() {
    bin=$1 ws=$2 i=$3
    s=$(date +%s%N)
    "$bin" --workspace "$ws" --key "$work/owner.pem" -q data import \
        "$work/small.csv" --name "d$i" --label y --owner bench \
        --classification internal >/dev/null
    e=$(date +%s%N)
    imp=$(((e - s) / 1000000))
    "$bin" --workspace "$ws" key rotate owner.bench >/dev/null
    s=$(date +%s%N)
    "$bin" --workspace "$ws" --key "$work/owner.pem" -q data rewrap "d$i" \
        >/dev/null
    e=$(date +%s%N)
    rew=$(((e - s) / 1000000))
    s=$(date +%s%N)
    "$bin" --workspace "$ws" key rotate k >/dev/null
    e=$(date +%s%N)
    echo "$imp $rew $(((e - s) / 1000000))" >>"$work/$4"
}
setup() {
    "$1" --workspace "$2" init --protect "file:$work/root-$3.key" >/dev/null
    "$1" --workspace "$2" key create k >/dev/null
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
oi=$(med "$work/ours.txt" 1) orw=$(med "$work/ours.txt" 2)
ort=$(med "$work/ours.txt" 3)
if [ -n "$base" ]; then
    bi=$(med "$work/base.txt" 1) brw=$(med "$work/base.txt" 2)
    brt=$(med "$work/base.txt" 3)
    printf '%-34s %12s %12s %8s %8s\n' "fixed cost (median of 7, ms)" \
        baseline ours ratio target
    for row in "data import (5000 rows):$bi:$oi" "data rewrap:$brw:$orw" \
        "key rotate:$brt:$ort"; do
        name=${row%%:*} rest=${row#*:}
        b=${rest%%:*} o=${rest#*:}
        printf '%-34s %12s %12s %8s %8s\n' "$name" "$b" "$o" \
            "$(awk -v o="$o" -v b="$b" 'BEGIN {printf "%.2f", o / (b ? b : 1)}')" \
            "<= 1.10"
    done
else
    printf '%-34s %12s\n' "fixed cost (median of 7, ms)" ours
    printf '%-34s %12s\n' "data import (5000 rows)" "$oi" "data rewrap" \
        "$orw" "key rotate" "$ort"
    echo "(set ST_BENCH_BASELINE to another build's sealtrain to compare)"
fi
