/*
 * fuzz_job_spec.c: libFuzzer harness for the job spec parser
 * (jobspec.h): specs come from users. Release policies, which came through
 * here once, have their own harness (fuzz_release_policy.c).
 */
#include <stddef.h>
#include <stdint.h>

#include "sealtrain/jobspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_job_spec spec;
    if (st_job_spec_parse((const char *)data, size, "fuzz", &spec, NULL) ==
        ST_OK) {
        uint8_t d[32];
        st_discard(st_job_spec_digest(&spec, d, NULL));
        st_job_spec_free(&spec);
    }
    return 0;
}
