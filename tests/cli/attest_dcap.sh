#!/usr/bin/env bash
# attest_dcap.sh: `sealtrain attest verify|show` for Intel TDX and SGX
# quotes on the real vectors, at the times their PROVENANCE.md gives: a
# passing verdict, the named claim on each single change, exit statuses.
source tests/cli/lib.sh

A=$VECTORS/attestation
G=$A/tdx/gtg-spr-e4-v4
TQ=$A/tdx/trustee-tdx-quotes
P=$A/sgx/phala-sgx-v3
RD4=7c71fe2c86eff65a7cf8dbc22b3275689fd0464a267baced1bf94fc1324656aeb755da3d44d098c0c87382f3a5f85b45c8a28fee1d3bdb38342bf96671501429
HELLO=48656c6c6f2c20776f726c6421$(printf '0%.0s' $(seq 1 102))

tdx4() {
    st attest verify --tee tdx --quote "$1" \
        --tcb-info $G/tcbinfo_fmspc_50806f000000.json \
        --qe-identity $G/qe_identity_td_qe.json \
        --chain $G/tcb_signing_chain_2018-2025.pem \
        --crl $G/root_crl.der --crl $G/pck_platform_crl.der "${@:2}"
}

echo '{"version": 1, "tee": ["tdx"], "allow_debug": true}' >"$T/debug-ok.json"

expect_exit 0 tdx4 $TQ/tdx_quote_4.dat --at 2023-07-01T01:00:00Z \
    --report-data $RD4 --policy "$T/debug-ok.json"
expect_stdout "verdict: PASS"
expect_stdout "tdx.tcb.status: UpToDate"
ok "tdx quote v4 verifies with PCS collateral and CRLs at the stated time"

expect_exit 4 tdx4 $TQ/tdx_quote_4.dat --at 2023-07-01T01:00:00Z \
    --report-data $RD4
expect_stderr "policy.debug"
ok "the default policy refuses the debug TD"

cp $TQ/tdx_quote_4.dat "$T/flipped.dat"
printf '\x01' | dd of="$T/flipped.dat" bs=1 seek=300 conv=notrunc 2>/dev/null
expect_exit 4 tdx4 "$T/flipped.dat" --at 2023-07-01T01:00:00Z \
    --report-data $RD4 --policy "$T/debug-ok.json"
expect_stderr "tdx.quote.signature"
ok "a byte changed in the TD report fails tdx.quote.signature"

expect_exit 4 tdx4 $TQ/tdx_quote_4.dat --at 2023-09-01T00:00:00Z \
    --report-data $RD4 --policy "$T/debug-ok.json"
expect_stdout "FAIL  tdx.tcb_info.validity: expected valid at 2023-09-01T00:00:00Z (issueDate to nextUpdate), got not valid at 2023-09-01T00:00:00Z: valid from 2023-06-18T08:42:58Z to 2023-07-18T08:42:58Z"
ok "a time after the collateral's nextUpdate fails tdx.tcb_info.validity"

expect_exit 4 tdx4 $TQ/tdx_quote_4.dat --at 2023-07-01T01:00:00Z \
    --report-data ${RD4%??}00 --policy "$T/debug-ok.json"
expect_stderr "report_data"
ok "another report data fails report_data"

echo '{"version": 1, "tee": ["sgx"], "tcb_status": ["UpToDate", "ConfigurationAndSWHardeningNeeded"]}' >"$T/sgx-hardening.json"
expect_exit 0 st attest verify --tee sgx --quote $P/sgx_quote_v3.bin \
    --collateral $P/sgx_quote_collateral.json --at 2025-07-19T10:01:17Z \
    --report-data $HELLO --policy "$T/sgx-hardening.json" --json
python3 - "$T/stdout" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
assert v["pass"] is True, v["reason"]
c = v["claims"]
assert c["tcb_status"] == "ConfigurationAndSWHardeningNeeded", c
assert c["advisories"] == ["INTEL-SA-00289", "INTEL-SA-00615"], c
assert c["measurement"].startswith("33d8736db756ed49"), c
PY
ok "sgx quote v3 with the dcap-qvl collateral: ConfigurationAndSWHardeningNeeded"

# Safe defaults (issue 16). Each of these failed on the code before it.
expect_exit 4 st attest verify --tee sgx --quote $P/sgx_quote_v3.bin \
    --collateral $P/sgx_quote_collateral.json --at 2025-07-19T10:01:17Z \
    --report-data $HELLO
expect_stderr "policy.tcb_status"
expect_stdout "FAIL  policy.tcb_status: expected one of [\"UpToDate\"] (the default), got ConfigurationAndSWHardeningNeeded"
echo '{"version": 1, "tee": ["sgx"]}' >"$T/sgx-silent.json"
expect_exit 4 st attest verify --tee sgx --quote $P/sgx_quote_v3.bin \
    --collateral $P/sgx_quote_collateral.json --at 2025-07-19T10:01:17Z \
    --report-data $HELLO --policy "$T/sgx-silent.json"
expect_stderr "policy.tcb_status"
ok "without a tcb_status rule only UpToDate passes (default and silent policy)"

echo '{"version": 1, "tee": ["sgx"], "tcb_status": ["UpTodate"]}' >"$T/typo.json"
expect_exit 3 st attest verify --tee sgx --quote $P/sgx_quote_v3.bin \
    --collateral $P/sgx_quote_collateral.json --at 2025-07-19T10:01:17Z \
    --policy "$T/typo.json"
expect_stderr "unknown TCB status \"UpTodate\""
expect_stderr "typo.json"
ok "a misspelt tcb_status value is refused when the policy is parsed"

expect_exit 4 st attest verify --tee tdx --quote $TQ/tdx_quote_4.dat \
    --at 2023-07-01T01:00:00Z --policy "$T/debug-ok.json"
expect_stderr "attestation failed: tdx.collateral"
expect_stdout "ok    tdx.quote.signature"
expect_stdout "ok    tdx.pck.chain"
expect_stdout "ok    tdx.qe.report_signature"
ok "--tee tdx without collateral checks quote, PCK chain and QE report; collateral fails"

expect_exit 2 tdx4 $TQ/tdx_quote_4.dat --at 2023-07-01T01:00:00Z \
    --cert $A/snp/gsg-milan-vcek-v2/vcek.der
expect_stderr "--cert is not used with --tee tdx"
expect_exit 2 st attest verify --tee sgx --quote $P/sgx_quote_v3.bin \
    --collateral $P/sgx_quote_collateral.json --crl $G/root_crl.der \
    --crl $G/pck_platform_crl.der --collateral $P/sgx_quote_collateral.json
expect_stderr "--collateral given twice"
ok "an option the evidence does not use, or one given twice, is refused"

for at in 2023-07-01T03:00:00+02:00 2023-06-30T20:30:00-04:30 \
    2023-07-01T01:00:00.999Z 2023-07-01t01:00:00z; do
    expect_exit 0 tdx4 $TQ/tdx_quote_4.dat --at "$at" \
        --report-data $RD4 --policy "$T/debug-ok.json"
done
expect_exit 4 tdx4 $TQ/tdx_quote_4.dat --at 2023-09-01T02:00:00+02:00 \
    --report-data $RD4 --policy "$T/debug-ok.json"
expect_stdout "FAIL  tdx.tcb_info.validity"
ok "--at takes RFC 3339 offsets and fractions"

for at in 2023-02-29T00:00:00Z 2023-07-01T01:00:00 2023-07-01T01:00:00+2:00 \
    "2023-07-01 01:00:00Z" 2023-07-01T01:00:00.Z; do
    expect_exit 2 tdx4 $TQ/tdx_quote_4.dat --at "$at"
    expect_stderr "--at: invalid RFC 3339 time"
done
expect_exit 2 st attest verify --tee tdxx --quote $TQ/tdx_quote_4.dat
expect_stderr "--tee"
expect_exit 2 tdx4 $TQ/tdx_quote_4.dat --nonce 0g
expect_exit 2 tdx4 $TQ/tdx_quote_4.dat --report-data 00
ok "a bad --at, --tee, --nonce or --report-data is a usage error (exit 2)"

expect_exit 4 st attest verify --tee tdx --quote $TQ/tdx_quote_5.dat \
    --tcb-info $TQ/tcbInfo.json --qe-identity $TQ/enclaveIdentity.json \
    --chain $TQ/tcb_signing_chain_2025-2032.pem --at 2025-11-01T00:00:00Z
expect_stderr "tdx.tcb_info.fmspc"
ok "TCB Info for another FMSPC fails tdx.tcb_info.fmspc"

expect_exit 2 st attest verify --tee tdx --quote $TQ/tdx_quote_4.dat \
    --tcb-info $G/tcbinfo_fmspc_50806f000000.json
ok "PCS collateral without QE Identity and chain is a usage error"

head -c 600 $TQ/tdx_quote_4.dat >"$T/short.dat"
expect_exit 3 tdx4 "$T/short.dat" --at 2023-07-01T01:00:00Z
expect_stderr "truncated"
ok "a truncated quote is malformed input"

expect_exit 0 st attest show $TQ/tdx_quote_5.dat --json
expect_stdout '"mrservicetd": "383c87d3bbb047b2'
expect_exit 0 st attest show --tee sgx $P/sgx_quote_v3.bin
expect_stdout "mrenclave: 33d8736db756ed49"
ok "attest show prints every field of v5 and v3 quotes"
