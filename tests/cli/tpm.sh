#!/usr/bin/env bash
# TPM protection against a real TPM 2.0 (swtpm on a free loopback port,
# started here and killed at exit): the root key is sealed at init and
# unsealed on every open; no transient object is left loaded; a stopped
# TPM gives "TPM not available"; another TPM cannot unseal it.
. tests/cli/lib.sh
start_swtpm "$T/tpm1"
expect_exit 0 st init --protect tpm
grep -q '"protection":"tpm"' "$T/ws/keys/root.json" || fail "root.json is not tpm"
expect_exit 0 st key create k
expect_exit 0 st key rotate k
expect_exit 0 st key show k
expect_stdout "version 2: active"
ok "init seals the root key to the TPM; opens unseal it"

if command -v tpm2_getcap >/dev/null; then
    left=$(tpm2_getcap -T "$SEALTRAIN_TPM_TCTI" handles-transient)
    [ -z "$left" ] || fail "transient objects left in the TPM: $left"
    left=$(tpm2_getcap -T "$SEALTRAIN_TPM_TCTI" handles-loaded-session)
    [ -z "$left" ] || fail "sessions left in the TPM: $left"
    ok "no transient objects or sessions are left loaded"
fi

kill "$TPM_PID"
wait "$TPM_PID" 2>/dev/null || true
expect_exit 5 st key list
expect_stderr "TPM not available"
ok "a stopped TPM is reported as not available"

start_swtpm "$T/tpm2"
expect_exit 4 st key list
expect_stderr "TPM refuses the sealed root key"
ok "another TPM cannot unseal the root key"
