#!/bin/bash
# attest_tpm.sh: the tpm backend on swtpm, and interop with tpm2-tools both
# ways: our quote verifies with tpm2_checkquote, a tpm2_quote quote
# verifies with `sealtrain attest verify`. Tampering fails with the trace
# naming the claim.
. tests/cli/lib.sh

start_swtpm

rd=$(printf '5a%.0s' $(seq 64))
echo '{"version":1,"tee":["tpm"]}' >"$T/policy.json"
echo '{"spec":"job"}' >"$T/job.json"
echo 'dataset manifest' >"$T/ds.txt"

expect_exit 0 st attest evidence --tee tpm --report-data "$rd" \
    --job "$T/job.json" --dataset "$T/ds.txt" -o "$T/ev.json"
ok "tpm evidence from swtpm"

# the parts of the bundle, and the PCR values in tpm2-tools' serialized
# layout (TPML_PCR_SELECTION, UINT32 count, TPML_DIGEST[count])
python3 - "$T" <<'EOF'
import base64, hashlib, json, struct, sys
t = sys.argv[1]
d = json.load(open(f"{t}/ev.json"))
for k, v in d["parts"].items():
    open(f"{t}/p_{k}", "wb").write(base64.b64decode(v))
vals = [bytes.fromhex(l.split()[1]) for l in open(f"{t}/p_pcrs").read().split("\n") if l]
sel = struct.pack("<I", 1) + struct.pack("<HB4sx", 0x0B, 3, bytes([0xFF, 0, 0x80, 0])) + bytes(8 * 15)
chunks = [vals[i:i + 8] for i in range(0, len(vals), 8)]
out = sel + struct.pack("<I", len(chunks))
for c in chunks:
    out += struct.pack("<I", len(c))
    for v in c:
        out += struct.pack("<H", 32) + v + bytes(32)
    out += bytes(66 * (8 - len(c)))
open(f"{t}/pcrs.serialized", "wb").write(out)
open(f"{t}/qual.hex", "w").write(hashlib.sha256(open(f"{t}/p_report_data", "rb").read()).hexdigest())
EOF

expect_exit 0 tpm2_checkquote -u "$T/p_ak" -m "$T/p_quote" -s "$T/p_signature" \
    -f "$T/pcrs.serialized" -g sha256 -q "$(cat "$T/qual.hex")"
ok "our quote verifies with tpm2_checkquote (PCR values and qualifying data)"

expect_exit 0 st attest verify --evidence "$T/ev.json" --ak "$T/p_ak" \
    --report-data "$rd" --policy "$T/policy.json"
expect_stdout "ok    tpm.log.replay"
ok "our quote verifies with our verifier, the log replays to PCR 23"

# the log's runtime entry is this binary: `attest measure` agrees
st attest measure --json --job "$T/job.json" --dataset "$T/ds.txt" >"$T/m.json"
meas=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["measurement"])' "$T/m.json")
pcr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tpm"]["sha256"])' "$T/m.json")
grep -q "^23 $pcr" "$T/p_pcrs" || fail "attest measure's PCR 23 differs from the quoted one"
cat >"$T/policy-meas.json" <<EOF
{"version":1,"tee":["tpm"],"tpm":{"measurements":["$meas"]}}
EOF
expect_exit 0 st attest verify --evidence "$T/ev.json" --ak "$T/p_ak" \
    --report-data "$rd" --policy "$T/policy-meas.json"
ok "attest measure gives the measurement and PCR 23 of this build"

# tampering
other=$(printf 'a5%.0s' $(seq 64))
expect_exit 4 st attest verify --evidence "$T/ev.json" --ak "$T/p_ak" \
    --report-data "$other" --policy "$T/policy.json"
expect_stderr "report_data: expected $other"
ok "wrong report data fails on report_data"

expect_exit 4 st attest verify --evidence "$T/ev.json" \
    --report-data "$rd" --policy "$T/policy.json"
expect_stderr "tpm.ak.pinned"
ok "an unpinned attestation key fails"

python3 - "$T" <<'EOF'
import base64, json, sys
t = sys.argv[1]
d = json.load(open(f"{t}/ev.json"))
q = bytearray(base64.b64decode(d["parts"]["quote"])); q[-1] ^= 1
d["parts"]["quote"] = base64.b64encode(bytes(q)).decode()
json.dump(d, open(f"{t}/ev-flip.json", "w"))
log = json.loads(base64.b64decode(d["parts"]["log"]))
log["entries"][1]["sha256"] = "00" * 32
d = json.load(open(f"{t}/ev.json"))
d["parts"]["log"] = base64.b64encode(json.dumps(log).encode()).decode()
json.dump(d, open(f"{t}/ev-log.json", "w"))
EOF
expect_exit 4 st attest verify --evidence "$T/ev-flip.json" --ak "$T/p_ak" \
    --report-data "$rd" --policy "$T/policy.json"
expect_stderr "tpm.signature"
ok "a flipped byte in the quote fails on tpm.signature"
expect_exit 4 st attest verify --evidence "$T/ev-log.json" --ak "$T/p_ak" \
    --report-data "$rd" --policy "$T/policy.json"
expect_stderr "tpm.log.replay"
ok "an altered measurement log fails on tpm.log.replay"

# the other direction: tpm2-tools makes the quote
cd "$T"
tpm2_createek -c ek.ctx -G rsa -u ek.pub >/dev/null
tpm2_createak -C ek.ctx -c ak.ctx -G ecc -g sha256 -s ecdsa -u ak.pub -f pem \
    -n ak.name >/dev/null
tpm2_flushcontext -t
tpm2_quote -c ak.ctx -l sha256:0,1,2,16,23 -q 00112233445566778899 \
    -m tq.msg -s tq.sig -o tq.pcrs -g sha256 >/dev/null
tpm2_flushcontext -t
tpm2_pcrread sha256:0,1,2,16,23 >pcrread.txt
python3 - <<'EOF'
import re
out = []
for line in open("pcrread.txt"):
    m = re.match(r"\s+(\d+)\s*:\s*0x([0-9A-Fa-f]+)", line)
    if m:
        out.append(f"{m.group(1)} {m.group(2).lower()}")
open("tq.pcrs.txt", "w").write("\n".join(out) + "\n")
EOF
cd - >/dev/null
expect_exit 0 st attest verify --tee tpm --quote "$T/tq.msg" \
    --signature "$T/tq.sig" --ak "$T/ak.pub" --pcrs "$T/tq.pcrs.txt" \
    --nonce 00112233445566778899 --policy "$T/policy.json"
ok "a tpm2_quote quote verifies with our verifier"
expect_exit 4 st attest verify --tee tpm --quote "$T/tq.msg" \
    --signature "$T/tq.sig" --ak "$T/ak.pub" --pcrs "$T/tq.pcrs.txt" \
    --nonce 00112233445566778898 --policy "$T/policy.json"
expect_stderr "report_data"
ok "a tpm2_quote quote with another nonce fails on report_data"
expect_exit 4 st attest verify --tee tpm --quote "$T/tq.msg" \
    --signature "$T/tq.sig" --ak "$T/p_ak" --pcrs "$T/tq.pcrs.txt" \
    --nonce 00112233445566778899 --policy "$T/policy.json"
expect_stderr "tpm.signature"
ok "a quote checked against another AK fails on tpm.signature"
