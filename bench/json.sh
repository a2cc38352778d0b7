#!/bin/sh
# bench/json.sh BUILD_DIR: st_json_dumps next to jansson's json_dumps on a
# key release's audit entry (the fuzz seed of fuzz_json_dump). Target: >= 3x.
set -eu
build=$1
"$build/bench_json" fuzz/corpus/fuzz_json_dump/key-release-entry.json \
    "${JSON_DUMPS:-2000}" "${JSON_ROUNDS:-20}"
