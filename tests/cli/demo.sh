#!/usr/bin/env bash
# `make demo` keeps working: the whole story runs against this build, the
# model opens, the provenance verifies with standard tools, and the audit
# log verifies.
. tests/cli/lib.sh
DEMO_DIR=$T/demo scripts/demo.sh "$SEALTRAIN" >"$T/demo.out" 2>&1 || {
    tail -n 40 "$T/demo.out"
    fail "scripts/demo.sh failed"
}
grep -q "DSSE signature verifies" "$T/demo.out" || fail "provenance not verified"
grep -q "audit log verified" "$T/demo.out" || fail "audit log not verified"
grep -q "final accuracy of Mo's model" "$T/demo.out" || fail "no final accuracy"
ok "the demo runs end to end"
