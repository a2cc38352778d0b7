#!/usr/bin/env bash
# sealtrain --server URL: data list/show, job list/status/cancel and audit
# checkpoint run against `sealtrain serve` with the principal's client
# certificate (no local workspace is opened); denials exit 4 naming the
# permission, unknown ids exit 3, a wrong CA or an unreachable server fail
# cleanly, and commands that cannot run remotely say so.
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh
. tests/serve_lib.sh

st identity new aud --out "$K" >/dev/null 2>&1
admin principal add aud --role auditor --signing-key "$K/aud.pub.pem" >/dev/null
st identity new mal --out "$K" >/dev/null 2>&1
admin principal add mal --role model-owner --signing-key "$K/mal.pub.pem" >/dev/null
import_digits
policy sim
spec
id=$(mo job submit "$SPEC" | grep -o 'j[0-9a-f]\{15\}' | head -n1)
[ -n "$id" ] || fail "no job id"
cert dana mo aud mal
start_server

# remote commands never touch the local workspace: point it elsewhere
remote() {
    local who=$1
    shift
    SEALTRAIN_WORKSPACE=$T/nonexistent SEALTRAIN_CERT=$CERTS/$who.crt \
        SEALTRAIN_CACERT=$CERTS/ca.crt \
        "$SEALTRAIN" --server "$API" --as "$who" --key "$K/$who.pem" "$@"
}

expect_exit 0 remote dana data list
expect_stdout "digits"
expect_stdout "owner=dana"
expect_exit 0 remote dana data show digits --json
expect_stdout '"release_policy"'
ok "data list / show over --server"

expect_exit 0 remote mo job status "$id"
expect_stdout "$id  queued"
expect_exit 0 remote mo job list
expect_stdout "$id"
expect_exit 3 remote mo job status j000000000000000
expect_stderr "HTTP 404"
ok "job status / list over --server; an unknown id exits 3"

expect_exit 4 remote mo audit checkpoint
expect_stderr "audit.checkpoint"
expect_exit 0 remote aud audit checkpoint
expect_stdout "sealtrain/audit/"
ok "audit checkpoint over --server; a principal without the role exits 4"

# another model owner, with a valid certificate and job.cancel, cannot
# cancel, read or follow mo's job (POST /v1/jobs/ID/cancel, GET ...)
expect_exit 4 remote mal job cancel "$id"
expect_stderr "job:$id"
expect_exit 4 remote mal job status "$id"
expect_exit 4 remote mal job logs "$id"
expect_exit 0 remote aud job logs "$id"
expect_exit 0 remote mo job status "$id"
expect_stdout "queued"
ok "another model owner cannot cancel or read the job over --server"

expect_exit 0 remote mo job cancel "$id"
expect_exit 0 remote mo job status "$id"
expect_stdout "cancelled"
ok "job cancel over --server"

expect_exit 2 remote mo data rm digits
expect_stderr "not available with --server"
SEALTRAIN_CERT=$CERTS/mo.crt SEALTRAIN_CACERT=$CERTS/mo.crt \
    expect_exit 4 "$SEALTRAIN" --server "$API" --key "$K/mo.pem" job list
stop_server
expect_exit 5 remote mo job list
ok "remote-only commands, a wrong CA (4) and a stopped server (5) fail cleanly"
