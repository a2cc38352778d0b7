/*
 * fuzz_attest_policy.c: libFuzzer harness for the attestation policy
 * language (policy.c) and the evidence bundle parser (evidence.c): both
 * are JSON written by people or sent by peers. A parsed policy is applied
 * to sim evidence so that the evaluation runs on every rule it holds.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <stdlib.h>

#include "sealtrain/attest.h"
#include "sealtrain/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t seed[32] = {1, 2, 3};
    uint8_t pub[32], rd[64] = {0};
    st_attest_policy *p = NULL;
    if (st_attest_policy_parse((const char *)data, size, "fuzz", &p, NULL) ==
            ST_OK &&
        st_ed25519_public(seed, pub, NULL) == ST_OK) {
        st_evidence *ev = NULL;
        if (st_attest_sim_evidence(seed, rd, NULL, 1000, &ev, NULL) == ST_OK) {
            st_attest_refs refs = {.sim_platform_key = pub};
            st_verdict v;
            st_verdict_init(&v);
            st_discard(st_attest_verify(ev, rd, &refs, p, 1030, &v, NULL));
            st_verdict_free(&v);
        }
        st_evidence_free(ev);
    }
    st_attest_policy_free(p);
    st_evidence *b = NULL;
    if (st_evidence_from_json((const char *)data, size, "fuzz", &b, NULL) ==
        ST_OK) {
        size_t n;
        char *s = st_evidence_to_json(b, &n, NULL);
        free(s);
    }
    st_evidence_free(b);
    return 0;
}
