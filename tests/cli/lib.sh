# lib.sh: helpers for CLI scenario tests (sourced, not run).
#
# Each scenario is a bash script under tests/cli/ run by ctest from the
# project root with $SEALTRAIN pointing at the built CLI. It works in its
# own temporary directory ($T), removed on exit, and calls `ok`/`fail`.
# Services a scenario starts must be stopped by registering a cleanup with
# `on_exit "command"`.
set -euo pipefail

: "${SEALTRAIN:?run through ctest, or set SEALTRAIN to the sealtrain binary}"
SHARED=../shared
VECTORS=$SHARED/testvectors
mkdir -p "${ST_TEST_TMP:-/tmp}"
T=$(mktemp -d "${ST_TEST_TMP:-/tmp}/cli.XXXXXX")
export SEALTRAIN_WORKSPACE=$T/ws
_passed=0
_cleanups=()

on_exit() { _cleanups+=("$1"); }

_finish() {
    local rc=$?
    local i
    for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
        eval "${_cleanups[$i]}" >/dev/null 2>&1 || true
    done
    rm -rf "$T"
    if [ $rc -eq 0 ]; then
        echo "$_passed passed, 0 failed"
    else
        echo "$_passed passed, 1 failed"
    fi
    exit $rc
}
trap _finish EXIT

st() { "$SEALTRAIN" "$@"; }

ok() { _passed=$((_passed + 1)); echo "ok - $*"; }
fail() { echo "FAIL - $*" >&2; exit 1; }

# expect_exit CODE CMD...: runs CMD, checks its exit status, keeps its
# stderr in $T/stderr and stdout in $T/stdout.
expect_exit() {
    local want=$1
    shift
    set +e
    "$@" >"$T/stdout" 2>"$T/stderr"
    local got=$?
    set -e
    if [ "$got" -ne "$want" ]; then
        echo "--- stdout" >&2; cat "$T/stdout" >&2
        echo "--- stderr" >&2; cat "$T/stderr" >&2
        fail "expected exit $want, got $got: $*"
    fi
}

# expect_stderr TEXT: the last expect_exit's stderr contains TEXT.
expect_stderr() {
    grep -qF -- "$1" "$T/stderr" || {
        cat "$T/stderr" >&2
        fail "stderr lacks \"$1\""
    }
}
expect_stdout() {
    grep -qF -- "$1" "$T/stdout" || {
        cat "$T/stdout" >&2
        fail "stdout lacks \"$1\""
    }
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_swtpm [STATEDIR]: a TPM 2.0 simulator on free loopback ports with
# its state in STATEDIR (default $T/tpm), stopped on exit
# (scripts/start-swtpm.sh). Sets TPM_PORT and TPM_PID and exports
# SEALTRAIN_TPM_TCTI and TPM2TOOLS_TCTI.
start_swtpm() {
    local started
    started=$(scripts/start-swtpm.sh "${1:-$T/tpm}" "$T/swtpm.log") || {
        cat "$T/swtpm.log" >&2
        fail "swtpm did not start"
    }
    read -r TPM_PORT TPM_PID <<<"$started"
    on_exit "kill $TPM_PID"
    export SEALTRAIN_TPM_TCTI="swtpm:host=127.0.0.1,port=$TPM_PORT"
    export TPM2TOOLS_TCTI="$SEALTRAIN_TPM_TCTI"
}
