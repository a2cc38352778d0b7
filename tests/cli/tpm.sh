#!/usr/bin/env bash
# TPM protection against a real TPM 2.0 (swtpm on a free loopback port,
# started here and killed at exit): the root key is sealed at init and
# unsealed on every open; no transient object is left loaded; a stopped
# TPM gives "TPM not available"; another TPM cannot unseal it.
. tests/cli/lib.sh
command -v swtpm >/dev/null || fail "swtpm is not installed (scripts/install-deps.sh)"

start_tpm() { # start_tpm STATEDIR -> sets TPM_PORT, TPM_PID
    mkdir -p "$1"
    # the control port (TPM_PORT+1) may be taken by another test running in
    # parallel: retry on fresh ports when swtpm does not come up
    for _attempt in 1 2 3 4 5; do
        TPM_PORT=$(free_port)
        swtpm socket --tpmstate dir="$1" --tpm2 \
            --server type=tcp,port="$TPM_PORT",bindaddr=127.0.0.1 \
            --ctrl type=tcp,port=$((TPM_PORT + 1)),bindaddr=127.0.0.1 \
            --flags not-need-init,startup-clear 2>>"$T/swtpm.log" &
        TPM_PID=$!
        on_exit "kill $TPM_PID"
        for _ in $(seq 50); do
            kill -0 "$TPM_PID" 2>/dev/null || break
            if (exec 3<>"/dev/tcp/127.0.0.1/$TPM_PORT") 2>/dev/null; then
                return 0
            fi
            sleep 0.1
        done
        kill "$TPM_PID" 2>/dev/null || true
        wait "$TPM_PID" 2>/dev/null || true
    done
    cat "$T/swtpm.log" >&2
    fail "swtpm did not start"
}

start_tpm "$T/tpm1"
export SEALTRAIN_TPM_TCTI="swtpm:host=127.0.0.1,port=$TPM_PORT"
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

start_tpm "$T/tpm2"
export SEALTRAIN_TPM_TCTI="swtpm:host=127.0.0.1,port=$TPM_PORT"
expect_exit 4 st key list
expect_stderr "TPM refuses the sealed root key"
ok "another TPM cannot unseal the root key"
