/*
 * fuzz_job_spec.c: libFuzzer harness for the job spec parser and the
 * release policy checker (job.h): both read JSON from users.
 */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sealtrain/job.h"
#include "sealtrain/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_job_spec spec;
    if (st_job_spec_parse((const char *)data, size, "fuzz", &spec, NULL) ==
        ST_OK) {
        uint8_t d[32];
        st_discard(st_job_spec_digest(&spec, d, NULL));
        st_job_spec_free(&spec);
    }
    json_t *p = st_json_parse((const char *)data, size, "fuzz", NULL);
    if (p) {
        st_discard(st_release_policy_check(p, "fuzz", NULL));
        json_decref(p);
    }
    return 0;
}
