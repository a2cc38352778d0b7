#!/usr/bin/env bash
# attest_collateral.sh: offline collateral bundles (issue 16): `attest
# collateral import|list|show|rm`, the verifier taking from a bundle what
# the evidence does not carry (and naming the document in the trace), a
# bundle being a cache and never a trust anchor, stale collateral, and
# the attackers: a principal who is not an admin, a signature that does
# not verify, a disabled signer. Bundles are built from the real vectors
# in ../shared/testvectors/attestation with scripts/collateral-bundle.py,
# at times that make that collateral current.
. tests/cli/lib.sh

A=$VECTORS/attestation
G=$A/snp/gsg-milan-vcek-v2
R=$A/snp/trustee-milan-vcek-v2
X=$A/tdx/gtg-spr-e4-v4
TQ=$A/tdx/trustee-tdx-quotes
P=$A/sgx/phala-sgx-v3
RD4=7c71fe2c86eff65a7cf8dbc22b3275689fd0464a267baced1bf94fc1324656aeb755da3d44d098c0c87382f3a5f85b45c8a28fee1d3bdb38342bf96671501429
HELLO=48656c6c6f2c20776f726c6421$(printf '0%.0s' $(seq 1 102))
BUNDLE="python3 scripts/collateral-bundle.py"

K=$T/keys
mkdir -p "$K"
st init --protect "file:$T/root.key" >/dev/null
for p in root eve dana; do st identity new "$p" --out "$K" >/dev/null 2>&1; done
st principal add root --role admin --signing-key "$K/root.pub.pem" >/dev/null
root() { st --as root --key "$K/root.pem" "$@"; }
eve() { st --as eve --key "$K/eve.pem" "$@"; }
dana() { st --as dana --key "$K/dana.pem" "$@"; }
root principal add eve --role admin --signing-key "$K/eve.pub.pem" >/dev/null
root principal add dana --role data-owner --signing-key "$K/dana.pub.pem" >/dev/null

$BUNDLE -o "$T/snp.json" amd.vcek="$G/vcek.der" amd.chain="$G/ask_ark_milan.pem" \
    amd.vcek="$R/test-vcek.der"
$BUNDLE -o "$T/intel.json" intel.tcb_info="$X/tcbinfo_fmspc_50806f000000.json" \
    intel.qe_identity="$X/qe_identity_td_qe.json" \
    intel.tcb_chain="$X/tcb_signing_chain_2018-2025.pem" \
    intel.root_ca_crl="$X/root_crl.der" intel.pck_crl="$X/pck_platform_crl.der" \
    intel.qvl="$P/sgx_quote_collateral.json"
LOG=$T/ws/audit/log.jsonl

# ---- attackers first ----
expect_exit 4 dana attest collateral import "$T/snp.json"
expect_stderr "attest.collateral"
[ -z "$(ls "$T/ws/collateral" 2>/dev/null)" ] || fail "a file was stored"
ok "a data owner (valid key, not an admin) cannot import a bundle"

# an envelope whose signature does not verify: eve's signature over a
# bundle, with one document changed after signing
eve attest collateral import "$T/snp.json" >/dev/null
ENV=$(ls "$T"/ws/collateral/*.dsse.json)
python3 - "$ENV" "$T/forged.json" <<'PY'
import base64, json, sys
e = json.load(open(sys.argv[1]))
b = json.loads(base64.b64decode(e["payload"]))
b["documents"] = b["documents"][:1]
e["payload"] = base64.b64encode(json.dumps(b).encode()).decode()
json.dump(e, open(sys.argv[2], "w"))
PY
expect_exit 4 root attest collateral import "$T/forged.json"
expect_stderr "not a collateral bundle signed by a registered principal"
ok "an envelope whose signature does not verify is refused"

# the stored envelope edited in the workspace: refused at use, named
cp "$ENV" "$T/eve-envelope.json"
python3 - "$ENV" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
s = bytearray(e["signatures"][0]["sig"].encode())
s[5] = ord("A") if s[5] != ord("A") else ord("B")
e["signatures"][0]["sig"] = s.decode()
json.dump(e, open(sys.argv[1], "w"))
PY
expect_exit 4 st attest verify --tee snp --report "$G/attestation.bin" \
    --at 2022-09-24T01:00:00Z
expect_stderr "not signed by \"eve\""
cp "$T/eve-envelope.json" "$ENV"
ok "a stored bundle edited after import is refused at use, naming it"

# a disabled signer: its bundles are withdrawn, its envelopes refused
D=$(eve attest collateral list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["digest"])')
root principal disable eve >/dev/null
expect_exit 4 st attest verify --tee snp --report "$G/attestation.bin" \
    --at 2022-09-24T01:00:00Z
expect_stderr "signed by \"eve\", who may not vouch for collateral"
root attest collateral rm "${D:0:12}" >/dev/null
expect_exit 4 root attest collateral import "$T/eve-envelope.json"
expect_stderr "signed by \"eve\", who may not vouch for collateral"
ok "a bundle signed by a disabled admin is refused at import and at use"

# ---- import, list, show: signed by the importing admin, audited ----
expect_exit 0 root attest collateral import "$T/snp.json"
expect_stdout "signed by root"
SNPD=$(grep -o 'sha256:[0-9a-f]*' "$T/stdout" | head -n1 | cut -d: -f2)
expect_exit 0 root attest collateral import "$T/intel.json"
expect_exit 3 root attest collateral import "$T/intel.json"
expect_stderr "already imported"
grep -q "\"action\":\"attest.collateral.import\".*\"bundle_sha256\":\"$SNPD\"" "$LOG" ||
    grep -q "\"bundle_sha256\":\"$SNPD\".*\"action\":\"attest.collateral.import\"" "$LOG" ||
    fail "no audit entry naming the bundle's digest"
[ "$(stat -c %a "$T/ws/collateral/$SNPD.dsse.json")" = 600 ] || fail "mode"
expect_exit 0 dana attest collateral list
expect_stdout "${SNPD:0:16}"
expect_exit 0 dana attest collateral show "${SNPD:0:10}"
expect_stdout "amd.vcek"
expect_stdout "Milan VCEK chip"
expect_stdout "signature verified"
ok "an admin imports (signed, audited with its digest, stored 0600); others list and show"

# ---- the verifier uses the bundle where the evidence has no collateral,
#      offline: in a network namespace with no route out where we may ----
NET=""
if unshare -rn true 2>/dev/null; then
    NET="unshare -rn"
    $NET sh -c 'exec 3<>/dev/tcp/1.1.1.1/443' 2>/dev/null && fail "namespace has a route out"
else
    echo "# note: user namespaces not allowed here; verifying without network isolation"
fi
echo '{"version":1,"tee":["snp"],"allow_debug":true,"report_data":"optional"}' >"$T/debug.json"
expect_exit 0 $NET "$SEALTRAIN" attest verify --tee snp --report "$G/attestation.bin" \
    --at 2022-09-24T01:00:00Z --policy "$T/debug.json"
expect_stdout "collateral.vcek: bundle sha256:${SNPD:0:12} (signed by root) documents[0]: Milan VCEK chip"
expect_stdout "collateral.chain.ark: bundle sha256:${SNPD:0:12}"
expect_stdout "ok    snp.report.signature: valid"
expect_exit 0 $NET "$SEALTRAIN" attest verify --tee snp --report "$R/test-report.bin" \
    --at 2025-01-01T00:00:00Z --policy "$T/debug.json"
expect_stdout "documents[3]: Milan VCEK chip"
ok "SNP reports of two chips verify offline with the VCEK and chain from the bundle${NET:+ (unshare -rn)}"

echo '{"version": 1, "tee": ["tdx"], "allow_debug": true}' >"$T/tdx.json"
expect_exit 0 $NET "$SEALTRAIN" attest verify --tee tdx --quote $TQ/tdx_quote_4.dat \
    --at 2023-07-01T01:00:00Z --report-data $RD4 --policy "$T/tdx.json"
expect_stdout "collateral.tcb_info: bundle sha256:"
expect_stdout "TDX TCB Info fmspc 50806f000000 standard"
expect_stdout "collateral.qe_identity: bundle"
expect_stdout "ok    tdx.tcb_info.signature"
expect_stdout "ok    tdx.pck.revocation"
expect_exit 0 st attest verify --tee tdx --quote $TQ/tdx_quote_4.dat \
    --at 2023-07-01T01:00:00Z --report-data $RD4 --policy "$T/tdx.json" --ear "$T/v.jwt"
python3 - "$T/v.jwt" <<'PY'
import base64, json, sys
p = open(sys.argv[1]).read().split(".")[1]
c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
v = c["sealtrain.verdict"]
assert v["collateral_digest"].startswith("sha-256:"), v
assert any(d["document"] == "tdx.tcb_info" for d in v["claims"]["collateral"]), v
PY
echo '{"version": 1, "tee": ["sgx"], "tcb_status": ["UpToDate", "ConfigurationAndSWHardeningNeeded"]}' >"$T/sgx.json"
expect_exit 0 $NET "$SEALTRAIN" attest verify --tee sgx --quote $P/sgx_quote_v3.bin \
    --at 2025-07-19T10:01:17Z --report-data $HELLO --policy "$T/sgx.json"
expect_stdout "SGX TCB Info fmspc"
ok "TDX v4 and SGX v3 quotes verify offline with TCB Info, QE Identity and CRLs from the bundle"

Z=$A/tpm/azure-snp-vtpm-milan-v3-evidence-v0
$BUNDLE -o "$T/az.json" amd.vcek="$Z/vcek.pem"
root attest collateral import "$T/az.json" >/dev/null
expect_exit 0 $NET "$SEALTRAIN" attest verify --tee az-snp-vtpm --hcl-report "$Z/hcl_report.bin" \
    --quote "$Z/tpm_quote_attest.bin" --signature "$Z/tpm_quote_sig.bin" \
    --pcrs "$Z/tpm_pcrs_sha256.txt" --nonce 6368616c6c656e6765 --at 2025-06-01T00:00:00Z
expect_stdout "collateral.vcek: bundle sha256:"
expect_stdout "ok    tpm.signature"
ok "Azure SNP vTPM evidence verifies with the VCEK of its HCL report's chip from a bundle"

# collateral in the evidence wins: the bundle is not consulted
expect_exit 0 st attest verify --tee snp --report "$G/attestation.bin" \
    --cert "$G/vcek.der" --at 2022-09-24T01:00:00Z --policy "$T/debug.json"
if grep -q "collateral\." "$T/stdout"; then fail "bundle used beside evidence collateral"; fi
ok "evidence that carries its collateral is verified with it alone"

# ---- stale: past nextUpdate, older than max_collateral_age ----
expect_exit 4 st attest verify --tee tdx --quote $TQ/tdx_quote_4.dat \
    --at 2023-09-01T01:00:00Z --report-data $RD4 --policy "$T/tdx.json"
expect_stderr "the CRL of \"Intel SGX PCK Platform CA\" is not valid at 2023-09-01T01:00:00Z"
expect_stdout "FAIL  tdx.tcb_info.validity: expected valid at 2023-09-01T01:00:00Z (issueDate to nextUpdate), got not valid at 2023-09-01T01:00:00Z"
expect_stdout "FAIL  tdx.qe_identity.validity"
ok "bundled CRLs and TCB Info past their nextUpdate are refused, each named"

echo '{"version": 1, "tee": ["tdx"], "allow_debug": true, "max_collateral_age": 86400}' >"$T/age.json"
expect_exit 4 st attest verify --tee tdx --quote $TQ/tdx_quote_4.dat \
    --at 2023-07-01T01:00:00Z --report-data $RD4 --policy "$T/age.json"
expect_stderr "policy.max_collateral_age: expected collateral issued within 86400s before 2023-07-01T01:00:00Z, got tdx.crl (Intel SGX Root CA) issued 2023-04-03T10:22:51Z"
echo '{"version": 1, "tee": ["tdx"], "allow_debug": true, "max_collateral_age": 8640000}' >"$T/age30.json"
expect_exit 0 st attest verify --tee tdx --quote $TQ/tdx_quote_4.dat \
    --at 2023-07-01T01:00:00Z --report-data $RD4 --policy "$T/age30.json"
expect_stdout "ok    policy.max_collateral_age"
echo '{"version": 1, "tee": ["tdx"], "max_collateral_age": 0}' >"$T/age0.json"
expect_exit 3 st attest verify --tee tdx --quote $TQ/tdx_quote_4.dat --policy "$T/age0.json"
expect_stderr "max_collateral_age"
echo '{"version": 1, "tee": ["tdx"], "max_collateral_age": "30d"}' >"$T/agestr.json"
expect_exit 3 st attest verify --tee tdx --quote $TQ/tdx_quote_4.dat --policy "$T/agestr.json"
expect_stderr "max_collateral_age"
ok "max_collateral_age: older collateral fails naming the document; validated at parse"

# ---- a cache, never a trust anchor: another workspace, one bad bundle ----
export SEALTRAIN_WORKSPACE=$T/ws2
st init --protect "file:$T/root2.key" >/dev/null
st principal add root --role admin --signing-key "$K/root.pub.pem" >/dev/null
python3 - "$X/tcbinfo_fmspc_50806f000000.json" "$T/tampered-tcb.json" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
n = re.search(r'"tcbEvaluationDataNumber":(\d+)', t)
t = t[:n.start(1)] + str(int(n.group(1)) + 1) + t[n.end(1):]
open(sys.argv[2], "w").write(t)
PY
# the VCEK of the report with its signature changed: the chip and TCB
# match, and it does not chain to the ASK under the pinned ARK
python3 - "$R/test-vcek.der" "$T/forged-vcek.der" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[-1] ^= 0x01
open(sys.argv[2], "wb").write(d)
PY
$BUNDLE -o "$T/bad.json" intel.tcb_info="$T/tampered-tcb.json" \
    intel.qe_identity="$X/qe_identity_td_qe.json" \
    intel.tcb_chain="$X/tcb_signing_chain_2018-2025.pem" \
    amd.vcek="$T/forged-vcek.der" amd.chain="$R/milan_ask_ark_asvk.pem"
root attest collateral import "$T/bad.json" >/dev/null
expect_exit 4 st attest verify --tee tdx --quote $TQ/tdx_quote_4.dat \
    --at 2023-07-01T01:00:00Z --report-data $RD4 --policy "$T/tdx.json"
expect_stderr "tdx.tcb_info.signature"
expect_stdout "collateral.tcb_info: bundle sha256:"
ok "a bundle with a tampered TCB Info is refused, naming the document"
expect_exit 4 st attest verify --tee snp --report "$R/test-report.bin" \
    --at 2025-01-01T00:00:00Z --policy "$T/debug.json"
expect_stderr "snp.vcek.signature"
expect_stdout "collateral.vcek: bundle sha256:"
ok "a bundled VCEK that does not chain to the pinned ARK is refused, naming it"

# ---- check warns about bundles that go stale within 7 days ----
export SEALTRAIN_WORKSPACE=$T/ws
root check --json >"$T/check.json" 2>/dev/null || true
python3 - "$T/check.json" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))
items = items.get("items", items) if isinstance(items, dict) else items
c = [i for i in items if i["id"] == "collateral-bundles"][0]
assert c["status"] == "warn", c
assert "is stale since" in c["evidence"] and "documents[" in c["evidence"], c
PY
ok "check warns about bundles whose documents are stale or go stale within 7 days"

expect_exit 0 root attest collateral rm "$SNPD"
[ ! -e "$T/ws/collateral/$SNPD.dsse.json" ] || fail "file left"
grep -q "attest.collateral.rm" "$LOG" || fail "rm not audited"
expect_exit 4 dana attest collateral rm "${D:0:12}"
expect_stderr "attest.collateral"
ok "rm: an admin removes a bundle (audited); a data owner cannot"
