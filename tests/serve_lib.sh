# serve_lib.sh: start and stop `sealtrain serve` for the serve*.sh
# scenarios (sourced after lib.sh and job_lib.sh; not a test itself).
# Sets $CERTS (client certificates), $PORT, $API and the function
# `as_curl NAME ARGS...` (curl with NAME's certificate and key; prints the
# body, then the HTTP status on its own last line).

CERTS=$T/certs
mkdir -p "$CERTS"

# cert NAME...: issue client certificates from the workspace CA
cert() {
    local p
    for p in "$@"; do
        admin principal cert "$p" --out "$CERTS" >/dev/null
    done
}

as_curl() {
    local who=$1
    shift
    curl -sS --max-time 20 --cacert "$CERTS/ca.crt" --cert "$CERTS/$who.crt" \
        --key "$K/$who.pem" -w '\n%{http_code}\n' "$@"
}

# status_of OUTPUT: the last line (the HTTP status) of as_curl's output
status_of() { printf '%s\n' "$1" | tail -n1; }

# start_server ARGS...: serve on a free loopback port, wait until it listens
start_server() {
    PORT=$(free_port)
    API=https://127.0.0.1:$PORT
    rm -f "$T/ready"
    "$SEALTRAIN" --as admin --key "$K/admin.pem" serve \
        --listen "127.0.0.1:$PORT" --ready-file "$T/ready" "$@" \
        >"$T/serve.log" 2>&1 &
    SERVER_PID=$!
    on_exit "kill $SERVER_PID"
    local i
    for i in $(seq 100); do
        [ -s "$T/ready" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$T/serve.log" >&2
    fail "the server did not start"
}

# stop_server [SECONDS]: SIGTERM, then the server must exit 0 within
# SECONDS (5; longer where it first drains running jobs)
stop_server() {
    kill -TERM "$SERVER_PID"
    local i
    for i in $(seq $((${1:-5} * 10))); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$SERVER_PID" 2>/dev/null && fail "the server ignored SIGTERM"
    wait "$SERVER_PID" || fail "the server exited with $? after SIGTERM"
}
