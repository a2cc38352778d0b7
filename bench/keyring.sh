#!/bin/sh
# bench/keyring.sh BUILD_DIR: how long unlocking the keyring takes.
# passphrase: `sealtrain key list` (scrypt N=2^17 r=10 p=1 + keyring load)
# next to `openssl kdf SCRYPT` with the same parameters (the KDF alone):
# target ~0.5 s, and sealtrain within 1.2x of the bare KDF. file: and
# rotate show the cost of everything else (target < 50 ms each).
set -eu
build=$1
bin=$build/sealtrain
dir=$(mktemp -d "$build/bench-keyring.XXXXXX")
trap 'rm -rf "$dir"' EXIT
printf 'benchmark passphrase\n' >"$dir/pass"
chmod 600 "$dir/pass"
export SEALTRAIN_PASSPHRASE_FILE="$dir/pass"
"$bin" --workspace "$dir/pw" init --protect passphrase >/dev/null
"$bin" --workspace "$dir/pw" key create k >/dev/null
"$bin" --workspace "$dir/fw" init --protect "file:$dir/key" >/dev/null
"$bin" --workspace "$dir/fw" key create k >/dev/null

# median wall time in ms of 5 runs of a command
median_ms() {
    for _ in 1 2 3 4 5; do
        s=$(date +%s%N)
        "$@" >/dev/null 2>&1
        e=$(date +%s%N)
        echo $(((e - s) / 1000000))
    done | sort -n | sed -n 3p
}
ours=$(median_ms "$bin" --workspace "$dir/pw" key list)
peer=$(median_ms openssl kdf -keylen 32 -kdfopt pass:x -kdfopt salt:0123456789abcdef \
    -kdfopt n:131072 -kdfopt r:10 -kdfopt p:1 -kdfopt maxmem_bytes:268435456 SCRYPT)
file=$(median_ms "$bin" --workspace "$dir/fw" key list)
rot=$(median_ms "$bin" --workspace "$dir/fw" key rotate k)
echo "unlock (passphrase, scrypt 2^17/10/1): sealtrain ${ours} ms, openssl kdf ${peer} ms, ratio $(awk "BEGIN { printf \"%.2f\", $ours / $peer }") (target ~500 ms, <= 1.2x)"
echo "unlock (file:) + list: ${file} ms; key rotate (file:): ${rot} ms (target < 50 ms)"
