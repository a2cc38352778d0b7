#!/usr/bin/env bash
# attest_az_tdx.sh: `sealtrain attest verify --tee az-tdx-vtpm` on real
# Azure TDX CVM evidence (tests/vectors/az-tdx-vtpm-trustee, PROVENANCE.md):
# one verdict over every link (TD quote, runtime data hash, HCLAkPub, vTPM
# quote), each named in the trace; without Intel collateral for the TD
# quote's FMSPC the verdict fails on tdx.collateral alone.
source tests/cli/lib.sh

V=tests/vectors/az-tdx-vtpm-trustee
NONCE=6368616c6c656e6765 # "challenge"
AT=2025-11-01T00:00:00Z

aztdx() {
    st attest verify --tee az-tdx-vtpm --hcl-report "$1" --td-quote "$2" \
        --quote "$3" --signature $V/tpm_quote_sig.bin \
        --pcrs $V/tpm_pcrs_sha256.txt --at $AT "${@:4}"
}

expect_exit 4 aztdx $V/hcl_report.bin $V/td_quote.bin \
    $V/tpm_quote_attest.bin --nonce $NONCE --json
python3 - "$T/stdout" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
assert not v["pass"]
failed = [e["claim"] for e in v["trace"] if not e["ok"]]
assert failed == ["tdx.collateral"], failed
ok = {e["claim"] for e in v["trace"] if e["ok"]}
for claim in ["tdx.quote.signature", "tdx.pck.chain", "tdx.qe.report_signature",
              "tdx.qe.attestation_key_binding", "az.runtime_data.hash", "az.ak",
              "tpm.signature", "tpm.pcr_digest", "report_data"]:
    assert claim in ok, (claim, v["trace"])
c = v["claims"]
assert c["tee"] == "az-tdx-vtpm", c["tee"]
assert c["measurement"].startswith("024a32b070383331"), c["measurement"]
assert c["report_data"] == "6368616c6c656e6765" + "00" * 55, c["report_data"]
assert c["fields"]["fmspc"] == "00806f050000", c["fields"]
assert c["fields"]["vm_configuration"]["tpm-enabled"] is True
PY
ok "every link is checked and named; only tdx.collateral fails without Intel collateral"

expect_exit 4 aztdx $V/hcl_report.bin $V/td_quote.bin \
    $V/tpm_quote_attest.bin --nonce 6368616c6c656e6766
expect_stdout "FAIL  report_data"
ok "another nonce fails report_data"

# a byte of the runtime JSON changed (inside the "n" of HCLAkPub)
cp $V/hcl_report.bin "$T/hcl.bin"
printf 'X' | dd of="$T/hcl.bin" bs=1 seek=$((0x4D4 + 120)) conv=notrunc 2>/dev/null
expect_exit 4 aztdx "$T/hcl.bin" $V/td_quote.bin $V/tpm_quote_attest.bin \
    --nonce $NONCE
expect_stdout "FAIL  az.runtime_data.hash"
ok "altered runtime data fails az.runtime_data.hash"

cp $V/td_quote.bin "$T/td.bin"
printf '\x01' | dd of="$T/td.bin" bs=1 seek=$((48 + 200)) conv=notrunc 2>/dev/null
expect_exit 4 aztdx $V/hcl_report.bin "$T/td.bin" $V/tpm_quote_attest.bin \
    --nonce $NONCE
expect_stdout "FAIL  tdx.quote.signature"
ok "a byte changed in the TD quote fails tdx.quote.signature"

cp $V/tpm_quote_attest.bin "$T/q.bin"
printf '\x01' | dd of="$T/q.bin" bs=1 seek=60 conv=notrunc 2>/dev/null
expect_exit 4 aztdx $V/hcl_report.bin $V/td_quote.bin "$T/q.bin" \
    --nonce $NONCE
expect_stdout "FAIL  tpm.signature"
ok "a byte changed in the vTPM quote fails tpm.signature"

Z=$VECTORS/attestation/tpm/azure-snp-vtpm-milan-v3-evidence-v0
expect_exit 3 aztdx $Z/hcl_report.bin $V/td_quote.bin $V/tpm_quote_attest.bin \
    --nonce $NONCE
expect_stderr "report type 2 is not TDX (4)"
expect_exit 2 aztdx $V/hcl_report.bin $V/td_quote.bin $V/tpm_quote_attest.bin \
    --cert $Z/vcek.pem
expect_stderr "--cert is not used with --tee az-tdx-vtpm"
ok "an SNP HCL report is malformed az-tdx-vtpm evidence; a VCEK is refused"

expect_exit 0 st attest show $V/hcl_report.bin --json
python3 - "$T/stdout" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["tee"] == "az-tdx-vtpm", s
assert s["hcl"]["report_type"] == 4
assert s["hcl"]["td_report_data"].startswith("9734504f161d104c")
PY
ok "attest show recognises an HCL report of type TDX"
