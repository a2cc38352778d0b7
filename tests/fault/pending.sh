#!/usr/bin/env bash
# tests/fault/pending.sh: a change that committed, but whose audit entry
# could not be appended to the log (its flush failed), is a success: the
# change and its entry are both durable, the entry in the catalog's
# outbox, and the next open appends it (docs/audit.md). The command exits
# 0 and warns; it must not exit 5 with its change in force.
#
# For each command below, the flushes of a clean run are counted, and each
# is failed in turn (EIO, once) until the run that reports the entry as
# kept in the catalog; that run is then checked.
#
# Needs ST_FAULT_SHIM (the LD_PRELOAD shim of tests/fault/shim.c).
. "$(dirname "$0")/../cli/lib.sh"
: "${ST_FAULT_SHIM:?set ST_FAULT_SHIM to st_fault_shim.so}"

head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
openssl genpkey -algorithm ed25519 -out "$T/alice.pem" 2>/dev/null
openssl pkey -in "$T/alice.pem" -pubout -out "$T/alice.pub"
st init --protect "file:$T/root.key" >/dev/null
st key create k >/dev/null
cp -a "$SEALTRAIN_WORKSPACE" "$T/template"

# faulted WS FAULT CMD...: runs CMD in a fresh copy of the template at WS
# under the shim armed with FAULT; exit status in $rc.
faulted() {
    local ws=$1 fault=$2
    shift 2
    rm -rf "$ws"
    cp -a "$T/template" "$ws"
    set +e
    SEALTRAIN_WORKSPACE=$ws LD_PRELOAD=$ST_FAULT_SHIM ST_FAULT=$fault \
        ST_FAULT_COUNT=$T/count "$SEALTRAIN" "$@" >"$T/stdout" 2>"$T/stderr"
    rc=$?
    set -e
}

# entries WS ACTION RESOURCE: how many success entries of ACTION on
# RESOURCE the log file holds (its bytes: a failed flush may have left the
# line in the file, unflushed, and the next open's recovery then only
# clears the outbox row).
entries() {
    grep -c "\"action\":\"$2\".*\"outcome\":\"success\".*\"resource\":\"$3\"" \
        "$1/audit/log.jsonl" || true
}

check_pending() {
    local action=$1 resource=$2
    shift 2
    local ws=$T/w
    faulted "$ws" count "$@"
    [ "$rc" -eq 0 ] || fail "clean run of $*: exit $rc: $(cat "$T/stderr")"
    local n
    n=$(awk '$1 == "flush" { print $2 }' "$T/count")
    [ "$n" -gt 0 ] || fail "$*: no flush counted"
    local before
    before=$(entries "$T/template" "$action" "$resource")
    local i found=0
    for ((i = n; i >= 1; i--)); do
        faulted "$ws" "flush:$i:EIO:once" "$@"
        grep -qF "kept in the catalog until the next open" "$T/stderr" ||
            continue
        found=1
        [ "$rc" -eq 0 ] ||
            fail "$* with flush $i failing: exit $rc although its change and entry are durable: $(cat "$T/stderr")"
        # once principals exist, alice (the admin) reads the log
        SEALTRAIN_WORKSPACE=$ws env $as "$SEALTRAIN" audit verify >/dev/null ||
            fail "audit verify after $* with flush $i failing"
        [ "$(entries "$ws" "$action" "$resource")" = "$((before + 1))" ] ||
            fail "$* with flush $i failing: after the next open the log does not hold its entry exactly once"
        break
    done
    [ "$found" = 1 ] || fail "$*: no flush left the entry pending"
    ok "$* with the log's flush $i failing: exit 0, a warning, and the next open appends $action"
}

as=
check_pending key.create 'key:k2' key create k2
as="SEALTRAIN_AS=alice SEALTRAIN_KEY=$T/alice.pem"
check_pending principal.add 'principal:alice' \
    principal add alice --role admin --signing-key "$T/alice.pub"
