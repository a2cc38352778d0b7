/*
 * fuzz_manifest.c: the dataset manifest parser on arbitrary bytes. What it
 * accepts must encode to canonical JSON that parses back to the same
 * encoding (no field is lost or invented on the way).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sealtrain/dataset.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_dataset_manifest m, m2;
    st_err e;
    if (st_dataset_manifest_parse((const char *)data, size, &m, &e) != ST_OK)
        return 0;
    size_t n1, n2;
    char *a = st_dataset_manifest_encode(&m, &n1, &e);
    if (!a)
        abort();
    if (st_dataset_manifest_parse(a, n1, &m2, &e) != ST_OK)
        abort();
    char *b = st_dataset_manifest_encode(&m2, &n2, &e);
    if (!b || n1 != n2 || memcmp(a, b, n1) != 0)
        abort();
    free(a);
    free(b);
    st_dataset_manifest_free(&m);
    st_dataset_manifest_free(&m2);
    return 0;
}
