/*
 * fuzz_job_envelope.c: libFuzzer harness for the parser of job specs
 * submitted over HTTPS (st_job_envelope_open, POST /v1/jobs): the
 * envelope's JSON, DSSE structure and base64, the signature check, and
 * the strict spec parser on the signed payload.
 *
 * The first byte picks the mode: 0, the rest is the envelope text as a
 * client would send it (signatures there cannot verify, so this drives
 * the envelope parser and the refusals); otherwise the rest is a payload
 * that the harness signs with its fixed key, so that the spec parser
 * behind a valid signature is reached too. Property: no crash or leak; a
 * payload is accepted only when it is a spec st_job_spec_parse accepts,
 * and its digest is SHA-256 of exactly the signed bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_dsse_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t seed[32], pub[32];
    fuzz_dsse_key(0x42, seed, pub);
    if (size < 1)
        return 0;
    const uint8_t *body = data + 1;
    size_t len;
    char *text = fuzz_dsse_text(data, size, ST_DSSE_TYPE_JOBSPEC, seed, &len);
    if (!text)
        return 0;
    st_job_spec spec;
    uint8_t digest[32];
    json_t *out = NULL;
    st_code rc =
        st_job_envelope_open(text, len, "fuzz", pub, &spec, digest, &out, NULL);
    if (rc == ST_OK) {
        if (!out || !spec.root)
            abort();
        if (data[0] != 0) {
            uint8_t want[32];
            st_sha256(body, size - 1, want);
            if (memcmp(want, digest, 32) != 0)
                abort(); /* the digest must be over the signed bytes */
            st_job_spec again;
            if (st_job_spec_parse((const char *)body, size - 1, "fuzz", &again,
                                  NULL) != ST_OK)
                abort(); /* accepted only what the spec parser accepts */
            st_job_spec_free(&again);
        }
        st_job_spec_free(&spec);
        json_decref(out);
    }
    free(text);
    return 0;
}
