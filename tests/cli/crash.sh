#!/usr/bin/env bash
# Crash safety: `kill -9` at random moments during `key rotate` and during
# `init` (60 runs each). Afterwards the keyring always loads, in the old or
# the new state (never corrupted), and an interrupted init leaves either
# no workspace or a complete one.
. tests/cli/lib.sh

RUNS=${ST_CRASH_RUNS:-60}
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"

# random_delay: 0 to ~25 ms, where these commands do their work
random_delay() { sleep "$(printf '0.%03d' $((RANDOM % 26)))"; }

versions() { # number of versions of key k, or fails
    st key show k --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["versions"]))'
}

expect_exit 0 st init --protect "file:$T/root.key"
expect_exit 0 st key create k
n=$(versions)
killed=0
for i in $(seq "$RUNS"); do
    "$SEALTRAIN" key rotate k >/dev/null 2>&1 &
    pid=$!
    random_delay
    kill -9 "$pid" 2>/dev/null && killed=$((killed + 1)) || true
    wait "$pid" 2>/dev/null || true
    m=$(versions) || fail "run $i: the keyring does not load after kill -9"
    if [ "$m" -ne "$n" ] && [ "$m" -ne $((n + 1)) ]; then
        fail "run $i: $n versions before, $m after"
    fi
    n=$m
done
expect_exit 0 st key rotate k
ok "$RUNS kill -9 during key rotate ($killed killed mid-run): keyring always loads, old or new"

complete=0
for i in $(seq "$RUNS"); do
    ws=$T/init$i
    "$SEALTRAIN" --workspace "$ws" init --protect "file:$T/root.key" >/dev/null 2>&1 &
    pid=$!
    random_delay
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [ -e "$ws" ]; then
        st --workspace "$ws" key list >/dev/null 2>"$T/err" ||
            fail "run $i: interrupted init left a broken workspace: $(cat "$T/err")"
        complete=$((complete + 1))
    else
        # nothing there: init can simply run again
        st --workspace "$ws" init --protect "file:$T/root.key" >/dev/null ||
            fail "run $i: init after an interrupted init failed"
        st --workspace "$ws" key list >/dev/null || fail "run $i: no keyring"
    fi
    rm -rf "$ws"
done
leftover=$(find "$T" -maxdepth 1 -name '.init*.init.*' | wc -l)
[ "$leftover" -le 1 ] || fail "$leftover staging directories left behind"
ok "$RUNS kill -9 during init ($complete had completed): no half workspace"
