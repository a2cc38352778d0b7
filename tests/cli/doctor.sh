#!/usr/bin/env bash
# `sealtrain doctor`: every check reports found / missing / unknown, the
# JSON form is complete, and each verdict agrees with what the machine
# shows through other means (it never claims what is not there).
. tests/cli/lib.sh

expect_exit 0 st doctor
for name in tee.sev-snp tee.tdx tpm memory-encryption cpu.aes-ni cpu.avx2 \
    sandbox.user-namespaces sandbox.seccomp sandbox.landlock \
    resources.cgroup-v2 resources.memlock secure-memory; do
    grep -Eq "^$name +(found|missing|unknown) " "$T/stdout" || fail "no line for $name"
done
ok "doctor prints one verdict per check"

expect_exit 0 st doctor --json
cp "$T/stdout" "$T/doctor.json"
status() { python3 -c 'import json,sys; print({c["name"]: c["status"] for c in json.load(open(sys.argv[1]))["checks"]}[sys.argv[2]])' "$T/doctor.json" "$1"; }
python3 -c 'import json,sys; cs=json.load(open(sys.argv[1]))["checks"]; assert all(c["status"] in ("found","missing","unknown") and c["meaning"] and c["detail"] for c in cs), cs' "$T/doctor.json"
ok "--json gives name, status, detail and meaning for each check"

want() { # want CHECK STATUS WHY
    [ "$(status "$1")" = "$2" ] || fail "$1 should be $2 ($3), doctor says $(status "$1")"
}
if grep -qw aes /proc/cpuinfo; then want cpu.aes-ni found "cpuinfo has aes"; else want cpu.aes-ni missing "no aes flag"; fi
if grep -qw avx2 /proc/cpuinfo; then want cpu.avx2 found "cpuinfo has avx2"; else want cpu.avx2 missing "no avx2 flag"; fi
if [ -e /dev/tpmrm0 ] || [ -e /dev/tpm0 ]; then want tpm found "a TPM device exists"
elif [ -z "${SEALTRAIN_TPM_TCTI:-}" ]; then want tpm missing "no TPM device"; fi
if [ ! -e /dev/sev-guest ] && ! grep -qw sev_snp /proc/cpuinfo; then
    want tee.sev-snp missing "no SNP guest device or flag"
fi
if [ ! -e /dev/tdx_guest ] && ! grep -qw tdx_guest /proc/cpuinfo; then
    want tee.tdx missing "no TDX guest device or flag"
fi
if ! grep -Eqw 'sev|sev_es|sev_snp|tdx_guest' /proc/cpuinfo && [ ! -e /dev/sev-guest ] && [ ! -e /dev/tdx_guest ]; then
    [ "$(status memory-encryption)" != found ] || fail "memory encryption claimed without evidence"
fi
if [ ! -e /sys/fs/cgroup/cgroup.controllers ]; then want resources.cgroup-v2 missing "no cgroup v2"; fi
if unshare --user true 2>/dev/null; then want sandbox.user-namespaces found "unshare --user works"; fi
grep -q "Seccomp:" /proc/self/status && want sandbox.seccomp found "kernel has seccomp"
ok "verdicts agree with the machine (nothing claimed that is not there)"
