#!/usr/bin/env bash
# Datasets under access control: the owner imports and manages their
# dataset with their registered key; another principal is denied; a
# signing key that is not the owner's registered key is refused; the
# operations land in the audit log.
. tests/cli/lib.sh

expect_exit 0 st init --protect "file:$T/root.key"
for p in admin alice bob; do
    expect_exit 0 st identity new $p --out "$T"
done
expect_exit 0 st principal add admin --role admin \
    --signing-key "$T/admin.pub.pem"
A=(--as admin --key "$T/admin.pem")
expect_exit 0 st "${A[@]}" principal add alice --role data-owner \
    --signing-key "$T/alice.pub.pem"
expect_exit 0 st "${A[@]}" principal add bob --role model-owner \
    --signing-key "$T/bob.pub.pem"
AL=(--as alice --key "$T/alice.pem")
BO=(--as bob --key "$T/bob.pem")

expect_exit 0 st "${AL[@]}" data import examples/data/digits.csv \
    --name digits --label label --owner alice --classification internal
ok "the owner imports with the registered key"

expect_exit 4 st "${BO[@]}" data import examples/data/digits.csv \
    --name d2 --label label --owner bob --classification internal
ok "a model owner may not import"

expect_exit 4 st "${AL[@]}" data import examples/data/digits.csv \
    --name d3 --label label --owner alice --classification internal \
    --signing-key "$T/bob.pem"
expect_stderr "not the registered key of owner alice"
expect_exit 3 st "${AL[@]}" data show d3
ok "a signing key other than the owner's registered key is refused"

expect_exit 4 st "${BO[@]}" data rm digits
expect_exit 0 st "${AL[@]}" data verify --deep digits
ok "another principal cannot remove the dataset"

expect_exit 0 st "${AL[@]}" key rotate owner.alice
expect_exit 0 st "${AL[@]}" data rewrap digits
expect_exit 0 st "${AL[@]}" data show digits
expect_stdout "signature        ok"
expect_exit 0 st "${AL[@]}" data rm digits
ok "the owner rewraps and removes"

grep -q '"data.import"' "$T/ws/audit/"* 2>/dev/null ||
    grep -rq 'data.import' "$T/ws/audit" || fail "no data.import audit entry"
grep -rq 'data.rm' "$T/ws/audit" || fail "no data.rm audit entry"
ok "imports and removals are audited"
