#!/usr/bin/env bash
# An operator-side failure before the runtime starts: the keyring is
# passphrase-protected and `job run` has neither a terminal nor
# SEALTRAIN_PASSPHRASE_FILE. No key can be released, so the job is not
# failed: it stays queued with a reason that says what is missing, and
# runs once the passphrase is given (issue 14).
. tests/cli/lib.sh
printf 'a long and correct passphrase\n' >"$T/pass"
chmod 600 "$T/pass"
export SEALTRAIN_PASSPHRASE_FILE=$T/pass
JOB_LIB_PROTECT=passphrase
. tests/job_lib.sh
import_digits
policy sim
spec '{"training": {"epochs": 2}, "checkpoint_every": 0}'
id=$(mo job submit "$SPEC")

unset SEALTRAIN_PASSPHRASE_FILE
expect_exit 2 setsid -w "$SEALTRAIN" --as mo --key "$K/mo.pem" job run "$id" </dev/null
expect_stderr "no passphrase"
[ "$(job_field "$id" 'j["state"]')" = queued ] ||
    fail "without a passphrase the job is $(job_field "$id" 'j["state"]'): $(job_field "$id" 'j["reason"]')"
job_field "$id" 'j["reason"]' | grep -q "passphrase" ||
    fail "the reason does not name the passphrase: $(job_field "$id" 'j["reason"]')"
grep -q '"action":"key.release".*"outcome":"success"' "$T/ws/audit/log.jsonl" &&
    fail "a key was released"
ok "job run without a passphrase: the job stays queued, saying why"

SEALTRAIN_PASSPHRASE_FILE=$T/pass expect_exit 0 mo job run "$id"
[ "$(SEALTRAIN_PASSPHRASE_FILE=$T/pass job_field "$id" 'j["state"]')" = succeeded ] || fail "not run once the passphrase is given"
ok "given the passphrase, the queued job runs"
