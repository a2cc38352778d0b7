#!/usr/bin/env bash
# `sealtrain key`: the KEK life cycle through the CLI, its usage errors,
# and the distinct errors for a tampered keyring, a wrong key file, a
# loosened workspace and a missing TPM.
. tests/cli/lib.sh

expect_exit 0 st init --protect "file:$T/root.key"
[ "$(stat -c %a "$T/root.key")" = 600 ] || fail "key file is not 0600"
ok "init with file: protection creates a 0600 key file"

expect_exit 0 st key create data --rotation-days 30
expect_stdout "created key data (version 1)"
expect_exit 0 st key rotate data
expect_stdout "version 2 is current"
expect_exit 0 st key list
expect_stdout "data"
grep -q "OVERDUE" "$T/stdout" && fail "a fresh key is flagged overdue"
expect_exit 0 st key show data --json
python3 -c 'import json,sys; k=json.load(open(sys.argv[1])); assert k["current"]==2 and k["rotation_days"]==30 and [v["state"] for v in k["versions"]]==["active","active"], k' "$T/stdout"
ok "create, rotate, list and show"

expect_exit 2 st key retire data --version 2
expect_stderr "rotate the key before retiring it"
expect_exit 0 st key retire data --version 1
expect_exit 0 st key revoke data --version 1
expect_exit 0 st key show data
expect_stdout "version 1: revoked"
expect_exit 0 st key list --json
python3 -c 'import json,sys; ks=json.load(open(sys.argv[1])); assert ks[0]["versions"][0]["state"]=="revoked"' "$T/stdout"
ok "retire and revoke change version states"

expect_exit 0 st key revoke data --version 2
expect_exit 0 st key list
expect_stdout "OVERDUE"
ok "a key whose current version is revoked is flagged"

expect_exit 2 st key revoke data
expect_stderr "needs --version"
expect_exit 2 st key frobnicate data
expect_stderr "unknown subcommand"
expect_exit 2 st key create
expect_exit 2 st key create 'Bad Name'
expect_exit 3 st key show nosuch
expect_stderr 'no key "nosuch"'
expect_exit 3 st key create data
expect_stderr "already exists"
expect_exit 0 st key --help
expect_stdout "usage: sealtrain key"
ok "usage errors exit 2, unknown names 3"

grep -q '"action":"key.revoke"' "$T/ws/audit/log.jsonl" || fail "revoke not audited"
ok "key changes are audited"

# tampering: a valid JSON edit that the MAC catches
sed -i 's/"rotation_days":30/"rotation_days":3000/' "$T/ws/keys/keyring.json"
expect_exit 4 st key list
expect_stderr "was tampered with or corrupted: its MAC does not verify"
sed -i 's/"rotation_days":3000/"rotation_days":30/' "$T/ws/keys/keyring.json"
expect_exit 0 st key list
ok "a tampered keyring is refused (exit 4)"

cp -p "$T/root.key" "$T/root.key.good"
head -c 32 /dev/urandom >"$T/root.key"
expect_exit 4 st key list
expect_stderr "wrong root key file $T/root.key"
cp -p "$T/root.key.good" "$T/root.key"
chmod 644 "$T/root.key"
expect_exit 4 st key list
expect_stderr "$T/root.key has mode 0644"
chmod 600 "$T/root.key"
ok "a wrong or exposed key file is refused"

chmod 750 "$T/ws/keys"
expect_exit 4 st key list
expect_stderr "$T/ws/keys has mode 0750"
chmod 700 "$T/ws/keys"
chmod 644 "$T/ws/catalog.db"
expect_exit 4 st key list
expect_stderr "$T/ws/catalog.db has mode 0644"
chmod 600 "$T/ws/catalog.db"
expect_exit 0 st key list
ok "a loosened workspace is refused naming the path"

# no TPM listens on a port we just found free
port=$(free_port)
SEALTRAIN_TPM_TCTI="swtpm:host=127.0.0.1,port=$port" \
    expect_exit 5 st --workspace "$T/tpmws" init --protect tpm
expect_stderr "TPM not available"
[ ! -e "$T/tpmws" ] || fail "a failed init left a workspace behind"
ok "a missing TPM is its own error and leaves no workspace"

# with principals registered, key commands need an authenticated principal
# whose role allows the action
st identity new admin --out "$T" >/dev/null 2>&1
st identity new aud --out "$T" >/dev/null 2>&1
expect_exit 0 st principal add admin --role admin --signing-key "$T/admin.pub.pem"
expect_exit 4 st key list
expect_stderr "--as NAME --key FILE"
expect_exit 0 st --as admin --key "$T/admin.pem" principal add aud --role auditor --signing-key "$T/aud.pub.pem"
expect_exit 0 st --as admin --key "$T/admin.pem" key create k1
expect_exit 4 st --as aud --key "$T/aud.pem" key rotate k1
expect_stderr "lacks permission key.rotate on key:k1"
expect_exit 4 st --as aud --key "$T/admin.pem" key list
grep -q '"action":"key.create","actor":"admin"' "$T/ws/audit/log.jsonl" ||
    fail "the acting principal is not recorded"
ok "key commands are access-checked and audited with the acting principal"
