/*
 * fuzz_release_policy.c: libFuzzer harness for the release policy parser
 * (src/broker/policy.c): a document a data owner writes, and the payload
 * every reader of the catalog parses back after checking its signature.
 * An accepted policy is applied to a job spec, so that every rule it holds
 * (principals, recipients, required protections) runs.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "broker/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_release_policy *p = NULL;
    if (st_release_policy_parse((const char *)data, size, "fuzz", &p, NULL) ==
        ST_OK) {
        st_job_spec s;
        if (st_job_spec_load("examples/jobs/digits-mlp.json", &s, NULL) ==
            ST_OK) {
            st_discard(
                st_release_policy_check_job(p, "digits", &s, "mo", NULL));
            st_job_spec_free(&s);
        }
        (void)st_release_policy_allows_principal(p, "mo");
        (void)st_release_policy_allows_recipient(
            p,
            "age15j0vjxaxyakrwwyw088cytm0ahcalxvyp78nk0ew4sk2q6yr0fwsu2az4a");
    }
    st_release_policy_free(p);
    return 0;
}
