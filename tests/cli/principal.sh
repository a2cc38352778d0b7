#!/usr/bin/env bash
# Principals: the first must be an admin; afterwards every command needs
# --as and the matching key; the role matrix and owner grants are enforced
# through the CLI, and denials say which permission is missing (exit 4).
. tests/cli/lib.sh

head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
st init --protect "file:$T/root.key" >/dev/null

for p in root alice bob eve; do
    openssl genpkey -algorithm ed25519 -out "$T/$p.pem" 2>/dev/null
    openssl pkey -in "$T/$p.pem" -pubout -out "$T/$p.pub"
done
age-keygen -o "$T/bob.age" 2>/dev/null
bob_rcpt=$(age-keygen -y "$T/bob.age")

expect_exit 4 st principal add alice --role data-owner --signing-key "$T/alice.pub"
expect_stderr "must hold the admin role"
ok "the first principal must be an admin"

expect_exit 0 st principal add root --role admin --signing-key "$T/root.pub"
expect_stdout "added principal root (admin)"
ok "bootstrap admin added without --as"

expect_exit 4 st principal add alice --role data-owner --signing-key "$T/alice.pub"
expect_stderr "--as NAME --key FILE"
expect_exit 4 st --as root --key "$T/alice.pem" principal list
expect_stderr "does not match the signing key registered for root"
ok "after bootstrap, commands need --as with the matching key"

export SEALTRAIN_AS=root SEALTRAIN_KEY=$T/root.pem
expect_exit 0 st principal add alice --role data-owner --signing-key "$T/alice.pub"
expect_exit 0 st principal add bob --role model-owner,trainer \
    --signing-key "$T/bob.pub" --recipient "$bob_rcpt"
expect_exit 3 st principal add carl --role trainer --signing-key "$T/eve.pub" \
    --recipient age1notvalid
expect_stderr "not an age X25519 recipient"
expect_exit 2 st principal add carl --role wizard --signing-key "$T/eve.pub"
expect_exit 0 st principal list
expect_stdout "model-owner,trainer"
expect_exit 0 st principal show bob --json
expect_stdout "\"recipient\": \"$bob_rcpt\""
ok "admin adds principals with roles, keys and recipients"

# bob is not an admin: adding a principal is denied, naming the permission
expect_exit 4 st --as bob --key "$T/bob.pem" principal add eve --role auditor \
    --signing-key "$T/eve.pub"
expect_stderr "lacks permission principal.admin"
ok "a denial names the missing permission"

# grants: alice owns dataset:digits (recorded as an owner by the data
# module at import; here through the admin-unowned path is refused)
expect_exit 4 st --as bob --key "$T/bob.pem" principal grant bob dataset:digits use
expect_stderr "lacks permission principal.admin"
expect_exit 0 st principal grant bob dataset:digits use
expect_exit 0 st principal show bob
expect_stdout "grant:       use on dataset:digits"
expect_exit 0 st principal revoke bob dataset:digits use
expect_exit 3 st principal revoke bob dataset:digits use
ok "grants and revocations on an unowned resource are the admin's"

expect_exit 0 st principal disable bob
expect_exit 4 st --as bob --key "$T/bob.pem" principal list
expect_stderr "disabled"
expect_exit 4 st principal disable root
expect_stderr "last enabled admin"
expect_exit 0 st principal enable bob
ok "disabled principals are refused; the last admin stays"

expect_exit 0 st audit show --category access --outcome denied
expect_stdout "principal.admin"
ok "denials are in the audit log"

expect_exit 0 st principal matrix
expect_stdout '| `job.submit` |  |  | own |  |  |'
expect_stdout '| `key.rotate` | unowned | own |  |  |  |'
expect_stdout '| `job.cancel` | yes |  | own | yes |  |'
# docs/access.md holds exactly this table
sed -n '/^| action | admin |/,/^$/p' docs/access.md | sed '/^$/d' >"$T/doc-matrix"
diff "$T/doc-matrix" "$T/stdout" >&2 || fail "docs/access.md's matrix is not \`principal matrix\`"
ok "the matrix prints, as docs/access.md shows it"
