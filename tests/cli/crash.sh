#!/usr/bin/env bash
# Crash safety: `kill -9` at random moments during `key rotate` and during
# `init` (50 runs each). Afterwards the keyring always loads, in the old or
# the new state (never corrupted), and an interrupted init leaves either
# no workspace or a complete one.
. tests/cli/lib.sh

RUNS=${ST_CRASH_RUNS:-50}
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"

# random_delay MAX_MS: 0 to MAX_MS ms, where these commands do their work
random_delay() { sleep "$(printf '0.%03d' $((RANDOM % ($1 + 1))))"; }

versions() { # number of versions of key k, or fails
    local out
    out=$("$SEALTRAIN" key show k) || return 1
    grep -c '^  version [0-9]*: ' <<<"$out"
}

expect_exit 0 st init --protect "file:$T/root.key"
expect_exit 0 st key create k
n=$(versions)
killed=0
advanced=0
for i in $(seq "$RUNS"); do
    "$SEALTRAIN" key rotate k >/dev/null 2>&1 &
    pid=$!
    random_delay 25
    kill -9 "$pid" 2>/dev/null && killed=$((killed + 1)) || true
    wait "$pid" 2>/dev/null || true
    m=$(versions) || fail "run $i: the keyring does not load after kill -9"
    if [ "$m" -ne "$n" ] && [ "$m" -ne $((n + 1)) ]; then
        fail "run $i: $n versions before, $m after"
    fi
    [ "$m" -eq "$n" ] || advanced=$((advanced + 1))
    n=$m
done
expect_exit 0 st key rotate k
ok "$RUNS kill -9 during key rotate (signal delivered $killed times, $advanced rotations landed): keyring always loads, old or new"

complete=0
for i in $(seq "$RUNS"); do
    ws=$T/init$i
    "$SEALTRAIN" --workspace "$ws" init --protect "file:$T/root.key" >/dev/null 2>&1 &
    pid=$!
    random_delay 60
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
