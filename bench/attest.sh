#!/bin/sh
# bench/attest.sh BUILD_DIR: attestation verification per evidence type and
# evidence generation, on one core (bench_attest), next to the targets
# (SNP and TPM verification under 2 ms), and verification with collateral
# from an offline bundle against the same collateral carried in the
# evidence, measured in one run, side by side with the ratio (target
# <= 1.1x). The peer for TPM verification is
# tpm2_checkquote (tpm2-tools) on the same quote: its figure includes
# process start-up, as a user pays it. swtpm is started on a free loopback
# port for the generation figure and stopped at exit.
set -eu
build=$1
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
pin=""
command -v taskset >/dev/null 2>&1 && pin="taskset -c 0"

tmp=$(mktemp -d)
swtpm_pid=""
cleanup() {
    [ -n "$swtpm_pid" ] && kill "$swtpm_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
if command -v swtpm >/dev/null 2>&1; then
    started=$(scripts/start-swtpm.sh "$tmp" "$tmp/swtpm.log")
    port=${started% *}
    swtpm_pid=${started#* }
    export SEALTRAIN_TPM_TCTI="swtpm:host=127.0.0.1,port=$port"
fi

ours=$($pin "$build/bench_attest")

peer="-"
tv=../shared/testvectors/attestation/tpm/trustee-tpm-evidence-swtpm
if command -v tpm2_checkquote >/dev/null 2>&1; then
    openssl pkey -pubin -inform der -in "$tv/ak_pub.der" -out "$tmp/ak.pem" 2>/dev/null
    q=$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); print(d[44:108].hex())' "$tv/tpm_quote_attest.bin")
    n=50
    t0=$(date +%s%N)
    i=0
    while [ $i -lt $n ]; do
        $pin tpm2_checkquote -u "$tmp/ak.pem" -m "$tv/tpm_quote_attest.bin" \
            -s "$tv/tpmt_signature.bin" -g sha256 -q "$q" >/dev/null 2>&1 ||
            { peer="failed"; break; }
        i=$((i + 1))
    done
    t1=$(date +%s%N)
    [ "$peer" = failed ] || peer=$(awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN {printf "%.3f", (b - a) / 1e6 / n}')
fi

get() { echo "$ours" | awk -v k="$1" '$1 == k {print $2}'; }
printf '%-26s %12s %10s %14s %10s\n' measure "ours cpu ms" "wall ms" "peer ms" "target ms"
row() { printf '%-26s %12s %10s %14s %10s\n' "$@"; }
row "snp verify (VCEK, ASK)" "$(get snp.verify_ms)" "$(get snp.verify.wall_ms)" - "< 2"
row "snp verify (chain in ev)" "$(get snp.verify_chain_ms)" "$(get snp.verify_chain.wall_ms)" - "< 2"
row "snp verify, cold roots" "$(get snp.verify.cold_ms)" - - -
row "tpm verify (RSA AK, PCRs)" "$(get tpm.verify_ms)" "$(get tpm.verify.wall_ms)" "$peer" "< 2"
row "az-snp-vtpm verify" "$(get az.verify_ms)" "$(get az.verify.wall_ms)" - -
row "snp verify, VCEK in ev" "$(get collateral.snp.evidence_ms)" - - -
row "snp verify, VCEK bundled" "$(get collateral.snp.bundle_ms)" - - -
row "  bundle / evidence" "$(get collateral.snp.ratio)" - - "<= 1.1"
row "tdx verify, coll. in ev" "$(get collateral.tdx.evidence_ms)" - - -
row "tdx verify, coll. bundled" "$(get collateral.tdx.bundle_ms)" - - -
row "  bundle / evidence" "$(get collateral.tdx.ratio)" - - "<= 1.1"
row "EAR signing per verdict" "$(get ear.sign_ms)" - - "< 0.1"
snp=$(get snp.verify_ms)
ear=$(get ear.sign_ms)
[ -n "$snp" ] && [ -n "$ear" ] && row "snp verify + EAR / verify" \
    "$(awk -v a="$snp" -v b="$ear" 'BEGIN {printf "%.3f", (a + b) / a}')" - - -
row "sim generate" "$(get sim.generate_ms)" - - -
row "tpm generate (swtpm)" - "$(get tpm.generate_ms)" - -
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "(peer: tpm2_checkquote per invocation, including process start-up)"
