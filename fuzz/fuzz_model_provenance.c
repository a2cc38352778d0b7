/*
 * fuzz_model_provenance.c: libFuzzer harness for model verification
 * (src/model/verify.c) on an arbitrary provenance envelope: DSSE parsing,
 * the in-toto statement, hex fields, the embedded evidence bundle and the
 * verifier behind it. Property: no crash or leak; an envelope that is not
 * rejected as input gives a verdict, and a verdict with no trace never
 * passes (nothing here is signed by a pinned platform key, so nothing may
 * pass). The same envelope goes through the use's verifier
 * (st_model_verify_use), whose extra claims (use.spec, use.model,
 * use.dataset) read the predicate the same way.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sealtrain/sealtrain.h>

static char model_path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!model_path[0]) {
        snprintf(model_path, sizeof(model_path), "/tmp/fuzz-model-%d",
                 (int)getpid());
        if (st_fs_write_atomic(model_path, "age", 3, 0600, NULL) != ST_OK)
            abort();
    }
    json_t *env = json_loadb((const char *)data, size, 0, NULL);
    if (!env)
        return 0;
    st_verdict v;
    st_verdict_init(&v);
    st_err err;
    static const char pol[] = "{\"version\":1,\"tee\":[\"sim\"]}";
    st_model_verify_opts o = {pol, sizeof(pol) - 1, NULL, NULL, 1700000000};
    st_code rc = st_model_verify(model_path, env, NULL, &o, &v, &err);
    if (rc == ST_OK && v.pass)
        abort(); /* no platform key is pinned: sim evidence cannot pass */
    st_verdict_free(&v);
    st_verdict_init(&v);
    rc = st_model_verify_use(
        "0000000000000000000000000000000000000000000000000000000000000000", env,
        &o, &v, &err);
    if (rc == ST_OK && v.pass)
        abort();
    st_verdict_free(&v);
    json_decref(env);
    return 0;
}
