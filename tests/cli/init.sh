#!/usr/bin/env bash
# `sealtrain init` creates a private workspace once, refuses an existing
# one, and opening refuses loosened permissions naming the path.
. tests/cli/lib.sh

head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"

expect_exit 0 st init --protect "file:$T/root.key"
expect_stdout "initialised workspace $T/ws"
[ "$(stat -c %a "$T/ws")" = 700 ] || fail "workspace is not 0700"
for d in blobs datasets jobs models audit logs keys tmp; do
    [ "$(stat -c %a "$T/ws/$d")" = 700 ] || fail "$d is not 0700"
done
[ "$(stat -c %a "$T/ws/catalog.db")" = 600 ] || fail "catalog is not 0600"
[ "$(sqlite3 "$T/ws/catalog.db" 'PRAGMA journal_mode')" = wal ] ||
    fail "catalog is not in WAL mode"
ok "init creates a private workspace with a WAL catalog"

expect_exit 3 st init --protect "file:$T/root.key"
expect_stderr "already exists"
ok "init on an existing workspace is an error"

expect_exit 0 st --workspace "$T/ws2" init --protect "file:$T/root.key"
[ -d "$T/ws2" ] || fail "global --workspace ignored"
expect_exit 0 st init --workspace "$T/ws3" --protect "file:$T/root.key"
[ -d "$T/ws3" ] || fail "init --workspace ignored"
ok "init honours --workspace before and after the command"

expect_exit 2 st init --protect bogus
expect_stderr "unknown protection"
ok "an unknown protection is a usage error"
