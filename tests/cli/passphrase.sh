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

# interactive: the prompt goes to the terminal with echo off, twice at init
python3 - "$SEALTRAIN" "$T/ttyws" <<'PY' || fail "terminal prompt"
import os, pty, sys, time
binary, ws = sys.argv[1], sys.argv[2]
env = dict(os.environ)
env.pop("SEALTRAIN_PASSPHRASE_FILE", None)
def run(args, answers):
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(binary, [binary, "--workspace", ws] + args, env)
    out = b""
    for a in answers:
        while b"assphrase" not in out.split(b"\n")[-1]:
            chunk = os.read(fd, 1024)
            if not chunk:
                break
            out += chunk
        os.write(fd, a + b"\n")
        out += b"\n"
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out
secret = b"typed at the terminal 9f2c"
rc, out = run(["init", "--protect", "passphrase"], [secret, secret])
assert rc == 0, (rc, out)
assert b"New workspace passphrase" in out and b"Repeat" in out, out
assert secret not in out, "the passphrase was echoed"
rc, out = run(["key", "list"], [secret])
assert rc == 0 and secret not in out, (rc, out)
rc, out = run(["key", "list"], [b"something else"])
assert rc == 4 and b"wrong passphrase" in out, (rc, out)
PY
ok "the terminal prompt does not echo, confirms at init and unlocks"
