#!/usr/bin/env bash
# sealtrain serve, models: after a secure job, the model owner lists the
# registered model and downloads the sealed file over mutual TLS; the bytes
# are the sealed age file (ciphertext, same digest as the registry), which
# only the model owner's identity opens; provenance is served as signed;
# workspace paths are not disclosed; a data owner gets 403 (model.read).
. tests/cli/lib.sh
head -c 32 /dev/urandom >"$T/root.key"
chmod 600 "$T/root.key"
. tests/job_lib.sh
. tests/serve_lib.sh
import_digits
policy sim
spec
expect_exit 0 mo job run "$SPEC"
cert mo dana
start_server

out=$(as_curl mo "$API/v1/models")
[ "$(status_of "$out")" = 200 ] || fail "models: $out"
name=$(sed '$d' <<<"$out" | python3 -c 'import json,sys; m=json.load(sys.stdin)["models"]; print(m[0]["name"])')
sha=$(sed '$d' <<<"$out" | python3 -c 'import json,sys; m=json.load(sys.stdin)["models"]; print(m[0]["file"]["sha256"])')
grep -q "$SEALTRAIN_WORKSPACE" <<<"$out" && fail "a workspace path was disclosed: $out"
ok "the model owner lists the registered model (no workspace paths)"

curl -sS --fail --cacert "$CERTS/ca.crt" --cert "$CERTS/mo.crt" --key "$K/mo.pem" \
    -o "$T/model.age" "$API/v1/models/$name/download"
[ "$(sha256sum <"$T/model.age" | cut -d' ' -f1)" = "$sha" ] ||
    fail "the download is not the registered sealed file"
head -c 21 "$T/model.age" | grep -q "age-encryption.org/v1" || fail "not an age file"
age -d -i "$K/mo.age" -o "$T/model.safetensors" "$T/model.age" ||
    fail "the model owner cannot open the download"
age -d -i "$K/dana.age" -o /dev/null "$T/model.age" 2>/dev/null &&
    fail "the data owner opened the model"
ok "download: the sealed age file (registry digest), opened only by the model owner"

out=$(as_curl mo "$API/v1/models/$name/provenance?version=1")
grep -q '"payloadType"' <<<"$out" || fail "provenance: $out"
out=$(as_curl dana "$API/v1/models/$name/download")
[ "$(status_of "$out")" = 403 ] || fail "dana download: $out"
grep -q '"permission":"model.read"' <<<"$out" || fail "$out"
out=$(as_curl mo "$API/v1/models/$name?version=99")
[ "$(status_of "$out")" = 404 ] || fail "missing version: $out"
ok "provenance served; a data owner gets 403 model.read; a missing version 404"
SEALTRAIN_CERT=$CERTS/mo.crt SEALTRAIN_CACERT=$CERTS/ca.crt \
    expect_exit 0 "$SEALTRAIN" --server "$API" --key "$K/mo.pem" model show "$name"
expect_stdout "\"sha256\": \"$sha\""
ok "model show over --server"
stop_server
