/*
 * fuzz_data_common.h: shared body of the dataset reader harnesses: scan
 * and convert an input in memory; whatever the readers accept must
 * convert to a tensor that st_tensor_parse accepts, of the announced size.
 */
#ifndef FUZZ_DATA_COMMON_H
#define FUZZ_DATA_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sealtrain/readers.h>
#include <sealtrain/sealtrain.h>

static ST_MUST_CHECK st_code fuzz_sink(void *ctx, const uint8_t *p, size_t n,
                                       st_err *err)
{
    return st_buf_append(ctx, p, n, err);
}

static void fuzz_convert(const st_data_input *in)
{
    st_data_schema sc;
    st_err e;
    if (st_data_scan(in, &sc, NULL, NULL, &e) != ST_OK)
        return;
    st_buf b;
    st_buf_init(&b);
    uint64_t size = 0;
    uint8_t sha[32];
    if (st_data_convert(in, &sc, fuzz_sink, &b, NULL, NULL, &size, sha, &e) !=
        ST_OK)
        abort(); /* the same bytes scanned fine: convert must too */
    st_tensor_view v;
    if (size != b.len || st_tensor_parse(b.data, b.len, &v, &e) != ST_OK ||
        v.rows != sc.rows || v.cols != sc.cols || v.classes != sc.classes ||
        v.targets != sc.targets)
        abort();
    st_buf_free(&b);
    st_data_schema_free(&sc);
}

#endif
