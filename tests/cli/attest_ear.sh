#!/usr/bin/env bash
# attest_ear.sh: `attest verify --ear` writes the verdict as an EAR
# (draft-ietf-rats-ear) signed EdDSA with the workspace's verifier key, and
# `attest ear-key` exports that key. Interop: Debian's python3-jwt (an
# independent JWT implementation) verifies our tokens with the exported key
# (PEM and JWK) and refuses a tampered one; the claim names are checked
# against the draft's JSON names.
source tests/cli/lib.sh

# Debian's interpreter, where python3-jwt lives (another python3 may come
# first on PATH)
PY=/usr/bin/python3
$PY -c 'import jwt' || fail "python3-jwt missing: scripts/install-deps.sh test"

A=$VECTORS/attestation
R=$A/snp/trustee-milan-vcek-v2
P=$A/sgx/phala-sgx-v3
HELLO=48656c6c6f2c20776f726c6421$(printf '0%.0s' $(seq 1 102))

head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
expect_exit 0 st init --protect "file:$T/root.key"

expect_exit 0 st attest ear-key
cp "$T/stdout" "$T/ear.pem"
grep -q "BEGIN PUBLIC KEY" "$T/ear.pem" || fail "ear-key prints no PEM"
[ "$(stat -c %a "$SEALTRAIN_WORKSPACE/keys/ear-verifier.pem")" = 600 ] ||
    fail "the EAR verifier key is not private"
expect_exit 0 st attest ear-key --jwk
cp "$T/stdout" "$T/ear.jwk"
ok "ear-key exports the verifier key as PEM and JWK; the private key is 0600"

echo '{"version": 1, "tee": ["sgx"], "tcb_status": ["UpToDate", "ConfigurationAndSWHardeningNeeded"]}' >"$T/sgx.json"
expect_exit 0 st attest verify --tee sgx --quote $P/sgx_quote_v3.bin \
    --collateral $P/sgx_quote_collateral.json --at 2025-07-19T10:01:17Z \
    --report-data $HELLO --policy "$T/sgx.json" --ear "$T/pass.jwt"
expect_exit 4 st attest verify --tee snp --report "$R/test-report.bin" \
    --cert "$R/test-vcek.der" --at 2025-01-01T00:00:00Z --nonce 0102030405060708 \
    --ear "$T/fail.jwt"
[ "$(stat -c %a "$T/pass.jwt")" = 644 ] || fail "EAR mode"
ok "verify --ear writes an EAR for a passing and a failing verdict"

$PY - "$T/ear.pem" "$T/ear.jwk" "$T/pass.jwt" "$T/fail.jwt" \
    <<'PY'
import base64, hashlib, json, sys
import jwt
from jwt.algorithms import OKPAlgorithm

pem = open(sys.argv[1], "rb").read()
jwk = json.load(open(sys.argv[2]))
tok_pass = open(sys.argv[3]).read()
tok_fail = open(sys.argv[4]).read()

assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["alg"] == "EdDSA", jwk
# RFC 7638 thumbprint, computed here independently
members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": jwk["x"]},
                     separators=(",", ":"), sort_keys=True).encode()
kid = base64.urlsafe_b64encode(hashlib.sha256(members).digest()).rstrip(b"=").decode()
assert jwk["kid"] == kid, (jwk["kid"], kid)

key_from_jwk = OKPAlgorithm.from_jwk(json.dumps(jwk))
for key in (pem, key_from_jwk):
    c = jwt.decode(tok_pass, key, algorithms=["EdDSA"])
    assert c["eat_profile"] == "tag:github.com,2023:veraison/ear", c
    assert isinstance(c["iat"], int)
    assert c["ear.verifier-id"]["developer"] == "sealtrain", c
    assert c["ear.verifier-id"]["build"].startswith("sealtrain "), c
# 64 bytes of report data do not fit EAT's eat_nonce (10-74 characters in
# JSON): left out, and the bound report data is in the verdict's claims
assert "eat_nonce" not in c, c
assert c["sealtrain.verdict"]["claims"]["report_data"] == (b"Hello, world!" + b"\0" * 51).hex()
h = jwt.get_unverified_header(tok_pass)
assert h["alg"] == "EdDSA" and h["kid"] == kid and h["typ"] == "JWT", h

TV = {"instance-identity", "configuration", "executables", "file-system",
      "hardware", "runtime-opaque", "storage-opaque", "sourced-data"}
STATUS = {"affirming", "warning", "contraindicated", "none"}
assert list(c["submods"]) == ["sgx"], c["submods"]
sgx = c["submods"]["sgx"]
assert set(sgx) == {"ear.status", "ear.trustworthiness-vector",
                    "ear.appraisal-policy-id"}, sgx
assert sgx["ear.status"] == "affirming"
tv = sgx["ear.trustworthiness-vector"]
assert set(tv) <= TV, tv
# accepted by the policy, but ConfigurationAndSWHardeningNeeded: warning tier
assert tv["hardware"] == 32 and tv["instance-identity"] == 2, tv
assert sgx["ear.appraisal-policy-id"].startswith("sha-256:"), sgx
v = c["sealtrain.verdict"]
assert v["pass"] is True and v["reason"] == "pass", v
assert v["claims"]["tcb_status"] == "ConfigurationAndSWHardeningNeeded"
assert v["collateral_digest"].startswith("sha-256:"), v

f = jwt.decode(tok_fail, pem, algorithms=["EdDSA"])
assert f["sealtrain.verdict"]["pass"] is False
assert f["sealtrain.verdict"]["reason"].startswith("report_data"), f
for name, sub in f["submods"].items():
    assert sub["ear.status"] in STATUS
    assert sub["ear.status"] == "contraindicated", (name, sub)
    assert sub["ear.appraisal-policy-id"] == "sealtrain:default-policy"
assert f["submods"]["snp"]["ear.trustworthiness-vector"]["instance-identity"] == 96
assert base64.urlsafe_b64decode(f["eat_nonce"] + "==") == bytes.fromhex("0102030405060708")

# a changed payload byte or another key: refused by the independent library
hdr, body, sig = tok_pass.split(".")
claims = json.loads(base64.urlsafe_b64decode(body + "=="))
claims["sealtrain.verdict"]["pass"] = False
forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
for bad in (f"{hdr}.{forged}.{sig}",):
    try:
        jwt.decode(bad, pem, algorithms=["EdDSA"])
        raise SystemExit("a tampered EAR verified")
    except jwt.InvalidSignatureError:
        pass
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
other = Ed25519PrivateKey.generate().public_key()
try:
    jwt.decode(tok_pass, other, algorithms=["EdDSA"])
    raise SystemExit("an EAR verified with another key")
except jwt.InvalidSignatureError:
    pass
PY
ok "python3-jwt verifies our EARs with the exported PEM and JWK; claim names as in the draft"

expect_exit 2 st attest verify --tee snp --report "$R/test-report.bin" \
    --cert "$R/test-vcek.der" --ear "$T/a.jwt" --ear "$T/b.jwt"
expect_stderr "--ear given twice"
ok "--ear given twice is a usage error"
