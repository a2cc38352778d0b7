/*
 * fuzz_model_key.c: the POST /v1/jobs/ID/model-key body parser
 * (st_job_model_key_parse) on arbitrary bytes. What it accepts names a
 * "model:" key of printable ASCII, carries a wrapped key of 17 to
 * ST_BROKER_SECRET_MAX + 16 bytes, and survives a round trip through
 * st_job_model_key_json unchanged; a rejection leaves the output zeroed
 * and says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sealtrain/job.h>

static int zeroed(const st_broker_key *k)
{
    const unsigned char *p = (const unsigned char *)k;
    for (size_t i = 0; i < sizeof(*k); i++)
        if (p[i])
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_broker_key k, again;
    st_err e;
    st_err_clear(&e);
    if (st_job_model_key_parse((const char *)data, size, "fuzz", &k, &e) !=
        ST_OK) {
        if (!zeroed(&k) || !e.msg[0])
            abort();
        return 0;
    }
    if (strncmp(k.name, "model:", 6) || k.ctlen <= 16 || k.ctlen > sizeof(k.ct))
        abort();
    json_t *j = st_job_model_key_json(&k);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        abort();
    if (st_job_model_key_parse(text, strlen(text), "fuzz", &again, &e) !=
            ST_OK ||
        strcmp(again.name, k.name) || memcmp(again.epk, k.epk, 32) ||
        again.ctlen != k.ctlen || memcmp(again.ct, k.ct, k.ctlen))
        abort();
    free(text);
    return 0;
}
