#!/usr/bin/env bash
# Canary: a unique string planted in a dataset (its class names, which
# travel only inside the encrypted tensor) and the dataset's first rows as
# float32 (the decrypted form the runtime trains on) are found, after a
# full secure job, nowhere in plaintext: not in the workspace (catalog,
# blobs, jobs, models, audit log, logs), not in new files under /tmp, not
# in the job's output or anything `job run`/`job status` printed.
. tests/cli/lib.sh
touch "$T/start"
. tests/job_lib.sh
CANARY="canary-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
mkdir -p "$T/src"
python3 - "$CANARY" "$T/src/digits.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open("examples/data/digits.csv")))
out = csv.writer(open(sys.argv[2], "w", newline=""))
out.writerow(rows[0])
for r in rows[1:]:
    out.writerow(r[:-1] + [f"{sys.argv[1]}-{r[-1]}"])
PY
import_digits "$T/src/digits.csv"
policy sim
spec
expect_exit 0 mo job run "$SPEC"
cp "$T/stdout" "$T/run.out"
ID=$(awk '/^job /{print $2; exit}' "$T/run.out")
mo job status "$ID" --json >"$T/status.out"
mo job logs "$ID" >"$T/logs.out"
MODEL=$(job_field "$ID" 'j["status"]["result"]["model_path"]')
[ -f "$MODEL" ] || fail "no model"
ok "a full job ran on the canary dataset"

# control: the data owner's own decryption of the dataset holds every
# needle, so the search below can find them
age -d -i "$K/dana.age" -o "$T/src/plain.bin" "$(ls "$T"/ws/datasets/*.age | head -n1)"
python3 - "$CANARY" "$T/src/plain.bin" <<'PY' || fail "control: needles not in the plaintext"
import struct, sys
data = open(sys.argv[2], "rb").read()
assert sys.argv[1].encode() in data
rows = [l.rstrip("\n").split(",") for l in open("examples/data/digits.csv")][1:4]
for r in rows:
    assert b"".join(struct.pack("<f", float(v)) for v in r[:-1]) in data
PY

python3 - "$CANARY" "$T" <<'PY' || fail "plaintext found"
import os, struct, sys
canary = sys.argv[1].encode()
T = sys.argv[2]
# the first three rows of features as the runtime holds them (float32)
rows = [l.rstrip("\n").split(",") for l in open("examples/data/digits.csv")][1:4]
needles = [canary] + [b"".join(struct.pack("<f", float(v)) for v in r[:-1])
                      for r in rows]
start = os.path.getmtime(os.path.join(T, "start"))
# T may itself be under /tmp (a CI checkout there): search it once, less
# the data owner's own plaintext input and control copy in T/src, and
# leave the other tests' directories beside it (run in parallel, some
# hold their own decrypted copies of digits) to those tests
def under(root, base):
    r = os.path.realpath(root)
    return r == base or r.startswith(base + os.sep)
src = os.path.realpath(os.path.join(T, "src"))
tests = os.path.dirname(os.path.realpath(T))
paths = []
for root, dirs, files in os.walk(T):
    if not under(root, src):
        paths += [os.path.join(root, f) for f in files]
for root, dirs, files in os.walk("/tmp"):
    if under(root, tests):
        continue
    for f in files:
        p = os.path.join(root, f)
        try:
            if os.path.isfile(p) and os.path.getmtime(p) >= start:
                paths.append(p)
        except OSError:
            pass
bad = []
for p in paths:
    try:
        data = open(p, "rb").read()
    except OSError:
        continue
    for i, n in enumerate(needles):
        if n in data:
            bad.append((p, "canary" if i == 0 else f"row {i - 1} as float32"))
for b in bad:
    print("FOUND", *b)
print(f"searched {len(paths)} files")
sys.exit(1 if bad else 0)
PY
ok "neither the canary nor decrypted rows are anywhere in plaintext"
