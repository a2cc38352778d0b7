/*
 * fuzz_content_range.c: the Content-Range parser of chunk uploads
 * (st_upload_content_range_parse) on arbitrary bytes. What it accepts
 * satisfies START <= END < TOTAL and prints back to exactly the input
 * (one spelling per range: no signs, spaces or leading zeros).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/upload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[128];
    if (size >= sizeof(s))
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    uint64_t a, b, t;
    st_err e;
    if (st_upload_content_range_parse(s, &a, &b, &t, &e) != ST_OK)
        return 0;
    char back[128];
    snprintf(back, sizeof(back), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, a, b,
             t);
    if (a > b || b >= t || strcmp(back, s) != 0)
        abort();
    return 0;
}
