#!/usr/bin/env bash
# The CLI answers --version and rejects unknown commands with exit 2.
. tests/cli/lib.sh

expect_exit 0 st version
expect_stdout "sealtrain "
ok "version prints"

expect_exit 2 st no-such-command
expect_stderr 'unknown command "no-such-command"'
ok "unknown command is a usage error"

# XGBoost and OpenBLAS are loaded only where a model is trained or used
# (src/train/extlib.h): linked, they cost every command ~10 ms and more
# at start
expect_exit 0 env LD_DEBUG=files "$SEALTRAIN" version
grep -q "file=libcrypto" "$T/stderr" || fail "LD_DEBUG=files said nothing"
! grep -Eq "file=[^ ]*(xgboost|dmlc|gomp|openblas|gfortran)" "$T/stderr" ||
    fail "version loaded XGBoost or OpenBLAS: $(grep -E 'file=[^ ]*(xgboost|dmlc|gomp|openblas|gfortran)' "$T/stderr" | head -3)"
ok "the CLI loads neither XGBoost nor OpenBLAS to start"

# nor libcurl (sealtrain/curl.h): only --server and remote brokers need
# it, and linked it brings ~25 libraries and ~12,000 relocations
! grep -Eq "file=[^ ]*libcurl" "$T/stderr" ||
    fail "version loaded libcurl: $(grep -E 'file=[^ ]*libcurl' "$T/stderr" | head -1)"
ok "the CLI does not load libcurl to start"
