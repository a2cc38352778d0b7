#!/bin/sh
# bench/import.sh BUILD_DIR: `sealtrain data import` of a 1 GiB CSV (two
# passes: validate, then convert + encrypt + sign), its throughput and its
# peak RSS (getrusage via /usr/bin/time -v), next to the `age` CLI
# encrypting the same bytes without parsing them (a floor for the I/O and
# cipher cost). Target: peak RSS under 128 MiB. The CSV (20 float features
# and a class label per row) is generated under BUILD_DIR and removed after.
set -eu
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
st="$build/sealtrain"
size_mb=${ST_IMPORT_MB:-1024}
work=$(mktemp -d "$build/import-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

python3 - "$work/big.csv" "$size_mb" <<'EOF'
import random, sys
random.seed(1)
path, mb = sys.argv[1], int(sys.argv[2])
rows = ["".join("%.4f," % random.uniform(-50, 50) for _ in range(20))
        for _ in range(4096)]
with open(path, "w") as f:
    f.write(",".join("f%d" % i for i in range(20)) + ",label\n")
    target, written, i = mb << 20, 0, 0
    while written < target:
        block = "".join(rows[(i + k) % 4096] + "%d\n" % ((i + k) % 10)
                        for k in range(4096))
        f.write(block)
        written += len(block)
        i += 4096
EOF
bytes=$(stat -c %s "$work/big.csv")
mb=$(awk -v b="$bytes" 'BEGIN {printf "%.0f", b / 1048576}')

export SEALTRAIN_WORKSPACE="$work/ws"
"$st" init --protect "file:$work/root.key" >/dev/null
openssl genpkey -algorithm ed25519 -out "$work/owner.pem" 2>/dev/null

/usr/bin/time -v -o "$work/time.txt" "$st" --key "$work/owner.pem" -q \
    data import "$work/big.csv" --name big --label label --owner bench \
    --classification internal >/dev/null
secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0;
    for (i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time.txt")
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
rows=$("$st" data show big | awk '/^schema/ {print $2}')
"$st" data verify big >/dev/null

age_secs="-"
if command -v age >/dev/null 2>&1; then
    age-keygen -o "$work/id.txt" 2>/dev/null
    r=$(age-keygen -y "$work/id.txt")
    /usr/bin/time -v -o "$work/age.txt" age -r "$r" -o "$work/big.csv.age" \
        "$work/big.csv"
    age_secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0;
        for (i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/age.txt")
    age_rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' \
        "$work/age.txt")
fi

printf '%-34s %10s %10s %14s %12s\n' "1 GiB CSV import ($mb MiB, $rows rows)" \
    seconds "MB/s" "peak RSS MiB" "target"
printf '%-34s %10.1f %10.1f %14.1f %12s\n' "sealtrain data import" "$secs" \
    "$(awk -v b="$bytes" -v s="$secs" 'BEGIN {print b / 1e6 / s}')" \
    "$(awk -v k="$rss_kb" 'BEGIN {print k / 1024}')" "RSS < 128"
if [ "$age_secs" != "-" ]; then
    printf '%-34s %10.1f %10.1f %14.1f %12s\n' "age -e (same bytes, no parsing)" \
        "$age_secs" \
        "$(awk -v b="$bytes" -v s="$age_secs" 'BEGIN {print b / 1e6 / s}')" \
        "$(awk -v k="$age_rss" 'BEGIN {print k / 1024}')" "-"
fi
awk -v k="$rss_kb" 'BEGIN {exit !(k / 1024 < 128)}' &&
    echo "peak RSS target met" || echo "peak RSS target MISSED"
