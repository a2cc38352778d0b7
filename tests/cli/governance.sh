#!/usr/bin/env bash
# Metrics (checked by promtool), the security check (items, evidence, exit
# status, self-contained HTML), and cleanup (retention crypto-shredding,
# temporary files, dry run), all recorded in the audit log. Retention that
# has run out is exercised in tests/unit/test_compliance.c (the clock can
# be moved there; the CLI accepts retention of at least one day).
. tests/cli/lib.sh

head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
st init --protect "file:$T/root.key" >/dev/null
openssl genpkey -algorithm ed25519 -out "$T/alice.pem" 2>/dev/null
age-keygen -o "$T/alice.age" 2>/dev/null
RCPT=$(age-keygen -y "$T/alice.age")
head -n 200 examples/data/digits.csv >"$T/small.csv"
SEALTRAIN_KEY=$T/alice.pem st data import "$T/small.csv" --name old \
    --label label --owner alice --classification confidential \
    --retention-days 1 --recipient "$RCPT" >/dev/null
SEALTRAIN_KEY=$T/alice.pem st data import "$T/small.csv" --name kept \
    --label label --owner alice --classification internal \
    --retention-days 365 --recipient "$RCPT" >/dev/null

expect_exit 0 st metrics
cp "$T/stdout" "$T/metrics.txt"
promtool check metrics <"$T/metrics.txt" || fail "promtool rejects the metrics"
expect_stdout 'sealtrain_datasets 2'
expect_stdout 'sealtrain_jobs{state="training"} 0'
expect_stdout 'sealtrain_keyring_open 1'
expect_stdout 'sealtrain_kek_rotation_overdue{key="owner.alice"} 0'
ok "metrics pass promtool check metrics"

expect_exit 0 st check --json
python3 - "$T/stdout" <<'PY' || fail "unexpected check items"
import json, sys
d = json.load(open(sys.argv[1]))
s = {i["id"]: i for i in d["items"]}
assert s["retention"]["status"] == "pass", s["retention"]
assert s["release-policies"]["status"] == "warn", s["release-policies"]
assert s["audit-log"]["status"] == "warn" and "never checkpointed" in s["audit-log"]["evidence"]
assert s["kek-rotation"]["status"] == "pass"
assert s["workspace-permissions"]["status"] == "pass"
assert d["result"] == "warn"
PY
ok "check warns about missing policies and a log never checkpointed"

st audit checkpoint >/dev/null
[ ! -e "$T/ws/audit/log.key" ] || fail "the plain log key survived the first checkpoint"
[ -f "$T/ws/audit/log.key.sealed" ] || fail "no sealed log key"
chmod 644 "$T/ws/audit/log.key.sealed"
expect_exit 4 st check --html "$T/report.html"
expect_stdout "fail  key-files"
expect_stdout "log.key.sealed is mode 0644"
expect_stdout "pass  audit-log"
chmod 600 "$T/ws/audit/log.key.sealed"
grep -q "key-files" "$T/report.html" || fail "html lacks the item"
grep -q '<tr class="fail">' "$T/report.html" || fail "html lacks the failure"
if grep -Eiq '<script|<link|<img|src=|href=|url\(' "$T/report.html"; then
    fail "the HTML report references something outside itself"
fi
ok "check fails on a loose key file (exit 4); the HTML report is self-contained"

mkdir -p "$T/ws/tmp"
echo leftover >"$T/ws/tmp/job.partial"
touch -d '2 hours ago' "$T/ws/tmp/job.partial"
echo fresh >"$T/ws/tmp/young"
expect_exit 0 st cleanup --dry-run
expect_stdout "would    temp-files"
expect_stdout "job.partial"
[ -f "$T/ws/tmp/job.partial" ] || fail "dry run removed a file"
expect_exit 0 st cleanup
expect_stdout "done     temp-files"
[ ! -e "$T/ws/tmp/job.partial" ] || fail "old temp file kept"
[ -e "$T/ws/tmp/young" ] || fail "young temp file removed"
expect_exit 0 st data show old
expect_exit 0 st audit show --category compliance
expect_stdout "cleanup.temp-files"
expect_exit 0 st audit verify
ok "cleanup removes old temp files only, dry run changes nothing, audited"

# repeated denials from one principal fail the check
openssl genpkey -algorithm ed25519 -out "$T/root.pem" 2>/dev/null
openssl pkey -in "$T/root.pem" -pubout -out "$T/root.pub"
openssl pkey -in "$T/alice.pem" -pubout -out "$T/alice.pub"
st principal add root --role admin --signing-key "$T/root.pub" >/dev/null
st --as root --key "$T/root.pem" principal add mallory --role trainer \
    --signing-key "$T/alice.pub" >/dev/null
for i in 1 2 3; do
    st --as mallory --key "$T/alice.pem" cleanup >/dev/null 2>&1 || true
done
expect_exit 0 st --as root --key "$T/root.pem" check --denial-threshold 5
expect_stdout "pass  repeated-denials"
expect_exit 4 st --as root --key "$T/root.pem" check --denial-threshold 3
expect_stdout "mallory was denied 3 times"
expect_exit 4 st --as mallory --key "$T/alice.pem" metrics
expect_stderr "lacks permission audit.read"
ok "repeated denials from one principal fail the check (threshold configurable)"
