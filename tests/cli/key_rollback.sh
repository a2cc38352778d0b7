#!/usr/bin/env bash
# The keyring's rollback protection, attacked by an operator who wants a
# revoked KEK version back. (1) With an old keyring.json alone, writing its
# generation and MAC into the catalog's record by hand: refused, the record
# is authenticated under the root key. (2) With a backup of both the file
# and the record: a consistent older state the keyring cannot tell apart;
# the audit log can (it records every revocation with its version), and
# `sealtrain check` fails when a version it says was revoked is active.
# Both failed before this test's fixes (the forged record was accepted; no
# check item looked).
. tests/cli/lib.sh

WS=$SEALTRAIN_WORKSPACE
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
expect_exit 0 st init --protect "file:$T/root.key"
expect_exit 0 st key create k
expect_exit 0 st key rotate k
# the attacker's backup: the keyring file and its catalog row
cp "$WS/keys/keyring.json" "$T/keyring.old"
row=$(sqlite3 "$WS/catalog.db" "SELECT generation || '|' || mac || '|' || auth FROM keyring_state WHERE id = 1")
expect_exit 0 st key revoke k --version 1

# item "revoked-keys" of `check --json`: STATUS and evidence
check_item() {
    set +e
    st check --json >"$T/check.json" 2>"$T/stderr"
    set -e
    python3 - "$T/check.json" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = {i["id"]: i for i in d["items"]}
it = s.get("revoked-keys")
assert it is not None, "no revoked-keys item"
assert it["status"] == sys.argv[2], it
if sys.argv[2] == "fail":
    assert "k version 1" in it["evidence"], it
PY
}
check_item pass || fail "check does not pass before the attack"
ok "check passes while the revocation is in force"

# the attack with the old file alone: the row's generation and MAC are
# read from that file and written into the catalog by hand
cp "$WS/keys/keyring.json" "$T/keyring.cur"
cp "$T/keyring.old" "$WS/keys/keyring.json"
python3 - "$T/keyring.old" >"$T/oldrow" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("%d|%s" % (d["generation"], d["mac"]))
PY
forged=$(cat "$T/oldrow")
sqlite3 "$WS/catalog.db" "UPDATE keyring_state SET generation = ${forged%%|*}, mac = '${forged#*|}' WHERE id = 1"
expect_exit 4 st key show k
expect_stderr "its authenticator does not verify under the root key"
ok "a catalog record forged from an old keyring file is refused: it is authenticated under the root key"
cp "$T/keyring.cur" "$WS/keys/keyring.json"
sqlite3 "$WS/catalog.db" "UPDATE keyring_state SET generation = $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["generation"])' "$T/keyring.cur"), mac = '$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mac"])' "$T/keyring.cur")' WHERE id = 1"

# the attack with a backup of both: old file, old row (authenticator
# included): a consistent older state, which only the audit log exposes
cp "$T/keyring.old" "$WS/keys/keyring.json"
IFS='|' read -r gen mac auth <<<"$row"
sqlite3 "$WS/catalog.db" "UPDATE keyring_state SET generation = $gen, mac = '$mac', auth = '$auth' WHERE id = 1"
expect_exit 0 st key show k
expect_stdout "version 1: active"
ok "the rollback itself goes unnoticed by the keyring (consistent older state)"

check_item fail || fail "check does not notice the revoked version back in force"
expect_exit 4 st check
ok "check fails: the audit log says k version 1 was revoked, the keyring has it active"
