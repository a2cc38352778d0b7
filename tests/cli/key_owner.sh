#!/usr/bin/env bash
# KEKs have owners (issue 13): a data owner rotates, retires and revokes
# only the KEKs that are theirs (created by them, or wrapping their
# datasets); the KEKs without owner, the system's audit.log and jobs among
# them, are the admins', and an admin does not touch a data owner's KEK.
# Each refusal exits 4 and is audited; owner.NAME and the system names
# cannot be taken by someone else first.
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh
st identity new eve --out "$K" >/dev/null 2>&1
admin principal add eve --role data-owner --signing-key "$K/eve.pub.pem" \
    >/dev/null
eve() { st --as eve --key "$K/eve.pem" "$@"; }
import_digits
# the first checkpoint seals the log key under the system KEK audit.log
admin audit checkpoint >/dev/null

# another data owner crypto-shreds nothing of dana's
expect_exit 4 eve key rotate owner.dana
expect_stderr "permission denied"
expect_exit 4 eve key retire owner.dana --version 1
expect_exit 4 eve key revoke owner.dana --version 1
expect_exit 0 dana key show owner.dana --json
python3 -c 'import json,sys; k=json.load(open(sys.argv[1])); assert k["current"]==1 and [v["state"] for v in k["versions"]]==["active"], k' "$T/stdout"
ok "another data owner cannot rotate, retire or revoke owner.dana"

# nor the system KEKs
expect_exit 4 eve key rotate audit.log
expect_stderr "key:audit.log has no owner"
expect_exit 4 dana key revoke audit.log --version 1
ok "a data owner cannot rotate or revoke the system KEK audit.log"

# an admin manages the system KEKs, not a data owner's
expect_exit 4 admin key rotate owner.dana
expect_stderr "lacks a grant"
expect_exit 0 admin key rotate audit.log
expect_stdout "version 2 is current"
ok "an admin rotates audit.log but not owner.dana"

# the owner does
expect_exit 0 dana key rotate owner.dana
expect_stdout "version 2 is current"
expect_exit 0 dana key retire owner.dana --version 1
ok "dana rotates and retires her own KEK"

# a KEK a data owner creates is theirs
expect_exit 0 eve key create eve.extra
expect_exit 0 eve key rotate eve.extra
expect_exit 4 dana key rotate eve.extra
expect_exit 4 admin key rotate eve.extra
expect_exit 0 eve key show eve.extra --json
python3 -c 'import json,sys; k=json.load(open(sys.argv[1])); assert k["owner"]=="eve", k' "$T/stdout"
ok "a KEK is its creator's; key show names its owner"

# names that belong to someone else cannot be taken first
expect_exit 4 eve key create owner.zed
expect_stderr "owner.zed"
expect_exit 4 eve key create jobs
expect_stderr "system"
expect_exit 0 dana key list
grep -q '^jobs ' "$T/stdout" && fail "a data owner created the system KEK jobs"
ok "owner.NAME and the system KEK names cannot be squatted"

# a workspace from before KEK owners: the owner comes from the datasets
sqlite3 "$T/ws/catalog.db" "DELETE FROM resource_owners WHERE resource = 'key:owner.dana'"
expect_exit 4 eve key rotate owner.dana
expect_exit 4 admin key rotate owner.dana
expect_exit 0 dana key rotate owner.dana
expect_stdout "version 3 is current"
ok "a KEK without an owner record belongs to the owner of the datasets it wraps"

# every refusal is in the audit log, and the log verifies
n=$(grep -c '"outcome":"denied"' "$T/ws/audit/log.jsonl")
[ "$n" -ge 10 ] || fail "only $n denials audited"
python3 - "$T/ws/audit/log.jsonl" <<'PY' || fail "eve's attempts are not audited"
import json, sys
es = [json.loads(l) for l in open(sys.argv[1])]
d = {(e["actor"], e["action"], e["resource"]) for e in es if e["outcome"] == "denied"}
for a in ("key.rotate", "key.retire", "key.revoke"):
    assert ("eve", a, "key:owner.dana") in d, a
assert ("eve", "key.rotate", "key:audit.log") in d
assert ("admin", "key.rotate", "key:owner.dana") in d
PY
expect_exit 0 admin audit verify
ok "refusals are audited; the log verifies"
