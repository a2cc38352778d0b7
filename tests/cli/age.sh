# age.sh: `sealtrain age` interoperates with Debian's age/age-keygen both
# ways (binary and armored, keys from either tool), streams through
# stdin/stdout, and on damage exits non-zero naming the failing part with
# nothing written at -o.
. tests/cli/lib.sh
command -v age >/dev/null || fail "the age CLI is not installed (scripts/install-deps.sh)"

cd "$T"
head -c 300000 /dev/urandom >plain
printf '' >empty

# keys from both tools
st age keygen -o ours.key 2>keygen.err
grep -q '^AGE-SECRET-KEY-1' ours.key || fail "keygen wrote no identity"
[ "$(stat -c %a ours.key)" = 600 ] || fail "key file is not 0600"
grep -q "Public key: age1" keygen.err || fail "keygen did not print the public key"
ours_pub=$(age-keygen -y ours.key)
grep -q "# public key: $ours_pub" ours.key || fail "our public key differs from age-keygen -y"
age-keygen -o theirs.key 2>/dev/null
theirs_pub=$(age-keygen -y theirs.key)
expect_exit 3 st age keygen -o ours.key
expect_stderr "refusing to overwrite"
ok "keygen output is age-keygen compatible, 0600, never overwritten"

# sealtrain -> age
for f in plain empty; do
    st age encrypt -r "$theirs_pub" -o "$f.st.age" "$f"
    age -d -i theirs.key "$f.st.age" | cmp - "$f"
    st age encrypt -a -r "$theirs_pub" -r "$ours_pub" <"$f" >"$f.st.asc"
    head -1 "$f.st.asc" | grep -q -- '-----BEGIN AGE ENCRYPTED FILE-----'
    age -d -i theirs.key "$f.st.asc" | cmp - "$f"
done
ok "age -d decrypts what sealtrain encrypts (binary, armored, empty)"

# age -> sealtrain
for f in plain empty; do
    age -e -r "$ours_pub" -o "$f.age.age" "$f"
    st age decrypt -i ours.key -o "$f.out" "$f.age.age"
    cmp "$f.out" "$f"
    age -e -a -r "$ours_pub" <"$f" | st age decrypt -i theirs.key -i ours.key | cmp - "$f"
    st age decrypt -j 1 -i ours.key "$f.age.age" | cmp - "$f"
done
ok "sealtrain decrypts what age -e encrypts (file, stdin, armored, 1 and all threads)"

# recipients file and an identity file with several keys
printf '# team\n%s\n\n%s\n' "$ours_pub" "$theirs_pub" >rcpts
st age encrypt -R rcpts -o plain.r.age plain
age -d -i theirs.key plain.r.age | cmp - plain
cat theirs.key ours.key >both.key
st age decrypt -i both.key plain.r.age | cmp - plain
st age inspect plain.r.age >inspect.out
grep -c '^  X25519 ' inspect.out | grep -q 2 || fail "inspect does not list 2 stanzas"
ok "-R recipients files, multi-key identity files, inspect lists stanzas"

# passphrase (scrypt): ours both ways, and with age, which reads
# passphrases only from a terminal: script(1) gives it a pseudo-terminal
printf 'correct horse\n' >pw
st age encrypt -p --passphrase-file pw -o plain.pw.age plain
st age decrypt --passphrase-file pw plain.pw.age | cmp - plain
(sleep 1; printf 'correct horse\n') |
    timeout 60 script -qec "age -d -o age.pw.out plain.pw.age" /dev/null >/dev/null
cmp age.pw.out plain
(sleep 1; printf 'correct horse\n'; sleep 1; printf 'correct horse\n') |
    timeout 60 script -qec "age -p -o age.pw.age plain" /dev/null >/dev/null
st age decrypt --passphrase-file pw age.pw.age | cmp - plain
printf 'wrong\n' >pw2
expect_exit 4 st age decrypt --passphrase-file pw2 -o out.pw plain.pw.age
expect_stderr "no matching recipient"
[ ! -e out.pw ] || fail "output written after a failure"
ok "passphrase (scrypt) files interoperate with age -p both ways; a wrong passphrase is 'no matching recipient'"

# damage: exit status, message, nothing at -o
size=$(stat -c %s plain.age.age)
damage() { # damage NAME OFFSET: flip one byte
    cp plain.age.age "$1"
    printf '\x01' | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
    local b
    b=$(od -An -tu1 -j"$2" -N1 plain.age.age | tr -d ' ')
    printf "\\$(printf %o $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
hdr=$(grep -abo -- '--- ' plain.age.age | head -1 | cut -d: -f1)
# the MAC is base64: swap one character for another valid base64 digit
# (a bit flip could make it invalid base64, a header error instead)
cp plain.age.age mac.age
c=$(dd if=plain.age.age bs=1 skip=$((hdr + 10)) count=1 status=none)
if [ "$c" = A ]; then c=B; else c=A; fi
printf '%s' "$c" | dd of=mac.age bs=1 seek=$((hdr + 10)) conv=notrunc status=none
expect_exit 4 st age decrypt -i ours.key -o out mac.age
expect_stderr "age header MAC"
damage chunk.age $((hdr + 60 + 16 + 70000))
expect_exit 4 st age decrypt -i ours.key -o out chunk.age
expect_stderr "age payload: chunk 1 failed authentication"
damage last.age $((size - 3))
expect_exit 4 st age decrypt -i ours.key -o out last.age
expect_stderr "final chunk 4"
head -c $((size - 100)) plain.age.age >trunc.age
expect_exit 4 st age decrypt -i ours.key -o out trunc.age
expect_stderr "age payload"
expect_exit 4 st age decrypt -i theirs.key -o out plain.age.age
expect_stderr "no matching recipient"
printf 'not age\n' >junk
expect_exit 3 st age decrypt -i ours.key -o out junk
expect_stderr "age header"
[ ! -e out ] || fail "output written after a failure"
# to stdout only the authenticated chunks before the damage come out
set +e
st age decrypt -i ours.key chunk.age >partial 2>/dev/null
set -e
[ "$(stat -c %s partial)" -eq 65536 ] || fail "released more than the authenticated chunk"
head -c 65536 plain | cmp - partial
ok "damage fails with exit 4/3 naming header MAC, chunk, final chunk, truncation, no match; nothing at -o"

expect_exit 2 st age encrypt -o x plain
expect_stderr "give -r, -R or -p"
expect_exit 3 st age encrypt -r age1notakey -o x plain
expect_stderr "not an age X25519 recipient"
st age --help | grep -q "sealtrain age decrypt"
ok "usage errors"
