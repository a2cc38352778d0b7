#!/usr/bin/env bash
# start-swtpm.sh STATEDIR [LOGFILE]: starts a TPM 2.0 simulator (swtpm) on
# free loopback ports (P for commands, P+1 for control), waits until it
# answers, and prints "P PID". The caller stops it (kill PID). Ports are
# chosen free, but a process running in parallel can take one before swtpm
# binds it: then it retries on fresh ports. Used by the CLI tests
# (tests/cli/lib.sh), the demo and the benchmarks.
set -u
dir=$1
log=${2:-/dev/null}
command -v swtpm >/dev/null || {
    echo "start-swtpm: swtpm is not installed (scripts/install-deps.sh)" >&2
    exit 1
}
mkdir -p "$dir"
for _attempt in 1 2 3 4 5 6 7 8; do
    port=$(python3 -c '
import socket
while True:
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1))
    except OSError:
        a.close(); b.close(); continue
    a.close(); b.close(); print(p); break')
    # no descriptor of ours stays open in swtpm: a caller's $(...) returns
    swtpm socket --tpmstate dir="$dir" --tpm2 \
        --server type=tcp,port="$port",bindaddr=127.0.0.1 \
        --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
        --flags not-need-init,startup-clear </dev/null >>"$log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port $pid"
            exit 0
        fi
        sleep 0.1
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
done
echo "start-swtpm: swtpm did not start (see $log)" >&2
exit 1
