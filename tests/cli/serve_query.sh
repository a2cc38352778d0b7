#!/usr/bin/env bash
# Query values out of range are refused with 400 and a reason (issue 14),
# never read as "the default" (size=0 meant "the whole log", version=0
# "the latest", and an index past 2^63 went negative in JSON).
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh
. tests/serve_lib.sh

st identity new aud --out "$K" >/dev/null 2>&1
admin principal add aud --role auditor --signing-key "$K/aud.pub.pem" >/dev/null
cert aud mo
import_digits
policy sim
spec
JOB=$(mo job submit "$SPEC")
# proofs are against the latest signed checkpoint
admin audit checkpoint >/dev/null
start_server

out=$(as_curl aud "$API/v1/audit/proof?index=0")
[ "$(status_of "$out")" = 200 ] || fail "a valid proof request: $out"

# each: URL, the word the reason must contain
while read -r who url word; do
    out=$(as_curl "$who" "$API${url/JOB/$JOB}")
    [ "$(status_of "$out")" = 400 ] || fail "$url: expected 400, got: $out"
    grep -q "$word" <<<"$out" || fail "$url: the reason does not name $word: $out"
done <<'CASES'
aud /v1/audit/proof?index=0&size=0 size
aud /v1/audit/proof?index=9223372036854775808 index
aud /v1/audit/proof?index=18446744073709551615 index
aud /v1/audit/proof?index=99999999999999999999 index
aud /v1/audit/entries?from=9223372036854775808 from
aud /v1/audit/entries?limit=0 limit
mo /v1/models/m1?version=0 version
mo /v1/models/m1?version=4294967296 version
mo /v1/models/m1/verify?version=0 version
mo /v1/jobs/JOB/logs?follow=2 follow
CASES
ok "size=0, version=0, an index past 2^63 and other out-of-range values are 400 naming the parameter"
stop_server
