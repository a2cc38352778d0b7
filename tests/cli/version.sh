#!/usr/bin/env bash
# The CLI answers --version and rejects unknown commands with exit 2.
. tests/cli/lib.sh

expect_exit 0 st version
expect_stdout "sealtrain "
ok "version prints"

expect_exit 2 st no-such-command
expect_stderr 'unknown command "no-such-command"'
ok "unknown command is a usage error"

# XGBoost is loaded only where trees are grown or used (src/train/
# xgb_load.h): linked, it cost every command ~10 ms at start
expect_exit 0 env LD_DEBUG=files "$SEALTRAIN" version
grep -q "file=libcrypto" "$T/stderr" || fail "LD_DEBUG=files said nothing"
! grep -Eq "file=[^ ]*(xgboost|dmlc|gomp)" "$T/stderr" ||
    fail "version loaded XGBoost: $(grep -E 'file=[^ ]*(xgboost|dmlc|gomp)' "$T/stderr" | head -3)"
ok "the CLI does not load XGBoost to start"
