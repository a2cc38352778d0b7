#!/usr/bin/env bash
# Data conveniences (issue 14): gzip-compressed CSV and IDX imported as
# they are, scikit-learn's bundled tables in their own layout, and `data
# show` printing the feature names and, for whoever holds an identity
# that opens the dataset, the label mapping (original label -> class).
. tests/cli/lib.sh
. tests/job_lib.sh
SK=/usr/lib/python3/dist-packages/sklearn/datasets/data
imp() {
    local file=$1 name=$2
    shift 2
    dana data import "$file" --name "$name" --owner dana \
        --classification internal --recipient "$DANA_RCPT" "$@"
}

# ---- gzip ----
gzip -c examples/data/digits.csv >"$T/digits.csv.gz"
expect_exit 0 imp examples/data/digits.csv plain --label label
expect_exit 0 imp "$T/digits.csv.gz" packed --label label
p=$(dana data show plain --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["envelope"]["payload"])' | base64 -d |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["plaintext"]["sha256"])')
z=$(dana data show packed --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["envelope"]["payload"])' | base64 -d |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["plaintext"]["sha256"])')
[ -n "$p" ] && [ "$p" = "$z" ] || fail "digits.csv.gz gave another tensor ($z, plain $p)"
ok "a gzip-compressed CSV imports to the same tensor as the plain file"

# a tiny Fashion-MNIST-like pair, gzip-compressed as Debian ships it
python3 - "$T" <<'PY'
import gzip, struct, sys
d = sys.argv[1]
imgs = bytes([0, 0, 8, 3]) + struct.pack(">III", 6, 2, 3) + bytes(range(36))
labs = bytes([0, 0, 8, 1]) + struct.pack(">I", 6) + bytes([9, 0, 0, 3, 9, 2])
gzip.open(d + "/train-images-idx3-ubyte.gz", "wb").write(imgs)
gzip.open(d + "/train-labels-idx1-ubyte.gz", "wb").write(labs)
gzip.open(d + "/long-images-idx3-ubyte.gz", "wb").write(imgs + b"\0")
open(d + "/cut-images-idx3-ubyte.gz", "wb").write(gzip.compress(imgs)[:-12])
PY
expect_exit 0 imp "$T/train-images-idx3-ubyte.gz" fashion --label "$T/train-labels-idx1-ubyte.gz"
expect_stdout "6 rows, 6 features, 10 classes"
expect_exit 3 imp "$T/long-images-idx3-ubyte.gz" long --label "$T/train-labels-idx1-ubyte.gz"
expect_stderr "IDX size mismatch: bytes after the 6 items"
expect_exit 3 imp "$T/cut-images-idx3-ubyte.gz" cut --label "$T/train-labels-idx1-ubyte.gz"
expect_stderr "truncated gzip data"
expect_exit 3 dana data show long
expect_stderr "no dataset named"
ok "gzip-compressed IDX images and labels import directly; a size mismatch or a cut file is refused, nothing registered"

# ---- scikit-learn's layout ----
if [ -f "$SK/breast_cancer.csv" ]; then
    expect_exit 3 imp "$SK/breast_cancer.csv" bc --label label
    expect_stderr "scikit-learn's layout (a first line of counts: 569 rows, 30 features, 2 class names)"
    expect_stderr "--label target"
    expect_exit 0 imp "$SK/breast_cancer.csv" bc --label target
    expect_stdout "569 rows, 30 features, 2 classes"
    expect_exit 0 dana data show bc --identity "$K/dana.age"
    expect_stdout "features         feature_0, feature_1"
    expect_stdout '"malignant" -> 0'
    expect_stdout '"benign" -> 1'
    ok "scikit-learn's breast_cancer.csv: explained, then read with its class names"
else
    ok "SKIP: python3-sklearn's tables are not installed ($SK)"
fi

# ---- data show: feature names, and the mapping only with an identity ----
printf 'width,height,kind\n1,2,M\n3,4,B\n5,6,M\n7,8,\033]0;owned\007\n' >"$T/kinds.csv"
expect_exit 0 imp "$T/kinds.csv" kinds --label kind
expect_exit 0 dana data show kinds
expect_stdout "features         width, height"
expect_stdout "labels sorted"
grep -q -- "->" "$T/stdout" && fail "the label texts were shown without an identity"
expect_exit 0 dana data show kinds --identity "$K/dana.age"
expect_stdout '"B" -> 1'
expect_stdout '"M" -> 2'
expect_stdout '"\x1b]0;owned\x07" -> 0'
grep -q $'\033' "$T/stdout" && fail "a raw escape sequence from a label reached the terminal"
expect_exit 0 dana data show kinds --identity "$K/dana.age" --json
python3 - "$T/stdout" <<'PY' || fail "data show --json lacks the mapping"
import json, sys
j = json.load(open(sys.argv[1]))
assert {e["label"]: e["class"] for e in j["labels"]} == {"B": 1, "M": 2, "\x1b]0;owned\x07": 0}, j["labels"]
PY
# another principal with a read grant sees the manifest, and without an
# identity that opens the dataset, no label text
dana principal grant mo dataset:kinds read >/dev/null
expect_exit 0 mo data show kinds
expect_exit 4 mo data show kinds --identity "$K/mo.age"
expect_stderr "no matching recipient"
grep -q '"B"\|"M"' "$T/stdout" && fail "label texts shown to an identity that does not open the dataset"
ok "data show: feature names always; the label mapping only with an identity that opens the dataset, escaped"
