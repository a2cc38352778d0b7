#!/usr/bin/env bash
# Attacker-controlled text in the audit log is neutralised where people
# read it (issue 14): a principal (or a stranger naming itself with --as)
# puts ESC/BEL/CR and spreadsheet formulas into audited fields; the
# auditor's `audit show` prints them escaped, never raw, and `audit export
# --format csv` turns cells beginning with = + - @ into text.
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh

# a stranger with no principal, and mo outside its role
st --as '=1+2' --key "$K/mo.pem" data list >/dev/null 2>&1 || true
st --as '@SUM(A1)' --key "$K/mo.pem" data list >/dev/null 2>&1 || true
mo principal grant mo $'dataset:x\e[2J\a\r+evil' use >/dev/null 2>&1 || true
grep -qi 'u001b\[2J' "$SEALTRAIN_WORKSPACE/audit/log.jsonl" ||
    fail "the attack did not reach the audit log"

admin audit show >"$T/show.txt"
if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$T/show.txt"; then
    fail "audit show printed raw control characters: $(cat -v "$T/show.txt" | tail -n2)"
fi
grep -qF 'dataset:x\x1b[2J\x07\x0d+evil' "$T/show.txt" ||
    fail "the control characters are not shown escaped: $(tail -n1 "$T/show.txt")"
grep -q '=1+2' "$T/show.txt" || fail "the stranger's name is missing from the text view"
ok "audit show escapes ESC, BEL and CR (shown as \\x1b \\x07 \\x0d)"

admin audit export --format csv >"$T/audit.csv"
python3 - "$T/audit.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
bad = [c for r in rows for c in r if c[:1] in ("=", "+", "-", "@")]
assert not bad, "formula cells: %r" % bad
actors = [r[3] for r in rows]
assert "'=1+2" in actors and "'@SUM(A1)" in actors, actors
PY
ok "audit export --format csv neutralises cells beginning with = + - @"
