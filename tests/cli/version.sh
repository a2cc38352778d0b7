#!/usr/bin/env bash
# The CLI answers --version and rejects unknown commands with exit 2.
. tests/cli/lib.sh

expect_exit 0 st version
expect_stdout "sealtrain "
ok "version prints"

expect_exit 2 st no-such-command
expect_stderr 'unknown command "no-such-command"'
ok "unknown command is a usage error"
