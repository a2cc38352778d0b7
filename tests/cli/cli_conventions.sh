#!/usr/bin/env bash
# CLI conventions (issue 14): `principal cert --out DIR` creates DIR; a
# client certificate that does not belong to the --key given is refused
# before any connection, saying which file is which; job logs are 0600.
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh
. tests/serve_lib.sh

expect_exit 0 admin principal cert mo --out "$T/new/certs"
[ -f "$T/new/certs/mo.crt" ] && [ -f "$T/new/certs/ca.crt" ] ||
    fail "principal cert did not create its --out directory"
ok "principal cert --out DIR creates DIR"

# mo's certificate with dana's key: the client says which is which
cert mo dana
expect_exit 3 env SEALTRAIN_CERT="$CERTS/mo.crt" SEALTRAIN_CACERT="$CERTS/ca.crt" \
    "$SEALTRAIN" --server https://127.0.0.1:9 --as dana --key "$K/dana.pem" data list
expect_stderr "$CERTS/mo.crt"
expect_stderr "principal mo"
expect_stderr "$K/dana.pem"
expect_stderr "another key"
ok "a certificate/key mismatch names the certificate, its principal and the key"

import_digits
policy sim
spec
id=$(mo job submit "$SPEC" | grep -o 'j[0-9a-f]\{15\}' | head -n1)
[ -n "$id" ] || fail "no job id"
log="$SEALTRAIN_WORKSPACE/logs/job-$id.log"
[ -f "$log" ] || fail "no job log at $log"
[ "$(stat -c %a "$log")" = 600 ] || fail "the job log is $(stat -c %a "$log"), not 600"
ok "job logs are 0600"

# --json: JSON on stdout wherever a command prints, a usage error (2)
# where it cannot apply
isjson() { python3 -c 'import json,sys; json.load(sys.stdin)' <"$T/stdout" ||
    fail "not JSON from: $* -> $(cat "$T/stdout")"; }
expect_exit 0 st version --json
isjson version
expect_exit 0 st principal matrix --json
isjson principal matrix
grep -q '"data.read"' "$T/stdout" || fail "matrix --json lacks the actions"
expect_exit 0 admin audit checkpoint --json
isjson audit checkpoint
grep -q '"tree_size"' "$T/stdout" || fail "checkpoint --json: $(cat "$T/stdout")"
expect_exit 0 mo job submit "$SPEC" --json
isjson job submit
expect_exit 2 mo job logs "$id" --json
expect_stderr "--json does not apply"
expect_exit 0 mo job cancel "$id" --json
isjson job cancel
ok "--json on version, principal matrix, audit checkpoint, job submit/cancel; a usage error on job logs"
