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

# free_port_pair: a TCP port P on 127.0.0.1 such that P and P+1 are both
# free now (swtpm's server and control ports).
free_port_pair() {
    python3 -c '
import socket
while True:
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1))
    except OSError:
        a.close(); b.close(); continue
    a.close(); b.close(); print(p); break'
}

# start_swtpm [STATEDIR]: a TPM 2.0 simulator (swtpm) on free loopback
# ports with its state in STATEDIR (default $T/tpm), stopped on exit. Sets
# TPM_PORT and TPM_PID and exports SEALTRAIN_TPM_TCTI and TPM2TOOLS_TCTI.
# Tests run in parallel, so a port can be taken between the choice and
# swtpm's bind: then it retries on fresh ports.
start_swtpm() {
    command -v swtpm >/dev/null || fail "swtpm is not installed (scripts/install-deps.sh)"
    local dir=${1:-$T/tpm} attempt
    mkdir -p "$dir"
    for attempt in 1 2 3 4 5 6 7 8; do
        TPM_PORT=$(free_port_pair)
        swtpm socket --tpmstate dir="$dir" --tpm2 \
            --server type=tcp,port="$TPM_PORT",bindaddr=127.0.0.1 \
            --ctrl type=tcp,port=$((TPM_PORT + 1)),bindaddr=127.0.0.1 \
            --flags not-need-init,startup-clear 2>>"$T/swtpm.log" &
        TPM_PID=$!
        on_exit "kill $TPM_PID"
        for _ in $(seq 50); do
            kill -0 "$TPM_PID" 2>/dev/null || break
            if (exec 3<>"/dev/tcp/127.0.0.1/$TPM_PORT") 2>/dev/null; then
                export SEALTRAIN_TPM_TCTI="swtpm:host=127.0.0.1,port=$TPM_PORT"
                export TPM2TOOLS_TCTI="$SEALTRAIN_TPM_TCTI"
                return 0
            fi
            sleep 0.1
        done
        kill "$TPM_PID" 2>/dev/null || true
        wait "$TPM_PID" 2>/dev/null || true
    done
    cat "$T/swtpm.log" >&2
    fail "swtpm did not start (attempts: $attempt)"
}
