#!/bin/sh
# verify-provenance.sh PROVENANCE.json MODEL.age: checks a sealtrain
# provenance envelope with standard tools only (python3 for JSON/base64,
# OpenSSL for Ed25519, coreutils for SHA-256), so that anyone can check a
# model without sealtrain:
#   1. the DSSE envelope's payload type is in-toto's;
#   2. the in-toto Statement v1 subject digest equals sha256(MODEL.age);
#   3. the DSSE signature over PAE(type, payload) verifies under the
#      runtime's Ed25519 key named in the statement.
# What this does not check: that this Ed25519 key is the one the TEE's
# attestation evidence bound to the job (`sealtrain model verify` does,
# with the evidence kept in the workspace). Exit 0 when all checks pass.
set -eu
prov=$1
model=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$prov" "$tmp" <<'PY'
import base64, json, sys
env = json.load(open(sys.argv[1]))
out = sys.argv[2]
ptype = env["payloadType"]
if ptype != "application/vnd.in-toto+json":
    sys.exit("payload type is %r, not in-toto" % ptype)
body = base64.b64decode(env["payload"], validate=True)
st = json.loads(body)
if st.get("_type") != "https://in-toto.io/Statement/v1":
    sys.exit("not an in-toto Statement v1")
# DSSE v1 pre-authentication encoding
pae = b"DSSEv1 %d %s %d " % (len(ptype), ptype.encode(), len(body)) + body
open(out + "/pae", "wb").write(pae)
open(out + "/sig", "wb").write(base64.b64decode(env["signatures"][0]["sig"]))
open(out + "/subject", "w").write(st["subject"][0]["digest"]["sha256"])
key = bytes.fromhex(st["predicate"]["runtime"]["ed25519"])
# SubjectPublicKeyInfo for Ed25519 (RFC 8410): fixed prefix + 32 bytes
spki = bytes.fromhex("302a300506032b6570032100") + key
open(out + "/pub.der", "wb").write(spki)
PY

want=$(cat "$tmp/subject")
got=$(sha256sum "$model" | cut -d' ' -f1)
if [ "$want" != "$got" ]; then
    echo "subject digest $want does not match sha256($model) = $got" >&2
    exit 1
fi
echo "subject digest matches the model file: sha256:$got"
openssl pkey -pubin -inform DER -in "$tmp/pub.der" -out "$tmp/pub.pem"
if ! openssl pkeyutl -verify -pubin -inkey "$tmp/pub.pem" -rawin \
    -in "$tmp/pae" -sigfile "$tmp/sig" >/dev/null; then
    echo "the DSSE signature does not verify" >&2
    exit 1
fi
echo "DSSE signature verifies under the runtime's Ed25519 key (openssl)"
