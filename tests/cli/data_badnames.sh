#!/usr/bin/env bash
# Bad input never half-registers (issue 14): a CSV whose header holds a
# name that is not valid UTF-8 (or holds a control character) is refused
# before anything is written, so `data list`, `check` and `cleanup` keep
# working for everyone; and `check` never turns an unreadable catalog row
# into n/a: it fails, naming the row.
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh
import_digits

files_before=$(find "$SEALTRAIN_WORKSPACE" -type f | grep -v -e '/audit/' -e 'catalog.db' | sort)
printf 'a,b\xff\xfe,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n' >"$T/bad.csv"
expect_exit 3 dana data import "$T/bad.csv" --name bad --label label \
    --owner dana --classification confidential --recipient "$DANA_RCPT"
expect_stderr "not valid UTF-8"
expect_stderr ":1:2"
printf 'a,b\033[2J,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n' >"$T/ctl.csv"
expect_exit 3 dana data import "$T/ctl.csv" --name ctl --label label \
    --owner dana --classification confidential --recipient "$DANA_RCPT"
expect_stderr "control character"
files_after=$(find "$SEALTRAIN_WORKSPACE" -type f | grep -v -e '/audit/' -e 'catalog.db' | sort)
[ "$files_before" = "$files_after" ] ||
    fail "a refused import left files: $(diff <(echo "$files_before") <(echo "$files_after"))"
dana data list >"$T/list" || fail "data list fails after a refused import"
grep -q digits "$T/list" && ! grep -q -e '^bad' -e '^ctl' "$T/list" ||
    fail "data list: $(cat "$T/list")"
admin check >/dev/null || fail "check fails after a refused import"
ok "header names that are not valid UTF-8 or hold control characters are refused before anything is written"

# a row the datasets module cannot read back (as an older version could
# leave): check fails naming it, never n/a
sqlite3 "$SEALTRAIN_WORKSPACE/catalog.db" \
    "UPDATE datasets SET manifest = '{\"payload\": 7}' WHERE name = 'digits'"
expect_exit 4 admin check
grep -q '^fail.*release-policies' "$T/stdout" || fail "release-policies not failed: $(cat "$T/stdout")"
grep -q 'dataset "digits"' "$T/stdout" || fail "the row is not named: $(cat "$T/stdout")"
! grep -q '^n/a' "$T/stdout" || fail "an unreadable row became n/a: $(grep '^n/a' "$T/stdout")"
ok "check fails on an unreadable dataset row, naming it, instead of n/a"
