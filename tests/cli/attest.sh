#!/bin/bash
# attest.sh: `sealtrain attest` on the real SEV-SNP and Azure evidence in
# ../shared/testvectors, the sim backend end to end, and the documented
# exit statuses (0 pass, 4 failed verdict, 3 malformed input).
. tests/cli/lib.sh

A=$VECTORS/attestation
G=$A/snp/gsg-milan-vcek-v2
R=$A/snp/trustee-milan-vcek-v2
Z=$A/tpm/azure-snp-vtpm-milan-v3-evidence-v0

echo '{"version":1,"tee":["snp"],"allow_debug":true,"report_data":"optional"}' >"$T/debug.json"
expect_exit 0 st attest verify --tee snp --report "$G/attestation.bin" \
    --cert "$G/vcek.der" --chain "$G/ask_ark_milan.pem" \
    --at 2022-09-24T01:00:00Z --policy "$T/debug.json" \
    --report-data "$(python3 -c 'print("0102030405" + "00" * 59)')"
expect_stdout "ok    snp.report.signature: valid"
ok "go-sev-guest Milan report verifies at 2022-09-24T01:00Z"

expect_exit 4 st attest verify --tee snp --report "$G/attestation.bin" \
    --cert "$G/vcek.der" --at 2022-09-24T01:00:00Z
expect_stderr "attestation failed: policy.debug"
ok "the default policy refuses its debug guest policy (bit 19)"

expect_exit 4 st attest verify --tee snp --report "$G/attestation.bin" \
    --cert "$G/vcek.der" --at 2022-09-23T00:00:00Z --policy "$T/debug.json"
expect_stderr "snp.vcek.validity"
ok "a time before the VCEK was issued fails on snp.vcek.validity"

expect_exit 4 st attest verify --tee snp --report "$G/attestation.bin" \
    --cert "$G/vcek.der" --at 2022-09-23T00:00:00Z --policy "$T/debug.json"
expect_stderr "snp.vcek.validity: expected valid at 2022-09-23T00:00:00Z, got not valid at 2022-09-23T00:00:00Z: valid from "
ok "a validity failure reads as one: not valid at T: valid from A to B"

# a VCEK file with the ASK and ARK pasted after it: the extra certificates
# were ignored without a word; now they are refused, naming where they go
openssl x509 -inform DER -in "$R/test-vcek.der" >"$T/vcek-and-chain.pem"
cat "$R/milan_ask_ark_asvk.pem" >>"$T/vcek-and-chain.pem"
expect_exit 3 st attest verify --tee snp --report "$R/test-report.bin" \
    --cert "$T/vcek-and-chain.pem" --at 2025-01-01T00:00:00Z
expect_stderr "holds 4 certificates"
expect_stderr "--chain"
expect_exit 2 st attest verify --tee snp --report "$R/test-report.bin" \
    --cert "$R/test-vcek.der" --cert "$G/vcek.der" --at 2025-01-01T00:00:00Z
expect_stderr "--cert given twice"
ok "extra certificates given as --cert are refused, not ignored"

expect_exit 0 st attest verify --tee snp --report "$R/test-report.bin" \
    --cert "$R/test-vcek.der" --chain "$R/milan_ask_ark_asvk.pem" \
    --at 2025-01-01T00:00:00Z --json
python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); assert v["pass"] and v["claims"]["tcb"]=="bl=3 tee=0 snp=8 ucode=115", v["claims"]' "$T/stdout"
ok "trustee Milan report verifies; JSON verdict carries the reported TCB"

cp "$R/test-report.bin" "$T/flip.bin"
printf '\x01' | dd of="$T/flip.bin" bs=1 seek=42 conv=notrunc 2>/dev/null
expect_exit 4 st attest verify --tee snp --report "$T/flip.bin" \
    --cert "$R/test-vcek.der" --at 2025-01-01T00:00:00Z
expect_stderr "snp.report.signature"
ok "a flipped byte fails on snp.report.signature"

expect_exit 4 st attest verify --tee snp --report "$R/test-report.bin" \
    --cert "$R/test-vcek.der" --chain "$A/snp/amd-roots/gsg_ask_ark_genoa.pem" \
    --at 2025-01-01T00:00:00Z
expect_stderr "snp.chain.ark"
ok "a Genoa chain for a Milan VCEK fails on snp.chain.ark"

head -c 1000 "$R/test-report.bin" >"$T/short.bin"
expect_exit 3 st attest verify --tee snp --report "$T/short.bin" \
    --cert "$R/test-vcek.der"
expect_stderr "1000 bytes"
ok "a truncated report is malformed input (exit 3)"

expect_exit 0 st attest verify --tee az-snp-vtpm --hcl-report "$Z/hcl_report.bin" \
    --cert "$Z/vcek.pem" --quote "$Z/tpm_quote_attest.bin" \
    --signature "$Z/tpm_quote_sig.bin" --pcrs "$Z/tpm_pcrs_sha256.txt" \
    --nonce 6368616c6c656e6765 --at 2025-06-01T00:00:00Z --json
python3 - "$T/stdout" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
c = v["claims"]
assert v["pass"], v["reason"]
assert c["report_data"].startswith("6368616c6c656e6765" + "00"), c["report_data"]
assert c["fields"]["pcr.sha256.0"] == "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced"
assert c["measurement"] == "6a063be9dd79f6371c842e480f8dc3b5c725961344e57130e88c5adf49e8f7f6c79b75a5eb77fc769959f4aeb2f9401e"
assert c["tcb"] == "bl=4 tee=0 snp=24 ucode=219"
EOF
ok "Azure SNP vTPM evidence verifies with trustee's claims (nonce, pcr00)"

expect_exit 4 st attest verify --tee az-snp-vtpm --hcl-report "$Z/hcl_report.bin" \
    --cert "$Z/vcek.pem" --quote "$Z/tpm_quote_attest.bin" \
    --signature "$Z/tpm_quote_sig.bin" --nonce 6368616c6c656e6766 \
    --at 2025-06-01T00:00:00Z
expect_stderr "report_data"
ok "Azure evidence with another nonce fails on report_data"

cp "$Z/hcl_report.bin" "$T/hcl.bin"
printf 'X' | dd of="$T/hcl.bin" bs=1 seek=$((0x4D4 + 20)) conv=notrunc 2>/dev/null
expect_exit 4 st attest verify --tee az-snp-vtpm --hcl-report "$T/hcl.bin" \
    --cert "$Z/vcek.pem" --quote "$Z/tpm_quote_attest.bin" \
    --signature "$Z/tpm_quote_sig.bin" --nonce 6368616c6c656e6765 \
    --at 2025-06-01T00:00:00Z
expect_stderr "az.runtime_data.hash"
ok "altered HCL runtime data fails on az.runtime_data.hash"

expect_exit 0 st attest show "$G/attestation.bin" --json
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["report"]; assert r["chip_id"].startswith("3ac3fe21") and r["report_id"].startswith("8edc638e")' "$T/stdout"
expect_exit 0 st attest show "$Z/hcl_report.bin"
expect_stdout "report_type: 2"
ok "attest show prints every parsed field (SNP report, HCL report)"

# sim: the workspace-independent path with an explicit platform key
rd=$(printf '11%.0s' $(seq 64))
expect_exit 0 st attest evidence --tee sim --report-data "$rd" \
    --platform-key "$T/sim.pem" -o "$T/sim.json"
expect_exit 4 st attest verify --evidence "$T/sim.json" \
    --platform-key "$T/sim.pem" --report-data "$rd"
expect_stderr "policy.tee"
ok "sim evidence is refused by the default policy"
echo '{"version":1,"tee":["sim"]}' >"$T/sim-policy.json"
expect_exit 0 st attest verify --evidence "$T/sim.json" \
    --platform-key "$T/sim.pem" --report-data "$rd" --policy "$T/sim-policy.json"
expect_stdout "insecure: yes"
ok "sim evidence passes a policy that names sim, marked insecure"

echo '{"version":1,"tee":["sim"],"bogus":1}' >"$T/bad-policy.json"
expect_exit 3 st attest verify --evidence "$T/sim.json" \
    --platform-key "$T/sim.pem" --policy "$T/bad-policy.json"
expect_stderr "bogus"
ok "an unknown policy key is malformed input naming the key"

expect_exit 2 st attest verify --report x
ok "verify without --tee or --evidence is a usage error"

# sim with the workspace's platform key (keys/sim-platform.pem)
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
expect_exit 0 st init --protect "file:$T/root.key"
expect_exit 0 st attest evidence --tee sim --report-data "$rd" -o "$T/ws-sim.json"
[ "$(stat -c %a "$SEALTRAIN_WORKSPACE/keys/sim-platform.pem")" = 600 ] ||
    fail "the sim platform key is not private"
echo '{"version":1,"tee":["sim"],"max_age_seconds":600}' >"$T/sim-age.json"
expect_exit 0 st attest verify --evidence "$T/ws-sim.json" --report-data "$rd" \
    --policy "$T/sim-age.json"
expect_exit 4 st attest verify --evidence "$T/sim.json" --report-data "$rd" \
    --policy "$T/sim-age.json"
expect_stderr "sim.platform_key"
ok "sim evidence signed by the workspace key verifies; another key's does not"
