/*
 * fuzz_dsse_common.h: shared set-up of the signed-envelope harnesses
 * (fuzz_job_envelope.c, fuzz_policy_envelope.c): a fixed Ed25519 key, and
 * the envelope text a harness hands to the parser under test.
 *
 * The first input byte picks the mode: 0, the rest is the envelope text as
 * a client would send it (its signatures cannot verify, so this drives the
 * envelope parser and the refusals); otherwise the rest is a payload that
 * is signed here with the fixed key, so that the parser behind a valid
 * signature is reached too. Never used outside fuzz/.
 */
#ifndef FUZZ_DSSE_COMMON_H
#define FUZZ_DSSE_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/dsse.h"
#include <sealtrain/sealtrain.h>

/* Fills seed with the byte fill and derives pub from it, once per process;
 * aborts if the key cannot be derived (the harness could test nothing). */
static void fuzz_dsse_key(uint8_t fill, uint8_t seed[32], uint8_t pub[32])
{
    static int ready;
    if (ready)
        return;
    memset(seed, fill, 32);
    if (st_ed25519_public(seed, pub, NULL) != ST_OK)
        abort();
    ready = 1;
}

/* Returns the envelope text for the input (size >= 1), NUL-terminated and
 * to be released with free(), and its length in *len; NULL when out of
 * memory or when signing fails. Payload type names the DSSE type signed. */
static char *fuzz_dsse_text(const uint8_t *data, size_t size,
                            const char *payload_type, const uint8_t seed[32],
                            size_t *len)
{
    const uint8_t *body = data + 1;
    size_t n = size - 1;
    char *text = NULL;
    if (data[0] == 0) {
        text = malloc(n + 1);
        if (!text)
            return NULL;
        memcpy(text, body, n);
        text[n] = 0;
    } else {
        json_t *env = st_dsse_sign(payload_type, body, n, seed, NULL);
        text = env ? json_dumps(env, JSON_COMPACT) : NULL;
        json_decref(env);
        if (!text)
            return NULL;
        n = strlen(text);
    }
    *len = n;
    return text;
}

#endif
