#!/usr/bin/env bash
# Passphrase protection: non-interactive through SEALTRAIN_PASSPHRASE_FILE;
# a wrong passphrase has its own error; no terminal and no file is a usage
# error. (Each unlock costs ~0.5 s of scrypt by design.)
. tests/cli/lib.sh

printf 'a long and correct passphrase\n' >"$T/pass"
chmod 600 "$T/pass"
export SEALTRAIN_PASSPHRASE_FILE=$T/pass
expect_exit 0 st init --protect passphrase
expect_exit 0 st key create k
grep -q '"name":"scrypt"' "$T/ws/keys/root.json" || fail "no scrypt parameters"
ok "init and unlock with a passphrase file"

printf 'not the passphrase\n' >"$T/wrong"
chmod 600 "$T/wrong"
SEALTRAIN_PASSPHRASE_FILE=$T/wrong expect_exit 4 st key list
expect_stderr "wrong passphrase"
ok "a wrong passphrase is refused as such"

unset SEALTRAIN_PASSPHRASE_FILE
expect_exit 2 setsid -w "$SEALTRAIN" key list </dev/null
expect_stderr "no passphrase"
ok "without a terminal or a passphrase file: usage error"
