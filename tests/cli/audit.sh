#!/usr/bin/env bash
# The audit log from the CLI: show with filters, verify, checkpoint,
# inclusion and consistency proofs checked offline with only the verifier
# key (and against the auditor's saved checkpoint: a forked log refused),
# export, tamper detection naming the entry, repair of a torn tail.
. tests/cli/lib.sh

head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
st init --protect "file:$T/root.key" >/dev/null
openssl genpkey -algorithm ed25519 -out "$T/root.pem" 2>/dev/null
openssl pkey -in "$T/root.pem" -pubout -out "$T/root.pub"
openssl genpkey -algorithm ed25519 -out "$T/ann.pem" 2>/dev/null
openssl pkey -in "$T/ann.pem" -pubout -out "$T/ann.pub"
st principal add root --role admin --signing-key "$T/root.pub" >/dev/null
export SEALTRAIN_AS=root SEALTRAIN_KEY=$T/root.pem
for i in 1 2 3 4 5; do
    st principal add "u$i" --role auditor --signing-key "$T/ann.pub" >/dev/null
done
st --as u1 --key "$T/root.pem" principal list >/dev/null 2>&1 || true

expect_exit 0 st audit show
expect_stdout "principal.add"
expect_exit 0 st audit show --category access --outcome denied --json
expect_stdout '"outcome": "denied"'
expect_exit 0 st audit show --since 1h --limit 2
[ "$(wc -l <"$T/stdout")" -eq 2 ] || fail "--limit 2 printed $(wc -l <"$T/stdout") lines"
expect_exit 2 st audit show --category gossip
ok "show filters by category, outcome, time and count"

expect_exit 0 st audit checkpoint
expect_stdout "— sealtrain/audit/"
expect_exit 0 st audit vkey
vkey=$(cat "$T/stdout")
expect_exit 0 st audit verify
expect_stdout "audit log verified"
ok "checkpoint is a signed note; verify passes"

expect_exit 0 st audit prove --index 2
cp "$T/stdout" "$T/inclusion.json"
expect_exit 0 st audit consistency --from 3
cp "$T/stdout" "$T/consistency.json"
# a third party needs only the proof and the verifier key: no workspace
expect_exit 0 env -u SEALTRAIN_WORKSPACE "$SEALTRAIN" audit check-proof "$T/inclusion.json" --vkey "$vkey"
expect_stdout "entry 2 is included"
expect_exit 0 env -u SEALTRAIN_WORKSPACE "$SEALTRAIN" audit check-proof "$T/consistency.json" --vkey "$vkey"
expect_stdout "is a prefix of the tree"
python3 - "$T/inclusion.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["index"] = d["index"] + 1
json.dump(d, open(sys.argv[1], "w"))
PY
expect_exit 4 st audit check-proof "$T/inclusion.json" --vkey "$vkey"
ok "inclusion and consistency proofs verify offline; a changed one fails"

# a forked log: the auditor saves a checkpoint; the operator, who holds
# the log's key, rolls the workspace back to before it, writes another
# history and checkpoints again. The consistency proof from the saved size
# is sound on its own; only the auditor's checkpoint shows the fork.
W=$T/wsf
cp -a "$T/ws" "$W.before"
cp -a "$T/ws" "$W"
SEALTRAIN_WORKSPACE=$W st principal add fork-a --role auditor --signing-key "$T/ann.pub" >/dev/null
SEALTRAIN_WORKSPACE=$W expect_exit 0 st audit checkpoint
cp "$T/stdout" "$T/saved.note"
N=$(sed -n 2p "$T/saved.note")
# honest growth: the proof from N matches the saved checkpoint
SEALTRAIN_WORKSPACE=$W st principal add fork-b --role auditor --signing-key "$T/ann.pub" >/dev/null
SEALTRAIN_WORKSPACE=$W expect_exit 0 st audit checkpoint
SEALTRAIN_WORKSPACE=$W expect_exit 0 st audit consistency --from "$N"
cp "$T/stdout" "$T/honest.json"
expect_exit 0 env -u SEALTRAIN_WORKSPACE "$SEALTRAIN" audit check-proof "$T/honest.json" --vkey "$vkey" --old "$T/saved.note"
expect_stdout "old root (your checkpoint):"
expect_stdout "(equal)"
# the fork
rm -rf "$W"
mv "$W.before" "$W"
for p in fork-x fork-y fork-z; do
    SEALTRAIN_WORKSPACE=$W st principal add "$p" --role auditor --signing-key "$T/ann.pub" >/dev/null
done
SEALTRAIN_WORKSPACE=$W expect_exit 0 st audit checkpoint
SEALTRAIN_WORKSPACE=$W expect_exit 0 st audit consistency --from "$N"
cp "$T/stdout" "$T/forked.json"
expect_exit 0 env -u SEALTRAIN_WORKSPACE "$SEALTRAIN" audit check-proof "$T/forked.json" --vkey "$vkey"
expect_stdout "the old root was not checked against a checkpoint you kept"
expect_exit 4 env -u SEALTRAIN_WORKSPACE "$SEALTRAIN" audit check-proof "$T/forked.json" --vkey "$vkey" --old "$T/saved.note"
expect_stderr "the log forked"
rm -rf "$W"
ok "a forked log's consistency proof passes alone (saying the old root was not checked) and is refused against the auditor's saved checkpoint"

expect_exit 0 st audit export --format csv --output "$T/log.csv"
head -1 "$T/log.csv" | grep -q "^index,time,category" || fail "csv header"
expect_exit 0 st audit export --format jsonl --output "$T/log.jsonl"
cmp -s "$T/log.jsonl" "$T/ws/audit/log.jsonl" || fail "jsonl export differs from the log"
ok "export as CSV and as the exact JSON lines"

# tamper: change the actor of entry 3
cp "$T/ws/audit/log.jsonl" "$T/good.jsonl"
python3 - "$T/ws/audit/log.jsonl" <<'PY'
import sys
p = sys.argv[1]
lines = open(p, "rb").read().split(b"\n")
lines[3] = lines[3].replace(b'"actor":"root"', b'"actor":"toor"')
open(p, "wb").write(b"\n".join(lines))
PY
expect_exit 4 st audit verify
expect_stdout "entry 3 was modified"
cp "$T/good.jsonl" "$T/ws/audit/log.jsonl"
# remove entry 4
sed -i '5d' "$T/ws/audit/log.jsonl"
expect_exit 4 st audit verify
expect_stdout "entries 4 to 4 are missing"
cp "$T/good.jsonl" "$T/ws/audit/log.jsonl"
# truncate below the checkpoint
head -n 3 "$T/good.jsonl" >"$T/ws/audit/log.jsonl"
expect_exit 4 st audit verify --json
expect_stdout '"kind": "truncated"'
cp "$T/good.jsonl" "$T/ws/audit/log.jsonl"
ok "verify names edited, removed and truncated entries"

printf '{"action":"x' >>"$T/ws/audit/log.jsonl"
expect_exit 4 st audit verify
expect_stdout "incomplete"
expect_exit 0 st audit repair
expect_stdout "cut 12 bytes"
expect_exit 0 st audit verify
expect_exit 0 st audit show --category security
expect_stdout "audit.repair"
ok "a torn tail is reported, then cut by an explicit, recorded repair"

expect_exit 4 st --as u1 --key "$T/ann.pem" audit repair
expect_stderr "lacks permission audit.repair"
ok "auditors cannot repair"
