#!/usr/bin/env bash
# `sealtrain identity new`: the age identity works with Debian's stock age
# CLI in both directions, the Ed25519 PEM is what OpenSSL reads, secrets
# are 0600 and never printed, and existing files are never overwritten.
. tests/cli/lib.sh
command -v age >/dev/null || fail "age is not installed (scripts/install-deps.sh)"

mkdir "$T/ids"
expect_exit 0 st identity new alice --out "$T/ids"
grep -q AGE-SECRET-KEY "$T/stdout" && fail "the secret key was printed"
grep -q "PRIVATE KEY" "$T/stdout" && fail "the signing key was printed"
recipient=$(sed -n 's/^age recipient: //p' "$T/stdout")
[[ $recipient == age1* ]] || fail "no recipient printed"
ok "prints only the public halves"

# age-keygen's layout, line by line
sed -n 1p "$T/ids/alice.age" | grep -Eq '^# created: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' ||
    fail "line 1 is not '# created: ...'"
[ "$(sed -n 2p "$T/ids/alice.age")" = "# public key: $recipient" ] ||
    fail "line 2 is not '# public key: $recipient'"
sed -n 3p "$T/ids/alice.age" | grep -Eq '^AGE-SECRET-KEY-1[0-9A-Z]{58}$' ||
    fail "line 3 is not an AGE-SECRET-KEY"
[ "$(wc -l <"$T/ids/alice.age")" -eq 3 ] || fail "extra lines"
[ "$(age-keygen -y "$T/ids/alice.age")" = "$recipient" ] ||
    fail "age-keygen -y derives another recipient"
for f in alice.age alice.pem; do
    [ "$(stat -c %a "$T/ids/$f")" = 600 ] || fail "$f is not 0600"
done
ok "the age identity has age-keygen's format and mode 0600"

head -c 100000 /dev/urandom >"$T/plain"
age -r "$recipient" -o "$T/enc.age" "$T/plain"
age -d -i "$T/ids/alice.age" -o "$T/dec" "$T/enc.age"
cmp "$T/plain" "$T/dec" || fail "round trip through age differs"
ok "a file encrypted by age -r <recipient> decrypts with age -d -i NAME.age"

openssl pkey -in "$T/ids/alice.pem" -noout -text | grep -q "ED25519 Private-Key" ||
    fail "NAME.pem is not an Ed25519 private key"
openssl pkey -in "$T/ids/alice.pem" -pubout | cmp - "$T/ids/alice.pub.pem" ||
    fail "NAME.pub.pem is not the public half of NAME.pem"
echo "signed text" >"$T/msg"
openssl pkeyutl -sign -inkey "$T/ids/alice.pem" -rawin -in "$T/msg" -out "$T/sig"
openssl pkeyutl -verify -pubin -inkey "$T/ids/alice.pub.pem" -rawin \
    -in "$T/msg" -sigfile "$T/sig" >/dev/null || fail "signature does not verify"
ok "the Ed25519 key pair is PKCS#8/SPKI PEM that OpenSSL signs and verifies with"

before=$(sha256sum "$T/ids/alice.age")
expect_exit 3 st identity new alice --out "$T/ids"
expect_stderr "already exists"
[ "$(sha256sum "$T/ids/alice.age")" = "$before" ] || fail "an identity was overwritten"
expect_exit 2 st identity new ../evil --out "$T/ids"
expect_exit 2 st identity new bob
expect_stderr "needs --out"
expect_exit 0 st identity new bob --out "$T/ids" --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["age_recipient"].startswith("age1") and len(j["ed25519_keyid"])==64' "$T/stdout"
ok "no overwriting, names checked, --json output"
