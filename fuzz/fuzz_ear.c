/*
 * fuzz_ear.c: libFuzzer harness for the EAR token reader (ear.c,
 * st_ear_verify): arbitrary bytes as a compact JWS, and as the header of
 * one (the header is parsed before the signature is checked).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/ear.h"
#include "sealtrain/attest.h"
#include "sealtrain/bytes.h"

static const uint8_t pub[32] = {0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7,
                                0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
                                0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25,
                                0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *c = NULL;
    st_discard(st_ear_verify((const char *)data, size, pub, &c, NULL));
    json_decref(c);
    /* the bytes as a header: base64url of them, a payload, a signature */
    char *h = st_base64_encode(data, size, 0);
    if (!h)
        return 0;
    for (char *p = h; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    size_t n = strlen(h) + 200;
    char *tok = malloc(n);
    if (tok) {
        snprintf(tok, n,
                 "%s.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                 h);
        c = NULL;
        st_discard(st_ear_verify(tok, strlen(tok), pub, &c, NULL));
        json_decref(c);
    }
    free(tok);
    free(h);
    return 0;
}
