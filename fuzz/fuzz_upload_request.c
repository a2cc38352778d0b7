/*
 * fuzz_upload_request.c: the POST /v1/uploads request parser
 * (st_upload_request_parse) on arbitrary bytes. What it accepts has a
 * valid dataset name, an age1 intake recipient of the right length and a
 * stanza whose type argument is non-empty; rejecting leaves nothing
 * allocated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/upload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_upload_request r;
    st_err e;
    if (st_upload_request_parse((const char *)data, size, &r, &e) != ST_OK) {
        if (r.key.args || r.key.body || r.name[0])
            abort(); /* a rejection holds nothing */
        return 0;
    }
    if (st_dataset_check_name("name", r.name, &e) != ST_OK ||
        strncmp(r.intake, "age1", 4) != 0 ||
        strlen(r.intake) != ST_AGE_RECIPIENT_STRLEN - 1 || r.key.nargs < 1 ||
        !r.key.args[0][0])
        abort();
    st_upload_request_clear(&r);
    return 0;
}
