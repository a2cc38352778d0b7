#!/usr/bin/env bash
# `sealtrain data`: import of the bundled digits set, list/show/verify,
# recovery of the plaintext with the stock `age` tool and the owner's
# identity, rewrap after a KEK rotation, re-encryption, validation errors
# that write nothing, tampering caught by verify, a canary label that is
# nowhere in clear in the workspace, and rm.
. tests/cli/lib.sh

expect_exit 0 st init --protect "file:$T/root.key"
openssl genpkey -algorithm ed25519 -out "$T/alice.pem" 2>/dev/null
age-keygen -o "$T/alice.age" 2>/dev/null
RCPT=$(age-keygen -y "$T/alice.age")
export SEALTRAIN_KEY=$T/alice.pem

expect_exit 0 st data import examples/data/digits.csv --name digits \
    --label label --owner alice --classification confidential \
    --retention-days 365 --recipient "$RCPT"
expect_stdout "imported dataset digits: 1797 rows, 64 features, 10 classes"
expect_stdout "KEK owner.alice v1"
ok "import the digits set"

expect_exit 0 st data list
expect_stdout "digits"
expect_exit 0 st data show digits
expect_stdout "signature        ok"
expect_stdout "owner.alice version 1"
expect_stdout "365 days"
expect_exit 0 st data verify digits
expect_stdout "dataset digits verified"
expect_exit 0 st data verify --deep digits
expect_stdout "plaintext   ok"
ok "list, show, verify and deep verify"

# the owner recovers the tensor with the stock age tool
expect_exit 0 st data show digits --json
FILE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["path"])' "$T/stdout")
WANT=$(python3 -c '
import json,sys,base64
e=json.load(open(sys.argv[1]))["envelope"]
m=json.loads(base64.b64decode(e["payload"]))
print(m["plaintext"]["sha256"])' "$T/stdout")
age -d -i "$T/alice.age" "$FILE" >"$T/plain.bin"
[ "$(sha256sum <"$T/plain.bin" | cut -d' ' -f1)" = "$WANT" ] ||
    fail "age -d output does not match the manifest's plaintext hash"
head -c 8 "$T/plain.bin" | grep -q STTENSOR || fail "no tensor magic"
rm -f "$T/plain.bin"
ok "stock age decrypts with the owner's identity to the signed plaintext"

expect_exit 0 st key rotate owner.alice
expect_exit 0 st data rewrap digits
expect_stdout "rewrapped to the current KEK version"
expect_exit 0 st data show digits
expect_stdout "owner.alice version 2"
expect_exit 0 st data rewrap --all
expect_stdout "digits: already at the current KEK version"
expect_exit 0 st data verify --deep digits
ok "rewrap moves the stanza to the current KEK version"

expect_exit 0 st data reencrypt digits
expect_stdout "re-encrypted dataset digits"
expect_exit 0 st data verify --deep digits
ok "reencrypt"

# validation errors name the place and write nothing
printf 'a,b,label\n1,2,0\n3,oops,1\n' >"$T/bad.csv"
before=$(ls -A "$T/ws/datasets" | sort)
expect_exit 3 st data import "$T/bad.csv" --name bad --label label \
    --owner alice --classification internal
expect_stderr "bad.csv:3:2: column \"b\": expected a number, found \"oops\""
[ "$(ls -A "$T/ws/datasets" | sort)" = "$before" ] || fail "files written"
expect_exit 3 st data show bad
printf 'a,a,label\n1,2,0\n' >"$T/dup.csv"
expect_exit 3 st data import "$T/dup.csv" --name dup --label label \
    --owner alice --classification internal
expect_stderr "duplicate header name \"a\""
expect_exit 3 st data import examples/data/digits.csv --name digits \
    --label label --owner alice --classification internal
expect_stderr "exists"
expect_exit 2 st data import examples/data/digits.csv --name x --label label \
    --owner alice --classification secret
ok "invalid input and duplicate names are refused, nothing written"

# tampering with the encrypted file is caught without a key
expect_exit 0 st data show digits --json
FILE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["path"])' "$T/stdout")
cp "$FILE" "$T/orig.age"
python3 -c '
import sys
p=sys.argv[1]; d=bytearray(open(p,"rb").read()); d[-100]^=1
open(p,"wb").write(d)' "$FILE"
expect_exit 4 st data verify digits
expect_stderr "does not match the digest in its signed manifest"
cp "$T/orig.age" "$FILE"
expect_exit 0 st data verify digits
ok "a flipped byte fails verification"

# a canary label never appears in clear in the workspace
python3 - "$T/canary.csv" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("x1,x2,kind\n")
    for i in range(3000):
        f.write("%d,%d.5,%s\n" % (i, i % 7, "CANARY-5f1e9a-cat" if i % 3 else "CANARY-5f1e9a-dog"))
EOF
expect_exit 0 st data import "$T/canary.csv" --name pets --label kind \
    --owner alice --classification restricted
expect_stdout "2 classes"
if grep -r -a -l "CANARY-5f1e9a" "$T/ws"; then
    fail "the canary is in clear in the workspace"
fi
expect_exit 0 st data verify --deep pets
ok "canary labels are nowhere in clear in the workspace"

# rm: key record first, then the file
expect_exit 0 st data show pets --json
FILE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["path"])' "$T/stdout")
expect_exit 0 st data rm pets
expect_stdout "removed dataset pets"
[ -e "$FILE" ] && fail "the file is still there"
expect_exit 3 st data show pets
expect_exit 3 st data rm pets
expect_exit 0 st data list
grep -q pets "$T/stdout" && fail "pets still listed"
ok "rm removes the dataset"

# LIBSVM and IDX through the CLI (format from the file name)
printf '+1 1:0.5 3:2\n-1 2:-1 # note\n+1 3:7\n' >"$T/small.svm"
expect_exit 0 st data import "$T/small.svm" --name svm --owner alice \
    --classification public
expect_stdout "3 rows, 3 features, 2 classes"
python3 -c '
import struct, sys
d = sys.argv[1]
with open(d + "/img-ubyte", "wb") as f:
    f.write(b"\0\0\x08\x03" + struct.pack(">III", 5, 2, 3) + bytes(range(30)))
with open(d + "/lab.idx", "wb") as f:
    f.write(b"\0\0\x08\x01" + struct.pack(">I", 5) + bytes([1, 0, 4, 4, 2]))
with open(d + "/short.idx", "wb") as f:
    f.write(b"\0\0\x08\x01" + struct.pack(">I", 4) + bytes([1, 2, 3, 4]))
' "$T"
expect_exit 0 st data import "$T/img-ubyte" --label "$T/lab.idx" --name mn \
    --owner alice --classification public
expect_stdout "5 rows, 6 features, 5 classes"
expect_exit 0 st data verify --deep mn
expect_exit 3 st data import "$T/img-ubyte" --label "$T/short.idx" \
    --name mn2 --owner alice --classification public
expect_stderr "4 labels for 5 items"
ok "LIBSVM and IDX imports"

expect_exit 0 st data --help
expect_stdout "crypto-shred"
expect_exit 2 st data frobnicate
ok "help and usage"
